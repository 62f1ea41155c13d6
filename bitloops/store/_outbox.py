"""The SQLite store's outbox: checkpoints waiting to be sent to the team's shared store.

A row per checkpoint queued (by a promotion, a new link, or ``bitloops sync --all``),
removed once sent; :mod:`bitloops.checkpoint._sync` does the sending.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import apsw

from bitloops._codec import format_ts
from bitloops.errors import StoreError
from bitloops.store._rows import CHECKPOINT_COLUMNS, CheckpointRow, checkpoint_row

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["OutboxQueries"]


class OutboxQueries:
    """Mixin of :class:`~bitloops.store._sqlite.SQLiteStore`: the outbox (team setup)."""

    if TYPE_CHECKING:
        path: Path

        def reading(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def transaction(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @staticmethod
    def _queue(conn: apsw.Connection, checkpoint_id: str, when: str) -> None:
        # A new queued_at marks the row as changed, so a send that read the old state
        # does not remove it (see outbox_sent).
        conn.execute(
            "INSERT INTO outbox (checkpoint_id, queued_at) VALUES (?, ?) "
            "ON CONFLICT (checkpoint_id) DO UPDATE SET queued_at = excluded.queued_at",
            (checkpoint_id, when),
        )

    def queue_all(self) -> int:
        """Queue every stored checkpoint for the shared store; how many were queued.

        For a clone that joins a team setup after it made checkpoints. Sending is
        idempotent, so checkpoints the shared store holds already are not stored twice.
        """
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO outbox (checkpoint_id, queued_at) "
                "SELECT checkpoint_id, created_at FROM checkpoints"
            )
            return conn.changes()

    def outbox(self, limit: int | None = None) -> list[tuple[str, str, int, str | None]]:
        """Queued checkpoints, oldest first: ``(id, queued_at, attempts, last_error)``."""
        sql = (
            "SELECT o.checkpoint_id, o.queued_at, o.attempts, o.last_error FROM outbox o "
            "JOIN checkpoints c USING (checkpoint_id) ORDER BY c.created_at, o.checkpoint_id"
        )
        with self.reading() as conn:
            rows = conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
            return [(str(a), str(b), int(c), d) for a, b, c, d in rows]

    def outbox_last_failure(self) -> tuple[str, str] | None:
        """``(last_attempt_at, last_error)`` of the latest failed send still queued, or None."""
        rows = self.execute(
            "SELECT last_attempt_at, last_error FROM outbox WHERE last_error IS NOT NULL "
            "ORDER BY last_attempt_at DESC LIMIT 1"
        )
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def outbox_sent(self, checkpoint_id: str, queued_at: str) -> None:
        """Forget a queued checkpoint once sent, unless it was queued again meanwhile."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM outbox WHERE checkpoint_id = ? AND queued_at = ?",
                (checkpoint_id, queued_at),
            )

    def outbox_failed(self, checkpoint_ids: Sequence[str], error: str) -> None:
        """Record a failed attempt to send these checkpoints; they stay queued."""
        now = format_ts(datetime.now(UTC))
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? "
                "WHERE checkpoint_id IN (SELECT value FROM json_each(?))",
                (now, error, json.dumps(list(checkpoint_ids))),
            )

    def checkpoint_rows(
        self, checkpoint_id: str
    ) -> tuple[CheckpointRow, list[tuple[str, int, str, str, str]], list[tuple[str, str, str]]]:
        """What the shared store needs of a checkpoint, read in one snapshot.

        The row; its events as ``(session_id, seq, ts, kind, line)`` in order; its
        links as ``(commit_sha, linked_at, reason)``.
        """
        with self.reading() as conn:
            found = conn.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE checkpoint_id = ?",
                (checkpoint_id,),
            ).fetchall()
            if not found:
                raise StoreError(f"no checkpoint {checkpoint_id!r} in {self.path}")
            events = [
                (str(a), int(b), str(c), str(d), str(e))
                for a, b, c, d, e in conn.execute(
                    "SELECT session_id, seq, ts, kind, line FROM checkpoint_events "
                    "WHERE checkpoint_id = ? ORDER BY id",
                    (checkpoint_id,),
                )
            ]
            links = [
                (str(a), str(b), str(c))
                for a, b, c in conn.execute(
                    "SELECT commit_sha, linked_at, reason FROM commit_links "
                    "WHERE checkpoint_id = ? ORDER BY linked_at, rowid",
                    (checkpoint_id,),
                )
            ]
        return checkpoint_row(found[0]), events, links

    def purge_rows(self, checkpoint_id: str) -> list[tuple[Any, ...]]:
        """The audit records of a checkpoint's purges, in ``purges`` column order."""
        return self.execute(
            "SELECT purge_id, checkpoint_id, purged_at, reason, secret_sha256, replacement, "
            "occurrences, old_hash, new_hash FROM purges WHERE checkpoint_id = ? "
            "ORDER BY purged_at, rowid",
            (checkpoint_id,),
        )
