"""Storage backends. The embedded SQLite store is the default and holds the live state."""

from __future__ import annotations

from .sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
