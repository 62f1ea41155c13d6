"""This clone's stored checkpoints by commit: which a commit has, which was made first,
and which commit one was made for (where its committed folder is decided from them).

Functions of the SQLite store for :mod:`bitloops.checkpoint._private` and the parent
lookup of :mod:`bitloops.checkpoint._promote`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bitloops.store._sqlite import SQLiteStore

__all__ = ["checkpoints_of_commit", "commit_of", "first_of_commit", "linked_newest_first"]


def checkpoints_of_commit(store: SQLiteStore, commit_sha: str) -> list[str]:
    """The stored checkpoints made for ``commit_sha``."""
    rows = store.execute(
        "SELECT checkpoint_id FROM checkpoints WHERE commit_sha = ?", (commit_sha,)
    )
    return [str(r[0]) for r in rows]


def commit_of(store: SQLiteStore, checkpoint_id: str) -> str:
    """The commit a stored checkpoint was made for (the checkpoint must be stored)."""
    rows = store.execute(
        "SELECT commit_sha FROM checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
    )
    return str(rows[0][0])


def first_of_commit(store: SQLiteStore, commit_sha: str) -> str | None:
    """The first checkpoint created for ``commit_sha`` (by time, then storing order)."""
    rows = store.execute(
        "SELECT checkpoint_id FROM checkpoints WHERE commit_sha = ? "
        "ORDER BY created_at, rowid LIMIT 1",
        (commit_sha,),
    )
    return str(rows[0][0]) if rows else None


def linked_newest_first(store: SQLiteStore, commit_sha: str) -> list[tuple[str, str]]:
    """``(checkpoint_id, content_hash)`` of every checkpoint linked to ``commit_sha``,
    newest first."""
    rows = store.execute(
        "SELECT c.checkpoint_id, c.content_hash FROM commit_links l "
        "JOIN checkpoints c USING (checkpoint_id) WHERE l.commit_sha = ? "
        "ORDER BY c.created_at DESC, c.checkpoint_id DESC",
        (commit_sha,),
    )
    return [(str(cid), str(chash)) for cid, chash in rows]
