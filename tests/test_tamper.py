"""Tampering that verify must catch (#15 item 14), a lost database (item 12), torn folders (13).

Each test plays someone who wants to rewrite history quietly, with the tools they
would have: SQL on the database file, the work tree, git.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops._codec import canonical_dumps, content_hash
from bitloops.checkpoint._files import CHECKPOINTS_DIR, write_checkpoint_dir
from bitloops.checkpoint._transcript import Transcript

OLD_DATE = {"GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z"}


def _checkpoint(
    repo: bitloops.Repository, git_repo: Path, text: str, name: str = "f.txt"
) -> bitloops.Checkpoint:
    s = repo.start_session(agent="claude-code", model="opus")
    s.prompt(text)
    s.decision(f"do {text} simply")
    s.end()
    commit_files(git_repo, {name: text})
    cp = repo.promote()
    assert cp is not None
    return cp


def _carry_folders(git_repo: Path, message: str = "carry checkpoints") -> str:
    """Commit the checkpoint folders, as the pre-commit hook does with the next commit."""
    git(git_repo, "add", CHECKPOINTS_DIR)
    git(git_repo, "commit", "-q", "--no-verify", "-m", message)
    return git(git_repo, "rev-parse", "HEAD").strip()


def _sql(repo: bitloops.Repository, sql: str, args: tuple[object, ...] = ()) -> None:
    """Run SQL on the database file from a connection of the attacker's own."""
    conn = apsw.Connection(str(repo.db_path))
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


def _errors(report: bitloops.VerifyReport) -> set[str]:
    return {p.kind for p in report.problems if p.severity == "error"}


def _rewrite_events(repo: bitloops.Repository, cid: str, old: str, new: str) -> str:
    """Edit a checkpoint's events past the triggers; the hash the content now has."""
    _sql(
        repo,
        "INSERT INTO break_glass VALUES ('x'); "
        "UPDATE checkpoint_events SET line = replace(line, ?1, ?2) WHERE checkpoint_id = ?3; "
        "DELETE FROM break_glass",
        (old, new, cid),
    )
    header, lines = repo.store.execute(
        "SELECT header, (SELECT json_group_array(line) FROM (SELECT line FROM "
        "checkpoint_events WHERE checkpoint_id = ?1 ORDER BY id)) FROM checkpoints "
        "WHERE checkpoint_id = ?1",
        (cid,),
    )[0]
    import json

    return content_hash(json.loads(header), json.loads(lines))


# -- item 14: forged links ----------------------------------------------------------------


@pytest.mark.parametrize("reason", ["amend", "rebase", "manual", "session", "created"])
def test_a_link_pointing_an_old_commit_at_newer_reasoning_is_an_error(
    repo: bitloops.Repository, git_repo: Path, reason: str
) -> None:
    """An inserted commit_links row gives an old commit another commit's reasoning: error."""
    first = _checkpoint(repo, git_repo, "honest work")
    second = _checkpoint(repo, git_repo, "later work", "g.txt")
    _sql(
        repo,
        "INSERT INTO commit_links VALUES (?, ?, ?, ?)",
        (first.commit_sha, second.checkpoint_id, bitloops._codec.format_ts(second.created_at),
         reason),
    )  # fmt: skip
    report = repo.verify()
    assert not report.ok
    forged = [p for p in report.problems if p.kind == "link_forged"]
    assert [(p.commit_sha, p.checkpoint_id) for p in forged] == [
        (first.commit_sha, second.checkpoint_id)
    ]


def test_a_link_from_an_old_commit_without_reasoning_of_its_own_is_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """An old commit (made before the checkpoint existed) cannot be a rewrite of its commit."""
    old = git_repo / "old.txt"
    old.write_text("old\n")
    git(git_repo, "add", "old.txt")
    env = {**os.environ, **OLD_DATE}
    import subprocess

    subprocess.run(
        ("git", "commit", "-q", "--no-verify", "-m", "old"), cwd=git_repo, env=env, check=True
    )
    old_sha = git(git_repo, "rev-parse", "HEAD").strip()
    cp = _checkpoint(repo, git_repo, "new work")
    _sql(repo, "INSERT INTO commit_links VALUES (?, ?, '2026-01-01T00:00:00.000000Z', 'rebase')",
         (old_sha, cp.checkpoint_id))  # fmt: skip
    assert "link_forged" in _errors(repo.verify())


def test_true_rewrite_links_still_verify(repo: bitloops.Repository, git_repo: Path) -> None:
    """An amend's link (a newer commit carrying the checkpoint) is not mistaken for a forgery."""
    cp = _checkpoint(repo, git_repo, "work")
    git(git_repo, "commit", "-q", "--amend", "--no-verify", "-m", "amended")
    assert repo.link("HEAD", cp.checkpoint_id, "amend")
    report = repo.verify()
    assert report.ok, report.problems


def test_a_forged_link_in_postgres_is_an_error(pg: object, git_repo: Path) -> None:
    """The insert-only role may add links; one pointing an old commit elsewhere is an error."""
    from pg_helpers import PgSchema

    assert isinstance(pg, PgSchema)
    url = pg.writer_url()
    pg.use_for(git_repo, url)
    with bitloops.Repository.open(git_repo) as repo:
        first = _checkpoint(repo, git_repo, "honest work")
        second = _checkpoint(repo, git_repo, "later work", "g.txt")
        assert repo.verify().ok
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO commit_links VALUES (%s, %s, %s, 'amend')",
                (first.commit_sha, second.checkpoint_id, "2026-01-01T00:00:00.000000Z"),
            )
        report = repo.verify()
        forged = [p for p in report.problems if p.kind == "link_forged"]
        assert [p.store for p in forged] == ["shared"]
        assert not report.ok


def test_postgres_trigger_functions_replaced_by_ones_that_do_nothing_are_an_error(
    pg: object, git_repo: Path
) -> None:
    """Names and enabled flags intact, bodies gone: the shared store's check says so."""
    from pg_helpers import PgSchema

    from bitloops.checkpoint._verify import verify_shared
    from bitloops.store._postgres import PostgresStore

    assert isinstance(pg, PgSchema)
    pg.use_for(git_repo, pg.url)
    with bitloops.Repository.open(git_repo) as repo:
        _checkpoint(repo, git_repo, "honest work")
        assert repo.verify().ok
    name = pg.name
    pg.admin.execute(
        f"CREATE OR REPLACE FUNCTION {name}.bitloops_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$; "
        f"DROP TRIGGER purges_complete ON {name}.purges; "
        f"CREATE TRIGGER purges_complete AFTER INSERT ON {name}.purges "
        f"FOR EACH ROW EXECUTE FUNCTION {name}.bitloops_refuse_change()"
    )
    pg.admin.execute(f"UPDATE {name}.checkpoint_events SET line = line")  # works now
    store = PostgresStore(pg.url)
    try:
        found = [p for p in verify_shared(store, {}) if p.kind == "triggers_altered"]
    finally:
        store.close()
    assert len(found) == 1
    assert "bitloops_refuse_change" in found[0].message and "purges_complete" in found[0].message


# -- item 14: triggers, purges, the tip, damaged pages --------------------------------------


def test_triggers_replaced_by_same_named_ones_that_do_nothing_are_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Same names, empty bodies: UPDATE works afterwards, and verify says so."""
    _checkpoint(repo, git_repo, "honest work")
    _sql(
        repo,
        "DROP TRIGGER checkpoint_events_immutable_update; "
        "CREATE TRIGGER checkpoint_events_immutable_update BEFORE UPDATE ON checkpoint_events "
        "BEGIN SELECT 1; END; "
        "DROP TRIGGER commit_links_immutable_delete; "
        "CREATE TRIGGER commit_links_immutable_delete BEFORE DELETE ON commit_links "
        "WHEN 0 BEGIN SELECT RAISE(ABORT, 'bitloops: commit links are append-only'); END;",
    )
    _sql(repo, "UPDATE checkpoint_events SET line = replace(line, 'honest', 'edited')")
    report = repo.verify()
    assert {"triggers_altered", "content_mismatch"} <= _errors(report)
    altered = next(p for p in report.problems if p.kind == "triggers_altered")
    assert "checkpoint_events_immutable_update" in altered.message
    assert "commit_links_immutable_delete" in altered.message


def test_an_extra_trigger_on_a_committed_table_is_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A trigger bitloops did not create, on a committed table, is reported."""
    _checkpoint(repo, git_repo, "work")
    _sql(
        repo,
        "CREATE TRIGGER sneaky AFTER INSERT ON commit_links BEGIN SELECT 1; END",
    )
    assert "triggers_altered" in _errors(repo.verify())


def _forge_purge(
    repo: bitloops.Repository, cp: bitloops.Checkpoint, *, secret: str, replacement: str
) -> None:
    """Edit 'honest' into 'edited' and record a purge to excuse it, folder rewritten too."""
    new_hash = _rewrite_events(repo, cp.checkpoint_id, "honest", "edited")
    _sql(
        repo,
        "INSERT INTO purges VALUES ('p1', ?, '2026-06-01T00:00:00.000000Z', 'leak', ?, ?, 1, "
        "?, ?)",
        (cp.checkpoint_id, hashlib.sha256(secret.encode()).hexdigest(), replacement,
         cp.content_hash, new_hash),
    )  # fmt: skip
    checkpoint = repo._load_checkpoint(cp.checkpoint_id)
    lines = [r[0] for r in repo.store.execute(
        "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
        (cp.checkpoint_id,))]  # fmt: skip
    write_checkpoint_dir(repo.toplevel, checkpoint, lines)


def test_a_forged_purge_whose_replacement_is_not_there_is_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A purge record claiming replacements the content does not hold is made up."""
    cp = _checkpoint(repo, git_repo, "honest work")
    _forge_purge(repo, cp, secret="whatever-secret", replacement="[PURGED]")
    report = repo.verify()
    assert "purge_forged" in _errors(report)
    assert report.purged == ()


def test_a_forged_purge_is_an_error_when_git_holds_the_original(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Git's committed copy shows the edit replaced text that was not the purged secret."""
    cp = _checkpoint(repo, git_repo, "honest work")
    _carry_folders(git_repo)
    _forge_purge(repo, cp, secret="some-other-secret", replacement="edited")
    report = repo.verify()
    forged = [p for p in report.problems if p.kind == "purge_forged"]
    assert forged and "git's copy" in forged[0].message
    assert not report.ok


def test_a_real_purge_checked_against_git_still_verifies(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A true purge of a folder git already holds is explained by git's copy: info only."""
    leaked = "tangerine-aardvark-secret"
    _checkpoint(repo, git_repo, f"the wifi is {leaked}")
    _carry_folders(git_repo)
    repo.purge(leaked, reason="pasted")
    report = repo.verify()
    assert report.ok, report.problems
    assert {p.kind for p in report.problems} >= {"purged", "purge_uncommitted"}


def test_a_real_purge_of_a_branch_name_still_verifies(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A secret in the branch name is also replaced in the branch column: still no forgery."""
    git(git_repo, "checkout", "-q", "-b", "fix-kumquat-zebra-4471")
    _checkpoint(repo, git_repo, "work on kumquat-zebra-4471")
    repo.purge("kumquat-zebra-4471", reason="a customer's name")
    report = repo.verify()
    assert report.ok, report.problems
    assert len(report.purged) == 1


def _rehashed_tip(repo: bitloops.Repository, git_repo: Path) -> bitloops.Checkpoint:
    """A checkpoint whose folder git committed, then its events edited and re-hashed in
    the database (the forger's work, before touching the folder)."""
    cp = _checkpoint(repo, git_repo, "honest work")
    _carry_folders(git_repo)
    new_hash = _rewrite_events(repo, cp.checkpoint_id, "honest", "edited")
    _sql(
        repo,
        "INSERT INTO break_glass VALUES ('x'); "
        "UPDATE checkpoints SET content_hash = ? WHERE checkpoint_id = ?; "
        "DELETE FROM break_glass",
        (new_hash, cp.checkpoint_id),
    )
    return cp


def test_the_tip_rehashed_with_its_folder_deleted_is_caught_by_gits_copy(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Edited events, a new hash in the row, the work-tree folder gone: git's copy tells."""
    cp = _rehashed_tip(repo, git_repo)
    shutil.rmtree(git_repo / CHECKPOINTS_DIR / cp.commit_sha)
    report = repo.verify()
    mismatch = [p for p in report.problems if p.kind == "files_mismatch"]
    assert [p.checkpoint_id for p in mismatch] == [cp.checkpoint_id]
    assert "git's copy" in mismatch[0].message
    assert not report.ok


def test_a_forgery_committed_over_the_original_is_caught_by_gits_history(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Re-hashed, folder rewritten to match and committed: the older commit still tells."""
    cp = _rehashed_tip(repo, git_repo)
    checkpoint = repo._load_checkpoint(cp.checkpoint_id)
    assert isinstance(checkpoint.events, Transcript)  # a stored checkpoint reads lazily
    write_checkpoint_dir(repo.toplevel, checkpoint, list(checkpoint.events.lines))
    _carry_folders(git_repo, "tidy")
    report = repo.verify()
    assert [p.checkpoint_id for p in report.problems if p.kind == "history_rewritten"] == [
        cp.checkpoint_id
    ]
    assert not report.ok


def test_a_folder_written_again_with_a_new_link_is_not_a_rewrite(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Deleted and committed so, rewritten with a newer link in session.json: no forgery."""
    from datetime import timedelta

    from bitloops.doctor import diagnose

    cp = _checkpoint(repo, git_repo, "work")
    carried = _carry_folders(git_repo)
    assert repo.link(carried, cp.checkpoint_id, "manual")
    git(git_repo, "rm", "-q", "-r", f"{CHECKPOINTS_DIR}/{cp.commit_sha}")
    git(git_repo, "commit", "-q", "--no-verify", "-m", "drop the folder")
    assert diagnose(repo, fix=True, stale_after=timedelta(days=1)).ok
    _carry_folders(git_repo, "restored")
    versions = git(git_repo, "log", "--format=%H", "--", f"{CHECKPOINTS_DIR}/{cp.commit_sha}")
    assert len(versions.split()) == 3  # added, deleted, added again with two commits
    report = repo.verify()
    assert report.ok, report.problems


def test_doctor_fix_restores_a_committed_folder_from_git(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A committed folder deleted from the work tree comes back as git holds it."""
    from datetime import timedelta

    from bitloops.doctor import diagnose

    cp = _checkpoint(repo, git_repo, "work")
    _carry_folders(git_repo)
    shutil.rmtree(git_repo / CHECKPOINTS_DIR / cp.commit_sha)
    assert diagnose(repo, fix=True, stale_after=timedelta(days=1)).ok
    assert git(git_repo, "status", "--porcelain", "--", CHECKPOINTS_DIR) == ""


def test_damaged_pages_of_a_live_table_are_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """SQLite's own check runs: a damaged page of live_events fails verify."""
    _checkpoint(repo, git_repo, "work")
    s = repo.start_session(agent="claude-code")
    for i in range(300):
        s.prompt(f"draft prompt {i} " + "x" * 400)
    pages = repo.store.execute(
        "SELECT pageno FROM dbstat WHERE name = 'live_events' AND pagetype = 'leaf'"
    )
    page_size = repo.store.execute("PRAGMA page_size")[0][0]
    path = repo.db_path
    repo.close()
    target = pages[len(pages) // 2][0]
    with open(path, "r+b") as fh:
        fh.seek((target - 1) * page_size + 8)
        fh.write(b"\xff" * 64)
    with bitloops.Repository.open(git_repo) as again:
        report = again.verify()
        assert "database_damaged" in _errors(report)


def test_a_checkpoint_whose_commits_are_all_gone_is_reported(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """After a forced reset and gc, the checkpoint of a vanished commit is not silent."""
    _checkpoint(repo, git_repo, "kept work")
    git(git_repo, "checkout", "-q", "-b", "side")
    gone = _checkpoint(repo, git_repo, "abandoned work", "side.txt")
    git(git_repo, "checkout", "-q", "main")
    git(git_repo, "branch", "-q", "-D", "side")
    git(git_repo, "reflog", "expire", "--expire=now", "--all")
    git(git_repo, "gc", "-q", "--prune=now")
    report = repo.verify()
    found = [p for p in report.problems if p.kind == "commits_gone"]
    assert [p.checkpoint_id for p in found] == [gone.checkpoint_id]
    assert found[0].severity == "info"


def test_canonical_header_fast_path_matches_the_reference_hash(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """The stored header text hashed as it is gives the same hash as the codec's."""
    cp = _checkpoint(repo, git_repo, "work")
    header, chash = repo.store.execute(
        "SELECT header, content_hash FROM checkpoints WHERE checkpoint_id = ?", (cp.checkpoint_id,)
    )[0]
    import json

    assert canonical_dumps(json.loads(header)) == header
    assert chash == cp.content_hash


# -- item 12: a database that was there and is now empty or missing ------------------------


def _lose_database(repo: bitloops.Repository, how: str) -> Path:
    path = repo.db_path
    repo.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    if how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    return path


@pytest.mark.parametrize("how", ["empty", "missing"])
def test_a_lost_database_is_an_error_not_a_new_one(
    repo: bitloops.Repository, git_repo: Path, how: str
) -> None:
    """status, verify and doctor refuse an emptied or deleted database; nothing is recreated."""
    import subprocess
    import sys

    from bitloops.doctor import diagnose

    _checkpoint(repo, git_repo, "work")
    path = _lose_database(repo, how)
    with bitloops.Repository.open(git_repo) as again:
        with pytest.raises(bitloops.DatabaseCorrupt, match="doctor --fix"):
            again.verify()
        report = diagnose(again)
        assert not report.ok
        assert [f.check for f in report.findings] == ["database_lost"]
    for command in ("status", "verify", "doctor"):
        proc = subprocess.run(
            [sys.executable, "-m", "bitloops", command], cwd=git_repo, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        assert proc.returncode != 0, (command, proc.stdout)
        assert "doctor --fix" in proc.stdout + proc.stderr, command
    assert path.exists() == (how == "empty") and (how == "missing" or path.stat().st_size == 0)


def test_a_fresh_clone_with_folders_but_no_database_starts_one(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """A teammate's clone has the folders and no marker: its first use creates a database."""
    _checkpoint(repo, git_repo, "work")
    _carry_folders(git_repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    with bitloops.Repository.open(clone) as theirs:
        assert theirs.verify().ok
        assert (theirs.paths.common_dir / "bitloops" / "database-created.json").exists()


def test_doctor_fix_rebuilds_the_committed_state_from_the_folders(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """The checkpoints come back from the folders (work tree and branches), verified."""
    from bitloops.doctor import diagnose

    first = _checkpoint(repo, git_repo, "first work")
    second = _checkpoint(repo, git_repo, "second work", "g.txt")
    _carry_folders(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    side = _checkpoint(repo, git_repo, "side work", "side.txt")
    _carry_folders(git_repo)
    git(git_repo, "checkout", "-q", "main")
    assert not (git_repo / CHECKPOINTS_DIR / side.commit_sha).exists()  # only the branch has it
    before = {cp.checkpoint_id: repo.checkpoint(cp.checkpoint_id) for cp in (first, second, side)}
    _lose_database(repo, "empty")
    with bitloops.Repository.open(git_repo) as again:
        fixed = diagnose(again, fix=True, stale_after=__import__("datetime").timedelta(days=1))
        lost = next(f for f in fixed.findings if f.check == "database_lost")
        assert lost.fixed and "Rebuilt 3 checkpoint(s)" in lost.message
        report = again.verify()
        assert report.ok and report.checked == 3, report.problems
        for cid, cp in before.items():
            assert again.checkpoint(cid) == cp
        assert again.checkpoint(second.commit_sha).checkpoint_id == second.checkpoint_id
        assert again.store.count_checkpoints() == 3
    aside = list((git_repo / ".git" / "bitloops").glob("bitloops.db.lost-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 0


def test_the_rebuild_keeps_the_links_of_rewritten_commits(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """An amended commit's committed link file brings its link back with the checkpoint."""
    from datetime import timedelta

    from bitloops.checkpoint._links import Link, write_link_file
    from bitloops.doctor import diagnose

    cp = _checkpoint(repo, git_repo, "work")
    _carry_folders(git_repo)
    git(git_repo, "commit", "-q", "--amend", "--no-verify", "-m", "carry, amended")
    amended = git(git_repo, "rev-parse", "HEAD").strip()
    write_link_file(
        git_repo / CHECKPOINTS_DIR,
        amended,
        [Link(cp.checkpoint_id, cp.commit_sha, cp.content_hash, "amend")],
    )
    _carry_folders(git_repo, "link the amended commit")
    _lose_database(repo, "missing")
    with bitloops.Repository.open(git_repo) as again:
        diagnose(again, fix=True, stale_after=timedelta(days=1))
        assert amended in again.checkpoint(cp.checkpoint_id).commits
        assert again.verify().ok


def test_doctor_fix_rebuilds_from_the_checkpoint_ref(tmp_path: Path) -> None:
    """In ref mode the folders are only in the checkpoint ref; they come back from there."""
    from conftest import git as run_git

    from bitloops.doctor import diagnose

    work = tmp_path / "work"
    work.mkdir()
    run_git(work, "init", "-q", "-b", "main")
    commit_files(work, {"README.md": "x\n"}, "initial")
    (work / ".bitloops").mkdir()
    (work / ".bitloops" / "settings.json").write_text('{"checkpoint_files": "ref"}\n')
    with bitloops.Repository.open(work) as repo:
        cp = _checkpoint(repo, work, "ref work")
        assert not (work / CHECKPOINTS_DIR).exists()
        before = repo.checkpoint(cp.checkpoint_id)
        _lose_database(repo, "missing")
    with bitloops.Repository.open(work) as again:
        diagnose(again, fix=True)
        assert again.checkpoint(cp.checkpoint_id) == before
        assert again.verify().ok


# -- item 13: a promotion killed between the database and its folder ------------------------


@pytest.mark.parametrize("torn", ["empty folder", "no session.json", "no folder"])
def test_doctor_fix_rewrites_a_torn_folder_from_the_database(
    repo: bitloops.Repository, git_repo: Path, torn: str
) -> None:
    """The folder a killed promotion left unfinished is written again, as promotion would."""
    from datetime import timedelta

    from bitloops.doctor import diagnose

    cp = _checkpoint(repo, git_repo, "work")
    folder = git_repo / CHECKPOINTS_DIR / cp.commit_sha
    expected = {p.name: p.read_bytes() for p in folder.iterdir()}
    if torn == "no folder":
        shutil.rmtree(folder)
    else:
        (folder / "session.json").unlink()
        if torn == "empty folder":
            for part in folder.iterdir():
                part.unlink()
    report = diagnose(repo, stale_after=timedelta(days=1))
    assert not report.ok
    fixed = diagnose(repo, fix=True, stale_after=timedelta(days=1))
    assert fixed.ok, fixed.findings
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected
    assert repo.verify().ok and repo.verify().problems == ()


def test_hook_events_during_the_loss_are_spooled_and_recorded_after_the_rebuild(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hooks never recreate a lost database: they spool; after doctor --fix they record."""
    import io
    import json

    from bitloops.agents._registry import run_agent_hook
    from bitloops.capture import _spool as spool
    from bitloops.doctor import diagnose

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def hook(payload: dict[str, object]) -> str:
        err = io.StringIO()
        run_agent_hook("claude-code", io.BytesIO(json.dumps(payload).encode()), git_repo, err)
        assert "Traceback" not in err.getvalue()
        return err.getvalue()

    sid = "s-lost"
    hook({"hook_event_name": "SessionStart", "session_id": sid, "cwd": str(git_repo)})
    prompt = {"hook_event_name": "UserPromptSubmit", "session_id": sid, "cwd": str(git_repo)}
    hook({**prompt, "prompt": "before"})
    with bitloops.Repository.open(git_repo) as repo:
        commit_files(git_repo, {"f.txt": "x"})
        cp = repo.promote()
        assert cp is not None
        _lose_database(repo, "empty")
    hook({**prompt, "prompt": "while lost"})
    assert spool.pending(git_repo / ".git")
    assert (git_repo / ".git" / "bitloops" / "bitloops.db").stat().st_size == 0
    with bitloops.Repository.open(git_repo) as repo:
        assert next(f for f in diagnose(repo, fix=True).findings).fixed
    hook({**prompt, "prompt": "after"})
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.checkpoint(cp.checkpoint_id).content_hash == cp.content_hash
        texts = [e.payload["text"] for e in repo.draft().events if e.kind == "prompt"]
        assert texts == ["while lost", "after"]


def test_a_tampered_folder_hidden_from_git_diff_is_caught_by_gits_copy(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Edited events and hash in the database, the work-tree folder rewritten to match and
    hidden from `git diff` with --skip-worktree: git's copy still tells."""
    from bitloops.checkpoint._verify import _rewrite_folder

    cp = _rehashed_tip(repo, git_repo)
    folder = git_repo / CHECKPOINTS_DIR / cp.commit_sha
    _rewrite_folder(repo, repo.checkpoint(cp.checkpoint_id))  # the forgery, consistent
    files = [str(p.relative_to(git_repo)) for p in folder.iterdir()]
    git(git_repo, "update-index", "--skip-worktree", "--", *files)
    assert git(git_repo, "diff", "--name-only", "HEAD") == ""
    report = repo.verify()
    mismatch = [p for p in report.problems if p.kind == "files_mismatch"]
    assert [p.checkpoint_id for p in mismatch] == [cp.checkpoint_id]
    assert not report.ok
