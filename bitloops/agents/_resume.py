"""Resume a branch's work: check the branch out, find the session, give it back to its agent.

Besides the command that continues the session, :func:`resume` writes the session's
transcript where its agent looks for it (:func:`restore_transcript`), rebuilt from the
recorded events in the agent's own format, so a clone that never ran the session can
continue it. A file the agent already has is never overwritten.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shlex
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitloops.errors import CheckpointNotFound, GitError, InvalidSessionId, UnknownRef
from bitloops.model import Checkpoint, Event, SessionInfo

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = ["RestoredTranscript", "ResumeInfo", "continue_command", "restore_transcript", "resume"]

# How each agent's own CLI reopens a session by id (from the agents' documentation).
_RESUME_COMMANDS = {
    "claude-code": ["claude", "--resume"],
    "codex": ["codex", "resume"],
    "gemini": ["gemini", "--resume"],
    "copilot": ["copilot", "--resume"],
    "opencode": ["opencode", "--session"],
}


@attrs.frozen(kw_only=True)
class RestoredTranscript:
    """Where a session's transcript is for its agent to resume it, and what was done."""

    #: The transcript file the agent reads (written now, or already there); None if none.
    path: str | None
    #: True when bitloops wrote the file now; False when it was there or was not written.
    restored: bool
    #: One sentence for people: what happened, or why nothing was written.
    note: str
    #: The directory the session was started in, where its agent looks for it (the agent
    #: must be started there to resume it); None when not known.
    cwd: str | None = None


@attrs.frozen(kw_only=True)
class ResumeInfo:
    """Where a branch's work stands, and how to pick it up."""

    branch: str
    head: str
    checkpoint: Checkpoint | None
    session: SessionInfo | None
    #: A shell command that continues the session with the agent that produced it.
    command: str | None
    #: The session's transcript, restored for its agent (None without a session, or
    #: when ``restore=False``).
    transcript: RestoredTranscript | None = None


def continue_command(agent: str, session_id: str, cwd: str | None = None) -> str | None:
    """The command that reopens ``session_id`` in ``agent``'s CLI, if that agent has one.

    With ``cwd`` it starts with ``cd <cwd> &&``: agents such as Claude Code look for a
    session among those of the directory they are started in.
    """
    base = _RESUME_COMMANDS.get(agent)
    if base is None:
        return None
    command = shlex.join([*base, session_id])
    return command if cwd is None else f"cd {shlex.quote(cwd)} && {command}"


def resume(
    repo: Repository,
    branch: str,
    *,
    checkout: bool = True,
    restore: bool = True,
    home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResumeInfo:
    """Check out ``branch`` (unless ``checkout`` is False) and find its latest work.

    The checkpoint is the newest one on the branch's first-parent history; the session
    is the most recently active one recorded on that branch (live or committed). With
    ``restore`` (the default) the session's transcript is written where its agent looks
    for it (see :func:`restore_transcript`, which ``home`` and ``environ`` go to), and
    the command starts with ``cd <dir> &&`` when the session was started in a directory
    other than the top of the work tree.
    Raises :class:`~bitloops.UnknownRef` for a branch that does not exist,
    :class:`~bitloops.GitError` when git refuses the checkout (local changes), and
    :class:`~bitloops.InvalidSessionId`, before checking anything out, when the
    transcript would be restored under an id that cannot name a file.
    """
    if branch.startswith("-") or not repo.git.try_run("check-ref-format", "--branch", branch):
        raise UnknownRef(f"{branch!r} is not a branch name")
    head = repo.git.resolve_commit(f"refs/heads/{branch}")
    checkpoint = _latest_checkpoint(repo, head)
    sessions = [s for s in repo.store.sessions() if s.branch == branch]
    if checkpoint is not None:
        sessions += [
            s for s in checkpoint.sessions if s.session_id not in {x.session_id for x in sessions}
        ]
    session = max(sessions, key=lambda s: s.last_event_at or s.started_at, default=None)
    if session is not None and restore and session.agent in _WRITERS:
        _check_session_id(session.session_id)  # before the checkout: refuse, change nothing
    if checkout and repo.git.branch() != branch:
        try:
            repo.git.run("checkout", "--quiet", branch)
        except GitError as exc:
            raise GitError(
                f"cannot switch to {branch}: {exc}; commit or stash your changes first"
            ) from None
    transcript = None
    if session is not None and restore:
        transcript = restore_transcript(repo, session, home=home, environ=environ)
    # Started elsewhere than the top of the work tree: the agent must be started there.
    where = transcript.cwd if transcript is not None else None
    if where is not None and os.path.realpath(where) == os.path.realpath(repo.toplevel):
        where = None
    command = continue_command(session.agent, session.session_id, where) if session else None
    return ResumeInfo(
        branch=branch,
        head=head,
        checkpoint=checkpoint,
        session=session,
        command=command,
        transcript=transcript,
    )


def _latest_checkpoint(repo: Repository, head: str) -> Checkpoint | None:
    try:
        return repo.checkpoint(head)
    except CheckpointNotFound:
        pass
    chain = repo.git.first_parent_chain(head, 1000)
    found = repo.store.checkpoints_for_commits(chain)
    for sha in chain:
        if sha in found:
            return repo.checkpoint(found[sha][0])
    return None


# -- restoring an agent's transcript -------------------------------------------------------


def restore_transcript(
    repo: Repository,
    session: SessionInfo,
    *,
    home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RestoredTranscript:
    """Write ``session``'s transcript where its agent looks for it, unless it is there.

    The file is rebuilt from the session's recorded events (its checkpoints' and the
    draft's) in the agent's format: Claude Code's
    ``$CLAUDE_CONFIG_DIR/projects/<start directory, non-alphanumerics as '-'>/<id>.jsonl``,
    Codex's ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``, Gemini CLI's
    ``~/.gemini/tmp/<sha256 of the start directory>/chats/session-<time>-<id8>.jsonl``.
    ``CLAUDE_CONFIG_DIR`` defaults to ``~/.claude`` and ``CODEX_HOME`` to ``~/.codex``,
    read from ``environ`` (default: the process's environment); ``home`` replaces ``~``.

    The start directory is the one the session was launched in, where known (a ``cwd``
    its events name, or for Claude Code the folder of the transcript its hooks saw),
    else the worktree it ran in, else the top of this work tree. A file the agent already has for
    the session, in any project folder, is left as it is (the agent's own copy is better
    than a rebuilt one) and reported with the directory it belongs to. Agents bitloops
    cannot write transcripts for get a note saying so, and no file.

    The id becomes part of a file name, and it came from a hook payload: one that is
    not a plain name (``../x``, a separator, a control character, over 128 characters)
    raises :class:`~bitloops.InvalidSessionId` and nothing is written.
    """
    writer = _WRITERS.get(session.agent)
    if writer is None:
        return RestoredTranscript(
            path=None,
            restored=False,
            note=f"bitloops cannot rebuild {session.agent} transcripts; the agent can resume "
            "the session only if it still has it",
        )
    _check_session_id(session.session_id)
    env = os.environ if environ is None else environ
    base = Path(home) if home is not None else Path(env.get("HOME") or Path.home())
    sid = session.session_id
    events = _session_events(repo, sid)
    known = _known_transcript(repo, session)
    cwd = _start_dir(repo, session, events, known)
    existing = writer.existing(sid, cwd, base, env, known)
    if existing is not None:
        where = writer.cwd_of(existing, cwd, [cwd, str(repo.toplevel)])
        return RestoredTranscript(
            path=str(existing),
            restored=False,
            note=f"{existing} is already there; left as it is",
            cwd=where if where is not None and os.path.isdir(where) else None,
        )
    if not any(e.kind in _CONVERSATION for e in events):
        return RestoredTranscript(
            path=None,
            restored=False,
            note="the session has no prompt, reply or tool call to restore",
            cwd=cwd,
        )
    start = events[0].ts
    target = writer.path(sid, cwd, base, env, start)
    lines = writer.lines(session, events, cwd)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, target)  # fails if the file appeared meanwhile: never overwrite
    except FileExistsError:
        return RestoredTranscript(
            path=str(target),
            restored=False,
            note=f"{target} is already there; left as it is",
            cwd=cwd,
        )
    finally:
        tmp.unlink(missing_ok=True)
    return RestoredTranscript(
        path=str(target), restored=True, note=f"restored the transcript to {target}", cwd=cwd
    )


# What a session id may be to become part of a file name: one plain name (the agents'
# own ids are UUIDs), never ".", "..", a separator or a control character, and short
# enough that the longest name built from it (Codex's) stays under 255 bytes.
_FILE_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _check_session_id(session_id: str) -> None:
    """Raise :class:`InvalidSessionId` unless ``session_id`` can safely name a file."""
    if _FILE_SAFE_ID.fullmatch(session_id) is None:
        shown = repr(session_id[:80]) + ("…" if len(session_id) > 80 else "")
        raise InvalidSessionId(
            f"session id {shown} cannot name a transcript file (it must be at most 128 "
            "letters, digits, '.', '_' and '-', starting with a letter or digit), so bitloops "
            "wrote nothing; run with --no-restore (restore=False) to see the session without "
            "writing its transcript, and check what recorded that id"
        )


def _known_transcript(repo: Repository, session: SessionInfo) -> tuple[str | None, str | None]:
    """(transcript path, worktree) the hooks last saw for the session, in this clone only."""
    from bitloops.capture import _transcript_state as ts

    try:
        state = ts.load(repo.paths.common_dir, session.session_id)
    except OSError:
        return None, None
    if state.agent and state.agent != session.agent:
        return None, None
    return state.transcript_path, state.worktree


def _start_dir(
    repo: Repository,
    session: SessionInfo,
    events: list[Event],
    known: tuple[str | None, str | None],
) -> str:
    """The directory the session was started in, as well as bitloops can tell.

    Agents name their project folder after it, not after the top of the work tree. In
    order: the first ``cwd`` an event payload names (as custom loops may record); for
    Claude Code, the directory whose name its transcript's folder is (the hooks
    remember that path, in this clone); the worktree the hooks ran in; the top of this
    work tree. Only directories that exist here count.
    """
    for event in events:
        cwd = event.payload.get("cwd")
        if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd):
            return cwd
    path, worktree = known
    top = str(repo.toplevel)
    roots = [r for r in (worktree, top) if r and os.path.isdir(r)]
    if session.agent == "claude-code" and path:
        folder = Path(path).parent
        if folder.parent.name == "projects":
            found = _unslug(folder.name, roots)
            if found is not None:
                return found
    return roots[0] if roots else top


_CONVERSATION = frozenset({"prompt", "response", "reasoning", "tool_use", "tool_result"})


def _session_events(repo: Repository, session_id: str) -> list[Event]:
    """The session's events, committed and live, in time order."""
    from bitloops._codec import event_from_line
    from bitloops.capture._importing import session_lines

    events = [event_from_line(line) for line in session_lines(repo, session_id)]
    return sorted(events, key=lambda e: (e.ts, e.seq))


def _stamp(ts: datetime) -> str:
    """A time as the agents write it: ISO 8601 UTC with milliseconds and a Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text(event: Event) -> str:
    text = event.payload.get("text")
    return text if isinstance(text, str) else ""


def _output_text(output: Any) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


def _calls(events: list[Event]) -> list[tuple[Event, dict[str, Any]]]:
    """The conversation events, each tool call with its output merged in.

    A ``tool_result`` naming an earlier ``tool_use`` completes it; one naming none (a
    failure recorded alone) is a call of its own.
    """
    out: list[tuple[Event, dict[str, Any]]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.kind not in _CONVERSATION:
            continue
        payload = dict(event.payload)
        call_id = payload.get("tool_use_id")
        if event.kind == "tool_result" and isinstance(call_id, str) and call_id in by_id:
            by_id[call_id]["output"] = payload.get("output")
            if payload.get("is_error") is True:
                by_id[call_id]["is_error"] = True
            continue
        if event.kind in ("tool_use", "tool_result"):
            if not isinstance(payload.get("name"), str):
                continue  # an output without its call: nothing to show the agent
            if isinstance(call_id, str):
                by_id[call_id] = payload
        out.append((event, payload))
    return out


def _usage(events: list[Event]) -> dict[str, dict[str, Any]]:
    """message id -> the token usage note recorded for it."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        mid = event.payload.get("message_id")
        if event.kind == "note" and event.payload.get("text") == "token usage" and mid:
            found[str(mid)] = dict(event.payload)
    return found


_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class _Writer:
    """How one agent's transcript is named, found and written.

    ``existing(sid, cwd, home, env, known)`` finds the agent's file for the session
    wherever the agent keeps it (not only in ``cwd``'s folder); ``cwd_of(path, cwd,
    candidates)`` tells which directory a found file belongs to, when it can.
    """

    def __init__(
        self,
        path: Callable[[str, str, Path, Mapping[str, str], datetime], Path],
        existing: Callable[
            [str, str, Path, Mapping[str, str], tuple[str | None, str | None]], Path | None
        ],
        lines: Callable[[SessionInfo, list[Event], str], list[dict[str, Any]]],
        cwd_of: Callable[[Path, str, list[str]], str | None],
    ) -> None:
        self.path = path
        self.existing = existing
        self.lines = lines
        self.cwd_of = cwd_of


# Claude Code -------------------------------------------------------------------------------


def _slug(path: str) -> str:
    """Claude Code's project folder name for a directory: non-alphanumerics as ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", path)


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
    return Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home / ".claude"


def _claude_file(sid: str, cwd: str, home: Path, env: Mapping[str, str]) -> Path:
    return _claude_config(home, env) / "projects" / _slug(cwd) / f"{sid}.jsonl"


def _claude_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    """The session's file in ``cwd``'s folder, where the hooks saw it, or in any project."""
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
    usage = _usage(events)
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
                "timestamp": _stamp(event.ts),
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

    for event, payload in _calls(events):
        if event.kind == "prompt":
            record("user", event, {"role": "user", "content": _text(event)})
        elif event.kind == "reasoning":
            # Recorded without its signature, which bitloops does not keep.
            assistant(event, {"type": "thinking", "thinking": _text(event), "signature": ""})
        elif event.kind == "response":
            assistant(event, {"type": "text", "text": _text(event)})
        else:
            call_id = payload.get("tool_use_id")
            if not isinstance(call_id, str) or not _TOOL_ID.match(call_id):
                call_id = f"toolu_bitloops_{event.event_id.replace('-', '')}"
            block = {"type": "tool_use", "id": call_id, "name": payload["name"]}
            assistant(event, {**block, "input": payload.get("input") or {}})
            result = {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": _output_text(payload.get("output")),
                "is_error": payload.get("is_error") is True,
            }
            extra = {}
            if isinstance(payload.get("output"), dict | list):
                extra["toolUseResult"] = payload["output"]
            record("user", event, {"role": "user", "content": [result]}, **extra)
    return out


# Codex -------------------------------------------------------------------------------------


def _codex_home(home: Path, env: Mapping[str, str]) -> Path:
    return Path(env["CODEX_HOME"]) if env.get("CODEX_HOME") else home / ".codex"


def _codex_file(sid: str, cwd: str, home: Path, env: Mapping[str, str], start: datetime) -> Path:
    day = start.astimezone(UTC)
    name = f"rollout-{day:%Y-%m-%dT%H-%M-%S}-{sid}.jsonl"
    return _codex_home(home, env) / "sessions" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / name


def _codex_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    from bitloops.agents.codex import find_rollout

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
    start = _stamp(events[0].ts)
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
        out.append({"timestamp": _stamp(event.ts), "type": kind, "payload": payload})

    for event in events:
        if event.model and event.model != model and event.kind in _CONVERSATION:
            model = event.model
            context: dict[str, Any] = {"cwd": cwd, "approval_policy": "on-request", "model": model}
            context["sandbox_policy"] = {"mode": "workspace-write"}
            add(event, "turn_context", {**context, "summary": "auto"})
        if event.kind == "note" and event.payload.get("text") == "token usage":
            info = {"last_token_usage": event.payload.get("usage")}
            info["total_token_usage"] = event.payload.get("total_usage")
            add(event, "event_msg", {"type": "token_count", "info": info})
    for event, payload in _calls(events):
        text = _text(event)
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
                arguments = json.dumps(tool_input, ensure_ascii=False)
                call = {"type": "function_call", "name": payload["name"], "arguments": arguments}
                add(event, "response_item", {**call, "call_id": call_id})
                if isinstance(output, dict) and output.keys() <= {"stdout", "stderr", "exit_code"}:
                    add(
                        event,
                        "event_msg",
                        {"type": "exec_command_end", "call_id": call_id, **output},
                    )
                result = {"type": "function_call_output", "call_id": call_id}
            add(event, "response_item", {**result, "output": _output_text(output)})
    # Items were appended in two passes: put them back in time order (stable).
    head, rest = out[:1], out[1:]
    return head + sorted(rest, key=lambda line: str(line["timestamp"]))


# Gemini CLI --------------------------------------------------------------------------------


def _gemini_chats(cwd: str, home: Path) -> Path:
    project = hashlib.sha256(cwd.encode("utf-8")).hexdigest()
    return home / ".gemini" / "tmp" / project / "chats"


def _gemini_file(sid: str, cwd: str, home: Path, env: Mapping[str, str], start: datetime) -> Path:
    stamp = start.astimezone(UTC)
    return _gemini_chats(cwd, home) / f"session-{stamp:%Y-%m-%dT%H-%M}-{sid[:8]}.jsonl"


def _gemini_existing(
    sid: str, cwd: str, home: Path, env: Mapping[str, str], known: tuple[str | None, str | None]
) -> Path | None:
    """The session's file in ``cwd``'s project folder first, then in any project's."""
    from bitloops.agents.gemini import transcript_session_id

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
    project = path.parent.parent.name
    return next((c for c in candidates if _gemini_chats(c, Path()).parent.name == project), None)


def _gemini_lines(session: SessionInfo, events: list[Event], cwd: str) -> list[dict[str, Any]]:
    """A Gemini CLI session file: a metadata line, then user and gemini messages."""
    usage = _usage(events)
    start, last = _stamp(events[0].ts), _stamp(events[-1].ts)
    meta = {"sessionId": session.session_id, "projectHash": _gemini_chats(cwd, Path()).parent.name}
    out: list[dict[str, Any]] = [{**meta, "startTime": start, "lastUpdated": last}]
    current: dict[str, Any] | None = None

    def reply(event: Event, *, fresh: bool) -> dict[str, Any]:
        nonlocal current
        mid = event.payload.get("message_id")
        if current is None or fresh or (mid and mid != current["id"]):
            own = mid if isinstance(mid, str) and mid else str(uuid.uuid4())
            current = {"id": own, "timestamp": _stamp(event.ts), "type": "gemini", "content": ""}
            current.update(thoughts=[], toolCalls=[], model=event.model or session.model)
            if own in usage:
                current["tokens"] = usage[own].get("usage")
            out.append(current)
        return current

    for event, payload in _calls(events):
        if event.kind == "prompt":
            current = None
            line = {"id": str(uuid.uuid4()), "timestamp": _stamp(event.ts), "type": "user"}
            out.append({**line, "content": _text(event)})
        elif event.kind == "reasoning":
            message = reply(event, fresh=bool(current and current["content"]))
            subject = event.payload.get("subject")
            thought = {
                "subject": subject if isinstance(subject, str) else "",
                "description": _text(event),
            }
            message["thoughts"].append({**thought, "timestamp": _stamp(event.ts)})
        elif event.kind == "response":
            message = reply(event, fresh=bool(current and current["content"]))
            message["content"] = _text(event)
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


_WRITERS = {
    "claude-code": _Writer(
        lambda sid, cwd, home, env, start: _claude_file(sid, cwd, home, env),
        _claude_existing,
        _claude_lines,
        _claude_cwd_of,
    ),
    "codex": _Writer(_codex_file, _codex_existing, _codex_lines, _codex_cwd_of),
    "gemini": _Writer(_gemini_file, _gemini_existing, _gemini_lines, _gemini_cwd_of),
}
