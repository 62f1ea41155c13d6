"""OpenAI Codex CLI: turn its hook payloads and its rollout file into bitloops events.

Codex runs a command for each hook event (Claude-like names and payloads) with one JSON
object on standard input; :func:`run_hook` reads it and calls :func:`handle`. What hooks
lack (reasoning summaries, the text of every turn, the model, token usage, tool calls made
while hooks were off) is read from the session's rollout JSONL
(``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl``) by :func:`catch_up`,
incrementally. See ``docs/agents.md``.

The helpers shared with the other agents (opening the repository, recording with
truncation, the Stop response de-duplication, the reading loop) come from
:mod:`bitloops.capture._runner`; the per-session state is
:mod:`bitloops.capture._transcript_state`.
"""

from __future__ import annotations

import os

# Mapping from the module Python loads at start-up (collections.abc costs the hooks).
from _collections_abc import Mapping

from bitloops import _jsonc, _rx
from bitloops.agents._record import AgentConfig, Integration, TranscriptWriter
from bitloops.capture._direct import read_state, state_file
from bitloops.capture._runner import (
    TranscriptReader,
    agent_session,
    catch_up_light,
    digest,
    event_and_session,
    json_object,
    open_repository,
    open_transcripts,
    patch_files,
    read_new_lines,
    record_fitting,
    record_planned,
    relative_to_top,
    remember,
    require_fits,
    run_payload_hook,
    stop_turn,
    where_to_look,
)
from bitloops.errors import InvalidPayload

# Not from typing, and transcript_state (attrs) only where used: the hook's light path
# does without them (see direct.py).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
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

__all__ = ["AGENT", "active_transcripts", "catch_up", "find_rollout", "handle", "run_hook"]

#: The agent name sessions are recorded under (and hook failures, in ``hooks.log``).
AGENT = "codex"

_COMMON = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode"})
_STOP_SECONDS = 2.0
# Keys kept in the state's ``seen`` list for tool calls: a call recorded, its output recorded.
_CALL = "call:"
_OUT = "out:"
_SAFE_ID = _rx.compile(r"^[A-Za-z0-9._-]+$")


# -- the hook -----------------------------------------------------------------------------


def handle(payload: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None) -> list[Event]:
    """Record one Codex hook payload; return the events it recorded.

    The repository is found as for Claude Code (the payload's ``cwd``, then ``cwd``).
    ``SessionStart`` starts the session (returns ``[]``); ``UserPromptSubmit`` is a prompt;
    ``PreToolUse`` records nothing; ``PostToolUse`` is one tool_use with input and output
    (plus file_change events for the files an ``apply_patch`` names), unless the rollout
    already brought that ``tool_use_id``; ``Stop`` reads the rollout (:func:`catch_up`,
    at most 2 s; found under ``$CODEX_HOME/sessions`` when ``transcript_path`` is null)
    and records ``last_assistant_message`` as a response unless the rollout brought it;
    ``SubagentStart``/``SubagentStop`` are subagent events, ``PreCompact``/``PostCompact``
    compaction events; any other event is a note. The payload's ``model`` becomes the
    session's model.

    Raises :class:`~bitloops.InvalidPayload` for a payload without a ``session_id`` or
    ``hook_event_name`` string, or with fields of the wrong type, and
    :class:`~bitloops.NotAGitRepository` when no work tree is found.
    """
    name, sid = event_and_session(payload, "a Codex hook payload", "session_id")
    _check(name, payload)
    with open_repository(payload, cwd) as repo:
        return _dispatch(repo, name, sid, payload)


def _check(name: str, payload: Mapping[str, Any]) -> None:
    if name == "UserPromptSubmit" and not isinstance(payload.get("prompt"), str):
        raise InvalidPayload("a UserPromptSubmit payload needs a prompt string")
    if name == "PostToolUse" and not isinstance(payload.get("tool_name"), str):
        raise InvalidPayload("a PostToolUse payload needs a tool_name string")
    for key in ("transcript_path", "model", "turn_id", "tool_use_id"):
        if payload.get(key) is not None and not isinstance(payload.get(key), str):
            raise InvalidPayload(f"the payload's {key} is not a string")


def _dispatch(repo: Recorder, name: str, sid: str, payload: Mapping[str, Any]) -> list[Event]:
    if name == "UserPromptSubmit":  # a prompt that cannot be recorded starts nothing
        require_fits(repo, payload.get("prompt"))
    transcript = payload.get("transcript_path") or None
    state = remember(repo, AGENT, sid, transcript, payload.get("model") or None)
    if name == "PreToolUse":
        return []
    if name == "SessionStart":
        repo.start_session(AGENT, model=state.model, session_id=sid)
        return []
    # Codex has no SessionEnd hook: an ended session that hears again is resumed.
    session = agent_session(repo, AGENT, sid, state)
    if name == "Stop":
        path = state.transcript_path or find_rollout(sid)
        events = _catch_up(repo, sid, path, _STOP_SECONDS) if path else []
        return stop_turn(repo, AGENT, sid, events, payload.get("last_assistant_message"))
    planned = _planned(name, payload, str(repo.toplevel))
    if name == "PostToolUse":
        return _tool_use(repo, session, payload, planned)
    return [session.record(kind, data) for kind, data, _, _ in planned]


def _planned(name: str, payload: Mapping[str, Any], top: str) -> Planned:
    """The events a hook records, unwritten (see :data:`.base.Planned`): all but those
    of ``SessionStart``, ``PreToolUse`` and ``Stop``.

    A ``PostToolUse`` plans its tool_use, then its file changes; when the rollout
    already recorded the call, :func:`_tool_use` records less.
    """
    if name == "UserPromptSubmit":
        return [("prompt", {"text": payload["prompt"]}, (), False)]
    if name == "PostToolUse":
        data: dict[str, Any] = {"name": payload["tool_name"], "input": payload.get("tool_input")}
        call_id = payload.get("tool_use_id") or None
        if call_id:
            data["tool_use_id"] = call_id
        if payload.get("tool_response") is not None:
            data["output"] = payload["tool_response"]
        changes = _planned_changes(top, data["name"], data["input"], payload.get("cwd"))
        return [("tool_use", data, (), True), *changes]
    extra = {k: v for k, v in payload.items() if k not in _COMMON and isinstance(k, str)}
    extra.pop("model", None)
    if name in ("SubagentStart", "SubagentStop"):
        event_name = "start" if name == "SubagentStart" else "stop"
        return [("subagent", {"event": event_name, **extra}, (), False)]
    if name in ("PreCompact", "PostCompact"):
        phase = "pre" if name == "PreCompact" else "post"
        return [("compaction", {"phase": phase, **extra}, (), False)]
    note = {"text": f"Codex hook {name}", "hook_event_name": name, **extra}
    return [("note", note, (), False)]


def _tool_use(
    repo: Recorder, session: Session, payload: Mapping[str, Any], planned: Planned
) -> list[Event]:
    from bitloops.capture import _transcript_state as ts

    (_, data, _, _), changes = planned[0], planned[1:]
    call_id = data.get("tool_use_id")
    common = repo.paths.common_dir
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        if call_id and _OUT + call_id in state.seen:
            return []  # the rollout recorded this call with its output
        known = bool(call_id) and _CALL + str(call_id) in state.seen
        if known:  # the rollout recorded the call (and its file changes), not its output
            event = record_fitting(session, "tool_result", {**data, "input": None})
        else:
            event = record_fitting(session, "tool_use", data)
        if call_id:
            state.seen += _seen_keys(call_id)
            ts.save(common, state)
    if known:
        return [event]
    return [event, *(session.record(kind, d, artefacts=_arts(a)) for kind, d, a, _ in changes)]


def _seen_keys(call_id: str) -> list[str]:
    """The keys a call recorded with its output leaves in the state's ``seen`` list."""
    return [_CALL + call_id, _OUT + call_id]


def _arts(arts: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple(a for a in arts if a is not None)


def _patch_text(tool: str, tool_input: Any) -> str | None:
    if isinstance(tool_input, str):
        text = tool_input
    elif isinstance(tool_input, Mapping):
        found = [tool_input.get(k) for k in ("input", "patch", "command")]
        text = next((v for v in found if isinstance(v, str)), "")
        if not text:
            args = next((v for v in found if isinstance(v, list)), [])
            text = "\n".join(a for a in args if isinstance(a, str))
    else:
        return None
    if tool != "apply_patch" and "*** Begin Patch" not in text:
        return None
    return text


def _planned_changes(top: str, tool: str, tool_input: Any, cwd: Any) -> Planned:
    """The file_change events (unwritten) for the files an ``apply_patch`` names inside
    the work tree, as :meth:`~bitloops.Session.file_change` would record them."""
    text = _patch_text(tool, tool_input)
    if not text:
        return []
    planned: Planned = []
    for path, change, moved_to in patch_files(text):
        rel = relative_to_top(top, path, cwd)
        if rel is None:
            continue
        new = relative_to_top(top, moved_to, cwd) if moved_to is not None else None
        if new is not None:
            data = {"path": new, "change": "renamed", "old_path": rel}
            planned.append(("file_change", data, (new, rel), False))
        else:
            planned.append(("file_change", {"path": rel, "change": change}, (rel,), False))
    return planned


def _patch_changes(
    repo: Recorder, session: Session, tool: str, tool_input: Any, cwd: Any
) -> list[Event]:
    """file_change events for the files an ``apply_patch`` names inside the work tree."""
    planned = _planned_changes(str(repo.toplevel), tool, tool_input, cwd)
    return [session.record(kind, data, artefacts=_arts(arts)) for kind, data, arts, _ in planned]


# -- the rollout --------------------------------------------------------------------------


def find_rollout(session_id: str, codex_home: str | os.PathLike[str] | None = None) -> str | None:
    """The newest rollout file of ``session_id`` under ``$CODEX_HOME/sessions``, if any."""
    from pathlib import Path

    if not _SAFE_ID.match(session_id):
        return None
    home = Path(codex_home or os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    try:
        found = sorted((home / "sessions").glob(f"*/*/*/rollout-*-{session_id}.jsonl"))
    except OSError:
        return None
    return str(found[-1]) if found else None


def catch_up(
    repo: Recorder,
    session_id: str,
    transcript_path: str | os.PathLike[str],
    *,
    max_seconds: float = 2.0,
    max_lines: int = 20000,
) -> int:
    """Record what the rollout file added since the last call; the number of events recorded.

    Reads Codex's rollout JSONL from the byte offset where the previous call stopped (kept
    under ``<git common dir>/bitloops/transcripts/``): ``turn_context``'s ``model`` becomes
    the model of the session's later events; a ``reasoning`` item's ``summary`` texts one
    reasoning event (one with only ``encrypted_content`` a note that the model reasoned,
    ``"reasoning": "encrypted"``); an assistant ``message``'s ``output_text`` a response; a
    ``function_call``/``custom_tool_call`` and its output (``function_call_output``,
    ``custom_tool_call_output`` or ``exec_command_end``, whichever comes first for the
    ``call_id``) one tool_use, unless a hook recorded it; ``token_count`` a note with the
    usage. Payloads carry the line's ``timestamp`` as ``transcript_ts``. Other lines
    (session_meta, user messages, agent_message and other event_msg duplicates) and
    invalid lines are skipped. A last line without its newline waits for the next call.

    Lines are known by their SHA-256, so a replaced or truncated file read again from the
    start records nothing twice. Stops after ``max_seconds`` or ``max_lines`` lines. An
    unknown session is started; a missing file records nothing.
    """
    return len(_catch_up(repo, session_id, os.fspath(transcript_path), max_seconds, max_lines))


def _catch_up(
    repo: Recorder, sid: str, transcript: str, max_seconds: float, max_lines: int = 20000
) -> list[Event]:
    # Codex has no SessionEnd hook: an ended session that grows again is resumed.
    return read_new_lines(
        repo, AGENT, sid, transcript, lambda session, state: _Rollout(repo, session, state),
        max_seconds=max_seconds, max_lines=max_lines, resume=True,
    )  # fmt: skip


class _Rollout(TranscriptReader):
    """Turns rollout lines into events, remembering what it recorded in the state."""

    def __init__(self, repo: Recorder, session: Session, state: ts.TranscriptState) -> None:
        super().__init__(session, state)
        self.repo = repo
        # call_id -> the tool_use payload waiting for its output
        self.pending: dict[str, dict[str, Any]] = {}
        self.cwd: str | None = None

    def line(self, raw: bytes) -> list[Event]:
        obj = json_object(raw)
        if obj is None or not isinstance(obj.get("payload"), dict):
            return []
        if not self.once("sha256:" + digest(raw.decode("utf-8"))):
            return []
        payload = obj["payload"]
        base: dict[str, Any] = {}
        if isinstance(obj.get("timestamp"), str):
            base["transcript_ts"] = obj["timestamp"]
        kind, sub = obj.get("type"), payload.get("type")
        if kind in ("session_meta", "turn_context") and isinstance(payload.get("cwd"), str):
            self.cwd = payload["cwd"]  # where apply_patch's relative paths start
        if kind == "turn_context":
            self.set_model(payload.get("model"))
            return []
        if self.state.model:
            base["model"] = self.state.model
        if kind == "response_item":
            return self._item(sub, payload, base)
        if kind == "event_msg" and sub == "token_count":
            info = payload.get("info")
            if not isinstance(info, dict):
                return []
            note = {"text": "token usage", "usage": info.get("last_token_usage"), **base}
            note["total_usage"] = info.get("total_token_usage")
            return [self.session.record("note", note)]
        if kind == "event_msg" and sub == "exec_command_end":
            output = {k: payload.get(k) for k in ("stdout", "stderr", "exit_code")}
            return self._output(payload.get("call_id"), output, base)
        return []

    def _unreadable_reasoning(self, payload: dict[str, Any], base: dict[str, Any]) -> list[Event]:
        """A note that the model reasoned, for a reasoning item with only encrypted content.

        A note, not an empty reasoning event: readers (the summary, ``resume``) quote
        reasoning text, and there is none to quote. The ciphertext itself is not kept.
        """
        secret = payload.get("encrypted_content")
        if not isinstance(secret, str) or not secret:
            return []
        note = {"text": "the model reasoned (encrypted, not readable)", "reasoning": "encrypted"}
        return [self.session.record("note", {**note, **base})]

    def _item(self, sub: Any, payload: dict[str, Any], base: dict[str, Any]) -> list[Event]:
        if sub == "reasoning":
            summary = payload.get("summary")
            parts = [s.get("text") for s in summary or [] if isinstance(s, dict)]
            text = "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
            if text:
                return [record_fitting(self.session, "reasoning", {"text": text, **base})]
            return self._unreadable_reasoning(payload, base)
        if sub == "message" and payload.get("role") == "assistant":
            content = payload.get("content")
            parts = [c.get("text") for c in content or [] if isinstance(c, dict)]
            text = "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
            return self.response(text, base) if text else []
        if sub in ("function_call", "custom_tool_call"):
            call_id = payload.get("call_id")
            if not isinstance(call_id, str) or not call_id or _CALL + call_id in self.seen:
                return []
            raw = payload.get("arguments", payload.get("input"))
            tool_input = raw
            if sub == "function_call" and isinstance(raw, str):
                try:
                    tool_input = _jsonc.loads(raw)  # arguments are a JSON string
                except (ValueError, RecursionError):
                    tool_input = raw
            name = payload.get("name")
            self.pending[call_id] = {
                "name": name if isinstance(name, str) else "unknown",
                "input": tool_input,
                "tool_use_id": call_id,
                **base,
            }
            return []
        if sub in ("function_call_output", "custom_tool_call_output"):
            return self._output(payload.get("call_id"), payload.get("output"), base)
        return []

    def _output(self, call_id: Any, output: Any, base: dict[str, Any]) -> list[Event]:
        """A call's output: the first of its duplicates (function_call_output, exec_command_end)."""
        if not isinstance(call_id, str) or not call_id or _OUT + call_id in self.seen:
            return []
        call = self.pending.pop(call_id, None)
        if call is not None:
            event = record_fitting(self.session, "tool_use", {**call, "output": output})
            self.mark(_CALL + call_id, _OUT + call_id)
            changes = _patch_changes(self.repo, self.session, call["name"], call["input"], self.cwd)
            return [event, *changes]
        data = {"tool_use_id": call_id, "output": output, **base}
        self.mark(_CALL + call_id, _OUT + call_id)
        return [record_fitting(self.session, "tool_result", data)]

    def flush(self) -> list[Event]:
        """Calls whose output is not written yet: recorded now, their output comes later."""
        events = []
        for call_id, call in self.pending.items():
            events.append(record_fitting(self.session, "tool_use", call))
            events += _patch_changes(self.repo, self.session, call["name"], call["input"], self.cwd)
            self.mark(_CALL + call_id)
        self.pending.clear()
        return events


def active_transcripts(repo: Recorder) -> list[tuple[str, str]]:
    """(session id, rollout path) of each Codex session open in this worktree.

    For the git post-commit hook: :func:`catch_up` each before promoting.
    """
    return open_transcripts(repo, AGENT)


# -- the command --------------------------------------------------------------------------


def run_hook(stdin: IO[Any], cwd: str | os.PathLike[str], err: IO[str]) -> str | None:
    """``bitloops hook codex``: see :func:`bitloops.capture._runner.run_payload_hook`.

    The events of an open session that need no rollout read (prompts, tool calls,
    subagents, compactions, notes) take the light path (:func:`.base.record_planned`).
    """
    return run_payload_hook(AGENT, handle, where_to_look, stdin, cwd, err, fast=_fast)


def _fast(located: Located, payload: dict[str, Any]) -> bool:
    """Record ``payload`` on the light path; False when the full path must.

    A Stop reads the rollout here too (:func:`.capture._runner.catch_up_light`). The
    full path takes session starts, odd payloads, a model or transcript path the
    session's state does not hold yet, and a call the rollout already recorded (its
    ``seen`` keys).
    """
    name = payload.get("hook_event_name")
    sid = payload.get("session_id")
    if not isinstance(name, str) or not name or name == "SessionStart":
        return False
    if not isinstance(sid, str) or not sid.strip():
        return False
    if name == "Stop":  # a rollout read: the light catch-up, with Codex's own handling
        return catch_up_light(
            AGENT, AGENT, located, payload, lambda repo: _dispatch(repo, name, sid, payload),
            check=lambda: _check(name, payload),
        )  # fmt: skip
    try:
        _check(name, payload)
        planned = [] if name == "PreToolUse" else _planned(name, payload, located[0])
    except Exception:  # InvalidPayload, or a path holding a NUL: the full path reports it
        return False
    transcript = payload.get("transcript_path") or None
    model = payload.get("model") or None

    def same_model(state: dict[str, Any]) -> bool:
        return model is None or state.get("model") == model  # else remember() must store it

    call_id = planned[0][1].get("tool_use_id") if name == "PostToolUse" else None
    if not call_id:
        return record_planned(
            AGENT, AGENT, located, payload, session_id=sid, transcript=transcript,
            planned=planned, accept=same_model,
        )  # fmt: skip

    def claim(state: dict[str, Any]) -> tuple[Planned, list[str]] | None:
        keys = _seen_keys(call_id)
        seen = state.get("seen")
        return None if isinstance(seen, list) and any(k in seen for k in keys) else (planned, keys)

    return record_claiming(
        AGENT, AGENT, located, payload, session_id=sid, plan=claim,
        transcript=transcript, accept=same_model,
    )  # fmt: skip


def record_claiming(
    agent: str,
    hook: str,
    located: Located,
    payload: dict[str, Any],
    *,
    session_id: str,
    plan: Callable[[dict[str, Any]], tuple[Planned, list[str]] | None],
    transcript: str | None = None,
    accept: Callable[[dict[str, Any]], bool] | None = None,
) -> bool:
    """:func:`.base.record_planned` of events that claim keys in the session's ``seen``.

    As the full path does, under the session's transcript-state lock: ``plan``, given
    the state (a dict, as its file holds it), returns the events and the keys they
    claim, or None to leave the payload to the full path. The events are written, then
    the keys added to ``seen``. False (nothing written) when the lock stays taken, there
    is no state, ``plan`` says None or :func:`.base.record_planned` declines. When the
    payload went to the spool instead, the keys are left for its replay to claim (the
    spool is checked once written: an entry another hook spooled meanwhile also leaves
    them unclaimed; then a transcript read may record an event twice, never lose it).
    For OpenCode too, whose every event claims keys.
    """
    from bitloops._fs import unlock
    from bitloops.capture import _spool as spool

    common = located[2]
    lock = _lock_state(common, session_id)
    if lock is None:
        return False
    try:
        state = read_state(common, session_id)
        planned = None if state is None else plan(state)
        if planned is None:
            return False
        events, keys = planned
        done = record_planned(
            agent, hook, located, payload, session_id=session_id, transcript=transcript,
            planned=events, accept=accept,
        )  # fmt: skip
        if done and keys and not spool.pending(common):
            _add_seen(common, session_id, keys)
        return done
    finally:
        unlock(lock)


# How long the light path waits for a session's state lock before the full path waits.
_LOCK_SECONDS = 0.2
# As transcript_state keeps them: the newest keys only.
_MAX_SEEN = 20000


def _lock_state(common: str, session_id: str) -> int | None:
    """The descriptor holding the lock :func:`.transcript_state.locked` takes; None when
    it stays taken or cannot be opened."""
    from bitloops._fs import try_lock

    path = state_file(common, session_id)[: -len(".json")] + ".lock"
    try:
        return try_lock(path, _LOCK_SECONDS, mode=0o666)
    except OSError:
        return None


def _add_seen(common: str, session_id: str, keys: list[str]) -> None:
    """Append ``keys`` to the state's ``seen`` list (under its lock), written atomically."""
    path = state_file(common, session_id)
    data = read_state(common, session_id)
    seen = None if data is None else data.get("seen")
    if data is None or not isinstance(seen, list):
        return  # recorded, unclaimed: a transcript read may record it again
    data["seen"] = [*seen, *keys][-_MAX_SEEN:]
    from bitloops._fs import atomic_write

    try:
        # No fsync, as for every save of the state (transcript_state.save).
        atomic_write(path, _jsonc.dumps(data, ensure_ascii=False), fsync=False)
    except OSError:
        pass


# -- importing ----------------------------------------------------------------------------


def transcript_session_id(path: str | os.PathLike[str]) -> str | None:
    """The session id a Codex rollout names (its ``session_meta`` line); None otherwise.

    For :mod:`bitloops.capture._importing`.
    """
    from bitloops.capture._importing import json_lines

    for obj in json_lines(path, 50):
        payload = obj.get("payload")
        if obj.get("type") == "session_meta" and isinstance(payload, dict):
            sid = payload.get("id")
            return sid if isinstance(sid, str) and sid.strip() else None
    return None


def transcript_history(
    repo: Recorder, path: str | os.PathLike[str]
) -> list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]]:
    """What the hooks record and :func:`catch_up` skips, read back from a rollout: prompts.

    Each ``event_msg`` ``user_message`` is a prompt (the ``response_item`` user messages
    also hold the environment context Codex adds). For :mod:`bitloops.capture._importing`.
    """
    from bitloops.capture._importing import json_lines

    items: list[tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]] = []
    for obj in json_lines(path):
        payload = obj.get("payload")
        if obj.get("type") != "event_msg" or not isinstance(payload, dict):
            continue
        text = payload.get("message")
        if payload.get("type") == "user_message" and isinstance(text, str) and text.strip():
            base = (
                {"transcript_ts": obj["timestamp"]} if isinstance(obj.get("timestamp"), str) else {}
            )
            items.append(("prompt", {"text": text, **base}, []))
    return items


# -- resuming: the rollout written back ---------------------------------------------------


def _codex_home(home: Path, env: Mapping[str, str]) -> Path:
    from pathlib import Path

    return Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else home / ".codex"


def _codex_file(sid: str, cwd: str, home: Path, env: Mapping[str, str], start: datetime) -> Path:
    """Where Codex keeps a rollout: by the day it started, the id in the file's name."""
    from datetime import UTC

    day = start.astimezone(UTC)
    name = f"rollout-{day:%Y-%m-%dT%H-%M-%S}-{sid}.jsonl"
    return _codex_home(home, env) / "sessions" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / name


def _codex_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    from pathlib import Path

    # Rollouts are filed by date, not by directory: this finds it wherever it started.
    found = find_rollout(sid, _codex_home(home, env))
    return None if found is None else Path(found)


def _codex_cwd_of(path: Path, cwd: str, candidates: list[str]) -> str | None:
    """The ``cwd`` of the rollout's ``session_meta``."""
    from bitloops.capture._importing import json_lines

    try:
        for obj in json_lines(path, 20):
            payload = obj.get("payload")
            if obj.get("type") == "session_meta" and isinstance(payload, dict):
                found = payload.get("cwd")
                return found if isinstance(found, str) and found else None
    except OSError:
        pass
    return None


def _codex_lines(session: SessionInfo, events: list[Event], cwd: str) -> list[dict[str, Any]]:
    """A Codex rollout: ``session_meta``, then response items and event messages."""
    from bitloops.agents import _writing as w

    start = w.stamp(events[0].ts)
    out: list[dict[str, Any]] = [
        {
            "timestamp": start,
            "type": "session_meta",
            "payload": {
                "id": session.session_id,
                "timestamp": start,
                "cwd": cwd,
                "originator": "bitloops",
                "cli_version": "0.0.0",
                "instructions": None,
            },
        }
    ]
    model: str | None = None

    def add(event: Event, kind: str, payload: dict[str, Any]) -> None:
        out.append({"timestamp": w.stamp(event.ts), "type": kind, "payload": payload})

    for event in events:
        if event.model and event.model != model and event.kind in w.CONVERSATION:
            model = event.model
            context: dict[str, Any] = {"cwd": cwd, "approval_policy": "on-request", "model": model}
            context["sandbox_policy"] = {"mode": "workspace-write"}
            add(event, "turn_context", {**context, "summary": "auto"})
        if event.kind == "note" and event.payload.get("text") == "token usage":
            info = {"last_token_usage": event.payload.get("usage")}
            info["total_token_usage"] = event.payload.get("total_usage")
            add(event, "event_msg", {"type": "token_count", "info": info})
    for event, payload in w.calls(events):
        text = w.text(event)
        if event.kind == "prompt":
            content = [{"type": "input_text", "text": text}]
            add(event, "response_item", {"type": "message", "role": "user", "content": content})
            add(event, "event_msg", {"type": "user_message", "message": text, "images": []})
        elif event.kind == "response":
            content = [{"type": "output_text", "text": text}]
            add(
                event, "response_item", {"type": "message", "role": "assistant", "content": content}
            )
            add(event, "event_msg", {"type": "agent_message", "message": text})
        elif event.kind == "reasoning":
            summary = [{"type": "summary_text", "text": text}]
            item = {"type": "reasoning", "summary": summary, "content": None}
            add(event, "response_item", {**item, "encrypted_content": None})
        else:
            call_id = payload.get("tool_use_id")
            call_id = call_id if isinstance(call_id, str) else f"call_{event.event_id}"
            tool_input, output = payload.get("input"), payload.get("output")
            if isinstance(tool_input, str):  # a freeform tool, such as apply_patch
                call = {"type": "custom_tool_call", "name": payload["name"], "input": tool_input}
                add(event, "response_item", {**call, "call_id": call_id, "status": "completed"})
                result = {"type": "custom_tool_call_output", "call_id": call_id}
            else:
                arguments = _jsonc.dumps(tool_input, ensure_ascii=False)
                call = {"type": "function_call", "name": payload["name"], "arguments": arguments}
                add(event, "response_item", {**call, "call_id": call_id})
                if isinstance(output, dict) and output.keys() <= {"stdout", "stderr", "exit_code"}:
                    add(
                        event,
                        "event_msg",
                        {"type": "exec_command_end", "call_id": call_id, **output},
                    )
                result = {"type": "function_call_output", "call_id": call_id}
            add(event, "response_item", {**result, "output": w.output_text(output)})
    # Items were appended in two passes: put them back in time order (stable).
    head, rest = out[:1], out[1:]
    return head + sorted(rest, key=lambda line: str(line["timestamp"]))


# -- the record ---------------------------------------------------------------------------


def _mcp_place(toplevel: Path) -> McpLocation:
    """``$CODEX_HOME/config.toml`` (``~/.codex``), ``[mcp_servers.bitloops]``."""
    from pathlib import Path

    from bitloops.capture._runner import home_dir

    return Path(home_dir("CODEX_HOME", ".codex"), "config.toml"), "toml", ("mcp_servers",), "codex"


INTEGRATION: AgentIntegration = Integration(
    name=AGENT,
    label="Codex CLI",
    handle=handle,
    run_hook=run_hook,
    catch_up=catch_up,
    active_transcripts=active_transcripts,
    config=AgentConfig(
        name=AGENT,
        label="Codex CLI",
        path=".codex/hooks.json",
        layout="nested",
        # PreToolUse: an apply_patch command gets the patched files' past reasoning.
        events=(
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "Stop",
            "SubagentStart",
            "SubagentStop",
            "PreCompact",
            "PostCompact",
        ),
        entry_fields=(("type", "command"), ("timeout", 30)),
        note="Codex runs hooks only with `[features] codex_hooks = true` in its "
        "config.toml (~/.codex/config.toml), and may ask you to trust them (/hooks)",
    ),
    mcp_file="~/.codex/config.toml ([mcp_servers.bitloops])",
    mcp_place=_mcp_place,
    transcript_session_id=transcript_session_id,
    transcript_history=transcript_history,
    resume_command=("codex", "resume"),
    writer=TranscriptWriter(
        path=_codex_file, existing=_codex_existing, lines=_codex_lines, cwd_of=_codex_cwd_of
    ),
    plan_tools=(("update_plan", "list"),),
)
