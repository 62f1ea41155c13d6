"""Capture from coding agents: each module turns one agent's hooks and logs into events.

- :mod:`bitloops.integrations.claude_code`: Claude Code's hook payloads and transcript.

See ``docs/agents.md``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..repository import Repository

__all__ = ["catch_up_all"]

log = logging.getLogger("bitloops")


def catch_up_all(repo: Repository, *, budget_seconds: float = 2.0) -> int:
    """Read what the open sessions' agents wrote to their transcripts since last time.

    Called before a promotion (the post-commit hook), so that a commit an agent makes
    in the middle of its turn still gets the turn's reasoning. Bounded: the whole call
    stops reading after ``budget_seconds``; a transcript that fails is skipped. Returns
    how many events were recorded.
    """
    from . import claude_code

    deadline = time.monotonic() + budget_seconds
    recorded = 0
    for session_id, path in claude_code.active_transcripts(repo):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            recorded += claude_code.catch_up(repo, session_id, path, max_seconds=left)
        except Exception as exc:  # a transcript must never stop the promotion
            log.warning("bitloops: cannot read the transcript of %s: %s", session_id, exc)
    return recorded
