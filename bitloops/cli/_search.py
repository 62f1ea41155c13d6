"""``bitloops search``: full-text search over committed transcripts."""

from __future__ import annotations

import argparse

from bitloops.cli._json import event_json, shaped
from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, UsageError, command
from bitloops.cli._style import clip, date, flat

__all__: list[str] = []

_HIT_KEYS = ("checkpoint_id", "commit_sha", "commits", "created_at", "snippet")


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query",
        metavar="QUERY",
        nargs="*",
        help='words to find (all must match), "quoted phrases", prefix*, AND / OR / NOT',
    )
    parser.add_argument(
        "-n", "--limit", type=int, default=20, metavar="N", help="show at most N hits (default 20)"
    )


@command(
    "search",
    add_arguments=_search_arguments,
    description="Find committed events (prompts, responses, reasoning, decisions, tool use, "
    "...) whose text matches QUERY, newest checkpoint first, each with its commit, kind, "
    "agent and an excerpt with the matches in [brackets]. Uses SQLite FTS5 query syntax; "
    "input it cannot parse is searched as plain words. Exit status 1 when nothing matches.",
)
def _search(args: argparse.Namespace, ctx: Context) -> int:
    query = " ".join(args.query)
    with ctx.repository() as repo:
        if not query.strip():
            raise UsageError("give one or more words to search for, e.g. `bitloops search retry`")
        hits = repo.search(query, limit=args.limit)
    if args.json:
        ctx.write_json([{**shaped(h, _HIT_KEYS), "event": event_json(h.event)} for h in hits])
    else:
        st = ctx.style
        # Cut excerpts to the terminal's width; piped output keeps them whole.
        on_terminal = bool(getattr(ctx.out, "isatty", lambda: False)())
        for h in hits:
            head = f"{h.commit_sha[:12]}  {date(h.created_at)}  {h.event.kind:<11} "
            head += f"{h.event.agent:<12} "
            text = flat(h.snippet)
            if on_terminal:
                text = clip(text, max(20, ctx.width - len(head)))
            ctx.write(st.dim(head) + text)
        if not hits:
            ctx.error(f"nothing matches {query!r} in committed transcripts")
    return EXIT_OK if hits else EXIT_NOT_FOUND
