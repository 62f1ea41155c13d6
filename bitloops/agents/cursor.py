"""Cursor: turn its agent hook payloads and its agent transcript into bitloops events.

Cursor runs the commands of ``.cursor/hooks.json`` for each hook event with one JSON object
on standard input (camelCase event names, snake_case fields, ``conversation_id`` as the
session id, ``workspace_roots`` instead of a ``cwd``). ``bitloops hook cursor`` reads that
object and calls :func:`handle`; a custom loop can call :func:`handle` itself. Cursor's
hooks carry the prompt, the answer, the thinking, tool calls and file edits; its agent
transcript (``~/.cursor/projects/<project>/agent-transcripts/<id>/<id>.jsonl``, Claude-like
``{role, message: {content}}`` lines) is read by :func:`catch_up` for the answers and
thinking of turns whose hooks were not registered, and for prompts and tool calls when no
hook records them (an import). See ``docs/agents.md``.

Nothing here ever exits 2 (Cursor would block the action) or prints to standard output
(Cursor would read it as the hook's answer).
"""

from __future__ import annotations

import os

# Mapping from the module Python loads at start-up (collections.abc costs the hooks).
from _collections_abc import Mapping

from bitloops import _jsonc, _rx
from bitloops.agents._record import AgentConfig, Integration
from bitloops.capture._runner import (
    TranscriptReader,
    added_or_modified,
    agent_session,
    catch_up_light,
    decoded,
    digest,
    end_session,
    event_and_session,
    home_dir,
    hook_reasoning,
    hook_response,
    json_object,
    mapping,
    nothing_to_end,
    once,
    open_first,
    open_transcripts,
    read_new_lines,
    record_fitting,
    record_planned,
    relative_path,
    remember,
    require_fits,
    run_payload_hook,
    session_after_read,
    text_field,
)
from bitloops.errors import InvalidPayload, PayloadTooLarge

# Not from typing: the hook's light path does without it (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections import Counter
    from pathlib import Path
    from typing import IO, Any

    from bitloops.agents._contract import AgentIntegration, McpLocation
    from bitloops.capture._direct import Located
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._runner import Planned
    from bitloops.capture._session import Session
    from bitloops.model import Event

__all__ = [
    "AGENT",
    "active_transcripts",
    "catch_up",
    "find_transcript",
    "handle",
    "is_transcript",
    "model_name",
    "run_hook",
    "transcript_history",
    "transcript_session_id",
]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "cursor"

# Fields every payload has; left out when a payload is copied into an event.
_COMMON = frozenset(
    {
        "conversation_id",
        "session_id",
        "generation_id",
        "model",
        "hook_event_name",
        "cursor_version",
        "workspace_roots",
        "transcript_path",
        "cwd",
        "user_email",
    }
)
# "before" events: their "after" twin records the same action with its outcome.
_IGNORED = frozenset(
    {"beforeShellExecution", "beforeMCPExecution", "beforeReadFile", "beforeTabFileRead"}
)
_SHELL_TOOLS = frozenset({"Shell", "shell", "run_terminal_cmd", "terminal", "Bash"})
_SUBAGENT_TOOLS = frozenset({"Task", "task", "subagent", "Subagent"})
_STOP_SECONDS = 2.0
_END_SECONDS = 0.5
_SAFE_ID = _rx.compile(r"^[A-Za-z0-9._-]+$")
_REDACTED = "[REDACTED]"
_USER_QUERY = _rx.compile(r"<user_query>(.*?)</user_query>", _rx.DOTALL)
# Model names that say no model was named: "unknown" in Cursor's payloads, "default" and
# "<synthetic>" elsewhere. They are not a model identity.
_NO_MODEL = frozenset({"unknown", "default", "<synthetic>", "none", "null"})
# Claimed in the session's state by the first hook that records prompts or tool calls:
# from then on the hooks record those and the transcript reader leaves them out.
_HOOKED = "hooks:capture"
_CAPTURING = frozenset(
    {"beforeSubmitPrompt", "postToolUse", "postToolUseFailure", "afterShellExecution",
     "afterFileEdit", "afterMCPExecution"}
)  # fmt: skip
# Tools that write a file, and the change each makes; the path is in ``path`` (Cursor's
# Write, StrReplace), ``file_path`` (Edit and Claude-like tools) or ``target_file``.
_FILE_TOOLS = {
    "Write": None,
    "write": None,
    "Edit": "modified",
    "MultiEdit": "modified",
    "StrReplace": "modified",
    "edit_file": "modified",
    "search_replace": "modified",
    "Delete": "deleted",
    "delete_file": "deleted",
}
# The events recorded without a transcript read, a git question or a claim written to the
# session's state: their events are planned first (see _planned), so the light path can
# write them. Any event name not handled otherwise is a note, planned too.
_PLANNED = frozenset(
    {"beforeSubmitPrompt", "preToolUse", "postToolUse", "postToolUseFailure",
     "afterShellExecution", "afterMCPExecution", "preCompact", "postCompact",
     "subagentStart", "subagentStop"}
)  # fmt: skip
_UNPLANNED = frozenset(
    {"sessionStart", "sessionEnd", "stop", "afterAgentResponse", "afterAgentThought",
     "afterFileEdit"}
)  # fmt: skip
# The unplanned events the light path runs Cursor's own dispatch for (see _fast): the
# transcript reads (the light catch-up) and each turn's answer, thinking and file edits,
# which claim a text against the transcript's or ask git whether a file is new.
_CATCH_UPS = frozenset(
    {"stop", "sessionEnd", "afterAgentResponse", "afterAgentThought", "afterFileEdit"}
)
# What a Cursor hook event name looks like; the light path leaves any other note to the
# full path.
_EVENT_NAME = _rx.compile(r"[a-z][A-Za-z]{1,63}")


# -- the hook -----------------------------------------------------------------------------


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one Cursor hook payload; return the events it recorded.

    The session id is ``conversation_id`` (``session_id`` when absent). The repository is
    the git work tree containing the first of ``workspace_roots`` (then the payload's
    ``cwd``, then ``cwd``) that is inside one. Every payload's ``model`` becomes the
    session's model. An event of a session never started starts it; one after
    ``sessionEnd`` resumes it.

    ``sessionStart`` starts the session (returns ``[]``); ``beforeSubmitPrompt`` is a
    prompt (with its ``attachments``); ``afterAgentResponse`` a response and
    ``afterAgentThought`` a reasoning event (each unless the transcript brought the same
    text); ``postToolUse`` one tool_use (``is_error`` when the output reports an error),
    and for a ``Task`` tool a subagent stop; ``preToolUse`` records only a ``Task``'s
    subagent start; ``postToolUseFailure`` a tool_use with ``is_error``;
    ``afterShellExecution`` and ``afterMCPExecution`` a tool_use (a shell command also
    seen by ``postToolUse`` in the same generation is recorded once); ``afterFileEdit`` a
    file_change (added when git does not track the file, else modified) carrying the
    ``edits``; ``stop`` reads the transcript (at most 2 s) and records an error when the
    ``status`` is ``error``, a note when ``aborted``; ``preCompact``/``postCompact``
    compaction events; ``subagentStart``/``subagentStop`` subagent events;
    ``sessionEnd`` ends the session. ``before*`` events record nothing; any other event is
    a note carrying its fields.

    Raises :class:`~bitloops.InvalidPayload` for a payload without a
    ``hook_event_name`` or session id string, or missing the field its event needs, and
    :class:`~bitloops.NotAGitRepository` when no work tree is found.
    """
    name, sid = event_and_session(payload, "a Cursor hook payload", "conversation_id", "session_id")
    _check(name, payload)
    with open_first(_where(payload, cwd)) as repo:
        return _dispatch(repo, name, sid, payload)


def _where(payload: Mapping[str, Any], cwd: Any) -> list[str]:
    """The directories to find the work tree from: workspace roots, ``cwd``, the hook's."""
    roots = payload.get("workspace_roots")
    places = [r for r in roots if isinstance(r, str) and r] if isinstance(roots, list) else []
    if isinstance(payload.get("cwd"), str) and payload["cwd"]:
        places.append(payload["cwd"])
    if cwd is not None:
        places.append(os.fspath(cwd))
    return places


def _check(name: str, payload: Mapping[str, Any]) -> None:
    needs = {
        "beforeSubmitPrompt": "prompt",
        "postToolUse": "tool_name",
        "postToolUseFailure": "tool_name",
        "afterFileEdit": "file_path",
        "afterShellExecution": "command",
    }
    key = needs.get(name)
    if key is not None and not isinstance(payload.get(key), str):
        raise InvalidPayload(f"a {name} payload needs a {key} string")
    for key in ("transcript_path", "model", "generation_id"):
        if payload.get(key) is not None and not isinstance(payload.get(key), str):
            raise InvalidPayload(f"the payload's {key} is not a string")


def model_name(value: Any) -> str | None:
    """``value`` as a model name: None for a non-string, a blank or a placeholder
    (``"unknown"``, ``"default"``, ``"<synthetic>"``), which name no model."""
    if not isinstance(value, str) or not value.strip():
        return None
    return None if value.strip().lower() in _NO_MODEL else value


def _dispatch(repo: Recorder, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
    if name == "beforeSubmitPrompt":  # a prompt that cannot be recorded starts nothing
        require_fits(repo, payload.get("prompt"))
    transcript = text_field(payload, "transcript_path")
    state = remember(repo, AGENT, sid, transcript, model_name(payload.get("model")))
    if name in _IGNORED:
        return []
    if name == "sessionStart":
        repo.start_session(AGENT, model=state.model, session_id=sid)
        return []
    if name == "sessionEnd" and nothing_to_end(
        repo, sid, lambda: transcript or state.transcript_path or find_transcript(sid)
    ):
        return []  # a conversation opened and closed: no session of its own
    if name in _CAPTURING and _HOOKED not in state.seen:
        once(repo, sid, _HOOKED)
    session = agent_session(repo, AGENT, sid, state, resume=name != "sessionEnd")
    if name not in _UNPLANNED:
        key = _claim(name, payload)
        if key is not None and not once(repo, sid, key):
            return []  # its twin hook (postToolUse, afterShellExecution) recorded it
        return _record(repo, session, _planned(name, payload, str(repo.toplevel)))
    generation = text_field(payload, "generation_id")
    base = {"generation_id": generation} if generation else {}
    if name == "afterAgentResponse":
        reply = payload.get("text")
        event = hook_response(repo, session, _unredacted(reply) if isinstance(reply, str) else None)
        return [] if event is None else [event]
    if name == "afterAgentThought":
        text = payload.get("text")
        text = _unredacted(text) if isinstance(text, str) else None
        thought = {"source": "hook", **base}
        if isinstance(payload.get("duration_ms"), int | float):
            thought["duration_ms"] = payload["duration_ms"]
        found = hook_reasoning(repo, session, text, thought) if isinstance(text, str) else None
        return [] if found is None else [found]
    if name == "afterFileEdit":
        return _file_edit(repo, session, payload, base)
    if name == "stop":
        return _stop(repo, sid, transcript or state.transcript_path, payload, base)
    # sessionEnd
    path = transcript or state.transcript_path
    return end_session(
        repo,
        AGENT,
        session,
        lambda: _catch_up(repo, sid, path or find_transcript(sid), _END_SECONDS),
        text_field(payload, "reason"),
    )


def _planned(name: str, payload: Mapping[str, Any], top: str) -> Planned:
    """The events a hook of the :data:`_PLANNED` kind (or a note) records, unwritten.

    ``top`` is the work tree's top directory (no planned Cursor event names a file).
    The shell command of a tool call is planned here even when its twin hook recorded it
    already: :func:`_claim` says which claim decides.
    """
    del top  # the planned events carry no file change: afterFileEdit asks git
    generation = text_field(payload, "generation_id")
    base = {"generation_id": generation} if generation else {}
    if name == "beforeSubmitPrompt":
        prompt: dict[str, Any] = {"text": payload["prompt"]}
        if payload.get("attachments"):
            prompt["attachments"] = payload["attachments"]
        return [("prompt", prompt, (), True)]
    if name == "preToolUse":
        if payload.get("tool_name") in _SUBAGENT_TOOLS:
            return [("subagent", _subagent(payload, "start", base), (), False)]
        return []
    if name in ("postToolUse", "postToolUseFailure"):
        planned: Planned = [("tool_use", _tool_use(name, payload, base), (), True)]
        if payload["tool_name"] in _SUBAGENT_TOOLS:
            planned.append(("subagent", _subagent(payload, "stop", base), (), False))
        return planned
    if name == "afterShellExecution":
        return [("tool_use", _shell(payload, base), (), True)]
    if name == "afterMCPExecution":
        data = {
            "name": payload.get("tool_name") or payload.get("server") or "mcp",
            "input": decoded(payload.get("tool_input")),
            "output": decoded(payload.get("result_json", payload.get("tool_output"))),
            "mcp": True,
            **base,
        }
        return [("tool_use", data, (), True)]
    extra = {k: v for k, v in payload.items() if isinstance(k, str) and k not in _COMMON}
    if name in ("preCompact", "postCompact"):
        phase = "pre" if name == "preCompact" else "post"
        return [("compaction", {"phase": phase, **extra}, (), False)]
    if name in ("subagentStart", "subagentStop"):
        event_name = "start" if name == "subagentStart" else "stop"
        return [("subagent", {"event": event_name, **extra}, (), False)]
    note = {"text": f"Cursor hook {name}", "hook_event_name": name, **extra}
    return [("note", note, (), True)]


def _record(repo: Recorder, session: Session, planned: Planned) -> list[Event]:
    """Record planned events, several in one transaction (all or nothing, as the light
    path writes them)."""

    def record() -> list[Event]:
        return [
            record_fitting(session, kind, data)
            if fit
            else session.record(kind, data, artefacts=tuple(a for a in arts if a is not None))
            for kind, data, arts, fit in planned
        ]

    if len(planned) > 1 and repo.settings.capture:
        with repo.store.transaction():
            return record()
    return record()


def _claim(name: str, payload: Mapping[str, Any]) -> str | None:
    """The key a shell command's hook claims in the session's state before recording
    (Cursor reports one command to afterShellExecution and postToolUse); None: no claim."""
    generation = text_field(payload, "generation_id")
    if name == "afterShellExecution":
        return _shell_key(generation, payload["command"])
    if name == "postToolUse" and payload["tool_name"] in _SHELL_TOOLS:
        tool_input = decoded(payload.get("tool_input"))
        if isinstance(tool_input, Mapping):
            return _shell_key(generation, tool_input.get("command"))
    return None


def _subagent(payload: Mapping[str, Any], event_name: str, base: dict[str, Any]) -> dict[str, Any]:
    tool_input = decoded(payload.get("tool_input"))
    data: dict[str, Any] = {"event": event_name, "tool": payload.get("tool_name"), **base}
    if isinstance(tool_input, Mapping):
        for key in ("subagent_type", "description", "agent_type", "name"):
            if isinstance(tool_input.get(key), str):
                data[key] = tool_input[key]
    if isinstance(payload.get("tool_use_id"), str):
        data["tool_use_id"] = payload["tool_use_id"]
    return data


def _failed(output: Any) -> bool:
    """Whether a tool output (decoded) reports an error, as far as it can be told."""
    if not isinstance(output, Mapping):
        return False
    if output.get("error") not in (None, "", {}, False):
        return True
    if output.get("success") is False or output.get("is_error") is True:
        return True
    code = output.get("exit_code", output.get("exitCode"))
    return isinstance(code, int) and not isinstance(code, bool) and code != 0


def _shell_key(generation: str | None, command: Any) -> str | None:
    if not generation or not isinstance(command, str):
        return None
    return f"shell:{generation}:{digest(command)}"


def _tool_use(name: str, payload: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The tool_use payload of a postToolUse or postToolUseFailure."""
    tool_input = decoded(payload.get("tool_input"))
    output = decoded(payload.get("tool_output", payload.get("tool_response")))
    data: dict[str, Any] = {"name": payload["tool_name"], "input": tool_input, **base}
    if isinstance(payload.get("tool_use_id"), str):
        data["tool_use_id"] = payload["tool_use_id"]
    if name == "postToolUseFailure":
        data["output"] = payload.get("error", output)
        data["is_error"] = True
    else:
        if output is not None:
            data["output"] = output
        if _failed(output) or payload.get("error"):
            data["is_error"] = True
    data.update(_durations(payload))
    return data


def _shell(payload: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The tool_use payload of an afterShellExecution."""
    data: dict[str, Any] = {"name": "Shell", "input": {"command": payload["command"]}, **base}
    if payload.get("output") is not None:
        data["output"] = payload["output"]
    code = payload.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        data["exit_code"] = code
        if code != 0:
            data["is_error"] = True
    data.update(_durations(payload))
    return data


def _durations(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric ``duration`` and ``duration_ms`` fields a tool payload has."""
    return {
        key: payload[key]
        for key in ("duration", "duration_ms")
        if isinstance(payload.get(key), int | float) and not isinstance(payload[key], bool)
    }


def _file_edit(
    repo: Recorder, session: Session, payload: Mapping[str, Any], base: dict[str, Any]
) -> list[Event]:
    roots = _where(payload, None)
    rel = relative_path(repo, payload["file_path"], roots[0] if roots else None)
    if rel is None:
        return []
    change = added_or_modified(repo, rel)
    edits = payload.get("edits")
    if isinstance(edits, list) and edits:
        try:
            data = {"path": rel, "change": change, "edits": edits, **base}
            return [session.record("file_change", data, artefacts=(rel,))]
        except PayloadTooLarge:
            pass  # the edits are in no other event: keep at least the change
    # What Session.file_change records, which a light-path session has not.
    return [session.record("file_change", {"path": rel, "change": change}, artefacts=(rel,))]


def _stop(
    repo: Recorder,
    sid: str,
    transcript: str | None,
    payload: Mapping[str, Any],
    base: dict[str, Any],
) -> list[Event]:
    path = transcript or find_transcript(sid)
    events = _catch_up(repo, sid, path, _STOP_SECONDS) if path else []
    session = session_after_read(repo, AGENT, sid)
    status = payload.get("status")
    info = {"status": status, **base}
    if isinstance(payload.get("loop_count"), int):
        info["loop_count"] = payload["loop_count"]
    if status == "error":
        events.append(
            session.record("error", {"message": "Cursor ended the turn on an error", **info})
        )
    elif status == "aborted":
        events.append(session.record("note", {"text": "the user stopped the turn", **info}))
    return events


# -- the transcript -----------------------------------------------------------------------


def find_transcript(
    conversation_id: str, cursor_home: str | os.PathLike[str] | None = None
) -> str | None:
    """The agent transcript of ``conversation_id`` under ``~/.cursor/projects``, if any.

    ``cursor_home`` (else ``$CURSOR_HOME``, else ``~/.cursor``) is where to look.
    """
    from pathlib import Path

    if not _SAFE_ID.match(conversation_id):
        return None
    home = Path(cursor_home or home_dir("CURSOR_HOME", ".cursor"))
    found: list[Path] = []
    for pattern in (
        f"projects/*/agent-transcripts/{conversation_id}/{conversation_id}.jsonl",
        f"projects/*/agent-transcripts/{conversation_id}.jsonl",
    ):
        try:
            found += home.glob(pattern)
        except OSError:
            continue
    if not found:
        return None
    return str(max(found, key=lambda p: p.stat().st_mtime if p.exists() else 0))


# Fields and line types of the other agents' transcripts: Claude Code's line tree, a
# Codex rollout's envelope, a Gemini CLI session's metadata and updates, Copilot CLI's
# dotted event types ("session.start").
_FOREIGN_KEYS = ("uuid", "parentUuid", "payload", "projectHash", "$set", "$rewindTo", "data")
_FOREIGN_TYPES = frozenset(
    {"session_meta", "response_item", "event_msg", "turn_context", "gemini", "info", "error"}
)


def _cursor_line(obj: Mapping[str, Any]) -> bool | None:
    """True for a line of a Cursor transcript, False for another agent's, None: can't tell."""
    if any(key in obj for key in _FOREIGN_KEYS):
        return False
    kind = obj.get("type")
    if isinstance(kind, str) and (kind in _FOREIGN_TYPES or "." in kind):
        return False
    return True if obj.get("role") in ("user", "assistant") else None


def is_transcript(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a Cursor agent transcript (``{role, message}`` lines).

    False for another agent's file (a Claude Code JSONL, a Codex rollout, a Gemini CLI or
    Copilot CLI session), judged by its first 20 lines, and for an unreadable one.
    """
    from bitloops.capture._importing import json_lines

    found = False
    try:
        for obj in json_lines(path, 20):
            shape = _cursor_line(obj)
            if shape is False:
                return False
            found = found or bool(shape)
    except OSError:
        return False
    return found


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The conversation id of a Cursor agent transcript, or None when it is not one.

    An id field of one of its first lines (``conversation_id``, ``session_id`` and their
    camelCase forms) when there is one; else the file's name when it sits in an
    ``agent-transcripts`` folder (``<id>.jsonl`` or ``<id>/<id>.jsonl``). None for a
    file that is not a Cursor transcript (see :func:`is_transcript`), and for one that
    names no id outside such a folder (``bitloops import --session-id`` names it).
    """
    from pathlib import Path

    from bitloops.capture._importing import json_lines

    path = Path(path)
    if not is_transcript(path):
        return None
    try:
        for obj in json_lines(path, 20):
            found = text_field(obj, "conversation_id", "conversationId", "session_id", "sessionId")
            if found is not None:
                return found
    except OSError:
        return None
    if path.suffix != ".jsonl":
        return None
    parent = path.parent
    if parent.name == "agent-transcripts" or (
        parent.name == path.stem and parent.parent.name == "agent-transcripts"
    ):
        return path.stem
    return None


def catch_up(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record what the agent transcript added since the last call; the number of events.

    Reads the transcript JSONL from the byte offset where the previous call stopped (kept
    under ``<git common dir>/bitloops/transcripts/``). For each assistant line
    (``{"role": "assistant", "message": {"content": [...]}}``, or Claude-like
    ``"type": "assistant"``): each ``text`` block is a response and each ``thinking`` or
    ``reasoning`` block a reasoning event, unless a hook (``afterAgentResponse``,
    ``afterAgentThought``) recorded the same text; a text or thinking that is only
    ``[REDACTED]`` is skipped. A ``model`` (not a placeholder such as ``"unknown"``) or
    ``usage`` on the line becomes the session's model and a usage note; a ``timestamp``
    the event's time on import. User lines (prompts) and ``tool_use`` blocks (with the
    file change of a Write, Edit, StrReplace or Delete) are recorded too, in the
    transcript's order, until a hook of this session records prompts or tool calls (then
    the hooks do). ``turn_ended`` markers and invalid lines are skipped. A last line without its
    newline waits for the next call; a truncated or replaced file is read again from the
    start, recording nothing twice. An unknown session is started; an ended one, or a
    missing file, records nothing.
    """
    return len(_catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines))


def _catch_up(
    repo: Recorder, sid: str, transcript: str | None, max_seconds: float, max_lines: int = 20000
) -> list[Event]:
    return read_new_lines(
        repo, AGENT, sid, transcript, lambda session, state: _Reader(session, state, repo),
        max_seconds=max_seconds, max_lines=max_lines, resume=False,
    )  # fmt: skip


class _Reader(TranscriptReader):
    """Turns transcript lines into events, remembering what it recorded in the state.

    Prompts and tool calls are read too when no hook records them in this session (an
    import, or hooks without ``beforeSubmitPrompt``/``postToolUse``): then every event
    comes in the transcript's order.
    """

    def __init__(self, session: Session, state: Any, repo: Recorder) -> None:
        super().__init__(session, state)
        self.repo = repo

    def line(self, raw: bytes) -> list[Event]:
        obj = json_object(raw)
        role = None if obj is None else obj.get("role") or obj.get("type")
        if obj is None or role not in ("assistant", "user"):
            return []
        whole = _HOOKED not in self.seen
        if role == "user" and not whole:
            return []
        key = "sha256:" + digest(raw.decode("utf-8"))
        if not self.once(key):
            return []
        message = mapping(obj.get("message")) or obj
        self.set_model(model_name(message.get("model")))
        when = obj.get("timestamp", message.get("timestamp"))
        ts = {"transcript_ts": when} if isinstance(when, str | int | float) else {}
        base: dict[str, Any] = {"transcript_line": key, **ts}
        if self.state.model:
            base["model"] = self.state.model
        if role == "user":
            text = _user_text(_blocks(message))
            prompt = {"text": text, **ts}
            return [record_fitting(self.session, "prompt", prompt)] if text else []
        events: list[Event] = []
        for block in _blocks(message):
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                text = _unredacted(block["text"])
                if text:
                    events += self.response(text, base)
            elif kind in ("thinking", "reasoning"):
                thought = block.get("thinking", block.get("text"))
                if isinstance(thought, str):
                    thought = thought.replace(_REDACTED, "").strip()
                    if thought:
                        events += self.reasoning(thought, base)
            elif kind == "tool_use" and whole and isinstance(block.get("name"), str):
                data = _tool_call(block)
                events.append(record_fitting(self.session, "tool_use", {**data, **ts}))
                for rel, change, _ in _changes(self.repo, data):
                    # What Session.file_change records, which a light-path session has not.
                    change_data = {"path": rel, "change": change}
                    events.append(self.session.record("file_change", change_data, artefacts=(rel,)))
        usage = message.get("usage")
        if isinstance(usage, dict) and usage:
            events.append(
                self.session.record("note", {"text": "token usage", "usage": usage, **base})
            )
        return events


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of a transcript message (a string content is one text block)."""
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []


def _unredacted(text: str) -> str:
    """``text`` without Cursor's ``[REDACTED]`` markers; empty when that was all of it.

    Cursor writes ``[REDACTED]`` for the thinking and replies it does not keep: they
    are left out, never recorded as empty replies.
    """
    return "" if not text.replace(_REDACTED, "").strip() else text


def _user_text(blocks: list[dict[str, Any]]) -> str:
    texts = [b.get("text") for b in blocks if b.get("type") == "text"]
    return "\n\n".join(_query(t) for t in texts if isinstance(t, str) and t.strip())


def _tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"name": block["name"], "input": decoded(block.get("input"))}
    if isinstance(block.get("id"), str) and block["id"]:
        data["tool_use_id"] = block["id"]
    return data


def _changes(repo: Recorder, call: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    """The file change a transcript's file tool call made (Write, Edit, StrReplace, Delete).

    The transcript has no tool results: a call is taken to have done what it asked.
    """
    name = call.get("name")
    if not isinstance(name, str) or name not in _FILE_TOOLS:
        return []
    if not isinstance(call.get("input"), Mapping):
        return []
    tool_input = call["input"]
    raw = text_field(tool_input, "path", "file_path", "target_file")
    rel = None if raw is None else relative_path(repo, raw, None)
    if rel is None:
        return []
    change = _FILE_TOOLS[name] or added_or_modified(repo, rel)
    return [(rel, change, None)]


def transcript_history(
    repo: Recorder, path: str | os.PathLike[str]
) -> list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]]:
    """What the hooks record, read back from a whole transcript: prompts and tool calls.

    For :mod:`bitloops.capture._importing`. :func:`catch_up` records these already, in the
    transcript's order, for a session no hook recorded them in; for one captured by
    the hooks in part, the import adds from here what they missed. A user line's text is
    a prompt (the part inside ``<user_query>`` when Cursor wrapped it); an assistant
    ``tool_use`` block a tool_use with its ``name`` and ``input`` (no output: the
    transcript has none), with the file change of a Write, Edit, StrReplace or Delete
    (its ``path`` or ``file_path``). A file tool call the session holds already (the hooks
    recorded it, by tool and file) is left out.
    """
    from bitloops.capture._importing import json_lines

    items: list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]] = []
    held = _held_edits(repo, path)
    for obj in json_lines(path):
        role = obj.get("role") or obj.get("type")
        blocks = _blocks(mapping(obj.get("message")) or obj)
        if role == "user":
            text = _user_text(blocks)
            if text:
                items.append(("prompt", {"text": text}, []))
        elif role == "assistant":
            for block in blocks:
                if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                    data = _tool_call(block)
                    changes = _changes(repo, data)
                    if changes and held[(data["name"], changes[0][0])] > 0:
                        held[(data["name"], changes[0][0])] -= 1
                        continue  # the hooks recorded this edit, with more of its input
                    items.append(("tool_use", data, changes))
    return items


def _held_edits(repo: Recorder, path: str | os.PathLike[str]) -> Counter[tuple[str, str]]:
    """(tool, file) of the file tool calls the session of ``path`` holds already.

    A hook's ``tool_input`` carries more than the transcript's (the new content), so the
    import cannot match the two by their input: a file tool call is matched by its tool
    and file instead.
    """
    from collections import Counter

    from bitloops.capture._importing import session_lines
    from bitloops.errors import BitloopsError

    held: Counter[tuple[str, str]] = Counter()
    sid = transcript_session_id(path)
    if sid is None:
        return held
    try:
        lines = session_lines(repo, sid)
    except BitloopsError:
        return held
    for line in lines:
        event = _jsonc.loads(line)
        if event.get("kind") == "tool_use" and isinstance(event.get("payload"), dict):
            for rel, _, _ in _changes(repo, event["payload"]):
                held[(event["payload"]["name"], rel)] += 1
    return held


def _query(text: str) -> str:
    """The user's words in a transcript's user text: inside ``<user_query>`` if present."""
    match = _USER_QUERY.search(text)
    return (match.group(1) if match else text).strip()


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, transcript path) of each Cursor session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting.
    """
    return open_transcripts(repo, AGENT)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook cursor``: see :func:`bitloops.capture._runner.run_payload_hook`.

    The events of an open session that need no transcript read, no git question and no
    claim written to the session's state (prompts, tool calls, the ``before*`` events,
    subagents, compactions, notes) take the light path of :mod:`.direct`; the
    transcript reads of ``stop`` and ``sessionEnd``, the answers, the thinking and the
    file edits the light catch-up (:func:`.capture._runner.catch_up_light`).
    """
    return run_payload_hook(AGENT, handle, _where, stdin, cwd, err, fast=_fast)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path (:func:`.base.record_planned`); False when
    the full path must.

    ``stop`` and ``sessionEnd`` read the transcript here too, and ``afterAgentResponse``,
    ``afterAgentThought`` and ``afterFileEdit`` are recorded by Cursor's own dispatch
    (:func:`.capture._runner.catch_up_light`); what only the full path does (start or
    resume a session, promote one the session strategy ends) is left to it.
    """
    name = payload.get("hook_event_name")
    sid = text_field(payload, "conversation_id", "session_id")
    if not isinstance(name, str) or sid is None:
        return False
    if name in _CATCH_UPS:
        return catch_up_light(
            AGENT, AGENT, located, payload, lambda repo: _dispatch(repo, name, sid, payload),
            check=lambda: _check(name, payload),
        )  # fmt: skip
    if name in _UNPLANNED:
        return False
    if name not in _PLANNED and name not in _IGNORED and not _EVENT_NAME.fullmatch(name):
        return False
    try:
        _check(name, payload)
        planned = [] if name in _IGNORED else _planned(name, payload, located[0])
        key = None if name in _IGNORED else _claim(name, payload)
    except Exception:  # invalid, or a field of an odd type: the full path says what
        return False
    model = model_name(payload.get("model"))
    capturing = name in _CAPTURING
    transcript = text_field(payload, "transcript_path")

    def accept(state: dict[str, Any]) -> bool:
        return model is None or state.get("model") == model  # else remember() stores it

    if not capturing and key is None:
        return record_planned(
            AGENT, AGENT, located, payload, session_id=sid, transcript=transcript,
            planned=planned, accept=accept,
        )  # fmt: skip

    def claim(state: dict[str, Any]) -> tuple[Planned, list[str]]:
        # What the full path claims in the state: that hooks capture this session (the
        # transcript reader then leaves prompts and tool calls out), a shell command.
        seen = state.get("seen")
        seen = seen if isinstance(seen, list) else []
        keys = [k for k in (_HOOKED if capturing else None, key) if k and k not in seen]
        if key is not None and key in seen:
            return [], keys  # its twin hook (postToolUse, afterShellExecution) recorded it
        return planned, keys

    from bitloops.agents.codex import record_claiming

    return record_claiming(
        AGENT, AGENT, located, payload, session_id=sid, plan=claim, transcript=transcript,
        accept=accept,
    )  # fmt: skip


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``~/.cursor/mcp.json``, ``mcpServers``."""
    from pathlib import Path

    return Path.home() / ".cursor" / "mcp.json", "json", ("mcpServers",), "plain"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="Cursor",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    config=AgentConfig(
        name=AGENT,
        label="Cursor",
        path=".cursor/hooks.json",
        layout="flat",
        events=(
            "sessionStart",
            "beforeSubmitPrompt",
            "postToolUse",
            "afterShellExecution",
            "afterMCPExecution",
            "afterFileEdit",
            "afterAgentThought",
            "afterAgentResponse",
            "preCompact",
            "stop",
            "sessionEnd",
        ),
    ),
    mcp_file="~/.cursor/mcp.json (mcpServers)",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    transcript_history=transcript_history,
    is_transcript=is_transcript,
    plan_tools=(("todo_write", "list"),),
)
