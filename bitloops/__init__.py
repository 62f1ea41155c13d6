"""bitloops: keep the reasoning behind AI-written code.

Record an agent's session durably as it happens, promote it to an immutable checkpoint
on ``git commit``, and ask any commit what was asked, how it was reasoned about and
what was rejected::

    import bitloops

    repo = bitloops.Repository.open(".")
    with repo.start_session(agent="my-agent", model="some-model") as s:
        s.prompt("Add retries to the HTTP client")
        s.decision("Exponential backoff", rationale="the server rate-limits bursts")
    # ... git commit ...
    print(repo.promote("HEAD").summary.intent)

Names are imported lazily, so ``import bitloops`` stays cheap for hooks.
"""

from __future__ import annotations

from bitloops._aliases import install as _install_aliases
from bitloops._lazy import import_module
from bitloops.errors import (
    AgentConfigError,
    AgentNotSupported,
    AlreadyShared,
    AmbiguousCheckpoint,
    BitloopsError,
    CheckpointFilesError,
    CheckpointNotFound,
    DatabaseBusy,
    DatabaseCorrupt,
    ForeignDatabase,
    GitError,
    ImmutableCheckpoint,
    InvalidEvent,
    InvalidPayload,
    InvalidSearch,
    InvalidSessionId,
    LockTimeout,
    NotAGitRepository,
    PayloadTooLarge,
    PurgeError,
    RecordNotFound,
    SchemaTooNew,
    SessionEnded,
    SessionNotFound,
    SettingsError,
    SharedStoreError,
    SharedStoreUnavailable,
    StoreError,
    TranscriptError,
    UnknownAgent,
    UnknownEventKind,
    UnknownRef,
    UnsupportedServer,
)

# Spelled out rather than imported: importing `typing` would double the cost of
# `import bitloops`, which every agent hook pays. Type checkers read it as True.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.capture._session import Session
    from bitloops.checkpoint._files import read_checkpoint_dir
    from bitloops.checkpoint._search import SearchHit
    from bitloops.checkpoint._summary import StructuredSummarizer, Summarizer
    from bitloops.checkpoint._transcript import Transcript
    from bitloops.checkpoint._verify import Problem, PurgeReport, VerifyReport
    from bitloops.context import FileHistoryEntry
    from bitloops.model import (
        EVENT_KINDS,
        PLAN_STATUSES,
        RECORD_SOURCES,
        Alternative,
        Annotation,
        Checkpoint,
        Constraint,
        Decision,
        DraftCommit,
        Event,
        EventKind,
        Evidence,
        FileTouched,
        ModelIdentity,
        Plan,
        PlanItem,
        SessionInfo,
        Status,
        Summary,
        Symbol,
    )
    from bitloops.repository import Repository
    from bitloops.settings import Settings

__version__ = "0.1.0"

_install_aliases()

__all__ = [
    "EVENT_KINDS",
    "PLAN_STATUSES",
    "RECORD_SOURCES",
    "AgentConfigError",
    "AgentNotSupported",
    "AlreadyShared",
    "Alternative",
    "AmbiguousCheckpoint",
    "Annotation",
    "BitloopsError",
    "Checkpoint",
    "CheckpointFilesError",
    "CheckpointNotFound",
    "Constraint",
    "DatabaseBusy",
    "DatabaseCorrupt",
    "Decision",
    "DraftCommit",
    "Event",
    "EventKind",
    "Evidence",
    "FileHistoryEntry",
    "FileTouched",
    "ForeignDatabase",
    "GitError",
    "ImmutableCheckpoint",
    "InvalidEvent",
    "InvalidPayload",
    "InvalidSearch",
    "InvalidSessionId",
    "LockTimeout",
    "ModelIdentity",
    "NotAGitRepository",
    "PayloadTooLarge",
    "Plan",
    "PlanItem",
    "Problem",
    "PurgeError",
    "PurgeReport",
    "RecordNotFound",
    "Repository",
    "SchemaTooNew",
    "SearchHit",
    "Session",
    "SessionEnded",
    "SessionInfo",
    "SessionNotFound",
    "Settings",
    "SettingsError",
    "SharedStoreError",
    "SharedStoreUnavailable",
    "Status",
    "StoreError",
    "StructuredSummarizer",
    "Summarizer",
    "Summary",
    "Symbol",
    "Transcript",
    "TranscriptError",
    "UnknownAgent",
    "UnknownEventKind",
    "UnknownRef",
    "UnsupportedServer",
    "VerifyReport",
    "__version__",
    "read_checkpoint_dir",
]

# name -> module that defines it, imported on first access
_LAZY = {
    "read_checkpoint_dir": "checkpoint._files",
    "FileHistoryEntry": "context",
    "Repository": "repository",
    "SearchHit": "checkpoint._search",
    "Session": "capture._session",
    "Settings": "settings",
    "StructuredSummarizer": "checkpoint._summary",
    "Summarizer": "checkpoint._summary",
    "Problem": "checkpoint._verify",
    "PurgeReport": "checkpoint._verify",
    "VerifyReport": "checkpoint._verify",
    "Transcript": "checkpoint._transcript",
    **dict.fromkeys(
        (
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
        ),
        "model",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bitloops' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
