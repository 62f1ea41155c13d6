"""``bitloops import``: import an agent's existing transcript as a session."""

from __future__ import annotations

import argparse

from bitloops.cli._registry import EXIT_OK, Context, UsageError, command
from bitloops.cli._style import plural

__all__: list[str] = []


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    # Optional for argparse so that outside a work tree the usual error comes first.
    parser.add_argument(
        "agent",
        metavar="NAME",
        nargs="?",
        help="the agent that wrote the file: claude-code, codex, gemini (or any integration "
        "that can read its transcripts)",
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="the transcript file: a Claude Code JSONL, a Codex rollout, a Gemini CLI "
        "session file, ...",
    )
    parser.add_argument(
        "--session-id",
        metavar="ID",
        help="the session id, for a file that does not name its own (a Cursor transcript "
        "moved out of its agent-transcripts folder)",
    )


@command(
    "import",
    add_arguments=_import_arguments,
    description="Read a whole transcript file an agent wrote before bitloops was enabled and "
    "record it as one ended session of this worktree, with the agent's session id and the "
    "file's timestamps. It goes into the draft: the next commit's checkpoint holds it. "
    "Importing the same file again adds nothing; a session the hooks captured in part gets "
    "only what it lacks.",
)
def _import(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops._codec import unstructure
    from bitloops.capture._importing import import_transcript

    with ctx.repository() as repo:
        if args.agent is None or args.path is None:
            from bitloops.agents._registry import importable_agents

            raise UsageError(
                "name the agent and the transcript file: bitloops import NAME PATH "
                f"(NAME one of {', '.join(importable_agents())})"
            )
        result = import_transcript(
            repo, args.agent, ctx.cwd / args.path, session_id=args.session_id
        )
    if args.json:
        ctx.write_json(unstructure(result))
    elif result.events_added == 0:
        ctx.write(
            f"{result.agent} session {result.session_id}: nothing new in {result.path} "
            "(already imported or recorded)"
        )
    else:
        what = "new session" if result.new else "added to the session"
        ctx.write(
            f"{result.agent} session {result.session_id}: "
            f"{plural(result.events_added, 'event')} imported from {result.path} ({what}); "
            "the next commit's checkpoint holds them"
        )
    if not args.json:
        for other in result.other_sessions:
            ctx.write(f"  earlier records went to the session they came from: {other}")
        for path in result.unmapped:
            ctx.write(
                f"  not a file of this work tree (recorded elsewhere), no file change: {path}"
            )
    return EXIT_OK
