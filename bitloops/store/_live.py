"""Writing live events: the one implementation every way of recording goes through.

An event is stored by the same code whether it comes from :meth:`bitloops.Session.record`
(and so an import or a catch-up), or from an agent hook's light path
(``bitloops.capture._direct``): :func:`prepare` checks, redacts and relativises it,
:func:`configure` sets up every connection, and an :class:`EventWriter` appends it, so an
event's line, its ``seq`` and its time come from one place. A hook's light path opens
the database with :func:`open_for_hook` and appends with :func:`write_open_session`.
Only apsw, :mod:`bitloops._codec` and :mod:`bitloops.errors` are imported (the redactor
is passed in): a hook runs this in a new process.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring

import apsw

from bitloops._codec import format_ts, new_id, prepared_payload, relative_paths
from bitloops.errors import InvalidPayload

TYPE_CHECKING = False  # not from typing: a hook imports this module

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from bitloops.redact import Redactor

__all__ = [
    "DONE",
    "END_SESSION",
    "FULL",
    "SCHEMA_VERSION",
    "EventWriter",
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


# The canonical text of the current second (its "YYYY-MM-DDTHH:MM:SS" part), kept: an
# event's time is rendered on every record, and isoformat costs more than the rest of it.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_second: list[Any] = [None, ""]


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
    cap = _cap[0]
    if cap is not None and time.time() > cap.timestamp():
        return cap, format_ts(cap)
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached[0], cached[1] = second, format_ts(_EPOCH + timedelta(seconds=second))[:-8]
    return _EPOCH + timedelta(microseconds=micros), f"{cached[1]}.{fraction:06d}Z"


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
        self._when: datetime | None = None  # the last time given, and its text
        self._when_text = ""

    def cursor(self, conn: apsw.Connection) -> apsw.Cursor:
        """A cursor on ``conn`` kept for the writes of each event.

        ``conn.execute`` makes (and the connection tracks) a new cursor per statement:
        a recorded event runs three, and reusing one is a tenth of its CPU time. Callers
        hold the connection's lock, as for everything else here.
        """
        cur = self._cursor
        if cur is None or cur.connection is not conn:
            cur = self._cursor = conn.cursor()
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
            now, ts = _now()
        elif when is self._when:  # an import: a line's events share its time object
            now, ts = when, self._when_text
        else:
            now, ts = when, format_ts(when)
            self._when, self._when_text = when, ts
        event_id = new_id()
        if conn.data_version() == self._version and session_id in self._seqs:
            seq = self._seqs[session_id] + 1
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
        self.cursor(conn).execute(_INSERT_EVENT, (session_id, seq, worktree, ts, kind, line))
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
    stored, arts = finish(text, artefacts, redactor=redactor, worktree=worktree)
    return stored, arts, clean and stored is text


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
    import os

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
