"""What every agent integration shares: its hook command, its sessions, its transcript state.

Each agent module maps its own payloads and reads its own transcript format; these pieces
are the same for all of them but for the agent's name, so they live here once: checking
and reading payloads, finding the repository, recording once from hook or transcript, the
per-session reading loop and a base for its readers, file changes, the hook command.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import (
    DatabaseBusy,
    InvalidEvent,
    InvalidPayload,
    NotAGitRepository,
    PayloadTooLarge,
    SessionNotFound,
)

# The hook's fast path (see direct.py) must not import attrs or typing: the transcript
# state (an attrs class), pathlib and hashlib are imported by the functions that use them.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import IO, Any, Protocol

    from ..model import Event
    from ..redact import Redactor
    from ..repository import Repository
    from ..session import Session
    from . import transcript_state as ts
    from .direct import Located

    #: Events a hook records, unwritten: ``(kind, payload, artefacts, fit)``. ``fit``
    #: cuts the payload to an excerpt when too large (:func:`record_fitting`); an
    #: artefact of None is a file only git can say was added (the light path gives way).
    Planned = list[tuple[str, dict[str, Any], tuple[str | None, ...], bool]]
else:
    Protocol = object  # LineReader is for type checkers; at run time a plain base class

__all__ = [
    "MAX_HOOK_BYTES",
    "MAX_JSON_BYTES",
    "LineReader",
    "TranscriptReader",
    "added_or_modified",
    "agent_session",
    "decoded",
    "digest",
    "drain_spool",
    "end_session",
    "event_and_session",
    "fit_payload",
    "home_dir",
    "hook_reasoning",
    "hook_response",
    "importing",
    "is_importing",
    "json_document",
    "json_file",
    "json_object",
    "mapping",
    "once",
    "open_first",
    "open_repository",
    "open_transcripts",
    "patch_files",
    "read_new_lines",
    "record_fitting",
    "record_planned",
    "relative_path",
    "relative_to_top",
    "remember",
    "require_object",
    "run_payload_hook",
    "session_after_read",
    "spool_entry",
    "stop_turn",
    "text_field",
    "transcript_reasoning",
    "transcript_response",
    "where_to_look",
    "whole_lines",
]

#: A whole-JSON transcript or export file larger than this is not read.
MAX_JSON_BYTES = 64 * 1024 * 1024
# One line of an apply_patch envelope naming a file (its action and path), and the line
# that may follow an Update. Compiled on first use (re caches it), not by every hook.
_PATCH_FILE = r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$"
_MOVE_TO = r"^\*\*\* Move to: (.+?)\s*$"
_PATCH_CHANGES = {"Add": "added", "Update": "modified", "Delete": "deleted"}


# -- payloads -------------------------------------------------------------------------------


def require_object(payload: Any, what: str) -> None:
    """Raise :class:`~bitloops.InvalidPayload` unless ``payload`` is a mapping.

    ``what`` names it in the message (``"a Codex hook payload"``).
    """
    if not isinstance(payload, Mapping):
        raise InvalidPayload(f"{what} is a JSON object, not {type(payload).__name__}")


def event_and_session(payload: Any, what: str, *sid_keys: str) -> tuple[str, str]:
    """The ``hook_event_name`` and session id of a hook payload, checked in that order.

    The session id is the first of ``sid_keys`` holding a non-empty string. Raises
    :class:`~bitloops.InvalidPayload` for a non-object (see :func:`require_object`), or
    when either is missing.
    """
    require_object(payload, what)
    name = payload.get("hook_event_name")
    if not isinstance(name, str) or not name:
        raise InvalidPayload("the payload has no hook_event_name string")
    sid = text_field(payload, *sid_keys)
    if sid is None:
        raise InvalidPayload(f"the payload has no {sid_keys[0]} string")
    return name, sid


def text_field(payload: Any, *keys: str) -> str | None:
    """The first of ``keys`` whose value is a non-empty string (None for a non-mapping)."""
    if not isinstance(payload, Mapping):
        return None
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def decoded(value: Any) -> Any:
    """``value``, or what it holds when it is a JSON object or array written as a string."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def home_dir(env: str, default: str) -> str:
    """``$env`` when set, else ``~/<default>``."""
    return os.environ.get(env) or os.path.join(os.path.expanduser("~"), default)


class LineReader(Protocol):
    """**Protocol:** turns an agent's transcript lines into recorded events.

    Inheriting from it is optional. ``line`` gets each complete line (bytes, with its
    newline); ``flush`` records what a batch left pending (usage notes, tool calls
    without their output yet).
    """

    def line(self, raw: bytes) -> list[Event]:
        """The events one transcript line records."""

    def flush(self) -> list[Event]:
        """The events left pending at the end of a batch."""


def read_new_lines(
    repo: Repository,
    agent: str,
    sid: str,
    transcript: str | None,
    make_reader: Callable[[Session, ts.TranscriptState], LineReader],
    *,
    max_seconds: float,
    max_lines: int = 20000,
    resume: bool,
    whole: Callable[[Any, LineReader], list[Event]] | None = None,
    final: bool = False,
    state_key: str | None = None,
    counted: list[int] | None = None,
) -> list[Event]:
    """Record what a transcript gained since the last call, under the session's state lock.

    Reads from the byte offset where the previous call stopped; a file that shrank or was
    replaced (another inode) is read again from the start (readers skip what they already
    recorded). A last line without its newline waits for the next call (it may still be
    being written), unless ``final`` (or inside :func:`whole_lines`: an import, a session's
    end, the catch-up before a promotion) and it is a complete JSON object: agents such as
    Claude Code end their file without one. ``state_key`` keeps the reading state under
    another name than ``sid`` (a subagent's own file, recorded in its parent's session).
    ``counted``: the events are counted into ``counted[0]`` instead of returned (a whole
    file's import keeps none of them in memory). Stops after
    ``max_seconds`` or ``max_lines``. An ended session records nothing unless ``resume``
    (for agents with no session-end hook). ``whole`` reads a file that is one JSON
    document rather than lines, all of it each time: it gets the document (None when not
    JSON or over :data:`MAX_JSON_BYTES`). No ``transcript`` records nothing.
    """
    from . import transcript_state as ts

    if transcript is None:
        return []

    common = repo.paths.common_dir
    deadline = time.monotonic() + max_seconds
    final = final or _WHOLE_LINES.get()
    key = sid if state_key is None else state_key
    events: list[Event] = []
    with ts.locked(common, key):
        state = ts.load(common, key)
        state.agent = state.agent or agent
        state.transcript_path = transcript
        state.worktree = state.worktree or repo.worktree
        try:
            info = os.stat(transcript)
            fh = open(transcript, "rb")  # noqa: SIM115 - closed by the with below
        except (OSError, ValueError):  # ValueError: a path holding a NUL
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

            def keep(recorded: list[Event]) -> None:
                if counted is None:
                    events.extend(recorded)
                else:
                    counted[0] += len(recorded)

            if whole is not None:
                with repo.store.transaction():
                    keep(whole(json_document(fh, info.st_size), reader))
                    state.offset = info.st_size
                    keep(reader.flush())
                ts.save(common, state)
                return events
            fh.seek(state.offset)
            left = max(0, max_lines)
            more = True
            while more:
                # A batch of lines is one transaction (one sync, not one per event), and
                # the state is saved once it committed: a failure reads the batch again.
                with repo.store.transaction():
                    stop = min(deadline, time.monotonic() + _BATCH_SECONDS)
                    for _ in range(min(left, _BATCH_LINES)):
                        if time.monotonic() > stop:
                            more = time.monotonic() <= deadline
                            break
                        line = fh.readline()
                        if not line.endswith(b"\n") and not (
                            final and line.strip() and json_object(line) is not None
                        ):
                            more = False
                            break  # the end, or a line still being written
                        keep(reader.line(line))
                        state.offset += len(line)
                        left -= 1
                    more = more and left > 0
                    if not more:
                        keep(reader.flush())
                ts.save(common, state)
    return events


# Lines read in one transaction, and for how long, at most: other hooks wait meanwhile.
_BATCH_LINES = 2000
_BATCH_SECONDS = 0.25


_WHOLE_LINES: ContextVar[bool] = ContextVar("bitloops_whole_lines", default=False)


@contextmanager
def whole_lines() -> Iterator[None]:
    """Inside it, :func:`read_new_lines` takes a last line without its newline when it is
    a complete JSON object: for reads that are the last for a while (an import, a
    session's end, the catch-up before a promotion), whatever agent's reader runs."""
    token = _WHOLE_LINES.set(True)
    try:
        yield
    finally:
        _WHOLE_LINES.reset(token)


_IMPORTING: ContextVar[bool] = ContextVar("bitloops_importing", default=False)


@contextmanager
def importing() -> Iterator[None]:
    """Inside it, readers leave the sessions they reopen open: :mod:`bitloops.importing`
    ends them once, when the whole file is recorded. Also :func:`whole_lines`."""
    token = _IMPORTING.set(True)
    try:
        with whole_lines():
            yield
    finally:
        _IMPORTING.reset(token)


def is_importing() -> bool:
    """Whether an import runs (see :func:`importing`)."""
    return _IMPORTING.get()


def where_to_look(payload: Mapping[str, Any], cwd: str | os.PathLike[str] | None) -> list[str]:
    """The directories to find the work tree from: the payload's ``cwd``, then ``cwd``."""
    places = []
    if isinstance(payload.get("cwd"), str) and payload["cwd"]:
        places.append(payload["cwd"])
    if cwd is not None:
        places.append(os.fspath(cwd))
    return places


def open_repository(
    payload: Mapping[str, Any], cwd: str | os.PathLike[str] | None
) -> AbstractContextManager[Repository]:
    """The repository of the first of :func:`where_to_look` inside a work tree."""
    empty = "the payload has no cwd and no directory was given"
    return open_first(where_to_look(payload, cwd), empty=empty)


@contextmanager
def open_first(
    places: Sequence[str], *, empty: str = "the payload names no directory and none was given"
) -> Iterator[Repository]:
    """The repository of the first of ``places`` inside a git work tree.

    Raises :class:`~bitloops.NotAGitRepository` saying ``empty`` when there is no place,
    else the error of the first place tried.
    """
    from ..repository import Repository

    if not places:
        raise NotAGitRepository(empty)
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
    cut = _excerpts(payload, session.max_payload_bytes)
    try:
        return session.record(kind, cut)
    except PayloadTooLarge:
        return session.record(kind, _without_io(cut))


def record_planned(
    agent: str,
    hook: str,
    located: Located,
    payload: dict[str, Any],
    *,
    session_id: str,
    transcript: str | None,
    planned: Planned,
    accept: Callable[[dict[str, Any]], bool] | None = None,
) -> bool:
    """Record ``planned`` events of an open session on the light path; False to take
    the full one.

    The light path is for the common hook of a session already started: it reads the
    settings and the session's state from their files, redacts and prepares each
    payload as :class:`~bitloops.Session` would, and writes all of them in one
    transaction with :mod:`bitloops.store.live` (see :func:`.direct.write` for when it
    gives way; ``accept``, given the session's transcript state as a dict, can turn it
    down too). Past the hook's busy bound the payload is spooled, as the full path
    does. Nothing is written when it returns False.
    """
    from ..codec import prepare_payload
    from . import direct

    settings = direct.read_settings(located[0])
    if settings is None:
        return False
    redactor = direct.redactor(settings)
    limit = settings["max_payload_bytes"]
    events: list[tuple[str, str, tuple[str, ...]]] = []
    try:
        for kind, data, arts, fit in planned:
            if None in arts:
                return False  # git must say whether the file is new
            text = (
                fit_payload(data, redactor, limit)[1]
                if fit
                else prepare_payload(data, redactor, limit)
            )
            for art in arts:
                assert art is not None
                art.encode("utf-8")  # what Session checks of an artefact
            events.append((kind, text, tuple(redactor.redact(a) for a in arts if a)))
    except (InvalidEvent, UnicodeEncodeError):
        return False  # the full path raises it again, and the hook quarantines it
    result = direct.write(
        located, settings, agent=agent, session_id=session_id, transcript=transcript,
        events=events, accept=accept,
    )  # fmt: skip
    if result == direct.BUSY:
        from .. import spool

        entry = spool_entry(hook, located[0], payload, redactor)
        wait = settings["hook_busy_timeout_ms"] / 1000
        return spool.append(located[2], entry, durable=settings["durability"] == "full", wait=wait)
    return result == direct.DONE


def fit_payload(
    payload: dict[str, Any], redactor: Redactor, max_bytes: int
) -> tuple[dict[str, Any], str]:
    """What :func:`record_fitting` would record, and its stored JSON, writing nothing.

    Raises what recording would raise (:class:`~bitloops.PayloadTooLarge` when even
    without ``input`` and ``output`` it is too large).
    """
    from ..codec import prepare_payload

    try:
        return payload, prepare_payload(payload, redactor, max_bytes)
    except PayloadTooLarge:
        pass
    cut = _excerpts(payload, max_bytes)
    try:
        return cut, prepare_payload(cut, redactor, max_bytes)
    except PayloadTooLarge:
        cut = _without_io(cut)
        return cut, prepare_payload(cut, redactor, max_bytes)


def _excerpts(payload: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    limit = max(256, max_bytes // 4)
    cut = dict(payload)
    for key in ("output", "input"):
        if key in cut:
            text = cut[key] if isinstance(cut[key], str) else json.dumps(cut[key], default=str)
            if len(text) > limit:
                cut[key] = text[:limit]
                cut[f"{key}_truncated"] = True
    return cut


def _without_io(cut: dict[str, Any]) -> dict[str, Any]:
    cut = dict(cut)
    for key in ("output", "input"):
        if key in cut:
            cut[key] = None
            cut[f"{key}_truncated"] = True
    return cut


def relative_path(repo: Repository, raw: str, cwd: Any) -> str | None:
    """``raw`` (absolute, or relative to ``cwd``) relative to the work tree; None outside it."""
    return relative_to_top(str(repo.toplevel), raw, cwd)


def relative_to_top(top: str, raw: str, cwd: Any) -> str | None:
    """:func:`relative_path` given the work tree's top directory (no Repository needed)."""
    path = (
        raw
        if os.path.isabs(raw)
        else os.path.join(cwd if isinstance(cwd, str) and cwd else top, raw)
    )
    real = os.path.realpath(path)
    rel = os.path.relpath(real, os.path.realpath(top))
    if rel == "." or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    if rel.split(os.sep)[0] == ".git":
        return None
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def added_or_modified(repo: Repository, rel: str) -> str:
    """How a write changed ``rel``: ``"modified"`` when git tracks it, else ``"added"``."""
    tracked = repo.git.try_run("ls-files", "--error-unmatch", "--", rel)
    return "modified" if tracked else "added"


def patch_files(text: str) -> list[tuple[str, str, str | None]]:
    """(path, change, moved to) of each file an ``apply_patch`` envelope names, as written.

    ``change`` is added, modified or deleted; ``moved to`` is the path of the ``*** Move
    to:`` line right after an ``Update`` (None when there is none).
    """
    out: list[tuple[str, str, str | None]] = []
    for match in re.finditer(_PATCH_FILE, text, re.MULTILINE):
        move = None
        if match.group(1) == "Update":
            move = re.match(_MOVE_TO, text[match.end() :].lstrip("\n"), re.MULTILINE)
        out.append(
            (match.group(2), _PATCH_CHANGES[match.group(1)], move.group(1) if move else None)
        )
    return out


def digest(text: str) -> str:
    """A fingerprint of a response text, to record it once from hook or transcript."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def hook_response(repo: Repository, session: Session, text: Any) -> Event | None:
    """The turn's final text from a hook, unless the transcript reader just recorded it."""
    if not isinstance(text, str) or not text.strip():
        return None
    payload = {"text": text, "source": "hook"}
    return _from_hook(repo, session, digest(text), "response", payload, fit=False)


def hook_reasoning(
    repo: Repository, session: Session, text: str, extra: Mapping[str, Any]
) -> Event | None:
    """Reasoning a hook carried, unless the transcript reader recorded the same text."""
    if not text.strip():
        return None
    key = _reasoning_key(text)
    return _from_hook(repo, session, key, "reasoning", {"text": text, **extra}, fit=True)


def transcript_response(
    session: Session, state: ts.TranscriptState, text: str, base: Mapping[str, Any]
) -> list[Event]:
    """A response read from a transcript, unless the hook already recorded the same text."""
    return _from_transcript(session, state, digest(text), "response", {"text": text, **base})


def transcript_reasoning(
    session: Session, state: ts.TranscriptState, text: str, base: Mapping[str, Any]
) -> list[Event]:
    """Reasoning read from a transcript, unless a hook recorded the same text."""
    key = _reasoning_key(text)
    return _from_transcript(session, state, key, "reasoning", {"text": text, **base})


def _reasoning_key(text: str) -> str:
    return "reasoning:" + digest(text.strip())


def _from_hook(
    repo: Repository, session: Session, key: str, kind: str, payload: dict[str, Any], *, fit: bool
) -> Event | None:
    """Record a text a hook carried, unless the transcript recorded ``key`` first.

    Either side records a text the other has not: the one that finds the other's key
    takes it back instead (hooks and transcripts arrive in either order).
    """
    from . import transcript_state as ts

    common = repo.paths.common_dir
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        if key in state.transcript_responses:
            state.transcript_responses.remove(key)
            ts.save(common, state)
            return None
        event = record_fitting(session, kind, payload) if fit else session.record(kind, payload)
        state.hook_responses.append(key)
        ts.save(common, state)
    return event


def _from_transcript(
    session: Session, state: ts.TranscriptState, key: str, kind: str, payload: dict[str, Any]
) -> list[Event]:
    """:func:`_from_hook` for a transcript reader, which holds the state's lock already."""
    if key in state.hook_responses:
        state.hook_responses.remove(key)
        return []
    state.transcript_responses.append(key)
    return [record_fitting(session, kind, payload)]


def once(repo: Repository, sid: str, key: str) -> bool:
    """True the first time ``key`` is claimed for session ``sid`` (kept in its state file).

    For hook events an agent may send twice (two hooks for one tool call, a plugin loaded
    from two places); the check and the claim happen under the session's state lock.
    """
    from . import transcript_state as ts

    common = repo.paths.common_dir
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        if key in state.seen:
            return False
        state.seen.append(key)
        ts.save(common, state)
    return True


def remember(
    repo: Repository, agent: str, sid: str, transcript: str | None, model: str | None = None
) -> ts.TranscriptState:
    """The session's transcript state, storing its agent, a new transcript path or model."""
    from . import transcript_state as ts

    if transcript is not None and "\x00" in transcript:
        raise InvalidPayload("the payload's transcript path holds a NUL character")
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


def require_fits(repo: Repository, text: Any) -> None:
    """Raise :class:`~bitloops.PayloadTooLarge` (or ``InvalidPayload``) now for a text
    that could not be recorded, before a hook starts a session or writes anything."""
    from ..codec import prepare_payload

    prepare_payload({"text": text}, repo.redactor, repo.settings.max_payload_bytes)


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


def session_after_read(repo: Repository, agent: str, sid: str, *, resume: bool = True) -> Session:
    """:func:`agent_session` again after a transcript read, which may have learnt the model."""
    from . import transcript_state as ts

    return agent_session(repo, agent, sid, ts.load(repo.paths.common_dir, sid), resume=resume)


def stop_turn(
    repo: Repository, agent: str, sid: str, events: list[Event], text: Any
) -> list[Event]:
    """The end of a turn: ``events`` read from the transcript, then the hook's final
    ``text`` as a response unless the transcript brought it (see :func:`hook_response`)."""
    event = hook_response(repo, session_after_read(repo, agent, sid), text)
    return events if event is None else [*events, event]


def end_session(
    repo: Repository,
    agent: str,
    session: Session,
    read: Callable[[], list[Event]],
    reason: Any,
) -> list[Event]:
    """A session-end hook: what the transcript still holds (``read``), then the end.

    Nothing for a session that has ended already (its transcript is not read). The
    ``reason`` is kept when it is a non-empty string.
    """
    if session.ended:
        return []
    with whole_lines():  # the agent has finished writing
        events = read()
    session = session_after_read(repo, agent, session.session_id, resume=False)
    end = session.end(reason if isinstance(reason, str) and reason else None)
    return events if end is None else [*events, end]


def open_transcripts(
    repo: Repository, agent: str, *, untagged: bool = False
) -> list[tuple[str, str]]:
    """(session id, transcript path) of ``agent``'s sessions open in this worktree.

    Only the agent's own sessions: each agent's transcripts have their own format.
    ``untagged`` also takes states that name no agent (written before they did).
    """
    from . import transcript_state as ts

    # The sessions status() calls active or idle, without the counts status() also makes.
    open_here = {
        info.session_id
        for info in repo.store.sessions(worktree=repo.worktree)
        if info.status != "ended"
    }
    agents = ("", agent) if untagged else (agent,)
    # Only the open sessions' state files: ended sessions' files pile up by the thousand.
    states = (ts.load(repo.paths.common_dir, sid) for sid in open_here)
    return sorted(
        (state.session_id, state.transcript_path)
        for state in states
        if state.agent in agents
        and state.transcript_path
        and state.worktree in (None, repo.worktree)
    )


# -- reading transcripts --------------------------------------------------------------------


class TranscriptReader:
    """A base for the agents' line readers: the session, its state, the keys recorded.

    ``seen`` mirrors the state's list of keys already recorded; :meth:`flush` records the
    token usage notes queued by :meth:`queue_usage` (the last one of a message wins).
    """

    def __init__(self, session: Session, state: ts.TranscriptState) -> None:
        self.session = session
        self.state = state
        self.seen = set(state.seen)
        self.usage_done = set(state.usage_done)
        # message id -> the usage note to record at the end of the batch
        self.usage: dict[str, dict[str, Any]] = {}

    def mark(self, *keys: str) -> None:
        """Remember ``keys`` as recorded (in the state :func:`read_new_lines` saves)."""
        for key in keys:
            if key not in self.seen:
                self.seen.add(key)
                self.state.seen.append(key)

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen, which then remembers it."""
        if key in self.seen:
            return False
        self.mark(key)
        return True

    def set_model(self, model: Any) -> None:
        """Take ``model``, when a non-empty string, as the session's model from now on."""
        if isinstance(model, str) and model:
            self.state.model = model
            self.session.set_model(model)

    def response(self, text: str, base: Mapping[str, Any]) -> list[Event]:
        """See :func:`transcript_response`."""
        return transcript_response(self.session, self.state, text, base)

    def reasoning(self, text: str, base: Mapping[str, Any]) -> list[Event]:
        """See :func:`transcript_reasoning`."""
        return transcript_reasoning(self.session, self.state, text, base)

    def queue_usage(self, message_id: str, note: dict[str, Any]) -> None:
        """Queue the usage ``note`` of a message whose usage is not recorded yet."""
        if message_id not in self.usage_done:
            self.usage[message_id] = note

    def line(self, raw: bytes) -> list[Event]:
        """The events one transcript line records (none here)."""
        return []

    def flush(self) -> list[Event]:
        """Record the queued usage notes."""
        events = []
        for message_id, note in self.usage.items():
            events.append(self.session.record("note", note))
            self.usage_done.add(message_id)
            self.state.usage_done.append(message_id)
        self.usage.clear()
        return events


def json_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object one transcript line holds; None for any other line."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def json_document(fh: IO[bytes], size: int) -> Any:
    """The JSON value of the open file of ``size`` bytes; None when over
    :data:`MAX_JSON_BYTES` or not UTF-8 JSON."""
    if size > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(fh.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def json_file(path: str | os.PathLike[str]) -> Any:
    """:func:`json_document` of the file at ``path``; raises :class:`OSError` when unreadable."""
    with open(path, "rb") as fh:
        return json_document(fh, os.fstat(fh.fileno()).st_size)


# -- the hook command -----------------------------------------------------------------------

#: A hook payload larger than this is quarantined (cut), not parsed. A tool call's output
#: is cut to ``max_payload_bytes`` when recorded anyway; this bounds the memory a hook uses.
MAX_HOOK_BYTES = 64 * 1024 * 1024
# How much of a quarantined payload is kept, in characters.
_QUARANTINE_CHARS = 1_048_576
# How long a hook may spend replaying spooled entries before it spools its own as well,
# as a multiple of the hook's busy bound.
_DRAIN_BUDGET = 2.0


def run_payload_hook(
    name: str,
    handle: Callable[..., Any],
    where: Callable[[Mapping[str, Any], Any], list[str]],
    stdin: IO[Any],
    cwd: str | os.PathLike[str],
    err: IO[str],
    *,
    fast: Callable[[Located, dict[str, Any]], bool] | None = None,
) -> str | None:
    """``bitloops hook NAME``: read one JSON payload from ``stdin`` and ``handle`` it.

    Never raises and never writes to standard output, so the hook can always exit 0 (an
    agent treats some exit codes as "block"). Every wait is bounded:

    - a payload that is not UTF-8, not JSON, not an object, over :data:`MAX_HOOK_BYTES`,
      or that ``handle`` rejects (:class:`~bitloops.InvalidEvent`) is kept, redacted, in
      the database's quarantine (``bitloops doctor`` reports it) and noted in ``<git
      common dir>/bitloops/hooks.log``;
    - when the database stays locked past ``hook_busy_timeout_ms``, the payload goes,
      redacted, to the spool (:mod:`bitloops.spool`), and the next hook replays it
      before its own; a hook finding a spool replays it first;
    - any other failure is appended to ``hooks.log`` with its traceback.

    In the last two cases one line without a traceback goes to ``err``. ``fast``, given
    the work tree found by :func:`bitloops.integrations.direct.locate` and the payload,
    may record it without the object model and return True; on False the full path runs.
    Returns None when the payload was recorded (or spooled), else where the failure went.
    """
    places: list[str] = [os.fspath(cwd)]
    try:
        raw = _read_stdin(stdin)
        payload, problem = _decode(raw)
        if isinstance(payload, dict):
            try:
                places = [*where(payload, cwd), os.fspath(cwd)]
            except Exception:  # a payload too odd to point anywhere: the hook's directory
                places = [os.fspath(cwd)]
        if problem is None and fast is not None:
            from .direct import locate

            # The first place only: when git must decide about it, the full path does.
            located = locate(places[0])
            if located is not None and fast(located, payload):
                return None
        return _full_path(name, handle, raw, payload, problem, places, cwd, err)
    except Exception:
        return _log_failure(name, places, err)


def _read_stdin(stdin: IO[Any]) -> bytes:
    isatty = getattr(stdin, "isatty", None)
    if isatty is not None and isatty():
        return b""
    raw = stdin.read(MAX_HOOK_BYTES + 1)
    if isinstance(raw, str):  # a text stream: its bytes as they came
        raw = raw.encode("utf-8", "surrogateescape")
    return bytes(raw)


def _decode(raw: bytes) -> tuple[Any, str | None]:
    """The payload, and why it cannot be recorded (None when it may be)."""
    if len(raw) > MAX_HOOK_BYTES:
        return None, f"the hook payload is over {MAX_HOOK_BYTES} bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the hook payload is not valid UTF-8"
    if not text.strip():
        return None, "the hook payload is empty (expected one JSON object)"
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"the hook payload is not JSON: {exc}"
    if not isinstance(payload, dict):
        return payload, f"the hook payload is a JSON {type(payload).__name__}, not an object"
    return payload, None


def _full_path(
    name: str,
    handle: Callable[..., Any],
    raw: bytes,
    payload: Any,
    problem: str | None,
    places: list[str],
    cwd: str | os.PathLike[str],
    err: IO[str],
) -> str | None:
    import attrs

    from ..gitutil import Git, RepoPaths
    from ..repository import Repository

    paths: RepoPaths | None = None
    for place in places:
        try:
            paths = Git.locate(place)
            break
        except (NotAGitRepository, TypeError, ValueError):
            continue
    if paths is None:
        if problem is not None:
            raise InvalidPayload(problem)
        handle(payload, cwd=cwd)  # raises NotAGitRepository, saying where it looked
        return None
    with Repository.open(paths.toplevel) as repo:
        bound = repo.settings.hook_busy_timeout_ms
        repo.settings = attrs.evolve(repo.settings, busy_timeout_ms=bound)
        # The same bound for a session's transcript lock: past it, the payload is spooled.
        from . import transcript_state

        transcript_state.LOCK_WAIT = bound / 1000
        if problem is not None:
            return _quarantine(repo, name, problem, raw, err)
        try:
            # Opened now, with the hook's bound: handle's Repository shares this connection.
            repo.store  # noqa: B018
            if not drain_spool(repo, budget=_DRAIN_BUDGET * bound / 1000):
                _spool(repo, name, payload, cwd)  # behind what is still spooled, in order
                # The drainer may have finished meanwhile without seeing it: try once more.
                drain_spool(repo, budget=_DRAIN_BUDGET * bound / 1000, wait=0.0)
                return None
            # Not one transaction around it all: modules take a session's transcript lock
            # before the database's (as a promotion's catch-up does); holding the write
            # lock first would invert that order. Modules check a payload before their
            # first write instead (see require_fits).
            handle(payload, cwd=cwd)
        except InvalidEvent as exc:
            return _quarantine(repo, name, str(exc), raw, err)
        except DatabaseBusy:
            _spool(repo, name, payload, cwd)
    return None


# Payload keys that name where and which session, not what was said: never redacted
# in the spool (the transcript state keeps them as they are too).
_ROUTING_FIELDS = (
    "transcript_path",
    "transcriptPath",
    "cwd",
    "session_id",
    "sessionId",
    "conversation_id",
    "hook_event_name",
    "hookEventName",
)


def spool_entry(
    agent: str, cwd: str | os.PathLike[str], payload: Any, redactor: Redactor
) -> dict[str, Any]:
    """The spool entry of a hook payload: redacted, with the agent, directory and time."""
    from datetime import UTC, datetime

    from ..codec import format_ts, new_id

    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    try:
        text = redactor.redact_json(text)
    except ValueError:  # NaN or infinity: redact it as text; the replay quarantines it
        text = redactor.redact(text)
    else:
        # Fields that route the event rather than describe the work keep their value:
        # a transcript path such as rollout-2026-06-01T10-00-00-<uuid>.jsonl looks like a
        # high-entropy token, and a redacted one would lose the transcript.
        if isinstance(payload, Mapping):
            kept = {
                key: payload[key]
                for key in _ROUTING_FIELDS
                if isinstance(payload.get(key), str) and len(payload[key]) <= 4096
            }
            if kept:
                text = json.dumps(
                    {**json.loads(text), **kept},
                    ensure_ascii=False,
                    sort_keys=True,
                    separators=(",", ":"),
                )
    return {
        "id": new_id(),
        "received_at": format_ts(datetime.now(UTC)),
        "agent": agent,
        "cwd": os.fspath(cwd),
        "payload": text,
    }


def _spool(repo: Repository, name: str, payload: Any, cwd: str | os.PathLike[str]) -> None:
    from .. import spool
    from ..errors import StoreError

    entry = spool_entry(name, cwd, payload, repo.redactor)
    wait = repo.settings.hook_busy_timeout_ms / 1000
    durable = repo.settings.durability == "full"
    if not spool.append(repo.paths.common_dir, entry, durable=durable, wait=wait):
        raise StoreError("the database and the hook spool both stayed locked; the event is lost")


def _quarantine(repo: Repository, name: str, reason: str, raw: bytes, err: IO[str]) -> str:
    """Keep the payload, redacted, in the quarantine; note it in hooks.log and ``err``."""
    from .. import spool
    from ..codec import format_ts

    text = raw.decode("utf-8", "backslashreplace")
    if len(text) > _QUARANTINE_CHARS:
        reason += f" (the first {_QUARANTINE_CHARS} of {len(text)} characters are kept)"
        text = text[:_QUARANTINE_CHARS]
    text = repo.redactor.redact(text)
    reason = repo.redactor.redact(reason)
    try:
        repo.store.add_quarantine(agent=name, source="hook", reason=reason, payload=text)
    except DatabaseBusy:
        from datetime import UTC, datetime

        now = format_ts(datetime.now(UTC))
        row = {"agent": name, "source": "hook", "reason": reason, "payload": text}
        entry = {"quarantine": {**row, "received_at": now}}
        wait = repo.settings.hook_busy_timeout_ms / 1000
        spool.append(repo.paths.common_dir, entry, durable=True, wait=wait)
    logged = _note(repo.paths.common_dir, f"{name} failed: {reason}; the payload is quarantined")
    try:
        err.write(
            f"bitloops: the {name} hook failed (the agent is unaffected): {reason}; the payload "
            "is kept in the quarantine (see `bitloops doctor`)\n"
        )
    except (OSError, ValueError):
        pass
    return logged


def _note(common_dir: Path, text: str) -> str:
    """Append one line to hooks.log; where it went."""
    from datetime import UTC, datetime

    from ..hooks import LOG_RELATIVE_PATH

    log = common_dir / LOG_RELATIVE_PATH
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {text}\n")
    except OSError:
        return "(the hook log could not be written)"
    return str(log)


def _log_failure(name: str, places: list[str], err: IO[str]) -> str:
    """Append the current exception's traceback to hooks.log; where it went."""
    from ..gitutil import Git
    from ..hooks import _log_failure as log_failure

    paths = None
    for place in places:
        try:
            paths = Git.locate(place)
            break
        except Exception:
            continue
    try:
        logged = log_failure(paths, name) if paths is not None else None
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


def drain_spool(repo: Repository, *, budget: float = 10.0, wait: float | None = None) -> bool:
    """Replay the hook payloads spooled while the database was busy, in order.

    Each is recorded by its agent's ``handle`` as if its hook ran now; one that cannot
    be recorded (it no longer validates) is quarantined. Stops, leaving the rest for
    later, when the database is busy again or after ``budget`` seconds. True when the
    spool is empty. Called by every hook before it records its own payload, and at the
    start of each promotion. ``wait`` bounds the wait for another drainer (default: the
    ``hook_busy_timeout_ms`` setting).
    """
    import importlib

    from .. import spool
    from ..errors import BitloopsError
    from . import AGENTS

    common = repo.paths.common_dir
    if not spool.pending(common):
        return True

    def replay(entry: dict[str, Any]) -> None:
        row = entry.get("quarantine")
        if isinstance(row, dict):
            repo.store.add_quarantine(
                agent=str(row.get("agent")),
                source=str(row.get("source")),
                reason=str(row.get("reason")),
                payload=str(row.get("payload")),
                received_at=str(row.get("received_at")),
            )
            return
        agent = entry.get("agent")
        try:
            module = importlib.import_module(f".{AGENTS[str(agent)]}", __package__)
            module.handle(json.loads(entry["payload"]), cwd=entry.get("cwd"))
        except DatabaseBusy:
            raise
        except Exception as exc:  # it must not block the spool: keep it aside
            repo.store.add_quarantine(
                agent=str(agent),
                source="spool",
                reason=repo.redactor.redact(f"a spooled payload could not be recorded: {exc}"),
                payload=str(entry.get("payload")),
                received_at=str(entry.get("received_at")),
            )

    def bad(line: bytes, reason: str) -> None:
        text = repo.redactor.redact(line.decode("utf-8", "backslashreplace"))
        repo.store.add_quarantine(agent="unknown", source="spool", reason=reason, payload=text)

    if wait is None:
        wait = repo.settings.hook_busy_timeout_ms / 1000
    try:
        return spool.drain(common, replay, bad, wait=wait, budget=budget)
    except (BitloopsError, OSError, TimeoutError):
        return False
