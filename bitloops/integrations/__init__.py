"""Capture from coding agents: each module turns one agent's hooks and logs into events.

- :mod:`bitloops.integrations.claude_code`: Claude Code's hook payloads and transcript.
- :mod:`bitloops.integrations.codex`: OpenAI Codex CLI's hook payloads and rollout files.
- :mod:`bitloops.integrations.gemini`: Gemini CLI's hook payloads and session files.

See ``docs/agents.md``.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..repository import Repository

__all__ = ["AGENTS", "catch_up_all", "run_agent_hook"]

#: ``bitloops hook NAME`` -> the module that handles that agent.
AGENTS = {"claude-code": "claude_code", "codex": "codex", "gemini": "gemini"}


def run_agent_hook(name: str, stdin: IO[Any], cwd: Path, err: IO[str]) -> str | None:
    """Record one hook payload of the agent ``name``; never raises (see each module)."""
    module = importlib.import_module(f".{AGENTS[name]}", __name__)
    result: str | None = module.run_hook(stdin, cwd, err)
    return result


log = logging.getLogger("bitloops")


def catch_up_all(repo: Repository, *, budget_seconds: float = 2.0) -> int:
    """Read what the open sessions' agents wrote to their transcripts since last time.

    Called before a promotion (the post-commit hook), so that a commit an agent makes
    in the middle of its turn still gets the turn's reasoning. Bounded: the whole call
    stops reading after ``budget_seconds``; a transcript that fails is skipped. Returns
    how many events were recorded.
    """
    deadline = time.monotonic() + budget_seconds
    recorded = 0
    for name in AGENTS.values():
        module = importlib.import_module(f".{name}", __name__)
        for session_id, path in module.active_transcripts(repo):
            left = deadline - time.monotonic()
            if left <= 0:
                return recorded
            try:
                recorded += module.catch_up(repo, session_id, path, max_seconds=left)
            except Exception as exc:  # a transcript must never stop the promotion
                log.warning("bitloops: cannot read the transcript of %s: %s", session_id, exc)
    return recorded
