"""Append-only annotations: retractions of wrong why-records, the LLM distiller's results.

A checkpoint is immutable and its content hash covers its records, so a wrong record is
corrected by an annotation beside it, never by an edit: ``retraction`` names the record
(``record_id``) and says why; ``distillation`` holds a distiller's result for a
checkpoint. Every reader honours retractions (:func:`retracted`). Each annotation carries
the SHA-256 of its canonical form; ``verify`` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bitloops._codec import canonical_dumps, format_ts, new_id, parse_ts
from bitloops.errors import InvalidPayload, RecordNotFound
from bitloops.model import Annotation

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints
    from bitloops.store._sqlite import SQLiteStore

__all__ = [
    "ANNOTATION_KINDS",
    "add",
    "annotation_hash",
    "find",
    "retract",
    "retracted",
    "verify_rows",
]

#: The kinds of annotation there are.
ANNOTATION_KINDS = ("retraction", "distillation")
_MAX_REASON = 2000


def annotation_hash(
    *,
    annotation_id: str,
    kind: str,
    created_at: str,
    record_id: str | None,
    checkpoint_id: str | None,
    reason: str | None,
    body: str,
) -> str:
    """SHA-256 (hex) of an annotation's canonical form: every column but the hash."""
    data = {
        "annotation_id": annotation_id,
        "body": json.loads(body),
        "checkpoint_id": checkpoint_id,
        "created_at": created_at,
        "kind": kind,
        "reason": reason,
        "record_id": record_id,
    }
    return hashlib.sha256(canonical_dumps(data).encode()).hexdigest()


def _from_row(row: tuple[Any, ...]) -> Annotation:
    aid, kind, created, record_id, cid, reason, body, digest = row
    return Annotation(
        annotation_id=aid,
        kind=kind,
        created_at=parse_ts(created),
        record_id=record_id,
        checkpoint_id=cid,
        reason=reason,
        body=json.loads(body),
        annotation_hash=digest,
    )


def add(
    repo: Checkpoints,
    kind: str,
    *,
    record_id: str | None = None,
    checkpoint_id: str | None = None,
    reason: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> Annotation:
    """Append an annotation, redacted before it is written; the annotation as stored."""
    if kind not in ANNOTATION_KINDS:
        raise InvalidPayload(f"an annotation is one of {', '.join(ANNOTATION_KINDS)}, not {kind!r}")
    if reason is not None:
        reason = repo.redactor.redact(reason)
    text = repo.redactor.redact_json(canonical_dumps(dict(body or {})))
    aid, created = new_id(), format_ts(datetime.now(UTC))
    digest = annotation_hash(
        annotation_id=aid,
        kind=kind,
        created_at=created,
        record_id=record_id,
        checkpoint_id=checkpoint_id,
        reason=reason,
        body=text,
    )
    repo.store.add_annotation(
        annotation_id=aid,
        kind=kind,
        created_at=created,
        record_id=record_id,
        checkpoint_id=checkpoint_id,
        reason=reason,
        body=text,
        annotation_hash=digest,
    )
    return _from_row((aid, kind, created, record_id, checkpoint_id, reason, text, digest))


def retract(repo: Checkpoints, record_id: str, *, because: str, by: str = "user") -> Annotation:
    """Mark the why-record ``record_id`` as wrong, saying why (see :meth:`Repository.retract`)."""
    if not isinstance(record_id, str) or not record_id.strip():
        raise InvalidPayload("name the record to retract by its id (explain --json shows them)")
    if not isinstance(because, str) or not because.strip():
        raise InvalidPayload("say why the record is wrong: --because WHY")
    if len(because) > _MAX_REASON:
        raise InvalidPayload(f"the reason is over {_MAX_REASON} characters; say it shorter")
    if by not in ("user", "agent"):
        raise InvalidPayload(f"a retraction is made by the user or the agent, not {by!r}")
    record_id = record_id.strip()
    checkpoint_id, found = repo.store.record_checkpoint(record_id)
    if not found:
        raise RecordNotFound(
            f"no why-record {record_id!r} in this clone's drafts or checkpoints; "
            "`bitloops explain --json` lists each record's record_id"
        )
    return add(
        repo,
        "retraction",
        record_id=record_id,
        checkpoint_id=checkpoint_id,
        reason=because.strip(),
        body={"by": by},
    )


def find(
    store: SQLiteStore,
    *,
    checkpoint_id: str | None = None,
    kind: str | None = None,
    record_id: str | None = None,
) -> list[Annotation]:
    """The annotations that match, oldest first."""
    rows = store.annotation_rows(checkpoint_id=checkpoint_id, kind=kind, record_id=record_id)
    return [_from_row(row) for row in rows]


def retracted(store: SQLiteStore) -> dict[str, str]:
    """Record id -> the reason it was retracted (the latest retraction of each)."""
    return {
        str(row[3]): str(row[5] or "")
        for row in store.annotation_rows(kind="retraction")
        if row[3] is not None
    }


def verify_rows(store: SQLiteStore) -> list[tuple[str, str]]:
    """``(annotation_id, problem)`` for each annotation whose hash does not match."""
    problems = []
    for row in store.annotation_rows():
        aid, kind, created, record_id, cid, reason, body, digest = row
        try:
            actual = annotation_hash(
                annotation_id=aid,
                kind=kind,
                created_at=created,
                record_id=record_id,
                checkpoint_id=cid,
                reason=reason,
                body=body,
            )
        except ValueError:
            problems.append((aid, "its body is not valid JSON"))
            continue
        if actual != digest:
            problems.append((aid, "its content does not match its hash"))
    return problems
