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
import re
from collections.abc import Mapping

from ..errors import InvalidEvent, InvalidPayload
from .base import (
    TranscriptReader,
    added_or_modified,
    agent_session,
    digest,
    end_session,
    event_and_session,
    fit_payload,
    json_object,
    open_repository,
    open_transcripts,
    read_new_lines,
    record_fitting,
    relative_to_top,
    remember,
    run_payload_hook,
    spool_entry,
    stop_turn,
    where_to_look,
)

# Not from typing: the hook's fast path does without it (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import IO, Any

    from ..model import Event
    from ..redact import Redactor
    from ..repository import Repository
    from .direct import Located

__all__ = ["AGENT", "HOOK_EVENTS", "active_transcripts", "catch_up", "handle", "run_hook"]

#: The agent name sessions are recorded under.
AGENT = "claude-code"
#: The name hook failures are logged under in ``hooks.log``.
HOOK_NAME = "claude-code"

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
_EVENT_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
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


def _dispatch(repo: Repository, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
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
    if fitted:
        if not repo.settings.capture:
            return [session.record(kind, data, artefacts=arts) for kind, data, arts in fitted]
        with repo.store.transaction():  # one hook, one transaction: all or nothing
            return [session.record(kind, data, artefacts=arts) for kind, data, arts in fitted]
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
        if "tool_use_id" in data:
            return [("tool_result", {**data, "output": error, "is_error": True}, (), True)]
        message = error if isinstance(error, str) else json.dumps(error, default=str)
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
    data: dict[str, Any], fit: bool, redactor: Redactor, repo: Repository | int
) -> tuple[dict[str, Any], str]:
    """The payload to record and its stored JSON; raises what recording would raise."""
    from ..codec import prepare_payload

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
    repo: Repository, tool: str, tool_input: Any, output: Any, cwd: Any
) -> tuple[str, str] | None:
    """The (repo-relative path, change) a file-writing tool made inside the work tree."""
    change = _file_change_at(str(repo.toplevel), tool, tool_input, output, cwd)
    if change is None:
        return None
    rel, kind = change
    return rel, kind if kind is not None else added_or_modified(repo, rel)


def _file_change_at(
    top: str, tool: str, tool_input: Any, output: Any, cwd: Any
) -> tuple[str, str | None] | None:
    """:func:`_file_change` without git: the change is None when only git can tell."""
    if tool not in ("Write", "Edit", "MultiEdit", "NotebookEdit") or not isinstance(
        tool_input, Mapping
    ):
        return None
    raw = tool_input.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    if not isinstance(raw, str) or not raw:
        return None
    rel = relative_to_top(top, raw, cwd)
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
    return read_new_lines(
        repo, AGENT, sid, transcript, _Reader,
        max_seconds=max_seconds, max_lines=max_lines, resume=False,
    )  # fmt: skip


class _Reader(TranscriptReader):
    """Turns transcript lines into events, remembering what it recorded in the state."""

    def line(self, raw: bytes) -> list[Event]:
        obj = json_object(raw)
        if obj is None or obj.get("type") != "assistant":
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
        if isinstance(model, str) and not model.startswith("<"):  # not "<synthetic>"
            self.set_model(model)
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
                events += self.response(block["text"], base)
        usage = message.get("usage")
        mid = base.get("message_id")
        if isinstance(usage, dict) and mid:
            self.queue_usage(mid, {"text": "token usage", "usage": usage, **base})
        self.mark(key)  # last: a line that failed half-way is read again
        return events


def active_transcripts(repo: Repository) -> list[tuple[str, str]]:
    """(session id, transcript path) of each Claude Code session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting, so the checkpoint
    holds the reasoning the transcript had so far.
    """
    return open_transcripts(repo, AGENT, untagged=True)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook claude-code``: see :func:`bitloops.integrations.base.run_payload_hook`.

    The events of an open session that need no transcript read (prompts, tool calls,
    subagents, compactions, notes) take the fast path of :mod:`.direct`.
    """
    return run_payload_hook(HOOK_NAME, handle, where_to_look, stdin, cwd, err, fast=_fast)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` through :mod:`.direct`; False when the full path must."""
    from . import direct

    name = payload.get("hook_event_name")
    sid = payload.get("session_id")
    if not isinstance(name, str) or name in ("SessionStart", "Stop", "SessionEnd"):
        return False
    if name not in HOOK_EVENTS and not _EVENT_NAME.fullmatch(name):
        return False
    if not isinstance(sid, str) or not sid.strip() or len(sid) > _MAX_SESSION_ID:
        return False
    transcript = payload.get("transcript_path")
    transcript = transcript if isinstance(transcript, str) and transcript else None
    settings = direct.read_settings(located[0])
    if settings is None:
        return False
    redactor = direct.redactor(settings)
    events: list[tuple[str, str, tuple[str, ...]]] = []
    try:
        _check(name, payload)
        if name != "PreToolUse":
            for kind, data, arts, fit in _planned(name, payload, located[0]):
                if None in arts:
                    return False  # git must say whether the file is new
                text = _prepared(data, fit, redactor, settings["max_payload_bytes"])[1]
                for art in arts:
                    assert art is not None
                    art.encode("utf-8")  # what Session checks of an artefact
                events.append((kind, text, tuple(redactor.redact(a) for a in arts if a)))
    except (InvalidEvent, UnicodeEncodeError):
        return False  # the full path raises it again, and the hook quarantines it
    result = direct.write(
        located, settings, agent=AGENT, session_id=sid, transcript=transcript, events=events
    )
    if result == direct.BUSY:
        from .. import spool

        entry = spool_entry(HOOK_NAME, located[0], payload, redactor)
        wait = settings["hook_busy_timeout_ms"] / 1000
        return spool.append(located[2], entry, durable=settings["durability"] == "full", wait=wait)
    return result == direct.DONE


# -- importing ----------------------------------------------------------------------------

# How many lines to look through for a session id: the first are often summaries or
# file-history snapshots, which name none.
_ID_SCAN_LINES = 500


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id a Claude Code transcript names; None for a file of another format.

    The first conversation record (``user``/``assistant``/``system`` with a ``uuid``)
    carries it as ``sessionId``. For :mod:`bitloops.importing`.
    """
    from ..importing import json_lines

    for obj in json_lines(path, _ID_SCAN_LINES):
        sid = obj.get("sessionId")
        if (
            obj.get("type") in ("user", "assistant", "system")
            and isinstance(obj.get("uuid"), str)
            and isinstance(sid, str)
            and sid.strip()
        ):
            return sid
    return None


def transcript_history(
    repo: Repository, path: str | os.PathLike[str]
) -> list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]]:
    """What the hooks record, read back from a whole transcript: prompts and tool calls.

    For :mod:`bitloops.importing` (:func:`catch_up` reads the rest). A user line's text
    (not a meta line, not tool results) is a prompt; each ``tool_use`` block a tool_use
    with the output of its ``tool_result`` (the structured ``toolUseResult`` when there
    is one; ``is_error`` kept) and the file change a hook would record. Payloads carry
    the line's ``timestamp`` as ``transcript_ts``. Sidechain lines are skipped.
    """
    from ..importing import json_lines

    items: list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]] = []
    calls: dict[str, tuple[dict[str, Any], Any]] = {}  # tool_use_id -> (payload, cwd)
    for obj in json_lines(path):
        message = obj.get("message")
        if obj.get("isSidechain") is True or not isinstance(message, dict):
            continue
        base = {"transcript_ts": obj["timestamp"]} if isinstance(obj.get("timestamp"), str) else {}
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        blocks = [b for b in blocks if isinstance(b, dict)]
        if obj.get("type") == "user" and obj.get("isMeta") is not True:
            texts = [content] if isinstance(content, str) else []
            texts += [b.get("text") for b in blocks if b.get("type") == "text"]
            text = "\n\n".join(t for t in texts if isinstance(t, str) and t.strip())
            if text:
                items.append(("prompt", {"text": text, **base}, []))
            for block in blocks:
                call = calls.get(str(block.get("tool_use_id")))
                if block.get("type") != "tool_result" or call is None:
                    continue
                result = obj.get("toolUseResult")
                call[0]["output"] = result if result is not None else block.get("content")
                if block.get("is_error") is True:
                    call[0]["is_error"] = True
        elif obj.get("type") == "assistant":
            for block in blocks:
                call_id = block.get("id")
                if block.get("type") != "tool_use" or not isinstance(block.get("name"), str):
                    continue
                payload: dict[str, Any] = {"name": block["name"], "input": block.get("input")}
                if isinstance(call_id, str) and call_id:
                    payload["tool_use_id"] = call_id
                    calls[call_id] = (payload, obj.get("cwd"))
                payload.update(base)
                items.append(("tool_use", payload, []))
    for kind, payload, changes in items:
        if kind != "tool_use":
            continue
        cwd = calls.get(payload.get("tool_use_id", ""), (None, None))[1]
        change = _file_change(repo, payload["name"], payload["input"], payload.get("output"), cwd)
        if change is not None:
            changes.append((change[0], change[1], None))
    return items
