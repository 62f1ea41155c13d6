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

import os
import sys

# Mapping from the module Python loads at start-up (collections.abc costs the hooks).
from _collections_abc import Mapping

from bitloops import _jsonc, _rx
from bitloops.agents._record import AgentConfig, Integration, TranscriptWriter
from bitloops.capture._runner import (
    TranscriptReader,
    added_or_modified,
    agent_session,
    catch_up_light,
    digest,
    end_session,
    event_and_session,
    fit_payload,
    is_importing,
    json_object,
    open_repository,
    open_transcripts,
    read_new_lines,
    record_fitting,
    record_planned,
    relative_to_top,
    remember,
    run_payload_hook,
    stop_turn,
    where_to_look,
)
from bitloops.errors import InvalidEvent, InvalidPayload, SessionNotFound

# Not from typing: the hook's fast path does without it (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterator
    from datetime import datetime
    from pathlib import Path
    from typing import IO, Any

    from bitloops.agents._contract import AgentIntegration, McpLocation
    from bitloops.capture import _transcript_state as ts
    from bitloops.capture._direct import Located
    from bitloops.capture._importing import KeySet
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._session import Session
    from bitloops.model import Event, SessionInfo
    from bitloops.redact import Redactor

    # A history item: (event kind, payload, file changes as (path, change, old_path)).
    HistoryItem = tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]

__all__ = ["AGENT", "HOOK_EVENTS", "active_transcripts", "catch_up", "handle", "run_hook"]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "claude-code"

# Fields every payload has; left out when a payload is copied into an event.
_COMMON = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode"})
# How long the Stop and SessionEnd hooks may spend reading the transcript.
_STOP_SECONDS = 2.0
_END_SECONDS = 0.5

#: The hook events Claude Code documents. A name not listed that reads like one
#: (``PascalCase``, as a newer Claude Code may send) is recorded as a note; any other
#: name is rejected as unknown (the hook command quarantines the payload).
HOOK_EVENTS = frozenset(
    {
        "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
        "PostToolUseFailure", "Stop", "SubagentStart", "SubagentStop", "PreCompact",
        "PostCompact", "SessionEnd", "Notification", "PermissionRequest", "CwdChanged",
        "FileChanged", "WorktreeCreate", "WorktreeRemove",
    }
)  # fmt: skip
_EVENT_NAME = _rx.compile(r"[A-Z][A-Za-z]{1,63}")
# Claude Code's session ids are UUIDs; a much longer one is not a session id.
_MAX_SESSION_ID = 256
# Events recorded without reading the transcript or starting a session: their events
# are planned first (see _planned), so the fast path (direct.py) can write them.
_UNPLANNED = frozenset({"SessionStart", "Stop", "SessionEnd", "PreToolUse"})


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
    the session. Any other event of :data:`HOOK_EVENTS`, or ``PascalCase`` name, becomes a
    note carrying its fields.

    Everything is validated before anything is written. Raises
    :class:`~bitloops.InvalidPayload` for a payload without a ``session_id`` (at most 256
    characters) or ``hook_event_name`` string, an unknown event name or a field of the
    wrong type, :class:`~bitloops.PayloadTooLarge` for a prompt, final message or note
    over ``max_payload_bytes``, :class:`~bitloops.NotAGitRepository` when no work tree is
    found, and the library's other errors as recording does.
    """
    name, sid = event_and_session(payload, "a Claude Code hook payload", "session_id")
    if len(sid) > _MAX_SESSION_ID:
        raise InvalidPayload(f"the session_id is over {_MAX_SESSION_ID} characters long")
    if name not in HOOK_EVENTS and not _EVENT_NAME.fullmatch(name):
        raise InvalidPayload(f"unknown Claude Code hook event {name[:100]!r}")
    with open_repository(payload, cwd) as repo:
        return _dispatch(repo, name, sid, payload)


def _dispatch(repo: Recorder, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    _check(name, payload)  # before anything is written
    fitted: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    if name not in _UNPLANNED:
        planned = _planned(name, payload, str(repo.toplevel))
        for kind, data, arts, fit in planned:
            if arts == (None,):  # a Write whose creation only git can tell
                rel = data["path"]
                data["change"], arts = added_or_modified(repo, rel), (rel,)
            ready = tuple(a for a in arts if a is not None)
            fitted.append((kind, _prepared(data, fit, repo.redactor, repo)[0], ready))
    final = payload.get("last_assistant_message")
    if name == "Stop" and isinstance(final, str) and final.strip():
        _prepared({"text": final, "source": "hook"}, False, repo.redactor, repo)  # fits?
    state = remember(repo, AGENT, sid, transcript)
    if name == "PreToolUse":
        return []  # PostToolUse records the call with its output, as one event
    if name == "SessionStart":
        model = payload.get("model")
        model = model if isinstance(model, str) and model else state.model
        repo.start_session(AGENT, model=model, session_id=sid)
        return []
    session = agent_session(repo, AGENT, sid, state, resume=name != "SessionEnd")
    sub: list[Event] = []
    if name == "SubagentStop":  # its own file is complete: read it before its stop
        sub = _catch_up(repo, sid, transcript, _STOP_SECONDS)
    if fitted:
        if not repo.settings.capture:
            return [session.record(kind, data, artefacts=arts) for kind, data, arts in fitted]
        with repo.store.transaction():  # one hook, one transaction: all or nothing
            return sub + [session.record(kind, data, artefacts=arts) for kind, data, arts in fitted]
    if name == "Stop":
        events = _catch_up(repo, sid, transcript, _STOP_SECONDS)
        return stop_turn(repo, AGENT, sid, events, payload.get("last_assistant_message"))
    # SessionEnd
    read = lambda: _catch_up(repo, sid, transcript, _END_SECONDS)  # noqa: E731
    return end_session(repo, AGENT, session, read, payload.get("reason"))


def _planned(
    name: str, payload: Mapping[str, Any], top: str
) -> list[tuple[str, dict[str, Any], tuple[str | None, ...], bool]]:
    """The events a hook records, unwritten: ``(kind, payload, artefacts, fit)``.

    ``fit`` says the payload is cut to an excerpt when too large (:func:`record_fitting`).
    A file_change whose artefacts are ``(None,)`` is a ``Write`` only git can say was
    an addition (its ``change`` is to be filled in).
    """
    extra = {k: v for k, v in payload.items() if k not in _COMMON and isinstance(k, str)}
    if name == "UserPromptSubmit":
        return [("prompt", {"text": payload["prompt"]}, (), False)]
    if name == "PostToolUse":
        data = _tool_payload(payload)
        output = payload.get("tool_response")
        if output is not None:
            data["output"] = output
        duration = payload.get("duration_ms")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            data["duration_ms"] = duration
        planned: list[tuple[str, dict[str, Any], tuple[str | None, ...], bool]] = [
            ("tool_use", data, (), True)
        ]
        change = _file_change_at(top, data["name"], data["input"], output, payload.get("cwd"))
        if change is not None:
            rel, kind = change
            arts = (rel,) if kind is not None else (None,)
            planned.append(("file_change", {"path": rel, "change": kind}, arts, False))
        return planned
    if name == "PostToolUseFailure":
        data = _tool_payload(payload)
        error = payload.get("error")
        if "tool_use_id" in data:  # the call, then its error: as a transcript shows it
            result = {"tool_use_id": data["tool_use_id"], "output": error, "is_error": True}
            if "agent_id" in data:
                result["agent_id"] = data["agent_id"]
            return [("tool_use", data, (), True), ("tool_result", result, (), True)]
        message = error if isinstance(error, str) else _jsonc.dumps(error, default=str)
        return [("error", {"message": message, **data}, (), True)]
    if name in ("SubagentStart", "SubagentStop"):
        event_name = "start" if name == "SubagentStart" else "stop"
        return [("subagent", {"event": event_name, **extra}, (), False)]
    if name in ("PreCompact", "PostCompact"):
        phase = "pre" if name == "PreCompact" else "post"
        return [("compaction", {"phase": phase, **extra}, (), False)]
    note = {"text": f"Claude Code hook {name}", "hook_event_name": name, **extra}
    return [("note", note, (), False)]


def _prepared(
    data: dict[str, Any], fit: bool, redactor: Redactor, repo: Recorder | int
) -> tuple[dict[str, Any], str]:
    """The payload to record and its stored JSON; raises what recording would raise."""
    from bitloops._codec import prepare_payload

    limit = repo if isinstance(repo, int) else repo.settings.max_payload_bytes
    if fit:
        return fit_payload(data, redactor, limit)
    return data, prepare_payload(data, redactor, limit)


def _check(name: str, payload: Mapping[str, Any]) -> None:
    if name == "UserPromptSubmit" and not isinstance(payload.get("prompt"), str):
        raise InvalidPayload("a UserPromptSubmit payload needs a prompt string")
    if name in ("PostToolUse", "PostToolUseFailure"):
        _tool_payload(payload)


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


def _file_change(
    repo: Recorder,
    tool: str,
    tool_input: Any,
    output: Any,
    cwd: Any,
    relative: Callable[[str, str, Any], str | None] = relative_to_top,
) -> tuple[str, str] | None:
    """The (repo-relative path, change) a file-writing tool made inside the work tree;
    ``relative``: :func:`relative_to_top` or a memo of it."""
    change = _file_change_at(str(repo.toplevel), tool, tool_input, output, cwd, relative)
    if change is None:
        return None
    rel, kind = change
    return rel, kind if kind is not None else added_or_modified(repo, rel)


def _file_change_at(
    top: str,
    tool: str,
    tool_input: Any,
    output: Any,
    cwd: Any,
    relative: Callable[[str, str, Any], str | None] = relative_to_top,
) -> tuple[str, str | None] | None:
    """:func:`_file_change` without git: the change is None when only git can tell."""
    if tool not in ("Write", "Edit", "MultiEdit", "NotebookEdit") or not isinstance(
        tool_input, Mapping
    ):
        return None
    raw = tool_input.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    if not isinstance(raw, str) or not raw:
        return None
    rel = relative(top, raw, cwd)
    if rel is None:
        return None
    if tool != "Write":
        return rel, "modified"
    kind = output.get("type") if isinstance(output, Mapping) else None
    if kind == "create":
        return rel, "added"
    if kind == "update":
        return rel, "modified"
    return rel, None


# -- the transcript -----------------------------------------------------------------------


def catch_up(
    repo: Recorder,
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
    counted = [0]  # counted, not kept: an import reads whole files
    _catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines, counted)
    return counted[0]


def _catch_up(
    repo: Recorder,
    sid: str,
    transcript: str | None,
    max_seconds: float,
    max_lines: int = 20000,
    counted: list[int] | None = None,
    take: Callable[[HistoryItem, Session], None] | None = None,
) -> list[Event]:
    """Read the session's file, then each of its subagents' files (each with its own
    reading state, its events in the parent's session); ``take``: see :func:`import_pass`."""
    import time

    if transcript is None:
        return []
    deadline = time.monotonic() + max_seconds
    sub = _subagent_id(transcript)
    # A subagent's own file is named by itself (an import of it).
    files: list[tuple[str | None, str]] = [(sub, transcript)]
    if sub is None:
        files += subagent_files(transcript)
    own = transcript_session_id(transcript) if take is not None else None
    events: list[Event] = []
    for agent_id, path in files:
        left = deadline - time.monotonic()
        if left <= 0 and path != transcript:
            break  # the subagents' files wait for the next call
        scan = None if take is None else _Scan(_HistoryScan(repo, path, agent_id, own), take)
        events += read_new_lines(
            repo, AGENT, sid, path, _reader(repo, agent_id, scan),
            max_seconds=max(left, 0.0), max_lines=max_lines, resume=False,
            state_key=None if agent_id is None else _sub_key(sid, agent_id), counted=counted,
        )  # fmt: skip
        if scan is not None:
            scan.end()
    return events


def _reader(
    repo: Recorder, agent_id: str | None, scan: _Scan | None = None
) -> Callable[[Session, ts.TranscriptState], _Reader]:
    """A line reader's maker for :func:`read_new_lines` (``agent_id``: a subagent's file)."""
    return lambda session, state: _Reader(session, state, repo=repo, agent_id=agent_id, scan=scan)


def import_pass(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    take: Callable[[HistoryItem, Session], None],
) -> int | None:
    """:func:`catch_up` and :func:`transcript_history` in one read of each file, for an
    import of a transcript nothing has read yet: the events :func:`catch_up` recorded.

    Each history item goes to ``take`` (with the session being read) as its line is read,
    so the session's events follow the file's order. Returns None, having read nothing,
    when a reading state has moved on already (hooks read part of the file): then the
    two run apart, as only the history sees the lines read before. A line the reader
    passes over (over :data:`bitloops.capture._safe_read.MAX_LINE_BYTES`) brings no history item
    either: the two-pass history would have recorded it cut to excerpts.
    """
    from bitloops.capture import _transcript_state as ts

    path = os.fspath(transcript_path)
    common = repo.paths.common_dir
    if any(ts.load(common, key).offset for key in state_keys(session_id, path)):
        return None
    counted = [0]
    _catch_up(repo, session_id, path, 3600.0, sys.maxsize, counted, take)
    return counted[0]


class _Scan:
    """A history scan fed by a line reader, its items handed on as they come."""

    def __init__(self, scan: _HistoryScan, take: Callable[[HistoryItem, Session], None]):
        self.scan = scan
        self.take = take
        self.session: Session | None = None

    def line(self, obj: dict[str, Any], session: Session) -> None:
        self.session = session
        items = self.scan.line(obj)
        if items:  # most lines (the replies, the thinking) bring none
            take = self.take
            for item in items:
                take(item, session)

    def end(self) -> None:
        for item in self.scan.end():
            if self.session is not None:
                self.take(item, self.session)


def _sub_key(sid: str, agent_id: str) -> str:
    """The name of a subagent file's reading state (its events go to session ``sid``)."""
    return f"{sid}\x1fsubagent:{agent_id}"


def state_keys(sid: str, path: str | os.PathLike[str]) -> list[str]:
    """The reading states :func:`catch_up` of ``path`` may move on, for an import's undo."""
    own = _subagent_id(path)
    if own is not None:
        return [_sub_key(sid, own)]
    return [sid, *(_sub_key(sid, agent_id) for agent_id, _ in subagent_files(path))]


def subagent_files(transcript: str | os.PathLike[str] | None) -> list[tuple[str, str]]:
    """(agent id, path) of each subagent transcript of a session's transcript, sorted.

    Claude Code keeps them beside it: ``<dir>/<session id>/subagents/agent-<id>.jsonl``.
    """
    if transcript is None:
        return []
    folder = os.path.join(os.path.splitext(os.fspath(transcript))[0], "subagents")
    try:
        names = sorted(os.listdir(folder))
    except (OSError, ValueError):
        return []
    return [
        (name[len("agent-") : -len(".jsonl")], os.path.join(folder, name))
        for name in names
        if name.startswith("agent-") and name.endswith(".jsonl") and len(name) > 12
    ]


def _subagent_type(path: str) -> str | None:
    """The ``agentType`` of a subagent's ``agent-<id>.meta.json`` sidecar, when there is one."""
    from bitloops.capture._safe_read import open_regular

    try:
        with open_regular(path[: -len(".jsonl")] + ".meta.json") as fh:  # never a FIFO
            meta = _jsonc.loads(fh.read(1 << 20))
    except (OSError, ValueError):
        return None
    kind = meta.get("agentType") if isinstance(meta, dict) else None
    return kind if isinstance(kind, str) and kind else None


# What Claude Code writes as a user line that nobody typed, by how its text starts:
# the marker each becomes (a note with that ``marker``, never a prompt).
_MARKERS = (
    ("[Request interrupted by user", "interrupt"),
    ("<command-name>", "command"),
    ("<command-message>", "command"),
    ("<command-args>", "command"),
    ("<local-command-stdout>", "command_output"),
    ("<local-command-stderr>", "command_output"),
    ("<local-command-caveat>", "meta"),
    ("<system-reminder>", "system_reminder"),
    ("<user-prompt-submit-hook>", "hook_context"),
    ("<session-start-hook>", "hook_context"),
    ("Caveat: The messages below were generated by the user while running local commands", "meta"),
)


def marker(text: str) -> str | None:
    """The marker a user line's text is (``interrupt``, ``command``, ...); None for a prompt."""
    head = text.lstrip()
    for prefix, kind in _MARKERS:
        if head.startswith(prefix):
            return kind
    return None


def _user_texts(obj: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """A user line's prompt texts and its (marker, text) pairs; tool results are neither."""
    message = obj.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    texts: list[Any] = [content] if isinstance(content, str) else []
    if isinstance(content, list):
        texts += [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    prompts: list[str] = []
    marks: list[tuple[str, str]] = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        kind = "meta" if obj.get("isMeta") is True else marker(text)
        if kind is None:
            prompts.append(text)
        else:
            marks.append((kind, text))
    return prompts, marks


def _attachment_text(obj: Mapping[str, Any]) -> str | None:
    """The context a hook added (an ``attachment`` line of ``hook_additional_context``)."""
    att = obj.get("attachment")
    if not isinstance(att, Mapping) or att.get("type") != "hook_additional_context":
        return None
    content = att.get("content")
    parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
    text = "\n".join(p for p in parts if isinstance(p, str) and p.strip())
    return text or None


class _Reader(TranscriptReader):
    """Turns transcript lines into events, remembering what it recorded in the state.

    ``agent_id``: the reader of a subagent's own file (its payloads carry the id).
    Lines of another session (a resumed session's file starts with the earlier one's)
    go to that session, unless it holds them already.
    """

    def __init__(
        self,
        session: Session,
        state: ts.TranscriptState,
        *,
        repo: Recorder,
        agent_id: str | None = None,
        scan: _Scan | None = None,
    ) -> None:
        super().__init__(session, state)
        self.repo = repo
        self.agent_id = agent_id
        self.scan = scan  # a single-pass import's history, fed every line
        self.model_set: str | None = None  # the model this reader last gave the session
        # Lines of another (earlier) session: the uuids it holds, the sessions opened for
        # them (reopened ones are ended again at the flush).
        self.held: dict[str, KeySet] = {}
        self.others: dict[str, Session] = {}
        self.open_others: dict[str, Session] = {}
        # The keys marked since the last flush, for the state (None: straight into it).
        self.tail: deque[str] | None = None
        if is_importing():
            # A whole file is read: its keys in bounded memory (exact all the same).
            from collections import deque

            from bitloops.capture import _transcript_state as ts
            from bitloops.capture._importing import KeySet

            self.seen = KeySet(self.seen)  # type: ignore[assignment]  # in and add only
            self.usage_done = KeySet(self.usage_done)  # type: ignore[assignment]
            # The state is saved after every batch of lines, with all the keys it holds;
            # an import's saves before its end are undone if it fails, and overwritten if
            # not: its keys go into the state at the flush, the newest that a state keeps.
            self.tail = deque(maxlen=ts._MAX_SEEN)

    def mark(self, *keys: str) -> None:
        """Remember ``keys`` as recorded (an import's go into the state at the flush)."""
        tail = self.tail
        if tail is None:
            super().mark(*keys)
            return
        seen = self.seen
        for key in keys:
            if key not in seen:
                seen.add(key)
                tail.append(key)

    def line(self, raw: bytes) -> list[Event]:
        # Called for every line of a file (an import's hot path): lookups kept local.
        obj = json_object(raw)
        if obj is None:
            return []
        session = self.session
        if self.scan is not None:
            self.scan.line(obj, session)
        kind = obj.get("type")
        if kind != "assistant" and kind != "user" and kind != "attachment":
            if kind == "system" and obj.get("subtype") == "away_summary":
                return away_summary(self, obj)
            return []
        agent_id = self.agent_id
        if agent_id is None and obj.get("isSidechain") is True:
            return []  # an older Claude Code's subagent lines, inline: not this session's
        uuid = obj.get("uuid")
        key = uuid if isinstance(uuid, str) and uuid else "sha256:" + digest(raw.decode())
        if key in self.seen:
            return []
        line_sid = obj.get("sessionId")
        if agent_id is None and line_sid != session.session_id and isinstance(line_sid, str):
            held = self._held(line_sid)
            if held is None or key in held:
                self.mark(key)
                return []
            session = self._open(line_sid)
            held.add(key)
        base: dict[str, Any] = {"transcript_uuid": key}
        if agent_id is not None:
            base["agent_id"] = agent_id
        if kind == "assistant":
            events = self._assistant(session, obj, base)
        else:
            events = self._user(session, obj, base)
        self.mark(key)  # last: a line that failed half-way is read again
        return events

    def _assistant(
        self, session: Session, obj: dict[str, Any], base: dict[str, Any]
    ) -> list[Event]:
        message = obj.get("message")
        if not isinstance(message, dict):
            return []
        own = session is self.session
        model = message.get("model")
        if isinstance(model, str) and not model.startswith("<"):  # not "<synthetic>"
            if not own:
                session.set_model(model)
            elif model != self.model_set:  # most lines repeat it: redacted once
                self.set_model(model)
                self.model_set = model
        mid = message.get("id")
        if isinstance(mid, str) and mid:
            base["message_id"] = mid
        else:
            mid = None
        model = self.state.model if own else session.model
        if isinstance(model, str) and model:
            base["model"] = model
        stamp = obj.get("timestamp")
        if isinstance(stamp, str) and stamp:
            base["transcript_ts"] = stamp
        events: list[Event] = []
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks if isinstance(blocks, list) else ():
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "thinking":
                text = block.get("thinking")
                if isinstance(text, str) and text.strip():
                    events.append(record_fitting(session, "reasoning", {"text": text, **base}))
            elif kind == "text":
                text = block.get("text")
                if not isinstance(text, str) or not text.strip():
                    continue
                if own:
                    events += self.response(text, base)
                else:
                    events.append(record_fitting(session, "response", {"text": text, **base}))
        usage = message.get("usage")
        if mid is not None and isinstance(usage, dict):
            note = {"text": "token usage", "usage": usage, **base}
            if own:
                if self.usage and mid not in self.usage:
                    # The message before is complete (its lines are consecutive): its
                    # usage now, so a whole file's notes are not all held until the end.
                    events += TranscriptReader.flush(self)
                self.queue_usage(mid, note)
            elif mid not in self.usage_done:
                events.append(session.record("note", note))
        return events

    def _user(self, session: Session, obj: dict[str, Any], base: dict[str, Any]) -> list[Event]:
        """The markers of a user or attachment line (prompts come from the hooks)."""
        if isinstance(obj.get("timestamp"), str):
            base["transcript_ts"] = obj["timestamp"]
        if obj.get("type") == "attachment":
            text = _attachment_text(obj)
            marks = [] if text is None else [("hook_context", text)]
        else:
            prompts, marks = _user_texts(obj)
            # A subagent's task is its file's first line (no parent); its parent agent's
            # words, not the user's: a note, never a prompt.
            if self.agent_id is not None and obj.get("parentUuid") is None and prompts:
                marks = [("subagent_prompt", "\n\n".join(prompts)), *marks]
        return [
            record_fitting(session, "note", {"text": text, "marker": kind, **base})
            for kind, text in marks
        ]

    def _held(self, sid: str) -> KeySet | None:
        """The line uuids the earlier session ``sid`` holds (None: not a session id)."""
        if sid not in self.held:
            if len(sid) > _MAX_SESSION_ID or not sid.strip():
                return None
            self.held[sid] = _held_uuids(self.repo, sid)
        return self.held[sid]

    def _open(self, sid: str) -> Session:
        """The earlier session ``sid``, to record a line it lacks; ended again at flush."""
        if sid not in self.others:
            try:
                session = self.repo.session(sid)
            except SessionNotFound:
                session = None
            if session is None or session.ended:
                session = self.repo.start_session(AGENT, model=self.state.model, session_id=sid)
                self.others[sid] = session
            else:
                self.open_others[sid] = session
        return self.others.get(sid) or self.open_others[sid]

    def flush(self) -> list[Event]:
        """Record the queued usage notes; end the earlier sessions reopened for a line."""
        events = super().flush()
        if self.tail:
            self.state.seen += self.tail
            self.tail.clear()
        for session in () if is_importing() else self.others.values():
            end = session.end(f"resumed as {self.session.session_id}")
            if end is not None:
                events.append(end)
        self.others.clear()
        self.open_others.clear()
        return events


# The hint Claude Code appends to its recaps; not part of what happened.
_RECAP_HINT = _rx.compile(r"\s*\(disable recaps in /config\)\s*$")


def away_summary(reader: TranscriptReader, obj: Mapping[str, Any]) -> list[Event]:
    """A ``system`` line with subtype ``away_summary`` (the recap Claude Code writes
    when the user comes back to an idle session) as a note holding the recap text.

    Kept apart from the line reader: it is issue 11's item 9, owned separately.
    """
    text = obj.get("content")
    text = _RECAP_HINT.sub("", text).strip() if isinstance(text, str) else ""
    uuid = obj.get("uuid")
    key = uuid if isinstance(uuid, str) and uuid else "recap:" + digest(text)
    if not text or not reader.once(key):
        return []
    note: dict[str, Any] = {"text": text, "recap": "away_summary", "transcript_uuid": key}
    if isinstance(obj.get("timestamp"), str) and obj["timestamp"]:
        note["transcript_ts"] = obj["timestamp"]
    return [record_fitting(reader.session, "note", note)]


def _held_uuids(repo: Recorder, sid: str) -> KeySet:
    """The transcript line uuids session ``sid`` has recorded (draft, checkpoints, state),
    in bounded memory: an earlier session may hold any number of them."""
    from bitloops.capture import _transcript_state as ts
    from bitloops.capture._importing import KeySet
    from bitloops.store._imports import session_uuids

    held = KeySet(ts.load(repo.paths.common_dir, sid).seen)
    with repo.store.reading() as conn:
        for uuid in session_uuids(conn, sid):
            held.add(uuid)
    return held


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, transcript path) of each Claude Code session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting, so the checkpoint
    holds the reasoning the transcript had so far.
    """
    return open_transcripts(repo, AGENT, untagged=True)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook claude-code``: see :func:`bitloops.capture._runner.run_payload_hook`.

    The events of an open session that need no transcript read (prompts, tool calls,
    subagents, compactions, notes) take the fast path of :mod:`.direct`.
    """
    return run_payload_hook(AGENT, handle, where_to_look, stdin, cwd, err, fast=_fast)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path (:func:`.base.record_planned`); False when
    the full path must."""
    name = payload.get("hook_event_name")
    sid = payload.get("session_id")
    if not isinstance(name, str) or name == "SessionStart":
        return False
    if name not in HOOK_EVENTS and not _EVENT_NAME.fullmatch(name):
        return False
    if not isinstance(sid, str) or not sid.strip() or len(sid) > _MAX_SESSION_ID:
        return False
    if name in ("Stop", "SubagentStop", "SessionEnd"):  # they read the transcript
        return catch_up_light(
            AGENT, AGENT, located, payload, lambda repo: _dispatch(repo, name, sid, payload)
        )
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    try:
        _check(name, payload)
    except InvalidEvent:
        return False  # the full path raises it again, and the hook quarantines it
    planned = [] if name == "PreToolUse" else _planned(name, payload, located[0])
    return record_planned(
        AGENT, AGENT, located, payload, session_id=sid, transcript=transcript, planned=planned
    )


# -- importing ----------------------------------------------------------------------------

# How many lines to look through for a session id: the first are often summaries or
# file-history snapshots, which name none.
_ID_SCAN_LINES = 500


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id a Claude Code transcript is of; None for a file of another format.

    Conversation records (``user``/``assistant``/``system`` with a ``uuid``) carry it as
    ``sessionId``. A resumed session's file starts with the earlier session's records, so
    the file's own session is the one its last records name. A subagent's file
    (``<session>/subagents/agent-<id>.jsonl``) names its parent's session, where its
    events go. For :mod:`bitloops.capture._importing`.
    """
    from bitloops.capture._importing import json_lines

    first = None
    for obj in json_lines(path, _ID_SCAN_LINES):
        first = _conversation_sid(obj)
        if first is not None:
            break
    if first is None:
        return None
    return _last_session_id(path) or first


def first_models(path: str | os.PathLike[str]) -> dict[str, str]:
    """The first model each session's assistant lines name, in the first lines of ``path``.

    For :func:`import_pass`: a session's first prompt comes before the reply that names
    the model, and a resumed session's file holds the earlier session's lines first.
    """
    from bitloops.capture._importing import json_lines

    models: dict[str, str] = {}
    for obj in json_lines(path, _ID_SCAN_LINES, wanted=lambda raw: b'"assistant"' in raw):
        message = obj.get("message")
        model = message.get("model") if isinstance(message, dict) else None
        sid = _conversation_sid(obj)
        if isinstance(model, str) and model and not model.startswith("<") and sid:
            models.setdefault(sid, model)
    return models


def _conversation_sid(obj: Mapping[str, Any]) -> str | None:
    sid = obj.get("sessionId")
    if (
        obj.get("type") in ("user", "assistant", "system")
        and isinstance(obj.get("uuid"), str)
        and isinstance(sid, str)
        and sid.strip()
    ):
        return sid
    return None


# How much of a transcript's end is read to find the session its last records name.
_TAIL_BYTES = 1 << 20


def _last_session_id(path: str | os.PathLike[str]) -> str | None:
    """The ``sessionId`` of the last conversation record in the file's last megabyte."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read()
    except OSError:
        return None
    for raw in reversed(tail.split(b"\n")):
        obj = json_object(raw)
        sid = None if obj is None else _conversation_sid(obj)
        if sid is not None:
            return sid
    return None


def _subagent_id(path: str | os.PathLike[str]) -> str | None:
    """The agent id of a subagent's own transcript path, else None."""
    path = os.fspath(path)
    name = os.path.basename(path)
    folder = os.path.basename(os.path.dirname(path))
    if folder == "subagents" and name.startswith("agent-") and name.endswith(".jsonl"):
        return name[len("agent-") : -len(".jsonl")] or None
    return None


#: The payload key naming another session a history item belongs to (a resumed
#: session's earlier records); :mod:`bitloops.capture._importing` takes it out before recording.
SESSION_KEY = "_session"


def transcript_history(repo: Recorder, path: str | os.PathLike[str]) -> Iterator[HistoryItem]:
    """What the hooks record, read back from a whole transcript: prompts and tool calls.

    For :mod:`bitloops.capture._importing` (:func:`catch_up` reads the rest), as it reads the file
    (memory stays flat however long the file). A user line's text (not a meta line, not a
    marker such as an interruption, not tool results) is a prompt; each ``tool_use``
    block, once its ``tool_result`` arrives, a tool_use with that output (the structured
    ``toolUseResult`` when there is one) and the file change a hook would record; a
    failed or rejected call (``is_error``) is the call, then a tool_result with the
    error, and changes no file; a call without a result comes last, without output.
    Paths recorded in another place (another clone, a teammate's machine) are mapped
    through the line's ``cwd``; one that cannot be is an ``unmapped`` item. Payloads
    carry the line's ``timestamp`` as ``transcript_ts``. The session's subagents' files
    are read too (their items carry ``agent_id``, between a subagent start and stop); a
    resumed session's earlier records carry :data:`SESSION_KEY`.
    """
    own = transcript_session_id(path)
    agent_id = _subagent_id(path)
    if agent_id is not None:
        yield from _history(repo, os.fspath(path), agent_id, own)
        return
    yield from _history(repo, os.fspath(path), None, own)
    for sub_id, sub_path in subagent_files(path):
        yield from _history(repo, sub_path, sub_id, own)


def _history(
    repo: Recorder, path: str, agent_id: str | None, own: str | None
) -> Iterator[HistoryItem]:
    from bitloops.capture._importing import json_lines

    scan = _HistoryScan(repo, path, agent_id, own)
    # The session's own file: only user lines and tool calls hold history items, so the
    # assistant's text and thinking (most of a long file's bytes) are not parsed again.
    wanted = _history_line if agent_id is None else None
    for obj in json_lines(path, wanted=wanted):
        yield from scan.line(obj)
    yield from scan.end()


def _has_call(content: Any) -> bool:
    """Whether an assistant message's content holds a ``tool_use`` block."""
    if not isinstance(content, list):
        return False
    return any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)


class _HistoryScan:
    """The history items of one transcript file (see :func:`transcript_history`), line by
    line: fed by :func:`_history`, or by the line reader of a single-pass import."""

    def __init__(self, repo: Recorder, path: str, agent_id: str | None, own: str | None):
        self.repo = repo
        self.top = str(repo.toplevel)
        self.agent_id = agent_id
        self.own = own
        # tool_use_id -> (payload, cwd): the calls still waiting for their result
        self.calls: dict[str, tuple[dict[str, Any], Any]] = {}
        # A subagent's calls carry its id and type, as its hooks' payloads do.
        kind = None if agent_id is None else _subagent_type(path)
        self.tag: dict[str, Any] = {} if agent_id is None else {"agent_id": agent_id}
        if kind is not None:
            self.tag["agent_type"] = kind
        self.started = False
        self.last_ts: Any = None
        self.relative = _PathMemo()

    def line(self, obj: dict[str, Any]) -> list[HistoryItem]:
        """The items one parsed line brings (most lines bring none)."""
        agent_id, tag = self.agent_id, self.tag
        message = obj.get("message")
        if (obj.get("isSidechain") is True) != (agent_id is not None) or not isinstance(
            message, dict
        ):
            return []
        kind = obj.get("type")
        content = message.get("content")
        if agent_id is None and (
            (kind != "user" and kind != "assistant")
            or (kind == "assistant" and not _has_call(content))
        ):
            return []  # the session's own replies and thinking: nothing to record here
        items: list[HistoryItem] = []
        base = dict(tag)
        if isinstance(obj.get("timestamp"), str):
            base["transcript_ts"] = self.last_ts = obj["timestamp"]
        if agent_id is not None and not self.started:
            self.started = True
            items.append(("subagent", {"event": "start", **tag, "transcript_ts": self.last_ts}, []))
        line_sid = obj.get("sessionId")
        if agent_id is None and isinstance(line_sid, str) and self.own and line_sid != self.own:
            base[SESSION_KEY] = line_sid
        blocks = content if isinstance(content, list) else []
        blocks = [b for b in blocks if isinstance(b, dict)]
        if kind == "user":
            prompts = _user_texts(obj)[0]
            if prompts and agent_id is None:  # a subagent's only "user" is its parent
                items.append(("prompt", {"text": "\n\n".join(prompts), **base}, []))
            for block in blocks:
                call = self.calls.pop(str(block.get("tool_use_id")), None)
                if block.get("type") != "tool_result" or call is None:
                    continue
                payload, cwd = call
                if block.get("is_error") is True:
                    items.append(("tool_use", payload, []))
                    error = {"tool_use_id": payload["tool_use_id"], "output": block.get("content")}
                    items.append(("tool_result", {**error, "is_error": True, **base}, []))
                    continue
                result = obj.get("toolUseResult")
                payload["output"] = result if result is not None else block.get("content")
                changes, unmapped = _mapped_change(self.repo, self.top, payload, cwd, self.relative)
                items.append(("tool_use", payload, changes))
                if unmapped is not None:
                    items.append(("unmapped", {"path": unmapped}, []))
        elif kind == "assistant":
            for block in blocks:
                call_id = block.get("id")
                if block.get("type") != "tool_use" or not isinstance(block.get("name"), str):
                    continue
                data: dict[str, Any] = {"name": block["name"], "input": block.get("input"), **tag}
                data.update(base)
                if isinstance(call_id, str) and call_id:
                    data["tool_use_id"] = call_id
                    self.calls[call_id] = (data, obj.get("cwd"))
                else:
                    items.append(("tool_use", data, []))
        return items

    def end(self) -> Iterator[HistoryItem]:
        """The items the end of the file brings: calls without a result, a subagent's stop."""
        for payload, _ in self.calls.values():  # no result: the session stopped during the call
            yield ("tool_use", payload, [])
        self.calls.clear()
        if self.started:
            yield ("subagent", {"event": "stop", **self.tag, "transcript_ts": self.last_ts}, [])
            self.started = False


class _PathMemo:
    """:func:`relative_to_top` remembered for one file's read: a session writes the same
    few files again and again, and each answer costs a ``realpath`` (an ``lstat`` per
    directory of the path). Bounded: forgotten all at once when full."""

    _SIZE = 4096

    def __init__(self) -> None:
        self.known: dict[tuple[str, str, Any], str | None] = {}

    def __call__(self, top: str, raw: str, cwd: Any) -> str | None:
        key = (top, raw, cwd if isinstance(cwd, str) else None)
        try:
            return self.known[key]
        except KeyError:
            pass
        if len(self.known) >= self._SIZE:
            self.known.clear()
        found = self.known[key] = relative_to_top(top, raw, cwd)
        return found


def _history_line(raw: bytes) -> bool:
    # Claude Code writes compact JSON: a user line has "user" as a value, a call the
    # block type "tool_use"; a line that holds neither word has no history item.
    return b'"user"' in raw or b'"tool_use"' in raw


def _mapped_change(
    repo: Recorder,
    top: str,
    payload: dict[str, Any],
    cwd: Any,
    relative: Callable[[str, str, Any], str | None] = relative_to_top,
) -> tuple[list[tuple[str, str, str | None]], str | None]:
    """The file change of a successful call, its path mapped through the line's ``cwd``;
    and the written path that could not be mapped (None when none).

    A path outside the work tree under the session's own working directory (recorded
    elsewhere) is taken as the same path under this work tree.
    """
    name, tool_input, output = payload["name"], payload["input"], payload.get("output")
    change = _file_change(repo, name, tool_input, output, cwd, relative)
    if change is not None:
        return [(change[0], change[1], None)], None
    raw = _written_path(name, tool_input)
    if raw is None:
        return [], None
    local = _local_path(top, raw, cwd)
    if local is not None:
        moved = dict(tool_input)
        moved["notebook_path" if name == "NotebookEdit" else "file_path"] = local
        change = _file_change(repo, name, moved, output, None, relative)
        if change is not None:
            return [(change[0], change[1], None)], None
    return [], raw


def _written_path(tool: str, tool_input: Any) -> str | None:
    if tool not in ("Write", "Edit", "MultiEdit", "NotebookEdit") or not isinstance(
        tool_input, Mapping
    ):
        return None
    raw = tool_input.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    return raw if isinstance(raw, str) and raw else None


def _local_path(top: str, raw: str, cwd: Any) -> str | None:
    """``raw``, recorded with working directory ``cwd`` elsewhere, as a path here.

    The recorded directory is this work tree, or its subdirectory of the same name (the
    longest tail of ``cwd`` that exists here): a session started in ``pkg/`` of the
    other checkout maps to ``pkg/`` of this one.
    """
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        return None
    path = raw if os.path.isabs(raw) else os.path.join(cwd, raw)
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(cwd))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    parts = [p for p in os.path.normpath(cwd).split(os.sep) if p]
    here = top
    for size in range(min(len(parts) - 1, 4), 0, -1):
        candidate = os.path.join(top, *parts[-size:])
        if os.path.isdir(candidate):
            here = candidate
            break
    return os.path.join(here, rel)


# -- resuming: the transcript written back ------------------------------------------------


def _slug(path: str) -> str:
    """Claude Code's project folder name for a directory: non-alphanumerics as ``-``."""
    return _rx.compile(r"[^A-Za-z0-9]").sub("-", path)


# Enough for any real tree: the walk only enters directories whose name could lead there.
_UNSLUG_LIMIT = 10000


def _unslug(slug: str, roots: list[str]) -> str | None:
    """The directory, one of ``roots`` or below one, whose Claude Code folder is ``slug``.

    The name loses the separators, so the tree is walked, entering only the directories
    whose own folder name starts the one looked for. Directories that share a name share
    Claude Code's folder too: the first in name order is as good as any.
    """
    seen = 0
    for root in roots:
        stack = [root]
        while stack and seen < _UNSLUG_LIMIT:
            here = stack.pop()
            seen += 1
            mine = _slug(here)
            if mine == slug:
                return here
            if not slug.startswith(mine + "-"):
                continue
            try:
                names = sorted(
                    (e.name for e in os.scandir(here) if e.is_dir(follow_symlinks=False)),
                    reverse=True,
                )
            except OSError:
                continue
            stack += [os.path.join(here, n) for n in names if n != ".git"]
    return None


def _claude_config(home: Path, env: Mapping[str, str]) -> Path:
    from pathlib import Path

    return Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home / ".claude"


def _claude_file(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], start: datetime | None = None
) -> Path:
    """Where Claude Code keeps a session's transcript: its project folder, by directory."""
    return _claude_config(home, env) / "projects" / _slug(cwd) / f"{sid}.jsonl"


def _start_dir(transcript: str, roots: list[str]) -> str | None:
    """The directory whose name the transcript's project folder is, one of ``roots`` or below."""
    from pathlib import Path

    folder = Path(transcript).parent
    if folder.parent.name != "projects":
        return None
    return _unslug(folder.name, roots)


def _claude_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    """The session's file in ``cwd``'s folder, where the hooks saw it, or in any project."""
    from pathlib import Path

    name = f"{sid}.jsonl"
    if "/" in sid or "\\" in sid or sid in (".", ".."):
        return None  # not a file name: Claude Code's ids are UUIDs
    candidates = [_claude_file(sid, cwd, home, env)]
    if known[0] and Path(known[0]).name == name:
        candidates.append(Path(known[0]))
    projects = _claude_config(home, env) / "projects"
    try:
        folders = sorted(p for p in projects.iterdir() if p.is_dir())
    except OSError:
        folders = []
    candidates += [folder / name for folder in folders]
    return next((p for p in candidates if p.is_file()), None)


def _claude_cwd_of(path: Path, cwd: str, candidates: list[str]) -> str | None:
    """The ``cwd`` the transcript's records name, else the directory its folder is named for."""
    from bitloops.capture._importing import json_lines

    try:
        for obj in json_lines(path, 500):
            found = obj.get("cwd")
            if isinstance(found, str) and found:
                return found
    except OSError:
        pass
    for candidate in candidates:
        if _slug(candidate) == path.parent.name:
            return candidate
    return _unslug(path.parent.name, candidates)


def _claude_lines(session: SessionInfo, events: list[Event], cwd: str) -> list[dict[str, Any]]:
    """A Claude Code transcript: a chain of user and assistant records (``parentUuid``)."""
    import uuid

    from bitloops.agents import _writing as w

    usage = w.usage(events)
    used: set[str] = set()
    out: list[dict[str, Any]] = []
    parent: str | None = None

    def record(kind: str, event: Event, message: dict[str, Any], **extra: Any) -> None:
        nonlocal parent
        own = event.payload.get("transcript_uuid")
        line_id = own if isinstance(own, str) and own not in used else str(uuid.uuid4())
        used.add(line_id)
        out.append(
            {
                "parentUuid": parent,
                "isSidechain": False,
                "userType": "external",
                "cwd": cwd,
                "sessionId": session.session_id,
                "gitBranch": session.branch or "",
                "type": kind,
                "message": message,
                "uuid": line_id,
                "timestamp": w.stamp(event.ts),
                **extra,
            }
        )
        parent = line_id

    def assistant(event: Event, block: dict[str, Any]) -> None:
        mid = event.payload.get("message_id")
        mid = mid if isinstance(mid, str) and mid else f"msg_bitloops_{event.event_id}"
        message: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": event.model or session.model or "unknown",
            "content": [block],
            "stop_reason": None,
        }
        if mid in usage:
            message["usage"] = usage[mid].get("usage")
        record("assistant", event, message)

    for event, payload in w.calls(events):
        if event.kind == "prompt":
            record("user", event, {"role": "user", "content": w.text(event)})
        elif event.kind == "reasoning":
            # Recorded without its signature, which bitloops does not keep.
            assistant(event, {"type": "thinking", "thinking": w.text(event), "signature": ""})
        elif event.kind == "response":
            assistant(event, {"type": "text", "text": w.text(event)})
        else:
            call_id = payload.get("tool_use_id")
            if not isinstance(call_id, str) or not _rx.compile(r"^[A-Za-z0-9_-]+$").match(call_id):
                call_id = f"toolu_bitloops_{event.event_id.replace('-', '')}"
            block = {"type": "tool_use", "id": call_id, "name": payload["name"]}
            assistant(event, {**block, "input": payload.get("input") or {}})
            result = {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": w.output_text(payload.get("output")),
                "is_error": payload.get("is_error") is True,
            }
            extra = {}
            if isinstance(payload.get("output"), dict | list):
                extra["toolUseResult"] = payload["output"]
            record("user", event, {"role": "user", "content": [result]}, **extra)
    return out


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``~/.claude.json`` (or under ``$CLAUDE_CONFIG_DIR``), per work tree."""
    from pathlib import Path

    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(configured) if configured else Path.home()
    return base / ".claude.json", "json", ("projects", str(toplevel), "mcpServers"), "claude"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="Claude Code",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    config=AgentConfig(
        name=AGENT,
        label="Claude Code",
        path=".claude/settings.local.json",
        layout="nested",
        # PreToolUse records nothing (PostToolUse has the call and its output); it
        # runs for the edit tools only, to hand the agent the file's past reasoning.
        events=(
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "PostToolUseFailure",
            "Stop",
            "SubagentStart",
            "SubagentStop",
            "PreCompact",
            "PostCompact",
            "SessionEnd",
        ),
        personal=True,
        entry_fields=(("type", "command"), ("timeout", 30)),
        matcher_events=frozenset({"PostToolUse", "PostToolUseFailure"}),
        tool_matchers=(("PreToolUse", "Write|Edit|MultiEdit|NotebookEdit"),),
        also_reads=".claude/settings.json",
    ),
    mcp_file="~/.claude.json (projects.<work tree>.mcpServers)",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    transcript_history=transcript_history,
    import_pass=import_pass,
    first_models=first_models,
    state_keys=state_keys,
    resume_command=("claude", "--resume"),
    writer=TranscriptWriter(
        path=_claude_file,
        existing=_claude_existing,
        lines=_claude_lines,
        cwd_of=_claude_cwd_of,
        start_dir=_start_dir,
    ),
    plan_tools=(
        ("TodoWrite", "list"),
        ("ExitPlanMode", "prose"),
        ("TaskCreate", "task"),
        ("TaskUpdate", "task"),
        ("TaskList", "task"),
    ),
)
