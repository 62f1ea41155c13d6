"""``bitloops record`` and ``bitloops mcp``: the why an agent (or a script) records itself.

Registered with ``command`` when :mod:`bitloops.cli._main` loads. Like the rest
of the command line, this module imports only the standard library at module level: the
MCP SDK loads inside ``bitloops mcp`` only.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bitloops.cli._main import EXIT_OK, Context, command
from bitloops.errors import BitloopsError

if TYPE_CHECKING:
    from bitloops.capture._session import Session
    from bitloops.repository import Repository

__all__ = ["McpUnavailable", "RecordUsageError"]

#: The kinds ``bitloops record`` takes, with the Session method each one calls; ``private``
#: keeps a session or checkpoint in this clone instead of recording anything.
RECORD_KINDS = ("decision", "alternative", "constraint", "plan", "retract", "private")


class McpUnavailable(BitloopsError):
    """``bitloops mcp`` ran without the MCP SDK installed."""


class RecordUsageError(BitloopsError):
    """An option of ``bitloops record`` that does not fit the kind of record."""


# -- bitloops mcp ------------------------------------------------------------------------------


def _mcp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        metavar="NAME",
        help="the agent that runs the server (claude-code, codex, ...): records go into its "
        "most recently active open session here (required)",
    )
    parser.add_argument(
        "--repo",
        metavar="PATH",
        help="the work tree to record into (default: the one around the working directory, "
        "where agents start their MCP servers)",
    )


@command(
    "mcp",
    "run the MCP server agents record their reasoning with",
    _mcp_arguments,
    description="Speak MCP on standard input and output (the stdio transport) until the "
    "client closes them. Tools record a decision, a rejected alternative, a constraint or a "
    "plan into the agent's most recently active open session in this work tree (a new one "
    "when none is open), or retract a record; read tools answer why a file or line is the "
    "way it is, a file's history, a search and a commit's checkpoint. `bitloops enable "
    "--agent NAME` registers it with the agent. With --json, print the server's "
    "instructions and tools instead of serving. Needs `pip install 'bitloops[mcp]'`.",
)
def _mcp(args: argparse.Namespace, ctx: Context) -> int:
    import importlib.util

    if args.agent is None:
        from bitloops.git._git import Git

        Git.locate(ctx.cwd)  # outside a work tree, say that first (as every command does)
        raise RecordUsageError("name the agent that runs the server: bitloops mcp --agent NAME")
    _check_agent(args.agent)
    if importlib.util.find_spec("mcp") is None:
        raise McpUnavailable(
            "the MCP server needs the MCP SDK, which is not installed: "
            "pip install 'bitloops[mcp]' (in the environment that runs bitloops)"
        )
    from bitloops.mcp_server import describe, serve

    repo = None if args.repo is None else (ctx.cwd / args.repo).resolve()
    if args.json:
        ctx.write_json(describe(ctx.cwd, args.agent, repo=repo))
        return EXIT_OK
    serve(ctx.cwd, args.agent, repo=repo)
    return EXIT_OK


# -- bitloops record ---------------------------------------------------------------------------


def _record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "kind",
        metavar="KIND",
        nargs="?",
        choices=RECORD_KINDS,
        help="decision, alternative (a rejected one), constraint, plan, retract, or private",
    )
    parser.add_argument(
        "text",
        metavar="TEXT",
        nargs="?",
        help="what was decided, rejected, required or planned (- reads it from standard "
        "input); for retract, the id of the record; for private, an optional session id, "
        "checkpoint id (or cp: prefix) or commit",
    )
    parser.add_argument(
        "--because",
        metavar="WHY",
        help="why: a decision's rationale, an alternative's reason for rejecting it, a "
        "retraction's reason (required for retract)",
    )
    parser.add_argument(
        "--applies-to",
        metavar="PATH",
        action="append",
        default=[],
        help="a file (or path::symbol) the record applies to; repeatable",
    )
    parser.add_argument(
        "--agent",
        metavar="NAME",
        help="record into this agent's most recently active open session here (a new one "
        "when none is open); default: the most recently active open session of any agent",
    )
    parser.add_argument(
        "--stated-by",
        choices=("user", "repository", "agent"),
        help="who stated a constraint",
    )
    parser.add_argument(
        "--session",
        metavar="ID",
        help="private: the session to keep local (default: the most recently active open "
        "session here, of --agent when given)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="REF",
        help="private: the checkpoint to keep local: its id, a cp: prefix, or a commit "
        "(every checkpoint this clone made for it)",
    )


@command(
    "record",
    "record a decision, alternative, constraint or plan",
    _record_arguments,
    description="Record a why-record into the live session, for scripts and for agents "
    "without MCP: `record decision TEXT --because WHY`, `record alternative TEXT --because "
    "WHY`, `record constraint TEXT --stated-by user`, `record plan TEXT`, each with "
    "--applies-to PATH as often as needed. The record goes into the most recently active open "
    "session in this work tree (of --agent, when given), or a new session. `record retract ID "
    "--because WHY` marks a record as wrong (append-only: the record stays, every reader "
    "strikes it out). Text is redacted before it is stored. `record private [--session ID | "
    "--checkpoint REF]` keeps a session (by default the open one) or a checkpoint in this "
    "clone: it still promotes and reads here, but gets no checkpoint folder or ref entry, is "
    "not sent to the shared store and is left out of `review` and `export`; refused once "
    "it was pushed or sent.",
)
def _record(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.git._git import Git

    Git.locate(ctx.cwd)  # outside a work tree, say that first (as every command does)
    if args.kind == "private":
        return _private(args, ctx)
    if args.session is not None or args.checkpoint is not None:
        raise RecordUsageError("--session and --checkpoint are for record private")
    if args.kind is None or args.text is None:
        raise RecordUsageError(
            "say what to record: bitloops record decision|alternative|constraint|plan TEXT, "
            "bitloops record retract ID --because WHY, or bitloops record private"
        )
    kind: str = args.kind
    text = sys.stdin.read().strip() if args.text == "-" else args.text
    if not text.strip():
        raise RecordUsageError(f"the {kind} is empty: say what it is, e.g. record {kind} 'TEXT'")
    _check_agent(args.agent)
    if kind == "retract":
        return _retract(args, ctx, text)
    if args.because is not None and kind not in ("decision", "alternative"):
        raise RecordUsageError(
            f"--because is for decision, alternative and retract, not {kind}; put the why "
            "in the text"
        )
    if args.stated_by is not None and kind != "constraint":
        raise RecordUsageError("--stated-by is for constraints only")
    if kind == "plan" and args.applies_to:
        raise RecordUsageError("--applies-to is for decision, alternative and constraint")
    with ctx.repository() as repo:
        session = _session(repo, args.agent)
        applies = list(args.applies_to)
        if kind == "decision":
            event = session.decision(text, args.because, applies_to=applies)
        elif kind == "alternative":
            event = session.alternative(text, args.because, applies_to=applies)
        elif kind == "constraint":
            event = session.constraint(text, stated_by=args.stated_by, applies_to=applies)
        else:
            event = session.plan(text)
    data: dict[str, Any] = {
        "kind": kind,
        "record_id": event.event_id,
        "session_id": event.session_id,
        "agent": event.agent,
    }
    if args.json:
        ctx.write_json(data)
    else:
        ctx.write(f"{kind} {event.event_id} recorded in session {event.session_id} ({event.agent})")
    return EXIT_OK


def _check_agent(agent: str | None) -> None:
    """An agent bitloops knows (or bitloops-cli): a record's session is credited to it."""
    if agent is None:
        return
    from bitloops.agents._registry import AGENTS

    if agent not in AGENTS and agent != "bitloops-cli":
        raise RecordUsageError(
            f"unknown agent {agent[:60]!r}; use one of {', '.join(sorted(AGENTS))} or bitloops-cli"
        )


def _session(repo: Repository, agent: str | None) -> Session:
    """The session a record goes into: see ``--agent``."""
    if agent is not None:
        return repo.agent_session(agent)
    sessions = [s for s in repo.store.sessions(worktree=repo.worktree) if s.status != "ended"]
    if not sessions:
        return repo.start_session("bitloops-cli")
    latest = max(sessions, key=lambda s: (s.last_event_at or s.started_at, s.started_at))
    return repo.session(latest.session_id)


def _retract(args: argparse.Namespace, ctx: Context, record_id: str) -> int:
    if args.because is None:
        raise RecordUsageError("say why the record is wrong: record retract ID --because WHY")
    if args.applies_to or args.stated_by or args.agent:
        raise RecordUsageError("retract takes an id and --because only")
    with ctx.repository() as repo:
        note = repo.retract(record_id.strip(), because=args.because, by="user")
    if args.json:
        ctx.write_json(
            {
                "kind": "retract",
                "record_id": note.record_id,
                "annotation_id": note.annotation_id,
                "checkpoint_id": note.checkpoint_id,
                "reason": note.reason,
            }
        )
    else:
        ctx.write(f"retracted {note.record_id}: {note.reason}")
    return EXIT_OK


def _private(args: argparse.Namespace, ctx: Context) -> int:
    """``record private``: keep a session or checkpoint in this clone."""
    from bitloops.checkpoint._private import keep_local

    if args.because is not None or args.applies_to or args.stated_by is not None:
        raise RecordUsageError(
            "record private takes a session or checkpoint only: [ID] [--session ID] "
            "[--checkpoint REF] [--agent NAME]"
        )
    named = [x for x in (args.text, args.session, args.checkpoint) if x is not None]
    if len(named) > 1:
        raise RecordUsageError(
            "name one session or checkpoint: record private ID, --session ID or --checkpoint REF"
        )
    if named and args.agent is not None:
        raise RecordUsageError("--agent picks the open session; leave it out when naming one")
    _check_agent(args.agent)
    with ctx.repository() as repo:
        if args.session is not None:
            results = [keep_local(repo, session_id=args.session.strip())]
        elif args.checkpoint is not None:
            results = [
                keep_local(repo, checkpoint_id=c) for c in _checkpoints(repo, args.checkpoint)
            ]
        elif args.text is not None:
            target = args.text.strip()
            if repo.store.sessions(session_ids=[target]):
                results = [keep_local(repo, session_id=target)]
            else:
                results = [keep_local(repo, checkpoint_id=c) for c in _checkpoints(repo, target)]
        else:
            results = [keep_local(repo, session_id=_open_session(repo, args.agent))]
    data: dict[str, Any] = {
        "kind": "private",
        "session_id": results[0].session_id,
        "checkpoint_ids": [c for r in results for c in r.checkpoint_ids],
        "removed": [x for r in results for x in r.removed],
        "notes": [x for r in results for x in r.notes],
    }
    if args.json:
        ctx.write_json(data)
        return EXIT_OK
    where = (
        "no checkpoint folder or ref entry, not sent to the shared store, not in review or export"
    )
    if data["session_id"] is not None:
        made = len(data["checkpoint_ids"])
        also = f"; so are its {made} checkpoint(s)" if made else ""
        ctx.write(
            f"session {data['session_id']} is private: it stays in this clone ({where}){also}"
        )
    else:
        for cid in data["checkpoint_ids"]:
            ctx.write(f"checkpoint {cid} is private: it stays in this clone ({where})")
    for removed in data["removed"]:
        ctx.write(f"  taken back: {removed}")
    for note in data["notes"]:
        ctx.write(f"  note: {note}")
    return EXIT_OK


def _open_session(repo: Repository, agent: str | None) -> str:
    """The session ``record private`` marks by default: the open one (see ``--session``)."""
    name = None if agent is None else repo.redactor.redact(agent)
    sessions = [
        s
        for s in repo.store.sessions(worktree=repo.worktree)
        if s.status != "ended" and (name is None or s.agent == name)
    ]
    if not sessions:
        raise RecordUsageError(
            "no open session here to keep local; name one (record private --session ID), or "
            "keep every new session local with BITLOOPS_PRIVATE=1 in the agent's environment "
            'or "private": true in .bitloops/settings.local.json'
        )
    latest = max(sessions, key=lambda s: (s.last_event_at or s.started_at, s.started_at))
    return latest.session_id


def _checkpoints(repo: Repository, ref: str) -> list[str]:
    """This clone's checkpoints that ``ref`` names: a checkpoint id, ``cp:`` prefix or commit."""
    from bitloops.errors import CheckpointNotFound, UnknownRef

    ref = ref.strip()
    try:
        found = repo.checkpoints(commit=ref)
    except UnknownRef:
        found = [repo.checkpoint(ref)]
    if not found:
        found = [repo.checkpoint(ref)]  # raises CheckpointNotFound naming the commit
    own = [cp.checkpoint_id for cp in found if repo.store.has_checkpoint(cp.checkpoint_id)]
    if not own:
        raise CheckpointNotFound(
            f"{ref} names only checkpoints a teammate made; only this clone's own checkpoints "
            "can be kept local"
        )
    return own
