"""The SQL of an import (:mod:`bitloops.capture._importing`): what a session holds
already (its lines, the transcript lines it recorded), what the import added, re-timing
the sessions it started, and the scratch file of line keys that keeps an import's memory
bounded.

Functions taking the store's connection (inside the import's transaction or a read).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apsw

__all__ = [
    "ScratchKeys",
    "last_live_id",
    "live_count_since",
    "live_lines_since",
    "restart_sessions",
    "session_ids",
    "session_lines",
    "session_uuids",
    "touched_since",
]


def session_lines(conn: Any, session_id: str, kinds: Sequence[str] | None = None) -> list[str]:
    """Every stored line of a session, committed (all checkpoints, repeats included)
    and live; ``kinds`` keeps only the events of those kinds."""
    where = "session_id = ?1"
    if kinds is not None:
        where += " AND kind IN (SELECT value FROM json_each(?2))"
    args: tuple[str, ...] = (session_id,) if kinds is None else (session_id, json.dumps(kinds))
    rows = conn.execute(
        f"SELECT line FROM checkpoint_events WHERE {where} "
        f"UNION ALL SELECT line FROM live_events WHERE {where}",
        args,
    ).fetchall()
    return [str(row[0]) for row in rows]


# The transcript line ids a session's stored events carry: SQLite reads them out of the
# lines, so neither the lines nor their parsed payloads pass through Python.
_SESSION_UUIDS = """
SELECT json_extract(line, '$.payload.transcript_uuid') FROM checkpoint_events
WHERE session_id = ?1 AND json_type(line, '$.payload.transcript_uuid') = 'text'
UNION ALL
SELECT json_extract(line, '$.payload.transcript_uuid') FROM live_events
WHERE session_id = ?1 AND json_type(line, '$.payload.transcript_uuid') = 'text'
"""


def session_uuids(conn: Any, session_id: str) -> Iterator[str]:
    """The ``transcript_uuid`` (a string) of every stored event of a session that has
    one, committed (repeats included) and live, streamed (consume it inside the read)."""
    for (uuid,) in conn.execute(_SESSION_UUIDS, (session_id,)):
        yield str(uuid)


def last_live_id(conn: Any) -> int:
    """The newest live event's row id (0 for none): the mark of what comes after."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchall()[0][0])


def live_count_since(conn: Any, session_id: str, first_id: int) -> int:
    """How many live events ``session_id`` got after the row ``first_id``."""
    rows = conn.execute(
        "SELECT count(*) FROM live_events WHERE session_id = ? AND id > ?",
        (session_id, first_id),
    ).fetchall()
    return int(rows[0][0])


def live_lines_since(conn: Any, session_id: str, first_id: int) -> list[str]:
    """The live lines ``session_id`` got after the row ``first_id``, in session order."""
    rows = conn.execute(
        "SELECT line FROM live_events WHERE session_id = ? AND id > ? ORDER BY seq",
        (session_id, first_id),
    ).fetchall()
    return [str(row[0]) for row in rows]


def session_ids(conn: Any) -> set[str]:
    """Every session the store knows."""
    return {str(row[0]) for row in conn.execute("SELECT session_id FROM sessions")}


def touched_since(conn: Any, session_id: str, first_id: int) -> list[str]:
    """The sessions besides ``session_id`` that got events after the row ``first_id``,
    in the order they did."""
    rows = conn.execute(
        "SELECT session_id, min(id) FROM live_events WHERE id > ? AND session_id != ? "
        "GROUP BY session_id ORDER BY 2",
        (first_id, session_id),
    ).fetchall()
    return [str(row[0]) for row in rows]


def restart_sessions(conn: Any, session_id: str, first_id: int, ts: str) -> None:
    """Start ``session_id`` at ``ts``: its row, and the ``session_start`` lines it got
    after the row ``first_id`` (the canonical line ends with its ``ts``)."""
    rows = conn.execute(
        "SELECT id, line FROM live_events WHERE session_id = ? AND id > ? "
        "AND kind = 'session_start'",
        (session_id, first_id),
    ).fetchall()
    for row_id, line in rows:
        cut = str(line).rindex(',"ts":')
        conn.execute(
            "UPDATE live_events SET ts = ?, line = ? WHERE id = ?",
            (ts, str(line)[:cut] + ',"ts":"' + ts + '"}', row_id),
        )
    conn.execute("UPDATE sessions SET started_at = ? WHERE session_id = ?", (ts, session_id))


# The scratch file's page cache, in KiB (negative: SQLite's unit for a size in KiB).
_SCRATCH_CACHE_KIB = -256


class ScratchKeys:
    """A private temporary SQLite file of keys (SQLite deletes it when closed): the
    import's older line keys. Raises :class:`apsw.Error` when it cannot be written."""

    def __init__(self) -> None:
        db = apsw.Connection("")  # "" is a private temporary file
        db.pragma("journal_mode", "off")
        db.pragma("synchronous", "off")
        # A small page cache: the file is looked up rarely (a Bloom filter answers the new
        # keys), and SQLite's default cache would grow the import's memory with the file.
        db.pragma("cache_size", _SCRATCH_CACHE_KIB)
        db.execute("CREATE TABLE k (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db = db

    def add(self, keys: Iterable[str]) -> None:
        """Store ``keys`` (repeats are fine)."""
        with self._db:  # in key order: the inserts walk the tree, a few pages at a time
            self._db.executemany("INSERT OR IGNORE INTO k VALUES (?)", ((k,) for k in sorted(keys)))

    def __contains__(self, key: str) -> bool:
        return bool(self._db.execute("SELECT 1 FROM k WHERE key = ?", (key,)).fetchall())
