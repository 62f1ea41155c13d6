"""The JSON several commands print: sessions, events and checkpoints, from the converter.

Values come from :func:`bitloops._codec.unstructure`, the converter that writes
``session.json``, so timestamps, records and evidence read the same everywhere; each
shape here only chooses which attributes appear and in which order (the order of
docs/cli.md and of the JSON Schemas in ``bitloops/schemas/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitloops.model import Checkpoint, Event, SessionInfo

__all__ = ["checkpoint_json", "event_json", "session_json", "shaped"]

_SESSION_KEYS = (
    "session_id",
    "agent",
    "model",
    "status",
    "started_at",
    "last_event_at",
    "ended_at",
    "branch",
    "event_count",
)
_EVENT_KEYS = (
    "seq",
    "ts",
    "session_id",
    "event_id",
    "agent",
    "model",
    "kind",
    "payload",
    "artefacts",
)
_CHECKPOINT_KEYS = (
    "checkpoint_id",
    "commit_sha",
    "commits",
    "created_at",
    "branch",
    "strategy",
    "content_hash",
    "parent_checkpoint_id",
    "parent_hash",
)
_RECORD_KINDS = ("decisions", "alternatives", "constraints", "plans")
_SUMMARY_KEYS = (
    "intent",
    "outcome",
    *_RECORD_KINDS,
    "agents",
    "models",
    "started_at",
    "ended_at",
    "duration_seconds",
    "event_counts",
)


def shaped(obj: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The attributes ``keys`` of ``obj``, converted, in that order."""
    from bitloops._codec import unstructure

    return {key: unstructure(getattr(obj, key)) for key in keys}


def session_json(info: SessionInfo) -> dict[str, Any]:
    """One session as ``status``, ``explain`` and ``resume`` print it."""
    return shaped(info, _SESSION_KEYS)


def event_json(event: Event) -> dict[str, Any]:
    """One event as ``explain --full`` and ``search`` print it."""
    return shaped(event, _EVENT_KEYS)


def checkpoint_json(
    cp: Checkpoint, *, events: bool = False, retracted: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One checkpoint as ``bitloops explain --json`` prints it (``events`` for --full).

    ``retracted`` (record id -> reason) adds ``retractions``: those of this checkpoint's
    records that were retracted, and why.
    """
    from bitloops._codec import unstructure

    why = unstructure(cp.summary)
    data = shaped(cp, _CHECKPOINT_KEYS)
    # The summary without its files and symbols (the checkpoint's own lists say more),
    # its prose first; the why-records as session.json has them.
    data["summary"] = {"text": why["text"], **{key: why[key] for key in _SUMMARY_KEYS}}
    data.update(shaped(cp, ("files", "symbols", "models")))
    data["sessions"] = [session_json(info) for info in cp.sessions]
    data["event_count"] = len(cp.events)
    gone = retracted or {}
    ids = {r["record_id"] for key in _RECORD_KINDS for r in why[key] if r.get("record_id")}
    data["retractions"] = {rid: gone[rid] for rid in sorted(ids & gone.keys())}
    if events:
        data["events"] = [event_json(e) for e in cp.events]
    return data
