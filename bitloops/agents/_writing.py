"""Rebuilding an agent's transcript from recorded events: what every writer shares.

Each agent module that can give a session back to its agent (``resume``) has a
:class:`~bitloops.agents._record.TranscriptWriter` in its record, which writes the agent's
own format; the pieces here are the same for all of them: the conversation's events
with each tool call's output merged in, the token usage notes, the agents' time stamps.
"""

from __future__ import annotations

import json

# Not from typing: the agent modules import this one, and the hooks import them.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

    from bitloops.model import Event

__all__ = ["CONVERSATION", "calls", "output_text", "stamp", "text", "usage"]

#: The kinds of event a rebuilt transcript holds.
CONVERSATION = frozenset({"prompt", "response", "reasoning", "tool_use", "tool_result"})


def stamp(ts: datetime) -> str:
    """A time as the agents write it: ISO 8601 UTC with milliseconds and a Z."""
    from datetime import UTC

    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def text(event: Event) -> str:
    """The event's ``text``, or an empty string."""
    value = event.payload.get("text")
    return value if isinstance(value, str) else ""


def output_text(output: Any) -> str:
    """A tool's output as the text agents keep: itself, or its JSON."""
    if output is None:
        return ""
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


def calls(events: list[Event]) -> list[tuple[Event, dict[str, Any]]]:
    """The conversation events, each tool call with its output merged in.

    A ``tool_result`` naming an earlier ``tool_use`` completes it; one naming none (a
    failure recorded alone) is a call of its own.
    """
    out: list[tuple[Event, dict[str, Any]]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.kind not in CONVERSATION:
            continue
        payload = dict(event.payload)
        call_id = payload.get("tool_use_id")
        if event.kind == "tool_result" and isinstance(call_id, str) and call_id in by_id:
            by_id[call_id]["output"] = payload.get("output")
            if payload.get("is_error") is True:
                by_id[call_id]["is_error"] = True
            continue
        if event.kind in ("tool_use", "tool_result"):
            if not isinstance(payload.get("name"), str):
                continue  # an output without its call: nothing to show the agent
            if isinstance(call_id, str):
                by_id[call_id] = payload
        out.append((event, payload))
    return out


def usage(events: list[Event]) -> dict[str, dict[str, Any]]:
    """message id -> the token usage note recorded for it."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        mid = event.payload.get("message_id")
        if event.kind == "note" and event.payload.get("text") == "token usage" and mid:
            found[str(mid)] = dict(event.payload)
    return found
