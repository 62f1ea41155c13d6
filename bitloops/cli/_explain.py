"""``bitloops explain``: the reasoning behind a commit, and the text view of a checkpoint.

:func:`explain_lines` is also what ``explain PATH``, ``explain BASE..HEAD`` and the
``rewind`` browser show of a checkpoint.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bitloops.cli._json import checkpoint_json
from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, command
from bitloops.cli._style import (
    LABEL,
    PLAIN,
    Style,
    clip,
    compact,
    date,
    duration,
    flat,
    format_age,
    label,
    pack,
    plural,
    wrap,
)
from bitloops.errors import CheckpointNotFound, UnknownRef

if TYPE_CHECKING:
    from bitloops.model import Alternative, Checkpoint, Constraint, Decision, Event
    from bitloops.repository import Repository

__all__ = ["checkpoint_agents", "event_line", "explain_lines", "find_checkpoints", "headline"]


def headline(cp: Checkpoint) -> str:
    """The first line of what was asked (or of the summary prose)."""
    for text in (*cp.summary.intent, cp.summary.text or ""):
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return "(no prompt recorded)"


def checkpoint_agents(cp: Checkpoint) -> list[str]:
    """The agents of a checkpoint: those its summary names, else those of its sessions."""
    return list(cp.summary.agents) or sorted({s.agent for s in cp.sessions})


def _event_text(event: Event) -> str:
    """A one-line rendering of an event's payload."""
    p = event.payload
    text = p.get("text")
    kind = event.kind
    if kind == "decision" and isinstance(text, str):
        return text + (f" (because {p['rationale']})" if p.get("rationale") else "")
    if kind == "alternative" and isinstance(text, str):
        return text + (f" (rejected: {p['reason']})" if p.get("reason") else "")
    if isinstance(text, str):
        return text
    if kind == "tool_use":
        out = f"{p.get('name', '?')} {compact(p.get('input'))}"
        return out + (f" -> {compact(p['output'])}" if "output" in p else "")
    if kind == "tool_result":
        mark = " (error)" if p.get("is_error") else ""
        return f"{p.get('tool_use_id', '?')}{mark} -> {compact(p.get('output'))}"
    if kind == "file_change":
        path = p.get("path", "?")
        if p.get("old_path"):
            path = f"{p['old_path']} -> {path}"
        return f"{p.get('change', '?')} {path}"
    if kind == "error" and isinstance(p.get("message"), str):
        return str(p["message"])
    if kind == "session_start":
        base = p.get("base_commit")
        return f"branch {p.get('branch') or '(detached)'}, at {base[:12] if base else '(none)'}"
    if kind == "session_end":
        return str(p.get("reason") or "")
    return compact(dict(p)) if p else ""


def event_line(
    event: Event,
    width: int,
    *,
    agent_width: int = 0,
    kind_width: int = 11,
    with_date: bool = False,
) -> tuple[str, str]:
    """One transcript line as ``(prefix, text)``: time, agent and kind, then the payload.

    The two parts together fit in ``width`` columns; the caller styles the prefix.
    """
    ts = event.ts.astimezone(UTC)
    when = f"{ts:%Y-%m-%d %H:%M:%S}" if with_date else f"{ts:%H:%M:%S}"
    prefix = f"  {when}  {event.agent:<{agent_width}}  {event.kind:<{kind_width}}  "
    if len(prefix) >= width:
        return clip(prefix, width), ""
    return prefix, clip(flat(_event_text(event)), width - len(prefix))


def _transcript_lines(events: Sequence[Event], width: int, style: Style) -> list[str]:
    if not events:
        return [style.bold("Transcript"), style.dim("  no events")]
    days = {e.ts.astimezone(UTC).date() for e in events}
    one_day = len(days) == 1
    heading = f"Transcript ({plural(len(events), 'event')}"
    heading += f", {next(iter(days)):%Y-%m-%d} UTC)" if one_day else ", UTC)"
    agent_width = max(len(e.agent) for e in events)
    kind_width = max(len(kind) for kind in {e.kind for e in events})
    out = [style.bold(heading)]
    for event in events:
        prefix, text = event_line(
            event, width, agent_width=agent_width, kind_width=kind_width, with_date=not one_day
        )
        out.append(style.dim(prefix) + text if text else style.dim(prefix.rstrip()))
    return out


_CHANGE_LETTERS = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}


def _file_mark(in_commit: bool, by_agent: bool) -> str:
    if in_commit and by_agent:
        return "in commit (agent)"
    return "in commit" if in_commit else "agent only"


def explain_lines(
    cp: Checkpoint,
    *,
    width: int = 80,
    full: bool = False,
    style: Style = PLAIN,
    now: datetime | None = None,
    retracted: Mapping[str, str] | None = None,
    private: bool = False,
) -> list[str]:
    """The ``bitloops explain`` view of one checkpoint, one string per line.

    ``width`` is the terminal width text is wrapped (and transcript lines cut) to;
    ``full`` adds the transcript; ``retracted`` maps retracted record ids to the reason;
    ``private`` says the checkpoint is kept in this clone.
    """
    from bitloops.checkpoint._summary import plan_heading, plan_lines

    s = cp.summary
    none = style.dim("  none recorded")
    out = [
        label("Commit", style.cyan(cp.commit_sha[:12]) + (f" on {cp.branch}" if cp.branch else "")),
        label("Checkpoint", cp.checkpoint_id),
        label("Created", f"{date(cp.created_at)} ({format_age(cp.created_at, now)})"),
    ]
    if private:
        out.append(label("Private", style.yellow("kept in this clone (never shared)")))
    also = [sha[:12] for sha in cp.commits if sha != cp.commit_sha]
    if also:
        out.append(label("Also linked", ", ".join(also)))
    agents = [
        f"{info.agent} ({info.model or 'model unknown'}): "
        f"{duration(info.duration.total_seconds())}, {plural(info.event_count, 'event')}"
        for info in cp.sessions
    ]
    seen = {(info.agent, info.model) for info in cp.sessions}
    agents += [
        f"{m.agent} ({m.model or 'model unknown'})"
        for m in cp.models
        if (m.agent, m.model) not in seen
    ]
    for index, text in enumerate(agents or ["none recorded"]):
        out.append(label("Agents" if index == 0 else "", text))
    out.append(label("Duration", duration(s.duration_seconds)))
    counts = [f"{kind} {n}" for kind, n in s.event_counts.items()]
    total = str(sum(s.event_counts.values()))
    if counts:
        counts[0], counts[-1] = f"{total} ({counts[0]}", counts[-1] + ")"
    out += pack(counts or [total], width, label("Events", ""), " " * LABEL)

    def section(title: str, items: Sequence[str], detail: Sequence[str | None] = ()) -> None:
        out.extend(["", style.bold(title)])
        if not items:
            out.append(none)
        for index, item in enumerate(items):
            out.extend(wrap(item, width, "  - ", "    "))
            why = detail[index] if index < len(detail) else None
            if why:
                out.extend(wrap(why, width, "    ", "    "))

    if s.text:
        out.extend(["", style.bold("Summary"), *wrap(s.text.strip(), width, "  ", "  ")])
    section("What was asked", s.intent)
    section("Outcome", s.outcome)
    gone = retracted or {}

    def records(title: str, found: Sequence[Decision | Alternative | Constraint]) -> None:
        items, details = [], []
        for record in found:
            reason = gone.get(record.record_id) if record.record_id else None
            items.append(("[retracted] " if reason else "") + record.text)
            details.append(_record_detail(record, reason))
        section(title, items, details)

    records("Decisions", s.decisions)
    records("Alternatives rejected", s.alternatives)
    records("Constraints followed", s.constraints)
    out.extend(["", style.bold("Plan")])
    if not s.plans:
        out.append(none)
    for plan in s.plans:
        reason = gone.get(plan.record_id) if plan.record_id else None
        heading = plan_heading(plan) + (f"; retracted: {reason}" if reason else "")
        out.extend(wrap(heading, width, "  ", "    "))
        for line in plan_lines(plan):
            out.extend(wrap(line, width, "    ", "      "))
    out.extend(["", style.bold("Files")])
    if cp.files:
        names = [f"{f.old_path} -> {f.path}" if f.old_path else f.path for f in cp.files]
        column = min(max(len(n) for n in names), max(20, width // 2))
        for f, name in zip(cp.files, names, strict=True):
            letter = _CHANGE_LETTERS.get(f.change, "?")
            mark = _file_mark(f.in_commit, f.by_agent)
            out.append(f"  {letter} {name:<{column}}  {style.dim(mark)}")
    elif s.files:
        out.extend(f"  {path}" for path in s.files)
    else:
        out.append(none)
    out.extend(["", style.bold("Symbols")])
    if cp.symbols:
        out.extend(
            f"  {sym.path}::{sym.name} {style.dim('(' + sym.kind + ')')}" for sym in cp.symbols
        )
    elif s.symbols:
        out.extend(f"  {name}" for name in s.symbols)
    else:
        out.append(none)
    if full:
        out.extend(["", *_transcript_lines(cp.events, width, style)])
    return out


def _record_detail(record: Decision | Alternative | Constraint, retracted: str | None) -> str:
    """The second line of a why-record: why, where it applies, and where it came from."""
    why = getattr(record, "rationale", None) or getattr(record, "reason", None)
    parts = []
    if why:
        parts.append(("because " if hasattr(record, "rationale") else "rejected: ") + why)
    stated_by = getattr(record, "stated_by", None)
    if stated_by:
        parts.append(f"stated by the {stated_by}")
    if record.applies_to:
        parts.append("applies to " + ", ".join(record.applies_to))
    if retracted is not None:
        parts.append(f"retracted: {retracted}")
    source = record.source
    if source not in ("agent", "plan-tool"):
        source += f" {record.confidence:.2f}"
    ev = record.evidence
    if ev is not None and ev.excerpt and record.source != "agent":
        source += f", from {ev.kind or 'an event'} #{ev.seq}: “{clip(flat(ev.excerpt), 120)}”"
    parts.append(f"[{source}]")
    return "; ".join(parts)


def find_checkpoints(repo: Repository, ref: str) -> list[Checkpoint]:
    """Every checkpoint linked to the commit ``ref`` names, or the one whose id it is."""
    try:
        return repo.checkpoints(commit=ref)
    except UnknownRef:
        # Not a commit: a checkpoint id, or UnknownRef again with a message naming both.
        return [repo.checkpoint(ref)]


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        # REMAINDER keeps `--`, so that refs and paths are told apart as git does
        nargs=argparse.REMAINDER,
        metavar="REF",
        help="a commit (SHA, branch, tag, HEAD~2...), a checkpoint id or cp: prefix, "
        "BASE..HEAD, PATH or PATH:LINE; paths after -- when ambiguous (default: HEAD)",
    )
    parser.add_argument(
        "--full", action="store_true", help="add the transcript, one line per event"
    )


@command(
    "explain",
    add_arguments=_explain_arguments,
    description="Show what was asked, the outcome, the decisions and their rationale, the "
    "alternatives rejected, constraints, plan, files (in the commit or only reported by "
    "the agent), symbols, agents and models, duration and event counts of every checkpoint "
    "linked to REF, newest first. REF may also be a checkpoint id or cp: prefix, a range "
    "BASE..HEAD (every checkpoint of it), a PATH (the checkpoints that touched it, with the "
    "records that apply) or PATH:LINE (the checkpoint of the commit that last changed the "
    "line); paths go after -- when a name is both.",
)
def _explain(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops._commit_flow import finish_pending
    from bitloops.cli._context import explain_other

    finish_pending(ctx.cwd)  # a commit just made may still be being promoted (its worker)
    other = explain_other(args, ctx)  # paths, PATH:LINE, BASE..HEAD; else args.ref is a ref
    if other is not None:
        return other
    with ctx.repository() as repo:
        found = find_checkpoints(repo, args.ref)
        if not found:
            try:
                repo.checkpoint(args.ref)  # for the library's message naming the commit
                message = f"{args.ref!r} has no checkpoint"
            except CheckpointNotFound as exc:
                message = str(exc)
            if args.json:
                ctx.write_json({"ref": args.ref, "checkpoints": []})
            ctx.error(message)
            return EXIT_NOT_FOUND
        retracted = repo.retracted()
        from bitloops.checkpoint._private import private_ids

        kept = private_ids(repo, [c.checkpoint_id for c in found])
        from bitloops.checkpoint._distill import (  # the llm records, if any
            distillation_json,
            with_distillation,
        )

        distilled = {c.checkpoint_id: distillation_json(repo, c, retracted) for c in found}
        found = [with_distillation(repo, c, retracted) for c in found]
        if args.json:
            ctx.write_json(
                {
                    "ref": args.ref,
                    "checkpoints": [
                        {
                            **checkpoint_json(c, events=args.full, retracted=retracted),
                            "distillation": distilled[c.checkpoint_id],
                            "private": c.checkpoint_id in kept,
                        }
                        for c in found
                    ],
                }
            )
            return EXIT_OK
        if len(found) > 1:
            shared = set.intersection(*(set(cp.commits) for cp in found))
            sha = min(shared)[:12] if shared else args.ref
            ctx.write(ctx.style.bold(f"{len(found)} checkpoints of {sha}, newest first"))
        for index, cp in enumerate(found):
            if index or len(found) > 1:
                ctx.write("" if index == 0 else "\n" + "-" * min(ctx.width, 72))
            ctx.write_lines(
                explain_lines(
                    cp,
                    width=ctx.width,
                    full=args.full,
                    style=ctx.style,
                    retracted=retracted,
                    private=cp.checkpoint_id in kept,
                )
            )
    return EXIT_OK
