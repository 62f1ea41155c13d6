"""The one registry of agent integrations: agent name -> the module that holds its record.

Each agent's module ends with an ``INTEGRATION`` record (see
:class:`bitloops.agents._contract.AgentIntegration`); everything that needs an agent (the
hook command, the installer, resume, the CLI's lists, imports, the spool's replay, the
catch-up before a promotion) finds it here, by name. The registry holds module paths,
not modules: ``bitloops hook NAME`` imports its own agent's module and no other.

- :mod:`bitloops.agents.claude_code`: Claude Code's hook payloads and transcript.
- :mod:`bitloops.agents.codex`: OpenAI Codex CLI's hook payloads and rollout files.
- :mod:`bitloops.agents.gemini`: Gemini CLI's hook payloads and session files.
- :mod:`bitloops.agents.cursor`: Cursor's hook payloads and agent transcripts.
- :mod:`bitloops.agents.copilot`: GitHub Copilot CLI's hook payloads and events files.
- :mod:`bitloops.agents.opencode`: what the OpenCode plugin (``opencode_plugin.js``) sends.

Adding an agent is one module with its ``INTEGRATION`` and one line in :data:`AGENTS`
(or a :func:`register` call, for an agent that lives outside bitloops). See
``docs/agents.md``.
"""

from __future__ import annotations

import os
import time

from bitloops._lazy import import_module

# Not from typing: `bitloops hook NAME` imports this module on every agent event.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from types import ModuleType
    from typing import IO, Any

    from bitloops.agents._contract import AgentIntegration
    from bitloops.capture._recorder import Recorder

__all__ = [
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
]

#: ``bitloops hook NAME`` -> the module whose ``INTEGRATION`` is that agent's record: a
#: module of ``bitloops.agents`` by its own name, or any module by its dotted path.
AGENTS = {
    "claude-code": "claude_code",
    "codex": "codex",
    "gemini": "gemini",
    "cursor": "cursor",
    "copilot": "copilot",
    "opencode": "opencode",
}

#: Where each agent's hook entries live in the work tree: its record's ``config.path``,
#: repeated here (a test keeps the two equal) so that asking which agents are enabled
#: (``bitloops status``) imports only the modules of agents whose file exists.
HOOK_FILES = {
    "claude-code": ".claude/settings.local.json",
    "codex": ".codex/hooks.json",
    "gemini": ".gemini/settings.json",
    "cursor": ".cursor/hooks.json",
    "copilot": ".github/hooks/bitloops.json",
    "opencode": ".opencode/plugin/bitloops.js",
}


def register(name: str, module: str, *, hook_file: str | None = None) -> None:
    """Make ``module`` (a dotted path, ``package.module``) the integration of the agent ``name``.

    For an agent that lives outside bitloops: its module's ``INTEGRATION`` must meet
    :class:`~bitloops.agents._contract.AgentIntegration` with this name. Registering a
    name again replaces its module. A path without a package is refused
    (:class:`~bitloops.errors.AgentConfigError`): it would name a module of bitloops'.
    ``hook_file``, its record's ``config.path``, lets :func:`~._config.enabled_agents`
    skip importing the module where that file is absent.
    """
    if "." not in module.strip("."):
        from bitloops.errors import AgentConfigError

        raise AgentConfigError(
            f"register the agent {name!r} with its module's full dotted path "
            f"(package.module), not {module!r}"
        )
    AGENTS[name] = module
    if hook_file is None:
        HOOK_FILES.pop(name, None)
    else:
        HOOK_FILES[name] = hook_file


def _module_path(name: str) -> str:
    from bitloops.errors import UnknownAgent

    try:
        where = AGENTS[name]
    except KeyError:
        known = ", ".join(sorted(AGENTS))
        raise UnknownAgent(
            f"no agent integration is called {name!r}; use one of: {known}"
        ) from None
    return where if "." in where else f"bitloops.agents.{where}"


def agent_module(name: str) -> ModuleType:
    """The module that handles the agent ``name`` (a key of :data:`AGENTS`).

    Raises :class:`~bitloops.UnknownAgent` for a name not in the registry.
    """
    return import_module(_module_path(name))


def integration(name: str) -> AgentIntegration:
    """The record of the agent ``name``: its module's ``INTEGRATION``.

    Raises :class:`~bitloops.UnknownAgent` for a name not in the registry, and
    :class:`~bitloops.AgentNotSupported` for a module without a record of that name.
    """
    record: Any = getattr(agent_module(name), "INTEGRATION", None)
    if getattr(record, "name", None) != name:
        from bitloops.errors import AgentNotSupported

        raise AgentNotSupported(
            f"the module {_module_path(name)} registered for the agent {name!r} has no "
            f"INTEGRATION record named {name!r}; give it one (see docs/agents.md) or "
            "register the right module"
        )
    found: AgentIntegration = record  # checked by contract_problems in the tests
    return found


def integrations() -> list[AgentIntegration]:
    """Every registered agent's record, in the registry's order (imports every module)."""
    return [integration(name) for name in AGENTS]


def import_reader(name: str) -> AgentIntegration:
    """The record of ``name``, checked to read transcript files (what an import needs).

    Raises :class:`~bitloops.UnknownAgent` for a name not in the registry and
    :class:`~bitloops.AgentNotSupported` for an agent without an importable format.
    """
    from bitloops.errors import AgentNotSupported

    try:
        record = integration(name)
    except AgentNotSupported as exc:
        raise AgentNotSupported(f"bitloops cannot import {name} transcripts: {exc}") from None
    if record.transcript_session_id is None:
        raise AgentNotSupported(
            f"bitloops cannot import {name} transcripts (its integration reads no transcript "
            "file); its sessions are recorded only through its hooks"
        )
    return record


def importable_agents() -> list[str]:
    """The names of the agents whose transcripts can be imported, sorted."""
    from bitloops.errors import BitloopsError

    found = []
    for name in AGENTS:
        try:
            import_reader(name)
        except BitloopsError:
            continue
        found.append(name)
    return sorted(found)


def run_agent_hook(
    name: str, stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]
) -> str | None:
    """Record one hook payload of the agent ``name``; never raises (see each module)."""
    return integration(name).run_hook(stdin, cwd, err)


def catch_up_all(repo: Recorder, *, budget_seconds: float = 2.0) -> int:
    """Read what the open sessions' agents wrote to their transcripts since last time.

    Called before a promotion (the post-commit hook), so that a commit an agent makes
    in the middle of its turn still gets the turn's reasoning. Bounded: the whole call
    stops reading after ``budget_seconds``; a transcript that fails is skipped. Returns
    how many events were recorded.
    """
    deadline = time.monotonic() + budget_seconds
    recorded = 0
    # Only the agents with a session open in this worktree: importing all six modules
    # would cost every commit a few tens of milliseconds for nothing.
    agents = {
        info.agent for info in repo.store.sessions(worktree=repo.worktree) if info.status != "ended"
    }
    for name in AGENTS:
        if name not in agents:
            continue
        try:
            record = integration(name)
            transcripts = record.active_transcripts(repo)
        except Exception as exc:  # a broken integration must never stop the promotion
            _warn("bitloops: cannot catch up the %s sessions: %s", name, exc)
            continue
        for session_id, path in transcripts:
            left = deadline - time.monotonic()
            if left <= 0:
                return recorded
            try:
                from bitloops.capture._runner import whole_lines

                with whole_lines():  # a complete last line counts, newline or not
                    recorded += record.catch_up(repo, session_id, path, max_seconds=left)
            except Exception as exc:  # a transcript must never stop the promotion
                _warn("bitloops: cannot read the transcript of %s: %s", session_id, exc)
    return recorded


def _warn(message: str, *args: object) -> None:
    import logging  # not at the top: agent hooks import this module

    logging.getLogger("bitloops").warning(message, *args)
