"""The storage contract: every behaviour of the committed store, on each backend.

``sqlite`` is the local store alone; ``postgres`` is a team setup whose checkpoints are
read back from the shared PostgreSQL; ``postgres-writer`` is the same through a role
that may only read and insert (docs/storage.md), since an owner could switch triggers off.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apsw
import attrs
import psycopg
import pytest
from conftest import commit_files, git
from pg_helpers import PgSchema

import bitloops
from bitloops.checkpoint._search import search
from bitloops.checkpoint._verify import verify_shared
from bitloops.store._postgres import PostgresStore
from bitloops.store._sqlite import CheckpointQuery, SQLiteStore


@attrs.define
class Backend:
    """A repository recording into one backend, and that backend read directly."""

    name: str
    repo: bitloops.Repository
    reader: SQLiteStore | PostgresStore
    #: Runs SQL on the backend as the client would (as the writer role for postgres-writer).
    raw: Callable[[str], None]
    pg: PgSchema | None = None

    def load(self, checkpoint_id: str) -> bitloops.Checkpoint:
        data = self.reader.checkpoint_data(checkpoint_id)
        assert data is not None, f"{checkpoint_id} is not in the {self.name} store"
        return self.repo._checkpoint_from(*data)


def _sqlite_raw(db: Path) -> Callable[[str], None]:
    def run(sql: str) -> None:
        conn = apsw.Connection(str(db))
        try:
            conn.execute(sql)
        finally:
            conn.close()

    return run


def _pg_raw(url: str) -> Callable[[str], None]:
    def run(sql: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.encode())

    return run


@pytest.fixture(params=["sqlite", "postgres", "postgres-writer"])
def backend(request: pytest.FixtureRequest, git_repo: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        repo = bitloops.Repository.open(git_repo)
        yield Backend("sqlite", repo, repo.store, _sqlite_raw(repo.db_path))
        repo.close()
        return
    pg: PgSchema = request.getfixturevalue("pg")
    url = pg.writer_url() if request.param == "postgres-writer" else pg.url
    pg.use_for(git_repo, url)
    repo = bitloops.Repository.open(git_repo)
    reader = PostgresStore(url)
    yield Backend(request.param, repo, reader, _pg_raw(url), pg)
    reader.close()
    repo.close()


def _work(
    repo: bitloops.Repository,
    files: dict[str, str],
    *,
    agent: str = "claude-code",
    model: str | None = "opus-4",
    words: str = "retries",
    author: str | None = None,
) -> bitloops.Checkpoint:
    s = repo.start_session(agent=agent, model=model)
    s.prompt(f"Add {words} to the HTTP client")
    s.reasoning("The server rate-limits bursts, so back off exponentially.")
    s.decision("Exponential backoff", rationale="bursts are rate-limited")
    s.alternative("Fixed delay", reason="retries would pile up")
    s.tool_use("Edit", {"path": next(iter(files))})
    s.response(f"Added {words}.")
    top = repo.toplevel
    if author is None:
        commit_files(top, files, f"add {words}")
    else:
        for rel, text in files.items():
            (top / rel).write_text(text, encoding="utf-8")
        git(top, "add", "--", *files)
        git(top, "commit", "-q", "--no-verify", f"--author={author}", "-m", f"add {words}")
    checkpoint = repo.promote()
    assert checkpoint is not None
    return checkpoint


def test_promote_stores_the_whole_checkpoint(backend: Backend) -> None:
    """What promotion stores reads back equal: rows, events in order, links, hash."""
    made = _work(backend.repo, {"client.py": "def get():\n    return 1\n"})
    stored = backend.load(made.checkpoint_id)
    local = backend.repo._load_checkpoint(made.checkpoint_id)
    assert stored == local
    assert [e.kind for e in stored.events] == [e.kind for e in made.events]
    assert stored.content_hash == made.content_hash
    assert stored.commits == (made.commit_sha,)
    assert backend.reader.has_checkpoint(made.checkpoint_id)
    assert backend.reader.checkpoint_ids(commit_sha=made.commit_sha) == [made.checkpoint_id]
    if backend.pg is not None:
        assert backend.repo.status().unsent_count == 0


def test_promotion_is_idempotent(backend: Backend) -> None:
    """Promoting or sending the same checkpoint again never stores it twice."""
    made = _work(backend.repo, {"a.py": "x = 1\n"})
    again = backend.repo.promote()
    assert again is not None and again.checkpoint_id == made.checkpoint_id
    if isinstance(backend.reader, PostgresStore):
        row, events, links = backend.repo.store.checkpoint_rows(made.checkpoint_id)
        assert backend.reader.put_checkpoint(row, events, links) is False
        report = backend.repo.sync(queue_all=True)
        assert (report.sent, report.already_there, report.waiting) == (0, 1, 0)
    assert backend.reader.count_checkpoints() == 1
    data = backend.reader.checkpoint_data(made.checkpoint_id)
    assert data is not None and len(data[1]) == len(made.events)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE checkpoints SET branch = 'forged'",
        "DELETE FROM checkpoints",
        "UPDATE checkpoint_events SET line = '{}'",
        "DELETE FROM checkpoint_events",
        "UPDATE commit_links SET reason = 'forged'",
        "DELETE FROM commit_links",
    ],
)
def test_committed_rows_cannot_be_changed(backend: Backend, sql: str) -> None:
    """The database itself refuses updates and deletes of committed rows."""
    made = _work(backend.repo, {"a.py": "x = 1\n"})
    with pytest.raises((apsw.Error, psycopg.Error)) as caught:
        backend.raw(sql)
    if backend.name == "postgres-writer":  # no privilege: refused before the trigger
        assert isinstance(caught.value, psycopg.errors.InsufficientPrivilege)
    else:
        assert "immutable" in str(caught.value) or "append-only" in str(caught.value)
    assert backend.load(made.checkpoint_id) == backend.repo._load_checkpoint(made.checkpoint_id)
    if backend.pg is None:
        assert backend.repo.verify().ok


@pytest.mark.parametrize("backend", ["postgres", "postgres-writer"], indirect=True)
def test_postgres_refuses_truncate_and_the_writer_cannot_switch_triggers_off(
    backend: Backend,
) -> None:
    """TRUNCATE fires no row trigger, so it has its own; the writer role can't disable any."""
    made = _work(backend.repo, {"a.py": "x = 1\n"})
    for table in ("checkpoints", "checkpoint_events", "commit_links"):
        with pytest.raises(psycopg.Error):
            backend.raw(f"TRUNCATE {table} CASCADE")
    if backend.name == "postgres-writer":
        for sql in (
            "ALTER TABLE checkpoint_events DISABLE TRIGGER ALL",
            "SET session_replication_role = replica",
            "DROP TRIGGER checkpoint_events_immutable ON checkpoint_events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                backend.raw(sql)
    assert backend.load(made.checkpoint_id).content_hash == made.content_hash


def test_hash_chain_links_consecutive_checkpoints_and_verifies(backend: Backend) -> None:
    """Each checkpoint carries its parent commit's checkpoint hash; verify accepts the chain."""
    first = _work(backend.repo, {"a.py": "x = 1\n"})
    second = _work(backend.repo, {"b.py": "y = 2\n"}, words="backoff")
    stored = backend.load(second.checkpoint_id)
    assert stored.parent_checkpoint_id == first.checkpoint_id
    assert stored.parent_hash == backend.load(first.checkpoint_id).content_hash
    report = backend.repo.verify()
    assert report.ok, report.problems
    assert report.checked == 2
    if isinstance(backend.reader, PostgresStore):
        assert verify_shared(backend.reader, {}) == []


def test_verify_catches_content_changed_around_the_triggers(backend: Backend) -> None:
    """An edit made with the triggers bypassed (by a superuser) is found by its hash."""
    made = _work(backend.repo, {"a.py": "x = 1\n"})
    forged = json.dumps({"kind": "prompt", "payload": {"text": "forged"}})
    if backend.pg is None:
        backend.raw(
            "INSERT INTO break_glass VALUES ('t'); "
            f"UPDATE checkpoint_events SET line = '{forged}' WHERE id = "
            "(SELECT min(id) FROM checkpoint_events); DELETE FROM break_glass"
        )
    else:
        admin = backend.pg.admin
        admin.execute("SET session_replication_role = replica")
        admin.execute(
            f"UPDATE {backend.pg.name}.checkpoint_events SET line = %s WHERE position = 0",
            (forged,),
        )
        admin.execute("SET session_replication_role = origin")
    report = backend.repo.verify()
    assert not report.ok
    mismatches = [p for p in report.problems if p.kind == "content_mismatch"]
    assert [p.checkpoint_id for p in mismatches] == [made.checkpoint_id]
    assert mismatches[0].store == ("local" if backend.pg is None else "shared")


def test_queries_filter_by_branch_author_agent_model_and_time(backend: Backend) -> None:
    """checkpoints() filters on every axis, on both backends alike."""
    repo = backend.repo
    top = repo.toplevel
    a = _work(repo, {"a.py": "1\n"}, author="Ada Lovelace <ada@example.com>")
    git(top, "checkout", "-q", "-b", "feature")
    b = _work(
        repo,
        {"b.py": "2\n"},
        agent="codex",
        model="gpt-5-codex",
        author="Bob Builder <bob@example.com>",
    )
    c = _work(repo, {"c.py": "3\n"}, agent="gemini", model=None, author="Ada <ada@example.com>")

    def ids(**filters: Any) -> list[str]:
        query = CheckpointQuery(**filters)
        from_store = backend.reader.checkpoint_ids(query)
        assert [cp.checkpoint_id for cp in repo.checkpoints(**_api(filters))] == from_store
        return from_store

    newest_first = [c.checkpoint_id, b.checkpoint_id, a.checkpoint_id]
    assert ids() == newest_first
    assert ids(branch="main") == [a.checkpoint_id]
    assert ids(branch="feature") == [c.checkpoint_id, b.checkpoint_id]
    assert ids(author="ADA@example") == [c.checkpoint_id, a.checkpoint_id]
    assert ids(author="Builder") == [b.checkpoint_id]
    assert ids(agent="codex") == [b.checkpoint_id]
    assert ids(model="opus-4") == [a.checkpoint_id]
    assert ids(agent="gemini", branch="main") == []
    assert ids(since=_ts(b.created_at)) == [c.checkpoint_id, b.checkpoint_id]
    assert ids(until=_ts(b.created_at)) == [a.checkpoint_id]
    assert ids(limit=2) == newest_first[:2]


def _ts(when: datetime) -> str:
    from bitloops._codec import format_ts

    return format_ts(when)


def _api(filters: dict[str, Any]) -> dict[str, Any]:
    """The Repository.checkpoints() keywords for a CheckpointQuery's fields."""
    from bitloops._codec import parse_ts

    out = dict(filters)
    for key in ("since", "until"):
        if key in out:
            out[key] = parse_ts(out[key])
    return out


def test_search_finds_committed_events(backend: Backend) -> None:
    """Full-text search reaches committed events: the words of payloads, newest first."""
    older = _work(backend.repo, {"a.py": "1\n"}, words="retries")
    newer = _work(backend.repo, {"b.py": "2\n"}, words="caching")
    hits = search(backend.reader, "backoff")
    assert [h.checkpoint_id for h in hits][:1] == [newer.checkpoint_id]
    assert {h.checkpoint_id for h in hits} == {older.checkpoint_id, newer.checkpoint_id}
    only = search(backend.reader, "caching")
    assert {h.checkpoint_id for h in only} == {newer.checkpoint_id}
    assert all("[" in h.snippet for h in only)
    assert only[0].commits == (newer.commit_sha,)
    assert search(backend.reader, "zeppelin") == []


def test_links_added_by_a_rewrite_reach_the_store(backend: Backend) -> None:
    """An amend adds a link to the existing checkpoint, in the shared store too."""
    made = _work(backend.repo, {"a.py": "1\n"})
    top = backend.repo.toplevel
    git(top, "commit", "-q", "--amend", "--no-verify", "-m", "amended")
    amended = git(top, "rev-parse", "HEAD").strip()
    assert backend.repo.link(amended, made.checkpoint_id, "amend")
    if backend.pg is not None:
        assert backend.repo.sync().ok
    stored = backend.load(made.checkpoint_id)
    assert stored.commits == (made.commit_sha, amended)
    assert stored.content_hash == made.content_hash  # links are not hashed
    assert backend.reader.checkpoint_ids(commit_sha=amended) == [made.checkpoint_id]


def test_time_filters_take_aware_datetimes(backend: Backend) -> None:
    """since/until in the API are datetimes in any zone; they mean the same instant."""
    made = _work(backend.repo, {"a.py": "1\n"})
    later = made.created_at + timedelta(seconds=1)
    zone = later.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert [c.checkpoint_id for c in backend.repo.checkpoints(until=zone)] == [made.checkpoint_id]
    assert backend.repo.checkpoints(since=zone) == []


def test_search_survives_an_event_holding_a_nul_character(backend: Backend) -> None:
    """A payload with U+0000 (valid JSON, refused by jsonb) does not stop anyone's search."""
    s = backend.repo.start_session(agent="claude-code", model="opus-4")
    s.prompt("Strip the \x00 byte from the zeppelin header")
    commit_files(backend.repo.toplevel, {"a.py": "1\n"}, "nul")
    made = backend.repo.promote()
    assert made is not None
    later = _work(backend.repo, {"b.py": "2\n"}, words="caching")
    assert {h.checkpoint_id for h in search(backend.reader, "zeppelin")} == {made.checkpoint_id}
    assert {h.checkpoint_id for h in search(backend.reader, "caching")} == {later.checkpoint_id}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("retries NOT pile", {"older"}),
        ("caching OR retries", {"older", "newer"}),
        ("cach*", {"newer"}),
        ('"HTTP client" AND caching', {"newer"}),
        ('"exponential backoff" AND caching', set()),
        ("kind:decision", {"older", "newer"}),
        ("NEAR(caching HTTP, 5)", {"newer"}),
    ],
)
def test_search_operators_mean_the_same_on_both_backends(
    backend: Backend, query: str, expected: set[str]
) -> None:
    """FTS5 syntax (AND, OR, NOT, prefix*, "phrases", column:, NEAR) in either store.

    Each event is matched on its own: "retries NOT pile" skips the alternative
    "retries would pile up" that both checkpoints hold.
    """
    made = {
        "older": _work(backend.repo, {"a.py": "1\n"}, words="retries"),
        "newer": _work(backend.repo, {"b.py": "2\n"}, words="caching"),
    }
    hits = {h.checkpoint_id for h in search(backend.reader, query)}
    assert hits == {made[name].checkpoint_id for name in expected}


@pytest.mark.parametrize("backend", ["postgres", "postgres-writer"], indirect=True)
def test_rows_cannot_be_added_to_a_stored_checkpoint(backend: Backend) -> None:
    """Events (and purge records) go in with their checkpoint, never later; nor can a
    client mark a checkpoint as indexed to hide it from search."""
    made = _work(backend.repo, {"a.py": "1\n"})
    forged = json.dumps({"kind": "prompt", "payload": {"text": "forged"}}).replace("'", "''")
    with pytest.raises(psycopg.Error) as caught:
        backend.raw(
            "INSERT INTO checkpoint_events (checkpoint_id, position, session_id, seq, ts, kind, "
            f"line) VALUES ('{made.checkpoint_id}', 999, 's', 1, 't', 'prompt', '{forged}')"
        )
    assert "immutable" in str(caught.value) or isinstance(
        caught.value, psycopg.errors.InsufficientPrivilege
    )
    with pytest.raises(psycopg.Error, match="immutable"):  # nor to a checkpoint never stored
        backend.raw(
            "INSERT INTO checkpoint_events (checkpoint_id, position, session_id, seq, ts, kind, "
            f"line) VALUES ('no-such-checkpoint', 0, 's', 1, 't', 'prompt', '{forged}')"
        )
    if backend.name == "postgres-writer":
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            backend.raw(f"INSERT INTO search_indexed VALUES ('{made.checkpoint_id}')")
    assert {h.checkpoint_id for h in search(backend.reader, "retries")} == {made.checkpoint_id}
    assert backend.load(made.checkpoint_id).content_hash == made.content_hash
