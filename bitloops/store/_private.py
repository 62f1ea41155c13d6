"""Private marks (schema version 6): the sessions and checkpoints that stay in this clone.

A mark is a row of ``private_marks``: ``kind`` (``session`` or ``checkpoint``), the id,
and when it was made. It lives in the local SQLite file only: it is not part of any
checkpoint's content hash, never written to a folder, the checkpoint ref or the shared
store, because what it marks never goes there. A checkpoint is private when it is
marked itself or holds events of a marked session (see
:mod:`bitloops.checkpoint._private`, which decides; this module only stores).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bitloops._codec import format_ts

TYPE_CHECKING = False  # not from typing: the pre-commit hook imports this module

if TYPE_CHECKING:
    import apsw

    from bitloops.store._sqlite import SQLiteStore

__all__ = [
    "MIGRATION_SQL",
    "PRIVATE_SQL",
    "checkpoints_of_sessions",
    "flag_indexed",
    "mark",
    "marked",
    "migrate",
    "private_checkpoints",
    "private_in_file",
    "queued",
    "requeue",
    "sessions_marked",
    "unmark",
    "unqueue",
]

KINDS = ("session", "checkpoint")

MIGRATION_SQL = """
-- Sessions and checkpoints kept in this clone only (`bitloops record private`, the
-- `private` setting, BITLOOPS_PRIVATE). Local by nature: never sent anywhere.
CREATE TABLE IF NOT EXISTS private_marks (
    kind      TEXT NOT NULL CHECK (kind IN ('session', 'checkpoint')),
    id        TEXT NOT NULL,
    marked_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;
"""


def migrate(conn: apsw.Connection) -> None:
    """Create the table (inside the migration's transaction)."""
    conn.execute(MIGRATION_SQL)


def mark(store: SQLiteStore, kind: str, ids: Iterable[str]) -> int:
    """Mark ``ids`` of ``kind`` private; how many were not marked before."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    now = format_ts(datetime.now(UTC))
    added = 0
    wanted = list(dict.fromkeys(ids))
    with store.transaction() as conn:
        for one in wanted:
            conn.execute(
                "INSERT OR IGNORE INTO private_marks (kind, id, marked_at) VALUES (?, ?, ?)",
                (kind, one, now),
            )
            added += conn.changes()
        if kind == "checkpoint":
            flag_indexed(conn, wanted)
        else:
            flag_indexed(conn, _of_sessions(conn, wanted))
    return added


def unmark(store: SQLiteStore, kind: str, ids: Iterable[str]) -> None:
    """Take the marks of ``ids`` of ``kind`` back (a marking that lost a race with a
    sync: what was sent stays shared), and clear the index flag they set."""
    import json

    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM private_marks WHERE kind = ? AND id IN (SELECT value FROM json_each(?))",
            (kind, json.dumps(wanted)),
        )
        touched = wanted if kind == "checkpoint" else _of_sessions(conn, wanted)
        conn.execute(
            "UPDATE indexed_checkpoints SET private = 0 "
            "WHERE checkpoint_id IN (SELECT value FROM json_each(?))",
            (json.dumps(touched),),
        )
        flag_indexed(conn, touched)  # still private through another mark


def _of_sessions(conn: apsw.Connection, session_ids: Sequence[str]) -> list[str]:
    import json

    rows = conn.execute(
        "SELECT DISTINCT checkpoint_id FROM checkpoint_events "
        "WHERE session_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(session_ids)),),
    )
    return [str(r[0]) for r in rows]


def flag_indexed(conn: apsw.Connection, checkpoint_ids: Sequence[str]) -> None:
    """Set ``indexed_checkpoints.private`` for those of ``checkpoint_ids`` that are private
    (inside the caller's transaction): the readers that serve other sessions (the MCP
    tools, context injection, ``WHY_FOR_PATH_SQL``) leave them out by that column."""
    import json

    if not checkpoint_ids:
        return
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'private_marks'"
    ).fetchall():
        return  # an index without marks (older schema): nothing is private
    conn.execute(
        "UPDATE indexed_checkpoints SET private = 1 WHERE private = 0 "
        "AND checkpoint_id IN (SELECT value FROM json_each(?1)) "
        "AND (EXISTS (SELECT 1 FROM private_marks m WHERE m.kind = 'checkpoint' "
        "AND m.id = indexed_checkpoints.checkpoint_id) "
        # Asked first: the join reads every event of the checkpoint (10k: milliseconds,
        # in promotion's write transaction), and usually no session is marked at all.
        "OR (EXISTS (SELECT 1 FROM private_marks WHERE kind = 'session') "
        "AND EXISTS (SELECT 1 FROM private_marks m "
        "JOIN checkpoint_events e ON e.session_id = m.id WHERE m.kind = 'session' "
        "AND e.checkpoint_id = indexed_checkpoints.checkpoint_id)))",
        (json.dumps(list(checkpoint_ids)),),
    )


def marked(store: SQLiteStore, kind: str) -> set[str]:
    """Every id of ``kind`` marked private (few: one per choice a user made)."""
    return {
        str(r[0]) for r in store.execute("SELECT id FROM private_marks WHERE kind = ?", (kind,))
    }


def sessions_marked(store: SQLiteStore, session_ids: Sequence[str]) -> set[str]:
    """Those of ``session_ids`` that are marked private."""
    if not session_ids:
        return set()
    import json

    rows = store.execute(
        "SELECT id FROM private_marks WHERE kind = 'session' "
        "AND id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(session_ids)),),
    )
    return {str(r[0]) for r in rows}


def checkpoints_of_sessions(store: SQLiteStore, session_ids: Sequence[str]) -> list[str]:
    """The local checkpoints holding events of ``session_ids`` (a scan: for marking only)."""
    if not session_ids:
        return []
    import json

    rows = store.execute(
        "SELECT DISTINCT checkpoint_id FROM checkpoint_events "
        "WHERE session_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(session_ids)),),
    )
    return [str(r[0]) for r in rows]


def private_checkpoints(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> set[str]:
    """Those of ``checkpoint_ids`` marked private, or holding events of a private session."""
    import json

    rows = store.execute(PRIVATE_SQL, (json.dumps(list(checkpoint_ids)),))
    return {str(r[0]) for r in rows}


#: Those of the checkpoint ids in the JSON array ``?1`` that are private (marked, or
#: holding a marked session's events); for a light process too (the git hooks).
PRIVATE_SQL = (
    "SELECT w.value FROM json_each(?1) w WHERE EXISTS (SELECT 1 FROM private_marks m "
    "WHERE m.kind = 'checkpoint' AND m.id = w.value) OR EXISTS (SELECT 1 FROM "
    "private_marks m WHERE m.kind = 'session' AND EXISTS (SELECT 1 FROM checkpoint_events e "
    "WHERE e.checkpoint_id = w.value AND e.session_id = m.id))"
)


def private_in_file(db: str, checkpoint_ids: Sequence[str]) -> set[str]:
    """:func:`private_checkpoints` for a light process: the database file ``db`` opened
    read-only, no store object. Empty when there is no database or no marks table (an
    older schema): nothing was marked there."""
    import json
    import os

    import apsw

    if not checkpoint_ids or not os.path.isfile(db):
        return set()
    conn = apsw.Connection(db, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(2_000)
        rows = conn.execute(PRIVATE_SQL, (json.dumps(list(checkpoint_ids)),)).fetchall()
    except apsw.SQLError:
        return set()  # no private_marks table yet
    finally:
        conn.close()
    return {str(r[0]) for r in rows}


def queued(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> list[str]:
    """Those of ``checkpoint_ids`` waiting in the outbox."""
    import json

    rows = store.execute(
        "SELECT checkpoint_id FROM outbox WHERE checkpoint_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(checkpoint_ids)),),
    )
    return [str(r[0]) for r in rows]


def requeue(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> None:
    """Put ``checkpoint_ids`` back in the outbox (a marking given back)."""
    now = format_ts(datetime.now(UTC))
    with store.transaction() as conn:
        for cid in checkpoint_ids:
            conn.execute(
                "INSERT OR IGNORE INTO outbox (checkpoint_id, queued_at) VALUES (?, ?)", (cid, now)
            )


def unqueue(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> int:
    """Take ``checkpoint_ids`` out of the outbox to the shared store; how many were there."""
    if not checkpoint_ids:
        return 0
    import json

    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM outbox WHERE checkpoint_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(checkpoint_ids)),),
        )
        return conn.changes()
