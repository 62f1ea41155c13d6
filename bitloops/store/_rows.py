"""The rows the stores hand out and take in, shared by every backend.

Plain data: frozen attrs classes for what callers build or keep, named tuples for rows
read in bulk (a tuple per row is what the drivers give, and verify reads tens of
thousands of them). :func:`select_checkpoint_ids` turns a :class:`CheckpointQuery`
into one backend's SQL, so the two stores cannot filter differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

__all__ = [
    "CHECKPOINT_COLUMNS",
    "CheckpointQuery",
    "CheckpointRow",
    "DraftRows",
    "EndedSession",
    "EventRow",
    "HeaderRow",
    "LinkRecord",
    "LinkRow",
    "PurgeStep",
    "SearchRow",
    "checkpoint_row",
    "select_checkpoint_ids",
]


@attrs.frozen(kw_only=True)
class DraftRows:
    """The live events of one worktree, as read for a promotion, in transcript order."""

    high_water: int
    #: Only this session's events (the ``session`` strategy), or None for all of them.
    session_id: str | None
    #: Bumped by every promotion and purge: a changed value means the rows read may
    #: no longer be the rows stored under the same ids.
    generation: int
    lines: Sequence[str]
    kinds: Sequence[str]
    line_sessions: Sequence[str]
    #: Distinct (agent, model) pairs of the events.
    models: list[tuple[str, str | None]]
    #: The rows' ids, in transcript order.
    ids: Sequence[int] = ()
    #: True when ``lines`` is empty because the draft was too big to hold: the caller
    #: reads them by ``ids`` (``SqliteStore.live_lines``).
    lines_left_out: bool = False
    #: The time bound of the events read (canonical timestamp text), if any.
    until: str | None = None

    @property
    def event_count(self) -> int:
        """How many events the draft has."""
        return len(self.ids) if self.lines_left_out else len(self.lines)

    @property
    def session_ids(self) -> list[str]:
        """The sessions with events in the draft, first seen first."""
        return list(dict.fromkeys(self.line_sessions))


@attrs.frozen(kw_only=True)
class CheckpointRow:
    """What the store keeps of a checkpoint besides its events."""

    checkpoint_id: str
    commit_sha: str
    created_at: str
    branch: str | None
    strategy: str
    event_count: int
    parent_checkpoint_id: str | None
    parent_hash: str | None
    content_hash: str
    header: str
    #: The commit's author ("Name <email>"), for team queries; not covered by the hash.
    author: str | None = None


#: The columns of ``checkpoints`` in :class:`CheckpointRow` order.
CHECKPOINT_COLUMNS = (
    "checkpoint_id, commit_sha, created_at, branch, strategy, event_count, "
    "parent_checkpoint_id, parent_hash, content_hash, header, author"
)


def checkpoint_row(values: Sequence[Any]) -> CheckpointRow:
    """A :class:`CheckpointRow` from a row selected as :data:`CHECKPOINT_COLUMNS`."""
    names = [f.name for f in attrs.fields(CheckpointRow)]
    return CheckpointRow(**dict(zip(names, values, strict=True)))


@attrs.frozen(kw_only=True)
class CheckpointQuery:
    """Filters for listing checkpoints; every given filter must match.

    ``author`` matches part of the commit author's ``Name <email>``, case-insensitively
    (like ``git log --author``); ``agent`` and ``model`` match one of the checkpoint's
    agents or models exactly; ``since`` and ``until`` bound ``created_at`` (inclusive,
    exclusive) as canonical timestamp text.
    """

    commit_sha: str | None = None
    branch: str | None = None
    author: str | None = None
    agent: str | None = None
    model: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None


def select_checkpoint_ids(
    q: CheckpointQuery,
    conditions: Mapping[str, str],
    placeholder: str,
    timestamp: Callable[[str], Any] = str,
) -> tuple[str, list[Any]]:
    """The SELECT of the checkpoint ids matching ``q``, newest first, and its arguments.

    One backend's SQL: ``conditions`` gives each filter's condition on ``checkpoints c``
    (one ``placeholder`` each); ``timestamp`` converts ``since`` and ``until``.
    """
    where: list[str] = []
    args: list[Any] = []
    for name in ("commit_sha", "branch", "author", "agent", "model", "since", "until"):
        value = getattr(q, name)
        if value is not None:
            where.append(conditions[name])
            args.append(timestamp(value) if name in ("since", "until") else value)
    sql = "SELECT c.checkpoint_id FROM checkpoints c"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY c.created_at DESC, c.checkpoint_id DESC"
    if q.limit is not None:
        sql += f" LIMIT {placeholder}"
        args.append(q.limit)
    return sql, args


#: One committed event as sent to the shared store: ``(session_id, seq, ts, kind, line)``.
EventRow = tuple[str, int, str, str, str]
#: One commit link as sent to the shared store: ``(commit_sha, linked_at, reason)``.
LinkRow = tuple[str, str, str]


class SearchRow(NamedTuple):
    """One full-text match, as both stores return it."""

    #: The event's position in the store (a row id; only its order means anything).
    event: int
    checkpoint_id: str
    commit_sha: str
    #: The checkpoint's time, as canonical timestamp text.
    created_at: str
    line: str
    #: A short excerpt, matches in ``[`` ``]``, cuts marked ``…``.
    snippet: str


class HeaderRow(NamedTuple):
    """What verify reads of each checkpoint besides its events."""

    checkpoint_id: str
    commit_sha: str
    created_at: str
    parent_checkpoint_id: str | None
    parent_hash: str | None
    content_hash: str
    header: str
    event_count: int


class LinkRecord(NamedTuple):
    """One stored commit link, with the checkpoint it points to."""

    commit_sha: str
    checkpoint_id: str
    linked_at: str
    reason: str


class PurgeStep(NamedTuple):
    """What a ``purges`` row says about one purge of one checkpoint, oldest first."""

    checkpoint_id: str
    old_hash: str
    new_hash: str
    secret_sha256: str
    replacement: str
    occurrences: int
    purged_at: str


class EndedSession(NamedTuple):
    """A session as a checkpoint's header records it, put back ended (see ``restore``)."""

    session_id: str
    agent: str
    model: str | None
    worktree: str
    branch: str | None
    base_commit: str | None
    started_at: str
    ended_at: str
    last_event_at: str | None
    #: The highest seq the checkpoint holds: recording into the session continues from it.
    last_seq: int
