"""Past reasoning by code: a file's, symbol's or line's history, blame, review digests.

Built on an index of committed checkpoints by path and symbol (schema version 5, kept in
:mod:`bitloops.store`) that covers this clone's checkpoints and its teammates' (committed
folders, the checkpoint ref after ``bitloops fetch``, the team's shared store). Names load
on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from bitloops._lazy import import_module

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.checkpoint._history import (
        FileHistoryEntry,
        PathRecord,
        history,
        resolve_checkpoint_prefix,
    )
    from bitloops.checkpoint._sources import rebuild as rebuild_index

__all__ = [
    "FileHistoryEntry",
    "PathRecord",
    "history",
    "rebuild_index",
    "resolve_checkpoint_prefix",
]

# public name -> (module, name there)
_WHERE = {
    "FileHistoryEntry": ("bitloops.checkpoint._history", "FileHistoryEntry"),
    "PathRecord": ("bitloops.checkpoint._history", "PathRecord"),
    "history": ("bitloops.checkpoint._history", "history"),
    "resolve_checkpoint_prefix": ("bitloops.checkpoint._history", "resolve_checkpoint_prefix"),
    "rebuild_index": ("bitloops.checkpoint._sources", "rebuild"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(where[0]), where[1])
