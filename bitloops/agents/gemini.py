"""Gemini CLI: turn its hook payloads and its session file into bitloops events.

Gemini CLI runs a command for each hook event with one JSON object on standard input.
``bitloops hook gemini`` (wired by the CLI) reads that object and calls :func:`handle`.
What hooks lack (thoughts, the text of every turn, token counts) is read from the session
file (``~/.gemini/tmp/<project-id>/chats/session-*.jsonl``) by :func:`catch_up`,
incrementally. The helpers shared with the other agents come from
:mod:`bitloops.capture._runner`; the per-session reading state is
:mod:`bitloops.capture._transcript_state`. See ``docs/agents.md``.

Nothing here ever exits 2 or prints to standard output: Gemini CLI would block the agent.
"""

from __future__ import annotations

import os

# Mapping from the module Python loads at start-up (collections.abc costs the hooks).
from _collections_abc import Mapping

from bitloops import _jsonc, _rx
from bitloops.agents._record import AgentConfig, Integration, TranscriptWriter
from bitloops.capture._runner import (
    LineReader,
    TranscriptReader,
    added_or_modified,
    agent_session,
    catch_up_light,
    digest,
    end_session,
    event_and_session,
    json_file,
    json_object,
    nothing_to_end,
    open_repository,
    open_transcripts,
    read_new_lines,
    record_fitting,
    record_planned,
    relative_to_top,
    remember,
    require_fits,
    run_payload_hook,
    stop_turn,
    text_field,
    where_to_look,
)
from bitloops.errors import InvalidEvent, InvalidPayload

# Not from typing, and transcript_state (attrs) only where used: the hook's light path
# does without them (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from typing import IO, Any

    from bitloops.agents._contract import AgentIntegration, McpLocation
    from bitloops.capture import _transcript_state as ts
    from bitloops.capture._direct import Located
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._runner import Planned
    from bitloops.capture._session import Session
    from bitloops.model import Event, SessionInfo

__all__ = ["AGENT", "active_transcripts", "catch_up", "handle", "run_hook"]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "gemini"

# Fields every payload has; left out when a payload is copied into an event.
_COMMON = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "timestamp"})
# Events recorded elsewhere or too bulky to keep (whole LLM requests): nothing recorded.
_IGNORED = frozenset({"BeforeTool", "BeforeModel", "BeforeToolSelection"})
# File-writing tools of Gemini CLI, and whether a write may create the file.
_FILE_TOOLS = {"write_file": True, "replace": False, "edit": False}
_AFTER_AGENT_SECONDS = 2.0
_END_SECONDS = 0.5
# The info message Gemini CLI writes when the user cancels a request (Esc): "Request
# cancelled." (and "Request cancelled by user" in some versions).
_CANCELLED = _rx.compile(r"^request (was )?cancell?ed\b", _rx.IGNORECASE)


# -- the hook -----------------------------------------------------------------------------


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one Gemini CLI hook payload; return the events it recorded.

    The repository is the git work tree containing the payload's ``cwd`` (else ``cwd``).
    An event of a session never started starts it; one after ``SessionEnd`` resumes it.

    ``SessionStart`` starts the session (returns ``[]``); ``BeforeAgent`` is a prompt;
    ``AfterTool`` one tool_use event with input and output (``is_error`` when the
    response has an ``error``; plus a file_change for
    ``write_file``/``replace`` inside the work tree); ``AfterAgent`` reads the session file
    (:func:`catch_up`, at most 2 s) and records ``prompt_response`` as a response unless
    the file already brought it; ``AfterModel`` sets the session's model from
    ``llm_request.model`` (records nothing); ``PreCompress`` is a compaction event;
    ``SessionEnd`` ends the session. ``BeforeTool``, ``BeforeModel`` and
    ``BeforeToolSelection`` record nothing; any other event (``Notification``...) is a note.

    Raises :class:`~bitloops.InvalidPayload` for a payload without a ``session_id`` or
    ``hook_event_name`` string, :class:`~bitloops.NotAGitRepository` when no work tree is
    found, and the library's other errors as recording does.
    """
    name, sid = event_and_session(payload, "a Gemini CLI hook payload", "session_id")
    _check(name, payload)
    with open_repository(payload, cwd) as repo:
        return _dispatch(repo, name, sid, payload)


def _check(name: str, payload: Mapping[str, Any]) -> None:
    if name == "BeforeAgent" and not isinstance(payload.get("prompt"), str):
        raise InvalidPayload("a BeforeAgent payload needs a prompt string")
    if name == "AfterTool" and not (
        isinstance(payload.get("tool_name"), str) and payload["tool_name"]
    ):
        raise InvalidPayload("an AfterTool payload needs a tool_name string")


def _dispatch(repo: Recorder, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
    if name == "BeforeAgent":  # a prompt that cannot be recorded starts nothing
        require_fits(repo, payload.get("prompt"))
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    state = remember(repo, AGENT, sid, transcript)
    if name in _IGNORED:
        return []
    if name == "SessionStart":
        repo.start_session(AGENT, model=state.model, session_id=sid)
        return []
    if name == "SessionEnd" and nothing_to_end(
        repo, sid, lambda: transcript or state.transcript_path
    ):
        return []  # a session opened and closed: nothing to keep
    session = agent_session(repo, AGENT, sid, state, resume=name != "SessionEnd")
    if name == "AfterModel":
        _set_model(repo, session, payload.get("llm_request"))
        return []
    if name == "AfterAgent":
        events = _catch_up(repo, sid, transcript, _AFTER_AGENT_SECONDS)
        return stop_turn(repo, AGENT, sid, events, payload.get("prompt_response"))
    if name == "SessionEnd":
        read = lambda: _catch_up(repo, sid, transcript, _END_SECONDS)  # noqa: E731
        return end_session(repo, AGENT, session, read, payload.get("reason"))
    events = []
    for kind, data, arts, fit in _planned(name, payload, str(repo.toplevel)):
        if arts == (None,):  # a write_file whose creation only git can tell
            data["change"], arts = added_or_modified(repo, data["path"]), (data["path"],)
        ready = tuple(a for a in arts if a is not None)
        if fit:
            events.append(record_fitting(session, kind, data))
        else:
            events.append(session.record(kind, data, artefacts=ready))
    return events


def _planned(name: str, payload: Mapping[str, Any], top: str) -> Planned:
    """The events a hook records, unwritten (see :data:`.base.Planned`): ``BeforeAgent``,
    ``AfterTool``, ``PreCompress`` and notes.

    A file_change whose artefacts are ``(None,)`` is a ``write_file`` only git can say
    was an addition (its ``change`` is to be filled in).
    """
    if name == "BeforeAgent":
        return [("prompt", {"text": payload["prompt"]}, (), False)]
    if name == "AfterTool":
        tool, tool_input = payload["tool_name"], payload.get("tool_input")
        data: dict[str, Any] = {"name": tool, "input": tool_input}
        output = payload.get("tool_response")
        if output is not None:
            data["output"] = output
        if isinstance(output, Mapping) and output.get("error") not in (None, "", {}):
            data["is_error"] = True
        planned: Planned = [("tool_use", data, (), True)]
        rel = _written(top, tool, tool_input, payload.get("cwd"))
        if rel is not None:
            change = None if _FILE_TOOLS[tool] else "modified"
            arts = (rel,) if change is not None else (None,)
            planned.append(("file_change", {"path": rel, "change": change}, arts, False))
        return planned
    extra = {k: v for k, v in payload.items() if k not in _COMMON and isinstance(k, str)}
    if name == "PreCompress":
        return [("compaction", {"phase": "pre", **extra}, (), False)]
    note = {"text": f"Gemini CLI hook {name}", "hook_event_name": name, **extra}
    return [("note", note, (), False)]


def _set_model(repo: Recorder, session: Session, request: Any) -> None:
    model = request.get("model") if isinstance(request, Mapping) else None
    if not isinstance(model, str) or not model or model == session.model:
        return
    from bitloops.capture import _transcript_state as ts

    session.set_model(model)
    common = repo.paths.common_dir
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        state.model = model
        ts.save(common, state)


def _written(top: str, tool: str, tool_input: Any, cwd: Any) -> str | None:
    """The work-tree-relative path a file-writing tool wrote; None for another tool or a
    path outside the work tree."""
    if tool not in _FILE_TOOLS or not isinstance(tool_input, Mapping):
        return None
    raw = tool_input.get("file_path")
    if not isinstance(raw, str) or not raw:
        return None
    return relative_to_top(top, raw, cwd)


def _file_change(repo: Recorder, tool: str, tool_input: Any, cwd: Any) -> tuple[str, str] | None:
    """The (repo-relative path, change) a file-writing tool made inside the work tree."""
    rel = _written(str(repo.toplevel), tool, tool_input, cwd)
    if rel is None:
        return None
    return rel, added_or_modified(repo, rel) if _FILE_TOOLS[tool] else "modified"


# -- the session file ---------------------------------------------------------------------


def catch_up(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record what the session file added since the last call; the number of events recorded.

    Reads Gemini CLI's session JSONL from the byte offset where the previous call stopped
    and, for each ``gemini`` message, records each of its ``thoughts`` as a reasoning event
    (``subject`` kept in the payload), its ``content`` as a response, and its ``tokens`` as
    a usage note (payloads carry ``message_id``, ``model`` and ``transcript_ts``); its
    ``model`` becomes the session's model; each of its ``toolCalls`` with status
    ``cancelled`` is a note (the call never ran), and so is an ``info`` message saying
    "Request cancelled". User, other info and error messages, the metadata
    line, ``$set`` lines and invalid lines are skipped; a ``$rewindTo`` line is a note
    (what was recorded stays). A last line without its newline waits for the next call.

    Messages are de-duplicated by id (a message written again records only what it did
    not have). A file that shrank or was replaced is read again from the start. An older
    ``.json`` session file (one object with a ``messages`` list) is read whole each time,
    recording only unseen messages. An unknown session is started; an ended one, or a
    missing file, records nothing.
    """
    return len(_catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines))


def _catch_up(
    repo: Recorder, sid: str, transcript: str | None, max_seconds: float, max_lines: int = 20000
) -> list[Event]:
    # The older session format is one JSON object, read whole.
    whole = _whole_json if transcript and transcript.endswith(".json") else None
    return read_new_lines(
        repo, AGENT, sid, transcript, _Reader,
        max_seconds=max_seconds, max_lines=max_lines, resume=False, whole=whole,
    )  # fmt: skip


def _whole_json(data: Any, reader: LineReader) -> list[Event]:
    """The messages of an older one-object session file."""
    messages = data.get("messages") if isinstance(data, dict) else None
    events: list[Event] = []
    assert isinstance(reader, _Reader)
    for message in messages if isinstance(messages, list) else []:
        events += reader.message(message)
    return events


class _Reader(TranscriptReader):
    """Turns session-file lines into events, remembering what it recorded in the state."""

    def __init__(self, session: Session, state: ts.TranscriptState) -> None:
        super().__init__(session, state)
        # The model this reader last gave the session: every message names it, and taking
        # the same one again changes nothing but costs a redaction.
        self.model_taken: str | None = None

    def line(self, raw: bytes) -> list[Event]:
        obj = json_object(raw)
        if obj is None:
            return []
        rewind = obj.get("$rewindTo")
        if isinstance(rewind, str) and rewind:
            if not self.once(f"rewind:{digest(raw.decode())}"):
                return []
            text = "Gemini CLI rewound the conversation"
            return [self.session.record("note", {"text": text, "rewind_to": rewind})]
        return self.message(obj)

    def message(self, obj: Any) -> list[Event]:
        if isinstance(obj, dict) and obj.get("type") == "info":
            return self._cancelled_request(obj)
        if not isinstance(obj, dict) or obj.get("type") != "gemini":
            return []  # metadata, $set, user, error...
        mid = obj.get("id")
        if not isinstance(mid, str) or not mid:
            mid = "sha256:" + digest(_jsonc.dumps(obj, sort_keys=True, default=str))
        model = obj.get("model")
        if model != self.model_taken and isinstance(model, str) and model:
            self.set_model(model)
            self.model_taken = model
        base: dict[str, Any] = {"message_id": mid}
        model, stamp = self.state.model, obj.get("timestamp")
        if isinstance(model, str) and model:
            base["model"] = model
        if isinstance(stamp, str) and stamp:
            base["transcript_ts"] = stamp
        events: list[Event] = []
        thoughts = obj.get("thoughts")
        for thought in thoughts if isinstance(thoughts, list) else []:
            events += self._thought(thought, mid, base)
        text = _content_text(obj.get("content"))
        if text.strip():
            hexed = digest(text)  # the key of its hook twin too (see hook_response)
            if self.once(f"{mid}#c{hexed[:32]}"):
                events += self.response(text, base, digested=hexed)
        calls = obj.get("toolCalls")
        for index, call in enumerate(calls if isinstance(calls, list) else []):
            events += self._cancelled_call(call, f"{mid}#x{index}", base)
        tokens = obj.get("tokens")
        if isinstance(tokens, dict):
            self.queue_usage(mid, {"text": "token usage", "usage": tokens, **base})
        return events

    def _cancelled_request(self, obj: dict[str, Any]) -> list[Event]:
        """An ``info`` message saying the user cancelled the request, as a note."""
        text = _content_text(obj.get("content")).strip()
        if not _CANCELLED.match(text):
            return []  # other info messages say nothing about the work
        mid = obj.get("id")
        key = f"{mid}#cancel" if isinstance(mid, str) and mid else f"cancel:{digest(text)}"
        if not self.once(key):
            return []
        note: dict[str, Any] = {"text": "the user cancelled the request", "cancelled": True}
        for name, value in (("message_id", mid), ("transcript_ts", obj.get("timestamp"))):
            if isinstance(value, str) and value:
                note[name] = value
        return [self.session.record("note", note)]

    def _cancelled_call(self, call: Any, key: str, base: dict[str, Any]) -> list[Event]:
        """A tool call the user cancelled before it ran, as a note (no hook reports it)."""
        if not isinstance(call, dict) or call.get("status") != "cancelled":
            return []
        name = call.get("name") if isinstance(call.get("name"), str) else "a tool"
        if isinstance(call.get("id"), str) and call["id"]:
            key = f"{key.rsplit('#x', 1)[0]}#x{call['id']}"
        if not self.once(key):
            return []
        note: dict[str, Any] = {"text": f"cancelled tool call: {name}", "cancelled": True}
        note.update({"tool": name, "input": call.get("args"), **base})
        if isinstance(call.get("id"), str):
            note["tool_use_id"] = call["id"]
        return [record_fitting(self.session, "note", note)]

    def _thought(self, thought: Any, mid: str, base: dict[str, Any]) -> list[Event]:
        extra: dict[str, Any] = {}
        if isinstance(thought, str):
            text = thought
        elif isinstance(thought, dict):
            subject, description = thought.get("subject"), thought.get("description")
            subject = subject if isinstance(subject, str) else ""
            description = description if isinstance(description, str) else ""
            text = description or subject
            if subject and description:
                extra["subject"] = subject
        else:
            return []
        if not text.strip() or not self.once(f"{mid}#r{digest(text)[:32]}"):
            return []
        return [record_fitting(self.session, "reasoning", {"text": text, **extra, **base})]


def _content_text(content: Any) -> str:
    """A message's text: a string, or the ``text`` of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) else p for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, session file) of each Gemini session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting.
    """
    return open_transcripts(repo, AGENT)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook gemini``: see :func:`bitloops.capture._runner.run_payload_hook`.

    Prompts, tool calls, compactions and notes of an open session, and the events that
    record nothing (``BeforeTool``, ``BeforeModel``, ``BeforeToolSelection``), take the
    light path (:func:`.base.record_planned`); so do the session-file reads of
    ``AfterAgent`` and ``SessionEnd`` (:func:`.capture._runner.catch_up_light`).
    """
    return run_payload_hook(AGENT, handle, where_to_look, stdin, cwd, err, fast=_fast)


# Events the light path leaves to the full path: a session's start.
_FULL_ONLY = frozenset({"SessionStart"})
# Events that read the session file: the light catch-up, with Gemini CLI's own dispatch.
_CATCH_UPS = frozenset({"AfterAgent", "SessionEnd"})


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path; False when the full path must.

    ``AfterAgent`` and ``SessionEnd`` read the session file here too
    (:func:`.capture._runner.catch_up_light`); what only the full path does (start or
    resume a session, promote one the session strategy ends) is left to it.
    ``AfterModel`` (after every model call) records nothing while it names the model the
    session has; a new model is stored by Gemini CLI's own dispatch, on the light path too.
    """
    name = payload.get("hook_event_name")
    sid = text_field(payload, "session_id")
    if not isinstance(name, str) or not name or name in _FULL_ONLY or sid is None:
        return False
    if name in _CATCH_UPS:
        return catch_up_light(
            AGENT, AGENT, located, payload, lambda repo: _dispatch(repo, name, sid, payload)
        )
    accept = None
    try:
        _check(name, payload)
        if name == "AfterModel":
            request = payload.get("llm_request")
            model = request.get("model") if isinstance(request, Mapping) else None
            planned: Planned = []
            accept = lambda state: not model or state.get("model") == model  # noqa: E731
        else:
            planned = [] if name in _IGNORED else _planned(name, payload, located[0])
    except (InvalidEvent, ValueError):  # ValueError: a path holding a NUL
        return False  # the full path raises it again, and the hook reports it
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    done = record_planned(
        AGENT, AGENT, located, payload, session_id=sid, transcript=transcript,
        planned=planned, accept=accept,
    )  # fmt: skip
    if done or name != "AfterModel":
        return done
    # A new model (or transcript) to store, nothing to record: Gemini CLI's own dispatch.
    return catch_up_light(
        AGENT, AGENT, located, payload, lambda repo: _dispatch(repo, name, sid, payload)
    )


# -- importing ----------------------------------------------------------------------------


def _session_messages(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, list[Any]]:
    """The metadata and the messages of a session file (JSONL, or the older ``.json``)."""
    from bitloops.capture._importing import json_lines

    if os.fspath(path).endswith(".json"):
        data = json_file(path)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            return None, []
        return data, data["messages"]
    meta: dict[str, Any] | None = None
    messages: list[Any] = []
    for obj in json_lines(path):
        if meta is None and "sessionId" in obj and "type" not in obj and "uuid" not in obj:
            meta = obj
        elif isinstance(obj.get("type"), str) and "id" in obj:
            messages.append(obj)
    return meta, messages


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id a Gemini CLI session file names; None for a file of another format.

    The JSONL's metadata line (``sessionId`` with ``projectHash`` or ``startTime``), or
    the older ``.json`` object's ``sessionId``. For :mod:`bitloops.capture._importing`.
    """
    meta, _ = _session_messages(path)
    if meta is None or not ({"projectHash", "startTime", "messages"} & meta.keys()):
        return None
    sid = meta.get("sessionId")
    return sid if isinstance(sid, str) and sid.strip() else None


def transcript_history(
    repo: Recorder, path: str | os.PathLike[str]
) -> list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]]:
    """What the hooks record, read back from a whole session file: prompts and tool calls.

    For :mod:`bitloops.capture._importing` (:func:`catch_up` reads the rest): each ``user``
    message is a prompt; each of a ``gemini`` message's ``toolCalls`` a tool_use
    (``args`` as input, ``result`` as output, ``is_error`` for status ``error``) with
    the file change a hook would record; a call with status ``cancelled`` never ran and
    is left out (:func:`catch_up` notes it). Payloads carry the message's ``timestamp``.
    """
    items: list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]] = []
    for message in _session_messages(path)[1]:
        if not isinstance(message, dict):
            continue
        stamp = message.get("timestamp")
        base = {"transcript_ts": stamp} if isinstance(stamp, str) else {}
        if message.get("type") == "user":
            text = _content_text(message.get("content"))
            if text.strip():
                items.append(("prompt", {"text": text, **base}, []))
            continue
        calls = message.get("toolCalls") if message.get("type") == "gemini" else None
        for call in calls if isinstance(calls, list) else []:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                continue
            if call.get("status") == "cancelled":
                continue  # it never ran: catch_up records the cancellation as a note
            payload: dict[str, Any] = {"name": call["name"], "input": call.get("args")}
            if call.get("result") is not None:
                payload["output"] = call["result"]
            if call.get("status") == "error":
                payload["is_error"] = True
            if isinstance(call.get("id"), str) and call["id"]:
                payload["tool_use_id"] = call["id"]
            change = _file_change(repo, call["name"], call.get("args"), None)
            changes: list[tuple[str, str, str | None]] = []
            if change is not None:
                changes.append((change[0], change[1], None))
            items.append(("tool_use", {**payload, **base}, changes))
    return items


# -- resuming: the session file written back ----------------------------------------------


def _gemini_chats(cwd: str, home: Path) -> Path:
    import hashlib

    project = hashlib.sha256(cwd.encode("utf-8")).hexdigest()
    return home / ".gemini" / "tmp" / project / "chats"


def _gemini_file(sid: str, cwd: str, home: Path, env: Mapping[str, str], start: datetime) -> Path:
    """Where Gemini CLI keeps a session file: its project's ``chats`` folder."""
    from datetime import UTC

    stamp = start.astimezone(UTC)
    return _gemini_chats(cwd, home) / f"session-{stamp:%Y-%m-%dT%H-%M}-{sid[:8]}.jsonl"


def _gemini_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    """The session's file in ``cwd``'s project folder first, then in any project's."""
    import glob

    own = _gemini_chats(cwd, home)
    try:
        others = sorted(p / "chats" for p in (home / ".gemini" / "tmp").iterdir())
    except OSError:
        others = []
    pattern = f"session-*-{glob.escape(sid[:8])}.json*"
    for folder in [own, *(f for f in others if f != own)]:
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
            try:
                if transcript_session_id(path) == sid:
                    return path
            except OSError:
                continue
    return None


def _gemini_cwd_of(path: Path, cwd: str, candidates: list[str]) -> str | None:
    """The candidate directory whose hash names the file's project folder, if one does."""
    from pathlib import Path

    project = path.parent.parent.name
    return next((c for c in candidates if _gemini_chats(c, Path()).parent.name == project), None)


def _gemini_lines(session: SessionInfo, events: list[Event], cwd: str) -> list[dict[str, Any]]:
    """A Gemini CLI session file: a metadata line, then user and gemini messages."""
    import uuid
    from pathlib import Path

    from bitloops.agents import _writing as w

    usage = w.usage(events)
    start, last = w.stamp(events[0].ts), w.stamp(events[-1].ts)
    meta = {"sessionId": session.session_id, "projectHash": _gemini_chats(cwd, Path()).parent.name}
    out: list[dict[str, Any]] = [{**meta, "startTime": start, "lastUpdated": last}]
    current: dict[str, Any] | None = None

    def reply(event: Event, *, fresh: bool) -> dict[str, Any]:
        nonlocal current
        mid = event.payload.get("message_id")
        if current is None or fresh or (mid and mid != current["id"]):
            own = mid if isinstance(mid, str) and mid else str(uuid.uuid4())
            current = {"id": own, "timestamp": w.stamp(event.ts), "type": "gemini", "content": ""}
            current.update(thoughts=[], toolCalls=[], model=event.model or session.model)
            if own in usage:
                current["tokens"] = usage[own].get("usage")
            out.append(current)
        return current

    for event, payload in w.calls(events):
        if event.kind == "prompt":
            current = None
            line = {"id": str(uuid.uuid4()), "timestamp": w.stamp(event.ts), "type": "user"}
            out.append({**line, "content": w.text(event)})
        elif event.kind == "reasoning":
            message = reply(event, fresh=bool(current and current["content"]))
            subject = event.payload.get("subject")
            thought = {
                "subject": subject if isinstance(subject, str) else "",
                "description": w.text(event),
            }
            message["thoughts"].append({**thought, "timestamp": w.stamp(event.ts)})
        elif event.kind == "response":
            message = reply(event, fresh=bool(current and current["content"]))
            message["content"] = w.text(event)
        else:
            message = reply(event, fresh=False)
            call_id = payload.get("tool_use_id")
            call: dict[str, Any] = {"id": call_id if isinstance(call_id, str) else event.event_id}
            call.update(
                name=payload["name"], args=payload.get("input"), result=payload.get("output")
            )
            call["status"] = "error" if payload.get("is_error") is True else "success"
            message["toolCalls"].append(call)
    return out


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``~/.gemini/settings.json``, ``mcpServers``."""
    from pathlib import Path

    return Path.home() / ".gemini" / "settings.json", "json", ("mcpServers",), "plain"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="Gemini CLI",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    config=AgentConfig(
        name=AGENT,
        label="Gemini CLI",
        path=".gemini/settings.json",
        layout="nested",
        # BeforeTool/BeforeModel/BeforeToolSelection record nothing; AfterModel fires
        # for every streamed chunk (the model comes from the session file instead).
        events=(
            "SessionStart",
            "BeforeAgent",
            "AfterTool",
            "AfterAgent",
            "PreCompress",
            "SessionEnd",
        ),
        entry_fields=(("type", "command"), ("name", "bitloops"), ("timeout", 30000)),
        note="older Gemini CLI versions run hooks only with `tools.enableHooks` set "
        "to true in their settings",
    ),
    mcp_file="~/.gemini/settings.json (mcpServers)",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    transcript_history=transcript_history,
    resume_command=("gemini", "--resume"),
    writer=TranscriptWriter(
        path=_gemini_file, existing=_gemini_existing, lines=_gemini_lines, cwd_of=_gemini_cwd_of
    ),
    plan_tools=(("write_todos", "list"),),
)
