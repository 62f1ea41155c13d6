"""Writing live events: the one implementation every way of recording goes through.

An event is stored by the same code whether it comes from :meth:`bitloops.Session.record`
(and so an import or a catch-up), or from an agent hook's light path
(``bitloops.capture._direct``): :func:`prepare` checks, redacts and relativises it,
:func:`configure` sets up every connection, and an :class:`EventWriter` appends it, so an
event's line, its ``seq`` and its time come from one place. A hook's light path opens
the database with :func:`open_for_hook` and appends with :func:`write_open_session`; a
catch-up on the light path (a transcript read by a Stop or SessionEnd hook) records
through :class:`LiveSession` s on a :class:`HookStore`, which stand in for
:class:`~bitloops.Session` and the store.
Only apsw, :mod:`bitloops._codec` and :mod:`bitloops.errors` are imported (the redactor
is passed in): a hook runs this in a new process.
"""

from __future__ import annotations

import os
import time

import apsw

from bitloops._codec import format_ts, new_id, prepared_payload, relative_paths
from bitloops._dt import UTC, datetime
from bitloops._jsonc import encode_basestring
from bitloops.errors import BitloopsError, InvalidPayload

TYPE_CHECKING = False  # not from typing: a hook imports this module

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, NoReturn

    from bitloops.redact import Redactor

__all__ = [
    "DONE",
    "END_SESSION",
    "EVENT_KINDS",
    "FULL",
    "SCHEMA_VERSION",
    "SET_MODEL",
    "EventWriter",
    "GiveWay",
    "HookStore",
    "LiveSession",
    "append_in_transaction",
    "capped_clock",
    "checked_text",
    "configure",
    "finish",
    "for_hook",
    "hook_deadline",
    "open_for_hook",
    "prepare",
    "seconds_left",
    "stored_artefacts",
    "write_open_session",
]

# A session's next seq: one past its latest live event, or past the last one promoted.
_NEXT_SEQ = (
    "SELECT max(coalesce((SELECT max(seq) FROM live_events WHERE session_id = ?1), 0), "
    "last_seq) + 1 FROM sessions WHERE session_id = ?1"
)
_INSERT_EVENT = (
    "INSERT INTO live_events (session_id, seq, worktree, ts, kind, line) VALUES (?, ?, ?, ?, ?, ?)"
)
#: Ends a session (its time, its id), with the session_end event in the same transaction.
END_SESSION = "UPDATE sessions SET status = 'ended', ended_at = ? WHERE session_id = ?"
#: The model a session runs on, learnt after it started (the model, the session's id).
SET_MODEL = "UPDATE sessions SET model = ? WHERE session_id = ?"
#: Every event kind: :data:`bitloops.EVENT_KINDS`, which needs the object model (a test
#: keeps the two equal).
EVENT_KINDS = frozenset(
    {
        "prompt", "response", "reasoning", "tool_use", "tool_result", "file_change",
        "decision", "plan", "constraint", "alternative", "error", "compaction", "subagent",
        "session_start", "session_end", "note",
    }
)  # fmt: skip


# A hook's whole wait ends here (a time.monotonic() time); None outside hooks. Each wait
# for a lock (the database's, the spool's, a transcript state's) would otherwise get the
# whole hook_busy_timeout_ms again, and a hook that met two of them took twice the bound.
_deadline: float | None = None


def hook_deadline(deadline: float | None) -> None:
    """Make every database wait of this process end by ``deadline`` (a :func:`time.monotonic`
    time), also on connections already configured; None lifts it. Set by the agent hooks,
    for which ``hook_busy_timeout_ms`` bounds the whole hook, not each wait."""
    global _deadline
    _deadline = deadline


def seconds_left(default: float) -> float:
    """What is left of the hook's deadline (at least 0); ``default`` when none is set."""
    if _deadline is None:
        return default
    return max(0.0, _deadline - time.monotonic())


# How long a wait may still take once the hook's deadline has passed, in seconds.
_GRACE = 0.025


class _BusyWait:
    """SQLite's busy timeout, cut short by the hook's deadline (see :func:`hook_deadline`)."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout = timeout_ms / 1000
        self.since = 0.0

    def __call__(self, tries: int) -> bool:
        now = time.monotonic()
        if tries == 0:
            self.since = now
        end = self.since + self.timeout
        if _deadline is not None:
            # Past the deadline a wait still gets a few milliseconds: enough for another
            # hook's short transaction to end, far too little for a held lock to matter.
            end = min(end, max(_deadline, self.since + _GRACE))
        if now >= end:
            return False
        # SQLite's own schedule, roughly: short sleeps first, then a few milliseconds each.
        time.sleep(min(0.001 * (tries + 1), 0.01, end - now))
        return True


def configure(conn: apsw.Connection, *, durability: str, busy_timeout_ms: int) -> None:
    """The per-connection settings every bitloops connection to the database uses.

    ``durability`` is ``full`` (a commit is on disk when it returns) or ``normal``.
    The journal mode is the caller's: the store sets write-ahead logging, a hook only
    checks it is set. Inside an agent hook (:func:`hook_deadline`) the busy wait also
    ends at the hook's deadline.
    """
    if _deadline is None:
        conn.set_busy_timeout(busy_timeout_ms)
    else:
        conn.set_busy_handler(_BusyWait(busy_timeout_ms))
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
    conn.pragma("foreign_keys", True)
    conn.pragma("synchronous", "FULL" if durability == "full" else "NORMAL")


# The current second, kept as its date and time fields and its canonical text (the
# "YYYY-MM-DDTHH:MM:SS." part): an event's time is built and rendered on every record,
# and isoformat or datetime arithmetic cost more than the rest of it.
_second: tuple[int, tuple[int, int, int, int, int, int], str] = (-1, (1970, 1, 1, 0, 0, 0), "")
_time_ns = time.time_ns


# While a detached promotion catches up transcripts (see :class:`capped_clock`): the latest
# time an event recorded without a time of its own may take.
_cap: list[datetime | None] = [None]


class capped_clock:
    """Within it, events recorded without a time take at most ``until``.

    A promotion detached from its commit (``bitloops._pending``) catches up the open
    sessions' transcripts after the commit returned: what the agent wrote before the
    commit must still fall inside the draft's boundary, ``until`` (the commit's time).
    """

    def __init__(self, until: datetime) -> None:
        self.until = until

    def __enter__(self) -> None:
        _cap[0] = self.until

    def __exit__(self, *exc: object) -> None:
        _cap[0] = None


def _now() -> tuple[datetime, str]:
    """Now (aware, UTC) and its canonical text (what :func:`bitloops._codec.format_ts` gives)."""
    now, text, _ = _clock()
    return now, text


def _clock() -> tuple[datetime, str, int]:
    """:func:`_now`, and the clock's millisecond for the event's id (one clock read for
    both: :func:`bitloops._codec.new_id` would read it again)."""
    global _second
    cap = _cap[0]
    if cap is not None and time.time() > cap.timestamp():
        return cap, format_ts(cap), _time_ns() // 1_000_000
    # Plain int arithmetic and str() rather than divmod and a "06d" format: at full
    # durability this runs right after the previous event's fsync, when each distinct
    # routine it touches has to be fetched back into the caches again.
    micros = _time_ns() // 1000
    second = micros // 1_000_000
    fraction = micros - second * 1_000_000
    cached = _second  # one tuple, read and replaced whole: threads see a matching set
    if cached[0] != second:
        at = datetime.fromtimestamp(second, UTC)
        fields = (at.year, at.month, at.day, at.hour, at.minute, at.second)
        cached = _second = (second, fields, format_ts(at)[:-7])
    y, mo, d, h, mi, s = cached[1]
    # str(1_000_000 + fraction)[1:] is the fraction's six digits, zero-padded.
    return (
        datetime(y, mo, d, h, mi, s, fraction, UTC),
        f"{cached[2]}{str(1_000_000 + fraction)[1:]}Z",
        micros // 1000,
    )


class EventWriter:
    """Appends events to ``live_events`` for one connection, inside its write lock.

    It remembers the last seq it gave each session; while no other connection has
    committed since (``data_version``, a counter read without a query) that seq is
    still the session's latest, so the next one needs no lookup. The counter takes in
    other connections' commits only as this one begins a transaction, so reading it
    after a commit (:meth:`committed`) cannot miss a writer that came in between: the
    next transaction sees a new value and looks up. The UNIQUE ``(session_id, seq)``
    constraint backs the reasoning up (``tests/test_concurrency.py``).
    """

    def __init__(self) -> None:
        self._seqs: dict[str, int] = {}
        self._version: int | None = None
        self._quoted: dict[str, str] = {}  # names as JSON strings
        self._cursor: apsw.Cursor | None = None
        self._cursor_conn: apsw.Connection | None = None  # the cursor's, held: ids stay unique
        self._when: datetime | None = None  # the last time given, and its text
        self._when_text = ""

    def cursor(self, conn: apsw.Connection) -> apsw.Cursor:
        """A cursor on ``conn`` kept for the writes of each event.

        ``conn.execute`` makes (and the connection tracks) a new cursor per statement:
        a recorded event runs three, and reusing one is a tenth of its CPU time. Callers
        hold the connection's lock, as for everything else here.
        """
        cur = self._cursor
        # Compared in Python, not through the cursor's connection attribute: one C call
        # fewer per event.
        if cur is None or self._cursor_conn is not conn:
            cur = self._cursor = conn.cursor()
            self._cursor_conn = conn
        return cur

    def forget(self) -> None:
        """Drop what it remembers (the transaction that handed the seqs out rolled back)."""
        self._seqs.clear()
        self._version = None

    def unsure(self) -> None:
        """Look the seqs up again next time (a new transaction begins)."""
        self._version = None

    def committed(self, conn: apsw.Connection) -> None:
        """The seqs it handed out are committed (or held under this connection's lock)."""
        self._version = conn.data_version()

    def next_seq(self, conn: apsw.Connection, session_id: str) -> int | None:
        """The seq the session's next event gets; None for an unknown session."""
        if conn.data_version() == self._version:
            last = self._seqs.get(session_id)
            if last is not None:
                return last + 1
        else:
            self._seqs.clear()
        seq = conn.execute(_NEXT_SEQ, (session_id,)).get
        return None if seq is None else int(seq)

    def append(
        self,
        conn: apsw.Connection,
        *,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> tuple[int, datetime, str] | None:
        """Insert one event; ``(seq, time, event_id)``, or None for an unknown session.

        ``payload_json`` is prepared (validated, redacted, paths made relative). ``when``
        is the event's time; by default now, taken inside the write lock so that within a
        session time and seq agree.
        """
        if when is None:
            now, ts, ms = _clock()
            event_id = new_id(ms)
        else:
            if when is self._when:  # an import: a line's events share its time object
                now, ts = when, self._when_text
            else:
                now, ts = when, format_ts(when)
                self._when, self._when_text = when, ts
            event_id = new_id()
        last = self._seqs.get(session_id)
        if last is not None and conn.data_version() == self._version:
            seq = last + 1
        else:
            found = self.next_seq(conn, session_id)
            if found is None:
                return None
            seq = found
        # The canonical line (what event_line_parts gives, tests/test_codec.py checks),
        # built here: this is the recording hot path. The id and the time need no
        # escaping; the session's names are escaped once and remembered.
        quoted = self._quoted
        if len(quoted) > 4096:  # a process that opened sessions without end
            quoted.clear()
        q_agent = quoted.get(agent) or quoted.setdefault(agent, encode_basestring(agent))
        q_session = quoted.get(session_id) or quoted.setdefault(
            session_id, encode_basestring(session_id)
        )
        q_kind = quoted.get(kind) or quoted.setdefault(kind, encode_basestring(kind))
        if model is None:
            q_model = "null"
        else:
            q_model = quoted.get(model) or quoted.setdefault(model, encode_basestring(model))
        arts = "[" + ",".join(map(encode_basestring, artefacts)) + "]" if artefacts else "[]"
        line = (
            f'{{"agent":{q_agent},"artefacts":{arts},"event_id":"{event_id}","kind":{q_kind},'
            f'"model":{q_model},"payload":{payload_json},"seq":{seq},'
            f'"session_id":{q_session},"ts":"{ts}"}}'
        )
        cur = self._cursor
        if cur is None or self._cursor_conn is not conn:
            cur = self.cursor(conn)
        cur.execute(_INSERT_EVENT, (session_id, seq, worktree, ts, kind, line))
        self._seqs[session_id] = seq
        return seq, now, event_id

    def commit(
        self,
        conn: apsw.Connection,
        *,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...] = (),
        end: bool = False,
        when: datetime | None = None,
    ) -> tuple[int, datetime, str] | None:
        """:meth:`append` in a transaction of its own (``end`` also ends the session in it);
        None for an unknown session, having written nothing. Raises what apsw raises,
        having rolled back."""
        cur = self._cursor
        if cur is None or self._cursor_conn is not conn:
            cur = self.cursor(conn)
        cur.execute("BEGIN IMMEDIATE")
        try:
            appended = self.append(
                conn, session_id=session_id, worktree=worktree, kind=kind, agent=agent,
                model=model, payload_json=payload_json, artefacts=artefacts, when=when,
            )  # fmt: skip
            if appended is None:
                cur.execute("ROLLBACK")
                return None
            if end:
                cur.execute(END_SESSION, (format_ts(appended[1]), session_id))
            cur.execute("COMMIT")
            self._version = conn.data_version()
        except BaseException:
            self.forget()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return appended


# -- one write path -------------------------------------------------------------------------
#
# Session.record (and so an import), a catch-up and an agent hook's light path all turn an
# event into what is stored with prepare() and write it with an EventWriter; a hook's light
# path opens its connection with open_for_hook() and writes with write_open_session().

#: The schema version the statements here are written for. The light path writes only to
#: a database at this version; the store migrates any other first (tests/test_write_path.py
#: checks it is the version the migrations reach).
SCHEMA_VERSION = 6

#: What :func:`write_open_session` did: recorded the events, or left them to the full path.
DONE, FULL = "done", "full"

_APPLICATION = "SELECT value FROM meta WHERE key = 'application'"
# The session a hook writes to, with the check that the file is bitloops' own, in one query.
_OPEN_SESSION = (
    "SELECT (SELECT value FROM meta WHERE key = 'application'), agent, model, status "
    "FROM sessions WHERE session_id = ?"
)


def checked_text(name: str, value: Any) -> str:
    """``value`` if it is a string that can be stored as UTF-8; InvalidPayload otherwise."""
    if not isinstance(value, str):
        raise InvalidPayload(f"{name} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPayload(
            f"{name} holds text that is not valid UTF-8 ({exc.reason} at position {exc.start}); "
            "decode bytes with errors='replace' first"
        ) from None
    return value


def stored_artefacts(artefacts: Any, redactor: Redactor) -> tuple[str, ...]:
    """An event's artefacts as stored (checked, redacted); InvalidPayload for bad ones."""
    if type(artefacts) is tuple and not artefacts:
        return ()
    if isinstance(artefacts, str) or not isinstance(artefacts, tuple | list):
        raise InvalidPayload("artefacts must be a tuple of strings, e.g. ('src/app.py',)")
    return tuple(redactor.redact(checked_text("an artefact", a)) for a in artefacts)


def prepare(
    payload: Any, artefacts: Any, *, redactor: Redactor, max_bytes: int, worktree: str
) -> tuple[str, tuple[str, ...], bool]:
    """An event as stored: its payload JSON, its artefacts, and whether the JSON is the
    payload's canonical text unchanged (neither redaction nor the paths touched it).

    Checks and redacts the payload (:func:`bitloops._codec.prepared_payload`, raising
    :class:`~bitloops.InvalidPayload` or :class:`~bitloops.PayloadTooLarge`) and cuts
    the work tree's and the home directory's paths (:func:`bitloops._codec.relative_paths`)
    before the line, and so its hash, is built. Writes nothing.
    """
    text, clean = prepared_payload(payload, redactor, max_bytes)
    # finish(), inlined: this runs for every recorded event, most without artefacts.
    stored = relative_paths(text, worktree)
    if type(artefacts) is not tuple or artefacts:
        artefacts = stored_artefacts(artefacts, redactor)
    return stored, artefacts, clean and stored is text


def finish(
    text: str, artefacts: Any, *, redactor: Redactor, worktree: str
) -> tuple[str, tuple[str, ...]]:
    """:func:`prepare` of a payload whose JSON is already checked and redacted (by
    :func:`bitloops._codec.prepare_payload`, e.g. cut to an excerpt to fit)."""
    return relative_paths(text, worktree), stored_artefacts(artefacts, redactor)


def for_hook(conn: apsw.Connection) -> None:
    """Set ``conn`` up for a hook process, which opens it, writes once and exits.

    A hook's connection is often the only one, and closing the last one checkpoints the
    whole log into the database (and syncs it) on every event: it is left to the commits,
    which checkpoint once the log passes 1,000 pages.
    """
    conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)


def open_for_hook(path: str, *, durability: str, busy_timeout_ms: int) -> apsw.Connection | None:
    """A connection to an existing database for a hook's light path, configured as the
    store's are; None when the store must open it (no file, not write-ahead logging yet,
    another schema version: the store creates, converts or migrates it)."""
    if not os.path.exists(path):
        return None
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READWRITE)
    except apsw.Error:
        return None
    try:
        configure(conn, durability=durability, busy_timeout_ms=busy_timeout_ms)
        for_hook(conn)
        if conn.pragma("journal_mode") == "wal" and conn.pragma("user_version") == SCHEMA_VERSION:
            return conn
    except apsw.BusyError:
        conn.close()
        raise
    except apsw.Error:
        pass
    conn.close()
    return None


#: The size of the write-ahead log past which a hook empties it: about 100 pages.
LOG_LIMIT_BYTES = 400_000


def trim_log(conn: apsw.Connection, db: str) -> None:
    """Checkpoint the write-ahead log and empty it, once it is past :data:`LOG_LIMIT_BYTES`.

    A hook leaves the log to later processes (:func:`for_hook`), and
    each new process reads all of it before its first query (SQLite rebuilds its index
    of the log), about 5 ms at 1,000 pages. Nor does a new process ever start the log
    over: the rebuilt index forgets what was checkpointed, so the log only grows, and
    past SQLite's 1,000 pages every commit checkpoints all of it again. Truncated, the
    log stays short. The events are committed already: a checkpoint that must wait (a
    reader, another writer) is left to the next hook.
    """
    try:
        if os.path.getsize(db + "-wal") < LOG_LIMIT_BYTES:
            return
        conn.set_busy_timeout(20)  # a short wait only: the hook is done otherwise
        conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)
    except (OSError, apsw.Error):
        pass


def is_bitloops_database(conn: apsw.Connection) -> bool:
    """Whether the file ``conn`` opened is bitloops' own (its ``meta`` says so)."""
    return bool(conn.execute(_APPLICATION).get == "bitloops")


def write_open_session(
    conn: apsw.Connection,
    *,
    session_id: str,
    worktree: str,
    events: list[tuple[str, str, tuple[str, ...]]],
    model: str | None = None,
    first: Callable[[], bool] | None = None,
) -> str:
    """Append prepared ``events`` (kind, payload JSON from :func:`prepare`, artefacts) to
    an open session in one transaction: :data:`DONE`, or :data:`FULL` having written
    nothing.

    FULL when the file is not bitloops', the session is unknown or ended, it runs on
    another model than ``model`` (when given: the full path records the change), or
    ``first`` (asked under the write lock, e.g. "is anything spooled?") says something
    must go before. :class:`apsw.BusyError` when the lock stayed taken past the bound.
    """
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        row = cur.execute(_OPEN_SESSION, (session_id,)).fetchone()
        if (
            row is None
            or row[0] != "bitloops"
            or row[3] == "ended"
            or (model and model != row[2])
            or (first is not None and first())
        ):
            cur.execute("ROLLBACK")
            return FULL
        _, agent, stored_model, _ = row
        writer = EventWriter()
        for kind, payload_json, artefacts in events:
            writer.append(
                conn,
                session_id=session_id,
                worktree=worktree,
                kind=kind,
                agent=agent,
                model=stored_model,
                payload_json=payload_json,
                artefacts=artefacts,
            )
            writer.committed(conn)  # held under this connection's write lock
        cur.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return DONE


# -- a hook's sessions without the object model ---------------------------------------------
#
# A hook that reads a transcript (a catch-up: Claude Code's Stop and SessionEnd) runs the
# agent's own dispatch and reader with a HookStore and LiveSessions in place of the
# SQLiteStore and Session: what they store is prepared by prepare() and written by an
# EventWriter, as Session.record does, so the lines are the same. What only the full path
# does (start or resume a session, promote one the session strategy ends, read the
# checkpoints) raises GiveWay, rolled back, and the full path takes over.


class GiveWay(BitloopsError):
    """The light path cannot do this: what it began is rolled back and the full path
    (:class:`~bitloops.Repository`, :class:`~bitloops.Session`) does it instead."""


_SESSION_ROW = "SELECT agent, model, status FROM sessions WHERE session_id = ?"


class HookStore:
    """A hook's connection to the database, for :class:`LiveSession`: its transactions,
    an :class:`EventWriter`, a session's row.

    ``first``, asked under the write lock at each transaction's start (e.g. "is anything
    spooled?"), raises :class:`GiveWay` when True: something must be recorded before.
    """

    def __init__(self, conn: apsw.Connection, *, first: Callable[[], bool] | None = None) -> None:
        self.conn = conn
        self.writer = EventWriter()
        self._first = first

    def transaction(self) -> _Transaction:
        """A write transaction (``BEGIN IMMEDIATE``); nested use becomes a savepoint.

        Raises :class:`apsw.BusyError` when the lock stayed taken past the hook's bound.
        """
        return _Transaction(self)

    def reading(self) -> NoReturn:
        """Reading the checkpoints is the full path's: raises :class:`GiveWay`."""
        raise GiveWay("reading the stored events is left to the full path")

    def session_row(self, session_id: str) -> tuple[str, str | None, str] | None:
        """A session's agent, model and status; None for an unknown session."""
        row = self.conn.execute(_SESSION_ROW, (session_id,)).get
        return None if row is None else (row[0], row[1], row[2])

    def set_model(self, session_id: str, model: str | None) -> None:
        """Record the model a session runs on (see :meth:`LiveSession.set_model`)."""
        with self.transaction() as conn:
            conn.execute(SET_MODEL, (model, session_id))

    def append(
        self,
        *,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...],
        end: bool,
        when: datetime | None,
    ) -> tuple[int, datetime, str]:
        """Insert one event (``end`` also ends the session), inside the caller's
        transaction or in one of its own; ``(seq, time, event_id)``."""
        conn = self.conn
        if not conn.in_transaction:
            with self.transaction():
                return self.append(
                    session_id=session_id, worktree=worktree, kind=kind, agent=agent,
                    model=model, payload_json=payload_json, artefacts=artefacts, end=end,
                    when=when,
                )  # fmt: skip
        appended = append_in_transaction(
            conn, self.writer, session_id=session_id, worktree=worktree, kind=kind,
            agent=agent, model=model, payload_json=payload_json, artefacts=artefacts, end=end,
            when=when,
        )  # fmt: skip
        if appended is None:
            raise GiveWay(f"the session {session_id!r} is gone")
        return appended


def append_in_transaction(
    conn: apsw.Connection,
    writer: EventWriter,
    *,
    session_id: str,
    worktree: str,
    kind: str,
    agent: str,
    model: str | None,
    payload_json: str,
    artefacts: tuple[str, ...],
    end: bool,
    when: datetime | None,
) -> tuple[int, datetime, str] | None:
    """:meth:`EventWriter.append` inside the transaction ``conn`` holds; ``end`` also ends
    the session (in a savepoint: both or neither). None for an unknown session. What it
    handed out is forgotten if it raises; else it stays the session's latest seq (no
    other connection commits while this one holds the write lock)."""
    try:
        if end:  # two statements: a savepoint keeps them one
            with conn:
                appended = writer.append(
                    conn, session_id=session_id, worktree=worktree, kind=kind, agent=agent,
                    model=model, payload_json=payload_json, artefacts=artefacts, when=when,
                )  # fmt: skip
                if appended is not None:
                    conn.execute(END_SESSION, (format_ts(appended[1]), session_id))
        else:
            appended = writer.append(
                conn, session_id=session_id, worktree=worktree, kind=kind, agent=agent,
                model=model, payload_json=payload_json, artefacts=artefacts, when=when,
            )  # fmt: skip
    except BaseException:
        writer.forget()
        raise
    writer.committed(conn)
    return appended


class _Transaction:
    """:meth:`HookStore.transaction` (a class, not a generator: no contextlib on this path)."""

    def __init__(self, store: HookStore) -> None:
        self.store = store
        self.outer = False

    def __enter__(self) -> apsw.Connection:
        store = self.store
        conn = store.conn
        if conn.in_transaction:
            conn.__enter__()  # a savepoint
            return conn
        self.outer = True
        store.writer.unsure()
        conn.execute("BEGIN IMMEDIATE")
        first = store._first
        try:
            if first is not None and first():
                raise GiveWay("something spooled must be recorded first")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        store = self.store
        conn = store.conn
        if not self.outer:
            conn.__exit__(exc_type, *rest)  # type: ignore[arg-type]
            return
        if exc_type is None:
            try:
                conn.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise
            return
        self._roll_back()

    def _roll_back(self) -> None:
        conn = self.store.conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        self.store.writer.forget()  # the seqs handed out inside are gone with it


class LiveSession:
    """What :class:`bitloops.Session` records with, for a hook's light path: the same
    preparation (:func:`prepare`) and writer (:class:`EventWriter`), on a
    :class:`HookStore`. :meth:`record` returns ``(seq, time, event_id)``, not an Event.

    ``end_gives_way``: ending it raises :class:`GiveWay` (the session strategy promotes
    a session as it ends: the full path's work).
    """

    def __init__(
        self,
        store: HookStore,
        *,
        session_id: str,
        agent: str,
        model: str | None,
        worktree: str,
        redactor: Redactor,
        max_bytes: int,
        ended: bool = False,
        end_gives_way: bool = False,
    ) -> None:
        self._store = store
        self.session_id = session_id
        self.agent = agent
        self.model = model
        self.worktree = worktree
        self._redactor = redactor
        self._max_bytes = max_bytes
        self.ended = ended
        self._end_gives_way = end_gives_way

    @property
    def max_payload_bytes(self) -> int:
        """The largest serialised payload this session accepts (``max_payload_bytes``)."""
        return self._max_bytes

    def record(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        artefacts: tuple[str, ...] = (),
        ts: datetime | None = None,
    ) -> tuple[int, datetime, str]:
        """Record one event as :meth:`bitloops.Session.record` does; ``(seq, time, id)``.

        What that raises for the caller's mistakes (an unknown kind, an ended session)
        is left to it: :class:`GiveWay`.
        """
        kind = str(kind)
        end = kind == "session_end"
        if kind not in EVENT_KINDS or self.ended or (end and self._end_gives_way):
            raise GiveWay(f"recording a {kind[:40]!r} event is left to the full path")
        stored, arts, _ = prepare(
            {} if payload is None else payload,
            artefacts,
            redactor=self._redactor,
            max_bytes=self._max_bytes,
            worktree=self.worktree,
        )
        if ts is not None and ts.tzinfo is None:
            raise InvalidPayload("ts must be an aware datetime, e.g. datetime.now(UTC)")
        appended = self._store.append(
            session_id=self.session_id, worktree=self.worktree, kind=kind, agent=self.agent,
            model=self.model, payload_json=stored, artefacts=arts, end=end, when=ts,
        )  # fmt: skip
        if end:
            self.ended = True
        return appended

    def set_model(self, model: str | None) -> None:
        """:meth:`bitloops.Session.set_model`: the model of its later events and its record."""
        if model is not None:
            model = self._redactor.redact(checked_text("model", model))
        if model != self.model:
            self._store.set_model(self.session_id, model)
        self.model = model

    def end(self, reason: str | None = None) -> tuple[int, datetime, str] | None:
        """End the session with a session_end event; ending twice does nothing."""
        if self.ended:
            return None
        if reason is not None and not isinstance(reason, str):
            raise InvalidPayload(f"reason must be a string, not {type(reason).__name__}")
        return self.record("session_end", {} if reason is None else {"reason": reason})
