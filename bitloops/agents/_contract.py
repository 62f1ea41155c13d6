"""The contract of an agent integration: what bitloops needs from each agent's module.

An agent integration is one module under ``bitloops.agents`` (or anywhere, registered with
:func:`bitloops.agents._registry.register`) whose ``INTEGRATION`` attribute meets
:class:`AgentIntegration`. The six built-in agents fill in
:class:`bitloops.agents._record.Integration`; mypy checks each of them against the
Protocol (``INTEGRATION: AgentIntegration = Integration(...)``) and
:func:`contract_problems` checks any record at run time.

This module imports typing, so the hooks never import it (only type checkers, the
installer's checks and the tests do).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bitloops.agents._record import AgentConfig, TranscriptWriter
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._session import Session
    from bitloops.model import Event, SessionInfo

__all__ = ["MEMBERS", "OPTIONAL", "AgentIntegration", "contract_problems"]

#: A history item an import reads back: (event kind, payload, file changes as
#: (path, change, old path)).
HistoryItem = tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]
#: Where an agent reads MCP servers: (file, ``json`` or ``toml``, the keys from the
#: document's root to the servers' object, the entry's shape).
McpLocation = tuple[Path, str, tuple[str, ...], str]
#: (transcript path, worktree) the hooks last saw for a session.
Known = tuple[str | None, str | None]


class Handle(Protocol):
    """**Protocol:** records one hook payload of the agent; returns the events recorded."""

    def __call__(
        self, payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None
    ) -> list[Event]:
        """Record ``payload``."""


class RunHook(Protocol):
    """**Protocol:** ``bitloops hook NAME``: one payload from ``stdin``; where a failure went."""

    def __call__(self, stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
        """Run the hook."""


class CatchUp(Protocol):
    """**Protocol:** records what a transcript added since the last call; how many events."""

    def __call__(
        self,
        repo: Recorder,
        session_id: str,
        transcript_path: str | os.PathLike[str],
        *,
        max_seconds: float = 2.0,
        max_lines: int = 20000,
    ) -> int:
        """Read the transcript's new part."""


#: ``active_transcripts(repo)``: (session id, transcript) of the open sessions.
OpenTranscripts = Callable[["Recorder"], list[tuple[str, str]]]
#: ``mcp_place(toplevel)``: where the agent reads MCP servers for that work tree.
McpPlace = Callable[[Path], McpLocation]
#: ``transcript_session_id(path)``: the session a transcript names, None if none.
TranscriptSessionId = Callable[[str | os.PathLike[str]], str | None]
#: ``transcript_history(repo, path)``: the hooks' events, read back from a whole file.
TranscriptHistory = Callable[["Recorder", str | os.PathLike[str]], Iterable[HistoryItem]]
#: ``import_pass(repo, sid, path, take)``: one read bringing events and history items.
ImportPass = Callable[
    ["Recorder", str, str | os.PathLike[str], Callable[[HistoryItem, "Session"], None]],
    int | None,
]
#: ``first_models(path)``: session id -> the first model the file names for it.
FirstModels = Callable[[str | os.PathLike[str]], dict[str, str]]
#: ``state_keys(sid, path)``: the reading states an import of ``path`` may move on.
StateKeys = Callable[[str, str | os.PathLike[str]], list[str]]
#: ``is_transcript(path)``: a file without a session id is the agent's all the same.
IsTranscript = Callable[[str | os.PathLike[str]], bool]
#: ``path(sid, cwd, home, env, start)``: where the agent would keep a session's file.
TranscriptPath = Callable[[str, str, Path, Mapping[str, str], datetime], Path]
#: ``existing(sid, cwd, home, env, known)``: the agent's own file for the session.
ExistingTranscript = Callable[[str, str, Path, Mapping[str, str], Known], "Path | None"]
#: ``lines(session, events, cwd)``: the transcript's JSON lines.
TranscriptLines = Callable[["SessionInfo", list["Event"], str], list[dict[str, Any]]]
#: ``cwd_of(path, cwd, candidates)``: the directory a found transcript belongs to.
CwdOf = Callable[[Path, str, list[str]], "str | None"]
#: ``start_dir(transcript, roots)``: the start directory a transcript's path names.
StartDir = Callable[[str, list[str]], "str | None"]


@runtime_checkable
class AgentIntegration(Protocol):
    """**Protocol:** what bitloops needs from one coding agent.

    Inheriting from it is optional: a module's ``INTEGRATION`` record only needs these
    attributes (the built-in agents use :class:`bitloops.agents._record.Integration`).
    The optional members (see :data:`OPTIONAL`) may be None.
    """

    @property
    def name(self) -> str:
        """The name sessions are recorded under, and of ``bitloops hook NAME``."""

    @property
    def label(self) -> str:
        """How people call the agent (``Claude Code``)."""

    @property
    def handle(self) -> Handle:
        """The hook mapping: records one hook payload."""

    @property
    def run_hook(self) -> RunHook:
        """``bitloops hook NAME``: reads one payload from standard input; never raises."""

    @property
    def catch_up(self) -> CatchUp:
        """The transcript reader: records what a transcript added since last time."""

    @property
    def active_transcripts(self) -> OpenTranscripts:
        """The open sessions' transcripts in a worktree (read before a promotion)."""

    @property
    def config(self) -> AgentConfig:
        """The hook entries ``bitloops enable --agent NAME`` writes, and where."""

    @property
    def mcp_file(self) -> str:
        """Where the agent's MCP server entry goes, for people."""

    @property
    def mcp_place(self) -> McpPlace:
        """Where the agent reads MCP servers for a work tree."""

    @property
    def transcript_session_id(self) -> TranscriptSessionId | None:
        """The session a transcript names (None: transcripts cannot be imported)."""

    @property
    def transcript_history(self) -> TranscriptHistory | None:
        """The hooks' events read back from a whole transcript, for an import."""

    @property
    def import_pass(self) -> ImportPass | None:
        """A one-read import of a new session's transcript, if the agent has one."""

    @property
    def first_models(self) -> FirstModels | None:
        """The first model of each session a transcript names (one-pass imports)."""

    @property
    def state_keys(self) -> StateKeys | None:
        """The reading states an import of a transcript may move on."""

    @property
    def is_transcript(self) -> IsTranscript | None:
        """Whether a file that names no session is the agent's transcript."""

    @property
    def resume_command(self) -> tuple[str, ...] | None:
        """The words that reopen a session in the agent's CLI, the id following."""

    @property
    def writer(self) -> TranscriptWriter | None:
        """The transcript writer that ``resume`` uses (None: bitloops cannot write one)."""

    @property
    def plan_tools(self) -> tuple[tuple[str, str], ...]:
        """The agent's plan tools and how each is read (``list``, ``prose``, ``task``)."""


#: Every member of :class:`AgentIntegration`.
MEMBERS = (
    "name",
    "label",
    "handle",
    "run_hook",
    "catch_up",
    "active_transcripts",
    "config",
    "mcp_file",
    "mcp_place",
    "transcript_session_id",
    "transcript_history",
    "import_pass",
    "first_models",
    "state_keys",
    "is_transcript",
    "resume_command",
    "writer",
    "plan_tools",
)
#: The members that may be None.
OPTIONAL = frozenset(
    {
        "transcript_session_id",
        "transcript_history",
        "import_pass",
        "first_models",
        "state_keys",
        "is_transcript",
        "resume_command",
        "writer",
    }
)
_CALLABLE = frozenset(
    {
        "handle",
        "run_hook",
        "catch_up",
        "active_transcripts",
        "mcp_place",
        "transcript_session_id",
        "transcript_history",
        "import_pass",
        "first_models",
        "state_keys",
        "is_transcript",
    }
)


def contract_problems(record: object) -> list[str]:
    """What keeps ``record`` from meeting :class:`AgentIntegration`; empty when nothing.

    Checks that every member is there, that the functions are callable (or None where
    allowed), that the name and label are non-empty strings and that the hook entries
    are the agent's own (same name and label).
    """
    problems: list[str] = []
    missing = object()
    for member in MEMBERS:
        value = getattr(record, member, missing)
        if value is missing:
            problems.append(f"{member} is missing")
        elif value is None and member not in OPTIONAL:
            problems.append(f"{member} is None")
        elif value is not None and member in _CALLABLE and not callable(value):
            problems.append(f"{member} is not callable")
    if problems:
        return problems
    for member in ("name", "label", "mcp_file"):
        value = getattr(record, member)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{member} must be a non-empty string")
    config = getattr(record, "config")  # noqa: B009 (record is any object here)
    if getattr(config, "name", None) != getattr(record, "name"):  # noqa: B009
        problems.append("config.name differs from name")
    if getattr(config, "label", None) != getattr(record, "label"):  # noqa: B009
        problems.append("config.label differs from label")
    command = getattr(record, "resume_command")  # noqa: B009
    if command is not None and (
        not isinstance(command, tuple)
        or not command
        or not all(isinstance(w, str) for w in command)
    ):
        problems.append("resume_command must be a non-empty tuple of words")
    writer = getattr(record, "writer")  # noqa: B009
    for part in ("path", "existing", "lines", "cwd_of"):
        if writer is not None and not callable(getattr(writer, part, None)):
            problems.append(f"writer.{part} is not callable")
    return problems
