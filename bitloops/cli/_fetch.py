"""``bitloops fetch``: fetch checkpoint folders from a remote."""

from __future__ import annotations

import argparse

from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, command
from bitloops.cli._style import plural

__all__: list[str] = []


def _fetch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "remote",
        metavar="REMOTE",
        nargs="?",
        default="origin",
        help="the remote (name or URL) to fetch checkpoint folders from (default: origin)",
    )


@command(
    "fetch",
    add_arguments=_fetch_arguments,
    description="Fetch the remote's refs/bitloops/checkpoints/v1 (where checkpoint_files = "
    "ref commits the checkpoint folders) and merge it into the local one: fast-forward when "
    "possible, otherwise a merge commit whose tree is the union of both (folders are named "
    "by commit SHA). Prints how many checkpoint folders arrived. Exit 1 when the remote has "
    "no such ref.",
)
def _fetch(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.git._git import Git
    from bitloops.git._ref import CHECKPOINT_REF, fetch_ref

    paths = Git.locate(ctx.cwd)
    arrived = fetch_ref(paths.toplevel, args.remote)
    if args.json:
        ctx.write_json(
            {
                "remote": args.remote,
                "ref": CHECKPOINT_REF,
                "found": arrived is not None,
                "arrived": list(arrived or []),
            }
        )
    elif arrived is None:
        ctx.error(f"{args.remote} has no {CHECKPOINT_REF}: nothing was pushed there yet")
    else:
        ctx.write(f"{plural(len(arrived), 'checkpoint folder')} arrived from {args.remote}")
    return EXIT_NOT_FOUND if arrived is None else EXIT_OK
