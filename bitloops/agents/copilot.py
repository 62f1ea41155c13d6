"""GitHub Copilot CLI: turn its hook payloads and its session events file into bitloops events.

Copilot CLI runs the commands of ``.github/hooks/*.json`` for each hook event with one JSON
object on standard input. Its camelCase events (``preToolUse``...) send camelCase fields
(``sessionId``, ``toolName``, ``toolArgs``...), its PascalCase events snake_case ones
(``session_id``, ``tool_name``...); both are read. The payload may not name its event: the
event is then taken from ``$BITLOOPS_COPILOT_EVENT`` (set per hook entry by the installer,
through the entry's ``env``), else guessed from the fields. ``bitloops hook copilot`` reads
the object and calls :func:`handle`; a custom loop can call :func:`handle` itself.

Hooks carry neither the answers nor the model. :func:`catch_up` reads them, with the
reasoning and token usage, from the session's events file
(``~/.copilot/session-state/<sessionId>/events.jsonl``), incrementally. See
``docs/agents.md``.

Nothing here ever exits non-zero or prints to standard output (a ``preToolUse`` hook's
output is read as a permission decision).
"""

from __future__ import annotations

import os

# Mapping from the module Python loads at start-up (collections.abc costs the hooks).
from _collections_abc import Mapping

from bitloops import _jsonc, _rx
from bitloops.agents._record import AgentConfig, Integration
from bitloops.capture._runner import (
    LineReader,
    TranscriptReader,
    added_or_modified,
    agent_session,
    catch_up_light,
    decoded,
    digest,
    end_session,
    home_dir,
    json_file,
    json_object,
    mapping,
    nothing_to_end,
    open_repository,
    open_transcripts,
    patch_files,
    read_new_lines,
    record_fitting,
    record_planned,
    relative_to_top,
    remember,
    require_fits,
    require_object,
    run_payload_hook,
    session_after_read,
    text_field,
    where_to_look,
)
from bitloops.errors import InvalidPayload

# Not from typing: the hook's light path does without it (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
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
    "EVENT_ENV",
    "active_transcripts",
    "catch_up",
    "find_events_file",
    "handle",
    "normalise",
    "run_hook",
    "transcript_history",
    "transcript_session_id",
]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "copilot"
#: The environment variable naming the hook event when the payload does not.
EVENT_ENV = "BITLOOPS_COPILOT_EVENT"

# Event names as Copilot spells them (either case) -> the camelCase name used here.
_EVENTS = {
    "sessionstart": "sessionStart",
    "sessionend": "sessionEnd",
    "userpromptsubmitted": "userPromptSubmitted",
    "userpromptsubmit": "userPromptSubmitted",
    "pretooluse": "preToolUse",
    "posttooluse": "postToolUse",
    "posttoolusefailure": "postToolUseFailure",
    "agentstop": "agentStop",
    "stop": "agentStop",
    "subagentstart": "subagentStart",
    "subagentstop": "subagentStop",
    "erroroccurred": "errorOccurred",
    "precompact": "preCompact",
    "postcompact": "postCompact",
}
_KNOWN = frozenset(_EVENTS.values())
# camelCase field -> the snake_case name of the PascalCase events.
_FIELDS = {"toolArgs": "tool_input", "toolResult": "tool_response", "toolArguments": "tool_input"}
_COMMON = frozenset(
    {"session_id", "transcript_path", "cwd", "hook_event_name", "timestamp", "model"}
)
# File-writing tools: whether a write may create the file.
_FILE_TOOLS = {"create": True, "write": True, "edit": False, "str_replace": False, "insert": False}
_FAILED_RESULTS = frozenset({"failure", "error", "denied", "rejected"})
_START_SECONDS = 0.3
_STOP_SECONDS = 2.0
_END_SECONDS = 0.5
_SAFE_ID = _rx.compile(r"^[A-Za-z0-9._-]+$")
_CAMEL = _rx.compile(r"(?<!^)(?=[A-Z])")
# The events that read the events file or start or end the session; the others are
# planned first (see _planned), so the light path can write them.
_UNPLANNED = frozenset({"sessionStart", "sessionEnd", "agentStop"})
# The unplanned events that read the events file of a session started already: the light
# catch-up, with Copilot CLI's own dispatch (see _fast).
_CATCH_UPS = frozenset({"sessionEnd", "agentStop"})
# What an event name Copilot does not document must look like for the light path to note
# it; any other name is left to the full path.
_EVENT_NAME = _rx.compile(r"[A-Za-z]{2,64}")


# -- the hook -----------------------------------------------------------------------------


def normalise(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload with snake_case keys (``toolArgs`` -> ``tool_input``, ...), JSON-string
    ``tool_input``/``tool_response`` decoded, and ``hook_event_name`` in camelCase
    (``PostToolUse`` -> ``postToolUse``) or missing when neither the payload nor
    ``$BITLOOPS_COPILOT_EVENT`` names one and the fields do not tell."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        name = _FIELDS.get(key) or _CAMEL.sub("_", key).lower()
        out.setdefault(name, value)
    for key in ("tool_input", "tool_response"):
        if key in out:
            out[key] = decoded(out[key])
    raw = out.get("hook_event_name") or out.get("event") or os.environ.get(EVENT_ENV)
    event = _EVENTS.get(raw.lower()) if isinstance(raw, str) else None
    event = event or (raw if isinstance(raw, str) and raw else None) or _guess(out)
    if event is None:
        out.pop("hook_event_name", None)
    else:
        out["hook_event_name"] = event
    return out


def _guess(payload: Mapping[str, Any]) -> str | None:
    """The event a payload without a name is, from the fields it has."""
    if "tool_name" in payload:
        if "tool_response" in payload:
            return "postToolUse"
        return "postToolUseFailure" if "error" in payload else "preToolUse"
    if "prompt" in payload:
        return "userPromptSubmitted"
    if "error" in payload:
        return "errorOccurred"
    if "source" in payload or "initial_prompt" in payload:
        return "sessionStart"
    if "reason" in payload:
        return "sessionEnd"
    if "stop_reason" in payload:
        return "agentStop"
    return None


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one Copilot CLI hook payload; return the events it recorded.

    The payload is first :func:`normalise`\\ d. The repository is the git work tree
    containing its ``cwd`` (else ``cwd``). An event of a session never started starts it;
    one after ``sessionEnd`` resumes it. The session's events file is the payload's
    ``transcriptPath`` or ``~/.copilot/session-state/<sessionId>/events.jsonl`` (see
    :func:`find_events_file`).

    ``sessionStart`` starts the session, reads the events file (at most 0.3 s: it names
    the model) and records its ``initialPrompt`` as a prompt; ``userPromptSubmitted`` is a
    prompt (unless it repeats that initial prompt); ``preToolUse`` records nothing; ``postToolUse``
    is one tool_use (``is_error`` when ``toolResult.resultType`` is failure, denied or
    rejected) plus a file_change for ``create``/``edit``/``str_replace_editor`` and the
    files an ``apply_patch`` names inside the work tree; ``postToolUseFailure`` a
    tool_use with ``is_error``; ``agentStop`` reads the events file (at most 2 s);
    ``subagentStart``/``subagentStop`` are subagent events, ``preCompact``/``postCompact``
    compaction events, ``errorOccurred`` an error; ``sessionEnd`` reads the events file
    (0.5 s) and ends the session. Any other event is a note carrying its fields.

    Raises :class:`~bitloops.InvalidPayload` for a payload without a session id string or
    whose event cannot be told, or missing the field its event needs, and
    :class:`~bitloops.NotAGitRepository` when no work tree is found.
    """
    data, name, sid = _checked(payload)
    with open_repository(data, cwd) as repo:
        return _dispatch(repo, name, sid, data)


def _checked(payload: Any) -> tuple[dict[str, Any], str, str]:
    """The payload :func:`normalise` gives, its event and its session id; raises
    :class:`~bitloops.InvalidPayload` as :func:`handle` says."""
    require_object(payload, "a Copilot CLI hook payload")
    data = normalise(payload)
    name = data.get("hook_event_name")
    if not isinstance(name, str):
        raise InvalidPayload(
            f"the payload names no hook event: set {EVENT_ENV} in the hook entry's env"
        )
    sid = text_field(data, "session_id")
    if sid is None:
        raise InvalidPayload("the payload has no sessionId string")
    if name == "userPromptSubmitted" and not isinstance(data.get("prompt"), str):
        raise InvalidPayload("a userPromptSubmitted payload needs a prompt string")
    if name in ("postToolUse", "postToolUseFailure") and not text_field(data, "tool_name"):
        raise InvalidPayload(f"a {name} payload needs a toolName string")
    if data.get("transcript_path") is not None and not isinstance(data["transcript_path"], str):
        raise InvalidPayload("the payload's transcriptPath is not a string")
    return data, name, sid


def _dispatch(repo: Recorder, name: str, sid: str, payload: dict[str, Any]) -> list[Event]:
    if name == "userPromptSubmitted":  # a prompt that cannot be recorded starts nothing
        require_fits(repo, payload.get("prompt"))
    from bitloops.capture import _transcript_state as ts

    state = ts.load(repo.paths.common_dir, sid)
    transcript = text_field(payload, "transcript_path")
    if transcript is None and state.transcript_path is None:
        transcript = find_events_file(sid)  # so that post-commit can read it too
    model = text_field(payload, "model")
    state = remember(repo, AGENT, sid, transcript, model)
    if name == "preToolUse":
        return []  # postToolUse records the call with its result
    if name == "sessionStart":
        repo.start_session(AGENT, model=state.model, session_id=sid)
        # The events file starts with the selected model: read it so every event has it.
        path = state.transcript_path
        events = _catch_up(repo, sid, path, _START_SECONDS) if path else []
        first = text_field(payload, "initial_prompt")
        if first:
            session = session_after_read(repo, AGENT, sid)
            events.append(session.prompt(first))
            _initial(repo, sid, first, claim=True)
        return events
    if name == "sessionEnd" and nothing_to_end(repo, sid, lambda: state.transcript_path):
        return []  # a session opened and closed: nothing to keep
    session = agent_session(repo, AGENT, sid, state, resume=name != "sessionEnd")
    if name == "userPromptSubmitted" and _initial(repo, sid, payload["prompt"], claim=False):
        return []  # the sessionStart's initialPrompt, recorded already
    if name not in _UNPLANNED:
        return _record(repo, session, _planned(name, payload, str(repo.toplevel)))
    if name == "agentStop":
        path = state.transcript_path
        events = _catch_up(repo, sid, path, _STOP_SECONDS) if path else []
        reason = text_field(payload, "stop_reason")
        if reason not in (None, "end_turn", "completed", "stop"):
            session = session_after_read(repo, AGENT, sid)
            extra = {k: v for k, v in payload.items() if k not in _COMMON}
            events.append(session.record("note", {"text": "the turn stopped", **extra}))
        return events
    # sessionEnd
    path = state.transcript_path
    return end_session(
        repo,
        AGENT,
        session,
        lambda: _catch_up(repo, sid, path, _END_SECONDS) if path else [],
        text_field(payload, "reason"),
    )


def _planned(name: str, payload: Mapping[str, Any], top: str) -> Planned:
    """The events a hook records, unwritten, for every event but :data:`_UNPLANNED`.

    ``payload`` is normalised; ``top`` is the work tree's top directory. A file_change
    whose artefacts are ``(None,)`` is a write only git can say was an addition (its
    ``change`` is to be filled in).
    """
    if name == "preToolUse":
        return []  # postToolUse records the call with its result
    if name == "userPromptSubmitted":
        return [("prompt", {"text": payload["prompt"]}, (), False)]
    if name in ("postToolUse", "postToolUseFailure"):
        data = _tool_use(name, payload)
        planned: Planned = [("tool_use", data, (), True)]
        if not data.get("is_error"):
            for rel, change in _changes_at(top, data["name"], data["input"], payload.get("cwd")):
                arts = (rel,) if change is not None else (None,)
                planned.append(("file_change", {"path": rel, "change": change}, arts, False))
        return planned
    extra = {k: v for k, v in payload.items() if k not in _COMMON}
    if name in ("subagentStart", "subagentStop"):
        event_name = "start" if name == "subagentStart" else "stop"
        return [("subagent", {"event": event_name, **extra}, (), True)]
    if name in ("preCompact", "postCompact"):
        phase = "pre" if name == "preCompact" else "post"
        return [("compaction", {"phase": phase, **extra}, (), True)]
    if name == "errorOccurred":
        error = payload.get("error")
        message = error.get("message") if isinstance(error, Mapping) else error
        if not isinstance(message, str) or not message:
            message = _jsonc.dumps(error, default=str)
        rest = {k: v for k, v in extra.items() if k != "error"}
        if isinstance(error, Mapping):
            rest.update({k: v for k, v in error.items() if k in ("name", "stack", "code")})
        return [("error", {"message": message, **rest}, (), True)]
    note = {"text": f"Copilot CLI hook {name}", "hook_event_name": name, **extra}
    return [("note", note, (), True)]


def _record(repo: Recorder, session: Session, planned: Planned) -> list[Event]:
    """Record planned events, asking git what only it can tell, several in one
    transaction (all or nothing, as the light path writes them)."""
    ready: list[tuple[str, dict[str, Any], tuple[str, ...], bool]] = []
    for kind, data, arts, fit in planned:
        if arts == (None,):  # a write whose creation only git can tell
            data["change"] = added_or_modified(repo, data["path"])
            arts = (data["path"],)
        ready.append((kind, data, tuple(a for a in arts if a is not None), fit))

    def record() -> list[Event]:
        return [
            record_fitting(session, kind, data)
            if fit
            else session.record(kind, data, artefacts=arts)
            for kind, data, arts, fit in ready
        ]

    if len(ready) > 1 and repo.settings.capture:
        with repo.store.transaction():
            return record()
    return record()


def _initial(repo: Recorder, sid: str, prompt: str, *, claim: bool) -> bool:
    """Note the initial prompt (``claim``), or take the note back: whether it was there."""
    from bitloops.capture import _transcript_state as ts

    key = "initial:" + digest(prompt)
    common = repo.paths.common_dir
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        found = key in state.seen
        if claim and not found:
            state.seen.append(key)
        elif not claim and found:
            state.seen.remove(key)
        ts.save(common, state)
    return found


def _tool_use(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The tool_use payload of a postToolUse or postToolUseFailure."""
    tool_input = payload.get("tool_input")
    data: dict[str, Any] = {"name": payload["tool_name"], "input": tool_input}
    call_id = text_field(payload, "tool_call_id", "tool_use_id")
    if call_id:
        data["tool_use_id"] = call_id
    result = payload.get("tool_response")
    if name == "postToolUseFailure":
        data["output"] = payload.get("error", result)
        data["is_error"] = True
    else:
        if result is not None:
            data["output"] = result
        kind = (
            result.get("resultType", result.get("result_type"))
            if isinstance(result, Mapping)
            else None
        )
        if isinstance(kind, str) and kind.lower() in _FAILED_RESULTS:
            data["is_error"] = True
    return data


def _changes(repo: Recorder, tool: str, tool_input: Any, cwd: Any) -> list[tuple[str, str]]:
    """(repo-relative path, change) of each file a file-writing tool changed in the work tree."""
    return [
        (rel, change if change is not None else added_or_modified(repo, rel))
        for rel, change in _changes_at(str(repo.toplevel), tool, tool_input, cwd)
    ]


def _changes_at(top: str, tool: str, tool_input: Any, cwd: Any) -> list[tuple[str, str | None]]:
    """:func:`_changes` without git: the change is None where only git can tell (a write
    that may have created the file)."""
    if isinstance(tool_input, str) and "*** Begin Patch" in tool_input:
        tool_input = {"input": tool_input}
    if not isinstance(tool_input, Mapping):
        return []
    patch = next((v for v in tool_input.values() if isinstance(v, str) and "*** " in v), None)
    if tool == "apply_patch" and patch:
        out: list[tuple[str, str | None]] = []
        for path, change, _ in patch_files(patch):  # a move stays a modification here
            rel = relative_to_top(top, path, cwd)
            if rel is not None:
                out.append((rel, change))
        return out
    if tool == "str_replace_editor":
        command = tool_input.get("command")
        if command not in _FILE_TOOLS:
            return []  # "view" and unknown commands change nothing
        tool = command
    if tool not in _FILE_TOOLS:
        return []
    raw = text_field(tool_input, "path", "file_path", "filePath")
    rel = relative_to_top(top, raw, cwd) if raw else None
    if rel is None:
        return []
    return [(rel, None if _FILE_TOOLS[tool] else "modified")]


# -- the events file ----------------------------------------------------------------------


def find_events_file(
    session_id: str, copilot_home: str | os.PathLike[str] | None = None
) -> str | None:
    """``<copilot home>/session-state/<session_id>/events.jsonl`` when it exists.

    ``copilot_home`` defaults to ``$COPILOT_HOME``, else ``~/.copilot``.
    """
    if not _SAFE_ID.match(session_id):
        return None
    home = os.fspath(copilot_home or home_dir("COPILOT_HOME", ".copilot"))
    # os.path, not pathlib: the light hook path asks this on a prompt with no events file.
    path = os.path.join(home, "session-state", session_id, "events.jsonl")
    return path if os.path.isfile(path) else None


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id of a Copilot CLI events file (or older session JSON), else None.

    The ``sessionId`` of the ``session.start`` line (or of the first line carrying one);
    for an older one-object ``.json`` file its ``sessionId``; else the folder name of a
    ``session-state/<id>/events.jsonl``.
    """
    from pathlib import Path

    from bitloops.capture._importing import json_lines

    path = Path(path)
    try:
        if path.suffix == ".json":
            data = json_file(path)
            return text_field(data, "sessionId", "session_id") if isinstance(data, dict) else None
        for obj in json_lines(path, 50):
            data = obj.get("data")
            if isinstance(obj.get("type"), str) and isinstance(data, dict):
                found = text_field(data, "sessionId", "session_id")
                if found is not None:
                    return found
    except OSError:
        return None
    if path.name == "events.jsonl" and path.parent.parent.name == "session-state":
        return path.parent.name
    return None


def catch_up(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record what the events file added since the last call; the number of events recorded.

    Reads Copilot CLI's ``events.jsonl`` (``{type, data, id, timestamp, parentId}`` lines)
    from the byte offset where the previous call stopped: ``session.start``'s
    ``selectedModel`` and ``session.model_change``'s ``newModel`` become the session's
    model; an ``assistant.message``'s ``content`` is a response and its
    ``reasoningText`` a reasoning event; ``assistant.reasoning`` is a reasoning event;
    ``assistant.usage`` (its ``model`` the session's model) a usage note. Payloads carry
    ``message_id``, ``model`` and the line's ``timestamp`` as ``transcript_ts``. A
    ``session.task_complete`` is a note with the task's ``summary``; a ``session.shutdown``
    a note with its ``shutdownType`` and ``codeChanges`` (an error when it shut down on
    an error). User
    messages and tool executions (the hooks record them), deltas, other types and invalid
    lines are skipped. Lines are known by their ``id`` (else their SHA-256), so a
    truncated or replaced file read again from the start records nothing twice. An older
    one-object ``.json`` session file (``chatMessages``) is read whole, each assistant
    message's text a response. An unknown session is started; an ended one, or a missing
    file, records nothing.
    """
    return len(_catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines))


def _catch_up(
    repo: Recorder, sid: str, transcript: str, max_seconds: float, max_lines: int = 20000
) -> list[Event]:
    whole = _whole_json if transcript.endswith(".json") else None
    return read_new_lines(
        repo, AGENT, sid, transcript, _Reader,
        max_seconds=max_seconds, max_lines=max_lines, resume=False, whole=whole,
    )  # fmt: skip


def _whole_json(data: Any, reader: LineReader) -> list[Event]:
    """The assistant messages of an older one-object session file."""
    messages = data.get("chatMessages") if isinstance(data, dict) else None
    assert isinstance(reader, _Reader)
    events: list[Event] = []
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            text = message.get("content")
            if isinstance(text, str) and text.strip():
                key = f"chat:{index}:{digest(text)[:32]}"
                events += reader.once_response(key, text, {})
    return events


# Records of how a task or the session ended: the agent's own summary of the task, and
# why and how the CLI shut down (with its count of changed files).
_ENDINGS = frozenset({"session.task_complete", "session.shutdown"})


def _ending(
    session: Session, kind: str, data: Mapping[str, Any], when: Any, model: str | None
) -> list[Event]:
    """A ``session.task_complete`` or ``session.shutdown`` line as a note (an error for a
    shutdown on an error), with the line's time and the fields that say what happened."""
    base: dict[str, Any] = {"copilot_event": kind}
    if isinstance(when, str) and when:
        base["transcript_ts"] = when
    if model:
        base["model"] = model
    details = {k: v for k, v in data.items() if isinstance(k, str) and k != "modelMetrics"}
    if kind == "session.task_complete":
        summary = text_field(data, "summary", "content")
        text = f"task complete: {summary}" if summary else "task complete"
        if data.get("success") is False:
            text = (
                f"task ended unsuccessfully: {summary}" if summary else "task ended unsuccessfully"
            )
        payload = {"text": text, **details, **base}
        return [record_fitting(session, "note", payload)]
    how = text_field(data, "shutdownType") or "unknown"
    reason = text_field(data, "errorReason")
    text = f"Copilot CLI shut down ({how})" + (f": {reason}" if reason else "")
    kind_of = "error" if how == "error" or reason else "note"
    field = "message" if kind_of == "error" else "text"
    return [record_fitting(session, kind_of, {field: text, **details, **base})]


class _Reader(TranscriptReader):
    """Turns events-file lines into events, remembering what it recorded in the state."""

    def once_response(self, key: str, text: str, base: dict[str, Any]) -> list[Event]:
        """A response, unless ``key`` was recorded before."""
        return self.response(text, base) if self.once(key) else []

    def line(self, raw: bytes) -> list[Event]:
        obj = json_object(raw)
        if obj is None or not isinstance(obj.get("type"), str):
            return []
        kind = obj["type"]
        data = mapping(obj.get("data"))
        line_id = obj.get("id")
        if isinstance(line_id, str) and line_id:
            key = line_id
        else:
            key = "sha256:" + digest(raw.decode("utf-8"))
        if key in self.seen:
            return []
        if kind == "session.start":
            self.set_model(text_field(data, "selectedModel", "model"))
        elif kind == "session.model_change":
            self.set_model(text_field(data, "newModel", "model"))
        if kind in _ENDINGS:
            self.mark(key)
            return _ending(self.session, kind, data, obj.get("timestamp"), self.state.model)
        if kind not in ("assistant.message", "assistant.reasoning", "assistant.usage"):
            return []  # user messages and tools come from the hooks; deltas are partial
        self.mark(key)
        if kind == "assistant.usage":
            self.set_model(text_field(data, "model"))
        base: dict[str, Any] = {}
        for name, value in (
            ("message_id", text_field(data, "messageId", "reasoningId") or key),
            ("model", self.state.model),
            ("transcript_ts", obj.get("timestamp")),
        ):
            if isinstance(value, str) and value:
                base[name] = value
        if kind == "assistant.usage":
            usage = {k: v for k, v in data.items() if k != "model"}
            return [self.session.record("note", {"text": "token usage", "usage": usage, **base})]
        events: list[Event] = []
        thought = text_field(
            data, *(("content", "text") if kind == "assistant.reasoning" else ("reasoningText",))
        )
        if thought:
            events += self.reasoning(thought, base)
        if kind == "assistant.message":
            answer = text_field(data, "content")
            if answer:
                events += self.response(answer, base)
        return events


def transcript_history(
    repo: Recorder, path: str | os.PathLike[str]
) -> list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]]:
    """What the hooks record, read back from a whole events file: prompts and tool calls.

    For :mod:`bitloops.capture._importing` (:func:`catch_up` reads the rest). A ``user.message``'s
    ``content`` is a prompt; a ``tool.execution_start`` with its
    ``tool.execution_complete`` (same ``toolCallId``) one tool_use: ``name``, ``input``
    (``arguments``), ``output`` (the ``result``), ``tool_use_id``, ``is_error`` when
    ``success`` is false, and the file changes a ``postToolUse`` hook would record,
    relative to the ``session.start`` context's ``cwd``. Payloads carry the line's
    ``timestamp`` as ``transcript_ts``. An older ``.json`` file gives its user messages.
    """
    from pathlib import Path

    items: list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]] = []
    if os.fspath(path).endswith(".json"):
        data = _jsonc.loads(Path(path).read_bytes().decode("utf-8"))
        messages = data.get("chatMessages") if isinstance(data, dict) else None
        for message in messages if isinstance(messages, list) else []:
            text = (
                text_field(message, "content") if mapping(message).get("role") == "user" else None
            )
            if text:
                items.append(("prompt", {"text": text}, []))
        return items
    from bitloops.capture._importing import json_lines

    calls: dict[str, dict[str, Any]] = {}
    cwd: str | None = None
    for obj in json_lines(path):
        kind, data = obj.get("type"), mapping(obj.get("data"))
        base = {"transcript_ts": obj["timestamp"]} if isinstance(obj.get("timestamp"), str) else {}
        if kind == "session.start":
            cwd = text_field(mapping(data.get("context")), "cwd") or cwd
        elif kind == "user.message":
            text = text_field(data, "content")
            if text:
                items.append(("prompt", {"text": text, **base}, []))
        elif kind == "tool.execution_start":
            name = text_field(data, "toolName") or "unknown"
            payload: dict[str, Any] = {"name": name, "input": decoded(data.get("arguments"))}
            payload.update(base)
            call_id = text_field(data, "toolCallId")
            if call_id:
                payload["tool_use_id"] = call_id
                calls[call_id] = payload  # its output comes with tool.execution_complete
            items.append(("tool_use", payload, []))
        elif kind == "tool.execution_complete":
            call = calls.get(text_field(data, "toolCallId") or "")
            if call is None:
                continue
            call["output"] = data.get("result", data.get("error"))
            if data.get("success") is False:
                call["is_error"] = True
    for kind, payload, changes in items:
        if kind == "tool_use" and not payload.get("is_error"):
            for rel, change in _changes(repo, payload["name"], payload["input"], cwd):
                changes.append((rel, change, None))
    return items


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, events file) of each Copilot CLI session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting.
    """
    return open_transcripts(repo, AGENT)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook copilot``: see :func:`bitloops.capture._runner.run_payload_hook`.

    The events of an open session that need no events-file read (prompts, tool calls
    and their file changes, subagents, compactions, errors, notes) take the light path
    of :mod:`.direct`; the events-file reads of ``agentStop`` and ``sessionEnd`` the
    light catch-up (:func:`.capture._runner.catch_up_light`).
    """
    return run_payload_hook(AGENT, _named, where_to_look, stdin, cwd, err, fast=_fast)


def _named(payload: Any, *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """:func:`handle`, once the payload itself names the event ``$BITLOOPS_COPILOT_EVENT``
    gives: the full path spools or quarantines this very payload, and the process that
    replays it runs another hook's environment."""
    event = os.environ.get(EVENT_ENV)
    if (
        isinstance(payload, dict)
        and event
        and not any(key in payload for key in ("hookEventName", "hook_event_name", "event"))
    ):
        payload["hookEventName"] = event
    return handle(payload, cwd=cwd)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path (:func:`.base.record_planned`); False when
    the full path must.

    ``agentStop`` and ``sessionEnd`` read the events file here too
    (:func:`.capture._runner.catch_up_light`); what only the full path does (start or
    resume a session, promote one the session strategy ends) is left to it.
    """
    try:
        data, name, sid = _checked(payload)
    except Exception:  # invalid, or a field of an odd type: the full path says what
        return False
    if name in _CATCH_UPS:
        # The normalised payload is what is spooled when busy: it names its event.
        return catch_up_light(
            AGENT, AGENT, located, data, lambda repo: _dispatch(repo, name, sid, data)
        )
    try:
        if name in _UNPLANNED or (name not in _KNOWN and not _EVENT_NAME.fullmatch(name)):
            return False
        planned = _planned(name, data, located[0])
    except Exception:  # invalid, or a field of an odd type: the full path says what
        return False
    transcript = text_field(data, "transcript_path")
    model = text_field(data, "model")
    initial = "initial:" + digest(data["prompt"]) if name == "userPromptSubmitted" else None

    def accept(state: dict[str, Any]) -> bool:
        # What the full path would write to the state first: a new model, the events
        # file it finds, the initial prompt's claim taken back.
        try:
            if model is not None and state.get("model") != model:
                return False
            seen = state.get("seen")
            if initial is not None and isinstance(seen, list) and initial in seen:
                return False
            if transcript is None and not state.get("transcript_path"):
                return find_events_file(sid) is None
            return True
        except Exception:
            return False

    # The normalised payload is what is spooled: it names its event, which the replay's
    # process could not tell from its own environment.
    return record_planned(
        AGENT, AGENT, located, data, session_id=sid, transcript=transcript,
        planned=planned, accept=accept,
    )  # fmt: skip


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``$COPILOT_HOME/mcp-config.json`` (``~/.copilot``), ``mcpServers``."""
    from pathlib import Path

    path = Path(home_dir("COPILOT_HOME", ".copilot"), "mcp-config.json")
    return path, "json", ("mcpServers",), "copilot"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="GitHub Copilot CLI",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    config=AgentConfig(
        name=AGENT,
        label="GitHub Copilot CLI",
        path=".github/hooks/bitloops.json",
        layout="flat",
        events=(
            "sessionStart",
            "userPromptSubmitted",
            "postToolUse",
            "postToolUseFailure",
            "subagentStart",
            "subagentStop",
            "agentStop",
            "errorOccurred",
            "preCompact",
            "sessionEnd",
        ),
        entry_fields=(("type", "command"), ("timeoutSec", 30)),
        command_keys=("bash", "powershell"),
        event_env=EVENT_ENV,
    ),
    mcp_file="~/.copilot/mcp-config.json (mcpServers)",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    transcript_history=transcript_history,
    resume_command=("copilot", "--resume"),
    plan_tools=(("update_todo", "list"),),
)
