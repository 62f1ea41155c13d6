"""``bitloops rewind``: browse checkpoint history (the browser itself is in ``_browser``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bitloops.cli._explain import checkpoint_agents, headline
from bitloops.cli._json import shaped
from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, UsageError, command
from bitloops.cli._style import clip, date

if TYPE_CHECKING:
    from bitloops.model import Checkpoint

__all__ = ["rewind_lines"]


def rewind_lines(checkpoints: Sequence[Checkpoint], width: int = 80) -> list[str]:
    """One line per checkpoint: short SHA, UTC date, agents, first line of what was asked."""
    agents = [", ".join(checkpoint_agents(cp)) or "-" for cp in checkpoints]
    column = min(max((len(a) for a in agents), default=0), 24)
    out = []
    for cp, who in zip(checkpoints, agents, strict=True):
        line = f"{cp.commit_sha[:12]}  {date(cp.created_at)}  {clip(who, column):<{column}}  "
        out.append(line + clip(headline(cp), width - len(line)))
    return out


def _rewind_json(cp: Checkpoint) -> dict[str, Any]:
    return {
        **shaped(cp, ("checkpoint_id", "commit_sha", "created_at", "branch")),
        "agents": checkpoint_agents(cp),
        "headline": headline(cp) if cp.summary.intent or cp.summary.text else None,
        "event_count": len(cp.events),
    }


def _rewind_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the list even on a terminal, instead of the interactive browser",
    )
    parser.add_argument(
        "-n",
        "--limit",
        type=int,
        metavar="N",
        help="only the N newest checkpoints",
    )


@command(
    "rewind",
    add_arguments=_rewind_arguments,
    description="On a terminal: an interactive browser of checkpoints, newest first (up/down or "
    "j/k to move, Enter to open one, t to toggle its transcript, Esc/Backspace/b to go "
    "back, q to quit). Otherwise, or with --list: one line per checkpoint (short SHA, "
    "UTC date, agents, first line of what was asked).",
)
def _rewind(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be a positive number")
    with ctx.repository() as repo:
        found = repo.checkpoints(limit=args.limit)
        if args.json:
            ctx.write_json({"checkpoints": [_rewind_json(cp) for cp in found]})
            return EXIT_OK if found else EXIT_NOT_FOUND
        if not found:
            ctx.error("no checkpoints yet; commit after a recorded session to create one")
            return EXIT_NOT_FOUND
        interactive = not args.list and ctx.out is sys.stdout and _is_terminal()
        if not interactive:
            ctx.write_lines(rewind_lines(found, ctx.width))
            return EXIT_OK
        # Loaded while the repository is open: a checkpoint's transcript reads lazily
        # from lines already in memory, so browsing after close is safe.
    from bitloops.cli._browser import RewindBrowser, browse

    return browse(RewindBrowser(found))


def _is_terminal() -> bool:
    """True when both ends are a terminal the browser can take over."""
    return sys.stdin.isatty() and sys.stdout.isatty()
