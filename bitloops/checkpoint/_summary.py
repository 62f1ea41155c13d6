"""The structured summary of a checkpoint, and the protocol for plugging in another one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from bitloops.capture._plans import PLAN_TOOLS, PlanFolder
from bitloops.checkpoint._transcript import Transcript, line_data
from bitloops.model import (
    RECORD_SOURCES,
    Alternative,
    Checkpoint,
    Constraint,
    Decision,
    Event,
    EventKind,
    Evidence,
    FileTouched,
    ModelIdentity,
    Plan,
    SessionInfo,
    Summary,
    Symbol,
)

__all__ = [
    "STATUS_MARKS",
    "STATUS_WORDS",
    "StructuredSummarizer",
    "Summarizer",
    "alternative_text",
    "constraint_text",
    "decision_text",
    "format_duration",
    "plan_heading",
    "plan_lines",
    "render_markdown",
]


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
_NAME_KEY = '"name":"'


def _plan_call(line: str) -> bool:
    """Whether a stored tool_use line may be a plan tool's call, told before it is parsed.

    Most tool calls are not plan calls, and parsing them all would slow promotion down; a
    regular expression over every line cost 30 µs each. Canonical JSON escapes every quote
    inside a string, so ``"name":"`` only starts a ``name`` key's value; a tool named
    ``server.TodoWrite`` or ``mcp__server__TodoWrite`` (an MCP tool) counts too.
    """
    at = line.find(_NAME_KEY)
    while at >= 0:
        start = at + len(_NAME_KEY)
        end = line.find('"', start)
        if end < 0:
            return False
        name = line[start:end]
        if name not in PLAN_TOOLS and ("." in name or "__" in name):  # rarely: split then
            name = name.rsplit(".", 1)[-1].rsplit("__", 1)[-1]
        if name in PLAN_TOOLS and at > 0 and line[at - 1] in "{,":
            return True
        at = line.find(_NAME_KEY, end)
    return False


def _applies_to(payload: Any) -> tuple[str, ...]:
    value = payload.get("applies_to")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return _unique([v for v in value if isinstance(v, str) and v.strip()])


def _source(payload: Any) -> str:
    source = payload.get("source")
    return source if source in RECORD_SOURCES else "agent"


# The kinds of the records an agent states itself: built from the line's data alone.
_RECORDS = frozenset({EventKind.DECISION, EventKind.ALTERNATIVE, EventKind.CONSTRAINT})


class _Row:
    """What the summary reads of a record event, from its line (no :class:`Event`)."""

    __slots__ = ("event_id", "kind", "payload", "seq", "session_id")

    def __init__(self, data: dict[str, Any]) -> None:
        self.event_id: str = data["event_id"]
        self.session_id: str = data["session_id"]
        self.seq: int = data["seq"]
        self.kind: str = data["kind"]
        self.payload: Any = data["payload"]


def _evidence(event: Event | _Row) -> Evidence:
    """``Evidence.of(event)``, of an event or a row."""
    return Evidence(
        event_id=event.event_id, session_id=event.session_id, seq=event.seq, kind=event.kind
    )


def _events_of_interest(
    events: Sequence[Event],
) -> tuple[Iterable[Event | _Row], Iterable[str], dict[str, str] | None]:
    """The events the summary reads (quoted kinds and plan-tool calls), every kind, and
    for a :class:`Transcript` the outcome (its responses are then not among the first)."""
    if isinstance(events, Transcript):
        lines, kinds = events.lines, events.kinds

        def wanted() -> Iterable[Event | _Row]:
            # Through the transcript: it keeps what it parsed when it holds its lines (the
            # extractor reads the same prompts again), and lets each go when it reads
            # them a window at a time (a big draft, whose events would not fit). Records
            # only the summary reads are rows of their line's data, not events.
            for index, kind in enumerate(kinds):
                if kind in _RECORDS:
                    yield _Row(line_data(lines[index]))
                elif (kind in _QUOTED and kind != EventKind.RESPONSE) or (
                    kind == EventKind.TOOL_USE and _plan_call(lines[index])
                ):
                    yield events[index]

        return wanted(), kinds, _outcome(events)
    return (
        (e for e in events if e.kind in _QUOTED or e.kind == EventKind.TOOL_USE),
        (e.kind for e in events),
        None,
    )


def _outcome(events: Transcript) -> dict[str, str]:
    """Each session's last response with text, sessions in the order of their first.

    Only the first and the last of each session are read, not every response.
    """
    ids = events.session_ids
    by_session: dict[str, list[int]] = {}
    for index, kind in enumerate(events.kinds):
        if kind == EventKind.RESPONSE:
            by_session.setdefault(ids[index], []).append(index)
    first: dict[str, int] = {}
    last: dict[str, str] = {}
    for session, places in by_session.items():
        for index in places:
            if _str(events[index].payload, "text") is not None:
                first[session] = index
                break
        else:
            continue
        for index in reversed(places):
            text = _str(events[index].payload, "text")
            if text is not None:
                last[session] = text
                break
    return {session: last[session] for session in sorted(first, key=first.__getitem__)}


class StructuredSummarizer:
    """The built-in summariser: deterministic, offline, no dependencies.

    What the agent recorded (decisions, alternatives, constraints, plans) is kept with
    source ``agent``; plan-tool calls become the latest state of each plan (source
    ``plan-tool``, see :mod:`bitloops.capture._plans`). With ``extract`` (the default) the
    decisions, alternatives and constraints stated in the prompts, reasoning and responses
    are added after them (source ``extracted``, see :mod:`bitloops.checkpoint._extract`), less those
    whose text the agent recorded itself.
    """

    def __init__(self, *, extract: bool = True) -> None:
        self.extract = extract

    def summarize(
        self,
        *,
        events: Sequence[Event],
        sessions: Sequence[SessionInfo],
        files: Sequence[FileTouched],
        symbols: Sequence[Symbol],
        models: Sequence[ModelIdentity],
    ) -> Summary:
        """Collect intent, outcome, decisions, alternatives, constraints, plans and activity."""
        intent: list[str] = []
        constraints: dict[str, Constraint] = {}
        decisions: list[Decision] = []
        alternatives: list[Alternative] = []
        folder = PlanFolder()
        interesting, kinds, outcome = _events_of_interest(events)
        last_response: dict[str, str] = {} if outcome is None else outcome
        for event in interesting:
            kind, payload = event.kind, event.payload
            if kind in (EventKind.TOOL_USE, EventKind.PLAN):
                if isinstance(event, Event):  # always: rows are records only
                    folder.feed(event)
                continue
            text = _str(payload, "text")
            if text is None:
                continue
            if kind == EventKind.PROMPT:
                intent.append(text)
            elif kind == EventKind.RESPONSE:
                last_response[event.session_id] = text
            elif kind == EventKind.DECISION:
                decisions.append(
                    Decision(
                        text=text,
                        rationale=_str(payload, "rationale"),
                        source=_source(payload),
                        applies_to=_applies_to(payload),
                        evidence=_evidence(event),  # its own text: no excerpt
                        record_id=event.event_id,
                    )
                )
            elif kind == EventKind.ALTERNATIVE:
                alternatives.append(
                    Alternative(
                        text=text,
                        reason=_str(payload, "reason"),
                        source=_source(payload),
                        applies_to=_applies_to(payload),
                        evidence=_evidence(event),  # its own text: no excerpt
                        record_id=event.event_id,
                    )
                )
            else:  # a constraint: the first statement of each is kept
                stated_by = _str(payload, "stated_by")
                constraints.setdefault(
                    text,
                    Constraint(
                        text=text,
                        stated_by=stated_by if stated_by in _STATED_BY else None,
                        source=_source(payload),
                        applies_to=_applies_to(payload),
                        evidence=_evidence(event),  # its own text: no excerpt
                        record_id=event.event_id,
                    ),
                )
        if self.extract:
            from bitloops.checkpoint._extract import extract, normalise

            found = extract(
                events,
                files=[f.path for f in files],
                symbols=[f"{s.path}::{s.name}" for s in symbols],
            )
            known = {normalise(d.text) for d in decisions}
            decisions += [d for d in found.decisions if normalise(d.text) not in known]
            known = {normalise(a.text) for a in alternatives}
            alternatives += [a for a in found.alternatives if normalise(a.text) not in known]
            known = {normalise(c.text) for c in constraints.values()}
            for c in found.constraints:
                if normalise(c.text) not in known:
                    constraints.setdefault(c.text, c)
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
            constraints=tuple(constraints.values()),
            plans=folder.plans(),
            files=tuple(f.path for f in files),
            symbols=tuple(f"{s.path}::{s.name}" for s in symbols),
            agents=tuple(sorted({m.agent for m in models} | {s.agent for s in sessions})),
            models=tuple(sorted({m.model for m in models if m.model})),
            started_at=started,
            ended_at=ended,
            duration_seconds=round(max(duration, 0.0), 6),
            event_counts=dict(sorted(Counter(kinds).items())),
        )


_STATED_BY = frozenset({"user", "repository", "agent"})


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


def _source_note(record: Decision | Alternative | Constraint) -> str:
    """`` _(agent)_`` or `` _(extracted, 0.85, reasoning: "…")_``: where a record came from."""
    if record.source in ("agent", "plan-tool"):
        return f" _({record.source})_"
    parts = [record.source, f"{record.confidence:.2f}"]
    ev = record.evidence
    if ev is not None and ev.excerpt:
        parts.append(f"{ev.kind or 'event'}: “{_one_line(ev.excerpt, 160)}”")
    return " _(" + ", ".join(parts) + ")_"


def _record_line(
    record: Decision | Alternative | Constraint, text: str, retracted: Mapping[str, str]
) -> str:
    if record.applies_to:
        text += " (" + ", ".join(f"`{a}`" for a in record.applies_to) + ")"
    reason = retracted.get(record.record_id) if record.record_id else None
    if reason is not None:
        return f"~~{_one_line(text)}~~ — retracted: {_one_line(reason)}"
    return text + _source_note(record)


def decision_text(d: Decision) -> str:
    """A decision as one line of text: what, and why."""
    return d.text + (f" — because {d.rationale}" if d.rationale else "")


def alternative_text(a: Alternative) -> str:
    """A rejected alternative as one line of text: what, and why not."""
    return a.text + (f" — rejected: {a.reason}" if a.reason else "")


def constraint_text(c: Constraint) -> str:
    """A constraint as one line of text, with who stated it."""
    return c.text + (f" — stated by the {c.stated_by}" if c.stated_by else "")


#: How a plan item's status reads, in a checklist and in words.
STATUS_MARKS = {"completed": "x", "in_progress": "~", "pending": " ", "cancelled": "-"}
STATUS_WORDS = {
    "completed": "done",
    "in_progress": "in progress",
    "pending": "pending",
    "cancelled": "cancelled",
}


def plan_heading(plan: Plan) -> str:
    """``TodoWrite, subagent a1b2, 3/4 done, 14 updates``: what a plan is and how far it got."""
    parts = [plan.tool if plan.source == "plan-tool" else f"recorded by the {plan.source}"]
    if plan.agent_id:
        parts.append(f"subagent {plan.agent_id}")
    if plan.items:
        parts.append(f"{plan.done}/{len(plan.items)} done")
    if plan.updates > 1:
        parts.append(f"{plan.updates} updates")
    return ", ".join(parts)


def plan_lines(plan: Plan) -> list[str]:
    """A plan as markdown: its prose (when it has some) and a checklist of its items."""
    out: list[str] = []
    if plan.text and not plan.items:
        # Quoted: the agent's own markdown (headings and all) must not end our sections.
        out += [f"> {line}".rstrip() for line in plan.text.strip().splitlines()]
    elif plan.text and plan.tool != "ExitPlanMode":
        out += [_one_line(plan.text)]
    for item in plan.items:
        word = "" if item.status in ("completed", "pending") else f" ({STATUS_WORDS[item.status]})"
        out.append(f"- [{STATUS_MARKS.get(item.status, ' ')}] {_one_line(item.text)}{word}")
    return out


def render_markdown(checkpoint: Checkpoint, retracted: Mapping[str, str] | None = None) -> str:
    """``summary.md``: the checkpoint's summary as a reviewer reads it.

    ``retracted`` maps the ids of retracted records to the reason; they are struck out.
    """
    gone = retracted or {}
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
    out += _bullets([_record_line(d, decision_text(d), gone) for d in s.decisions])
    out += ["## Alternatives rejected", ""]
    out += _bullets([_record_line(a, alternative_text(a), gone) for a in s.alternatives])
    out += ["## Constraints followed", ""]
    out += _bullets([_record_line(c, constraint_text(c), gone) for c in s.constraints])
    if s.plans:
        out += ["## Plan", ""]
        for plan in s.plans:
            reason = gone.get(plan.record_id) if plan.record_id else None
            heading = plan_heading(plan) + (f" — retracted: {reason}" if reason else "")
            out += [f"### {heading}", "", *plan_lines(plan), ""]
    out += ["## Files touched", "", *_bullets([f"`{f}`" for f in s.files])]
    # A note of what the size bounds left out (bitloops.checkpoint._symbols.SKIPPED) is prose.
    symbols = [x if x.startswith("skipped: ") else f"`{x}`" for x in s.symbols]
    out += ["## Symbols touched", "", *_bullets(symbols)]
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
