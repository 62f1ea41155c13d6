"""Capture from coding agents: each module turns one agent's hooks and logs into events.

- :mod:`bitloops.agents.claude_code`: Claude Code's hook payloads and transcript.
- :mod:`bitloops.agents.codex`: OpenAI Codex CLI's hook payloads and rollout files.
- :mod:`bitloops.agents.gemini`: Gemini CLI's hook payloads and session files.
- :mod:`bitloops.agents.cursor`: Cursor's hook payloads and agent transcripts.
- :mod:`bitloops.agents.copilot`: GitHub Copilot CLI's hook payloads and events files.
- :mod:`bitloops.agents.opencode`: what the OpenCode plugin (``opencode_plugin.js``) sends.

See ``docs/agents.md``.
"""

from __future__ import annotations

import importlib
import os
import time

# Not from typing: `bitloops hook NAME` imports this module on every agent event.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import IO, Any

    from bitloops.repository import Repository

__all__ = ["AGENTS", "agent_module", "catch_up_all", "run_agent_hook"]

#: ``bitloops hook NAME`` -> the module that handles that agent.
AGENTS = {
    "claude-code": "claude_code",
    "codex": "codex",
    "gemini": "gemini",
    "cursor": "cursor",
    "copilot": "copilot",
    "opencode": "opencode",
}


def agent_module(name: str) -> Any:
    """The module that handles the agent ``name`` (a key of :data:`AGENTS`)."""
    return importlib.import_module(f"bitloops.agents.{AGENTS[name]}")


def run_agent_hook(
    name: str, stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]
) -> str | None:
    """Record one hook payload of the agent ``name``; never raises (see each module)."""
    module = agent_module(name)
    result: str | None = module.run_hook(stdin, cwd, err)
    return result


def catch_up_all(repo: Repository, *, budget_seconds: float = 2.0) -> int:
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
    for key, name in AGENTS.items():
        if key not in agents:
            continue
        module = importlib.import_module(f"bitloops.agents.{name}")
        for session_id, path in module.active_transcripts(repo):
            left = deadline - time.monotonic()
            if left <= 0:
                return recorded
            try:
                from bitloops.capture._runner import whole_lines

                with whole_lines():  # a complete last line counts, newline or not
                    recorded += module.catch_up(repo, session_id, path, max_seconds=left)
            except Exception as exc:  # a transcript must never stop the promotion
                import logging  # not at the top: agent hooks import this module

                logging.getLogger("bitloops").warning(
                    "bitloops: cannot read the transcript of %s: %s", session_id, exc
                )
    return recorded
