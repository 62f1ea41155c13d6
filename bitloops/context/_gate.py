"""Which agent hook payloads may get past reasoning back, told before anything heavy loads.

An agent runs its hook on every event, and most events never carry records back (see
:mod:`.inject`): the hook entry point reads the payload once and asks :func:`may_answer`
before it imports the injection code, its store queries and git helpers.
"""

from __future__ import annotations

# Not from typing: imported on every agent hook.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["FILE_EVENT", "may_answer", "read_payload"]

#: The hook event that carries a file's records, per agent (besides ``SessionStart``).
FILE_EVENT = {"claude-code": "PreToolUse", "codex": "PreToolUse", "gemini": "AfterTool"}


def may_answer(agent: str, raw: bytes) -> bool:
    """False when ``raw`` (a hook payload of ``agent``) surely gets no answer.

    A test of the bytes only: a payload naming neither event can be neither (a JSON
    string escaping a letter of the name is not what agents write, and would only miss
    an injection, never an event's record).
    """
    event = FILE_EVENT.get(agent)
    if event is None or not raw:
        return False
    return b'"SessionStart"' in raw or b'"' + event.encode() + b'"' in raw


def read_payload(stdin: IO[Any]) -> tuple[IO[bytes], bytes]:
    """Read the hook's standard input once: a stream of the same bytes for the recorder, and them.

    A terminal gives nothing (as the recorder reads it); the read stops one byte past
    the recorder's bound, so an oversized payload is still seen as such.
    """
    import io

    from bitloops.capture._runner import MAX_HOOK_BYTES

    isatty = getattr(stdin, "isatty", None)
    if isatty is not None and isatty():
        return io.BytesIO(b""), b""
    raw = stdin.read(MAX_HOOK_BYTES + 1)
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    data = bytes(raw)
    return io.BytesIO(data), data
