"""``bitloops mcp``: a stdio MCP server through which an agent records its own why.

Tools that record (``record_decision``, ``record_rejected_alternative``,
``record_constraint``, ``record_plan``, ``retract_record``) write events into that agent's
most recently active open session in this work tree (a new session of the agent when none
is open), redacted like every other event. Tools that read (``why``, ``file_history``,
``search``, ``checkpoint``) answer with compact text from :mod:`bitloops.context.answers`.

Built on the official MCP Python SDK (``pip install 'bitloops[mcp]'``), which is heavy
(pydantic, starlette, ...): this module is imported only by the ``mcp`` command, never by
``import bitloops``, the hooks or the other commands. A bad call gets an MCP error result
(``isError``) and the server goes on; nothing an agent sends can stop it.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired

from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from bitloops import __version__
from bitloops.errors import BitloopsError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from bitloops.repository import Repository

__all__ = ["INSTRUCTIONS", "MAX_ITEMS", "MAX_TEXT", "build_server", "describe", "serve"]

#: What the server tells the agent (the initialize result's ``instructions``).
INSTRUCTIONS = """\
bitloops keeps the reasoning behind this repository's code with each git commit.
- When you choose between approaches, call record_decision (what, why, files it applies to).
- When you drop an approach you tried or considered, call record_rejected_alternative, so \
nobody retries it.
- When the user or the repository states a rule you must follow, call record_constraint.
- If you have no plan tool of your own, keep your plan with record_plan (items with statuses).
- If something you recorded was wrong, call retract_record with its id and the reason.
- Before changing a file, why(path) and file_history(path) tell what was decided there \
before; search(query) and checkpoint(ref) find older reasoning.
Keep each record to a sentence or two; records are redacted and stored with the session."""

#: The longest text one field may hold, in characters.
MAX_TEXT = 8_000
#: The most entries of a list (``applies_to``, plan items).
MAX_ITEMS = 200
#: The bound given to the read tools' answers, in characters.
ANSWER_CHARS = 4_000
#: Set in the environment of the agents the distiller runs (the distiller's ``SESSION_MARK``).
DISTILLER_MARK = "BITLOOPS_DISTILLER_SESSION"


class PlanItemInput(TypedDict):
    """One step of a plan as an agent sends it."""

    text: str
    status: NotRequired[Literal["pending", "in_progress", "completed", "cancelled"]]


class _Recorder:
    """Opens the repository on first use and serialises every tool call."""

    def __init__(self, start: Path, agent: str, *, explicit: bool) -> None:
        self.start = start
        self.agent = agent
        # With --repo the user chose the repository; from the working directory, a server
        # registered for every project must not create bitloops state where it is not used.
        self.explicit = explicit
        self._repo: Repository | None = None
        self.lock = threading.Lock()

    def repo(self) -> Repository:
        if self._repo is None:
            from bitloops.repository import Repository

            repo = Repository.open(self.start)
            if not self.explicit and not _set_up(repo):
                repo.close()
                raise _NotSetUp(
                    f"bitloops is not set up in {repo.toplevel}: run `bitloops enable --agent "
                    f"{self.agent}` there first (nothing was recorded)"
                )
            self._repo = repo
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None


class _NotSetUp(BitloopsError):
    """The server runs in a work tree where bitloops was never enabled."""


def _set_up(repo: Repository) -> bool:
    """Whether bitloops is in use here: its database exists or its git hooks are installed."""
    if repo.db_path.exists():
        return True
    from bitloops.git._hooks import HOOK_NAMES, hooks_dir, is_bitloops_hook

    folder = hooks_dir(repo.toplevel)
    return any(is_bitloops_hook(folder / name) for name in HOOK_NAMES)


def _text(name: str, value: Any, *, required: bool = True) -> str | None:
    """``value`` checked: a non-empty string of at most :data:`MAX_TEXT` characters."""
    from mcp.server.mcpserver.exceptions import ToolError

    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return None  # an optional field sent empty says nothing
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{name} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ToolError(f"{name} is {len(value)} characters; keep it under {MAX_TEXT}")
    return value.strip()


def _names(applies_to: list[str] | str | None) -> list[str]:
    from mcp.server.mcpserver.exceptions import ToolError

    if applies_to is None:
        return []
    values = [applies_to] if isinstance(applies_to, str) else applies_to
    if len(values) > MAX_ITEMS:
        raise ToolError(f"applies_to names {len(values)} files; name at most {MAX_ITEMS}")
    names = [_text("each applies_to entry", v) for v in values]
    return [n for n in names if n is not None]


def build_server(start: Path, agent: str, *, repo: Path | None = None) -> MCPServer[Any]:
    """The MCP server for ``agent``, on the repository at ``repo`` (else around ``start``)."""
    return _build(_Recorder(repo or start, agent, explicit=repo is not None))


def _build(state: _Recorder) -> MCPServer[Any]:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations

    agent = state.agent
    # Hints for clients that ask before running a tool: recording only adds, reading only reads.
    adds = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server: MCPServer[Any] = MCPServer(
        "bitloops",
        title="bitloops",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )

    def run(body: Callable[[Repository], str], *, records: bool = True) -> str:
        if records and os.environ.get(DISTILLER_MARK):
            # Started by an agent the distiller runs (bitloops.checkpoint._distill): that session is
            # bitloops' own and must not write into the user's sessions, as its hooks don't.
            raise ToolError("this agent runs inside bitloops' distiller; nothing is recorded")
        with state.lock:
            try:
                return body(state.repo())
            except ToolError:
                raise
            except BitloopsError as exc:
                raise ToolError(str(exc)) from exc

    def answer(event_kind: str, event_id: str, session_id: str) -> str:
        return f"Recorded {event_kind} {event_id} (session {session_id})."

    @server.tool(annotations=adds)
    def record_decision(
        text: str, rationale: str | None = None, applies_to: list[str] | str | None = None
    ) -> str:
        """Record a decision: what you chose, why, and the files (or path::symbol) it concerns."""
        what = _text("text", text)
        why = _text("rationale", rationale, required=False)
        names = _names(applies_to)

        def body(repo: Repository) -> str:
            session = repo.agent_session(agent)
            event = session.decision(str(what), why, applies_to=names)
            return answer("decision", event.event_id, session.session_id)

        return run(body)

    @server.tool(annotations=adds)
    def record_rejected_alternative(
        text: str, reason: str | None = None, applies_to: list[str] | str | None = None
    ) -> str:
        """Record an approach you considered or tried and rejected, and why it was dropped."""
        what = _text("text", text)
        why = _text("reason", reason, required=False)
        names = _names(applies_to)

        def body(repo: Repository) -> str:
            session = repo.agent_session(agent)
            event = session.alternative(str(what), why, applies_to=names)
            return answer("rejected alternative", event.event_id, session.session_id)

        return run(body)

    @server.tool(annotations=adds)
    def record_constraint(
        text: str,
        stated_by: Literal["user", "repository", "agent"] | None = None,
        applies_to: list[str] | str | None = None,
    ) -> str:
        """Record a constraint you follow; stated_by: who stated it (user, repository, agent)."""
        what = _text("text", text)
        names = _names(applies_to)

        def body(repo: Repository) -> str:
            session = repo.agent_session(agent)
            event = session.constraint(str(what), stated_by=stated_by, applies_to=names)
            return answer("constraint", event.event_id, session.session_id)

        return run(body)

    @server.tool(annotations=adds)
    def record_plan(text: str | None = None, items: list[PlanItemInput] | None = None) -> str:
        """Record your plan: prose, or items with statuses; a plan with items replaces the last."""
        prose = _text("text", text, required=False)
        if items is not None and len(items) > MAX_ITEMS:
            raise ToolError(f"the plan has {len(items)} items; keep it under {MAX_ITEMS}")
        steps = [
            {"text": _text("each item's text", i["text"]), "status": i.get("status", "pending")}
            for i in items or []
        ]
        if prose is None and not steps:
            raise ToolError("a plan needs text or items")

        def body(repo: Repository) -> str:
            session = repo.agent_session(agent)
            event = session.plan(prose, items=steps or None)
            return answer("plan", event.event_id, session.session_id)

        return run(body)

    @server.tool(annotations=adds)
    def retract_record(record_id: str, because: str) -> str:
        """Retract a record that was wrong (its id as returned when recorded), saying why."""
        rid = _text("record_id", record_id)
        why = _text("because", because)

        def body(repo: Repository) -> str:
            note = repo.retract(str(rid), because=str(why), by="agent")
            return f"Retracted {note.record_id} ({note.annotation_id})."

        return run(body)

    def read_tool(name: str, value: str) -> str:
        try:
            answers = importlib.import_module("bitloops.context.answers")
        except ImportError:
            answers = None
        fn = getattr(answers, name, None)
        if not callable(fn):
            raise ToolError(f"{name} is not available in this version of bitloops")
        arg = _text("the argument", value)

        def body(repo: Repository) -> str:
            private = _calling_session_is_private(repo, agent)
            text: str = fn(repo, arg, max_chars=ANSWER_CHARS, private=private)
            return text

        return run(body, records=False)

    @server.tool(annotations=reads)
    def why(target: str) -> str:
        """Why a file, line or symbol is the way it is: `path`, `path:line` or `path::symbol`."""
        return read_tool("why", target)

    @server.tool(annotations=reads)
    def file_history(path: str) -> str:
        """The checkpoints that touched a file, newest first, with their decisions."""
        return read_tool("file_history", path)

    @server.tool(annotations=reads)
    def search(query: str) -> str:
        """Full-text search over the recorded reasoning of this repository."""
        return read_tool("search", query)

    @server.tool(annotations=reads)
    def checkpoint(ref: str) -> str:
        """The reasoning recorded for a commit (a ref, SHA or checkpoint id)."""
        return read_tool("checkpoint", ref)

    return server


def _calling_session_is_private(repo: Repository, agent: str) -> bool:
    """True when the agent's session here is private (the mark on its open session, as
    :meth:`Repository.agent_session` picks it; with none open, the ``private`` setting or
    BITLOOPS_PRIVATE): only then do the read tools show this clone's private checkpoints."""
    from bitloops.checkpoint._private import draft_is_private

    name = repo.redactor.redact(agent)
    open_ = [
        s
        for s in repo.store.sessions(worktree=repo.worktree)
        if s.agent == name and s.status != "ended"
    ]
    if not open_:
        return repo.settings.private  # its records would start a new session: private then
    latest = max(open_, key=lambda s: (s.last_event_at or s.started_at, s.started_at))
    return draft_is_private(repo, [latest.session_id])


def describe(start: Path, agent: str, *, repo: Path | None = None) -> dict[str, Any]:
    """The server's name, instructions and tools (``bitloops mcp --json``), without serving."""
    import anyio

    server = build_server(start, agent, repo=repo)
    tools = anyio.run(server.list_tools)
    return {
        "name": server.name,
        "version": server.version,
        "agent": agent,
        "instructions": server.instructions,
        "tools": [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ],
    }


def serve(start: Path, agent: str, *, repo: Path | None = None) -> None:
    """Run the server on stdin/stdout until the client closes them."""
    state = _Recorder(repo or start, agent, explicit=repo is not None)
    try:
        _build(state).run("stdio")
    finally:
        state.close()
