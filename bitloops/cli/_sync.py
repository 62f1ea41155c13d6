"""``bitloops sync``: send waiting checkpoints to the team's shared store."""

from __future__ import annotations

import argparse

from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, UsageError, command
from bitloops.cli._style import plural

__all__: list[str] = []


def _sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--all",
        action="store_true",
        help="first queue every checkpoint of this clone (after joining a team setup); those "
        "the shared store holds already are not stored twice",
    )


@command(
    "sync",
    add_arguments=_sync_arguments,
    description="Send the checkpoints waiting in the outbox to the shared committed store "
    "(committed_store, a PostgreSQL URL), oldest first, each in one transaction keyed by its "
    "id, so a retry never stores one twice. Promotion does this by itself; run it after the "
    "server was unreachable. Exit 1 when something is still waiting afterwards.",
)
def _sync(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.repository() as repo:
        if repo.shared_store is None:
            raise UsageError(
                "no shared committed store is configured; set committed_store in "
                ".bitloops/settings.local.json or BITLOOPS_COMMITTED_STORE (docs/storage.md)"
            )
        # Connect first, so a wrong URL, database or password is reported even when
        # nothing waits (an unreachable server is not an error: see the report below).
        from bitloops.checkpoint._sync import SyncReport
        from bitloops.errors import SharedStoreUnavailable

        try:
            repo.shared_store.connect()
        except SharedStoreUnavailable as exc:
            report = SyncReport(
                store=repo.shared_store.display_url,
                waiting=len(repo.store.outbox()),
                error=str(exc),
            )
        else:
            report = repo.sync(queue_all=args.all)
    if args.json:
        from bitloops._codec import unstructure

        ctx.write_json(unstructure(report))
    else:
        ctx.write(
            f"{plural(report.sent, 'checkpoint')} sent to {report.store}"
            + (f", {report.already_there} already there" if report.already_there else "")
        )
        if report.waiting or report.error:
            ctx.error(f"{plural(report.waiting, 'checkpoint')} still waiting: {report.error}")
    return EXIT_OK if report.ok else EXIT_NOT_FOUND
