"""The record each agent module fills in: everything bitloops knows about one agent.

An agent module ends with ``INTEGRATION = Integration(...)``: its name, its hook mapping,
its transcript reader and writer, the hook entries the installer writes, how its CLI
resumes a session, its plan tools and where it reads MCP servers. The registry
(:mod:`bitloops.agents._registry`) finds the record by the agent's name; the contract the
record meets is :class:`bitloops.agents._contract.AgentIntegration`.

The classes here are plain slotted classes, not attrs ones: every agent hook builds its
agent's record, and a hook process must not pay for importing attrs or typing.
"""

from __future__ import annotations

from bitloops._frozen import Frozen

# Not from typing: every agent hook imports this module.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.agents._contract import (
        CatchUp,
        CwdOf,
        ExistingTranscript,
        FirstModels,
        Handle,
        ImportPass,
        IsTranscript,
        McpPlace,
        OpenTranscripts,
        RunHook,
        StartDir,
        StateKeys,
        TranscriptHistory,
        TranscriptLines,
        TranscriptPath,
        TranscriptSessionId,
    )


__all__ = ["AgentConfig", "Integration", "TranscriptWriter"]


class AgentConfig(Frozen):
    """Where and how one agent runs ``bitloops hook NAME``: what the installer writes."""

    __slots__ = (
        "also_reads",
        "command_keys",
        "entry_fields",
        "event_env",
        "events",
        "label",
        "layout",
        "matcher_events",
        "name",
        "note",
        "path",
        "personal",
        "plugin",
        "tool_matchers",
    )
    #: The agent's name for ``--agent`` and ``bitloops hook``.
    name: str
    #: How people call the agent.
    label: str
    #: The file bitloops writes, relative to the top of the work tree (POSIX separators).
    path: str
    #: The file's shape: ``nested`` (``{"hooks": {Event: [{"hooks": [entry]}]}}``, Claude
    #: Code's), ``flat`` (``{"version": 1, "hooks": {event: [entry]}}``) or ``plugin``.
    layout: str
    #: The hook events that get an entry (none for a plugin).
    events: tuple[str, ...]
    #: True when the file is one person's own (not committed): its command may then name
    #: the Python that ran ``enable``; shared files get ``bitloops hook NAME`` (on PATH).
    personal: bool
    #: Extra fields of each entry, beside its command.
    entry_fields: tuple[tuple[str, Any], ...]
    #: The entry's keys that hold its command (the first is written, all are recognised).
    command_keys: tuple[str, ...]
    #: Events whose group gets ``"matcher": ""`` (all tools), for agents that want one.
    matcher_events: frozenset[str]
    #: Events whose group runs for some tools only, with its ``matcher``: the edit tools
    #: before which the hook hands the agent a file's past reasoning (context/_inject.py).
    tool_matchers: tuple[tuple[str, str], ...]
    #: A shared file the agent reads too: events it already hooks up to bitloops get no
    #: second entry (the agent would run both, recording everything twice).
    also_reads: str | None
    #: An environment variable each entry sets to its event's name (in the entry's
    #: ``env``), for agents whose payloads may not name their event.
    event_env: str | None
    #: What the user still has to do after enabling, if anything.
    note: str | None
    #: For the ``plugin`` layout: the file of ``bitloops.agents`` copied to :attr:`path`.
    plugin: str | None

    def __init__(
        self,
        *,
        name: str,
        label: str,
        path: str,
        layout: str,
        events: tuple[str, ...] = (),
        personal: bool = False,
        entry_fields: tuple[tuple[str, Any], ...] = (),
        command_keys: tuple[str, ...] = ("command",),
        matcher_events: frozenset[str] = frozenset(),
        tool_matchers: tuple[tuple[str, str], ...] = (),
        also_reads: str | None = None,
        event_env: str | None = None,
        note: str | None = None,
        plugin: str | None = None,
    ) -> None:
        self._fill(locals())


class TranscriptWriter(Frozen):
    """How one agent's transcript is named, found and written back (for ``resume``)."""

    __slots__ = ("cwd_of", "existing", "lines", "path", "start_dir")
    #: ``path(sid, cwd, home, env, start)``: where the agent would keep the file.
    path: TranscriptPath
    #: ``existing(sid, cwd, home, env, known)``: the agent's own file for the session,
    #: wherever the agent keeps it (not only in ``cwd``'s folder); None when it has none.
    existing: ExistingTranscript
    #: ``lines(session, events, cwd)``: the file's JSON lines, rebuilt from the events.
    lines: TranscriptLines
    #: ``cwd_of(path, cwd, candidates)``: which directory a found file belongs to.
    cwd_of: CwdOf
    #: ``start_dir(transcript, roots)``: the directory a transcript path the hooks saw
    #: says the session started in (one of ``roots`` or below); None: it says nothing.
    start_dir: StartDir | None

    def __init__(
        self,
        *,
        path: TranscriptPath,
        existing: ExistingTranscript,
        lines: TranscriptLines,
        cwd_of: CwdOf,
        start_dir: StartDir | None = None,
    ) -> None:
        self._fill(locals())


class Integration(Frozen):
    """One agent, as its module declares it; meets :class:`~._contract.AgentIntegration`.

    The functions are the module's own; the optional ones are None when the agent has
    no such thing (no transcript to import, no transcript bitloops can write back...).
    """

    __slots__ = (
        "active_transcripts",
        "catch_up",
        "config",
        "first_models",
        "handle",
        "import_pass",
        "is_transcript",
        "label",
        "mcp_file",
        "mcp_place",
        "name",
        "plan_tools",
        "resume_command",
        "run_hook",
        "state_keys",
        "transcript_history",
        "transcript_session_id",
        "writer",
    )
    #: The name sessions are recorded under, and of ``bitloops hook NAME``.
    name: str
    #: How people call the agent.
    label: str
    #: Records one hook payload (the hook mapping); see each module's ``handle``.
    handle: Handle
    #: ``bitloops hook NAME``: reads a payload from standard input, never raises.
    run_hook: RunHook
    #: Records what the session's transcript added since last time.
    catch_up: CatchUp
    #: (session id, transcript) of each session open in a worktree, for :attr:`catch_up`.
    active_transcripts: OpenTranscripts
    #: The hook entries ``bitloops enable --agent NAME`` writes.
    config: AgentConfig
    #: Where the agent's MCP server entry goes, for people (docs/agents.md).
    mcp_file: str
    #: ``mcp_place(toplevel)``: (file, ``json``/``toml``, keys to the servers, entry shape).
    mcp_place: McpPlace
    #: The session id a transcript file names; None: the agent's transcripts cannot be imported.
    transcript_session_id: TranscriptSessionId | None
    #: What the hooks record, read back from a whole transcript (for imports).
    transcript_history: TranscriptHistory | None
    #: One read of a new session's file that records events and history together.
    import_pass: ImportPass | None
    #: The first model of each session a file names (for a one-pass import).
    first_models: FirstModels | None
    #: The reading states an import of a file may move on (a subagent's has its own).
    state_keys: StateKeys | None
    #: Whether a file without a session id is the agent's transcript all the same.
    is_transcript: IsTranscript | None
    #: The words that reopen a session in the agent's CLI (the id follows); None: none.
    resume_command: tuple[str, ...] | None
    #: Writes the agent's transcript back for ``resume``; None: bitloops cannot.
    writer: TranscriptWriter | None
    #: The agent's plan tools and how each is read (see :mod:`bitloops.capture._plans`).
    plan_tools: tuple[tuple[str, str], ...]

    def __init__(
        self,
        *,
        name: str,
        label: str,
        handle: Handle,
        run_hook: RunHook,
        catch_up: CatchUp,
        active_transcripts: OpenTranscripts,
        config: AgentConfig,
        mcp_file: str,
        mcp_place: McpPlace,
        transcript_session_id: TranscriptSessionId | None = None,
        transcript_history: TranscriptHistory | None = None,
        import_pass: ImportPass | None = None,
        first_models: FirstModels | None = None,
        state_keys: StateKeys | None = None,
        is_transcript: IsTranscript | None = None,
        resume_command: tuple[str, ...] | None = None,
        writer: TranscriptWriter | None = None,
        plan_tools: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._fill(locals())
