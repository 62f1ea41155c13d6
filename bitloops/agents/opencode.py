"""OpenCode: turn the events its bitloops plugin forwards into bitloops events.

OpenCode has no command hooks, only JS/TS plugins. The plugin shipped beside this module
(``opencode_plugin.js``, installed into ``.opencode/plugin/``) subscribes to OpenCode's
bus events and, for each one worth keeping, runs ``bitloops hook opencode`` with one JSON
object on standard input, one process at a time, without ever waiting for it or failing
OpenCode. :func:`run_hook` reads that object and calls :func:`handle`.

The payload (version 1)::

    {
      "bitloops_opencode": 1,          # the payload version
      "hook": "event",                 # what the plugin was called for
      "time": 1764000000000,           # when the plugin saw it, ms since the epoch
      "cwd": "/path/to/project",       # the plugin's directory (where OpenCode runs)
      "worktree": "/path/to/project",  # OpenCode's git worktree, or null
      "role": "user",                  # role of the message a part belongs to, or null
      "event": {"type": "message.part.updated", "properties": {...}}
    }

``event`` is the bus event as OpenCode published it (without the streaming ``delta``):
``session.created``/``session.deleted``/``session.compacted``/``session.error``
(``properties.info`` is the session, or ``properties.sessionID``), ``message.updated``
(``properties.info`` is a message: ``id``, ``sessionID``, ``role``, ``modelID``,
``providerID``, ``tokens``, ``cost``, ``time``, ``error``) and ``message.part.updated``
(``properties.part``: ``text``, ``reasoning``, ``tool`` with ``callID``, ``tool`` and
``state{status, input, output, error, title, metadata}``, ``patch`` with ``files``,
``compaction``). The plugin sends a text or reasoning part once complete, a tool part
once finished (a ``task`` tool also once running), and a message once when first seen and
once complete. A
custom loop may call :func:`handle` with such a payload, or with a bare bus event.

OpenCode writes no transcript the hooks would miss, so :func:`catch_up` only reads the
JSON that ``opencode export <sessionID>`` writes (``{"info": session, "messages":
[{"info": message, "parts": [...]}]}``), for ``bitloops import``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from bitloops import _jsonc
from bitloops.agents._record import AgentConfig, Integration
from bitloops.capture._runner import (
    LineReader,
    TranscriptReader,
    added_or_modified,
    agent_session,
    catch_up_light,
    json_file,
    mapping,
    once,
    open_repository,
    open_transcripts,
    patch_files,
    read_new_lines,
    record_fitting,
    relative_to_top,
    remember,
    require_fits,
    require_object,
    run_payload_hook,
    text_field,
)
from bitloops.errors import InvalidEvent, InvalidPayload

# Not from typing, and transcript_state (attrs) only where used: the hook's light path
# does without them (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, Any

    from bitloops.agents._contract import AgentIntegration, McpLocation
    from bitloops.capture import _transcript_state as ts
    from bitloops.capture._direct import Located
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._runner import Planned
    from bitloops.capture._session import Session
    from bitloops.model import Event

__all__ = [
    "AGENT",
    "PAYLOAD_VERSION",
    "PLUGIN_RESOURCE",
    "active_transcripts",
    "catch_up",
    "handle",
    "plugin_source",
    "run_hook",
    "transcript_session_id",
]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "opencode"
#: The payload version the shipped plugin sends.
PAYLOAD_VERSION = 1
#: The plugin's file name inside this package.
PLUGIN_RESOURCE = "opencode_plugin.js"

# Tools that write one file (its path in input.filePath), and whether they may create it.
_FILE_TOOLS = {"write": True, "edit": False, "multiedit": False}
_PATCH_TOOLS = frozenset({"patch", "apply_patch"})
_SUBAGENT_TOOLS = frozenset({"task"})

#: Claims a key once per session: True the first time.
Claim = Callable[[str], bool]


def plugin_source() -> str:
    """The text of the OpenCode plugin, for an installer to write into ``.opencode/plugin/``."""
    from importlib.resources import files

    return (files(__package__ or "bitloops.agents") / PLUGIN_RESOURCE).read_text("utf-8")


# -- the hook -----------------------------------------------------------------------------


def _event(payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    event = payload.get("event", payload)
    if not isinstance(event, Mapping):
        raise InvalidPayload("the payload's event is not a JSON object")
    kind = event.get("type")
    props = event.get("properties")
    if not isinstance(kind, str) or not kind:
        raise InvalidPayload("the payload's event has no type string")
    if not isinstance(props, Mapping):
        raise InvalidPayload("the payload's event has no properties object")
    return kind, dict(props)


def _session_id(kind: str, props: Mapping[str, Any]) -> str | None:
    """The OpenCode session an event belongs to."""
    for holder in ("part", "info"):
        inner = props.get(holder)
        if isinstance(inner, Mapping):
            if holder == "info" and kind.startswith("session."):
                found = text_field(inner, "id")
            else:
                found = text_field(inner, "sessionID")
            if found:
                return found
    return text_field(props, "sessionID")


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one payload of the OpenCode plugin (see the module); return the events recorded.

    The repository is the git work tree containing the payload's ``cwd`` (else
    ``worktree``, else ``cwd``). The session id is OpenCode's (``ses_...``). An event of a
    session never started starts it; one after its deletion resumes it. Each part and
    message is recorded once, however often it is sent (two copies of the plugin, a
    restart).

    ``session.created`` starts the session (a child session, a subagent's, also gets a
    note naming its ``parent_session_id``); ``session.deleted`` ends it;
    ``session.compacted`` is a compaction (``phase: "post"``); ``session.error`` an error.
    ``message.updated`` sets the session's model (``modelID``; ``providerID`` kept as
    ``provider``) and, for a finished assistant message, records its ``tokens`` and
    ``cost`` as a usage note and its ``error`` as an error. ``message.part.updated``: a
    ``text`` part is a prompt (user message) or a response (synthetic parts skipped), a
    ``reasoning`` part a reasoning event, a finished ``tool`` part one tool_use
    (``is_error`` for status ``error``) plus a file_change for ``write`` (added or
    modified), ``edit``/``multiedit`` (modified) and each file a ``patch`` names; a
    ``task`` tool is also a subagent start (running) and stop (finished); a ``patch``
    part is a file_change for each of its files no tool recorded; a ``compaction`` part a
    compaction (``phase: "pre"``). Other events record nothing.

    Raises :class:`~bitloops.InvalidPayload` for a payload that is no object, has no
    event type or properties, names no session (but for ``session.error``, recorded
    nowhere), or comes from a newer plugin, and :class:`~bitloops.NotAGitRepository` when
    no work tree is found.
    """
    require_object(payload, "an OpenCode plugin payload")
    version = payload.get("bitloops_opencode")
    if isinstance(version, int) and version > PAYLOAD_VERSION:
        raise InvalidPayload(
            f"payload version {version} is newer than this bitloops reads"
            f" ({PAYLOAD_VERSION}): upgrade bitloops"
        )
    kind, props = _event(payload)
    sid = _session_id(kind, props) or text_field(payload, "session_id")
    if sid is None:
        if kind == "session.error":
            return []  # an error of no session (a provider login...): nothing to attach it to
        raise InvalidPayload(f"the {kind} event names no session")
    role = payload.get("role")
    where = dict(payload)
    if not text_field(where, "cwd") and text_field(where, "worktree"):
        where["cwd"] = where["worktree"]
    with open_repository(where, cwd) as repo:
        claim: Claim = lambda key: once(repo, sid, key)  # noqa: E731
        return _dispatch(repo, sid, kind, props, role, text_field(where, "cwd"), claim)


def _model_of(info: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(model id, provider id) of a message: assistant fields, or a user message's model."""
    model = text_field(info, "modelID")
    provider = text_field(info, "providerID")
    inner = info.get("model")
    if model is None and isinstance(inner, Mapping):
        model = text_field(inner, "modelID")
        provider = provider or text_field(inner, "providerID")
    return model, provider


def _open(repo: Recorder, sid: str, kind: str) -> Session:
    from bitloops.capture import _transcript_state as ts

    state = ts.load(repo.paths.common_dir, sid)
    if not state.agent:
        state = remember(repo, AGENT, sid, None)
    return agent_session(repo, AGENT, sid, state, resume=kind != "session.deleted")


def _set_model(repo: Recorder | None, session: Session, model: str) -> None:
    from bitloops.capture import _transcript_state as ts

    if model == session.model:
        return
    session.set_model(model)
    if repo is None:
        return
    common = repo.paths.common_dir
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        state.agent = state.agent or AGENT
        state.model = model
        ts.save(common, state)


def _dispatch(
    repo: Recorder,
    sid: str,
    kind: str,
    props: Mapping[str, Any],
    role: Any,
    cwd: str | None,
    claim: Claim,
) -> list[Event]:
    if kind == "session.created":
        info = mapping(props.get("info"))
        # The agent stored in the state now: the session's next event can take the light path.
        state = remember(repo, AGENT, sid, None)
        session = repo.start_session(AGENT, model=state.model, session_id=sid)
        parent = text_field(info, "parentID")
        if parent is None or not claim(f"child:{sid}"):
            return []
        note = {"text": "OpenCode subagent session", "parent_session_id": parent}
        if text_field(info, "title"):
            note["title"] = info["title"]
        return [session.record("note", note)]
    part = mapping(props.get("part"))
    if kind == "message.part.updated" and part.get("type") in ("text", "reasoning"):
        require_fits(repo, part.get("text"))  # a text that cannot be recorded starts nothing
    session = _open(repo, sid, kind)
    return _record(repo, session, kind, props, role, cwd, claim)


def _record(
    repo: Recorder | None,
    session: Session,
    kind: str,
    props: Mapping[str, Any],
    role: Any,
    cwd: str | None,
    claim: Claim,
) -> list[Event]:
    """The events one bus event records (``repo`` is None inside a locked catch-up)."""
    if kind == "session.deleted":
        end = session.end("deleted")
        return [] if end is None else [end]
    info = props.get("info")
    if kind == "message.updated" and isinstance(info, Mapping):
        model, _ = _model_of(info)
        if model:
            _set_model(repo, session, model)
    top = None if repo is None else str(repo.toplevel)
    return _write(repo, session, _planned(kind, props, role, cwd, claim, top))


def _write(repo: Recorder | None, session: Session, planned: Planned) -> list[Event]:
    """Record ``planned`` events in ``session``, asking git what only it can tell."""
    events = []
    for kind, data, arts, fit in planned:
        if arts == (None,) and repo is not None:  # a file only git can say was added
            data["change"], arts = added_or_modified(repo, data["path"]), (data["path"],)
        if fit:
            events.append(record_fitting(session, kind, data))
        else:
            events.append(session.record(kind, data, artefacts=tuple(a for a in arts if a)))
    return events


def _planned(
    kind: str,
    props: Mapping[str, Any],
    role: Any,
    cwd: str | None,
    claim: Claim,
    top: str | None,
) -> Planned:
    """The events a bus event records, unwritten (see :data:`.base.Planned`), but for a
    session's creation and deletion; ``top`` None plans no file changes.

    ``claim`` takes each part's and message's key once; a file_change whose artefacts
    are ``(None,)`` is a file only git can say was added (its ``change`` to be filled in).
    """
    if kind == "session.compacted":
        return [("compaction", {"phase": "post"}, (), False)]
    if kind == "session.error":
        return [_error(props.get("error"))]
    if kind == "message.updated":
        info = props.get("info")
        return _message(info, claim) if isinstance(info, Mapping) else []
    if kind == "message.part.updated":
        part = props.get("part")
        return _part(top, part, role, cwd, claim) if isinstance(part, Mapping) else []
    return []


def _error(error: Any) -> tuple[str, dict[str, Any], tuple[str | None, ...], bool]:
    data = error.get("data") if isinstance(error, Mapping) else None
    message = text_field(data, "message") if isinstance(data, Mapping) else None
    name = text_field(error, "name") if isinstance(error, Mapping) else None
    if message is None:
        message = name or (error if isinstance(error, str) else _jsonc.dumps(error, default=str))
    payload: dict[str, Any] = {"message": message}
    if name:
        payload["name"] = name
    return ("error", payload, (), True)


def _message(info: Mapping[str, Any], claim: Claim) -> Planned:
    model, provider = _model_of(info)
    mid = text_field(info, "id")
    times = mapping(info.get("time"))
    done = bool(times.get("completed")) or bool(info.get("error"))
    if info.get("role") != "assistant" or not mid or not done or not claim(f"message:{mid}"):
        return []
    base: dict[str, Any] = {"message_id": mid}
    if model:
        base["model"] = model
    if provider:
        base["provider"] = provider
    planned: Planned = []
    tokens = info.get("tokens")
    if isinstance(tokens, Mapping) and tokens:
        note = {"text": "token usage", "usage": dict(tokens), **base}
        if isinstance(info.get("cost"), int | float):
            note["cost"] = info["cost"]
        planned.append(("note", note, (), False))
    error = info.get("error")
    if error:
        if isinstance(error, Mapping) and error.get("name") == "MessageAbortedError":
            planned.append(("note", {"text": "the user stopped the turn", **base}, (), False))
        else:
            planned.append(_error(error))
    return planned


def _part(
    top: str | None,
    part: Mapping[str, Any],
    role: Any,
    cwd: str | None,
    claim: Claim,
) -> Planned:
    kind, pid = part.get("type"), text_field(part, "id")
    if not pid:
        return []
    base: dict[str, Any] = {"part_id": pid}
    mid = text_field(part, "messageID")
    if mid:
        base["message_id"] = mid
    if kind in ("text", "reasoning"):
        text = part.get("text")
        if not isinstance(text, str) or not text.strip() or part.get("synthetic") is True:
            return []
        if part.get("ignored") is True or not claim(f"part:{pid}"):
            return []
        if kind == "reasoning":
            return [("reasoning", {"text": text, **base}, (), True)]
        event_kind = "prompt" if role == "user" else "response"
        return [(event_kind, {"text": text, **base}, (), True)]
    if kind == "tool":
        return _tool(top, part, base, cwd, claim)
    if kind == "patch":
        files = part.get("files")
        if top is None or not isinstance(files, list) or not claim(f"part:{pid}"):
            return []
        planned: Planned = []
        for raw in files:
            if isinstance(raw, str):
                planned += _change(top, raw, None, cwd, mid, claim)
        return planned
    if kind == "compaction":
        if not claim(f"part:{pid}"):
            return []
        data = {"phase": "pre", **base}
        if isinstance(part.get("auto"), bool):
            data["auto"] = part["auto"]
        return [("compaction", data, (), False)]
    return []


def _tool(
    top: str | None,
    part: Mapping[str, Any],
    base: dict[str, Any],
    cwd: str | None,
    claim: Claim,
) -> Planned:
    state = mapping(part.get("state"))
    status = state.get("status")
    tool = text_field(part, "tool") or "unknown"
    tool_input = state.get("input")
    subagent: dict[str, Any] = {"tool_use_id": part.get("callID"), **base}
    if isinstance(tool_input, Mapping):
        for key in ("subagent_type", "description"):
            if isinstance(tool_input.get(key), str):
                subagent[key] = tool_input[key]
    if status == "running":
        if tool in _SUBAGENT_TOOLS and claim(f"part:{base['part_id']}:running"):
            return [("subagent", {"event": "start", **subagent}, (), False)]
        return []
    if status not in ("completed", "error") or not claim(f"part:{base['part_id']}:done"):
        return []
    data: dict[str, Any] = {"name": tool, "input": tool_input, **base}
    if isinstance(part.get("callID"), str):
        data["tool_use_id"] = part["callID"]
    if status == "error":
        data["output"] = state.get("error")
        data["is_error"] = True
    else:
        data["output"] = state.get("output")
    if isinstance(state.get("title"), str) and state["title"]:
        data["title"] = state["title"]
    planned: Planned = [("tool_use", data, (), True)]
    if tool in _SUBAGENT_TOOLS:
        metadata = state.get("metadata")
        child = (
            text_field(metadata, "sessionId", "sessionID")
            if isinstance(metadata, Mapping)
            else None
        )
        if child:
            subagent["child_session_id"] = child
        planned.append(("subagent", {"event": "stop", **subagent}, (), False))
    if status == "completed" and top is not None and isinstance(tool_input, Mapping):
        mid = base.get("message_id")
        if tool in _FILE_TOOLS:
            raw = text_field(tool_input, "filePath", "file_path", "path")
            if raw:
                change = None if _FILE_TOOLS[tool] else "modified"
                planned += _change(top, raw, change, cwd, mid, claim)
        elif tool in _PATCH_TOOLS:
            patch = text_field(tool_input, "patchText", "patch", "input")
            for path, change, _ in patch_files(patch or ""):
                planned += _change(top, path, change, cwd, mid, claim)
    return planned


def _change(
    top: str, raw: str, change: str | None, cwd: str | None, message_id: Any, claim: Claim
) -> Planned:
    """A file_change for ``raw`` inside the work tree, once per message.

    ``change`` None: deleted when the file is gone, else as git tells (artefacts
    ``(None,)``: to be filled in).
    """
    rel = relative_to_top(top, raw, cwd)
    if rel is None or not claim(f"file:{message_id}:{rel}"):
        return []
    if change is None and os.path.exists(os.path.join(top, rel)):
        return [("file_change", {"path": rel, "change": None}, (None,), False)]
    return [("file_change", {"path": rel, "change": change or "deleted"}, (rel,), False)]


# -- exported sessions --------------------------------------------------------------------


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id of an ``opencode export`` JSON file, or None when it is not one.

    Also reads OpenCode's stored session (``{"id": "ses_..."}``) and message
    (``{"sessionID": ...}``) files.
    """
    try:
        data = json_file(path)
    except OSError:
        return None
    if not isinstance(data, dict):
        return None
    info = data.get("info")
    if isinstance(info, dict) and isinstance(data.get("messages"), list):
        return text_field(info, "id")
    found = text_field(data, "sessionID")
    if found:
        return found
    sid = text_field(data, "id")
    return sid if sid and sid.startswith("ses") else None


def catch_up(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record an ``opencode export`` file of the session; the number of events recorded.

    The file (one JSON object: ``info`` the session, ``messages`` a list of ``{info,
    parts}``) is read whole each time; each message and part goes through the same
    mapping as the plugin's events (see :func:`handle`), and what was recorded before
    (by the plugin or an earlier call) is not recorded again. Only the messages of
    ``session_id`` are read. Files over 64 MiB, and files that are no export, record
    nothing; an ended session records nothing. ``max_seconds``/``max_lines`` are accepted
    for the common signature; the file is read in one go.
    """
    path = os.fspath(transcript_path)

    def whole(data: Any, reader: LineReader) -> list[Event]:
        assert isinstance(reader, _Export)
        return reader.read(data)

    return len(
        read_new_lines(
            repo,
            AGENT,
            session_id,
            path,
            lambda session, state: _Export(repo, session, state),
            max_seconds=max_seconds,
            max_lines=max_lines,
            resume=False,
            whole=whole,
        )
    )


class _Export(TranscriptReader):
    """Records the messages of an exported session, claiming keys in the state it holds."""

    def __init__(self, repo: Recorder, session: Session, state: ts.TranscriptState) -> None:
        super().__init__(session, state)
        self.repo = repo

    def read(self, data: Any) -> list[Event]:
        """The events of an export file's JSON document."""
        messages = data.get("messages") if isinstance(data, dict) else None
        info = data.get("info") if isinstance(data, dict) else None
        cwd = text_field(info, "directory") if isinstance(info, Mapping) else None
        events: list[Event] = []
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, Mapping) or not isinstance(message.get("info"), Mapping):
                continue
            minfo = message["info"]
            if text_field(minfo, "sessionID") not in (None, self.session.session_id):
                continue
            # The model first, so the parts carry it; the usage note after them.
            model, _ = _model_of(minfo)
            if model:
                self.state.model = model
                _set_model(None, self.session, model)
            parts = message.get("parts")
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, Mapping):
                    top = str(self.repo.toplevel)
                    planned = _part(top, part, minfo.get("role"), cwd, self.once)
                    events += _write(self.repo, self.session, planned)
            events += _write(None, self.session, _message(minfo, self.once))
        return events


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, export file) of each OpenCode session open here with one being read.

    The plugin sends everything as it happens, so this is usually empty; it lists the
    sessions :func:`catch_up` was pointed at an export file for.
    """
    return open_transcripts(repo, AGENT)


# -- the command --------------------------------------------------------------------------


def _where(payload: Mapping[str, Any], cwd: Any) -> list[str]:
    places = [p for p in (payload.get("cwd"), payload.get("worktree")) if isinstance(p, str) and p]
    return places + ([os.fspath(cwd)] if cwd is not None else [])


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook opencode``: see :func:`bitloops.capture._runner.run_payload_hook`.

    The events of an open session but its creation and deletion (parts, messages,
    compactions, errors) take the light path, claiming their keys as the full path does.
    """
    return run_payload_hook(AGENT, handle, _where, stdin, cwd, err, fast=_fast)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path; False when the full path must.

    The full path takes a session's creation and deletion, odd payloads, a model the
    session's state does not hold yet with something to record, and a text too large.
    An event that records nothing (a message first seen, a part sent again), or only
    names a new model, runs OpenCode's own dispatch on the light path instead
    (:func:`.capture._runner.catch_up_light`): it checks the session is open, as the
    full path would start or resume it, and stores the model and the claims.
    """
    from bitloops.agents.codex import record_claiming

    try:
        version = payload.get("bitloops_opencode")
        if isinstance(version, int) and version > PAYLOAD_VERSION:
            return False
        kind, props = _event(payload)
    except InvalidEvent:
        return False  # the full path raises it again, and the hook quarantines it
    sid = _session_id(kind, props) or text_field(payload, "session_id")
    if kind in ("session.created", "session.deleted") or sid is None:
        return False
    where = dict(payload)
    if not text_field(where, "cwd") and text_field(where, "worktree"):
        where["cwd"] = where["worktree"]
    cwd, role = text_field(where, "cwd"), payload.get("role")
    info = props.get("info")
    model = _model_of(info)[0] if kind == "message.updated" and isinstance(info, Mapping) else None

    # Set by plan when nothing is to be written: OpenCode's dispatch does the rest.
    nothing: list[bool] = []

    def plan(state: dict[str, Any]) -> tuple[Planned, list[str]] | None:
        seen = state.get("seen")
        taken = {k for k in seen if isinstance(k, str)} if isinstance(seen, list) else set()
        claimed: list[str] = []

        def claim(key: str) -> bool:
            if key in taken:
                return False
            taken.add(key)
            claimed.append(key)
            return True

        try:
            planned = _planned(kind, props, role, cwd, claim, located[0])
        except ValueError:  # a path holding a NUL: the full path reports it
            return None
        if not planned:
            nothing.append(True)
            return None
        if model is not None and state.get("model") != model:
            return None  # the full path stores it, then records (claims before writes)
        return planned, claimed

    if record_claiming(AGENT, AGENT, located, payload, session_id=sid, plan=plan):
        return True
    if not nothing:
        return False

    def dispatch(repo: Recorder) -> object:
        # No event to write, so no claim can be lost to a write that gives way after it.
        claim: Claim = lambda key: once(repo, sid, key)  # noqa: E731
        return _dispatch(repo, sid, kind, props, role, cwd, claim)

    return catch_up_light(AGENT, AGENT, located, payload, dispatch)


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``$XDG_CONFIG_HOME/opencode/opencode.json`` (``~/.config``), ``mcp``."""
    from pathlib import Path

    from bitloops.capture._runner import home_dir

    path = Path(home_dir("XDG_CONFIG_HOME", ".config"), "opencode", "opencode.json")
    return path, "json", ("mcp",), "opencode"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="OpenCode",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    # A plugin file instead of hook entries (copied from opencode_plugin.js).
    config=AgentConfig(
        name=AGENT,
        label="OpenCode",
        path=".opencode/plugin/bitloops.js",
        layout="plugin",
        plugin=PLUGIN_RESOURCE,
    ),
    mcp_file="~/.config/opencode/opencode.json (mcp)",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    resume_command=("opencode", "--session"),
    plan_tools=(("todowrite", "list"),),
)
