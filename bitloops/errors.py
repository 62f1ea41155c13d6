"""Every error bitloops raises, under one root.

::

    BitloopsError
     ├── NotAGitRepository          (also ValueError)
     ├── UnknownRef                 (also LookupError)
     │    └── AmbiguousCheckpoint
     ├── CheckpointNotFound         (also LookupError)
     ├── SessionNotFound            (also LookupError)
     ├── RecordNotFound             (also LookupError)
     ├── UnknownAgent               (also LookupError)
     │    └── AgentNotSupported
     ├── TranscriptError            (also ValueError)
     ├── InvalidEvent               (also ValueError)
     │    ├── UnknownEventKind
     │    ├── InvalidPayload
     │    └── PayloadTooLarge
     ├── SessionEnded
     ├── SettingsError              (also ValueError)
     ├── AgentConfigError           (also ValueError)
     ├── CheckpointFilesError       (also ValueError)
     ├── GitError
     ├── StoreError
     │    ├── DatabaseCorrupt
     │    ├── ForeignDatabase
     │    ├── SchemaTooNew
     │    ├── DatabaseBusy
     │    ├── ImmutableCheckpoint
     │    └── SharedStoreError
     │         ├── SharedStoreUnavailable
     │         └── UnsupportedServer
     ├── PurgeError                 (also ValueError)
     ├── InvalidSearch              (also ValueError)
     ├── InvalidSessionId           (also ValueError)
     └── LockTimeout                (also TimeoutError)

Each message says what went wrong and what to do about it. Errors from the database
drivers and from ``git`` are translated (``raise ... from exc``), never leaked.
"""

from __future__ import annotations

__all__ = [
    "AgentConfigError",
    "AgentNotSupported",
    "AlreadyShared",
    "AmbiguousCheckpoint",
    "BitloopsError",
    "CheckpointFilesError",
    "CheckpointNotFound",
    "DatabaseBusy",
    "DatabaseCorrupt",
    "ForeignDatabase",
    "GitError",
    "ImmutableCheckpoint",
    "InvalidEvent",
    "InvalidPayload",
    "InvalidSearch",
    "InvalidSessionId",
    "LockTimeout",
    "NotAGitRepository",
    "PayloadTooLarge",
    "PurgeError",
    "RecordNotFound",
    "SchemaTooNew",
    "SessionEnded",
    "SessionNotFound",
    "SettingsError",
    "SharedStoreError",
    "SharedStoreUnavailable",
    "StoreError",
    "TranscriptError",
    "UnknownAgent",
    "UnknownEventKind",
    "UnknownRef",
    "UnsupportedServer",
]


class BitloopsError(Exception):
    """Root of every error the library raises; catch this to catch them all."""


class NotAGitRepository(BitloopsError, ValueError):
    """The path is not inside a git work tree."""


class AlreadyShared(BitloopsError):
    """A session or checkpoint asked to be kept local has already left this clone (pushed,
    or sent to the team store)."""


class UnknownRef(BitloopsError, LookupError):
    """A ref, SHA or checkpoint id that names no commit."""


class AmbiguousCheckpoint(UnknownRef):
    """A ``cp:`` prefix that names more than one checkpoint (or is too short to be one)."""


class CheckpointNotFound(BitloopsError, LookupError):
    """No checkpoint is linked to the commit or has the id asked for."""


class SessionNotFound(BitloopsError, LookupError):
    """No session has the id asked for."""


class RecordNotFound(BitloopsError, LookupError):
    """No why-record (decision, alternative, constraint, plan) has the id asked for."""


class UnknownAgent(BitloopsError, LookupError):
    """No agent integration has the name asked for (see ``bitloops.agents._registry.AGENTS``)."""


class AgentNotSupported(UnknownAgent):
    """The agent is known, but bitloops cannot import or restore its transcript files."""


class TranscriptError(BitloopsError, ValueError):
    """A transcript file cannot be imported: missing, unreadable, another format, or empty."""


class InvalidEvent(BitloopsError, ValueError):
    """An event cannot be recorded as given; nothing was written."""


class UnknownEventKind(InvalidEvent):
    """The event kind is not one of :data:`bitloops.EVENT_KINDS`."""


class InvalidPayload(InvalidEvent):
    """The payload is not JSON-serialisable text (or holds invalid UTF-8)."""


class PayloadTooLarge(InvalidEvent):
    """The serialised payload is larger than the configured ``max_payload_bytes``."""


class SessionEnded(BitloopsError):
    """The session has ended; start or resume one to record more."""


class SettingsError(BitloopsError, ValueError):
    """A settings file or environment variable holds something unusable."""


class AgentConfigError(BitloopsError, ValueError):
    """An agent's hook configuration file cannot be merged safely; it was left untouched."""


class CheckpointFilesError(BitloopsError, ValueError):
    """A checkpoint folder on disk is missing files or cannot be read."""


class GitError(BitloopsError):
    """A git command failed for a reason other than a bad ref."""


class StoreError(BitloopsError):
    """The database could not do what was asked."""


class DatabaseCorrupt(StoreError):
    """The database file is damaged or is not a SQLite database."""


class ForeignDatabase(StoreError):
    """The database file belongs to something other than bitloops."""


class SchemaTooNew(StoreError):
    """The database was written by a newer bitloops than this one."""


class DatabaseBusy(StoreError):
    """Another process held the database lock for longer than the busy timeout."""


class ImmutableCheckpoint(StoreError):
    """Something tried to change or delete committed checkpoint data."""


class SharedStoreError(StoreError):
    """The shared committed store (PostgreSQL) refused a request or is misconfigured."""


class SharedStoreUnavailable(SharedStoreError):
    """The shared committed store could not be reached; checkpoints wait in the outbox."""


class UnsupportedServer(SharedStoreError):
    """The PostgreSQL server is older than bitloops supports."""


class PurgeError(BitloopsError, ValueError):
    """A break-glass purge was asked for with unusable arguments."""


class InvalidSearch(BitloopsError, ValueError):
    """A search query that SQLite FTS5 cannot parse, even with its words quoted."""


class InvalidSessionId(BitloopsError, ValueError):
    """A recorded session id that cannot safely name a file; nothing was written.

    Ids come from agents' hook payloads, so one such as ``../../x`` must never become a
    path: ``bitloops resume`` refuses to write the transcript of such a session.
    """


class LockTimeout(BitloopsError, TimeoutError):
    """Another process held a bitloops lock file for longer than the caller would wait.

    The message names what the lock guards; trying again once that process has finished
    succeeds. Hooks never raise it to the agent: they spool their payload instead.
    """
