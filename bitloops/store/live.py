"""Writing live events: the one implementation every way of recording goes through.

:class:`~bitloops.store.sqlite.SQLiteStore` (behind :class:`~bitloops.Session`, imports
and catch-ups) and the agent hooks' light path (``bitloops.capture._direct``) both
configure their connection with :func:`configure` and append with an
:class:`EventWriter`, so an event's line, its ``seq`` and its time come from one place.
Only apsw and :mod:`bitloops._codec` are imported: a hook runs this in a new process.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from json.encoder import encode_basestring

import apsw

from bitloops._codec import format_ts, new_id

__all__ = ["END_SESSION", "EventWriter", "configure", "hook_deadline", "seconds_left"]

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
        now = datetime.now(UTC) if when is None else when
        ts = format_ts(now)
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
