"""Writing live events: the one implementation every way of recording goes through.

:class:`~bitloops.store.sqlite.SQLiteStore` (behind :class:`~bitloops.Session`, imports
and catch-ups) and the agent hooks' light path (``bitloops.integrations.direct``) both
configure their connection with :func:`configure` and append with an
:class:`EventWriter`, so an event's line, its ``seq`` and its time come from one place.
Only apsw and :mod:`bitloops.codec` are imported: a hook runs this in a new process.
"""

from __future__ import annotations

from datetime import UTC, datetime

import apsw

from ..codec import event_line_parts, format_ts, new_id

__all__ = ["END_SESSION", "EventWriter", "configure"]

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


def configure(conn: apsw.Connection, *, durability: str, busy_timeout_ms: int) -> None:
    """The per-connection settings every bitloops connection to the database uses.

    ``durability`` is ``full`` (a commit is on disk when it returns) or ``normal``.
    The journal mode is the caller's: the store sets write-ahead logging, a hook only
    checks it is set.
    """
    conn.set_busy_timeout(busy_timeout_ms)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
    conn.pragma("foreign_keys", True)
    conn.pragma("synchronous", "FULL" if durability == "full" else "NORMAL")


class EventWriter:
    """Appends events to ``live_events`` for one connection, inside its write lock.

    It remembers the last seq it gave each session; while no other connection has
    committed since (``data_version``, a counter read without a query) that seq is
    still the session's latest, so the next one needs no lookup. The UNIQUE
    ``(session_id, seq)`` constraint backs the reasoning up.
    """

    def __init__(self) -> None:
        self._seqs: dict[str, int] = {}
        self._version: int | None = None

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
        prefix, suffix = event_line_parts(
            event_id=event_id,
            session_id=session_id,
            ts=ts,
            kind=kind,
            agent=agent,
            model=model,
            payload_json=payload_json,
            artefacts=artefacts,
        )
        seq = self.next_seq(conn, session_id)
        if seq is None:
            return None
        conn.execute(_INSERT_EVENT, (session_id, seq, worktree, ts, kind, f"{prefix}{seq}{suffix}"))
        self._seqs[session_id] = seq
        return seq, now, event_id
