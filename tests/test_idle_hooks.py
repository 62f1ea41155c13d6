"""The git hooks' idle check: a commit with nothing to promote or stage skips the full path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import commit_files, git
from test_hooks import enable, git_commit, record_and_commit

import bitloops
from bitloops import _commit_flow as flow
from bitloops.capture import _idle as idle
from bitloops.capture import _spool as spool
from bitloops.checkpoint._files import CHECKPOINTS_DIR
from bitloops.repository import DB_RELATIVE_PATH


def test_its_copies_of_the_paths_match_the_modules_it_avoids_importing() -> None:
    assert idle._DB == DB_RELATIVE_PATH
    assert idle._STAGED == flow._STAGED_RECORD
    assert idle._FOLDERS == CHECKPOINTS_DIR


def test_a_repository_without_bitloops_data_is_idle(git_repo: Path) -> None:
    commit_files(git_repo, {"a.txt": "a"})
    assert idle.nothing_to_do("post-commit", [], str(git_repo))
    assert idle.nothing_to_do("pre-commit", [], str(git_repo))


def test_only_the_commit_hooks_without_arguments_are_checked(git_repo: Path) -> None:
    commit_files(git_repo, {"a.txt": "a"})
    assert not idle.nothing_to_do("pre-push", [], str(git_repo))
    assert not idle.nothing_to_do("post-commit", ["x"], str(git_repo))
    assert not idle.nothing_to_do("post-commit", [], str(git_repo.parent))  # no repository


def test_a_draft_or_an_open_session_is_work(git_repo: Path) -> None:
    commit_files(git_repo, {"a.txt": "a"})
    with bitloops.Repository.open(git_repo) as repo:
        session = repo.start_session("claude-code", "m1")
        assert not idle.nothing_to_do("post-commit", [], str(git_repo))
        session.prompt("hello")
        session.end()
        assert not idle.nothing_to_do("post-commit", [], str(git_repo))  # the draft
        repo.promote("HEAD")
    assert idle.nothing_to_do("post-commit", [], str(git_repo))


def test_after_a_promotion_the_next_commits_are_idle_and_folders_still_travel(
    git_repo: Path,
) -> None:
    enable(git_repo)
    commit_files(git_repo, {"base.txt": "base"})
    sha = record_and_commit(git_repo, "a.py", "a = 1\n", "add a")
    folder = f"{CHECKPOINTS_DIR}/{sha}"
    assert (git_repo / folder / "session.json").is_file()
    # The folder is not in HEAD yet: the next commit's pre-commit must stage it.
    assert not idle.nothing_to_do("pre-commit", [], str(git_repo))
    (git_repo / "b.txt").write_text("b", encoding="utf-8")
    git(git_repo, "add", "b.txt")
    assert git_commit(git_repo, "-m", "b").returncode == 0
    assert folder in git(git_repo, "ls-tree", "-r", "-d", "--name-only", "HEAD")
    # Now nothing is pending, and nothing is in the draft: both hooks are idle.
    assert idle.nothing_to_do("pre-commit", [], str(git_repo))
    assert idle.nothing_to_do("post-commit", [], str(git_repo))


def test_a_spool_a_staged_record_or_a_team_store_is_work(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    commit_files(git_repo, {"a.txt": "a"})
    with bitloops.Repository.open(git_repo) as repo:
        common = repo.paths.common_dir
        git_dir = repo.paths.git_dir
    assert idle.nothing_to_do("post-commit", [], str(git_repo))
    (common / "bitloops").mkdir(exist_ok=True)
    (common / spool.SPOOL_RELATIVE_PATH).write_text('{"x": 1}\n', encoding="utf-8")
    assert not idle.nothing_to_do("post-commit", [], str(git_repo))
    (common / spool.SPOOL_RELATIVE_PATH).unlink()
    # The spool kept in the user's cache folder (the git directory was not writable).
    elsewhere = Path(spool.spool_path(spool.fallback_dir(common)))
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    elsewhere.write_text('{"x": 1}\n', encoding="utf-8")
    assert not idle.nothing_to_do("post-commit", [], str(git_repo))
    elsewhere.unlink()
    (git_dir / flow._STAGED_RECORD).write_text("{}", encoding="utf-8")
    assert not idle.nothing_to_do("post-commit", [], str(git_repo))
    (git_dir / flow._STAGED_RECORD).unlink()
    settings = git_repo / ".bitloops" / "settings.json"
    settings.parent.mkdir(exist_ok=True)
    settings.write_text('{"committed_store": "postgresql://x@127.0.0.1/y"}', encoding="utf-8")
    assert not idle.nothing_to_do("post-commit", [], str(git_repo))
    settings.write_text("{not json", encoding="utf-8")  # the full path reports it
    assert not idle.nothing_to_do("post-commit", [], str(git_repo))


def test_a_cherry_pick_of_a_commit_with_reasoning_still_links_it(git_repo: Path) -> None:
    enable(git_repo)
    commit_files(git_repo, {"base.txt": "base"})
    git(git_repo, "checkout", "-q", "-b", "feature")
    sha = record_and_commit(git_repo, "a.py", "a = 1\n", "add a")
    git(git_repo, "checkout", "-q", "-")
    commit_files(git_repo, {"other.txt": "other"})  # main moved on: a real pick
    git(git_repo, "cherry-pick", sha)
    picked = git(git_repo, "rev-parse", "HEAD").strip()
    assert picked != sha
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.store.checkpoint_ids(commit_sha=picked)  # linked by the full path


def test_the_idle_check_runs_in_a_real_commit_without_the_full_path(git_repo: Path) -> None:
    """With the CLI unimportable, an idle commit still succeeds and logs no failure."""
    enable(git_repo)
    commit_files(git_repo, {"a.txt": "a"})
    blocker = git_repo.parent / "blocker"
    blocker.mkdir()
    (blocker / "argparse.py").write_text("raise ImportError('full path taken')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    import subprocess

    (git_repo / "b.txt").write_text("b", encoding="utf-8")
    git(git_repo, "add", "b.txt")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "b"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "failed" not in proc.stderr


def test_its_copies_of_the_state_layout_and_agents_match() -> None:
    from bitloops.agents._registry import AGENTS
    from bitloops.capture import _direct as direct
    from bitloops.capture import _transcript_state as ts

    assert direct.state_file("/c", "s") == str(ts._file(Path("/c"), "s"))
    assert frozenset(AGENTS) == idle._AGENTS


def test_an_open_session_is_idle_only_when_its_transcript_was_read_to_the_end(
    git_repo: Path,
) -> None:
    from bitloops.capture import _transcript_state as ts

    commit_files(git_repo, {"a.txt": "a"})
    transcript = git_repo.parent / "t.jsonl"
    transcript.write_text('{"type":"user"}\n', encoding="utf-8")
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("my-loop", "m1").prompt("go")  # no transcripts: nothing to read
        repo.promote("HEAD")  # the draft is empty, the session stays open
        assert idle.nothing_to_do("post-commit", [], str(git_repo))
        session = repo.start_session("claude-code", "m1")
        commit_files(git_repo, {"b.txt": "b"})
        repo.promote("HEAD")
        common = repo.paths.common_dir
        assert not idle.nothing_to_do("post-commit", [], str(git_repo))  # no state: unsure
        state = ts.TranscriptState(
            session_id=session.session_id,
            agent="claude-code",
            transcript_path=str(transcript),
            offset=transcript.stat().st_size,
            inode=transcript.stat().st_ino,
        )
        ts.save(common, state)
        assert idle.nothing_to_do("post-commit", [], str(git_repo))
        with transcript.open("a", encoding="utf-8") as fh:
            fh.write('{"type":"assistant"}\n')
        assert not idle.nothing_to_do("post-commit", [], str(git_repo))  # it grew
