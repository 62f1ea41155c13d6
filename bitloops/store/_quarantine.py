"""The SQLite store's quarantine: hook payloads that could not be recorded, kept redacted."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import apsw

from bitloops._codec import format_ts

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["QuarantineQueries"]


class QuarantineQueries:
    """Mixin of :class:`~bitloops.store._sqlite.SQLiteStore`: the quarantine table."""

    if TYPE_CHECKING:
        path: Path

        def reading(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def transaction(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

    def add_quarantine(
        self, *, agent: str, source: str, reason: str, payload: str, received_at: str | None = None
    ) -> int:
        """Keep a hook payload that could not be recorded (redacted by the caller); its id."""
        when = received_at or format_ts(datetime.now(UTC))
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO quarantine (received_at, agent, source, reason, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (when, agent, source, reason, payload),
            )
            return int(conn.last_insert_rowid())

    def quarantined(self, limit: int | None = None) -> list[tuple[int, str, str, str, str, str]]:
        """Quarantined payloads, newest first.

        Rows of ``(id, received_at, agent, source, reason, payload)``.
        """
        sql = (
            "SELECT id, received_at, agent, source, reason, payload FROM quarantine "
            "ORDER BY received_at DESC, id DESC"
        )
        with self.reading() as conn:
            rows = conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
            return [(int(a), str(b), str(c), str(d), str(e), str(f)) for a, b, c, d, e, f in rows]

    def count_quarantine(self) -> int:
        """How many payloads are quarantined."""
        with self.reading() as conn:
            count: int = conn.execute("SELECT count(*) FROM quarantine").get
        return count

    def clear_quarantine(self, ids: Sequence[int] | None = None) -> int:
        """Delete quarantined payloads (those ``ids``, or all); how many were deleted."""
        with self.transaction() as conn:
            if ids is None:
                conn.execute("DELETE FROM quarantine")
            else:
                conn.execute(
                    "DELETE FROM quarantine WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([int(i) for i in ids]),),
                )
            return conn.changes()
