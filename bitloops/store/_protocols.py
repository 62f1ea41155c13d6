"""The contracts of the stores: what the rest of bitloops may ask of one.

:class:`CommittedStore` is what reading committed checkpoints needs, and both the local
SQLite store and the team's PostgreSQL store provide it, with the same rows in the same
order (``tests/test_store_contracts.py`` runs one suite against both).
:class:`LiveStore` is what recording and promotion need of the local store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from bitloops.store._rows import (
    CheckpointQuery,
    CheckpointRow,
    DraftRows,
    HeaderRow,
    LinkRecord,
    SearchRow,
)

if TYPE_CHECKING:
    from datetime import datetime

    from bitloops.model import SessionInfo
    from bitloops.store._index import IndexRows

__all__ = ["CommittedStore", "LiveStore"]


class CommittedStore(Protocol):
    """**Protocol:** a store of committed checkpoints, read by id, commit, query or text.

    Inheriting from it is optional: any class with these methods is one.
    :class:`~bitloops.store.SQLiteStore` and
    :class:`~bitloops.store._postgres.PostgresStore` are.
    """

    def close(self) -> None:
        """Let go of the connection."""
        ...

    def add_link(self, commit_sha: str, checkpoint_id: str, reason: str) -> bool:
        """Link a commit to a stored checkpoint; False if the link was there already."""
        ...

    def has_checkpoint(self, checkpoint_id: str) -> bool:
        """True when a checkpoint with this id is stored."""
        ...

    def count_checkpoints(self) -> int:
        """How many checkpoints are stored."""
        ...

    def checkpoint_data(
        self, checkpoint_id: str
    ) -> tuple[CheckpointRow, list[str], list[str]] | None:
        """A checkpoint's row, its event lines in order and its linked commits (the one
        it was created for first), or None."""
        ...

    def checkpoint_ids(
        self,
        query: CheckpointQuery | None = None,
        *,
        commit_sha: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Checkpoint ids matching ``query``, newest first."""
        ...

    def commit_links(self, checkpoint_ids: Sequence[str]) -> dict[str, list[str]]:
        """The commits linked to each checkpoint, the one it was created for first."""
        ...

    def commits_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` linked commit SHAs starting with ``prefix`` (lowercase hex)."""
        ...

    def catch_up_index(self) -> None:
        """Bring the full-text index up to date with the stored events (derived data)."""
        ...

    def search_events(self, query: str, limit: int = 50) -> list[SearchRow]:
        """Committed events matching the FTS5 query ``query``: newest checkpoint first,
        then by rank; :class:`~bitloops.InvalidSearch` when the query cannot be read."""
        ...

    def headers(self, checkpoint_ids: Sequence[str] | None = None) -> list[HeaderRow]:
        """Every checkpoint's (or those given) header row, oldest first."""
        ...

    def link_rows(self) -> list[LinkRecord]:
        """Every commit link."""
        ...

    def purge_records(self) -> dict[str, list[tuple[str, str]]]:
        """``checkpoint_id`` -> its purges' ``(old_hash, new_hash)``, oldest first."""
        ...


class LiveStore(Protocol):
    """**Protocol:** the live state: sessions, their events, and promoting a draft.

    Inheriting from it is optional. :class:`~bitloops.store.SQLiteStore` is one; the
    hooks' light path writes the same tables through :mod:`bitloops.store._live`.
    """

    def open_session(
        self,
        *,
        session_id: str,
        agent: str,
        model: str | None,
        worktree: str,
        branch: str | None,
        base_commit: str | None,
        payload_json: str,
    ) -> tuple[bool, int]:
        """Create or reopen a session with its start event; (created, seq of the event)."""
        ...

    def append_event(
        self,
        *,
        session_id: str,
        worktree: str,
        kind: str,
        agent: str,
        model: str | None,
        payload_json: str,
        artefacts: tuple[str, ...] = (),
        end: bool = False,
        ts: datetime | None = None,
    ) -> tuple[int, datetime, str]:
        """Commit one event; ``(seq, ts, event_id)``. ``end`` also closes the session."""
        ...

    def set_session_model(self, session_id: str, model: str | None) -> None:
        """Record the model a session runs on."""
        ...

    def session_model(self, session_id: str) -> tuple[str, str | None, str]:
        """A session's agent, model and status."""
        ...

    def sessions(
        self, *, worktree: str | None = None, session_ids: Sequence[str] | None = None
    ) -> list[SessionInfo]:
        """Sessions with their count of live events, oldest first."""
        ...

    def draft_rows(
        self,
        worktree: str,
        session_id: str | None = None,
        *,
        lines_up_to: int | None = None,
        until: str | None = None,
    ) -> DraftRows:
        """The worktree's live events (of one session, if given, up to the time ``until``,
        if given) in transcript order; over ``lines_up_to`` bytes of lines, their ids only."""
        ...

    def live_lines(self, ids: Sequence[int]) -> list[str]:
        """The lines of the live events with these ids, in the order given."""
        ...

    def committed_lines(self, ids: Sequence[int]) -> list[str]:
        """The lines of the committed events with these ids, in the order given."""
        ...

    def event_ids(self, checkpoint_id: str) -> Sequence[int]:
        """The ids of a checkpoint's committed events, in transcript order."""
        ...

    def draft_count(self, worktree: str) -> int:
        """How many live events the worktree has."""
        ...

    def checkpoints_for_commits(self, shas: Sequence[str]) -> dict[str, tuple[str, str]]:
        """For each SHA with a checkpoint: ``(checkpoint_id, content_hash)`` of the newest."""
        ...

    def move_draft(
        self,
        *,
        worktree: str,
        draft: DraftRows,
        row: CheckpointRow,
        also_links: Sequence[str] = (),
        queue: bool = False,
        index: IndexRows | None = None,
    ) -> bool:
        """Move the draft into the committed tables atomically; False if it changed."""
        ...

    def close(self) -> None:
        """Let go of the connection."""
        ...


if TYPE_CHECKING:
    # mypy checks here that both backends keep to the contracts.
    from bitloops.store._postgres import PostgresStore
    from bitloops.store._sqlite import SQLiteStore

    def _conforms(sqlite: SQLiteStore, postgres: PostgresStore) -> None:
        committed: CommittedStore = sqlite
        committed = postgres
        live: LiveStore = sqlite
        del committed, live
