"""Reads of the index by path (:mod:`bitloops.store._index`): a file's history, ``cp:``
prefixes, a commit's checkpoints, and what context injection re-hashes at session start.

Functions of the SQLite store (its :meth:`~bitloops.store.SQLiteStore.execute`), for
:mod:`bitloops.checkpoint._history`, :mod:`bitloops.context._review` and
:mod:`bitloops.context._inject`, which decide what the rows mean. JSON arrays carry the
lists of paths, ids and commits (``json_each``), so each read is one statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bitloops.store._index import PATHS_FOR_SQL

if TYPE_CHECKING:
    from bitloops.store._sqlite import SQLiteStore

__all__ = [
    "checkpoints_of_commits",
    "ids_with_prefix",
    "indexed_source",
    "is_known",
    "linked_commits",
    "newest_commits",
    "older_names",
    "records_of",
    "symbols_of",
    "touching",
    "unverified_teammates",
]


def is_known(store: SQLiteStore, checkpoint_id: str) -> bool:
    """Whether the checkpoint is indexed or stored in this clone."""
    return bool(
        store.execute(
            "SELECT checkpoint_id FROM indexed_checkpoints WHERE checkpoint_id = ? UNION "
            "SELECT checkpoint_id FROM checkpoints WHERE checkpoint_id = ?",
            (checkpoint_id, checkpoint_id),
        )
    )


def ids_with_prefix(store: SQLiteStore, digits: str, limit: int) -> list[str]:
    """Up to ``limit`` indexed checkpoint ids whose random part starts with ``digits``
    (lowercase hex, see :func:`~bitloops.store._index.random_part`), newest first."""
    rows = store.execute(
        "SELECT checkpoint_id FROM indexed_checkpoints WHERE random_part >= ?1 "
        "AND random_part < ?1 || 'g' ORDER BY created_at DESC LIMIT ?2",
        (digits, limit),
    )
    return [str(r[0]) for r in rows]


def indexed_source(store: SQLiteStore, checkpoint_id: str) -> tuple[str, str | None, str] | None:
    """Where this clone read an indexed checkpoint: ``(origin, location, commit_sha)``
    (``local``, ``folder``, ``ref`` or ``shared``; the folder, ref path or store), or None."""
    rows = store.execute(
        "SELECT origin, location, commit_sha FROM indexed_checkpoints WHERE checkpoint_id = ?",
        (checkpoint_id,),
    )
    if not rows:
        return None
    origin, location, sha = rows[0]
    return str(origin), None if location is None else str(location), str(sha)


def checkpoints_of_commits(
    store: SQLiteStore, shas: Sequence[str], *, private: bool
) -> list[tuple[str, str]]:
    """``(commit, checkpoint id)`` for each checkpoint linked to one of ``shas`` (locally
    or in the index), newest first; this clone's private checkpoints only with ``private``."""
    rows = store.execute(
        "WITH wanted(sha) AS (SELECT value FROM json_each(?1)), "
        "links(sha, cid) AS (SELECT l.commit_sha, l.checkpoint_id FROM commit_links l "
        "JOIN wanted w ON l.commit_sha = w.sha UNION SELECT i.commit_sha, i.checkpoint_id "
        "FROM indexed_commits i JOIN wanted w ON i.commit_sha = w.sha) "
        "SELECT l.sha, l.cid FROM links l JOIN indexed_checkpoints c "
        "ON c.checkpoint_id = l.cid WHERE (c.private = 0 OR ?2 = 1) "
        "ORDER BY c.created_at DESC, c.checkpoint_id DESC",
        (json.dumps(list(shas)), int(private)),
    )
    return [(str(sha), str(cid)) for sha, cid in rows]


def older_names(store: SQLiteStore, path: str) -> list[str]:
    """The names ``path`` was renamed from: by git (``git_renames``) or as checkpoints
    recorded it."""
    rows = store.execute(
        "SELECT old_path FROM git_renames WHERE new_path = ?1 UNION "
        "SELECT old_path FROM checkpoint_paths WHERE path = ?1 AND symbol = '' "
        "AND old_path IS NOT NULL",
        (path,),
    )
    return [str(r[0]) for r in rows]


def touching(
    store: SQLiteStore, paths: Sequence[str], symbol: str | None, *, private: bool
) -> list[tuple[Any, ...]]:
    """The rows of :data:`~bitloops.store._index.PATHS_FOR_SQL` for ``paths`` (and
    ``symbol``, None for the files themselves), newest first."""
    return store.execute(PATHS_FOR_SQL, (json.dumps(list(paths)), symbol or "", int(private)))


def records_of(
    store: SQLiteStore, paths: Sequence[str], checkpoint_ids: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The why-records about ``paths`` of ``checkpoint_ids``, by checkpoint, those naming
    the path first: ``(checkpoint_id, category, text, detail, source, record_id,
    confidence, explicit, symbol)``."""
    return store.execute(
        "SELECT checkpoint_id, category, text, detail, source, record_id, confidence, explicit, "
        "symbol FROM path_records WHERE path IN (SELECT value FROM json_each(?1)) "
        "AND checkpoint_id IN (SELECT value FROM json_each(?2)) "
        "ORDER BY checkpoint_id, explicit DESC, id",
        (json.dumps(list(paths)), json.dumps(list(checkpoint_ids))),
    )


def symbols_of(
    store: SQLiteStore, paths: Sequence[str], checkpoint_ids: Sequence[str]
) -> list[tuple[str, str]]:
    """``(checkpoint_id, symbol)`` for each symbol of ``paths`` those checkpoints changed,
    by symbol."""
    rows = store.execute(
        "SELECT checkpoint_id, symbol FROM checkpoint_paths WHERE path IN "
        "(SELECT value FROM json_each(?1)) AND symbol <> '' AND checkpoint_id IN "
        "(SELECT value FROM json_each(?2)) ORDER BY symbol",
        (json.dumps(list(paths)), json.dumps(list(checkpoint_ids))),
    )
    return [(str(cid), str(name)) for cid, name in rows]


def linked_commits(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> list[tuple[str, str]]:
    """``(checkpoint_id, commit_sha)`` for every commit linked to those checkpoints,
    locally or in the index."""
    rows = store.execute(
        "SELECT checkpoint_id, commit_sha FROM indexed_commits WHERE checkpoint_id IN "
        "(SELECT value FROM json_each(?1)) UNION SELECT checkpoint_id, commit_sha FROM "
        "commit_links WHERE checkpoint_id IN (SELECT value FROM json_each(?1))",
        (json.dumps(list(checkpoint_ids)),),
    )
    return [(str(cid), str(sha)) for cid, sha in rows]


def newest_commits(store: SQLiteStore, limit: int) -> list[str]:
    """The commits linked to the newest indexed checkpoints, at most ``limit``."""
    rows = store.execute(
        "SELECT i.commit_sha FROM indexed_commits i JOIN indexed_checkpoints c "
        "USING (checkpoint_id) ORDER BY c.created_at DESC LIMIT ?",
        (limit,),
    )
    return [str(r[0]) for r in rows]


def unverified_teammates(store: SQLiteStore) -> list[tuple[Any, ...]]:
    """The indexed checkpoints read from a folder or the ref that this clone's store does
    not hold with the same content hash: ``(checkpoint_id, origin, location,
    content_hash)``."""
    return store.execute(
        "SELECT c.checkpoint_id, c.origin, c.location, c.content_hash FROM indexed_checkpoints c "
        "WHERE c.origin IN ('folder', 'ref') AND NOT EXISTS (SELECT 1 FROM checkpoints k "
        "WHERE k.checkpoint_id = c.checkpoint_id AND k.content_hash = c.content_hash)"
    )
