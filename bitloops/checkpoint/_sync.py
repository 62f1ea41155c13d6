"""Sending checkpoints to the shared committed store (team setup), through the outbox.

Promotion writes an outbox row in the same SQLite transaction that stores the
checkpoint, so a checkpoint is never lost between the two stores. :func:`sync` sends
what the outbox holds, oldest first, each checkpoint in one PostgreSQL transaction
keyed by its id, and removes the row afterwards. A crash between the two steps, a
retry after a timeout or two processes syncing at once send a checkpoint again, and
the shared store keeps the first copy: nothing is lost, nothing is stored twice.
A private checkpoint (see :mod:`bitloops.checkpoint._private`) is never sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from bitloops.checkpoint._private import private_ids
from bitloops.errors import BitloopsError, SharedStoreUnavailable
from bitloops.store._private import unqueue

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints

__all__ = ["SyncReport", "sync"]

log = logging.getLogger("bitloops")


@attrs.frozen(kw_only=True)
class SyncReport:
    """What one :func:`sync` did."""

    #: The shared store, without its password.
    store: str
    #: Checkpoints the shared store did not have and now has.
    sent: int = 0
    #: Checkpoints it had already (a retry, or another process sent them); links added.
    already_there: int = 0
    #: Checkpoints still in the outbox afterwards.
    waiting: int = 0
    #: Why sending stopped early, or None when everything queued was sent.
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is left waiting."""
        return self.error is None and self.waiting == 0


def sync(repo: Checkpoints, *, queue_all: bool = False) -> SyncReport:
    """Send every checkpoint waiting in ``repo``'s outbox to its shared store.

    ``queue_all`` first queues every local checkpoint (for a clone that made
    checkpoints before it joined the team setup). Stops when the server cannot be
    reached; a checkpoint the server refuses is skipped and the rest are still sent.
    What was not sent stays queued with the error recorded, and the last error is
    reported.
    """
    shared = repo.shared_store
    if shared is None:
        raise BitloopsError(
            "no shared committed store is configured; set committed_store in "
            ".bitloops/settings.local.json or BITLOOPS_COMMITTED_STORE (see docs/storage.md)"
        )
    store = repo.store
    if queue_all:
        store.queue_all()
    queued = store.outbox()
    # A private checkpoint never leaves this clone, however it came to be queued.
    kept = private_ids(repo, [q[0] for q in queued])
    if kept:
        unqueue(store, sorted(kept))
        queued = [q for q in queued if q[0] not in kept]
    sent = already = 0
    error: str | None = None
    for done, (checkpoint_id, queued_at, _attempts, _last) in enumerate(queued):
        if private_ids(repo, [checkpoint_id]):
            # Made private (`keep_local`) while this sync ran: checked again right before
            # sending, as keep_local asks the store afterwards.
            unqueue(store, [checkpoint_id])
            continue
        try:
            row, events, links = store.checkpoint_rows(checkpoint_id)
            purges = store.purge_rows(checkpoint_id)
            if shared.put_checkpoint(row, events, links, purges):
                sent += 1
            else:
                already += 1
        except BitloopsError as exc:
            error = str(exc)
            # Unreachable: nothing after this one can go either.
            failed = (
                queued[done:]
                if isinstance(exc, SharedStoreUnavailable)
                else queued[done : done + 1]
            )
            store.outbox_failed([q[0] for q in failed], error)
            if isinstance(exc, SharedStoreUnavailable):
                break
            continue
        store.outbox_sent(checkpoint_id, queued_at)
    waiting = len(store.outbox())
    return SyncReport(
        store=shared.display_url, sent=sent, already_there=already, waiting=waiting, error=error
    )
