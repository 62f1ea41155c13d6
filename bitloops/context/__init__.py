"""Past reasoning by code: a file's, symbol's or line's history, blame, review digests.

Built on an index of committed checkpoints by path and symbol (:mod:`.index`, schema
version 5) that covers this clone's checkpoints and its teammates' (committed folders,
the checkpoint ref after ``bitloops fetch``, the team's shared store). Names load on
first use, so importing the package costs nothing.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.context.history import (
        FileHistoryEntry,
        PathRecord,
        history,
        resolve_checkpoint_prefix,
    )

__all__ = ["FileHistoryEntry", "PathRecord", "history", "resolve_checkpoint_prefix"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".history", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
