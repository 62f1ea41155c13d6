"""Storage backends. The embedded SQLite store is the default and holds the live state.

Its modules load when first used: the agent hooks import :mod:`bitloops.store.live`
alone, without the store and the object model behind it.
"""

from __future__ import annotations

# Not from typing: importing it would cost the hooks more than this module itself.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.store.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bitloops.store import sqlite

        return getattr(sqlite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
