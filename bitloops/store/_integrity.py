"""The SQLite store's integrity queries: what verify and doctor read, purges and repairs.

Kept apart from the recording and promotion paths of :mod:`bitloops.store._sqlite`:
these statements read the whole committed state at once, are (for a purge) the only
ones allowed past the immutability triggers, or put back checkpoints read from their
folders (``doctor --fix``, a teammate's committed folders). :class:`IntegrityQueries` is mixed into
:class:`~bitloops.store._sqlite.SQLiteStore`; the checks themselves (what a row means)
stay in :mod:`bitloops.checkpoint._verify`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import apsw
import attrs

from bitloops.store._rows import (
    CHECKPOINT_COLUMNS,
    CheckpointRow,
    EndedSession,
    EventRow,
    HeaderRow,
    LinkRecord,
    PurgeStep,
)

if TYPE_CHECKING:
    from pathlib import Path

    from bitloops.store._index import IndexRows

__all__ = [
    "BreakGlass",
    "IntegrityQueries",
    "SchemaObjects",
    "StoredCheckpoint",
    "VerifySnapshot",
    "expected_schema_objects",
    "table_count",
]

#: ``name -> (type, table, SQL with whitespace normalised)`` of every trigger and of
#: the ``break_glass`` table: the objects that keep committed rows immutable.
SchemaObjects = dict[str, tuple[str, str, str]]

_SCHEMA_OBJECTS_SQL = (
    "SELECT type, name, tbl_name, sql FROM sqlite_schema "
    "WHERE type = 'trigger' OR name = 'break_glass'"
)


def _normal_sql(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _schema_objects(conn: apsw.Connection) -> SchemaObjects:
    return {
        str(name): (str(kind), str(table), _normal_sql(sql))
        for kind, name, table, sql in conn.execute(_SCHEMA_OBJECTS_SQL)
    }


@functools.cache
def expected_schema_objects() -> SchemaObjects:
    """The :data:`SchemaObjects` of a database this version creates or upgrades.

    Built by running the migrations on an in-memory database, so it is exactly what such
    a database holds, whatever step added an object.
    """
    from bitloops.store._migrations import upgrade

    conn = apsw.Connection(":memory:")
    try:
        with conn:
            upgrade(conn, 0)
        return _schema_objects(conn)
    finally:
        conn.close()


class StoredCheckpoint(NamedTuple):
    """One ``checkpoints`` row as verify reads it (a tuple: verify reads thousands)."""

    checkpoint_id: str
    commit_sha: str
    content_hash: str
    parent_checkpoint_id: str | None
    parent_hash: str | None
    event_count: int
    header: str
    created_at: str
    strategy: str
    branch: str | None


class VerifySnapshot(NamedTuple):
    """The committed state in one read snapshot (:meth:`IntegrityQueries.verification`)."""

    #: Every checkpoint, by ``checkpoint_id``.
    checkpoints: list[StoredCheckpoint]
    #: Every purge, oldest first.
    purges: list[PurgeStep]
    links: list[LinkRecord]
    #: ``(checkpoint_id, event count, lines each followed by a newline)`` per checkpoint
    #: that has events, in ``checkpoint_id`` order, read as iterated (while the
    #: snapshot is open): one string per checkpoint, not a row per event.
    events: Iterator[tuple[str, int, str]]


class BreakGlass:
    """The statements of one break-glass purge, inside its write transaction.

    Only :meth:`IntegrityQueries.break_glass` makes one. Committed rows can be changed
    only inside :meth:`unlocked`, which holds a ``break_glass`` row for as long.
    """

    def __init__(self, conn: apsw.Connection, token: str) -> None:
        self._conn = conn
        self._token = token

    @contextlib.contextmanager
    def unlocked(self) -> Iterator[None]:
        """Let the statements inside change committed rows (the triggers look for the row)."""
        self._conn.execute("INSERT INTO break_glass (token) VALUES (?)", (self._token,))
        yield
        self._conn.execute("DELETE FROM break_glass WHERE token = ?", (self._token,))

    def checkpoints_holding(self, needle: str, text: str) -> list[str]:
        """Checkpoints whose header or events hold ``needle`` (JSON-escaped) or branch ``text``."""
        return [
            str(r[0])
            for r in self._conn.execute(
                "SELECT checkpoint_id FROM checkpoints "
                "WHERE instr(header, ?1) OR instr(branch, ?2) "
                "UNION SELECT DISTINCT checkpoint_id FROM checkpoint_events WHERE instr(line, ?1)",
                (needle, text),
            )
        ]

    def checkpoint(self, checkpoint_id: str) -> tuple[str, str, str | None]:
        """A checkpoint's ``(header, content_hash, branch)``."""
        header, stored_hash, branch = self._conn.execute(
            "SELECT header, content_hash, branch FROM checkpoints WHERE checkpoint_id = ?",
            (checkpoint_id,),
        ).fetchall()[0]
        return str(header), str(stored_hash), None if branch is None else str(branch)

    def purge_hashes(self, checkpoint_id: str) -> list[tuple[str, str]]:
        """The ``(old_hash, new_hash)`` of the checkpoint's earlier purges, oldest first."""
        return [
            (str(o), str(n))
            for o, n in self._conn.execute(
                "SELECT old_hash, new_hash FROM purges WHERE checkpoint_id = ? "
                "ORDER BY purged_at, rowid",
                (checkpoint_id,),
            ).fetchall()
        ]

    def event_lines(self, checkpoint_id: str) -> list[tuple[int, str]]:
        """The checkpoint's events as ``(row id, line)``, in order."""
        # Read in full first: the caller rewrites rows of the table as it goes.
        rows: list[Any] = self._conn.execute(
            "SELECT id, line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
            (checkpoint_id,),
        ).fetchall()
        return [(int(i), str(line)) for i, line in rows]

    def set_event_line(self, row_id: int, line: str) -> None:
        """Rewrite one committed event (inside :meth:`unlocked`)."""
        self._conn.execute("UPDATE checkpoint_events SET line = ? WHERE id = ?", (line, row_id))

    def set_header(self, checkpoint_id: str, header: str, branch: str | None) -> None:
        """Rewrite a checkpoint's header and branch (inside :meth:`unlocked`)."""
        self._conn.execute(
            "UPDATE checkpoints SET header = ?, branch = ? WHERE checkpoint_id = ?",
            (header, branch, checkpoint_id),
        )

    def add_purge(
        self,
        *,
        purge_id: str,
        checkpoint_id: str,
        purged_at: str,
        reason: str,
        secret_sha256: str,
        replacement: str,
        occurrences: int,
        old_hash: str,
        new_hash: str,
    ) -> None:
        """Record the audit row of one checkpoint's purge."""
        self._conn.execute(
            "INSERT INTO purges (purge_id, checkpoint_id, purged_at, reason, secret_sha256, "
            "replacement, occurrences, old_hash, new_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (purge_id, checkpoint_id, purged_at, reason, secret_sha256, replacement,
             occurrences, old_hash, new_hash),
        )  # fmt: skip

    def live_lines_holding(self, needle: str) -> list[tuple[int, str]]:
        """Draft events whose line holds ``needle``: ``(row id, line)``."""
        rows: list[Any] = self._conn.execute(
            "SELECT id, line FROM live_events WHERE instr(line, ?)", (needle,)
        ).fetchall()
        return [(int(i), str(line)) for i, line in rows]

    def set_live_line(self, row_id: int, line: str) -> None:
        """Rewrite one draft event."""
        self._conn.execute("UPDATE live_events SET line = ? WHERE id = ?", (line, row_id))

    def replace_in_sessions(self, text: str, replacement: str) -> None:
        """Replace ``text`` in every session's agent, model and branch."""
        for column in ("agent", "model", "branch"):
            self._conn.execute(
                f"UPDATE sessions SET {column} = replace({column}, ?1, ?2) "
                f"WHERE instr({column}, ?1)",
                (text, replacement),
            )


class IntegrityQueries:
    """Mixin of :class:`~bitloops.store._sqlite.SQLiteStore`: whole-store reads, purges, repairs."""

    if TYPE_CHECKING:
        path: Path

        def reading(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def transaction(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def secure_delete(self) -> contextlib.AbstractContextManager[None]: ...

        def bump_generation(self, conn: apsw.Connection) -> None: ...

        def new_purge_token(self) -> str: ...

    def quick_check(self, max_errors: int = 100) -> list[str]:
        """SQLite's check of every page: ``["ok"]``, or up to ``max_errors`` findings."""
        with self.reading() as conn:
            return [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({int(max_errors)})")]

    def schema_version(self) -> int:
        """The file's schema version (``pragma user_version``)."""
        with self.reading() as conn:
            return int(conn.pragma("user_version"))

    def schema_objects(self) -> SchemaObjects:
        """The triggers and ``break_glass`` table this file holds now."""
        with self.reading() as conn:
            return _schema_objects(conn)

    def break_glass_open(self) -> bool:
        """True when ``break_glass`` holds a row outside a purge (the triggers are off)."""
        with self.reading() as conn:
            return conn.execute("SELECT 1 FROM break_glass LIMIT 1").get is not None

    @contextlib.contextmanager
    def verification(self) -> Iterator[VerifySnapshot]:
        """Every checkpoint, purge and link, and each checkpoint's events, in one snapshot.

        The events are read as the caller iterates them, so checking folders while
        iterating overlaps with SQLite's reading.
        """
        with self.reading() as conn:
            checkpoints = [
                StoredCheckpoint(*r)
                for r in conn.execute(
                    "SELECT checkpoint_id, commit_sha, content_hash, parent_checkpoint_id, "
                    "parent_hash, event_count, header, created_at, strategy, branch "
                    "FROM checkpoints ORDER BY checkpoint_id"
                )
            ]
            purges = [
                PurgeStep(*r)
                for r in conn.execute(
                    "SELECT checkpoint_id, old_hash, new_hash, secret_sha256, replacement, "
                    "occurrences, purged_at FROM purges ORDER BY purged_at, rowid"
                )
            ]
            links = [
                LinkRecord(*r)
                for r in conn.execute(
                    "SELECT commit_sha, checkpoint_id, linked_at, reason FROM commit_links"
                )
            ]
            # SQLite joins each checkpoint's lines as they are hashed (each followed by
            # a newline), in one pass over the index, not a query per checkpoint.
            events = conn.execute(
                "SELECT checkpoint_id, count(*), group_concat(line || char(10), '' ORDER BY id) "
                "FROM checkpoint_events GROUP BY checkpoint_id ORDER BY checkpoint_id"
            )
            yield VerifySnapshot(checkpoints, purges, links, events)

    def headers(self, checkpoint_ids: Sequence[str] | None = None) -> list[HeaderRow]:
        """Every checkpoint's (or those given) :class:`HeaderRow`, oldest first."""
        sql = (
            "SELECT checkpoint_id, commit_sha, created_at, parent_checkpoint_id, parent_hash, "
            "content_hash, header, event_count FROM checkpoints"
        )
        args: tuple[str, ...] = ()
        if checkpoint_ids is not None:
            sql += " WHERE checkpoint_id IN (SELECT value FROM json_each(?))"
            args = (json.dumps(list(checkpoint_ids)),)
        with self.reading() as conn:
            return [
                HeaderRow(*r)
                for r in conn.execute(sql + " ORDER BY created_at, checkpoint_id", args)
            ]

    def link_rows(self) -> list[LinkRecord]:
        """Every commit link."""
        with self.reading() as conn:
            return [
                LinkRecord(*r)
                for r in conn.execute(
                    "SELECT commit_sha, checkpoint_id, linked_at, reason FROM commit_links "
                    "ORDER BY linked_at, rowid"
                )
            ]

    def purge_records(self) -> dict[str, list[tuple[str, str]]]:
        """``checkpoint_id`` -> its purges' ``(old_hash, new_hash)``, oldest first."""
        found: dict[str, list[tuple[str, str]]] = {}
        with self.reading() as conn:
            for cid, old, new in conn.execute(
                "SELECT checkpoint_id, old_hash, new_hash FROM purges ORDER BY purged_at, rowid"
            ):
                found.setdefault(str(cid), []).append((str(old), str(new)))
        return found

    @contextlib.contextmanager
    def break_glass(self) -> Iterator[BreakGlass]:
        """One purge's write transaction, deleted content overwritten with zeros.

        The generation of the live rows is bumped with it: a promotion that read the
        draft before the purge must read it again.
        """
        with self.secure_delete(), self.transaction() as conn:
            yield BreakGlass(conn, self.new_purge_token())
            self.bump_generation(conn)

    # -- repairs ----------------------------------------------------------------------

    def restore_checkpoint(
        self,
        *,
        row: CheckpointRow,
        events: Sequence[EventRow],
        links: Sequence[tuple[str, str]] = (),
        sessions: Sequence[EndedSession] = (),
        index: IndexRows | None = None,
    ) -> bool:
        """Put back a checkpoint read from its folder, in one transaction; False if stored.

        ``events`` are ``(session_id, seq, ts, kind, line)`` in order; ``links`` further
        ``(commit_sha, reason)`` (its own commit is linked as ``created``); ``sessions``
        are created ended, or keep the larger ``last_seq``; ``index`` its rows of the
        index by path. The caller has checked the content against its hash.
        """
        from bitloops.store._index import insert_rows

        with self.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM checkpoints WHERE checkpoint_id = ?", (row.checkpoint_id,)
            ).get:
                return False
            conn.execute(
                f"INSERT INTO checkpoints ({CHECKPOINT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                attrs.astuple(row),
            )
            cid = row.checkpoint_id
            conn.executemany(
                "INSERT INTO checkpoint_events (checkpoint_id, session_id, seq, ts, kind, line) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(cid, *event) for event in events],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO commit_links VALUES (?, ?, ?, ?)",
                [
                    (row.commit_sha, cid, row.created_at, "created"),
                    *((sha, cid, row.created_at, reason) for sha, reason in links),
                ],
            )
            conn.executemany(
                "INSERT INTO sessions (session_id, agent, model, worktree, branch, base_commit, "
                "status, started_at, ended_at, last_event_at, last_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, 'ended', ?, ?, ?, ?) "
                "ON CONFLICT (session_id) DO UPDATE "
                "SET last_seq = max(last_seq, excluded.last_seq)",
                sessions,
            )
            if index is not None:
                insert_rows(conn, index)
        return True

    def checkpoint_commits(self) -> dict[str, str]:
        """Every stored checkpoint's id -> the commit it was created for."""
        with self.reading() as conn:
            return {
                str(cid): str(sha)
                for cid, sha in conn.execute("SELECT checkpoint_id, commit_sha FROM checkpoints")
            }

    def meta_value(self, key: str) -> str | None:
        """A value bitloops keeps in the ``meta`` table, or None."""
        with self.reading() as conn:
            value = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).get
        return None if value is None else str(value)

    def set_meta_value(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the ``meta`` table."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def table_count(path: Path) -> int | None:
    """How many tables the SQLite file at ``path`` holds, read-only; None if unreadable."""
    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return int(conn.execute("SELECT count(*) FROM sqlite_schema").get or 0)
        finally:
            conn.close()
    except apsw.Error:
        return None
