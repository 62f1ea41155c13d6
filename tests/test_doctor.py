"""bitloops.doctor: diagnosis and safe repairs."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from conftest import commit_files

import bitloops
from bitloops.checkpoint._files import CHECKPOINTS_DIR
from bitloops.doctor import DoctorReport, diagnose


def _checks(report: DoctorReport) -> set[str]:
    return {f.check for f in report.findings}


def test_a_healthy_repository_is_ok(repo: bitloops.Repository, git_repo: Path) -> None:
    """Nothing to report but the schema version on a fresh, consistent repository."""
    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    report = diagnose(repo)
    assert report.ok
    assert _checks(report) == {"schema", "hooks"}


def test_stuck_sessions_are_found_and_ended(repo: bitloops.Repository) -> None:
    """An open session without recent events is reported, and ended with fix=True."""
    s = repo.start_session(agent="claude-code")
    s.prompt("then the terminal closed")
    report = diagnose(repo, stale_after=timedelta(0))
    assert "stuck_session" in _checks(report) and not report.ok
    fixed = diagnose(repo, fix=True, stale_after=timedelta(0))
    assert fixed.ok and any(f.fixed for f in fixed.findings)
    assert repo.store.sessions()[0].status == "ended"
    assert [e.kind for e in repo.draft().events][-1] == "session_end"


def test_a_missed_promotion_is_promoted(repo: bitloops.Repository, git_repo: Path) -> None:
    """Draft events older than an unpromoted HEAD are promoted to it with fix=True."""
    repo.start_session(agent="a").prompt("work before the commit")
    import time

    time.sleep(1.1)  # commit times have one-second resolution
    sha = commit_files(git_repo, {"a.txt": "1"})
    assert "missed_promotion" in _checks(diagnose(repo, stale_after=timedelta(days=1)))
    diagnose(repo, fix=True, stale_after=timedelta(days=1))
    assert repo.checkpoint("HEAD").commit_sha == sha
    assert repo.draft().events == ()


def test_a_pending_promotion_left_by_a_dead_worker_is_finished(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A pending record no worker holds is a warning (not a missed promotion); fix=True
    promotes the commit with the draft up to its boundary, later events stay drafts."""
    import json
    import os
    import time

    from bitloops import _pending as pending

    repo.start_session(agent="a").prompt("work before the commit")
    time.sleep(1.1)  # commit times have one-second resolution
    sha = commit_files(git_repo, {"a.txt": "1"})
    folder = repo.paths.git_dir / pending.PENDING_DIR
    folder.mkdir()
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))
    time.sleep(0.01)
    repo.session(repo.store.sessions()[0].session_id).prompt("after the commit")
    week = timedelta(days=7)
    with pending.promotion_lock(str(repo.paths.git_dir), 1.0) as held:  # a worker at work
        assert held
        busy = [f for f in diagnose(repo, stale_after=week).findings if f.check != "schema"]
    assert [(f.check, f.severity) for f in busy] == [
        ("hooks", "info"),
        ("pending_promotion", "info"),
    ]
    found = {f.check: f for f in diagnose(repo, stale_after=week).findings}
    assert found["pending_promotion"].severity == "info"  # a worker may still be starting
    old = time.time() - 60
    os.utime(folder / f"{sha}.json", (old, old))
    found = {f.check: f for f in diagnose(repo, stale_after=week).findings}
    assert found["pending_promotion"].severity == "warning" and "missed_promotion" not in found
    fixed = {f.check: f for f in diagnose(repo, fix=True, stale_after=week).findings}
    assert fixed["pending_promotion"].fixed
    assert not list(folder.glob("*.json"))
    kinds = [e.kind for e in repo.checkpoint(sha).events]
    assert kinds.count("prompt") == 1
    assert [e.kind for e in repo.draft().events] == ["prompt"]
    assert diagnose(repo, stale_after=week).ok


def test_missing_folders_are_rewritten(repo: bitloops.Repository, git_repo: Path) -> None:
    """A checkpoint folder deleted from the work tree is rewritten with fix=True."""
    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote()
    shutil.rmtree(git_repo / CHECKPOINTS_DIR / sha)
    report = diagnose(repo, stale_after=timedelta(days=1))
    assert "files_missing" in _checks(report) and not report.ok
    assert diagnose(repo, fix=True, stale_after=timedelta(days=1)).ok
    assert bitloops.read_checkpoint_dir(git_repo / CHECKPOINTS_DIR / sha) == cp


def test_tampering_is_reported_as_an_error(repo: bitloops.Repository, git_repo: Path) -> None:
    """verify's errors surface in doctor and are not 'repaired'."""
    import apsw

    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("DROP TRIGGER checkpoints_immutable_delete")
    conn.close()
    report = diagnose(repo, fix=True, stale_after=timedelta(days=1))
    assert "verify:triggers_missing" in _checks(report) and not report.ok


def test_hooks_whose_installation_is_gone_are_reinstalled(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A hook pointing at a Python that no longer exists is reported and rewritten."""
    from bitloops.git._hooks import enable, hook_script, hooks_dir

    assert "hooks" in _checks(diagnose(repo, stale_after=timedelta(days=1)))
    enable(git_repo, python="/nonexistent/venv/bin/python")
    report = diagnose(repo, stale_after=timedelta(days=1))
    assert not report.ok and "no longer exists" in str(report.findings)
    assert diagnose(repo, fix=True, stale_after=timedelta(days=1)).ok
    import sys

    post_commit = hooks_dir(git_repo) / "post-commit"
    assert post_commit.read_text() == hook_script("post-commit", sys.executable)
