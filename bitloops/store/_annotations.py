"""The SQLite store's annotations, and where a why-record lives.

Annotations are append-only records beside a checkpoint (hashed, outside its content
hash; :mod:`bitloops.checkpoint._annotations` builds and checks them).
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import apsw

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["AnnotationQueries"]


class AnnotationQueries:
    """Mixin of :class:`~bitloops.store._sqlite.SQLiteStore`: annotations, record lookup."""

    if TYPE_CHECKING:
        path: Path

        def reading(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

        def transaction(self) -> contextlib.AbstractContextManager[apsw.Connection]: ...

    def add_annotation(
        self,
        *,
        annotation_id: str,
        kind: str,
        created_at: str,
        record_id: str | None,
        checkpoint_id: str | None,
        reason: str | None,
        body: str,
        annotation_hash: str,
    ) -> None:
        """Append one annotation (the caller has redacted and hashed it)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO annotations (annotation_id, kind, created_at, record_id, "
                "checkpoint_id, reason, body, annotation_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    annotation_id,
                    kind,
                    created_at,
                    record_id,
                    checkpoint_id,
                    reason,
                    body,
                    annotation_hash,
                ),
            )

    def annotation_rows(
        self,
        *,
        checkpoint_id: str | None = None,
        kind: str | None = None,
        record_id: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Annotations, oldest first: rows of ``(annotation_id, kind, created_at, record_id,
        checkpoint_id, reason, body, annotation_hash)``."""
        where, args = [], []
        for column, value in (
            ("checkpoint_id", checkpoint_id),
            ("kind", kind),
            ("record_id", record_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT annotation_id, kind, created_at, record_id, checkpoint_id, reason, body, "
            "annotation_hash FROM annotations"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at, annotation_id"
        )
        with self.reading() as conn:
            return [tuple(row) for row in conn.execute(sql, args)]

    def record_checkpoint(self, record_id: str) -> tuple[str | None, bool]:
        """Where a why-record lives: ``(checkpoint id, found)``.

        A record is an event (its id is the event id) or a record of a checkpoint's
        summary (extracted ones); ``(None, True)`` is a record still in a draft.
        """
        quoted = json.dumps(record_id)
        with self.reading() as conn:
            for (cid,) in conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE instr(header, ?) LIMIT 1",
                (f'"record_id":{quoted}',),
            ):
                return str(cid), True
            for (cid,) in conn.execute(
                "SELECT checkpoint_id FROM checkpoint_events WHERE instr(line, ?) LIMIT 1",
                (f'"event_id":{quoted}',),
            ):
                return str(cid), True
            for (cid,) in conn.execute(  # an item of the LLM distiller ("llm-...")
                "SELECT checkpoint_id FROM annotations WHERE kind = 'distillation' "
                "AND instr(body, ?) LIMIT 1",
                (f'"record_id":{quoted}',),
            ):
                return str(cid), True
            for _ in conn.execute(
                "SELECT 1 FROM live_events WHERE instr(line, ?) LIMIT 1",
                (f'"event_id":{quoted}',),
            ):
                return None, True
        return None, False
