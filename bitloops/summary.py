"""The structured summary of a checkpoint, and the protocol for plugging in another one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from .model import (
    Alternative,
    Checkpoint,
    Decision,
    Event,
    EventKind,
    FileTouched,
    ModelIdentity,
    SessionInfo,
    Summary,
    Symbol,
)
from .transcript import Transcript

__all__ = ["StructuredSummarizer", "Summarizer", "format_duration", "render_markdown"]


@runtime_checkable
class Summarizer(Protocol):
    """**Protocol:** turns a checkpoint's material into a :class:`~bitloops.Summary`.

    Inheriting from this class is optional; any object with a matching ``summarize``
    works. An LLM-backed summariser can start from :class:`StructuredSummarizer`'s
    result and add prose in ``Summary.text`` (``attrs.evolve``). It runs outside the
    database's write lock, before the checkpoint is stored.
    """

    def summarize(
        self,
        *,
        events: Sequence[Event],
        sessions: Sequence[SessionInfo],
        files: Sequence[FileTouched],
        symbols: Sequence[Symbol],
        models: Sequence[ModelIdentity],
    ) -> Summary:
        """Summarise one checkpoint's events (``events`` may be a lazy Transcript)."""
        ...


def _str(payload: Any, key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# The kinds whose text the summary quotes; the rest are only counted.
_QUOTED = frozenset(
    {
        EventKind.PROMPT,
        EventKind.RESPONSE,
        EventKind.DECISION,
        EventKind.ALTERNATIVE,
        EventKind.CONSTRAINT,
        EventKind.PLAN,
    }
)


class StructuredSummarizer:
    """The built-in summariser: deterministic, offline, no dependencies."""

    def summarize(
        self,
        *,
        events: Sequence[Event],
        sessions: Sequence[SessionInfo],
        files: Sequence[FileTouched],
        symbols: Sequence[Symbol],
        models: Sequence[ModelIdentity],
    ) -> Summary:
        """Collect intent, outcome, decisions, alternatives, constraints and activity."""
        intent: list[str] = []
        plans: list[str] = []
        constraints: list[str] = []
        decisions: list[Decision] = []
        alternatives: list[Alternative] = []
        last_response: dict[str, str] = {}
        if isinstance(events, Transcript):
            quoted: Iterable[Event] = events.of_kinds(_QUOTED)
            kinds: Iterable[str] = events.kinds
        else:
            quoted = (e for e in events if e.kind in _QUOTED)
            kinds = (e.kind for e in events)
        for event in quoted:
            kind, payload = event.kind, event.payload
            text = _str(payload, "text")
            if text is None:
                continue
            if kind == EventKind.PROMPT:
                intent.append(text)
            elif kind == EventKind.RESPONSE:
                last_response[event.session_id] = text
            elif kind == EventKind.DECISION:
                decisions.append(Decision(text=text, rationale=_str(payload, "rationale")))
            elif kind == EventKind.ALTERNATIVE:
                alternatives.append(Alternative(text=text, reason=_str(payload, "reason")))
            elif kind == EventKind.CONSTRAINT:
                constraints.append(text)
            else:
                plans.append(text)
        starts = [s.started_at for s in sessions]
        if events:
            starts.append(events[0].ts)
        started = min(starts) if starts else None
        ended = events[-1].ts if events else None
        duration = (ended - started).total_seconds() if started and ended else 0.0
        return Summary(
            intent=tuple(intent),
            outcome=tuple(last_response.values()),
            decisions=tuple(decisions),
            alternatives=tuple(alternatives),
            constraints=_unique(constraints),
            plans=tuple(plans),
            files=tuple(f.path for f in files),
            symbols=tuple(f"{s.path}::{s.name}" for s in symbols),
            agents=tuple(sorted({m.agent for m in models} | {s.agent for s in sessions})),
            models=tuple(sorted({m.model for m in models if m.model})),
            started_at=started,
            ended_at=ended,
            duration_seconds=round(max(duration, 0.0), 6),
            event_counts=dict(sorted(Counter(kinds).items())),
        )


def _bullets(lines: Sequence[str], empty: str = "_none recorded_") -> list[str]:
    if not lines:
        return [empty, ""]
    return [*(f"- {_one_line(line)}" for line in lines), ""]


def _one_line(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_duration(seconds: float) -> str:
    """A duration as people read it: ``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def render_markdown(checkpoint: Checkpoint) -> str:
    """``summary.md``: the checkpoint's summary as a reviewer reads it."""
    s = checkpoint.summary
    out = [
        f"# Why {checkpoint.commit_sha[:12]}",
        "",
        f"- Commit: `{checkpoint.commit_sha}`",
        f"- Checkpoint: `{checkpoint.checkpoint_id}`",
        f"- Created: {checkpoint.created_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if checkpoint.branch:
        out.append(f"- Branch: `{checkpoint.branch}`")
    out += [f"- Content hash: `{checkpoint.content_hash}`", ""]
    if s.text:
        out += ["## Summary", "", s.text.strip(), ""]
    out += ["## What was asked", "", *_bullets(s.intent)]
    out += ["## Outcome", "", *_bullets(s.outcome)]
    out += ["## Decisions", ""]
    out += _bullets(
        [d.text + (f" — because {d.rationale}" if d.rationale else "") for d in s.decisions]
    )
    out += ["## Alternatives rejected", ""]
    out += _bullets(
        [a.text + (f" — rejected: {a.reason}" if a.reason else "") for a in s.alternatives]
    )
    out += ["## Constraints followed", "", *_bullets(s.constraints)]
    if s.plans:
        out += ["## Plan", "", *_bullets(s.plans)]
    out += ["## Files touched", "", *_bullets([f"`{f}`" for f in s.files])]
    out += ["## Symbols touched", "", *_bullets([f"`{x}`" for x in s.symbols])]
    agents = [
        f"{info.agent} ({info.model or 'model unknown'}): "
        f"{format_duration(info.duration.total_seconds())}, {info.event_count} events"
        for info in checkpoint.sessions
    ]
    out += ["## Agents and models", "", *_bullets(agents)]
    counts = ", ".join(f"{k} {v}" for k, v in s.event_counts.items())
    out += [
        "## Activity",
        "",
        f"- Duration: {format_duration(s.duration_seconds)}",
        f"- Events: {sum(s.event_counts.values())} ({counts})" if counts else "- Events: 0",
        "",
    ]
    return "\n".join(out)
