"""Claude Code: turn its hook payloads and its transcript into bitloops events.

Claude Code runs a command for each hook event with one JSON object on standard input.
``bitloops hook claude-code`` reads that object and calls :func:`handle`; a custom loop
can call :func:`handle` itself. What hooks lack (thinking, the text of every turn, the
model, token usage) is read from the session's transcript JSONL by :func:`catch_up`,
incrementally. See ``docs/agents.md`` for the mapping and the settings snippet.

Nothing here ever exits 2 or prints to standard output: Claude Code would block the agent,
or add the output to its context.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidPayload
from . import transcript_state as ts
from .base import (
    agent_session,
    digest,
    hook_response,
    open_repository,
    open_transcripts,
    read_new_lines,
    record_fitting,
    relative_path,
    remember,
    run_payload_hook,
    transcript_response,
    where_to_look,
)

if TYPE_CHECKING:
    from ..model import Event
    from ..repository import Repository
    from ..session import Session

__all__ = ["AGENT", "active_transcripts", "catch_up", "handle", "run_hook"]

#: The agent name sessions are recorded under.
AGENT = "claude-code"
#: The name hook failures are logged under in ``hooks.log``.
HOOK_NAME = "claude-code"

# Fields every payload has; left out when a payload is copied into an event.
_COMMON = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode"})
# How long the Stop and SessionEnd hooks may spend reading the transcript.
_STOP_SECONDS = 2.0
_END_SECONDS = 0.5


# -- the hook -----------------------------------------------------------------------------


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one Claude Code hook payload; return the events it recorded.

    The repository is the git work tree containing the payload's ``cwd``; ``cwd`` is used
    when the payload has none or it is not inside a work tree (the agent ran ``cd``
    elsewhere). An event of a session never started (bitloops enabled mid-session) starts
    it; an event after ``SessionEnd`` resumes it.

    ``SessionStart`` starts the session (and returns ``[]``: its event is not handed back);
    ``UserPromptSubmit`` is a prompt; ``PreToolUse`` records nothing; ``PostToolUse`` is one
    tool_use event with input and output, plus a file_change for ``Write`` (added or
    modified), ``Edit``, ``MultiEdit`` and ``NotebookEdit`` (modified) inside the work tree;
    ``PostToolUseFailure`` a tool_result with ``is_error``; ``Stop`` reads the transcript
    (:func:`catch_up`, at most 2 s) and records ``last_assistant_message`` as a response
    unless the transcript already brought it; ``SubagentStart``/``SubagentStop`` are
    subagent events; ``PreCompact``/``PostCompact`` compaction events; ``SessionEnd`` ends
    the session. Any other event becomes a note carrying its fields.

    Raises :class:`~bitloops.InvalidPayload` for a payload without a ``session_id`` or
    ``hook_event_name`` string, :class:`~bitloops.NotAGitRepository` when no work tree is
    found, and the library's other errors as recording does.
    """
    if not isinstance(payload, Mapping):
        raise InvalidPayload(
            f"a Claude Code hook payload is a JSON object, not {type(payload).__name__}"
        )
    name = payload.get("hook_event_name")
    sid = payload.get("session_id")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("the payload has no hook_event_name string")
    if not isinstance(sid, str) or not sid.strip():
        raise InvalidPayload("the payload has no session_id string")
    with open_repository(payload, cwd) as repo:
        return _dispatch(repo, name, sid, payload)


def _dispatch(repo: Repository, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    _check(name, payload)  # before anything is written
    state = _remember(repo, sid, transcript)
    extra = {k: v for k, v in payload.items() if k not in _COMMON and isinstance(k, str)}
    if name == "PreToolUse":
        return []  # PostToolUse records the call with its output, as one event
    if name == "SessionStart":
        model = payload.get("model")
        model = model if isinstance(model, str) and model else state.model
        repo.start_session(AGENT, model=model, session_id=sid)
        return []
    session = _session(repo, sid, state, resume=name != "SessionEnd")
    if name == "UserPromptSubmit":
        return [session.prompt(payload.get("prompt"))]  # type: ignore[arg-type]
    if name == "PostToolUse":
        return _tool_use(repo, session, payload)
    if name == "PostToolUseFailure":
        return [_tool_failure(session, payload)]
    if name == "Stop":
        events = _catch_up(repo, sid, transcript, _STOP_SECONDS) if transcript else []
        session = _session(repo, sid, ts.load(repo.paths.common_dir, sid), resume=True)
        event = hook_response(repo, session, payload.get("last_assistant_message"))
        return events if event is None else [*events, event]
    if name in ("SubagentStart", "SubagentStop"):
        event_name = "start" if name == "SubagentStart" else "stop"
        return [session.record("subagent", {"event": event_name, **extra})]
    if name in ("PreCompact", "PostCompact"):
        phase = "pre" if name == "PreCompact" else "post"
        return [session.record("compaction", {"phase": phase, **extra})]
    if name == "SessionEnd":
        if session.ended:
            return []
        events = _catch_up(repo, sid, transcript, _END_SECONDS) if transcript else []
        session = _session(repo, sid, ts.load(repo.paths.common_dir, sid), resume=False)
        reason = payload.get("reason")
        end = session.end(reason if isinstance(reason, str) and reason else None)
        return events if end is None else [*events, end]
    note = {"text": f"Claude Code hook {name}", "hook_event_name": name, **extra}
    return [session.record("note", note)]


def _check(name: str, payload: Mapping[str, Any]) -> None:
    if name == "UserPromptSubmit" and not isinstance(payload.get("prompt"), str):
        raise InvalidPayload("a UserPromptSubmit payload needs a prompt string")
    if name in ("PostToolUse", "PostToolUseFailure"):
        _tool_payload(payload)


def _remember(repo: Repository, sid: str, transcript: str | None) -> ts.TranscriptState:
    return remember(repo, AGENT, sid, transcript)


def _session(repo: Repository, sid: str, state: ts.TranscriptState, *, resume: bool) -> Session:
    return agent_session(repo, AGENT, sid, state, resume=resume)


def _tool_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    name = payload.get("tool_name")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("a tool hook payload needs a tool_name string")
    out: dict[str, Any] = {"name": name, "input": payload.get("tool_input")}
    tool_use_id = payload.get("tool_use_id")
    if isinstance(tool_use_id, str) and tool_use_id:
        out["tool_use_id"] = tool_use_id
    for key in ("agent_id", "agent_type"):
        if isinstance(payload.get(key), str):
            out[key] = payload[key]
    return out


def _tool_use(repo: Repository, session: Session, payload: Mapping[str, Any]) -> list[Event]:
    data = _tool_payload(payload)
    output = payload.get("tool_response")
    if output is not None:
        data["output"] = output
    duration = payload.get("duration_ms")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        data["duration_ms"] = duration
    events = [record_fitting(session, "tool_use", data)]
    change = _file_change(repo, data["name"], data["input"], output, payload.get("cwd"))
    if change is not None:
        events.append(session.file_change(*change))
    return events


def _tool_failure(session: Session, payload: Mapping[str, Any]) -> Event:
    data = _tool_payload(payload)
    error = payload.get("error")
    if "tool_use_id" in data:
        return record_fitting(session, "tool_result", {**data, "output": error, "is_error": True})
    message = error if isinstance(error, str) else json.dumps(error, default=str)
    return record_fitting(session, "error", {"message": message, **data})


def _file_change(
    repo: Repository, tool: str, tool_input: Any, output: Any, cwd: Any
) -> tuple[str, str] | None:
    """The (repo-relative path, change) a file-writing tool made inside the work tree."""
    if tool not in ("Write", "Edit", "MultiEdit", "NotebookEdit") or not isinstance(
        tool_input, Mapping
    ):
        return None
    raw = tool_input.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    if not isinstance(raw, str) or not raw:
        return None
    rel = relative_path(repo, raw, cwd)
    if rel is None:
        return None
    if tool != "Write":
        return rel, "modified"
    kind = output.get("type") if isinstance(output, Mapping) else None
    if kind == "create":
        return rel, "added"
    if kind == "update":
        return rel, "modified"
    tracked = repo.git.try_run("ls-files", "--error-unmatch", "--", rel)
    return rel, "modified" if tracked else "added"


# -- the transcript -----------------------------------------------------------------------


def catch_up(
    repo: Repository,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record what the transcript added since the last call; the number of events recorded.

    Reads Claude Code's transcript JSONL from the byte offset where the previous call
    stopped (kept under ``<git common dir>/bitloops/transcripts/``) and records each
    assistant ``thinking`` block as a reasoning event and each ``text`` block as a
    response (payloads carry ``transcript_uuid``, ``message_id``, ``model`` and the line's
    ``timestamp`` as ``transcript_ts``), and each API message's token ``usage`` as a note.
    The model it names becomes the model of the session's later events. Other lines
    (user, summary, system, file-history-snapshot, sidechain lines...) are skipped;
    invalid lines too. A last line without its newline is left for the next call.

    A file that shrank or was replaced is read again from the start; lines already recorded
    (by ``uuid``) are not recorded twice. Stops after ``max_seconds`` or ``max_lines``
    lines, to go on at the next call. An unknown session is started; an ended one, or a
    missing file, records nothing.
    """
    return len(_catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines))


def _catch_up(
    repo: Repository,
    sid: str,
    transcript: str | None,
    max_seconds: float,
    max_lines: int = 20000,
) -> list[Event]:
    if transcript is None:
        return []
    return read_new_lines(
        repo, AGENT, sid, transcript, _Reader,
        max_seconds=max_seconds, max_lines=max_lines, resume=False,
    )  # fmt: skip


class _Reader:
    """Turns transcript lines into events, remembering what it recorded in the state."""

    def __init__(self, session: Session, state: ts.TranscriptState) -> None:
        self.session = session
        self.state = state
        self.seen = set(state.seen)
        self.usage_done = set(state.usage_done)
        # message id -> the usage note to record (the last line of a message wins)
        self.usage: dict[str, dict[str, Any]] = {}

    def line(self, raw: bytes) -> list[Event]:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return []
        if not isinstance(obj, dict) or obj.get("type") != "assistant":
            return []
        if obj.get("isSidechain") is True:
            return []
        uuid = obj.get("uuid")
        key = uuid if isinstance(uuid, str) and uuid else "sha256:" + digest(raw.decode())
        if key in self.seen:
            return []
        message = obj.get("message")
        if not isinstance(message, dict):
            return []
        model = message.get("model")
        if isinstance(model, str) and model and not model.startswith("<"):  # "<synthetic>"
            self.state.model = model
            self.session.set_model(model)
        base: dict[str, Any] = {"transcript_uuid": key}
        for name, value in (
            ("message_id", message.get("id")),
            ("model", self.state.model),
            ("transcript_ts", obj.get("timestamp")),
        ):
            if isinstance(value, str) and value:
                base[name] = value
        events = []
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "thinking" and isinstance(block.get("thinking"), str):
                if block["thinking"].strip():
                    events.append(
                        record_fitting(
                            self.session, "reasoning", {"text": block["thinking"], **base}
                        )
                    )
            elif kind == "text" and isinstance(block.get("text"), str) and block["text"].strip():
                events += self._response(block["text"], base)
        usage = message.get("usage")
        mid = base.get("message_id")
        if isinstance(usage, dict) and mid and mid not in self.usage_done:
            self.usage[mid] = {"text": "token usage", "usage": usage, **base}
        self.seen.add(key)
        self.state.seen.append(key)
        return events

    def _response(self, text: str, base: dict[str, Any]) -> list[Event]:
        return transcript_response(self.session, self.state, text, base)

    def flush(self) -> list[Event]:
        events = []
        for mid, note in self.usage.items():
            events.append(self.session.record("note", note))
            self.usage_done.add(mid)
            self.state.usage_done.append(mid)
        self.usage.clear()
        return events


def active_transcripts(repo: Repository) -> list[tuple[str, str]]:
    """(session id, transcript path) of each Claude Code session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting, so the checkpoint
    holds the reasoning the transcript had so far.
    """
    return open_transcripts(repo, AGENT, untagged=True)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: Path, err: IO[str]) -> str | None:
    """``bitloops hook claude-code``: see :func:`bitloops.integrations.base.run_payload_hook`."""
    return run_payload_hook(HOOK_NAME, handle, where_to_look, stdin, cwd, err)
