"""What the packages below the façade need of one git work tree: the ``Workspace`` Protocol.

:class:`bitloops.Repository` is the one implementation. The lower packages (capture, the
agents, checkpoint) take a ``Workspace`` (or their own extension of it, such as
:class:`bitloops.capture.Recorder`) instead of importing the façade, so that data and
imports flow one way (docs/architecture.md); the façade passes itself.
"""

from __future__ import annotations

# Not from typing at run time: the hooks import the modules that import this one.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Protocol

    from bitloops.git._git import Git, RepoPaths
    from bitloops.model import Checkpoint
    from bitloops.redact import Redactor
    from bitloops.settings import Settings
    from bitloops.store._postgres import PostgresStore
    from bitloops.store._sqlite import SQLiteStore
else:
    Protocol = object

__all__ = ["DB_MARKER_RELATIVE_PATH", "DB_RELATIVE_PATH", "Workspace"]

#: Where the database lives, relative to the git common directory (shared by worktrees).
DB_RELATIVE_PATH = "bitloops/bitloops.db"
#: Written when the database is created: while it exists, an empty or missing database
#: is lost data (an error), not a fresh clone's first use. Relative to the common dir.
DB_MARKER_RELATIVE_PATH = "bitloops/database-created.json"


class Workspace(Protocol):
    """One git work tree with its settings, its stores and its redactor."""

    @property
    def paths(self) -> RepoPaths:
        """Where the work tree, the git directory and the common directory are."""

    @property
    def git(self) -> Git:
        """git, run in the work tree."""

    @property
    def settings(self) -> Settings:
        """The settings in effect."""

    @property
    def toplevel(self) -> Path:
        """The work tree's top directory."""

    @property
    def worktree(self) -> str:
        """The work tree's name for the live tables (``main`` or a linked worktree's)."""

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""

    @property
    def store(self) -> SQLiteStore:
        """The embedded store: live state and this clone's checkpoints."""

    @property
    def team(self) -> bool:
        """Whether a team store (PostgreSQL) is configured."""

    @property
    def shared_store(self) -> PostgresStore | None:
        """The team store, connected on first use; None without one."""

    @property
    def redactor(self) -> Redactor:
        """The redactor every stored text passes."""

    def checkpoint(self, ref: str = "HEAD") -> Checkpoint:
        """The checkpoint of a commit or a ``cp:`` prefix."""

    def link(self, ref: str, checkpoint_id: str, reason: str = "manual") -> bool:
        """Link a commit to an existing checkpoint; False when it was linked already."""

    def promote_session(self, session_id: str) -> Checkpoint | None:
        """Promote one session's draft on its own (the ``session`` strategy)."""

    def close(self) -> None:
        """Release the stores."""
