"""Capture: recording events into the live state as they happen.

The agent hooks' runner (payload checks, the transcript reading loop, the spool and the
quarantine), the light write path a fresh hook process uses, the hook log, the reading
state of each transcript, ``Session`` (the Python API's recorder) and transcript import.
See ``docs/concepts.md`` and ``docs/agents.md``.
"""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.capture._importing import ImportResult, import_transcript
    from bitloops.capture._plans import PLAN_TOOLS, is_plan_tool, plans_of
    from bitloops.capture._runner import MAX_READ_BYTES, drain_spool
    from bitloops.capture._session import Session

__all__ = [
    "MAX_READ_BYTES",
    "PLAN_TOOLS",
    "ImportResult",
    "Session",
    "drain_spool",
    "import_transcript",
    "is_plan_tool",
    "plans_of",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_session": ("Session",),
        "_importing": ("ImportResult", "import_transcript"),
        "_plans": ("PLAN_TOOLS", "is_plan_tool", "plans_of"),
        "_runner": ("MAX_READ_BYTES", "drain_spool"),
    },
)
