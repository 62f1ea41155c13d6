"""The embedded SQLite store (apsw): live tables and committed checkpoint tables.

One connection per database file per process, opened with per-connection best practices
(WAL, busy timeout, foreign keys, no double-quoted string literals). Every write is one
``BEGIN IMMEDIATE`` transaction, so writers queue on the busy timeout instead of failing
on a lock upgrade, and ``record`` returns only after its event is committed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import os
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

import apsw
import attrs

from bitloops._codec import format_ts, line_models, new_id, parse_ts
from bitloops._fs import atomic_write
from bitloops.errors import (
    DatabaseBusy,
    DatabaseCorrupt,
    ForeignDatabase,
    ImmutableCheckpoint,
    InvalidSearch,
    SchemaTooNew,
    SessionNotFound,
    StoreError,
)
from bitloops.model import SessionInfo
from bitloops.store._annotations import AnnotationQueries
from bitloops.store._index import IndexRows, insert_rows
from bitloops.store._integrity import IntegrityQueries
from bitloops.store._live import EventWriter, append_in_transaction, configure, for_hook
from bitloops.store._migrations import APPLICATION, CATCH_UP_SQL, FTS_TABLE, SCHEMA_VERSION, upgrade
from bitloops.store._outbox import OutboxQueries
from bitloops.store._quarantine import QuarantineQueries
from bitloops.store._rows import (
    CHECKPOINT_COLUMNS,
    CheckpointQuery,
    CheckpointRow,
    DraftRows,
    SearchRow,
    checkpoint_row,
    select_checkpoint_ids,
)

#: ``(session_id, kind, payload_json) -> time or None``: see ``SQLiteStore.event_clock``.
EventClock = Callable[[str, str, str], datetime | None]

__all__ = [
    "CHECKPOINT_COLUMNS",
    "SCHEMA_VERSION",
    "CheckpointQuery",
    "CheckpointRow",
    "DraftRows",
    "SQLiteStore",
    "checkpoint_row",
    "is_empty_database",
    "select_checkpoint_ids",
    "write_marker",
]

_APPLICATION = APPLICATION

# This process's id, kept current across forks: a store opened before a fork belongs to
# the parent. Read on every append, where os.getpid() would be a system call.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)

# seq = 1 + the larger of the session's highest live seq and the counter promotion
# leaves in sessions.last_seq (its live events may be gone, or in another worktree's
# draft that was promoted). Two statements
# measure faster than one INSERT ... SELECT ... RETURNING.


# What each CheckpointQuery filter means in SQLite (c is the checkpoints row).
_CONDITIONS = {
    "commit_sha": "c.checkpoint_id IN (SELECT checkpoint_id FROM commit_links "
    "WHERE commit_sha = ?)",
    "branch": "c.branch = ?",
    "author": "instr(lower(c.author), lower(?)) > 0",
    "agent": "EXISTS (SELECT 1 FROM json_each(c.header, '$.models') m "
    "WHERE json_extract(m.value, '$.agent') = ?)",
    "model": "EXISTS (SELECT 1 FROM json_each(c.header, '$.models') m "
    "WHERE json_extract(m.value, '$.model') = ?)",
    "since": "c.created_at >= ?",
    "until": "c.created_at < ?",
}


def _session(row: Sequence[Any]) -> SessionInfo:
    (sid, agent, model, branch, base, status, started, ended, last, count) = row
    return SessionInfo(
        session_id=sid,
        agent=agent,
        model=model,
        branch=branch,
        base_commit=base,
        status=status,
        started_at=parse_ts(started),
        ended_at=parse_ts(ended) if ended else None,
        last_event_at=parse_ts(last) if last else None,
        event_count=count,
    )


_SESSION_BASE = (
    "s.session_id, s.agent, s.model, s.branch, s.base_commit, s.status, s.started_at, s.ended_at"
)
_SESSION_COLUMNS = (
    f"{_SESSION_BASE}, coalesce((SELECT max(ts) FROM live_events e "
    "WHERE e.session_id = s.session_id), s.last_event_at)"
)


def _translate(exc: apsw.Error, path: Path) -> StoreError:
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        return DatabaseBusy(
            f"{path} stayed locked by another process past the busy timeout; retry, or raise "
            "busy_timeout_ms in .bitloops/settings.json"
        )
    if isinstance(exc, apsw.ConstraintError) and "bitloops:" in str(exc):
        return ImmutableCheckpoint(
            f"{exc}; committed checkpoints cannot be changed or deleted (use Repository.purge "
            "to remove a leaked secret)"
        )
    if isinstance(exc, apsw.NotADBError | apsw.CorruptError):
        return DatabaseCorrupt(
            f"{path} is damaged or not a SQLite database ({exc}); restore it from a backup, "
            "or move it aside and run `bitloops doctor --fix` to rebuild its checkpoints "
            "from the checkpoint folders (sqlite3's .recover can salvage rows from a "
            "damaged copy)"
        )
    return StoreError(f"database error in {path}: {exc}")


def is_empty_database(path: Path) -> bool:
    """True when ``path`` holds no database: missing, or 0 bytes with no log to recover."""
    try:
        if path.stat().st_size:
            return False
    except FileNotFoundError:
        return True
    except OSError:
        return False  # opening it says what is wrong
    wal = path.with_name(f"{path.name}-wal")
    try:
        return wal.stat().st_size == 0
    except OSError:
        return True


def write_marker(marker: Path, path: Path) -> None:
    """Record that the database at ``path`` exists (best effort: a read-only directory
    only loses the protection, not the database)."""
    text = json.dumps({"database": path.name, "created_at": format_ts(datetime.now(UTC))})
    with contextlib.suppress(OSError):
        atomic_write(marker, text + "\n")


class _DraftChanged(StoreError):
    """Inside move_draft: the rows in scope are not the draft read; rolls the move back."""


_DRAFT_SQL = (
    "SELECT id, session_id, kind, line, ts, seq FROM live_events WHERE worktree = ?1 "
    "AND (?2 IS NULL OR session_id = ?2) AND (?3 IS NULL OR ts <= ?3) ORDER BY "
)
#: Rows a draft is read in at a time: columns are split and checked per batch, in C.
_DRAFT_BATCH = 4096


def _ascending(ts: Sequence[str], sessions: Sequence[str], seqs: Sequence[int]) -> bool:
    """Whether rows are in strictly increasing ``(ts, session_id, seq)`` order."""
    if all(map(operator.lt, ts, itertools.islice(ts, 1, None))):
        return True  # times that only grow: in order, whatever the sessions and seqs
    keys = list(zip(ts, sessions, seqs, strict=True))
    return all(map(operator.lt, keys, itertools.islice(keys, 1, None)))


def _read_draft(
    conn: apsw.Connection, order: str, args: tuple[Any, ...], lines_up_to: int | None
) -> tuple[
    bool, tuple[array[int], list[str], list[str], list[str], set[tuple[str, str | None]], bool]
]:
    """A draft's ids, lines, kinds, sessions, models and whether its lines were left out.

    Ordered by ``order``. By ``"id"``, the reading stops as soon as the rows turn out
    not to be in transcript order (``ts, session_id, seq``, which is unique): the first
    value says whether they were. Past ``lines_up_to`` bytes of lines, the lines are
    let go a batch at a time.
    """
    ids = array("q")
    lines: list[str] = []
    kinds: list[str] = []
    line_sessions: list[str] = []
    # One string per distinct kind and session, not one per row: a big draft has
    # hundreds of thousands of rows and a handful of each.
    names: dict[str, str] = {}
    models: set[tuple[str, str | None]] = set()
    size, left_out, by_id = 0, False, order == "id"
    last: tuple[str, str, int] | None = None
    cursor = conn.execute(_DRAFT_SQL + order, args)
    while batch := list(itertools.islice(cursor, _DRAFT_BATCH)):
        b_ids, b_sessions, b_kinds, b_lines, b_ts, b_seqs = zip(*batch, strict=True)
        del batch
        if by_id:
            if (last is not None and (b_ts[0], b_sessions[0], b_seqs[0]) < last) or not (
                _ascending(b_ts, b_sessions, b_seqs)
            ):
                cursor.close()
                return False, (ids, [], [], [], models, False)
            last = (b_ts[-1], b_sessions[-1], b_seqs[-1])
        ids.extend(b_ids)
        kinds.extend(map(names.setdefault, b_kinds, b_kinds))
        line_sessions.extend(map(names.setdefault, b_sessions, b_sessions))
        lines.extend(b_lines)
        if not left_out:
            size += sum(map(len, b_lines))
            left_out = lines_up_to is not None and size > lines_up_to
        if left_out:
            models.update(line_models(lines))
            lines.clear()
    if not left_out:
        models.update(line_models(lines))
    return True, (ids, lines, kinds, line_sessions, models, left_out)


def _session_ends(draft: DraftRows) -> dict[str, tuple[int, int]]:
    """Each session of a draft: how many of its events it holds, and the row id of the
    last in transcript order (the one of its latest time)."""
    counts = Counter(draft.line_sessions)
    last = dict(zip(draft.line_sessions, draft.ids, strict=True))  # the last one stays
    return {sid: (n, last[sid]) for sid, n in counts.items()}


_LIVE_OF_SESSIONS = (
    "SELECT session_id, count(*), max(seq) FROM live_events "
    "WHERE session_id IN (SELECT value FROM json_each(?)) GROUP BY session_id"
)


class _Coded(Sequence[str]):
    """A long sequence of a few distinct strings, kept as one small number per item."""

    __slots__ = ("_codes", "_names")

    def __init__(self, codes: array[int], names: tuple[str, ...]) -> None:
        self._codes = codes
        self._names = names

    @classmethod
    def of(cls, items: Sequence[str]) -> _Coded:
        """``items``, coded."""
        index: dict[str, int] = {}
        for item in items:
            index.setdefault(item, len(index))
        codes = array("B" if len(index) <= 256 else "I", map(index.__getitem__, items))
        return cls(codes, tuple(index))

    def __len__(self) -> int:
        return len(self._codes)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._names[c] for c in self._codes[index]]
        return self._names[self._codes[index]]

    def __iter__(self) -> Iterator[str]:
        return map(self._names.__getitem__, self._codes)


class SQLiteStore(IntegrityQueries, OutboxQueries, AnnotationQueries, QuarantineQueries):
    """Live and committed state in one SQLite file.

    Satisfies :class:`~bitloops.store.CommittedStore` and
    :class:`~bitloops.store.LiveStore`. The statements of each side concern live in a
    mixin of their own: whole-store reads, purges and repairs
    (:mod:`~bitloops.store._integrity`), the outbox (:mod:`~bitloops.store._outbox`),
    annotations (:mod:`~bitloops.store._annotations`) and the quarantine
    (:mod:`~bitloops.store._quarantine`).
    """

    def __init__(
        self,
        path: Path,
        *,
        durability: str = "full",
        busy_timeout_ms: int = 10_000,
        marker: Path | None = None,
    ) -> None:
        """Open (or create) the database at ``path``.

        ``marker`` is a file that records that this database was created (the
        repository keeps it in the git directory). While it exists, an empty or missing
        database is an error (:class:`~bitloops.DatabaseCorrupt`), never a new empty one
        silently put in its place; a new database writes it.
        """
        self.path = path
        self.marker = marker
        self._lock = threading.RLock()
        self._writer = EventWriter()
        #: Gives an event without a time of its own one (an import sets it: the events
        #: get their transcript's times); called with the session id, kind and payload.
        self.event_clock: EventClock | None = None
        self.pid = os.getpid()
        self.closed = False
        if marker is not None and is_empty_database(path) and marker.exists():
            raise self._lost(marker)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = apsw.Connection(
                str(path), flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
            )
        except (OSError, apsw.Error) as exc:
            raise StoreError(
                f"cannot open {path}: {exc}; check the path and its permissions"
            ) from exc
        try:
            self._configure(durability, busy_timeout_ms)
            self._migrate()
        except apsw.Error as exc:
            self._conn.close()
            raise _translate(exc, path) from exc
        except StoreError:
            self._conn.close()
            raise
        if marker is not None and not marker.exists():
            write_marker(marker, path)

    def _lost(self, marker: Path) -> DatabaseCorrupt:
        try:
            created = json.loads(marker.read_text(encoding="utf-8")).get("created_at", "?")
        except (OSError, ValueError, AttributeError):
            created = "?"
        state = "missing" if not self.path.exists() else "empty"
        return DatabaseCorrupt(
            f"{self.path} is {state}, but a bitloops database was created there (at {created}, "
            f"says {marker}): its checkpoints and draft are not in it, and bitloops will not "
            "start a new one over them. Restore the file from a backup; or run `bitloops "
            "doctor --fix` to rebuild the committed checkpoints from the checkpoint folders "
            f"and the checkpoint ref (the draft cannot be rebuilt); or, to start afresh on "
            f"purpose, delete {marker}"
        )

    def _configure(self, durability: str, busy_timeout_ms: int) -> None:
        conn = self._conn
        configure(conn, durability=durability, busy_timeout_ms=busy_timeout_ms)
        # Reading the schema here turns "file is not a database" into an error at open.
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        if conn.pragma("journal_mode", "wal") != "wal":
            raise StoreError(f"{self.path} cannot use write-ahead logging; put it on a local disk")

    def _migrate(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION`: create it, or run the steps it lacks.

        All steps run in one ``BEGIN IMMEDIATE`` transaction, and the version is read
        again once the write lock is held, so of several processes opening an old file
        at once, one migrates and the others find it done.
        """
        conn = self._conn
        version = conn.pragma("user_version")
        if version == SCHEMA_VERSION:
            self._check_application()
            return
        if version > SCHEMA_VERSION:
            raise self._too_new(version)
        with self.transaction():
            version = conn.pragma("user_version")  # another process may have migrated meanwhile
            if version > SCHEMA_VERSION:
                raise self._too_new(version)
            if version == 0:
                tables = conn.execute(
                    "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
                ).get
                if not tables and self.marker is not None and self.marker.exists():
                    raise self._lost(self.marker)  # replaced by an empty SQLite file
                if tables:
                    raise ForeignDatabase(
                        f"{self.path} already holds tables that bitloops did not create; move it "
                        "aside so bitloops can create its own database"
                    )
            else:
                self._check_application()
            upgrade(conn, version, SCHEMA_VERSION)
        self._check_application()

    def _too_new(self, version: int) -> SchemaTooNew:
        return SchemaTooNew(
            f"{self.path} has schema version {version}, newer than this bitloops "
            f"understands ({SCHEMA_VERSION}); upgrade bitloops"
        )

    def _check_application(self) -> None:
        try:
            app = self._conn.execute("SELECT value FROM meta WHERE key = 'application'").get
        except apsw.SQLError:
            app = None
        if app != _APPLICATION:
            raise ForeignDatabase(
                f"{self.path} was not created by bitloops; move it aside so bitloops can create "
                "its own database"
            )

    # -- transactions ---------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the store's connection (a caller's)."""
        return not self.closed and bool(self._conn.in_transaction)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested use becomes a savepoint."""
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                with conn:
                    yield conn
                return
            self._writer.unsure()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield conn
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._writer.forget()  # seqs handed out inside are gone with it
                if isinstance(exc, apsw.Error):
                    raise _translate(exc, self.path) from exc
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except apsw.Error as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    self._writer.forget()
                    raise _translate(exc, self.path) from exc

    @contextlib.contextmanager
    def reading(self) -> Iterator[apsw.Connection]:
        """A read transaction: every query inside sees one snapshot."""
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                yield conn
                return
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except apsw.Error as exc:
                raise _translate(exc, self.path) from exc

    @contextlib.contextmanager
    def secure_delete(self) -> Iterator[None]:
        """Overwrite deleted content with zeros while inside (for break-glass purges)."""
        with self._lock:
            self._conn.pragma("secure_delete", True)
            try:
                yield
            finally:
                self._conn.pragma("secure_delete", False)

    def compact(self) -> bool:
        """Rebuild the file (``VACUUM``) and empty the write-ahead log.

        Returns False when another connection's open read kept part of the log.
        """
        with self._lock:
            try:
                self._conn.execute("VACUUM")
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
            except apsw.Error as exc:
                raise _translate(exc, self.path) from exc
        return busy == 0

    def for_hook(self) -> None:
        """Leave the write-ahead log to the commits' checkpoints when closing, as a hook
        process does (see :func:`bitloops.store._live.for_hook`)."""
        with self._lock:
            for_hook(self._conn)

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self.closed = True
            self._conn.close()

    # -- live state -----------------------------------------------------------------

    def open_session(
        self,
        *,
        session_id: str,
        agent: str,
        model: str | None,
        worktree: str,
        branch: str | None,
        base_commit: str | None,
        payload_json: str,
    ) -> tuple[bool, int]:
        """Create or reopen a session and record its session_start event, atomically.

        Returns whether the session was created, and the seq of the start event.
        """
        now = format_ts(datetime.now(UTC))
        with self._lock:
            with self.transaction() as conn:
                row = conn.execute(
                    "SELECT agent, model FROM sessions WHERE session_id = ?", (session_id,)
                ).get
                created = row is None
                if created:
                    conn.execute(
                        "INSERT INTO sessions (session_id, agent, model, worktree, branch, "
                        "base_commit, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (session_id, agent, model, worktree, branch, base_commit, now),
                    )
                else:
                    conn.execute(
                        "UPDATE sessions SET status = 'active', ended_at = NULL, agent = ?, "
                        "model = coalesce(?, model), worktree = ?, branch = ? WHERE session_id = ?",
                        (agent, model, worktree, branch, session_id),
                    )
                seq, _, _ = self._append(
                    conn,
                    session_id,
                    worktree,
                    "session_start",
                    agent,
                    model,
                    payload_json,
                    (),
                    None,
                )
            # Committed: the first record of the session needs no seq lookup (the
            # counter that would show another writer refreshes only as a transaction
            # begins, see EventWriter).
            self._writer.committed(self._conn)
        return created, seq

    def set_session_model(self, session_id: str, model: str | None) -> None:
        """Record the model a session runs on (learned after it started)."""
        with self.transaction() as conn:
            conn.execute("UPDATE sessions SET model = ? WHERE session_id = ?", (model, session_id))

    def session_model(self, session_id: str) -> tuple[str, str | None, str]:
        """A session's agent, model and status; :class:`SessionNotFound` otherwise."""
        with self._lock:
            row = self._conn.execute(
                "SELECT agent, model, status FROM sessions WHERE session_id = ?", (session_id,)
            ).get
        if row is None:
            raise SessionNotFound(f"no session {session_id!r}; start it with start_session()")
        return row[0], row[1], row[2]

    def append_event(
        self,
        *,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...] = (),
        end: bool = False,
        ts: datetime | None = None,
    ) -> tuple[int, datetime, str]:
        """Commit one event; returns ``(seq, ts, event_id)``. ``end`` also closes the session.

        ``ts`` is the event's time (default: now, or what :attr:`event_clock` gives).
        """
        # The hot path of recording: one BEGIN IMMEDIATE / INSERT / COMMIT, no helpers.
        with self._lock:
            conn = self._conn
            if self.pid != _pid or self.closed:
                raise StoreError(
                    f"the connection to {self.path} was closed (or belongs to the parent of "
                    "this forked process); open the Repository again"
                )
            if ts is None and self.event_clock is not None:
                ts = self.event_clock(session_id, kind, payload_json)
            writer = self._writer
            if conn.in_transaction:  # inside a caller's transaction (an import, a catch-up)
                # No other connection can commit while this one holds the write lock, so
                # the seqs handed out stay the latest (an import records thousands in one
                # transaction); transaction() forgets them if the caller rolls back.
                appended = append_in_transaction(
                    conn, writer, session_id=session_id, worktree=worktree, kind=kind,
                    agent=agent, model=model, payload_json=payload_json, artefacts=artefacts,
                    end=end, when=ts,
                )  # fmt: skip
                if appended is None:
                    raise SessionNotFound(
                        f"no session {session_id!r}; start it with start_session()"
                    )
                return appended
            try:  # the one write path (bitloops.store._live), as the hooks' light path
                appended = writer.commit(
                    conn, session_id=session_id, worktree=worktree, kind=kind, agent=agent,
                    model=model, payload_json=payload_json, artefacts=artefacts, end=end,
                    when=ts,
                )  # fmt: skip
            except apsw.Error as exc:
                raise _translate(exc, self.path) from exc
        if appended is None:
            raise SessionNotFound(f"no session {session_id!r}; start it with start_session()")
        return appended

    def _append(
        self,
        conn: apsw.Connection,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...],
        when: datetime | None,
    ) -> tuple[int, datetime, str]:
        appended = self._writer.append(
            conn,
            session_id=session_id,
            worktree=worktree,
            kind=kind,
            agent=agent,
            model=model,
            payload_json=payload_json,
            artefacts=artefacts,
            when=when,
        )
        if appended is None:
            raise SessionNotFound(f"no session {session_id!r}; start it with start_session()")
        return appended

    def sessions(
        self, *, worktree: str | None = None, session_ids: Sequence[str] | None = None
    ) -> list[SessionInfo]:
        """Sessions with their count of live events, oldest first."""
        where, args = [], []
        if worktree is not None:
            where.append("s.worktree = ?")
            args.append(worktree)
        if session_ids is not None:
            where.append("s.session_id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(session_ids)))
        sql = (
            f"SELECT {_SESSION_COLUMNS}, (SELECT count(*) FROM live_events e "
            "WHERE e.session_id = s.session_id) FROM sessions s"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.started_at, s.session_id"
        with self.reading() as conn:
            return [_session(row) for row in conn.execute(sql, args)]

    def draft_sessions(self, draft: DraftRows) -> list[SessionInfo]:
        """:meth:`sessions` of the draft's sessions, each counting its events in the draft.

        The time of a session's last live event is that of its last one in the draft
        when the draft holds all of them (the usual case: a row lookup, not a scan of
        the session's rows); otherwise it is looked for as :meth:`sessions` does.
        """
        ends = _session_ends(draft)
        ids = json.dumps(list(ends))
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {_SESSION_BASE}, s.last_event_at FROM sessions s "
                "WHERE s.session_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY s.started_at, s.session_id",
                (ids,),
            ).fetchall()
            live = {str(r[0]): int(r[1]) for r in conn.execute(_LIVE_OF_SESSIONS, (ids,))}
            last_ids = json.dumps([last for _, last in ends.values()])
            times = {
                int(i): str(ts)
                for i, ts in conn.execute(
                    "SELECT id, ts FROM live_events WHERE id IN (SELECT value FROM json_each(?))",
                    (last_ids,),
                )
            }
            found = []
            for *info, stored_last in rows:
                sid = str(info[0])
                count, last_id = ends[sid]
                last: Any = stored_last
                if live.get(sid, 0) == count and last_id in times:
                    last = times[last_id]
                elif sid in live:
                    last = conn.execute(
                        "SELECT max(ts) FROM live_events WHERE session_id = ?", (sid,)
                    ).get
                found.append(_session((*info, last, count)))
        return found

    def agents(self) -> list[str]:
        """Every agent that has recorded a session here, sorted."""
        with self.reading() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT agent FROM sessions ORDER BY 1")]

    def draft_rows(
        self,
        worktree: str,
        session_id: str | None = None,
        *,
        lines_up_to: int | None = None,
        until: str | None = None,
    ) -> DraftRows:
        """The worktree's live events (of one session, if given) in transcript order.

        ``until`` (canonical timestamp text) leaves out the events of later times: the
        draft of a commit whose promotion was detached from it (``bitloops/_pending.py``).

        With ``lines_up_to`` (bytes), a draft whose lines add up to more holds only the
        rows' ids (``lines_left_out``): the caller reads the lines a window at a time
        through :meth:`live_lines`, so a big draft is never held in memory whole.
        """
        args = (worktree, session_id, until)
        with self.reading() as conn:
            generation = self._generation(conn)
            # Rows are usually stored in transcript order: read by id, no sort, and let
            # SQLite sort only a draft that is not (events recorded with earlier times,
            # an import or a catch-up). move_draft moves by id in the first case too.
            in_order, read = _read_draft(conn, "id", args, lines_up_to)
            if not in_order:
                _, read = _read_draft(conn, "ts, session_id, seq", args, lines_up_to)
        ids, lines, kinds, line_sessions, models, left_out = read
        return DraftRows(
            high_water=max(ids, default=0),
            session_id=session_id,
            generation=generation,
            lines=lines,
            # Not lists: a transcript made of them keeps them as they are, not a copy;
            # a big draft's as a byte per row (a handful of kinds and sessions).
            kinds=_Coded.of(kinds) if left_out else tuple(kinds),
            line_sessions=_Coded.of(line_sessions) if left_out else tuple(line_sessions),
            models=sorted(models, key=lambda am: (am[0], am[1] is not None, am[1] or "")),
            ids=ids,
            lines_left_out=left_out,
            until=until,
        )

    def has_draft(self, worktree: str, until: str | None = None) -> bool:
        """Whether the worktree has a live event (of ``until`` or earlier, if given).

        Cheap, unlike counting: the scan stops at the first one.
        """
        with self.reading() as conn:
            found = conn.execute(
                "SELECT 1 FROM live_events WHERE worktree = ?1 AND (?2 IS NULL OR ts <= ?2) "
                "LIMIT 1",
                (worktree, until),
            ).get
        return found is not None

    def live_lines(self, ids: Sequence[int]) -> list[str]:
        """The lines of the live events with these ids, in the order given.

        Raises :class:`~bitloops.StoreError` when one is gone (promoted or purged since
        its id was read): the caller reads the draft again.
        """
        return self._lines_by_id("live_events", ids)

    def committed_lines(self, ids: Sequence[int]) -> list[str]:
        """The lines of the committed events with these ids (see :meth:`event_ids`)."""
        return self._lines_by_id("checkpoint_events", ids)

    def event_ids(self, checkpoint_id: str) -> array[int]:
        """The ids of a checkpoint's committed events, in transcript order."""
        with self.reading() as conn:
            return array(
                "q",
                (
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
                        (checkpoint_id,),
                    )
                ),
            )

    def _lines_by_id(self, table: str, ids: Sequence[int]) -> list[str]:
        if not ids:
            return []
        with self.reading() as conn:
            if ids[-1] - ids[0] == len(ids) - 1 and all(
                b - a == 1 for a, b in itertools.pairwise(ids)
            ):
                # A checkpoint's rows were inserted in order by one statement: a range.
                found = conn.execute(
                    f"SELECT line FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id",
                    (ids[0], ids[-1]),
                ).fetchall()
                if len(found) == len(ids):
                    return [str(r[0]) for r in found]
                by_id: dict[int, str] = {}
            else:
                by_id = {
                    int(i): str(line)
                    for i, line in conn.execute(
                        f"SELECT id, line FROM {table} "
                        "WHERE id IN (SELECT value FROM json_each(?))",
                        (json.dumps(list(ids)),),
                    )
                }
        try:
            return [by_id[i] for i in ids]
        except KeyError:
            raise StoreError(
                "events being read were promoted or purged meanwhile; read the draft again"
            ) from None

    def draft_count(self, worktree: str) -> int:
        """How many live events the worktree has."""
        with self._lock:
            count: int = self._conn.execute(
                "SELECT count(*) FROM live_events WHERE worktree = ?", (worktree,)
            ).get
        return count

    def draft_span(self, worktree: str) -> tuple[datetime | None, int]:
        """When the worktree's oldest live event happened (None if it has none), and how
        many it has."""
        with self.reading() as conn:
            oldest, count = conn.execute(
                "SELECT min(ts), count(*) FROM live_events WHERE worktree = ?", (worktree,)
            ).fetchall()[0]
        return (parse_ts(str(oldest)) if oldest else None), int(count or 0)

    # -- committed state --------------------------------------------------------------

    def checkpoints_for_commits(self, shas: Sequence[str]) -> dict[str, tuple[str, str]]:
        """For each SHA that has a checkpoint: ``(checkpoint_id, content_hash)`` of the newest."""
        if not shas:
            return {}
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT l.commit_sha, c.checkpoint_id, c.content_hash FROM commit_links l "
                "JOIN checkpoints c USING (checkpoint_id) "
                "WHERE l.commit_sha IN (SELECT value FROM json_each(?)) "
                "ORDER BY c.created_at, c.checkpoint_id",
                (json.dumps(list(shas)),),
            ).fetchall()
        return {str(sha): (str(cid), str(chash)) for sha, cid, chash in rows}

    def move_draft(
        self,
        *,
        worktree: str,
        draft: DraftRows,
        row: CheckpointRow,
        also_links: Sequence[str] = (),
        queue: bool = False,
        index: IndexRows | None = None,
    ) -> bool:
        """Move the draft into the committed tables and link it to its commit, atomically.

        ``also_links`` are further commits to link (reason ``session``); ``queue`` also
        writes the checkpoint's outbox row (team setup), and ``index`` its rows of the
        index by path (built before the transaction), in the same transaction. Returns False,
        changing nothing, when the draft is no longer what was read (another promotion
        took some of it) or, for a whole-worktree draft, the commit got a checkpoint
        meanwhile, so the caller can look again.
        """
        # The rows read: this worktree's, up to the high-water mark, of one session if set.
        scope = (
            "worktree = ?1 AND id <= ?2 AND (?3 IS NULL OR session_id = ?3) "
            "AND (?4 IS NULL OR ts <= ?4)"
        )
        args = (worktree, draft.high_water, draft.session_id, draft.until)
        # Read by id in transcript order (see draft_rows), the rows move by id: no sort.
        ids = draft.ids
        by_id = all(map(operator.lt, ids, itertools.islice(ids, 1, None)))
        order = "id" if by_id else "ts, session_id, seq"
        ends = _session_ends(draft)
        try:
            with self.transaction() as conn:
                if self._generation(conn) != draft.generation:
                    return False
                if (
                    draft.session_id is None
                    and conn.execute(
                        "SELECT 1 FROM commit_links WHERE commit_sha = ?", (row.commit_sha,)
                    ).get
                ):
                    return False
                self.bump_generation(conn)
                conn.execute(
                    f"INSERT INTO checkpoints ({CHECKPOINT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    attrs.astuple(row),
                )
                conn.execute(
                    "INSERT INTO checkpoint_events "
                    "(checkpoint_id, session_id, seq, ts, kind, line) "
                    "SELECT ?5, session_id, seq, ts, kind, line FROM live_events "
                    f"WHERE {scope} ORDER BY {order}",
                    (*args, row.checkpoint_id),
                )
                if conn.changes() != draft.event_count:
                    # Not the rows read: undo all of it (no count(*) first: another scan).
                    raise _DraftChanged
                # Promotion is what advances the counters: seq continues from here once
                # the session's live rows are gone.
                live = {
                    str(sid): (int(n), int(top))
                    for sid, n, top in conn.execute(_LIVE_OF_SESSIONS, (json.dumps(list(ends)),))
                }
                if all(live.get(sid, (0, 0))[0] == n for sid, (n, _) in ends.items()):
                    # Each session's live rows are all moving (the usual case): its top
                    # seq from the index, its latest time from its last row, no scan.
                    conn.executemany(
                        "UPDATE sessions SET last_seq = max(last_seq, ?), "
                        "last_event_at = max(coalesce(last_event_at, ''), "
                        "(SELECT ts FROM live_events WHERE id = ?)) WHERE session_id = ?",
                        [(live[sid][1], last, sid) for sid, (_, last) in ends.items()],
                    )
                else:
                    conn.execute(
                        "UPDATE sessions SET last_seq = max(last_seq, m.seq), "
                        "last_event_at = max(coalesce(last_event_at, ''), m.ts) "
                        "FROM (SELECT session_id, max(seq) AS seq, max(ts) AS ts "
                        f"FROM live_events WHERE {scope} GROUP BY session_id) AS m "
                        "WHERE sessions.session_id = m.session_id",
                        args,
                    )
                conn.execute(f"DELETE FROM live_events WHERE {scope}", args)
                conn.execute(
                    "INSERT INTO commit_links (commit_sha, checkpoint_id, linked_at, reason) "
                    "VALUES (?, ?, ?, 'created')",
                    (row.commit_sha, row.checkpoint_id, row.created_at),
                )
                for sha in also_links:
                    conn.execute(
                        "INSERT OR IGNORE INTO commit_links (commit_sha, checkpoint_id, linked_at, "
                        "reason) VALUES (?, ?, ?, 'session')",
                        (sha, row.checkpoint_id, row.created_at),
                    )
                if queue:
                    self._queue(conn, row.checkpoint_id, row.created_at)
                if index is not None:
                    insert_rows(conn, index)
        except _DraftChanged:
            return False
        return True

    @staticmethod
    def _generation(conn: apsw.Connection) -> int:
        value = conn.execute("SELECT value FROM meta WHERE key = 'live_generation'").get
        return int(value) if value is not None else 0

    def bump_generation(self, conn: apsw.Connection) -> None:
        """Mark the live rows as changed in place (inside a write transaction)."""
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('live_generation', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(self._generation(conn) + 1),),
        )

    def add_link(
        self, commit_sha: str, checkpoint_id: str, reason: str, *, queue: bool = False
    ) -> bool:
        """Link a commit to a checkpoint; False if the link was already there.

        ``queue`` (team setup) queues the checkpoint again so the shared store gets the link.
        """
        now = format_ts(datetime.now(UTC))
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO commit_links (commit_sha, checkpoint_id, linked_at, reason) "
                "VALUES (?, ?, ?, ?)",
                (commit_sha, checkpoint_id, now, reason),
            )
            added = bool(conn.changes())
            if added and queue:
                self._queue(conn, checkpoint_id, now)
            return added

    def checkpoint_data(
        self, checkpoint_id: str
    ) -> tuple[CheckpointRow, list[str], list[str]] | None:
        """A checkpoint's row, its event lines in order and its linked commits, or None."""
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE checkpoint_id = ?",
                (checkpoint_id,),
            ).fetchall()
            if not row:
                return None
            lines = [
                r[0]
                for r in conn.execute(
                    "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
                    (checkpoint_id,),
                )
            ]
            # The commit it was created for first, as commit_links() and the shared store.
            commits = [
                r[0]
                for r in conn.execute(
                    "SELECT l.commit_sha FROM commit_links l JOIN checkpoints c "
                    "USING (checkpoint_id) WHERE l.checkpoint_id = ? "
                    "ORDER BY l.commit_sha <> c.commit_sha, l.linked_at, l.rowid",
                    (checkpoint_id,),
                )
            ]
        return checkpoint_row(row[0]), lines, commits

    def checkpoint_heads(self, checkpoint_ids: Sequence[str]) -> dict[str, CheckpointRow]:
        """The rows of these checkpoints (those stored), by id, without their events."""
        if not checkpoint_ids:
            return {}
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints "
                "WHERE checkpoint_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(checkpoint_ids)),),
            ).fetchall()
        return {row.checkpoint_id: row for row in map(checkpoint_row, rows)}

    def checkpoint_ids(
        self,
        query: CheckpointQuery | None = None,
        *,
        commit_sha: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Checkpoint ids matching ``query``, newest first.

        ``commit_sha`` and ``limit`` are shorthands for the query's fields.
        """
        q = query or CheckpointQuery()
        if commit_sha is not None or limit is not None:
            q = attrs.evolve(q, commit_sha=commit_sha or q.commit_sha, limit=limit or q.limit)
        sql, args = select_checkpoint_ids(q, _CONDITIONS, "?")
        with self.reading() as conn:
            return [r[0] for r in conn.execute(sql, args)]

    def catch_up_index(self) -> None:
        """Add the committed events not yet in the full-text index (derived data)."""
        with self.transaction() as conn:
            conn.execute(CATCH_UP_SQL)

    def search_events(
        self, query: str | None = None, limit: int = 50, *, match: str | None = None
    ) -> list[SearchRow]:
        """Committed events matching the FTS5 query ``query``, best ``limit`` of them.

        Rows of :class:`~bitloops.store.SearchRow` (the event's row id first), newest
        checkpoint first, then by rank. Raises :class:`~bitloops.InvalidSearch` when FTS5
        rejects the query. ``match=`` is the old name of ``query`` (deprecated).
        """
        if match is not None:
            import warnings

            warnings.warn(
                "SQLiteStore.search_events(match=...) is deprecated; pass query= (as "
                "PostgresStore.search_events takes it)",
                DeprecationWarning,
                stacklevel=2,
            )
            if query is None:
                query = match
        if query is None:
            raise InvalidSearch("search_events needs a query; give one or more words")
        self.catch_up_index()
        with self.reading() as conn:
            try:
                # First the ids of the hits, then snippets for those only: snippet()
                # re-reads and re-tokenizes a row, too slow to run on every match.
                ids = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT f.rowid FROM {FTS_TABLE} f "
                        "JOIN checkpoint_events e ON e.id = f.rowid "
                        "JOIN checkpoints c ON c.checkpoint_id = e.checkpoint_id "
                        f"WHERE {FTS_TABLE} MATCH ?1 "
                        "ORDER BY c.created_at DESC, c.checkpoint_id DESC, f.rank, f.rowid "
                        "LIMIT ?2",
                        (query, limit),
                    )
                ]
                if not ids:
                    return []
                rows = {
                    r[0]: SearchRow(*r)
                    for r in conn.execute(
                        f"SELECT f.rowid, e.checkpoint_id, c.commit_sha, c.created_at, e.line, "
                        f"snippet({FTS_TABLE}, -1, '[', ']', '…', 16) FROM {FTS_TABLE} f "
                        "JOIN checkpoint_events e ON e.id = f.rowid "
                        "JOIN checkpoints c ON c.checkpoint_id = e.checkpoint_id "
                        f"WHERE {FTS_TABLE} MATCH ?1 "
                        "AND f.rowid IN (SELECT value FROM json_each(?2))",
                        (query, json.dumps(ids)),
                    )
                }
            except apsw.SQLError as exc:
                raise InvalidSearch(str(exc).removeprefix("SQLError: ")) from exc
        return [rows[i] for i in ids if i in rows]

    def commit_links(self, checkpoint_ids: Sequence[str]) -> dict[str, list[str]]:
        """The commits linked to each checkpoint, the one it was created for first."""
        if not checkpoint_ids:
            return {}
        links: dict[str, list[str]] = {}
        with self.reading() as conn:
            for cid, sha in conn.execute(
                "SELECT l.checkpoint_id, l.commit_sha FROM commit_links l "
                "JOIN checkpoints c USING (checkpoint_id) "
                "WHERE l.checkpoint_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY l.checkpoint_id, l.commit_sha <> c.commit_sha, l.linked_at, l.rowid",
                (json.dumps(sorted(set(checkpoint_ids))),),
            ):
                links.setdefault(str(cid), []).append(str(sha))
        return links

    def commits_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` linked commit SHAs starting with ``prefix`` (lowercase hex)."""
        with self.reading() as conn:
            return [
                str(r[0])
                for r in conn.execute(
                    "SELECT DISTINCT commit_sha FROM commit_links "
                    "WHERE commit_sha >= ? AND commit_sha < ? ORDER BY commit_sha LIMIT ?",
                    (prefix, prefix + "g", limit),
                )
            ]

    def has_checkpoint(self, checkpoint_id: str) -> bool:
        """True when a checkpoint with this id is stored."""
        with self._lock:
            found = self._conn.execute(
                "SELECT 1 FROM checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
            ).get
        return found is not None

    def count_checkpoints(self) -> int:
        """How many checkpoints are stored."""
        with self._lock:
            count: int = self._conn.execute("SELECT count(*) FROM checkpoints").get
        return count

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run read SQL and return its rows (for verify, doctor and tests)."""
        with self.reading() as conn:
            return [tuple(r) for r in conn.execute(sql, args)]

    def new_purge_token(self) -> str:
        """A token for a break-glass transaction."""
        return new_id()
