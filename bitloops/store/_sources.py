"""Keeping the index by path (:mod:`bitloops.store._index`) complete: its writes, and the
marks of what it has read.

Functions of the SQLite store for :mod:`bitloops.checkpoint._sources`, which decides what
to read (this clone's checkpoints, committed folders, the checkpoint ref, link files,
git's renames, the shared store). ``meta`` holds a mark per source (``context_…`` keys:
the ref's tip, the folders' mtime, …) and ``indexed_sources`` each folder, ref entry and
git tip read, so that a source is read again only when it changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bitloops.store._index import IndexRows, delete_checkpoint, insert_rows

if TYPE_CHECKING:
    from bitloops.store._sqlite import SQLiteStore

__all__ = [
    "clear_index",
    "folder_entries",
    "forget_folders",
    "indexed_ids",
    "indexed_links",
    "last_local_rowid",
    "meta_value",
    "sources_read",
    "unindexed_local",
    "write_index",
]

# The index's tables, emptied by a rebuild (the meta marks go with them).
_TABLES = (
    "path_records",
    "checkpoint_paths",
    "indexed_commits",
    "indexed_checkpoints",
    "git_renames",
    "indexed_sources",
)


def meta_value(store: SQLiteStore, key: str) -> str | None:
    """The ``meta`` value of ``key``, or None."""
    rows = store.execute("SELECT value FROM meta WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


def sources_read(store: SQLiteStore, origin: str) -> set[str]:
    """The keys of ``origin`` (``folder``, ``ref``, ``git-tip``) read already."""
    rows = store.execute("SELECT key FROM indexed_sources WHERE origin = ?", (origin,))
    return {str(r[0]) for r in rows}


def indexed_ids(store: SQLiteStore, checkpoint_ids: Sequence[str]) -> set[str]:
    """Those of ``checkpoint_ids`` the index holds."""
    rows = store.execute(
        "SELECT checkpoint_id FROM indexed_checkpoints WHERE checkpoint_id IN "
        "(SELECT value FROM json_each(?))",
        (json.dumps(list(checkpoint_ids)),),
    )
    return {str(r[0]) for r in rows}


def indexed_links(store: SQLiteStore) -> set[tuple[str, str]]:
    """Every ``(commit_sha, checkpoint_id)`` pair the index links."""
    rows = store.execute("SELECT commit_sha, checkpoint_id FROM indexed_commits")
    return {(str(sha), str(cid)) for sha, cid in rows}


def write_index(
    store: SQLiteStore,
    rows: Sequence[IndexRows] = (),
    *,
    commits: Sequence[tuple[str, str]] = (),
    renames: Sequence[tuple[str, str, str]] = (),
    sources: Sequence[tuple[str, str]] = (),
    meta: Mapping[str, str] | None = None,
) -> None:
    """In one transaction: checkpoints' index rows (replacing any), more ``(commit,
    checkpoint)`` links, git's ``(new, old, commit)`` renames, the ``(origin, key)``
    sources read, and the ``meta`` marks that say how far they were read."""
    with store.transaction() as conn:
        for item in rows:
            insert_rows(conn, item)
        if commits:
            conn.executemany("INSERT OR IGNORE INTO indexed_commits VALUES (?, ?)", list(commits))
        if renames:
            conn.executemany("INSERT OR IGNORE INTO git_renames VALUES (?, ?, ?)", list(renames))
        if sources:
            conn.executemany("INSERT OR IGNORE INTO indexed_sources VALUES (?, ?)", list(sources))
        for key, value in (meta or {}).items():
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def clear_index(store: SQLiteStore) -> None:
    """Empty the index and forget every source's mark (it is derived data)."""
    with store.transaction() as conn:
        for table in _TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM meta WHERE key LIKE 'context_%'")


def last_local_rowid(store: SQLiteStore) -> int | None:
    """The rowid of this clone's newest stored checkpoint (promotion order), or None."""
    top = store.execute("SELECT max(rowid) FROM checkpoints")[0][0]
    return None if top is None else int(top)


def unindexed_local(store: SQLiteStore, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` stored checkpoints after rowid ``after`` the index lacks, in rowid
    order: ``(rowid, checkpoint_id, commit_sha, created_at, content_hash, header, linked
    commits as a JSON array)``."""
    return store.execute(
        "SELECT c.rowid, c.checkpoint_id, c.commit_sha, c.created_at, c.content_hash, "
        "c.header, (SELECT json_group_array(l.commit_sha) FROM commit_links l "
        "WHERE l.checkpoint_id = c.checkpoint_id) FROM checkpoints c WHERE c.rowid > ? "
        "AND NOT EXISTS (SELECT 1 FROM indexed_checkpoints i "
        "WHERE i.checkpoint_id = c.checkpoint_id) ORDER BY c.rowid LIMIT ?",
        (after, limit),
    )


def folder_entries(store: SQLiteStore) -> list[tuple[str, str]]:
    """``(checkpoint_id, location)`` of every checkpoint indexed from a committed folder."""
    rows = store.execute(
        "SELECT checkpoint_id, location FROM indexed_checkpoints WHERE origin = 'folder'"
    )
    return [(str(cid), str(loc)) for cid, loc in rows]


def forget_folders(store: SQLiteStore, gone: Sequence[tuple[str, str]]) -> None:
    """Drop what the index holds of ``(checkpoint_id, folder key)`` pairs (a folder gone
    from the work tree), so that a folder of that name is read again if it comes back."""
    with store.transaction() as conn:
        for cid, key in gone:
            delete_checkpoint(conn, cid)
            conn.execute("DELETE FROM indexed_sources WHERE origin = 'folder' AND key = ?", (key,))
