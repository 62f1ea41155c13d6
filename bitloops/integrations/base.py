"""What every agent integration shares: its hook command, its sessions, its transcript state.

Each agent module (``claude_code``, ``codex``, ``gemini``) maps its own payloads and reads
its own transcript format; these pieces are the same for all of them but for the agent's
name, so they live here once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..errors import InvalidPayload, NotAGitRepository, PayloadTooLarge, SessionNotFound
from . import transcript_state as ts

if TYPE_CHECKING:
    from ..model import Event
    from ..repository import Repository
    from ..session import Session

__all__ = [
    "LineReader",
    "agent_session",
    "digest",
    "hook_response",
    "open_repository",
    "open_transcripts",
    "read_new_lines",
    "record_fitting",
    "relative_path",
    "remember",
    "run_payload_hook",
    "transcript_response",
    "where_to_look",
]


class LineReader(Protocol):
    """**Protocol:** turns an agent's transcript lines into recorded events.

    Inheriting from it is optional. ``line`` gets each complete line (bytes, with its
    newline); ``flush`` records what a batch left pending (usage notes, tool calls
    without their output yet).
    """

    def line(self, raw: bytes) -> list[Event]:
        """The events one transcript line records."""
        ...

    def flush(self) -> list[Event]:
        """The events left pending at the end of a batch."""
        ...


def read_new_lines(
    repo: Repository,
    agent: str,
    sid: str,
    transcript: str,
    make_reader: Callable[[Session, ts.TranscriptState], LineReader],
    *,
    max_seconds: float,
    max_lines: int,
    resume: bool,
    whole: Callable[[IO[bytes], int, LineReader], list[Event]] | None = None,
) -> list[Event]:
    """Record what a transcript gained since the last call, under the session's state lock.

    Reads from the byte offset where the previous call stopped; a file that shrank or was
    replaced (another inode) is read again from the start (readers skip what they already
    recorded). A last line without its newline waits for the next call. Stops after
    ``max_seconds`` or ``max_lines``. An ended session records nothing unless ``resume``
    (for agents with no session-end hook). ``whole`` reads a file that is one JSON
    document rather than lines, all of it each time.
    """
    common = repo.paths.common_dir
    deadline = time.monotonic() + max_seconds
    events: list[Event] = []
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        state.agent = state.agent or agent
        state.transcript_path = transcript
        state.worktree = state.worktree or repo.worktree
        try:
            info = os.stat(transcript)
            fh = open(transcript, "rb")  # noqa: SIM115 - closed by the with below
        except OSError:
            ts.save(common, state)
            return []
        with fh:
            if state.offset > info.st_size or (
                state.inode is not None and state.inode != info.st_ino
            ):
                state.offset = 0  # truncated or replaced: readers skip what they recorded
            state.inode = info.st_ino
            session = agent_session(repo, agent, sid, state, resume=resume)
            if session.ended:
                ts.save(common, state)
                return []
            reader = make_reader(session, state)
            try:
                if whole is not None:
                    events += whole(fh, info.st_size, reader)
                    state.offset = info.st_size
                else:
                    fh.seek(state.offset)
                    for _ in range(max(0, max_lines)):
                        if time.monotonic() > deadline:
                            break
                        line = fh.readline()
                        if not line.endswith(b"\n"):
                            break  # the end, or a line still being written
                        events += reader.line(line)
                        state.offset += len(line)
                events += reader.flush()
            finally:
                ts.save(common, state)
    return events


def where_to_look(payload: Mapping[str, Any], cwd: str | os.PathLike[str] | None) -> list[str]:
    """The directories to find the work tree from: the payload's ``cwd``, then ``cwd``."""
    places = []
    if isinstance(payload.get("cwd"), str) and payload["cwd"]:
        places.append(payload["cwd"])
    if cwd is not None:
        places.append(os.fspath(cwd))
    return places


@contextmanager
def open_repository(
    payload: Mapping[str, Any], cwd: str | os.PathLike[str] | None
) -> Iterator[Repository]:
    """The repository of the first of :func:`where_to_look` inside a work tree."""
    from ..repository import Repository

    places = where_to_look(payload, cwd)
    if not places:
        raise NotAGitRepository("the payload has no cwd and no directory was given")
    error: NotAGitRepository | None = None
    for place in places:
        try:
            repo = Repository.open(place)
        except NotAGitRepository as exc:
            error = error or exc
            continue
        with repo:
            yield repo
        return
    assert error is not None
    raise error


def record_fitting(session: Session, kind: str, payload: dict[str, Any]) -> Event:
    """Record, cutting ``input`` and ``output`` to an excerpt when the payload is too large."""
    try:
        return session.record(kind, payload)
    except PayloadTooLarge:
        pass
    limit = max(256, session.max_payload_bytes // 4)
    cut = dict(payload)
    for key in ("output", "input"):
        if key in cut:
            text = cut[key] if isinstance(cut[key], str) else json.dumps(cut[key], default=str)
            if len(text) > limit:
                cut[key] = text[:limit]
                cut[f"{key}_truncated"] = True
    try:
        return session.record(kind, cut)
    except PayloadTooLarge:
        for key in ("output", "input"):
            if key in cut:
                cut[key] = None
                cut[f"{key}_truncated"] = True
        return session.record(kind, cut)


def relative_path(repo: Repository, raw: str, cwd: Any) -> str | None:
    """``raw`` (absolute, or relative to ``cwd``) relative to the work tree; None outside it."""
    path = Path(raw)
    if not path.is_absolute():
        path = Path(cwd if isinstance(cwd, str) and cwd else repo.toplevel) / path
    real = os.path.realpath(path)
    top = os.path.realpath(repo.toplevel)
    rel = os.path.relpath(real, top)
    if rel == "." or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    first = Path(rel).parts[0]
    if first == ".git":
        return None
    return Path(rel).as_posix()


def digest(text: str) -> str:
    """A fingerprint of a response text, to record it once from hook or transcript."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def hook_response(repo: Repository, session: Session, text: Any) -> Event | None:
    """The turn's final text from a hook, unless the transcript reader just recorded it."""
    if not isinstance(text, str) or not text.strip():
        return None
    common = repo.paths.common_dir
    key = digest(text)
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        if key in state.transcript_responses:
            state.transcript_responses.remove(key)
            ts.save(common, state)
            return None
        event = session.record("response", {"text": text, "source": "hook"})
        state.hook_responses.append(key)
        ts.save(common, state)
    return event


def transcript_response(
    session: Session, state: ts.TranscriptState, text: str, base: dict[str, Any]
) -> list[Event]:
    """A response read from a transcript, unless the hook already recorded the same text."""
    key = digest(text)
    if key in state.hook_responses:
        state.hook_responses.remove(key)  # the Stop hook recorded it already
        return []
    state.transcript_responses.append(key)
    return [record_fitting(session, "response", {"text": text, **base})]


def remember(
    repo: Repository, agent: str, sid: str, transcript: str | None, model: str | None = None
) -> ts.TranscriptState:
    """The session's transcript state, storing its agent, a new transcript path or model."""
    common = repo.paths.common_dir
    state = ts.load(common, sid)
    same_path = transcript is None or (
        state.transcript_path == transcript and state.worktree == repo.worktree
    )
    if same_path and (model is None or state.model == model) and state.agent == agent:
        return state
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        state.agent = agent
        state.worktree = state.worktree or repo.worktree
        if transcript is not None:
            state.transcript_path = transcript
            state.worktree = repo.worktree
        if model is not None:
            state.model = model
        ts.save(common, state)
    return state


def agent_session(
    repo: Repository, agent: str, sid: str, state: ts.TranscriptState, *, resume: bool = True
) -> Session:
    """A handle on ``sid``: started when unknown, resumed when ended (if ``resume``).

    Agents bring their own session ids, and an event can arrive for a session bitloops
    never saw start (enabled mid-session). The transcript's model, once known, is the one
    the API answered with, so later events carry it.
    """
    try:
        session = repo.session(sid)
    except SessionNotFound:
        session = repo.start_session(agent, model=state.model, session_id=sid)
    else:
        if session.ended and resume:
            session = repo.start_session(agent, model=state.model, session_id=sid)
    if state.model:
        session.set_model(state.model)
    return session


def open_transcripts(
    repo: Repository, agent: str, *, untagged: bool = False
) -> list[tuple[str, str]]:
    """(session id, transcript path) of ``agent``'s sessions open in this worktree.

    Only the agent's own sessions: each agent's transcripts have their own format.
    ``untagged`` also takes states that name no agent (written before they did).
    """
    # The sessions status() calls active or idle, without the counts status() also makes.
    open_here = {
        info.session_id
        for info in repo.store.sessions(worktree=repo.worktree)
        if info.status != "ended"
    }
    agents = ("", agent) if untagged else (agent,)
    return sorted(
        (state.session_id, state.transcript_path)
        for state in ts.load_all(repo.paths.common_dir)
        if state.agent in agents
        and state.session_id in open_here
        and state.transcript_path
        and state.worktree in (None, repo.worktree)
    )


def run_payload_hook(
    name: str,
    handle: Callable[..., Any],
    where: Callable[[Mapping[str, Any], Any], list[str]],
    stdin: IO[Any],
    cwd: Path,
    err: IO[str],
) -> str | None:
    """``bitloops hook NAME``: read one JSON payload from ``stdin`` and ``handle`` it.

    Never raises and never writes to standard output, so the hook can always exit 0 (an
    agent treats some exit codes as "block"). A failure is appended to ``<git common
    dir>/bitloops/hooks.log`` when a work tree can be found from ``where(payload, cwd)``
    or ``cwd``, and one line without a traceback goes to ``err``. Returns None when it
    worked, else where the failure went.
    """
    from ..gitutil import Git, RepoPaths
    from ..hooks import _log_failure

    paths: RepoPaths | None = None
    try:
        isatty = getattr(stdin, "isatty", None)
        raw = b"" if isatty is not None and isatty() else stdin.read()
        if isinstance(raw, str):  # a text stream: its bytes as they came
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPayload("the hook payload is not valid UTF-8") from None
        if not text.strip():
            raise InvalidPayload("the hook payload is empty (expected one JSON object)")
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise InvalidPayload(f"the hook payload is not JSON: {exc}") from None
        if isinstance(payload, dict):
            for place in where(payload, cwd):
                try:
                    paths = Git.locate(place)
                    break
                except (NotAGitRepository, TypeError, ValueError):
                    continue
        handle(payload, cwd=cwd)
    except Exception:
        if paths is None:
            try:
                paths = Git.locate(cwd)
            except Exception:
                paths = None
        try:
            logged = _log_failure(paths, name) if paths is not None else None
        except Exception:
            logged = None
        try:
            err.write(
                f"bitloops: the {name} hook failed (the agent is unaffected)"
                + (f"; see {logged}\n" if logged else "\n")
            )
        except (OSError, ValueError):
            pass
        return logged or "nowhere (no git work tree found)"
    return None
