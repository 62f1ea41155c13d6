"""Immutability of committed data, verify, and the break-glass purge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.checkpoint._files import CHECKPOINTS_DIR


def _checkpoint(
    repo: bitloops.Repository, git_repo: Path, text: str = "build it"
) -> bitloops.Checkpoint:
    s = repo.start_session(agent="a", model="m")
    s.prompt(text)
    s.decision("do it simply")
    commit_files(git_repo, {"f.txt": text})
    cp = repo.promote()
    assert cp is not None
    return cp


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE checkpoints SET commit_sha = 'x'",
        "DELETE FROM checkpoints",
        "UPDATE checkpoint_events SET line = '{}'",
        "DELETE FROM checkpoint_events",
        "UPDATE commit_links SET commit_sha = 'x'",
        "DELETE FROM commit_links",
    ],
)
def test_database_refuses_changes_to_committed_rows(
    repo: bitloops.Repository, git_repo: Path, sql: str
) -> None:
    """Casual SQL from another connection cannot change or delete committed rows."""
    cp = _checkpoint(repo, git_repo)
    conn = apsw.Connection(str(repo.db_path))
    with pytest.raises(apsw.ConstraintError, match="bitloops"):
        conn.execute(sql)
    conn.close()
    assert repo.checkpoint(cp.checkpoint_id) == cp
    assert repo.verify().ok


def test_library_paths_translate_the_refusal(repo: bitloops.Repository, git_repo: Path) -> None:
    """Through the library's own transaction the refusal is an ImmutableCheckpoint error."""
    _checkpoint(repo, git_repo)
    with pytest.raises(bitloops.ImmutableCheckpoint), repo.store.transaction() as conn:
        conn.execute("DELETE FROM checkpoint_events")


def test_verify_passes_on_a_clean_history(repo: bitloops.Repository, git_repo: Path) -> None:
    """A chain of untouched checkpoints verifies, files included."""
    _checkpoint(repo, git_repo, "one")
    _checkpoint(repo, git_repo, "two")
    report = repo.verify()
    assert report.ok and report.checked == 2 and report.problems == ()


def test_verify_catches_edits_made_around_the_triggers(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Dropping a trigger and editing a row is reported as tampering, not as a purge."""
    cp = _checkpoint(repo, git_repo, "honest prompt")
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("DROP TRIGGER checkpoint_events_immutable_update")
    conn.execute("UPDATE checkpoint_events SET line = replace(line, 'honest', 'edited')")
    conn.close()
    kinds = {p.kind for p in repo.verify().problems}
    assert {"triggers_missing", "content_mismatch"} <= kinds
    assert not repo.verify().ok
    assert cp.checkpoint_id in {p.checkpoint_id for p in repo.verify().problems}


def test_verify_catches_edited_files_on_disk(repo: bitloops.Repository, git_repo: Path) -> None:
    """A transcript edited on disk no longer matches the database."""
    cp = _checkpoint(repo, git_repo)
    transcript = git_repo / CHECKPOINTS_DIR / cp.commit_sha / "transcript.jsonl"
    transcript.write_text(transcript.read_text().replace("build it", "built it"))
    problems = repo.verify().problems
    assert [p.kind for p in problems] == ["files_mismatch"]


def test_verify_catches_committed_files_changed_since(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Once git holds the folder, an edit in the work tree shows against git's copy."""
    cp = _checkpoint(repo, git_repo)
    folder = git_repo / CHECKPOINTS_DIR / cp.commit_sha
    git(git_repo, "add", str(folder))
    git(git_repo, "commit", "-q", "-m", "carry checkpoint")
    summary = folder / "summary.md"
    summary.write_text(summary.read_text() + "\nextra\n")
    assert [p.kind for p in repo.verify().problems] == ["files_changed"]


def test_verify_catches_a_broken_chain(repo: bitloops.Repository, git_repo: Path) -> None:
    """Rewriting a parent around the triggers breaks its child's parent_hash."""
    _checkpoint(repo, git_repo, "one")
    _checkpoint(repo, git_repo, "two")
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("INSERT INTO break_glass VALUES ('x')")
    conn.execute(
        "UPDATE checkpoints SET content_hash = "
        "iif(substr(content_hash, 1, 1) = 'f', 'e', 'f') || substr(content_hash, 2) "
        "WHERE parent_checkpoint_id IS NULL"
    )
    kinds = {p.kind for p in repo.verify().problems}
    assert {"break_glass_open", "chain_broken", "content_mismatch"} <= kinds
    conn.close()


def test_purge_removes_a_secret_and_verify_reports_a_purge(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """purge() replaces the text everywhere, leaves an audit, and verify says purged."""
    leaked = "tangerine-aardvark-not-caught-by-rules"  # no cue: the rules let it through
    cp = _checkpoint(repo, git_repo, f"the office wifi is {leaked}")
    repo.start_session(agent="a").prompt(f"draft also mentions {leaked}")
    report = repo.purge(leaked, reason="pasted in a prompt")
    assert report.checkpoint_ids == (cp.checkpoint_id,)
    assert report.occurrences >= 2 and report.live_events == 1
    purged = repo.checkpoint(cp.checkpoint_id)
    assert purged.content_hash == cp.content_hash
    assert purged.events[1].payload["text"] == "the office wifi is [PURGED]"
    folder = git_repo / CHECKPOINTS_DIR / cp.commit_sha
    for path in folder.iterdir():
        assert leaked not in path.read_text()
    assert bitloops.read_checkpoint_dir(folder) == purged
    assert leaked not in json.dumps([e.payload for e in repo.draft().events])
    result = repo.verify()
    assert result.ok
    assert result.purged == (cp.checkpoint_id,)
    audit = repo.store.execute("SELECT reason, occurrences FROM purges")
    assert audit == [("pasted in a prompt", 2)]  # the third was in the live draft
    assert report.occurrences == 3 and report.erased
    # a second purge of the same checkpoint keeps the audit chain valid
    repo.purge("do it simply", reason="also sensitive")
    assert repo.verify().ok


def test_purge_rejects_unusable_arguments(repo: bitloops.Repository) -> None:
    """purge() needs a real secret, a reason and a replacement without the secret."""
    with pytest.raises(bitloops.PurgeError):
        repo.purge("ab", reason="x")
    with pytest.raises(bitloops.PurgeError):
        repo.purge("long-enough-secret", reason=" ")
    with pytest.raises(bitloops.PurgeError):
        repo.purge("long-enough-secret", reason="x", replacement="long-enough-secret!")


def test_purge_touches_only_free_text(repo: bitloops.Repository, git_repo: Path) -> None:
    """A purged string that also occurs in ids, keys or timestamps leaves them intact."""
    s = repo.start_session(agent="a", model="m")
    event = s.record("note", {"payload": "the word payload", "year": "2026-11"})
    commit_files(git_repo, {"f.txt": "1"})
    cp = repo.promote()
    assert cp is not None
    year = event.ts.strftime("%Y-%m")
    repo.purge("payload", reason="test")
    repo.purge(year + "-", reason="looks like a date")
    again = repo.checkpoint(cp.checkpoint_id)
    assert again.events[1].payload == {"[PURGED]": "the word [PURGED]", "year": "2026-11"}
    assert again.events[1].ts == event.ts and again.created_at == cp.created_at
    assert repo.verify().ok


def test_purge_leaves_no_copy_in_the_database_file(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """After a purge the secret is in no page, free page or log frame of the database."""
    leaked = "corp-password-XYZZY-314159"
    s = repo.start_session(agent="a", model=f"model-{leaked}")
    for _ in range(50):
        s.prompt(f"the password is {leaked} " + "x" * 500)
    commit_files(git_repo, {"f.txt": "1"})
    repo.promote()
    s.prompt(f"and once more {leaked}")
    report = repo.purge(leaked, reason="pasted in prompts")
    assert report.erased
    for path in repo.db_path.parent.iterdir():
        assert leaked.encode() not in path.read_bytes(), path.name
    assert repo.verify().ok


def test_purge_of_a_committed_folder_verifies_as_purged(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """After a purge, a folder already in git is reported as to-commit, not as tampering."""
    repo.start_session(agent="a").prompt("my pin is 48151623")
    sha = commit_files(git_repo, {"a.txt": "1"})
    assert repo.promote() is not None
    git(git_repo, "add", CHECKPOINTS_DIR)
    git(git_repo, "commit", "-q", "-m", "carry checkpoint")
    repo.purge("48151623", reason="pin")
    report = repo.verify()
    assert report.ok
    assert {p.kind for p in report.problems} == {"purged", "purge_uncommitted"}
    assert all(p.commit_sha == sha for p in report.problems)


def test_a_folder_restored_from_before_a_purge_is_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A stale folder that still holds purged text is reported, not accepted."""
    repo.start_session(agent="a").prompt("my pin is 48151623")
    sha = commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    folder = git_repo / CHECKPOINTS_DIR / sha
    backup = git_repo.parent / "backup"
    shutil.copytree(folder, backup)
    repo.purge("48151623", reason="pin")
    shutil.rmtree(folder)
    shutil.copytree(backup, folder)
    kinds = [p.kind for p in repo.verify().problems]
    assert "purge_not_applied" in kinds and not repo.verify().ok


def test_verify_reports_forged_folders_and_bad_rows(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A folder naming an unknown checkpoint, or a deleted session.json, is an error."""
    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    meta = git_repo / CHECKPOINTS_DIR / sha / "session.json"
    meta.write_text(meta.read_text().replace('"checkpoint_id": "', '"checkpoint_id": "f'))
    assert "files_mismatch" in {p.kind for p in repo.verify().problems}
    meta.unlink()
    assert "files_unreadable" in {p.kind for p in repo.verify().problems}
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("INSERT INTO break_glass VALUES ('x')")
    conn.execute("UPDATE checkpoints SET commit_sha = '../../evil'")
    conn.close()
    (git_repo / CHECKPOINTS_DIR / ("b" * 40)).mkdir()
    kinds = {p.kind for p in repo.verify().problems}
    assert {"row_mismatch", "break_glass_open", "not_in_database"} <= kinds
