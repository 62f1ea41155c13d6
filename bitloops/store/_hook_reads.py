"""The reads a hook makes without the store object: one small query each, read-only.

A hook process answers before it would pay for :mod:`bitloops.store._sqlite` and the
object model: whether a git hook has anything to do (:mod:`bitloops.capture._idle`), how
big the draft a commit leaves is (:mod:`bitloops._pending`), and what context injection
hands an agent before an edit (:mod:`bitloops.context._inject`). Each function takes a
connection from :func:`connect`. Only the standard library and apsw are imported, and
apsw only by :func:`connect`, as the light write path (:mod:`bitloops.store._live`) does.
"""

from __future__ import annotations

from bitloops import _jsonc

TYPE_CHECKING = False  # not from typing: a hook imports this module

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import apsw

__all__ = [
    "connect",
    "digest_records",
    "draft_size",
    "file_records",
    "idle_state",
    "session_private",
]

# Live events of this work tree, and any checkpoint at all.
_DRAFT = (
    "SELECT EXISTS (SELECT 1 FROM live_events WHERE worktree = ?1), "
    "EXISTS (SELECT 1 FROM checkpoints)"
)
_OPEN = "SELECT session_id, agent FROM sessions WHERE worktree = ? AND status != 'ended'"
_DRAFT_SIZE = "SELECT count(*) FROM live_events WHERE worktree = ?"
_MARKED = "SELECT 1 FROM private_marks WHERE kind = 'session' AND id = ?"
_RECORDED = "SELECT 1 FROM sessions WHERE session_id = ?"

# What both reads give of each why-record: the trust rule needs the linked commits and
# whether this clone's own store holds the same content hash.
_RECORD_ROWS = """
SELECT r.category, r.text, r.detail, r.source, r.record_id, r.symbol, r.checkpoint_id,
       r.created_at, c.origin, c.content_hash,
       (SELECT json_group_array(i.commit_sha) FROM indexed_commits i
        WHERE i.checkpoint_id = r.checkpoint_id),
       EXISTS (SELECT 1 FROM checkpoints k
               WHERE k.checkpoint_id = r.checkpoint_id AND k.content_hash = c.content_hash),
       r.path
FROM path_records r JOIN indexed_checkpoints c USING (checkpoint_id)"""

# The files' why-records in one statement. Retracted records are left out, and private
# checkpoints unless the session is private itself (?3 = 1).
_FILE_SQL = (
    _RECORD_ROWS
    + """
WHERE r.path IN (SELECT value FROM json_each(?1)) AND (c.private = 0 OR ?3 = 1)
  AND r.category IN ('decision', 'alternative', 'constraint')
  AND NOT EXISTS (SELECT 1 FROM annotations a
                  WHERE a.kind = 'retraction' AND a.record_id = r.record_id)
ORDER BY r.explicit DESC, r.created_at DESC, r.checkpoint_id DESC, r.id
LIMIT ?2
"""
)

_DIGEST_SQL = (
    _RECORD_ROWS
    + """
WHERE (c.private = 0 OR ?2 = 1)
  AND (r.category IN ('decision', 'constraint')
       OR (r.category = 'plan-item'
           AND lower(coalesce(r.detail, '')) NOT IN ('completed', 'done', 'cancelled',
                                                     'canceled', 'skipped')))
  AND NOT EXISTS (SELECT 1 FROM annotations a
                  WHERE a.kind = 'retraction' AND a.record_id = r.record_id)
ORDER BY r.created_at DESC, r.checkpoint_id DESC, r.id
LIMIT ?1
"""
)


def connect(db: str, *, busy_timeout_ms: int = 1000) -> apsw.Connection:
    """The database file ``db`` opened read-only, waiting up to ``busy_timeout_ms``."""
    import apsw

    conn = apsw.Connection(db, flags=apsw.SQLITE_OPEN_READONLY)
    conn.set_busy_timeout(busy_timeout_ms)
    return conn


def idle_state(conn: apsw.Connection, worktree: str) -> tuple[bool, bool, list[tuple[str, str]]]:
    """Whether ``worktree`` has a draft (live events), whether any checkpoint is stored,
    and the work tree's sessions not ended: ``(session id, agent)`` pairs."""
    draft, checkpoints = conn.execute(_DRAFT, (worktree,)).fetchall()[0]
    sessions = [(sid, agent) for sid, agent in conn.execute(_OPEN, (worktree,))]
    return bool(draft), bool(checkpoints), sessions


def draft_size(conn: apsw.Connection, worktree: str) -> int:
    """How many live events ``worktree``'s draft holds."""
    return int(conn.execute(_DRAFT_SIZE, (worktree,)).fetchall()[0][0] or 0)


def session_private(conn: apsw.Connection, session_id: str) -> bool | None:
    """True when the session is marked private; False when it is recorded and not marked
    (or the database predates the marks: nothing was marked); None when not recorded."""
    if conn.pragma("user_version") < 6:
        return False  # no marks table yet
    if conn.execute(_MARKED, (session_id,)).fetchall():
        return True
    return False if conn.execute(_RECORDED, (session_id,)).fetchall() else None


def _index_rows(conn: apsw.Connection, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if conn.pragma("user_version") < 5:
        return []  # no index by path yet: the next promotion or session start makes it
    return [tuple(row) for row in conn.execute(sql, args)]


def file_records(
    conn: apsw.Connection, paths: Sequence[str], limit: int, *, private: bool
) -> list[tuple[Any, ...]]:
    """The decisions, rejected alternatives and constraints recorded for ``paths``, those
    naming a file first, then newest first; at most ``limit``. Private checkpoints only
    with ``private``; retracted records never.

    Columns: category, text, detail, source, record_id, symbol, checkpoint_id, created_at,
    origin, content_hash, the linked commits (a JSON array), whether this clone's store
    holds the checkpoint with that very hash, path. Empty before schema version 5.
    """
    return _index_rows(conn, _FILE_SQL, (_jsonc.dumps(list(paths)), limit, int(private)))


def digest_records(conn: apsw.Connection, limit: int, *, private: bool) -> list[tuple[Any, ...]]:
    """The newest decisions, constraints and open plan items of any file, at most
    ``limit``, with :func:`file_records`' columns (private checkpoints only with
    ``private``; retracted records never). Empty before schema version 5."""
    return _index_rows(conn, _DIGEST_SQL, (limit, int(private)))
