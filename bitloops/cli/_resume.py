"""``bitloops resume``: switch to a branch and show how to continue its session."""

from __future__ import annotations

import argparse

from bitloops.cli._explain import headline
from bitloops.cli._json import checkpoint_json, session_json, shaped
from bitloops.cli._registry import EXIT_OK, Context, UsageError, command
from bitloops.cli._style import format_age, label

__all__: list[str] = []

# Where the agent's transcript went, without the session's own directory.
_TRANSCRIPT_KEYS = ("path", "restored", "note")


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "branch",
        metavar="BRANCH",
        nargs="?",
        help="the branch whose work to pick up (default: the current branch)",
    )
    parser.add_argument(
        "--no-checkout", action="store_true", help="only show the session; do not switch branch"
    )
    parser.add_argument(
        "--no-restore",
        action="store_true",
        help="do not write the session's transcript where its agent looks for it",
    )


@command(
    "resume",
    add_arguments=_resume_arguments,
    description="Check BRANCH out (git refuses over conflicting local changes), show its "
    "newest checkpoint and the most recent session recorded on it, write that session's "
    "transcript where its agent looks for it (Claude Code, Codex, Gemini CLI; an existing "
    "file is never overwritten), and print the command that continues the session with the "
    "agent that produced it, where the agent has one.",
)
def _resume(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.agents._resume import resume

    with ctx.repository() as repo:
        branch = args.branch or repo.git.branch()
        if branch is None:
            raise UsageError("HEAD is detached; name the branch to resume")
        info = resume(repo, branch, checkout=not args.no_checkout, restore=not args.no_restore)
    session = info.session
    restored = info.transcript
    if args.json:
        ctx.write_json(
            {
                "branch": info.branch,
                "head": info.head,
                "checkpoint": None if info.checkpoint is None else checkpoint_json(info.checkpoint),
                "session": None if session is None else session_json(session),
                "command": info.command,
                "transcript": None if restored is None else shaped(restored, _TRANSCRIPT_KEYS),
            }
        )
        return EXIT_OK
    ctx.write(label("Branch", f"{info.branch} at {info.head[:12]}"))
    if info.checkpoint is not None:
        cp = info.checkpoint
        ctx.write(label("Checkpoint", f"{cp.commit_sha[:12]}  {headline(cp)}"))
    else:
        ctx.write(label("Checkpoint", "none on this branch yet"))
    if session is None:
        ctx.write(label("Session", "none recorded on this branch"))
        return EXIT_OK
    when = format_age(session.last_event_at or session.started_at)
    ctx.write(
        label("Session", f"{session.session_id} ({session.agent}, {session.model or '-'}, "
               f"{session.status}, last active {when})")
    )  # fmt: skip
    if restored is not None:
        ctx.write(label("Transcript", restored.note))
    if info.command:
        ctx.write(label("Continue", info.command))
    else:
        ctx.write(
            label("Continue", f"open {session.agent} and resume session {session.session_id}")
        )
    return EXIT_OK
