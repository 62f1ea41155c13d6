"""Storage backends. The embedded SQLite store is the default and holds the live state.

Its modules load when first used: the agent hooks import :mod:`bitloops.store._live`
alone, without the store and the object model behind it.
"""

from __future__ import annotations

# Not from typing: importing it would cost the hooks more than this module itself.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.store._index import WHY_FOR_PATH_SQL
    from bitloops.store._postgres import PostgresStore
    from bitloops.store._protocols import CommittedStore, LiveStore
    from bitloops.store._rows import (
        CheckpointQuery,
        CheckpointRow,
        DraftRows,
        HeaderRow,
        LinkRecord,
        PurgeStep,
        SearchRow,
    )
    from bitloops.store._sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "WHY_FOR_PATH_SQL",
    "CheckpointQuery",
    "CheckpointRow",
    "CommittedStore",
    "DraftRows",
    "HeaderRow",
    "LinkRecord",
    "LiveStore",
    "PostgresStore",
    "PurgeStep",
    "SQLiteStore",
    "SearchRow",
]

# The contracts and the shared row types, each from its own module.
_FROM = {
    "CommittedStore": "_protocols",
    "LiveStore": "_protocols",
    # psycopg itself loads only when the store first connects
    "PostgresStore": "_postgres",
    **dict.fromkeys(
        (
            "CheckpointQuery",
            "CheckpointRow",
            "DraftRows",
            "HeaderRow",
            "LinkRecord",
            "PurgeStep",
            "SearchRow",
        ),
        "_rows",
    ),
}


def __getattr__(name: str) -> Any:
    if name == "WHY_FOR_PATH_SQL":
        from bitloops.store import _index

        return _index.WHY_FOR_PATH_SQL
    if name in _FROM:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    if name in __all__:
        from bitloops.store import _sqlite as sqlite

        return getattr(sqlite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
