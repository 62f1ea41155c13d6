"""Coding agents: one module per agent turns its hooks and transcripts into events.

- :mod:`bitloops.agents.claude_code`: Claude Code's hook payloads and transcript.
- :mod:`bitloops.agents.codex`: OpenAI Codex CLI's hook payloads and rollout files.
- :mod:`bitloops.agents.gemini`: Gemini CLI's hook payloads and session files.
- :mod:`bitloops.agents.cursor`: Cursor's hook payloads and agent transcripts.
- :mod:`bitloops.agents.copilot`: GitHub Copilot CLI's hook payloads and events files.
- :mod:`bitloops.agents.opencode`: what the OpenCode plugin (``opencode_plugin.js``) sends.

Each module ends with its ``INTEGRATION`` record (:class:`Integration`, meeting the
:class:`AgentIntegration` Protocol): its hook mapping, transcript reader and writer, hook
entries, resume command, plan tools and MCP file. Around them: the one registry
(:data:`AGENTS`, :func:`integration`, :func:`register`), the installer of the entries that
make an agent run ``bitloops hook NAME`` and reach the MCP server, and ``resume`` (writing
a checkpoint's transcript back where its agent reads it). See ``docs/agents.md``.
"""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.agents._config import (
        AGENT_CONFIGS,
        AgentChange,
        disable_agent,
        disable_agents,
        enable_agent,
        enable_agents,
        enabled_agents,
        missing_events,
        parse_agent_names,
    )
    from bitloops.agents._contract import AgentIntegration
    from bitloops.agents._mcp_config import (
        MCP_FILES,
        McpChange,
        McpTarget,
        mcp_available,
        mcp_command,
        mcp_state,
    )
    from bitloops.agents._record import AgentConfig, Integration, TranscriptWriter
    from bitloops.agents._registry import (
        AGENTS,
        HOOK_FILES,
        agent_module,
        catch_up_all,
        import_reader,
        importable_agents,
        integration,
        integrations,
        register,
        run_agent_hook,
    )
    from bitloops.agents._resume import (
        RestoredTranscript,
        ResumeInfo,
        continue_command,
        restore_transcript,
        resume,
    )

__all__ = [
    "AGENTS",
    "AGENT_CONFIGS",
    "HOOK_FILES",
    "MCP_FILES",
    "AgentChange",
    "AgentConfig",
    "AgentIntegration",
    "Integration",
    "McpChange",
    "McpTarget",
    "RestoredTranscript",
    "ResumeInfo",
    "TranscriptWriter",
    "agent_module",
    "catch_up_all",
    "continue_command",
    "disable_agent",
    "disable_agents",
    "enable_agent",
    "enable_agents",
    "enabled_agents",
    "import_reader",
    "importable_agents",
    "integration",
    "integrations",
    "mcp_available",
    "mcp_command",
    "mcp_state",
    "missing_events",
    "parse_agent_names",
    "register",
    "restore_transcript",
    "resume",
    "run_agent_hook",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_registry": (
            "AGENTS",
            "HOOK_FILES",
            "agent_module",
            "catch_up_all",
            "import_reader",
            "importable_agents",
            "integration",
            "integrations",
            "register",
            "run_agent_hook",
        ),
        "_contract": ("AgentIntegration",),
        "_record": ("AgentConfig", "Integration", "TranscriptWriter"),
        "_config": (
            "AGENT_CONFIGS",
            "AgentChange",
            "disable_agent",
            "disable_agents",
            "enable_agent",
            "enable_agents",
            "enabled_agents",
            "missing_events",
            "parse_agent_names",
        ),
        "_mcp_config": (
            "MCP_FILES",
            "McpChange",
            "McpTarget",
            "mcp_available",
            "mcp_command",
            "mcp_state",
        ),
        "_resume": (
            "RestoredTranscript",
            "ResumeInfo",
            "continue_command",
            "restore_transcript",
            "resume",
        ),
    },
)
