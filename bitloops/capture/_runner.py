"""What every agent integration shares: its hook command, its sessions, its transcript state.

Each agent module maps its own payloads and reads its own transcript format; these pieces
are the same for all of them but for the agent's name, so they live here once: checking
and reading payloads, finding the repository, recording once from hook or transcript, the
per-session reading loop and a base for its readers, file changes, the hook command.
"""

from __future__ import annotations

import os
import time

# Mapping from the module Python loads at start-up: collections.abc, contextlib, json and
# re would cost every hook more than its own work (see bitloops._jsonc and bitloops._rx).
from _collections_abc import Mapping
from contextvars import ContextVar

from bitloops import _jsonc, _rx
from bitloops._lazy import contextmanager
from bitloops.errors import (
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
    from collections.abc import Callable, Iterator, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import IO, Any, Protocol

    from bitloops.capture import _transcript_state as ts
    from bitloops.capture._direct import Located
    from bitloops.capture._recorder import Recorder
    from bitloops.capture._session import Session
    from bitloops.model import Event
    from bitloops.redact import Redactor

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
    "catch_up_light",
    "decoded",
    "digest",
    "drain_spool",
    "end_session",
    "event_and_session",
    "fit_payload",
    "hold_deadline",
    "home_dir",
    "hook_reasoning",
    "hook_response",
    "importing",
    "is_importing",
    "json_document",
    "json_file",
    "json_object",
    "mapping",
    "nothing_to_end",
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
        found = _jsonc.parsed(value, _NOT_JSON)
        return value if found is _NOT_JSON else found
    return value


_NOT_JSON = object()


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
    repo: Recorder,
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
    max_bytes: int | None = None,
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
    ``max_seconds``, ``max_lines`` or ``max_bytes`` (default :data:`MAX_READ_BYTES`, none
    for an import), saving where it stopped (and saying so in hooks.log, once). Only a
    regular file is read (:func:`bitloops.capture._safe_read.open_regular`: a FIFO or a device is
    noted and skipped); a line over :data:`bitloops.capture._safe_read.MAX_LINE_BYTES` is passed
    over, noted, and never read again. An ended session records nothing unless ``resume``
    (for agents with no session-end hook). ``whole`` reads a file that is one JSON
    document rather than lines, all of it each time: it gets the document (None when not
    JSON or over :data:`MAX_JSON_BYTES`). No ``transcript`` records nothing.
    """
    from bitloops.capture import _safe_read as safe_read
    from bitloops.capture import _transcript_state as ts

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
            fh = safe_read.open_regular(transcript)  # a FIFO cannot block; a device is refused
        except OSError as exc:  # missing, unreadable, not a regular file, a name too long
            if not isinstance(exc, FileNotFoundError):  # (not written yet: no news)
                _reading_problem(repo, state, f"cannot read {_shown(transcript)}: {exc}")
            ts.save(common, state)
            return []
        with fh:
            info = os.fstat(fh.fileno())
            if state.offset > info.st_size or (
                state.inode is not None and state.inode != info.st_ino
            ):
                state.offset = 0  # truncated or replaced: readers skip what they recorded
                state.skipping = False
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
            # A byte bound besides the time bound, but for an import (which reads it all).
            budget = max_bytes if max_bytes is not None else (
                None if _IMPORTING.get() else MAX_READ_BYTES
            )  # fmt: skip
            stopped: str | None = None
            more = True
            while more:
                # A batch of lines is one transaction (one sync, not one per event), and
                # the state is saved once it committed: a failure reads the batch again.
                # An import holds its own transaction (all or nothing, its reading states
                # put back on failure): no savepoint per batch, with which SQLite spills
                # and rewrites about twice the pages.
                inside = _IMPORTING.get() and repo.store.in_transaction
                with _Set() if inside else repo.store.transaction():
                    stop = min(deadline, time.monotonic() + _BATCH_SECONDS)
                    for _ in range(min(left, _BATCH_LINES)):
                        if time.monotonic() > stop:
                            more = time.monotonic() <= deadline
                            break
                        if budget is not None and budget <= 0:
                            stopped = "read in parts"
                            more = False
                            break
                        try:
                            if state.skipping:
                                passed = _skip_long_line(fh, state, deadline, budget)
                                if budget is not None:
                                    budget -= passed
                                if state.skipping:
                                    stopped = "passing over a line too long"
                                    more = False
                                    break
                                continue
                            line = fh.readline(safe_read.MAX_LINE_BYTES + 1)
                        except OSError as exc:  # EIO, a file system gone: try again later
                            stopped = f"reading stopped at byte {state.offset}: {exc}"
                            more = False
                            break
                        if budget is not None:
                            budget -= len(line)
                        if len(line) > safe_read.MAX_LINE_BYTES:
                            # Too long to read whole: passed over up to its newline (also
                            # across calls), never read again.
                            state.offset += len(line)
                            # Its newline may have come in the read already (a line of
                            # just the bound): then the next line is read as usual.
                            state.skipping = not line.endswith(b"\n")
                            _reading_problem(
                                repo, state,
                                f"{_shown(transcript)}: a line over "
                                f"{safe_read.MAX_LINE_BYTES} bytes at byte "
                                f"{state.offset - len(line)} is skipped",
                                force=True,
                            )  # fmt: skip
                            continue
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
            if time.monotonic() > deadline and stopped is None and left > 0:
                stopped = "read in parts"
            if stopped is not None and (stopped != "read in parts" or info.st_size > state.offset):
                # The rest is read next time, from the offset saved; said once, not per hook.
                if stopped == "read in parts":
                    stopped = (
                        f"read in parts (at most {_budget_text(max_bytes)} and {max_seconds} s "
                        "at a time)"
                    )
                _reading_problem(
                    repo, state, f"{_shown(transcript)}: {stopped}; the rest is read later"
                )
                ts.save(common, state)
            elif state.problem is not None and not state.skipping:
                state.problem = None
                ts.save(common, state)
    return events


def _shown(path: str) -> str:
    """A path for a note: quoted, its start only when it is very long."""
    return repr(path if len(path) <= 200 else f"{path[:200]}...")


def _budget_text(max_bytes: int | None) -> str:
    """The byte bound of one read, for a note."""
    return f"{MAX_READ_BYTES if max_bytes is None else max_bytes} bytes"


def _skip_long_line(
    fh: IO[bytes], state: ts.TranscriptState, deadline: float, budget: int | None
) -> int:
    """Pass over the rest of an over-long line (within ``budget`` bytes and ``deadline``);
    the bytes passed. ``state.skipping`` stays True when its newline was not reached."""
    from bitloops.capture import _safe_read as safe_read

    bound = (1 << 62) if budget is None else max(0, budget)
    passed, ended = safe_read.skip_line(fh, max_bytes=bound, deadline=deadline)
    state.offset += passed
    if ended:
        state.skipping = False
    return passed


def _reading_problem(
    repo: Recorder, state: ts.TranscriptState, text: str, *, force: bool = False
) -> None:
    """Note a transcript-reading problem in hooks.log, once per problem (kept in the state)."""
    if state.problem == text and not force:
        return
    state.problem = text
    from bitloops.capture._hooklog import write

    write(repo.paths.common_dir, f"{state.agent or 'transcript'}: {text}", redactor=repo.redactor)


#: What one read of a transcript takes at most, in bytes (an import takes it all): the
#: rest is read by the next hook or commit, from where this one stopped.
MAX_READ_BYTES = 128 * 1024 * 1024

# Lines read in one transaction, and for how long, at most: other hooks wait meanwhile.
_BATCH_LINES = 2000
_BATCH_SECONDS = 0.25


_WHOLE_LINES: ContextVar[bool] = ContextVar("bitloops_whole_lines", default=False)


class _Set:
    """Sets context flags to True inside a ``with``; with none, does nothing (a class: no
    contextlib on the hooks' path)."""

    __slots__ = ("_flags", "_tokens")

    def __init__(self, *flags: ContextVar[bool]) -> None:
        self._flags = flags
        self._tokens: list[Any] = []

    def __enter__(self) -> None:
        self._tokens = [flag.set(True) for flag in self._flags]

    def __exit__(self, *exc: object) -> None:
        for flag, token in zip(reversed(self._flags), reversed(self._tokens), strict=True):
            flag.reset(token)


def whole_lines() -> AbstractContextManager[None]:
    """Inside it, :func:`read_new_lines` takes a last line without its newline when it is
    a complete JSON object: for reads that are the last for a while (an import, a
    session's end, the catch-up before a promotion), whatever agent's reader runs."""
    return _Set(_WHOLE_LINES)


_IMPORTING: ContextVar[bool] = ContextVar("bitloops_importing", default=False)


def importing() -> AbstractContextManager[None]:
    """Inside it, readers leave the sessions they reopen open: :mod:`bitloops.capture._importing`
    ends them once, when the whole file is recorded. Also :func:`whole_lines`."""
    return _Set(_IMPORTING, _WHOLE_LINES)


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
) -> AbstractContextManager[Recorder]:
    """The repository of the first of :func:`where_to_look` inside a work tree."""
    empty = "the payload has no cwd and no directory was given"
    return open_first(where_to_look(payload, cwd), empty=empty)


@contextmanager
def open_first(
    places: Sequence[str], *, empty: str = "the payload names no directory and none was given"
) -> Iterator[Recorder]:
    """The repository of the first of ``places`` inside a git work tree.

    Raises :class:`~bitloops.NotAGitRepository` saying ``empty`` when there is no place,
    else the error of the first place tried.
    """
    from bitloops.repository import Repository

    if not places:
        raise NotAGitRepository(empty)
    error: NotAGitRepository | None = None
    for place in places:
        try:
            repo = Repository.open(place)
        except NotAGitRepository as exc:
            error = error or exc
            continue
        except (OSError, ValueError) as exc:  # a name too long, a NUL: not a place to look
            error = error or NotAGitRepository(f"cannot look in {place[:200]!r}: {exc}")
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
    cut = _excerpts(payload, session.max_payload_bytes, session._redactor)
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
    transaction with :mod:`bitloops.store._live` (see :func:`._direct.write` for when it
    gives way; ``accept``, given the session's transcript state as a dict, can turn it
    down too). Past the hook's busy bound the payload is spooled, as the full path
    does. Nothing is written when it returns False.
    """
    from bitloops.capture import _direct as direct
    from bitloops.store import _live as live

    settings = direct.read_settings(located[0])
    if settings is None:
        return False
    _bound_hook(settings["hook_busy_timeout_ms"])
    redactor = direct.redactor(settings)
    limit = settings["max_payload_bytes"]
    top = located[0]
    events: list[tuple[str, str, tuple[str, ...]]] = []
    try:
        for kind, data, arts, fit in planned:
            if arts == (None,):  # a write: the index says whether the file is new
                data["change"] = write_change(located, data["path"])
                arts = (data["path"],)
            named = tuple(a for a in arts if a)
            # Prepared as Session.record prepares (bitloops.store._live: one write path).
            if fit:
                stored, stored_arts = live.finish(
                    fit_payload(data, redactor, limit)[1], named, redactor=redactor, worktree=top
                )
            else:
                stored, stored_arts, _ = live.prepare(
                    data, named, redactor=redactor, max_bytes=limit, worktree=top
                )
            events.append((kind, stored, stored_arts))
    except InvalidEvent:
        return False  # the full path raises it again, and the hook quarantines it
    except OSError:
        return False  # git could not say whether a file is new: the full path asks again
    result = direct.write(
        located, settings, agent=agent, session_id=session_id, transcript=transcript,
        events=events, accept=accept,
    )  # fmt: skip
    from bitloops.capture import _spool as spool

    if result == direct.BUSY:
        entry = spool_entry(hook, located[0], payload, redactor)
        wait = _spool_wait(settings["hook_busy_timeout_ms"])
        return spool.append(located[2], entry, durable=settings["durability"] == "full", wait=wait)
    if result == direct.DONE:
        spool.remember_settings(located[2], settings)  # for spooling while they do not parse
    return result == direct.DONE


def catch_up_light(
    agent: str,
    hook: str,
    located: Located,
    payload: dict[str, Any],
    dispatch: Callable[[Recorder], object],
    check: Callable[[], object] | None = None,
) -> bool:
    """Record a hook that reads the agent's transcript (a catch-up: Stop, SessionEnd)
    without the object model; False to take the full path.

    ``check``, the agent's check of the payload, runs first: a payload it finds invalid
    (:class:`~bitloops.InvalidEvent`) is left to the full path, which quarantines it.

    ``dispatch`` is the agent's own handling of the payload, given a recorder: it runs
    here with one whose sessions are :class:`bitloops.store._live.LiveSession` s (the
    same preparation and writer as :class:`~bitloops.Session`, so the same lines), the
    settings read by :func:`bitloops.capture._direct.read_settings` and the connection
    of :func:`bitloops.store._live.open_for_hook`. Each batch of lines is one
    transaction, as on the full path. Whatever only the full path does (start or resume
    a session, promote one the session strategy ends, replay the spool, read the
    checkpoints) raises :class:`~bitloops.store._live.GiveWay`: the transaction under
    way rolls back, the reading state keeps what committed, and the full path goes on
    from there (False). Past the hook's busy bound the payload is spooled, as the full
    path does. Other errors reach the caller, which takes the full path.
    """
    if check is not None:
        try:
            check()
        except InvalidEvent:
            return False
    import apsw

    from bitloops.capture import _direct as direct
    from bitloops.capture import _spool as spool
    from bitloops.store import _live as live

    top, _, common = located
    settings = direct.read_settings(top)
    if settings is None or not settings["capture"] or spool.pending(common):
        return False  # the full path reports the settings, or replays the spool first
    _bound_hook(settings["hook_busy_timeout_ms"])
    redactor = direct.redactor(settings)
    try:
        db = os.path.join(common, "bitloops", "bitloops.db")
        conn = live.open_for_hook(
            db,
            durability=settings["durability"],
            busy_timeout_ms=settings["hook_busy_timeout_ms"],
        )
        if conn is None:
            return False
        try:
            if not live.is_bitloops_database(conn):
                return False  # not bitloops' file: the full path says so
            store = live.HookStore(conn, first=lambda: spool.pending(common))
            # Not a Recorder: it has what an agent's dispatch of a catch-up asks of one.
            recorder: Any = _HookRecorder(located, settings, redactor, store)
            dispatch(recorder)
            live.trim_log(conn, db)
        finally:
            conn.close()
    except live.GiveWay:
        return False
    except (apsw.BusyError, DatabaseBusy):  # the database or the reading state stayed locked
        entry = spool_entry(hook, top, payload, redactor)
        wait = _spool_wait(settings["hook_busy_timeout_ms"])
        return spool.append(common, entry, durable=settings["durability"] == "full", wait=wait)
    try:
        spool.remember_settings(common, settings)  # for spooling while they do not parse
    except OSError:
        pass  # recorded all the same
    return True


class _HookPaths:
    """Where a light-path hook's work tree is (what :class:`~bitloops.git._git.RepoPaths`
    gives the full path), as strings."""

    def __init__(self, located: Located) -> None:
        self.toplevel, self.git_dir, self.common_dir = located


class _HookSettings:
    """The settings :func:`bitloops.capture._direct.read_settings` read, as the
    attributes of :class:`~bitloops.Settings` that capture uses."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.strategy: str = values["strategy"]
        self.durability: str = values["durability"]
        self.capture: bool = values["capture"]
        self.max_payload_bytes: int = values["max_payload_bytes"]
        self.busy_timeout_ms: int = values["hook_busy_timeout_ms"]  # a hook's bound
        self.hook_busy_timeout_ms: int = values["hook_busy_timeout_ms"]
        self.redact_patterns: tuple[str, ...] = values["redact"]
        self.private: bool = values["private"]


class _HookRecorder:
    """The recorder an agent's dispatch gets on the light path (:func:`catch_up_light`):
    the work tree, its settings, redactor and store, and its existing open sessions."""

    def __init__(
        self, located: Located, settings: dict[str, Any], redactor: Redactor, store: Any
    ) -> None:
        self.paths = _HookPaths(located)
        self.toplevel = self.worktree = located[0]
        self.settings = _HookSettings(settings)
        self.redactor = redactor
        self.store = store

    def session(self, session_id: str) -> Any:
        """A handle on an existing session; :class:`~bitloops.SessionNotFound` otherwise."""
        from bitloops.store import _live as live

        row = self.store.session_row(session_id)
        if row is None:
            raise SessionNotFound(f"no session {session_id!r}; start it with start_session()")
        agent, model, status = row
        return live.LiveSession(
            self.store, session_id=session_id, agent=agent, model=model,
            worktree=self.worktree, redactor=self.redactor,
            max_bytes=self.settings.max_payload_bytes, ended=status == "ended",
            end_gives_way=self.settings.strategy == "session",
        )  # fmt: skip

    def start_session(self, *args: Any, **kwargs: Any) -> Any:
        """Starting or resuming a session is the full path's (it asks git for the branch)."""
        from bitloops.store._live import GiveWay

        raise GiveWay("starting a session is left to the full path")

    def _agents(self) -> Any:
        from bitloops.store._live import GiveWay

        raise GiveWay("the agent registry is left to the full path")


def fit_payload(
    payload: dict[str, Any], redactor: Redactor, max_bytes: int
) -> tuple[dict[str, Any], str]:
    """What :func:`record_fitting` would record, and its stored JSON, writing nothing.

    Raises what recording would raise (:class:`~bitloops.PayloadTooLarge` when even
    without ``input`` and ``output`` it is too large).
    """
    from bitloops._codec import prepare_payload

    try:
        return payload, prepare_payload(payload, redactor, max_bytes)
    except PayloadTooLarge:
        pass
    cut = _excerpts(payload, max_bytes, redactor)
    try:
        return cut, prepare_payload(cut, redactor, max_bytes)
    except PayloadTooLarge:
        cut = _without_io(cut)
        return cut, prepare_payload(cut, redactor, max_bytes)


def _excerpts(payload: dict[str, Any], max_bytes: int, redactor: Redactor) -> dict[str, Any]:
    limit = max(256, max_bytes // 4)
    cut = dict(payload)
    for key in ("output", "input"):
        if key in cut:
            text = cut[key] if isinstance(cut[key], str) else _jsonc.dumps(cut[key], default=str)
            if len(text) > limit:
                # Redacted whole first: a secret cut in two would match no pattern.
                cut[key] = redactor.redact(text)[:limit]
                cut[f"{key}_truncated"] = True
    return cut


def _without_io(cut: dict[str, Any]) -> dict[str, Any]:
    cut = dict(cut)
    for key in ("output", "input"):
        if key in cut:
            cut[key] = None
            cut[f"{key}_truncated"] = True
    return cut


def relative_path(repo: Recorder, raw: str, cwd: Any) -> str | None:
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


def added_or_modified(repo: Recorder, rel: str) -> str:
    """How a write changed ``rel``: ``"modified"`` when git tracks it, else ``"added"``."""
    paths = repo.paths
    return write_change((str(paths.toplevel), str(paths.git_dir), str(paths.common_dir)), rel)


def write_change(located: Located, rel: str) -> str:
    """:func:`added_or_modified` for a located work tree: read from git's index
    (:func:`bitloops.git._locate.tracked`), or asked of git for an index only it reads."""
    from bitloops.git._locate import tracked

    known = tracked(located, rel)
    if known is None:
        import subprocess  # only here: the light hook path seldom needs git

        try:
            from bitloops.store._live import seconds_left

            done = subprocess.run(
                ["git", "ls-files", "--error-unmatch", "--", rel],
                cwd=located[0], capture_output=True, timeout=max(0.1, seconds_left(30.0)),
                check=False,
            )  # fmt: skip
        except subprocess.SubprocessError as exc:
            raise OSError(f"git ls-files failed: {exc}") from None
        known = done.returncode == 0
    return "modified" if known else "added"


def patch_files(text: str) -> list[tuple[str, str, str | None]]:
    """(path, change, moved to) of each file an ``apply_patch`` envelope names, as written.

    ``change`` is added, modified or deleted; ``moved to`` is the path of the ``*** Move
    to:`` line right after an ``Update`` (None when there is none).
    """
    out: list[tuple[str, str, str | None]] = []
    for match in _rx.compile(_PATCH_FILE, _rx.MULTILINE).finditer(text):
        move = None
        if match.group(1) == "Update":
            move = _rx.compile(_MOVE_TO, _rx.MULTILINE).match(text[match.end() :].lstrip("\n"))
        out.append(
            (match.group(2), _PATCH_CHANGES[match.group(1)], move.group(1) if move else None)
        )
    return out


def digest(text: str) -> str:
    """A fingerprint of a response text, to record it once from hook or transcript."""
    return _sha256_hex(text)


def _sha256_hex(text: str) -> str:
    global _sha256_hex
    from bitloops._codec import sha256_hex  # once: the codec is imported lazily

    _sha256_hex = sha256_hex
    return sha256_hex(text)


def hook_response(repo: Recorder, session: Session, text: Any) -> Event | None:
    """The turn's final text from a hook, unless the transcript reader just recorded it."""
    if not isinstance(text, str) or not text.strip():
        return None
    payload = {"text": text, "source": "hook"}
    return _from_hook(repo, session, digest(text), "response", payload, fit=False)


def hook_reasoning(
    repo: Recorder, session: Session, text: str, extra: Mapping[str, Any]
) -> Event | None:
    """Reasoning a hook carried, unless the transcript reader recorded the same text."""
    if not text.strip():
        return None
    key = _reasoning_key(text)
    return _from_hook(repo, session, key, "reasoning", {"text": text, **extra}, fit=True)


def transcript_response(
    session: Session,
    state: ts.TranscriptState,
    text: str,
    base: Mapping[str, Any],
    *,
    digested: str | None = None,
) -> list[Event]:
    """A response read from a transcript, unless the hook already recorded the same text.

    ``digested``: :func:`digest` of ``text``, when the reader has it already.
    """
    key = digest(text) if digested is None else digested
    return _from_transcript(session, state, key, "response", {"text": text, **base})


def transcript_reasoning(
    session: Session, state: ts.TranscriptState, text: str, base: Mapping[str, Any]
) -> list[Event]:
    """Reasoning read from a transcript, unless a hook recorded the same text."""
    key = _reasoning_key(text)
    return _from_transcript(session, state, key, "reasoning", {"text": text, **base})


def _reasoning_key(text: str) -> str:
    return "reasoning:" + digest(text.strip())


def _from_hook(
    repo: Recorder, session: Session, key: str, kind: str, payload: dict[str, Any], *, fit: bool
) -> Event | None:
    """Record a text a hook carried, unless the transcript recorded ``key`` first.

    Either side records a text the other has not: the one that finds the other's key
    takes it back instead (hooks and transcripts arrive in either order).
    """
    from bitloops.capture import _transcript_state as ts

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


def once(repo: Recorder, sid: str, key: str) -> bool:
    """True the first time ``key`` is claimed for session ``sid`` (kept in its state file).

    For hook events an agent may send twice (two hooks for one tool call, a plugin loaded
    from two places); the check and the claim happen under the session's state lock.
    """
    from bitloops.capture import _transcript_state as ts

    common = repo.paths.common_dir
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        if key in state.seen:
            return False
        state.seen.append(key)
        ts.save(common, state)
    claimed = _CLAIMED.get()
    if claimed is not None:
        claimed.append((common, sid, key))
    return True


# The claims once() made while a hook's payload is handled (see _handled): given back
# when the payload is not recorded after all.
_CLAIMED: ContextVar[list[tuple[Any, str, str]] | None] = ContextVar("claimed", default=None)


def _handled(handle: Callable[..., Any], payload: Any, cwd: Any) -> None:
    """``handle(payload, cwd=cwd)``, taking back the keys :func:`once` claimed if it
    raised: the payload is spooled or set aside to be handled again, and must not then
    find its own claim and record nothing (a busy database after the claim lost it)."""
    claimed: list[tuple[Any, str, str]] = []
    token = _CLAIMED.set(claimed)
    try:
        handle(payload, cwd=cwd)
    except BaseException:
        _unclaim(claimed)
        raise
    finally:
        _CLAIMED.reset(token)


def _unclaim(claimed: Sequence[tuple[Any, str, str]]) -> None:
    from bitloops.capture import _transcript_state as ts

    for common, sid, key in reversed(claimed):
        try:
            with ts.locked(common, sid):
                state = ts.load(common, sid)
                if key in state.seen:
                    state.seen.remove(key)
                    ts.save(common, state)
        except Exception:  # the payload is kept all the same; its replay may then skip it
            pass


def remember(
    repo: Recorder, agent: str, sid: str, transcript: str | None, model: str | None = None
) -> ts.TranscriptState:
    """The session's transcript state, storing its agent, a new transcript path or model."""
    from bitloops.capture import _transcript_state as ts

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


def require_fits(repo: Recorder, text: Any) -> None:
    """Raise :class:`~bitloops.PayloadTooLarge` (or ``InvalidPayload``) now for a text
    that could not be recorded, before a hook starts a session or writes anything."""
    from bitloops._codec import prepare_payload

    prepare_payload({"text": text}, repo.redactor, repo.settings.max_payload_bytes)


def agent_session(
    repo: Recorder, agent: str, sid: str, state: ts.TranscriptState, *, resume: bool = True
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


def session_after_read(repo: Recorder, agent: str, sid: str, *, resume: bool = True) -> Session:
    """:func:`agent_session` again after a transcript read, which may have learnt the model."""
    from bitloops.capture import _transcript_state as ts

    return agent_session(repo, agent, sid, ts.load(repo.paths.common_dir, sid), resume=resume)


def stop_turn(repo: Recorder, agent: str, sid: str, events: list[Event], text: Any) -> list[Event]:
    """The end of a turn: ``events`` read from the transcript, then the hook's final
    ``text`` as a response unless the transcript brought it (see :func:`hook_response`)."""
    if not isinstance(text, str) or not text.strip():
        # No text: no session to look up (its caller resumed it before the read), nor the
        # reading state to load again (a long session's is a megabyte of JSON).
        return events
    event = hook_response(repo, session_after_read(repo, agent, sid), text)
    return events if event is None else [*events, event]


def nothing_to_end(repo: Recorder, sid: str, transcript: Callable[[], str | None]) -> bool:
    """Whether a session end is all bitloops hears of a session: the session is unknown and
    its transcript (``transcript()``, asked only then) is absent or empty. Cursor, Copilot
    CLI and Gemini CLI send one for every conversation closed, also one where nothing
    was asked; it makes no empty session."""
    from bitloops.errors import SessionNotFound

    try:
        repo.session(sid)
        return False
    except SessionNotFound:
        pass
    path = transcript()
    try:
        return path is None or os.path.getsize(path) == 0
    except (OSError, ValueError):
        return True


def end_session(
    repo: Recorder,
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
    repo: Recorder, agent: str, *, untagged: bool = False
) -> list[tuple[str, str]]:
    """(session id, transcript path) of ``agent``'s sessions open in this worktree.

    Only the agent's own sessions: each agent's transcripts have their own format.
    ``untagged`` also takes states that name no agent (written before they did).
    """
    from bitloops.capture import _transcript_state as ts

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

    def response(
        self, text: str, base: Mapping[str, Any], *, digested: str | None = None
    ) -> list[Event]:
        """See :func:`transcript_response`."""
        return transcript_response(self.session, self.state, text, base, digested=digested)

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
    """The JSON object one transcript line holds; None for any other line.

    Parsed once per line of an import or a catch-up, by the C scanner straight away
    (:func:`bitloops._jsonc.parsed`): the objects ``json.loads`` gives, the same lines
    refused, and json never imported for a half-written last line.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    obj = _jsonc.parsed(text)
    return obj if isinstance(obj, dict) else None


def json_document(fh: IO[bytes], size: int) -> Any:
    """The JSON value of the open file of ``size`` bytes; None when over
    :data:`MAX_JSON_BYTES` or not UTF-8 JSON."""
    if size > MAX_JSON_BYTES:
        return None
    data = fh.read(MAX_JSON_BYTES + 1)  # bounded even if it grew since its size was taken
    if len(data) > MAX_JSON_BYTES:
        return None
    try:
        return _jsonc.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def json_file(path: str | os.PathLike[str]) -> Any:
    """:func:`json_document` of the file at ``path``; raises :class:`OSError` when unreadable
    or not a regular file (:func:`~bitloops.capture._safe_read.open_regular`: no FIFO blocks)."""
    from bitloops.capture._safe_read import open_regular

    with open_regular(path) as fh:
        return json_document(fh, os.fstat(fh.fileno()).st_size)


# -- the hook command -----------------------------------------------------------------------

#: A hook payload larger than this is quarantined (cut), not parsed. A tool call's output
#: is cut to ``max_payload_bytes`` when recorded anyway; this bounds the memory a hook uses.
MAX_HOOK_BYTES = 64 * 1024 * 1024
# How much of a quarantined payload is kept, in characters; and of the reason.
_QUARANTINE_CHARS = 1_048_576
_REASON_CHARS = 500


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
    agent treats some exit codes as "block"). Every payload ends recorded, spooled or
    quarantined, and ``hook_busy_timeout_ms`` bounds the hook's whole wait:

    - a payload that is not UTF-8, not JSON, not an object, over :data:`MAX_HOOK_BYTES`,
      that ``handle`` rejects (:class:`~bitloops.InvalidEvent`) or that makes it fail
      unexpectedly is kept, redacted, in the database's quarantine (``bitloops doctor``
      reports it) and noted in ``<git common dir>/bitloops/hooks.log``;
    - when the database stays locked past the bound, or cannot be opened at all (settings
      that do not parse, a damaged or unwritable file, a full disk), the payload goes,
      redacted, to the spool (:mod:`bitloops.capture._spool`; in the user's cache folder when the
      git directory is not writable), and a later hook replays it before its own;
    - what else goes wrong is appended to ``hooks.log`` (redacted, bounded) with its
      traceback.

    In those cases one line without a traceback goes to ``err``. ``fast``, given the work
    tree found by :func:`bitloops.capture._direct.locate` and the payload, may record
    it without the object model and return True; on False the full path runs. Returns
    None when the payload was recorded (or spooled), else where the failure went.
    """
    global _started
    _started = time.monotonic()
    places: list[str] = [os.fspath(cwd)]
    raw = b""
    try:
        raw = _read_stdin(stdin)
        payload, problem = _decode(raw)
        if isinstance(payload, dict):
            try:
                places = [*where(payload, cwd), os.fspath(cwd)]
            except Exception:  # a payload too odd to point anywhere: the hook's directory
                places = [os.fspath(cwd)]
        if problem is None and fast is not None:
            from bitloops.capture._direct import locate

            # The first place only: when git must decide about it, the full path does.
            try:
                located = locate(places[0])
                done = located is not None and fast(located, payload)
            except Exception:  # a damaged database, say: the full path spools it
                done = False
            if done:
                return None
        return _full_path(name, handle, raw, payload, problem, places, cwd, err)
    except Exception:
        return _log_failure(name, places, raw, err)
    finally:
        if not _hold:
            from bitloops.store import _live as live

            live.hook_deadline(None)
            _started = None


def hold_deadline() -> None:
    """Keep the hook's deadline after :func:`run_payload_hook` returns, for a process that
    runs one hook and exits (``python -m bitloops hook NAME``): what it does after the
    hook (the context injection) waits within the same bound, not a new one."""
    global _hold
    _hold = True


# How long a hook may spend replaying spooled entries before it spools its own as well,
# as a multiple of the hook's busy bound (time spent working, not waiting: every wait
# ends at the hook's deadline).
_DRAIN_BUDGET = 2.0
# When the running hook began (time.monotonic()); None outside a hook.
_started: float | None = None
# Set by hold_deadline().
_hold = False
# A spool append past the hook's deadline still gets this long for the spool's own lock
# (held for microseconds by each append): else a busy hook would lose its event.
_SPOOL_FLOOR = 0.05


def _bound_hook(bound_ms: int) -> None:
    """From now on, every wait of this hook ends ``bound_ms`` after it began."""
    from bitloops.store import _live as live

    start = time.monotonic() if _started is None else _started
    live.hook_deadline(start + bound_ms / 1000)


def _spool_wait(bound_ms: int) -> float:
    from bitloops.store._live import seconds_left

    return max(seconds_left(bound_ms / 1000), _SPOOL_FLOOR)


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
        payload = _jsonc.loads(text)
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

    from bitloops.errors import SettingsError
    from bitloops.git._git import Git, RepoPaths
    from bitloops.repository import Repository

    paths: RepoPaths | None = None
    for place in places:
        try:
            paths = Git.locate(place)
            break
        except (NotAGitRepository, TypeError, ValueError, OSError):  # OSError: a name too long
            continue
    if paths is None:
        if problem is not None:
            raise InvalidPayload(problem)
        handle(payload, cwd=cwd)  # raises NotAGitRepository, saying where it looked
        return None
    try:
        repo = Repository.open(paths.toplevel)
    except SettingsError as exc:
        redactor = _fallback_redactor(paths.common_dir, paths.toplevel)
        return _keep_unopened(
            name, paths.common_dir, raw, payload, problem, cwd, err, exc, redactor
        )
    with repo:
        bound = repo.settings.hook_busy_timeout_ms
        _bound_hook(bound)
        repo.settings = attrs.evolve(repo.settings, busy_timeout_ms=bound)
        try:
            # Opened now, with the hook's bound: handle's Repository shares this connection.
            repo.store.for_hook()  # closed at exit as the light path's is (no checkpoint)
        except DatabaseBusy:
            _spool(repo, name, payload, cwd)
            return None
        except Exception as exc:  # damaged, unwritable, a full disk: spool, replay later
            return _keep_unopened(
                name, paths.common_dir, raw, payload, problem, cwd, err, exc, repo.redactor
            )
        _remember_settings(repo)
        if problem is not None:
            return _quarantine(repo, name, problem, raw, err)
        # Replaying is work, not a wait: it gets its own budget. Its waits for locks (the
        # drain lock, the database's) end at the hook's deadline all the same.
        budget = _DRAIN_BUDGET * bound / 1000
        try:
            if not drain_spool(repo, budget=budget):
                _spool(repo, name, payload, cwd)  # behind what is still spooled, in order
                # The drainer may have finished meanwhile without seeing it: try once more.
                drain_spool(repo, budget=budget, wait=0.0)
                return None
            # Not one transaction around it all: modules take a session's transcript lock
            # before the database's (as a promotion's catch-up does); holding the write
            # lock first would invert that order. Modules check a payload before their
            # first write instead (see require_fits).
            _handled(handle, payload, cwd)
        except InvalidEvent as exc:
            return _quarantine(repo, name, str(exc), raw, err)
        except DatabaseBusy:
            _spool(repo, name, payload, cwd)
        except Exception as exc:
            return _failed(repo, name, raw, payload, cwd, err, exc)
    return None


def _remember_settings(repo: Recorder) -> None:
    """Keep the settings that parsed, for spooling while they do not (best effort)."""
    from bitloops.capture import _spool as spool

    settings = repo.settings
    spool.remember_settings(
        repo.paths.common_dir,
        {
            "redact": settings.redact_patterns,
            "durability": settings.durability,
            "max_payload_bytes": settings.max_payload_bytes,
        },
    )


def _fallback_redactor(
    common_dir: str | os.PathLike[str], toplevel: str | os.PathLike[str] | None = None
) -> Redactor:
    """The redactor for settings that do not parse: the built-in rules, the patterns of
    the last settings that parsed, those of ``BITLOOPS_REDACT``, and those still legible
    in the settings files (see :func:`_legible_patterns`): never less than was asked."""
    from bitloops.capture import _direct as direct
    from bitloops.capture import _spool as spool
    from bitloops.redact import Redactor, default_redactor

    patterns = list(spool.last_settings(common_dir).get("redact", ()))
    patterns += [p for p in os.environ.get("BITLOOPS_REDACT", "").split("\n") if p]
    if toplevel is not None:
        patterns += _legible_patterns(toplevel)
    usable = [p for p in dict.fromkeys(patterns) if direct.compiles(p)]
    return Redactor(usable) if usable else default_redactor()


def _legible_patterns(toplevel: str | os.PathLike[str]) -> list[str]:
    """The ``redact`` patterns of the settings files, read leniently (a trailing comma,
    the commonest slip, is forgiven): a pattern added in the edit that broke the file
    applies to the events spooled meanwhile."""
    out: list[str] = []
    for rel in (".bitloops/settings.json", ".bitloops/settings.local.json"):
        try:
            with open(os.path.join(toplevel, rel), encoding="utf-8") as fh:
                text = fh.read(1 << 20)
        except (OSError, UnicodeDecodeError):
            continue
        data: Any = None
        for attempt in (text, _rx.compile(r",(\s*[}\]])").sub(lambda m: m[1], text)):
            try:
                data = _jsonc.loads(attempt)
                break
            except (ValueError, RecursionError):
                continue
        value = data.get("redact") if isinstance(data, dict) else None
        if isinstance(value, dict):
            value = value.get("extra_patterns")
        if isinstance(value, list):
            out += [p for p in value if isinstance(p, str)]
    return out


def _quarantine_entry(name: str, reason: str, raw: bytes, redactor: Redactor) -> dict[str, Any]:
    """A spool entry that the drain puts in the quarantine: the payload, cut and redacted."""
    from datetime import UTC, datetime

    from bitloops._codec import format_ts

    text = raw.decode("utf-8", "backslashreplace")
    if len(reason) > _REASON_CHARS:  # a reason quoting a payload value: its start is enough
        reason = reason[:_REASON_CHARS] + "..."
    if len(text) > _QUARANTINE_CHARS:
        reason += f" (the first {_QUARANTINE_CHARS} of {len(text)} characters are kept)"
        text = text[:_QUARANTINE_CHARS]
    row = {
        "agent": name,
        "source": "hook",
        "reason": redactor.redact(reason),
        "payload": redactor.redact(text),
    }
    return {"quarantine": {**row, "received_at": format_ts(datetime.now(UTC))}}


def _keep_unopened(
    name: str,
    common_dir: Path,
    raw: bytes,
    payload: Any,
    problem: str | None,
    cwd: str | os.PathLike[str],
    err: IO[str],
    exc: BaseException,
    redactor: Redactor | None = None,
) -> str:
    """The database cannot be opened: spool the payload (redacted with ``redactor``, else
    the last settings that parsed) for the first hook that can open it again."""
    from bitloops.capture import _spool as spool
    from bitloops.capture._hooklog import write
    from bitloops.errors import StoreError

    if redactor is None:
        redactor = _fallback_redactor(common_dir)
    reason = f"the database cannot be opened ({type(exc).__name__}: {exc})"
    if problem is not None:
        entry = _quarantine_entry(name, problem, raw, redactor)
    else:
        entry = spool_entry(name, cwd, payload, redactor)
    where = spool.append_anywhere(common_dir, entry, wait=max(1.0, _SPOOL_FLOOR))
    if where is None:
        raise StoreError(f"{reason}, and no spool could be written; the event is lost")
    logged = write(
        common_dir,
        f"{name}: {reason}; the payload is spooled in {where} and recorded by the first "
        "hook after that is fixed (see `bitloops doctor`)",
        redactor=redactor,
    )
    _tell(
        err,
        f"bitloops: the {name} hook could not open the database (the agent is unaffected); "
        f"the event is spooled, see {logged}\n",
    )
    return logged


def _failed(
    repo: Recorder,
    name: str,
    raw: bytes,
    payload: Any,
    cwd: str | os.PathLike[str],
    err: IO[str],
    exc: Exception,
) -> str:
    """``handle`` failed unexpectedly: a storage failure spools the payload (to replay);
    anything else quarantines it. The traceback goes to hooks.log either way."""
    import apsw

    from bitloops.capture import _spool as spool
    from bitloops.capture._hooklog import log_exception
    from bitloops.errors import StoreError

    log_exception(repo.paths.common_dir, f"{name} failed", redactor=repo.redactor)
    if isinstance(exc, (StoreError, apsw.Error)):
        entry = spool_entry(name, cwd, payload, repo.redactor)
        wait = _spool_wait(repo.settings.hook_busy_timeout_ms)
        if spool.append_anywhere(repo.paths.common_dir, entry, wait=wait) is not None:
            return _note(repo, f"{name}: the payload is spooled after {type(exc).__name__}")
    return _quarantine(repo, name, f"the hook failed: {type(exc).__name__}: {exc}", raw, err)


def _tell(err: IO[str], text: str) -> None:
    try:
        err.write(text)
    except (OSError, ValueError):
        pass


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

    from bitloops._codec import format_ts, new_id

    text = _jsonc.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
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
                text = _jsonc.dumps(
                    {**_jsonc.loads(text), **kept},
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


def _spool(repo: Recorder, name: str, payload: Any, cwd: str | os.PathLike[str]) -> None:
    from bitloops.capture import _spool as spool
    from bitloops.errors import StoreError

    entry = spool_entry(name, cwd, payload, repo.redactor)
    wait = _spool_wait(repo.settings.hook_busy_timeout_ms)
    durable = repo.settings.durability == "full"
    try:
        if spool.append(repo.paths.common_dir, entry, durable=durable, wait=wait):
            return
    except OSError:  # not writable: the user's cache folder
        pass
    # Locked past the bound, or not writable: the user's cache folder has its own lock.
    if spool.append_anywhere(repo.paths.common_dir, entry, wait=wait) is not None:
        return
    raise StoreError(
        "the database and both hook spools (the git directory's and the user's cache "
        "folder's) stayed locked or could not be written; the payload is kept in the "
        "quarantine instead: raise hook_busy_timeout_ms, or check the disk and permissions"
    )


def _quarantine(repo: Recorder, name: str, reason: str, raw: bytes, err: IO[str]) -> str:
    """Keep the payload, redacted, in the quarantine; note it in hooks.log and ``err``.

    When the database will not take it (busy, damaged, unwritable), it is spooled as a
    quarantine entry, which the drain puts in the quarantine later.
    """
    from bitloops.capture import _spool as spool

    entry = _quarantine_entry(name, reason, raw, repo.redactor)
    row = dict(entry["quarantine"])
    del row["received_at"]
    try:
        repo.store.add_quarantine(**row)
    except Exception:  # busy, or it cannot be written at all (damaged, read-only, full)
        wait = _spool_wait(repo.settings.hook_busy_timeout_ms)
        if spool.append_anywhere(repo.paths.common_dir, entry, wait=wait) is None:
            raise
    logged = _note(repo, f"{name} failed: {row['reason']}; the payload is quarantined")
    _tell(
        err,
        f"bitloops: the {name} hook failed (the agent is unaffected): {row['reason']}; the "
        "payload is kept in the quarantine (see `bitloops doctor`)\n",
    )
    return logged


def _note(repo: Recorder, text: str) -> str:
    """Append one entry to hooks.log (redacted, bounded); where it went."""
    from bitloops.capture._hooklog import write

    return write(repo.paths.common_dir, text, redactor=repo.redactor)


def _log_failure(name: str, places: list[str], raw: bytes, err: IO[str]) -> str:
    """Append the current exception's traceback to hooks.log, and keep the payload (as a
    quarantine entry in the spool, wherever one can be written); where the note went."""
    from bitloops.capture import _spool as spool
    from bitloops.capture._hooklog import log_exception
    from bitloops.git._git import Git

    paths = None
    for place in places:
        try:
            paths = Git.locate(place)
            break
        except Exception:
            continue
    logged = None
    if paths is not None:
        redactor = None
        try:
            redactor = _fallback_redactor(paths.common_dir, paths.toplevel)
            logged = log_exception(paths.common_dir, f"{name} failed", redactor=redactor)
            import sys

            exc = sys.exc_info()[1]
            reason = f"the hook failed: {type(exc).__name__}: {exc}"
            entry = _quarantine_entry(name, reason, raw, redactor)
            spool.append_anywhere(paths.common_dir, entry, wait=max(1.0, _SPOOL_FLOOR))
        except Exception:
            logged = logged or None
    _tell(
        err,
        f"bitloops: the {name} hook failed (the agent is unaffected)"
        + (f"; see {logged}\n" if logged else "\n"),
    )
    return logged or "nowhere (no git work tree found)"


def drain_spool(repo: Recorder, *, budget: float = 10.0, wait: float | None = None) -> bool:
    """Replay the hook payloads spooled while the database was busy, in order.

    Each is recorded by its agent's ``handle`` as if its hook ran now; one that cannot
    be recorded (it no longer validates) is quarantined. Stops, leaving the rest for
    later, when the database is busy again or after ``budget`` seconds. True when the
    spool is empty. Called by every hook before it records its own payload, and at the
    start of each promotion. ``wait`` bounds the wait for another drainer (default: the
    ``hook_busy_timeout_ms`` setting).
    """
    from bitloops.capture import _spool as spool
    from bitloops.errors import BitloopsError

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
            agents = repo._agents()
            _handled(
                agents.integration(str(agent)).handle,
                _jsonc.loads(entry["payload"]),
                entry.get("cwd"),
            )
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
        from bitloops.store._live import seconds_left

        wait = seconds_left(repo.settings.hook_busy_timeout_ms / 1000)
    deadline = time.monotonic() + budget
    try:
        # The git directory's spool first, then the one in the user's cache folder (used
        # while the git directory was not writable, so its entries came later).
        for folder in spool.places(common):
            left = max(0.0, deadline - time.monotonic())
            if not spool.drain(folder, replay, bad, wait=wait, budget=left):
                return False
        return True
    except (BitloopsError, OSError, TimeoutError):
        return False
