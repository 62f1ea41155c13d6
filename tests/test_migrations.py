"""Schema migrations: version 1 databases upgrade to the current version, once, atomically."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest
from conftest import commit_files, run_together

import bitloops
import bitloops.store._migrations as migrations
import bitloops.store._sqlite as sqlite_store
from bitloops.store._migrations import MIGRATIONS, SCHEMA_VERSION, Migration

# What a version-1 file lacks of the current schema: removed from a current file to
# make one (the code that wrote version 1 is gone; its schema file is step 1).
_DOWN_TO_V1 = """
DROP TABLE outbox;
DROP TABLE quarantine;
ALTER TABLE checkpoints DROP COLUMN author;
DROP TRIGGER checkpoint_events_fts_update;
DROP TABLE checkpoint_events_fts;
DELETE FROM meta WHERE key = 'fts_indexed_upto';
PRAGMA user_version = 1;
"""


def _make_v1(git_repo: Path, monkeypatch: pytest.MonkeyPatch, checkpoints: int = 3) -> int:
    """Build a version-1 database: checkpoints plus a live draft, in the v1 schema.

    Returns the number of committed events.
    """
    with bitloops.Repository.open(git_repo) as repo:
        for n in range(checkpoints):
            s = repo.start_session(agent="claude-code", model="opus-4")
            s.prompt(f"Add retries to the client, round {n}")
            s.decision(f"Backoff number {n}", rationale="the server rate-limits bursts")
            s.response("Done: exponential backoff")
            commit_files(git_repo, {f"f{n}.txt": str(n)}, f"change {n}")
            assert repo.promote() is not None
        repo.start_session(agent="claude-code").prompt("still in the draft: zeppelin")
        count: int = repo.store.execute("SELECT count(*) FROM checkpoint_events")[0][0]
    conn = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    try:
        conn.execute(_DOWN_TO_V1)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema")}
        assert conn.pragma("user_version") == 1
    finally:
        conn.close()
    assert not any("fts" in name for name in names)
    assert not {"outbox", "quarantine"} & names
    return count


def _index_state(db: Path) -> tuple[int, int, int]:
    """(user_version, committed events, index entries); also runs FTS5's integrity check."""
    conn = apsw.Connection(str(db))
    try:
        version = conn.pragma("user_version")
        events = conn.execute("SELECT count(*) FROM checkpoint_events").get
        indexed = conn.execute("SELECT count(*) FROM checkpoint_events_fts").get
        conn.execute(
            "INSERT INTO checkpoint_events_fts (checkpoint_events_fts) VALUES ('integrity-check')"
        )
        return version, events, indexed
    finally:
        conn.close()


def test_migrations_are_ordered_and_end_at_the_schema_version() -> None:
    """Steps are numbered 1, 2, ... and the last is SCHEMA_VERSION (4 has the annotations)."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == sqlite_store.SCHEMA_VERSION == MIGRATIONS[-1].version >= 4


def test_new_database_is_created_at_the_current_version(repo: bitloops.Repository) -> None:
    """A fresh file goes through every step and ends at SCHEMA_VERSION with an index."""
    repo.start_session(agent="a").prompt("x")
    assert repo.store.execute("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert repo.store.execute("SELECT count(*) FROM checkpoint_events_fts") == [(0,)]


def test_v1_database_upgrades_and_backfills_the_index(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a v1 database with checkpoints migrates it and indexes every committed event."""
    events = _make_v1(git_repo, monkeypatch)
    with bitloops.Repository.open(git_repo) as repo:
        hits = repo.search("retries")
        assert len(hits) == 3
        assert [h.checkpoint_id for h in hits] == [c.checkpoint_id for c in repo.checkpoints()]
        assert repo.search("zeppelin") == []  # the draft stays unindexed
        assert repo.verify().ok
        assert len(repo.draft().events) == 2  # the draft survived the migration
    assert _index_state(repo.db_path) == (SCHEMA_VERSION, events, events)


def test_reopening_after_migration_does_not_migrate_again(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second open finds the current version and leaves the index alone: no duplicates."""
    events = _make_v1(git_repo, monkeypatch)
    for _ in range(2):
        with bitloops.Repository.open(git_repo) as repo:
            assert len(repo.search("backoff")) == 6
    assert _index_state(repo.db_path) == (SCHEMA_VERSION, events, events)


def test_step_two_is_safe_to_run_again(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A current file whose user_version was set back to 1 is rebuilt, not duplicated."""
    events = _make_v1(git_repo, monkeypatch)
    db = git_repo / ".git" / "bitloops" / "bitloops.db"
    with bitloops.Repository.open(git_repo) as repo:
        repo.status()  # migrates to the current version
    conn = apsw.Connection(str(db))
    conn.pragma("user_version", 1)
    conn.close()
    with bitloops.Repository.open(git_repo) as repo:
        assert len(repo.search("retries")) == 3
    assert _index_state(db) == (SCHEMA_VERSION, events, events)


def test_a_failing_step_leaves_the_database_at_its_old_version(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All steps run in one transaction: if one fails, none of them is kept."""
    _make_v1(git_repo, monkeypatch)

    def broken(conn: apsw.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise apsw.SQLError("the last step went wrong")

    last = SCHEMA_VERSION + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, Migration(last, "broken", broken)))
    monkeypatch.setattr(sqlite_store, "SCHEMA_VERSION", last)
    with pytest.raises(bitloops.StoreError, match="the last step went wrong"):
        bitloops.Repository.open(git_repo).status()
    conn = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    try:
        assert conn.pragma("user_version") == 1
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema")}
        assert "half_done" not in names and "checkpoint_events_fts" not in names
    finally:
        conn.close()


_OPENER = """
import sys, time
import bitloops
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with bitloops.Repository.open(sys.argv[1]) as repo:
    print(len(repo.search("retries")))
"""


def test_concurrent_processes_migrate_once(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four processes opening one v1 database at once all succeed; it is migrated once."""
    events = _make_v1(git_repo, monkeypatch)
    outputs = run_together(_OPENER, [[str(git_repo)]] * 4, timeout=60)
    assert [out.strip() for out in outputs] == ["3"] * 4
    assert _index_state(git_repo / ".git" / "bitloops" / "bitloops.db") == (
        SCHEMA_VERSION,
        events,
        events,
    )


def test_schema_too_new_is_still_refused(repo: bitloops.Repository) -> None:
    """A database at version 99 raises SchemaTooNew and is left untouched."""
    repo.start_session(agent="a").prompt("kept")
    repo.close()
    conn = apsw.Connection(str(repo.db_path))
    conn.pragma("user_version", 99)
    conn.close()
    with pytest.raises(bitloops.SchemaTooNew, match="version 99"):
        bitloops.Repository.open(repo.toplevel).status()
    conn = apsw.Connection(str(repo.db_path))
    try:
        assert conn.pragma("user_version") == 99
    finally:
        conn.close()


def test_step_three_adds_outbox_author_and_quarantine(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A v1 file gains the outbox, the quarantine and checkpoints.author; rows are kept."""
    _make_v1(git_repo, monkeypatch)
    db = git_repo / ".git" / "bitloops" / "bitloops.db"
    with bitloops.Repository.open(git_repo) as repo:
        assert len(repo.checkpoints()) == 3
        assert repo.store.execute("SELECT count(*) FROM outbox") == [(0,)]
        assert repo.store.execute("SELECT count(*) FROM quarantine") == [(0,)]
        assert repo.store.execute("SELECT count(author) FROM checkpoints") == [(0,)]
        assert repo.verify().ok
    conn = apsw.Connection(str(db))
    conn.pragma("user_version", 2)  # step 3 must be safe to run again
    conn.close()
    with bitloops.Repository.open(git_repo) as repo:
        assert len(repo.checkpoints()) == 3
    assert _index_state(db)[0] == SCHEMA_VERSION
