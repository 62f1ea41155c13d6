"""What capture and the agents need of a work tree: a :class:`~bitloops._workspace.Workspace`
that opens sessions (:class:`bitloops.Repository` is it)."""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: the hooks import the modules that import this one

if TYPE_CHECKING:
    from typing import Any, Protocol

    from bitloops._workspace import Workspace
    from bitloops.capture._session import Session
else:
    Protocol = Workspace = object

__all__ = ["AgentTable", "Recorder"]


class AgentTable(Protocol):
    """The agents capture calls back into, by name (``bitloops.agents``' registry).

    Capture sits below the agents and never imports them: the façade hands it the
    registry (:meth:`Recorder._agents`), which loads an agent's module only when asked.
    """

    def integration(self, name: str) -> Any:
        """The record of a registered agent (an ``AgentIntegration``)."""

    def import_reader(self, name: str) -> Any:
        """The record of an agent whose transcripts can be imported."""

    def importable_agents(self) -> list[str]:
        """The names of the agents whose transcripts can be imported, sorted."""


class Recorder(Workspace, Protocol):
    """A work tree whose sessions can be started and resumed."""

    def start_session(
        self, agent: str, model: str | None = None, *, session_id: str | None = None
    ) -> Session:
        """Start a session (or resume the one ``session_id`` names)."""

    def session(self, session_id: str) -> Session:
        """The handle of an existing session."""

    def agent_session(self, agent: str) -> Session:
        """The session an agent's own records go to (the one its hooks opened)."""

    def _agents(self) -> AgentTable:
        """The agent registry, for spool replay and import to reach an agent by name."""
