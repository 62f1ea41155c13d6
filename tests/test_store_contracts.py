"""The CommittedStore contract: every method, the same expectations, on each backend.

``sqlite`` reads the local store a repository promotes into; ``postgres`` reads the
team's shared store the same promotions were sent to. Each test calls the store only
through :class:`bitloops.store.CommittedStore`, so a third backend would run the same
suite by adding a parameter.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import commit_files, git
from pg_helpers import PgSchema

import bitloops
from bitloops.store import CheckpointQuery, CommittedStore, HeaderRow, LinkRecord, SearchRow
from bitloops.store._postgres import PostgresStore
from bitloops.store._sqlite import SQLiteStore


@attrs.define
class Scenario:
    """Two checkpoints promoted in order, read back through one backend."""

    store: CommittedStore
    repo: bitloops.Repository
    older: bitloops.Checkpoint
    newer: bitloops.Checkpoint


def _promote(repo: bitloops.Repository, name: str, words: str, agent: str) -> bitloops.Checkpoint:
    s = repo.start_session(agent=agent, model="opus-4")
    s.prompt(f"Add {words} to the HTTP client")
    s.decision("Exponential backoff", rationale="bursts are rate-limited")
    s.response(f"Added {words}.")
    commit_files(repo.toplevel, {name: f"{words}\n"}, f"add {words}")
    checkpoint = repo.promote()
    assert checkpoint is not None
    return checkpoint


@pytest.fixture(params=["sqlite", "postgres"])
def scenario(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[Scenario]:
    shared_url: str | None = None
    if request.param == "postgres":
        pg: PgSchema = request.getfixturevalue("pg")
        pg.use_for(git_repo)
        shared_url = pg.url
    repo = bitloops.Repository.open(git_repo)
    older = _promote(repo, "a.py", "retries", "claude-code")
    newer = _promote(repo, "b.py", "caching", "codex")
    store: CommittedStore = repo.store
    if shared_url is not None:
        assert repo.sync().ok
        store = PostgresStore(shared_url)
    yield Scenario(store=store, repo=repo, older=older, newer=newer)
    if shared_url is not None:
        store.close()
    repo.close()


def test_both_backends_are_committed_stores() -> None:
    """SQLiteStore and PostgresStore have every method of the contract."""
    names = [n for n in dir(CommittedStore) if not n.startswith("_")]
    assert names
    for backend in (SQLiteStore, PostgresStore):
        assert all(callable(getattr(backend, n, None)) for n in names), backend


def test_counts_and_membership(scenario: Scenario) -> None:
    """count_checkpoints and has_checkpoint agree with what was promoted."""
    store = scenario.store
    assert store.count_checkpoints() == 2
    assert store.has_checkpoint(scenario.older.checkpoint_id)
    assert not store.has_checkpoint("no-such-checkpoint")


def test_checkpoint_data_is_the_row_lines_and_commits(scenario: Scenario) -> None:
    """checkpoint_data gives the row, every event line in order and the linked commits."""
    cp = scenario.older
    data = scenario.store.checkpoint_data(cp.checkpoint_id)
    assert data is not None
    row, lines, commits = data
    assert (row.checkpoint_id, row.commit_sha, row.content_hash) == (
        cp.checkpoint_id,
        cp.commit_sha,
        cp.content_hash,
    )
    assert row.event_count == len(lines) == len(cp.events)
    assert commits == [cp.commit_sha]
    newer = scenario.store.checkpoint_data(scenario.newer.checkpoint_id)
    assert newer is not None
    assert newer[0].parent_checkpoint_id == cp.checkpoint_id
    assert newer[0].parent_hash == cp.content_hash
    assert scenario.store.checkpoint_data("no-such-checkpoint") is None


def test_checkpoint_ids_filter_newest_first(scenario: Scenario) -> None:
    """checkpoint_ids lists newest first, and each filter narrows it the same way."""
    store, older, newer = scenario.store, scenario.older, scenario.newer
    assert store.checkpoint_ids() == [newer.checkpoint_id, older.checkpoint_id]
    assert store.checkpoint_ids(limit=1) == [newer.checkpoint_id]
    assert store.checkpoint_ids(commit_sha=older.commit_sha) == [older.checkpoint_id]
    assert store.checkpoint_ids(CheckpointQuery(agent="codex")) == [newer.checkpoint_id]
    assert store.checkpoint_ids(CheckpointQuery(model="opus-4", branch="main")) == [
        newer.checkpoint_id,
        older.checkpoint_id,
    ]
    assert store.checkpoint_ids(CheckpointQuery(agent="nobody")) == []


def test_links_and_prefixes(scenario: Scenario) -> None:
    """add_link adds once; commit_links, link_rows and commits_with_prefix see it."""
    store, older, newer = scenario.store, scenario.older, scenario.newer
    assert store.commit_links([]) == {}
    assert store.commit_links([older.checkpoint_id, newer.checkpoint_id]) == {
        older.checkpoint_id: [older.commit_sha],
        newer.checkpoint_id: [newer.commit_sha],
    }
    top = scenario.repo.toplevel
    git(top, "commit", "-q", "--amend", "--no-verify", "-m", "amended")
    amended = git(top, "rev-parse", "HEAD").strip()
    assert store.add_link(amended, newer.checkpoint_id, "amend")
    assert not store.add_link(amended, newer.checkpoint_id, "amend")
    assert store.commit_links([newer.checkpoint_id]) == {
        newer.checkpoint_id: [newer.commit_sha, amended]
    }
    links = store.link_rows()
    assert all(isinstance(link, LinkRecord) for link in links)
    assert {(k.commit_sha, k.checkpoint_id, k.reason) for k in links} == {
        (older.commit_sha, older.checkpoint_id, "created"),
        (newer.commit_sha, newer.checkpoint_id, "created"),
        (amended, newer.checkpoint_id, "amend"),
    }
    assert store.commits_with_prefix(amended[:8]) == [amended]
    assert store.commits_with_prefix("g") == []
    assert len(store.commits_with_prefix("", limit=5)) == 3


def test_headers_oldest_first(scenario: Scenario) -> None:
    """headers gives every checkpoint's header row oldest first, or only those asked for."""
    store, older, newer = scenario.store, scenario.older, scenario.newer
    rows = store.headers()
    assert [r.checkpoint_id for r in rows] == [older.checkpoint_id, newer.checkpoint_id]
    first = rows[0]
    assert isinstance(first, HeaderRow)
    assert (first.commit_sha, first.content_hash, first.parent_checkpoint_id) == (
        older.commit_sha,
        older.content_hash,
        None,
    )
    assert rows[1].parent_hash == older.content_hash
    assert first.event_count == len(older.events)
    assert [r.checkpoint_id for r in store.headers([newer.checkpoint_id])] == [newer.checkpoint_id]
    assert store.headers([]) == []
    assert store.purge_records() == {}


def test_search_events_rows_and_errors(scenario: Scenario) -> None:
    """search_events finds committed words newest first and refuses what cannot be read."""
    store, older, newer = scenario.store, scenario.older, scenario.newer
    store.catch_up_index()
    rows = store.search_events("backoff", 10)
    assert all(isinstance(r, SearchRow) for r in rows)
    assert [r.checkpoint_id for r in rows][:1] == [newer.checkpoint_id]
    assert {r.checkpoint_id for r in rows} == {older.checkpoint_id, newer.checkpoint_id}
    only = store.search_events(query="caching", limit=10)
    assert {(r.checkpoint_id, r.commit_sha) for r in only} == {
        (newer.checkpoint_id, newer.commit_sha)
    }
    assert all("[" in r.snippet and r.created_at.endswith("Z") for r in only)
    assert store.search_events("backoff", 1) == rows[:1]
    assert store.search_events("zeppelin", 10) == []
    with pytest.raises(bitloops.InvalidSearch):
        store.search_events('"unbalanced', 10)


def test_sqlite_search_events_still_takes_match(repo: bitloops.Repository) -> None:
    """The old keyword ``match=`` still works for one release, with a DeprecationWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert repo.store.search_events(match="anything", limit=5) == []
    assert [w.category for w in caught] == [DeprecationWarning]


# -- the SQLite store's own reads (verify, doctor, repairs) ------------------------------


def test_sqlite_integrity_reads(repo: bitloops.Repository) -> None:
    """quick_check, schema_version, schema_objects and break_glass_open describe a sound file."""
    from bitloops.store._integrity import expected_schema_objects
    from bitloops.store._sqlite import SCHEMA_VERSION

    store = repo.store
    assert store.quick_check() == ["ok"]
    assert store.schema_version() == SCHEMA_VERSION
    assert store.schema_objects() == expected_schema_objects()
    assert not store.break_glass_open()


def test_sqlite_verification_snapshot_matches_the_rows(repo: bitloops.Repository) -> None:
    """verification() gives every checkpoint, its links and its events joined as hashed."""
    older = _promote(repo, "a.py", "retries", "claude-code")
    newer = _promote(repo, "b.py", "caching", "codex")
    with repo.store.verification() as snapshot:
        ids = [c.checkpoint_id for c in snapshot.checkpoints]
        events = list(snapshot.events)
    assert ids == sorted([older.checkpoint_id, newer.checkpoint_id])
    assert [e[0] for e in events] == ids
    for cid, count, text in events:
        data = repo.store.checkpoint_data(cid)
        assert data is not None
        assert count == len(data[1])
        assert text == "".join(f"{line}\n" for line in data[1])
    assert {(k.commit_sha, k.checkpoint_id) for k in snapshot.links} == {
        (older.commit_sha, older.checkpoint_id),
        (newer.commit_sha, newer.checkpoint_id),
    }
    assert snapshot.purges == []


def test_sqlite_heads_draft_span_and_meta(repo: bitloops.Repository) -> None:
    """checkpoint_heads, checkpoint_commits, draft_span and the meta values read back."""
    store = repo.store
    assert store.draft_span(repo.worktree) == (None, 0)
    made = _promote(repo, "a.py", "retries", "claude-code")
    heads = store.checkpoint_heads([made.checkpoint_id, "no-such-checkpoint"])
    assert list(heads) == [made.checkpoint_id]
    assert heads[made.checkpoint_id].content_hash == made.content_hash
    assert store.checkpoint_heads([]) == {}
    assert store.checkpoint_commits() == {made.checkpoint_id: made.commit_sha}
    s = repo.start_session(agent="claude-code")
    s.prompt("one more")
    oldest, count = store.draft_span(repo.worktree)
    assert count == 2 and oldest is not None  # the session_start event and the prompt
    assert store.meta_value("contract-test") is None
    store.set_meta_value("contract-test", "1")
    store.set_meta_value("contract-test", "2")
    assert store.meta_value("contract-test") == "2"


def test_sqlite_restore_checkpoint_puts_a_copy_back_once(repo: bitloops.Repository) -> None:
    """restore_checkpoint writes a checkpoint read elsewhere, and refuses it a second time."""
    import json

    from bitloops.store._sqlite import SQLiteStore

    made = _promote(repo, "a.py", "retries", "claude-code")
    data = repo.store.checkpoint_data(made.checkpoint_id)
    assert data is not None
    row, lines, _commits = data
    events = []
    for line in lines:
        event = json.loads(line)
        events.append((event["session_id"], event["seq"], event["ts"], event["kind"], line))
    other = SQLiteStore(repo.toplevel / "other.db")
    try:
        assert other.restore_checkpoint(row=row, events=events, links=[("f" * 40, "rebuilt")])
        assert not other.restore_checkpoint(row=row, events=events)
        assert other.checkpoint_data(made.checkpoint_id) == (
            row,
            lines,
            [made.commit_sha, "f" * 40],
        )
    finally:
        other.close()
