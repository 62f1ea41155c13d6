"""Import a whole agent transcript as a session, so history from before bitloops is kept.

:func:`import_transcript` reads a transcript file an agent wrote (a Claude Code JSONL, a
Codex rollout, a Gemini CLI session file, ...) with that agent's own integration module
and records it as one session, ended, in this worktree's draft: the next promotion puts
it in a checkpoint like any other session.

An agent is importable when its record (its module's ``INTEGRATION``, see
:class:`bitloops.agents._contract.AgentIntegration`) has these two (the optional members
below are None when the agent has no such thing):

- ``catch_up(repo, session_id, transcript_path, *, max_seconds, max_lines) -> int``, the
  incremental reader the hooks use (what it has read is kept per session, so reading the
  same lines again records nothing);
- ``transcript_session_id(path) -> str | None``, the agent's session id found in the file
  (None when the file is not that agent's format).

A third is optional: ``transcript_history(repo, path)`` returns what the agent's *hooks*
record and ``catch_up`` therefore skips (prompts, tool calls), as ``(kind, payload,
changes)`` items, ``changes`` being ``(path, change, old_path)`` file changes of a tool
call. These are recorded unless the session already holds them (same prompt text, same
``tool_use_id`` or same tool name and input), so a session the hooks captured in part is
only completed. An item's payload may name another session under ``"_session"`` (a
resumed session's earlier records: recorded there, the session reopened and ended
again); an item of kind ``"unmapped"`` names a written file outside the work tree
(``ImportResult.unmapped``), recorded nothing. ``state_keys(session_id, path)``, also
optional, names every reading state ``catch_up`` of the file may move on (a subagent's
file has its own), so that a failed import puts them all back. ``is_transcript(path) ->
bool``, also optional, says whether a file that names no session is in the agent's format
at all, for an import that is given the id (``session_id=``, ``--session-id``).
``import_pass(repo, session_id, path, take) -> int | None`` and ``first_models(path)``,
optional together, do ``catch_up`` and ``transcript_history`` in one read of a file no
reading state has moved on yet (a new session): each history item goes to ``take`` as its
line is read, and the sessions start with the first model their lines name.

Everything is recorded in one database transaction: an import that fails (or finds
nothing) leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from bitloops._codec import relative_paths
from bitloops.errors import (
    BitloopsError,
    SessionNotFound,
    StoreError,
    TranscriptError,
)

if TYPE_CHECKING:
    from bitloops.capture._recorder import AgentTable, Recorder
    from bitloops.capture._session import Session

__all__ = [
    "ImportResult",
    "KeySet",
    "import_transcript",
    "json_lines",
    "parse_time",
    "session_lines",
]

log = logging.getLogger("bitloops")

# A history item: (event kind, payload, file changes as (path, change, old_path)).
HistoryItem = tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]


class _Reader(Protocol):
    """**Protocol:** what an import needs of an agent's record (its part of
    ``bitloops.agents.AgentIntegration``, which capture may not import): the transcript
    reader and its optional helpers. Inheriting from it is optional."""

    @property
    def catch_up(self) -> Callable[..., int]:
        """``catch_up(repo, session_id, path, *, max_seconds, max_lines)``."""

    @property
    def transcript_session_id(self) -> Callable[[str | os.PathLike[str]], str | None] | None:
        """The session a file names."""

    @property
    def transcript_history(self) -> Callable[[Recorder, Path], Iterable[HistoryItem]] | None:
        """The hooks' events read back from a whole file."""

    @property
    def import_pass(self) -> Callable[..., int | None] | None:
        """One read bringing a new session's events and history."""

    @property
    def first_models(self) -> Callable[[Path], dict[str, str]] | None:
        """The first model of each session a file names."""

    @property
    def state_keys(self) -> Callable[[str, Path], list[str]] | None:
        """The reading states an import of a file may move on."""

    @property
    def is_transcript(self) -> Callable[[Path], bool] | None:
        """Whether a file naming no session is the agent's all the same."""


@attrs.frozen(kw_only=True)
class ImportResult:
    """What :func:`import_transcript` did."""

    agent: str
    #: The agent's session id, found in the file; the bitloops session has the same id.
    session_id: str
    path: str
    #: Events recorded by this import (0 when the session already held everything).
    events_added: int
    #: True when bitloops did not know the session before.
    new: bool
    #: Paths of file writes that could not be mapped into this work tree (the session ran
    #: elsewhere and they lie outside its working directory): no file change records them.
    unmapped: tuple[str, ...] = ()
    #: Other sessions this file held events of (a resumed session's earlier one).
    other_sessions: tuple[str, ...] = ()


class _NothingNew(Exception):
    """Rolls the import's transaction back when the file brought nothing new."""


def json_lines(
    path: str | os.PathLike[str],
    limit: int | None = None,
    wanted: Callable[[bytes], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per line; other lines are skipped.

    Stops after ``limit`` lines when given. ``wanted`` picks the raw lines worth parsing
    (a cheap test of their bytes). Raises :class:`OSError` when unreadable.
    """
    from bitloops.capture._safe_read import open_regular

    with open_regular(path) as fh:  # a FIFO or device would block or never end
        for number, raw in enumerate(fh):
            if limit is not None and number >= limit:
                return
            if wanted is not None and not wanted(raw):
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                yield obj


class KeySet:
    """A set of strings in bounded memory, for a reader's keys over a whole file's import.

    A line reader remembers every line it recorded (and every message whose usage it
    recorded) so that none is recorded twice; a whole file's worth of keys would make an
    import's memory grow with the file. Here the newest keys (at most ``2 * window``)
    stay in sets; older ones go to a private scratch SQLite file (SQLite deletes it when
    the set is dropped) behind a Bloom filter of fixed size, so a new key, the usual
    case, is told apart without a query, and a key the filter is unsure of is looked up:
    membership is exact. When the scratch file cannot be written (a full temporary
    folder), the keys stay in memory instead. Only ``in`` and :meth:`add` (what the
    readers use).
    """

    #: How many keys a generation holds before the older one goes to the scratch file.
    WINDOW = 10000
    # The Bloom filter: 2**22 bits (512 KiB), two positions from two slices of the hash.
    _SHIFT = 22
    _MASK = (1 << 22) - 1

    def __init__(self, keys: Iterable[str] = (), window: int | None = None) -> None:
        self._window = self.WINDOW if window is None else max(1, window)
        self._new: set[str] = set(keys)
        self._old: set[str] = set()
        self._bloom: bytearray | None = None
        self._db: Any = None

    def __contains__(self, key: object) -> bool:
        if key in self._new or key in self._old:
            return True
        bloom = self._bloom
        if bloom is None or not isinstance(key, str):
            return False
        h = hash(key)
        first, second = h & self._MASK, (h >> self._SHIFT) & self._MASK
        if not (bloom[first >> 3] >> (first & 7)) & (bloom[second >> 3] >> (second & 7)) & 1:
            return False  # surely never added
        import apsw

        try:
            return key in self._db
        except apsw.Error as exc:
            raise StoreError(f"the import's temporary file of line keys failed: {exc}") from None

    def add(self, key: str) -> None:
        """Remember ``key``."""
        self._new.add(key)
        if len(self._new) >= self._window:
            self._spill()

    def _spill(self) -> None:
        """The older generation goes to the scratch file; the newer becomes the older."""
        import apsw

        if self._old:
            try:
                if self._db is None:
                    from bitloops.store._imports import ScratchKeys

                    self._db = ScratchKeys()
                self._db.add(self._old)
            except apsw.Error:
                # No scratch file: everything stays in memory, as a plain set would.
                self._new |= self._old
                self._old = set()
                self._window = sys.maxsize
                return
            if self._bloom is None:
                self._bloom = bytearray((self._MASK + 1) >> 3)
            bloom, mask, shift = self._bloom, self._MASK, self._SHIFT
            for h in map(hash, self._old):
                first, second = h & mask, (h >> shift) & mask
                bloom[first >> 3] |= 1 << (first & 7)
                bloom[second >> 3] |= 1 << (second & 7)
        self._old, self._new = self._new, set()


def parse_time(value: Any) -> datetime | None:
    """A transcript's timestamp (ISO 8601, or epoch milliseconds) as UTC; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # milliseconds, as Copilot's
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value)  # reads a "Z" too (Python 3.11)
            except ValueError:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is UTC:  # the usual "...Z": an import parses one per line
                return parsed
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def session_lines(repo: Recorder, session_id: str, kinds: Sequence[str] | None = None) -> list[str]:
    """Every stored event line of a session: committed (all checkpoints) and live.

    ``kinds`` keeps only the events of those kinds.
    """
    from bitloops.store._imports import session_lines as stored_lines

    with repo.store.reading() as conn:
        rows = stored_lines(conn, session_id, kinds)
    seen: set[str] = set()
    lines = []
    for line in rows:
        event_id = json.loads(line).get("event_id")
        if event_id not in seen:  # one checkpoint may be stored under several commits
            seen.add(event_id)
            lines.append(line)
    return lines


def import_transcript(
    repo: Recorder, agent: str, path: str | os.PathLike[str], *, session_id: str | None = None
) -> ImportResult:
    """Import the transcript file ``path`` of ``agent`` as a session of this worktree.

    The session gets the agent's own session id (found in the file), is ended, and
    goes into the draft, so the next commit's checkpoint holds it. Events carry the
    file's timestamps where it has them. Importing the same file again adds nothing
    (also after a promotion); a session the agent's hooks captured in part gets only
    what it lacks. A session still open (the agent is running) is completed but left
    open.

    Raises :class:`~bitloops.UnknownAgent` / :class:`~bitloops.AgentNotSupported` for an
    agent that cannot be imported, and :class:`~bitloops.TranscriptError` for a file
    that is missing, unreadable, of another format or without events; nothing is
    stored then.

    ``session_id`` names the session of a file that does not name its own (a Cursor
    transcript moved out of its ``agent-transcripts`` folder); it must be the file's own
    when the file has one.
    """
    agents = repo._agents()
    module: _Reader = agents.import_reader(agent)
    where = Path(os.path.abspath(path))  # the reading state knows files by absolute path
    from bitloops.capture._safe_read import UnreadableFile, open_regular

    if where.is_dir():
        raise TranscriptError(f"{where} is a directory; pass the transcript file")
    try:
        with open_regular(where) as fh:
            fh.read(1)
    except UnreadableFile as exc:  # a FIFO or a device (reading would block or never end)
        raise TranscriptError(
            f"cannot import {where}: {str(exc).split(';')[0]}; pass the transcript file itself"
        ) from None
    except OSError as exc:
        raise TranscriptError(
            f"cannot read {where}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    try:
        assert module.transcript_session_id is not None
        sid = module.transcript_session_id(where)
    except OSError as exc:
        raise TranscriptError(f"cannot read {where}: {exc}") from None
    if session_id is not None:
        sid = _named_session(module, agents, agent, where, sid, session_id)
    if not isinstance(sid, str) or not sid.strip():
        raise TranscriptError(
            f"{where} is not a {agent} transcript (no {agent} session id found in it); "
            "check the file, or name the agent that wrote it "
            f"({', '.join(agents.importable_agents())})"
        )
    if not repo.settings.capture:
        raise TranscriptError(
            "capture is turned off in the settings (capture: false); turn it on to import"
        )
    from bitloops.capture import _transcript_state as ts

    common = repo.paths.common_dir
    # Every reading state the import may move on (a subagent's file has its own).
    keys = [sid] if module.state_keys is None else module.state_keys(sid, where)
    before = [(ts.load(common, key), ts._file(common, key).exists()) for key in keys]
    try:
        status: str | None = repo.store.session_model(sid)[2]
    except SessionNotFound:
        status = None
    from bitloops.capture._session import counting
    from bitloops.store import _imports as sql

    report = _Report()
    clock = _TranscriptClock(known=_known_sessions(repo))
    try:
        # counting(): the events recorded are counted, their payloads never read back by
        # bitloops' own readers; an outside agent's reader gets plain dicts, as always.
        lazy = counting() if _builtin(module) else contextlib.nullcontext()
        with repo.store.transaction() as conn, clock.running(repo.store), lazy:
            first_id = sql.last_live_id(conn)
            open_before = {i.session_id for i in repo.store.sessions() if i.status != "ended"}
            added = _record(repo, module, agent, sid, where, status, report)
            if added == 0:
                raise _NothingNew
            report.others += sql.touched_since(conn, sid, first_id)
            _end_others(repo, sid, report.others, open_before)
            clock.settle(conn, first_id)
            count = sql.live_count_since(conn, sid, first_id)
    except _NothingNew:
        _restore(repo, before)
        if status is None:
            raise TranscriptError(
                f"{where} holds nothing bitloops can import (no prompt, reply, reasoning or "
                "tool call); nothing was stored"
            ) from None
        return ImportResult(agent=agent, session_id=sid, path=str(where), events_added=0, new=False)
    except BaseException:
        _restore(repo, before)
        raise
    if status != "active" and repo.settings.strategy == "session":
        # As for any session that ends under the session strategy: its own checkpoint.
        try:
            repo.promote_session(sid)
        except BitloopsError as exc:
            log.warning("bitloops: session %s was imported but not promoted: %s", sid, exc)
    if report.unmapped:
        log.warning(
            "bitloops: %d file write(s) in %s lie outside the session's working directory "
            "and this work tree; no file change records them: %s",
            len(report.unmapped),
            where,
            ", ".join(report.unmapped[:5]),
        )
    return ImportResult(
        agent=agent,
        session_id=sid,
        path=str(where),
        events_added=int(str(count)),
        new=status is None,
        unmapped=tuple(report.unmapped),
        other_sessions=tuple(report.others),
    )


@attrs.define
class _Report:
    """What an import found besides its events."""

    unmapped: list[str] = attrs.field(factory=list)
    others: list[str] = attrs.field(factory=list)


def _builtin(module: _Reader) -> bool:
    """Whether the reader is one of bitloops' own agents' (not a registered outside one)."""
    reader = getattr(module, "import_pass", None) or getattr(module, "catch_up", None)
    return str(getattr(reader, "__module__", "")).startswith("bitloops.agents.")


def _known_sessions(repo: Recorder) -> set[str]:
    from bitloops.store._imports import session_ids

    with repo.store.reading() as conn:
        return session_ids(conn)


def _named_session(
    module: _Reader, agents: AgentTable, agent: str, where: Path, found: str | None, named: str
) -> str:
    """The session id ``--session-id`` names, checked against the file (see import_transcript)."""
    from bitloops.capture._session import checked_text

    try:
        named = checked_text("session_id", named)
    except BitloopsError as exc:
        raise TranscriptError(f"--session-id: {exc}") from None
    if not named.strip():
        raise TranscriptError("--session-id is empty; name the session the file holds")
    if found is not None and found != named:
        raise TranscriptError(
            f"{where} names its own session {found}; leave out --session-id or pass {found}"
        )
    recognise = module.is_transcript
    if found is None and callable(recognise) and not recognise(where):
        raise TranscriptError(
            f"{where} is not a {agent} transcript; check the file, or name the agent that "
            f"wrote it ({', '.join(agents.importable_agents())})"
        )
    return named


def _restore(repo: Recorder, states: list[tuple[Any, bool]]) -> None:
    """Put the reading states back: the events they say were read were rolled back."""
    from bitloops.capture import _transcript_state as ts

    common = repo.paths.common_dir
    for state, existed in states:
        with ts.locked(common, state.session_id):
            if existed:
                ts.save(common, state)
            else:
                ts._file(common, state.session_id).unlink(missing_ok=True)


def _record(
    repo: Recorder,
    module: _Reader,
    agent: str,
    sid: str,
    path: Path,
    status: str | None,
    report: _Report,
) -> int:
    """Record what the file brings that the session lacks; the number of such events."""
    from bitloops.capture import _transcript_state as ts

    state = ts.load(repo.paths.common_dir, sid)
    single = module.import_pass
    one_pass = status is None and callable(single)
    # A single pass records a session's first prompt before the reader meets the model
    # that answered it: each session starts with the first model its file names.
    first_models = module.first_models
    models: dict[str, str] = first_models(path) if one_pass and callable(first_models) else {}
    if status != "active":
        # A new session, or an ended one reopened.
        repo.start_session(agent, session_id=sid, model=models.get(sid))
    sink = _HistorySink(repo, agent, sid, report, models)
    read: int | None = None
    if one_pass:
        # A new session: one read of the file brings its events and its history items.
        from bitloops.capture._runner import importing

        assert callable(single)
        with importing():
            read = single(repo, sid, path, sink.take)
    if read is not None:
        added = read + sink.finish()
    else:
        if status is not None and _another_copy(state, path):
            added = _catch_up_copy(repo, module, sid, path)
        else:
            added = _catch_up(module, repo, sid, path)
        history = module.transcript_history
        if callable(history):
            for item in history(repo, path):  # read as it goes
                sink.take(item)
            added += sink.finish()
    if added and status != "active":
        session = repo.session(sid)
        # Ended inside the transaction, without the session strategy's promotion (done after).
        attrs.evolve(session, on_end=None).end("imported")
    return added


def _catch_up(module: _Reader, repo: Recorder, sid: str, path: Path) -> int:
    from bitloops.capture._runner import importing

    with importing():  # the file is complete: a last line without its newline counts
        return int(module.catch_up(repo, sid, path, max_seconds=3600.0, max_lines=sys.maxsize))


def _another_copy(state: Any, path: Path) -> bool:
    """Whether ``path`` is not the file the session's reading state knows.

    A copy of the transcript (the agent's original after a restored one, a file moved
    elsewhere) is read from its start: what its lines hold may be recorded already.
    """
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return True
    return bool(state.transcript_path != os.fspath(path) or state.inode != inode)


# Payload keys that say where an event was read from, not what it says.
_PROVENANCE = frozenset({"transcript_ts", "transcript_uuid", "message_id", "model", "source"})


def _content_key(kind: Any, payload: Any) -> str:
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k not in _PROVENANCE}
    return json.dumps([kind, payload], sort_keys=True, default=str)


class _Rollback(Exception):
    """Undoes a trial read (see :func:`_catch_up_copy`)."""


def _catch_up_copy(repo: Recorder, module: _Reader, sid: str, path: Path) -> int:
    """``catch_up`` on a copy of a transcript, recording only what the session lacks.

    The reader's own bookkeeping (line ids, line digests) may not know the copy's lines,
    so it runs as a trial that is rolled back; its events are then recorded unless the
    session holds the same content (a file change only with its new tool call).
    """
    from bitloops.store._imports import last_live_id, live_lines_since

    have = Counter(
        _content_key(e.get("kind"), e.get("payload"))
        for e in map(json.loads, session_lines(repo, sid))
    )
    read: list[dict[str, Any]] = []
    try:
        with repo.store.transaction() as conn:
            mark = last_live_id(conn)
            _catch_up(module, repo, sid, path)
            read = [json.loads(line) for line in live_lines_since(conn, sid, mark)]
            raise _Rollback
    except _Rollback:
        pass
    session = repo.session(sid)
    added = 0
    skipped_call = False
    for event in read:
        kind, payload = str(event["kind"]), event.get("payload") or {}
        if kind in ("session_start", "session_end") or (kind == "file_change" and skipped_call):
            continue
        key = _content_key(kind, payload)
        skipped_call = have[key] > 0 and kind in ("tool_use", "tool_result")
        if have[key] > 0:
            have[key] -= 1
            continue
        if event.get("model") and event["model"] != session.model:
            session.set_model(event["model"])
        session.record(kind, payload, artefacts=tuple(event.get("artefacts") or ()))
        added += 1
    return added


class _HistorySink:
    """Records the prompts and tool calls the sessions do not hold yet, as they are read.

    An item whose payload names another session (``_session``: a resumed session's
    earlier records) goes to that one (reopened for it; :func:`_end_others` ends it); an
    ``unmapped`` item is a path reported, not recorded. A session that holds hook events
    already (captured in part) gets its items compared with them once all are read
    (:meth:`finish`).
    """

    def __init__(
        self,
        repo: Recorder,
        agent: str,
        sid: str,
        report: _Report,
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.repo, self.agent, self.sid, self.report = repo, agent, sid, report
        self.models = models or {}  # the model a session started for an item starts with
        self.fresh: dict[str, Session] = {}  # sessions with nothing to compare: recorded at once
        self.compared: dict[str, list[HistoryItem]] = {}
        self.added = 0

    def take(self, item: HistoryItem, reading: Session | None = None) -> None:
        """Record ``item`` (or keep it to compare); ``reading``: the import's own session
        object when a line reader hands the item on, so both record with one model."""
        from bitloops.capture._runner import record_fitting

        kind, payload, changes = item
        if kind == "unmapped":
            self.report.unmapped.append(str(payload.get("path")))
            return
        other = payload.pop("_session", None)
        target = other if isinstance(other, str) else self.sid
        if target in self.compared:
            self.compared[target].append((kind, payload, changes))
            return
        session = self.fresh.get(target)
        if session is None:
            if _hook_lines(self.repo, target):
                self.compared[target] = [(kind, payload, changes)]
                return
            session = self.fresh[target] = (
                reading
                if reading is not None and target == reading.session_id
                else _open(self.repo, self.agent, target, self.models.get(target))
            )
        elif reading is not None and target == reading.session_id:
            session = self.fresh[target] = reading
        record_fitting(session, kind, payload)
        for rel, change, old in changes:
            session.file_change(rel, change, old_path=old)
        self.added += 1 + len(changes)

    def finish(self) -> int:
        """Record what the sessions with hook events lack; the number of events recorded."""
        repo, agent = self.repo, self.agent
        for target, group in self.compared.items():
            opener = functools.partial(_open, repo, agent, target)
            self.added += _record_group(repo, target, opener, group)
        self.compared.clear()
        return self.added


def _open(repo: Recorder, agent: str, sid: str, model: str | None = None) -> Session:
    """Session ``sid``, started (with ``model``) or reopened when it is not open."""
    try:
        session = repo.session(sid)
    except SessionNotFound:
        return repo.start_session(agent, session_id=sid, model=model)
    return repo.start_session(agent, session_id=sid) if session.ended else session


# The kinds the hooks record, which an import compares its history items with.
_HOOK_KINDS = ("prompt", "tool_use", "tool_result", "subagent")


def _hook_lines(repo: Recorder, session_id: str) -> list[str]:
    """:func:`session_lines` of the kinds in :data:`_HOOK_KINDS` only."""
    return session_lines(repo, session_id, _HOOK_KINDS)


def _end_others(repo: Recorder, sid: str, others: list[str], open_before: set[str]) -> None:
    """End the earlier sessions the import reopened (or started) for their records."""
    for other in others:
        if other in open_before:
            continue
        session = repo.session(other)
        if not session.ended:
            attrs.evolve(session, on_end=None).end(f"resumed as {sid}")


def _record_group(
    repo: Recorder, session_id: str, open_session: Callable[[], Session], items: list[HistoryItem]
) -> int:
    """:class:`_HistorySink` for one session that holds hook events: only what it lacks.

    ``open_session`` opens it (reopens an ended one), once something is to be recorded.
    """
    from bitloops.capture._runner import record_fitting
    from bitloops.capture._session import prepare_payload

    prompts: Counter[str] = Counter()
    use_ids: set[str] = set()
    result_ids: set[str] = set()
    subagents: set[tuple[Any, Any]] = set()
    tools: Counter[tuple[str, str]] = Counter()
    for line in _hook_lines(repo, session_id):
        event = json.loads(line)
        payload = event.get("payload") or {}
        kind = event.get("kind")
        if kind == "prompt" and isinstance(payload.get("text"), str):
            prompts[payload["text"]] += 1
        elif kind == "subagent":
            subagents.add((payload.get("agent_id"), payload.get("event")))
        elif kind in ("tool_use", "tool_result") and isinstance(payload.get("tool_use_id"), str):
            # A tool_result with the call's name: an older hook's failed call, alone.
            if kind == "tool_use" or "name" in payload:
                use_ids.add(payload["tool_use_id"])
            if kind == "tool_result":
                result_ids.add(payload["tool_use_id"])
        if kind == "tool_use":
            tools[_tool_key(payload.get("name"), payload.get("input"))] += 1

    def stored_value(value: dict[str, Any]) -> dict[str, Any]:  # as it would be stored
        text = prepare_payload(value, repo.redactor, sys.maxsize)
        result: dict[str, Any] = json.loads(relative_paths(text, repo.worktree))
        return result

    # The hooks captured the later part of a session (bitloops was enabled mid-way): the
    # copies of a prompt the session already holds are its last ones in the file.
    in_file = Counter(
        stored_value({"text": p["text"]})["text"] for k, p, _ in items if k == "prompt"
    )
    seen_in_file: Counter[str] = Counter()
    session: Session | None = None
    added = 0
    for kind, payload, changes in items:
        if kind == "prompt":
            text = stored_value({"text": payload["text"]})["text"]
            seen_in_file[text] += 1
            if seen_in_file[text] > in_file[text] - prompts[text]:
                continue
        elif kind == "tool_use":
            call_id = payload.get("tool_use_id")
            redacted = stored_value(payload)
            key = _tool_key(redacted.get("name"), redacted.get("input"))
            if isinstance(call_id, str) and call_id in use_ids:
                continue
            if tools[key] > 0:
                tools[key] -= 1
                continue
        elif (kind == "tool_result" and payload.get("tool_use_id") in result_ids) or (
            kind == "subagent" and (payload.get("agent_id"), payload.get("event")) in subagents
        ):
            continue
        session = session or open_session()
        record_fitting(session, kind, payload)
        added += 1
        for rel, change, old in changes:
            session.file_change(rel, change, old_path=old)
            added += 1
    return added


def _tool_key(name: Any, tool_input: Any) -> tuple[str, str]:
    return str(name), json.dumps(tool_input, sort_keys=True, default=str)


_TS_KEY = '"transcript_ts":"'
_TS_KEY_LEN = len(_TS_KEY)


def _payload_time_text(payload_json: str) -> Any:
    """The ``transcript_ts`` of a stored payload, found without parsing it.

    Canonical JSON escapes every quote inside a string, so the key's text occurs only
    as a key; when some nested object has one too, the payload is parsed.
    """
    at = payload_json.find(_TS_KEY)
    if at < 0:
        return None
    if payload_json.find(_TS_KEY, at + 1) >= 0:
        payload = json.loads(payload_json)
        return payload.get("transcript_ts") if isinstance(payload, dict) else None
    start = at + _TS_KEY_LEN
    return payload_json[start : payload_json.index('"', start)]


@attrs.define
class _TranscriptClock:
    """The times an import's events get, as they are recorded: their file's.

    An event with a ``transcript_ts`` gets that time; one without (a file change) the
    time of the session's event before it. A session the import creates starts at its
    first time and ends at its last (:meth:`settle` moves its start once all is read);
    an existing session's own start and end keep the time of the import.
    """

    known: set[str]
    spans: dict[str, tuple[datetime, datetime]] = attrs.field(factory=dict)
    previous: dict[str, datetime] = attrs.field(factory=dict)
    # The last time value parsed, and its time: a line's events share its timestamp.
    _last: tuple[Any, datetime | None] = (None, None)

    def __call__(self, sid: str, kind: str, payload_json: str) -> datetime | None:
        # Called for every event an import records: the lookups are inlined.
        if kind == "session_start" or kind == "session_end":
            span = self.spans.get(sid)
            if sid in self.known or kind == "session_start" or span is None:
                return None
            return span[1]
        at = payload_json.find(_TS_KEY)
        if at < 0:
            own = None
        elif payload_json.find(_TS_KEY, at + 1) >= 0:  # also in a nested object: parse
            own = self._parsed(_payload_time_text(payload_json))
        else:
            start = at + _TS_KEY_LEN
            text = payload_json[start : payload_json.index('"', start)]
            last = self._last
            own = last[1] if text == last[0] else self._parsed(text)
        previous = self.previous.get(sid)
        if own is None:
            return previous
        if own is not previous:  # the same object: a line's events, its span taken already
            span = self.spans.get(sid)
            self.spans[sid] = (own, own) if span is None else (min(span[0], own), max(span[1], own))
            self.previous[sid] = own
        return own

    def _parsed(self, text: Any) -> datetime | None:
        """The time ``text`` says, remembered as the last one parsed."""
        if text is None:
            return None
        self._last = (text, parse_time(text))
        return self._last[1]

    @contextlib.contextmanager
    def running(self, store: Any) -> Iterator[None]:
        """The store's events get their times from this clock while inside."""
        store.event_clock = self
        try:
            yield
        finally:
            store.event_clock = None

    def settle(self, conn: Any, first_id: int) -> None:
        """Start each session the import created at its first time."""
        from bitloops._codec import format_ts
        from bitloops.store._imports import restart_sessions

        for sid, (first, _) in self.spans.items():
            if sid not in self.known:
                restart_sessions(conn, sid, first_id, format_ts(first))
