"""The data bitloops keeps: events, sessions, drafts and immutable checkpoints.

Committed data is frozen; a change is a new object (``attrs.evolve``). All
(de)serialisation goes through the private converter in :mod:`bitloops._codec`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

__all__ = [
    "EVENT_KINDS",
    "PLAN_STATUSES",
    "RECORD_SOURCES",
    "Alternative",
    "Annotation",
    "Checkpoint",
    "Constraint",
    "Decision",
    "DraftCommit",
    "Event",
    "EventKind",
    "Evidence",
    "FileTouched",
    "ModelIdentity",
    "Plan",
    "PlanItem",
    "SessionInfo",
    "Status",
    "Summary",
    "Symbol",
]


class EventKind(enum.StrEnum):
    """What an event records. Values compare equal to their plain strings."""

    PROMPT = "prompt"
    RESPONSE = "response"
    REASONING = "reasoning"
    TOOL_USE = "tool_use"
    TOOL_RESULT = "tool_result"
    FILE_CHANGE = "file_change"
    DECISION = "decision"
    PLAN = "plan"
    CONSTRAINT = "constraint"
    ALTERNATIVE = "alternative"
    ERROR = "error"
    COMPACTION = "compaction"
    SUBAGENT = "subagent"
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    NOTE = "note"


#: Every kind :meth:`bitloops.Session.record` accepts.
EVENT_KINDS: frozenset[str] = frozenset(k.value for k in EventKind)

#: The ``change`` values of a file_change event.
FILE_CHANGES: frozenset[str] = frozenset({"added", "modified", "deleted", "renamed"})


@attrs.frozen(kw_only=True)
class Event:
    """One thing that happened in a session, as stored.

    ``seq`` counts the session's events from 1 with no gaps; ``ts`` is UTC.
    ``payload`` is the JSON object given to :meth:`~bitloops.Session.record`, after
    redaction and a JSON round trip (tuples become lists, keys become strings).
    """

    event_id: str
    session_id: str
    seq: int
    ts: datetime
    kind: str
    agent: str
    model: str | None = None
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    artefacts: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SessionInfo:
    """Who worked, with which model, and when: one agent session."""

    session_id: str
    agent: str
    model: str | None = None
    status: str = "active"
    started_at: datetime
    ended_at: datetime | None = None
    last_event_at: datetime | None = None
    branch: str | None = None
    base_commit: str | None = None
    event_count: int = 0

    @property
    def duration(self) -> timedelta:
        """From start to end, or to the last event while the session is still open."""
        end = self.ended_at or self.last_event_at or self.started_at
        return end - self.started_at


@attrs.frozen(kw_only=True)
class FileTouched:
    """A file the commit changed or the agent reported changing."""

    path: str
    change: str
    old_path: str | None = None
    in_commit: bool = True
    by_agent: bool = False


@attrs.frozen(kw_only=True)
class Symbol:
    """A function, class, method or module whose lines the commit changed."""

    path: str
    name: str
    kind: str
    language: str = "python"


@attrs.frozen(kw_only=True)
class ModelIdentity:
    """An agent and the model it ran on."""

    agent: str
    model: str | None = None


#: Where a why-record came from: the agent said so (MCP tools, ``bitloops record``, the
#: Python API), the agent's own plan tool, bitloops' deterministic extractor, or the
#: optional LLM distiller.
RECORD_SOURCES: tuple[str, ...] = ("agent", "plan-tool", "extracted", "llm")

#: The statuses of a plan item, after each agent's own words are normalised.
PLAN_STATUSES: tuple[str, ...] = ("completed", "in_progress", "pending", "cancelled")


@attrs.frozen(kw_only=True)
class Evidence:
    """Where a why-record was found: the event, and a verbatim excerpt of it.

    ``excerpt`` is a verbatim part of the event's text (after redaction), so a reader can
    check the record against what was said; it is empty when the record is the event
    itself (what the agent recorded). ``kind`` is that event's kind (prompt, reasoning,
    response, tool_use, decision...).
    """

    event_id: str | None = None
    session_id: str | None = None
    seq: int | None = None
    kind: str | None = None
    excerpt: str = ""

    @classmethod
    def of(cls, event: Event, excerpt: str = "") -> Evidence:
        """The evidence pointing at ``event``, with ``excerpt`` (a verbatim part of its text)."""
        return cls(
            event_id=event.event_id,
            session_id=event.session_id,
            seq=event.seq,
            kind=event.kind,
            excerpt=excerpt,
        )


@attrs.frozen(kw_only=True)
class Decision:
    """A choice the agent made, and why.

    ``source`` is one of :data:`RECORD_SOURCES`; ``applies_to`` names the files or
    symbols (``path`` or ``path::name``) it is about; ``confidence`` is 1.0 for what the
    agent recorded itself and the extractor's estimate otherwise; ``record_id`` is stable
    (the recording event's id, or a digest of the evidence) so a retraction can name it.
    """

    text: str
    rationale: str | None = None
    source: str = "agent"
    applies_to: tuple[str, ...] = ()
    evidence: Evidence | None = None
    confidence: float = 1.0
    record_id: str = ""


@attrs.frozen(kw_only=True)
class Alternative:
    """An approach the agent considered and rejected, and why (fields as :class:`Decision`)."""

    text: str
    reason: str | None = None
    source: str = "agent"
    applies_to: tuple[str, ...] = ()
    evidence: Evidence | None = None
    confidence: float = 1.0
    record_id: str = ""


@attrs.frozen(kw_only=True)
class Constraint:
    """A rule the work had to follow, and who stated it (``user``, ``repository``, ``agent``).

    Other fields as :class:`Decision`.
    """

    text: str
    stated_by: str | None = None
    source: str = "agent"
    applies_to: tuple[str, ...] = ()
    evidence: Evidence | None = None
    confidence: float = 1.0
    record_id: str = ""


@attrs.frozen(kw_only=True)
class PlanItem:
    """One step of a plan and its status (one of :data:`PLAN_STATUSES`)."""

    text: str
    status: str = "pending"
    item_id: str | None = None


@attrs.frozen(kw_only=True)
class Plan:
    """The latest state of one plan of one session.

    ``tool`` is the plan tool it came from (``TodoWrite``, ``update_plan``,
    ``ExitPlanMode``, ...; ``record`` for a plan the agent recorded through bitloops);
    ``items`` its steps with their statuses, ``text`` a plan written as prose (the
    markdown of ``ExitPlanMode``) or an explanation. ``agent_id`` names the subagent
    whose plan it is. ``updates`` counts the calls that shaped it; ``evidence`` is the
    latest of them.
    """

    tool: str
    items: tuple[PlanItem, ...] = ()
    text: str | None = None
    source: str = "plan-tool"
    session_id: str | None = None
    agent_id: str | None = None
    updates: int = 1
    evidence: Evidence | None = None
    record_id: str = ""

    @property
    def done(self) -> int:
        """How many items are completed."""
        return sum(1 for item in self.items if item.status == "completed")


@attrs.frozen(kw_only=True)
class Annotation:
    """An append-only note on a why-record or a checkpoint, kept outside its content hash.

    ``kind`` is ``retraction`` (the record named by ``record_id`` is wrong; ``reason``
    says why) or ``distillation`` (the LLM distiller's result, in ``body``).
    ``annotation_hash`` is the SHA-256 of its canonical form, checked by ``verify``.
    """

    annotation_id: str
    kind: str
    created_at: datetime
    record_id: str | None = None
    checkpoint_id: str | None = None
    reason: str | None = None
    body: Mapping[str, Any] = attrs.field(factory=dict)
    annotation_hash: str = ""


@attrs.frozen(kw_only=True)
class Summary:
    """The structured account of a checkpoint: what was asked, what was decided, why.

    The built-in :class:`bitloops.checkpoint._summary.StructuredSummarizer` fills every field but
    ``text`` deterministically; a plugged-in summariser may add prose in ``text``.
    """

    intent: tuple[str, ...] = ()
    outcome: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    plans: tuple[Plan, ...] = ()
    files: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float = 0.0
    event_counts: Mapping[str, int] = attrs.field(factory=dict)
    text: str | None = None


@attrs.frozen(kw_only=True)
class Checkpoint:
    """The immutable record of the work behind a commit.

    ``checkpoint_id`` is the checkpoint's own id; ``commit_sha`` the commit it was
    created for; ``commits`` every commit linked to it (rewrites such as amend or
    rebase add links, never change the checkpoint). ``content_hash`` is the SHA-256
    of its canonical form (see ``docs/storage.md``), ``parent_hash`` the hash of the
    checkpoint of the nearest first-parent ancestor commit that has one.
    """

    checkpoint_id: str
    commit_sha: str
    commits: tuple[str, ...]
    created_at: datetime
    branch: str | None = None
    strategy: str = "manual_commit"
    sessions: tuple[SessionInfo, ...] = ()
    #: The full ordered transcript (a :class:`bitloops.Transcript` when read from storage).
    events: Sequence[Event] = ()
    summary: Summary = attrs.field(factory=Summary)
    files: tuple[FileTouched, ...] = ()
    symbols: tuple[Symbol, ...] = ()
    models: tuple[ModelIdentity, ...] = ()
    parent_checkpoint_id: str | None = None
    parent_hash: str | None = None
    content_hash: str = ""


@attrs.define(kw_only=True)
class DraftCommit:
    """The live state of one worktree: every event not yet promoted."""

    worktree: str
    sessions: tuple[SessionInfo, ...] = ()
    events: Sequence[Event] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """Paths named by the draft's file_change events, first mention first."""
        seen: dict[str, None] = {}
        # A Transcript can hand over just these events without parsing the rest.
        of_kinds = getattr(self.events, "of_kinds", None)
        events = of_kinds([EventKind.FILE_CHANGE]) if of_kinds else self.events
        for event in events:
            if event.kind == EventKind.FILE_CHANGE:
                path = event.payload.get("path")
                if isinstance(path, str):
                    seen.setdefault(path, None)
        return tuple(seen)

    @property
    def empty(self) -> bool:
        """True when there is nothing to promote."""
        return not self.events


@attrs.frozen(kw_only=True)
class Status:
    """What is being captured right now (``bitloops status``)."""

    capture_enabled: bool
    strategy: str
    agents: tuple[str, ...]
    active_sessions: tuple[SessionInfo, ...]
    checkpoint_count: int
    draft_event_count: int
    #: The team's shared committed store (password hidden), or None when it is local only.
    committed_store: str | None = None
    #: Checkpoints waiting in the outbox to be sent to the shared store.
    unsent_count: int = 0
    #: Why the last attempt to send them failed, if it did.
    unsent_error: str | None = None
    #: The bitloops git hooks installed for this work tree (none: nothing is promoted).
    git_hooks: tuple[str, ...] = ()
    #: The agents whose configuration in this work tree runs bitloops' hooks.
    agents_enabled: tuple[str, ...] = ()
    #: Those of the open sessions marked private (kept in this clone).
    private_sessions: tuple[str, ...] = ()
