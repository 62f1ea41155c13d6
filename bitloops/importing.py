"""Import a whole agent transcript as a session, so history from before bitloops is kept.

:func:`import_transcript` reads a transcript file an agent wrote (a Claude Code JSONL, a
Codex rollout, a Gemini CLI session file, ...) with that agent's own integration module
and records it as one session, ended, in this worktree's draft: the next promotion puts
it in a checkpoint like any other session.

An integration module is importable when it has two functions:

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
only completed.

Everything is recorded in one database transaction: an import that fails (or finds
nothing) leaves the database as it was.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .errors import (
    AgentNotSupported,
    BitloopsError,
    SessionNotFound,
    TranscriptError,
    UnknownAgent,
)

if TYPE_CHECKING:
    from types import ModuleType

    from .repository import Repository
    from .session import Session

__all__ = [
    "ImportResult",
    "agent_module",
    "import_transcript",
    "importable_agents",
    "json_lines",
    "parse_time",
    "session_lines",
]

log = logging.getLogger("bitloops")

# A history item: (event kind, payload, file changes as (path, change, old_path)).
HistoryItem = tuple[str, dict[str, Any], list[tuple[str, str, str | None]]]


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


class _NothingNew(Exception):
    """Rolls the import's transaction back when the file brought nothing new."""


def importable_agents() -> list[str]:
    """The names of the agents whose transcripts can be imported, sorted."""
    from .integrations import AGENTS

    found = []
    for name in AGENTS:
        try:
            agent_module(name)
        except BitloopsError:
            continue
        found.append(name)
    return sorted(found)


def agent_module(agent: str) -> ModuleType:
    """The integration module of ``agent``, checked to have what an import needs.

    Raises :class:`~bitloops.UnknownAgent` for a name not in the registry and
    :class:`~bitloops.AgentNotSupported` for an agent without an importable format.
    """
    from .integrations import AGENTS

    if agent not in AGENTS:
        known = ", ".join(sorted(AGENTS))
        raise UnknownAgent(f"no agent integration is called {agent!r}; use one of: {known}")
    module = importlib.import_module(f".integrations.{AGENTS[agent]}", __package__)
    if not callable(getattr(module, "catch_up", None)) or not callable(
        getattr(module, "transcript_session_id", None)
    ):
        raise AgentNotSupported(
            f"bitloops cannot import {agent} transcripts (its integration reads no transcript "
            "file); its sessions are recorded only through its hooks"
        )
    return module


def json_lines(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one per line; other lines are skipped.

    Stops after ``limit`` lines when given. Raises :class:`OSError` when unreadable.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh):
            if limit is not None and number >= limit:
                return
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                yield obj


def parse_time(value: Any) -> datetime | None:
    """A transcript's timestamp (ISO 8601, or epoch milliseconds) as UTC; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # milliseconds, as Copilot's
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def session_lines(repo: Repository, session_id: str) -> list[str]:
    """Every stored event line of a session: committed (all checkpoints) and live."""
    with repo.store.reading() as conn:
        rows = conn.execute(
            "SELECT line FROM checkpoint_events WHERE session_id = ?1 "
            "UNION ALL SELECT line FROM live_events WHERE session_id = ?1",
            (session_id,),
        ).fetchall()
    seen: set[str] = set()
    lines = []
    for (line,) in rows:
        event_id = json.loads(str(line)).get("event_id")
        if event_id not in seen:  # one checkpoint may be stored under several commits
            seen.add(event_id)
            lines.append(str(line))
    return lines


def import_transcript(repo: Repository, agent: str, path: str | os.PathLike[str]) -> ImportResult:
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
    """
    module = agent_module(agent)
    where = Path(os.path.abspath(path))  # the reading state knows files by absolute path
    try:
        with open(where, "rb") as fh:
            fh.read(1)
    except IsADirectoryError:
        raise TranscriptError(f"{where} is a directory; pass the transcript file") from None
    except OSError as exc:
        raise TranscriptError(
            f"cannot read {where}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    try:
        sid = module.transcript_session_id(where)
    except OSError as exc:
        raise TranscriptError(f"cannot read {where}: {exc}") from None
    if not isinstance(sid, str) or not sid.strip():
        raise TranscriptError(
            f"{where} is not a {agent} transcript (no {agent} session id found in it); "
            f"check the file, or name the agent that wrote it ({', '.join(importable_agents())})"
        )
    if not repo.settings.capture:
        raise TranscriptError(
            "capture is turned off in the settings (capture: false); turn it on to import"
        )
    from .integrations import transcript_state as ts

    common = repo.paths.common_dir
    before_state = ts.load(common, sid)
    existed = ts._file(common, sid).exists()
    try:
        status: str | None = repo.store.session_model(sid)[2]
    except SessionNotFound:
        status = None
    try:
        with repo.store.transaction() as conn:
            first_id = conn.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchall()[0][0]
            added = _record(repo, module, agent, sid, where, status)
            if added == 0:
                raise _NothingNew
            count = _retime(repo, conn, sid, int(str(first_id)), whole=status is None)
    except _NothingNew:
        _restore(repo, before_state, existed)
        if status is None:
            raise TranscriptError(
                f"{where} holds nothing bitloops can import (no prompt, reply, reasoning or "
                "tool call); nothing was stored"
            ) from None
        return ImportResult(agent=agent, session_id=sid, path=str(where), events_added=0, new=False)
    except BaseException:
        _restore(repo, before_state, existed)
        raise
    if status != "active" and repo.settings.strategy == "session":
        # As for any session that ends under the session strategy: its own checkpoint.
        try:
            repo.promote_session(sid)
        except BitloopsError as exc:
            log.warning("bitloops: session %s was imported but not promoted: %s", sid, exc)
    return ImportResult(
        agent=agent, session_id=sid, path=str(where), events_added=count, new=status is None
    )


def _restore(repo: Repository, state: Any, existed: bool) -> None:
    """Put the reading state back: the events it says were read were rolled back."""
    from .integrations import transcript_state as ts

    common = repo.paths.common_dir
    with ts.locked(common, state.session_id):
        if existed:
            ts.save(common, state)
        else:
            ts._file(common, state.session_id).unlink(missing_ok=True)


def _record(
    repo: Repository, module: ModuleType, agent: str, sid: str, path: Path, status: str | None
) -> int:
    """Record what the file brings that the session lacks; the number of such events."""
    from .integrations import transcript_state as ts

    state = ts.load(repo.paths.common_dir, sid)
    if status != "active":
        repo.start_session(agent, session_id=sid)  # a new session, or an ended one reopened
    if status is not None and _another_copy(state, path):
        added = _catch_up_copy(repo, module, sid, path)
    else:
        added = _catch_up(module, repo, sid, path)
    history = getattr(module, "transcript_history", None)
    if callable(history):
        items: list[HistoryItem] = history(repo, path)
        added += _record_history(repo, sid, items)
    if added and status != "active":
        session = repo.session(sid)
        # Ended inside the transaction, without the session strategy's promotion (done after).
        attrs.evolve(session, on_end=None).end("imported")
    return added


def _catch_up(module: ModuleType, repo: Repository, sid: str, path: Path) -> int:
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


def _catch_up_copy(repo: Repository, module: ModuleType, sid: str, path: Path) -> int:
    """``catch_up`` on a copy of a transcript, recording only what the session lacks.

    The reader's own bookkeeping (line ids, line digests) may not know the copy's lines,
    so it runs as a trial that is rolled back; its events are then recorded unless the
    session holds the same content (a file change only with its new tool call).
    """
    have = Counter(
        _content_key(e.get("kind"), e.get("payload"))
        for e in map(json.loads, session_lines(repo, sid))
    )
    read: list[dict[str, Any]] = []
    try:
        with repo.store.transaction() as conn:
            mark = conn.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchall()[0][0]
            _catch_up(module, repo, sid, path)
            rows = conn.execute(
                "SELECT line FROM live_events WHERE session_id = ? AND id > ? ORDER BY seq",
                (sid, mark),
            ).fetchall()
            read = [json.loads(str(row[0])) for row in rows]
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


def _record_history(repo: Repository, sid: str, items: list[HistoryItem]) -> int:
    """Record the prompts and tool calls the session does not hold yet."""
    from .integrations.base import record_fitting
    from .session import prepare_payload

    prompts: Counter[str] = Counter()
    tool_ids: set[str] = set()
    tools: Counter[tuple[str, str]] = Counter()
    for line in session_lines(repo, sid):
        event = json.loads(line)
        payload = event.get("payload") or {}
        if event.get("kind") == "prompt" and isinstance(payload.get("text"), str):
            prompts[payload["text"]] += 1
        if event.get("kind") in ("tool_use", "tool_result"):
            if isinstance(payload.get("tool_use_id"), str):
                tool_ids.add(payload["tool_use_id"])
            if event.get("kind") == "tool_use":
                tools[_tool_key(payload.get("name"), payload.get("input"))] += 1

    def stored(text: str) -> str:  # the text as it would be stored: redacted
        value = json.loads(prepare_payload({"text": text}, repo.redactor, sys.maxsize))["text"]
        return str(value)

    # The hooks captured the later part of a session (bitloops was enabled mid-way): the
    # copies of a prompt the session already holds are its last ones in the file.
    in_file = Counter(stored(p["text"]) for k, p, _ in items if k == "prompt")
    seen_in_file: Counter[str] = Counter()
    session: Session = repo.session(sid)
    added = 0
    for kind, payload, changes in items:
        if kind == "prompt":
            text = stored(payload["text"])
            seen_in_file[text] += 1
            if seen_in_file[text] > in_file[text] - prompts[text]:
                continue
        elif kind == "tool_use":
            call_id = payload.get("tool_use_id")
            redacted = json.loads(prepare_payload(payload, repo.redactor, sys.maxsize))
            key = _tool_key(redacted.get("name"), redacted.get("input"))
            if isinstance(call_id, str) and call_id in tool_ids:
                continue
            if tools[key] > 0:
                tools[key] -= 1
                continue
        record_fitting(session, kind, payload)
        added += 1
        for rel, change, old in changes:
            session.file_change(rel, change, old_path=old)
            added += 1
    return added


def _tool_key(name: Any, tool_input: Any) -> tuple[str, str]:
    return str(name), json.dumps(tool_input, sort_keys=True, default=str)


def _retime(repo: Repository, conn: Any, sid: str, first_id: int, *, whole: bool) -> int:
    """Give the events just recorded the file's times; the number of them.

    Each event with a ``transcript_ts`` gets that time; one without (a file change,
    the session's start and end) the time of the event before it. The session's own
    start and end are moved only for a new session (``whole``): an existing session's
    bookkeeping stays at the time of the import.
    """
    from .codec import format_ts

    rows = conn.execute(
        "SELECT id, kind, line FROM live_events WHERE session_id = ? AND id > ? ORDER BY seq",
        (sid, first_id),
    ).fetchall()
    times: list[datetime | None] = []
    for _, kind, line in rows:
        payload = json.loads(line).get("payload")
        own = parse_time(payload.get("transcript_ts")) if isinstance(payload, dict) else None
        times.append(None if kind in ("session_start", "session_end") else own)
    known = [t for t in times if t is not None]
    if not known:
        return len(rows)
    first, last = min(known), max(known)
    previous: datetime | None = None
    for index, (row_id, kind, line) in enumerate(rows):
        when = times[index] or previous
        if kind == "session_start":
            when = first
        elif kind == "session_end":
            when = last
        if when is None:
            when = first
        previous = when
        if kind in ("session_start", "session_end") and not whole:
            continue
        text = format_ts(when)
        cut = str(line).rindex(',"ts":')  # the canonical line ends with its ts
        new_line = str(line)[:cut] + ',"ts":' + json.dumps(text) + "}"
        conn.execute(
            "UPDATE live_events SET ts = ?, line = ? WHERE id = ?", (text, new_line, row_id)
        )
    if whole:
        ended = any(kind == "session_end" for _, kind, _ in rows)
        conn.execute(
            "UPDATE sessions SET started_at = ?, ended_at = CASE WHEN ? THEN ? ELSE ended_at END "
            "WHERE session_id = ?",
            (format_ts(first), ended, format_ts(last), sid),
        )
    return len(rows)
