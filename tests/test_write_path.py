"""One write path for every agent: a hook's light path, the full path and Session.record
store the same lines through bitloops.store._live, spool when the database is busy, and
leave what they cannot record to the quarantine."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import apsw
import light_path as lp
import pytest
from agent_fixtures import run_hook

import bitloops
from bitloops._codec import event_from_line
from bitloops.agents import claude_code, codex, copilot, cursor, gemini, opencode
from bitloops.capture import _spool as spool
from bitloops.capture import _transcript_state as ts
from bitloops.store import _live as live
from bitloops.store._migrations import SCHEMA_VERSION
from bitloops.testing import assert_silent

#: A payload from the repository, the session id and a number that makes its ids unique.
Maker = Callable[[Path, str, int], dict[str, Any]]


def _claude(repo: Path, sid: str, name: str) -> dict[str, Any]:
    return {"hook_event_name": name, "session_id": sid, "cwd": str(repo), "transcript_path": None}


def _codex(repo: Path, sid: str, name: str) -> dict[str, Any]:
    return {"hook_event_name": name, "session_id": sid, "cwd": str(repo),
            "transcript_path": None, "model": "gpt-5-codex", "turn_id": "turn-1"}  # fmt: skip


def _gemini(repo: Path, sid: str, name: str) -> dict[str, Any]:
    return {"hook_event_name": name, "session_id": sid, "cwd": str(repo),
            "transcript_path": None, "timestamp": "2026-06-01T10:00:01.000Z"}  # fmt: skip


def _cursor(repo: Path, sid: str, name: str) -> dict[str, Any]:
    return {"hook_event_name": name, "conversation_id": sid, "generation_id": "gen-1",
            "model": "claude-4.5-sonnet", "workspace_roots": [str(repo)],
            "transcript_path": None}  # fmt: skip


def _copilot(repo: Path, sid: str, name: str) -> dict[str, Any]:
    return {"hookEventName": name, "sessionId": sid, "timestamp": 1780308001000,
            "cwd": str(repo)}  # fmt: skip


def _opencode(repo: Path, kind: str, props: dict[str, Any], role: str | None) -> dict[str, Any]:
    event = {"type": kind, "properties": props}
    return {"bitloops_opencode": 1, "hook": "event", "time": 1764000000000, "cwd": str(repo),
            "worktree": str(repo), "role": role, "event": event}  # fmt: skip


def _opencode_part(repo: Path, sid: str, i: int, **fields: Any) -> dict[str, Any]:
    role = "user" if fields.get("type") == "text" else "assistant"
    mid = f"msg_u{i}" if role == "user" else "msg_a1"
    part = {"id": f"prt_{role[0]}{i}", "sessionID": sid, "messageID": mid, **fields}
    return _opencode(repo, "message.part.updated", {"part": part}, role)


def _opencode_start(repo: Path, sid: str) -> list[dict[str, Any]]:
    info = {"id": "msg_a1", "sessionID": sid, "role": "assistant", "time": {"created": 1},
            "modelID": "claude-sonnet-4-5", "providerID": "anthropic"}  # fmt: skip
    return [
        _opencode(repo, "session.created", {"info": {"id": sid}}, None),
        _opencode(repo, "message.updated", {"info": info}, "assistant"),
    ]


# Each agent: its module, the payloads that start a session, and (prompt, shell) makers.
AGENTS: dict[str, tuple[ModuleType, Callable[[Path, str], list[dict[str, Any]]], Maker, Maker]] = {
    "claude-code": (
        claude_code,
        lambda r, s: [{**_claude(r, s, "SessionStart"), "source": "startup"}],
        lambda r, s, i: {**_claude(r, s, "UserPromptSubmit"), "prompt": f"retry {i} ✓"},
        lambda r, s, i: {
            **_claude(r, s, "PostToolUse"), "tool_name": "Bash", "tool_use_id": f"toolu_{i}",
            "tool_input": {"command": f"cat {r}/README.md"},
            "tool_response": {"stdout": "34 passed\n", "stderr": "", "interrupted": False},
        },
    ),
    "codex": (
        codex,
        lambda r, s: [{**_codex(r, s, "SessionStart"), "source": "startup"}],
        lambda r, s, i: {**_codex(r, s, "UserPromptSubmit"), "prompt": f"retry {i} ✓"},
        lambda r, s, i: {
            **_codex(r, s, "PostToolUse"), "tool_name": "shell", "tool_use_id": f"call_{i}",
            "tool_input": {"command": ["bash", "-lc", f"cat {r}/README.md"]},
            "tool_response": {"stdout": "34 passed\n", "exit_code": 0},
        },
    ),
    "gemini": (
        gemini,
        lambda r, s: [
            {**_gemini(r, s, "SessionStart"), "source": "startup"},
            {**_gemini(r, s, "AfterModel"), "llm_request": {"model": "gemini-2.5-pro"}},
        ],
        lambda r, s, i: {**_gemini(r, s, "BeforeAgent"), "prompt": f"retry {i} ✓"},
        lambda r, s, i: {
            **_gemini(r, s, "AfterTool"), "tool_name": "run_shell_command",
            "tool_input": {"command": f"cat {r}/README.md"},
            "tool_response": {"llmContent": "ok"},
        },
    ),
    "cursor": (
        cursor,
        lambda r, s: [
            _cursor(r, s, "sessionStart"),
            {**_cursor(r, s, "beforeSubmitPrompt"), "prompt": "first"},
        ],
        lambda r, s, i: {**_cursor(r, s, "beforeSubmitPrompt"), "prompt": f"retry {i} ✓"},
        lambda r, s, i: {  # a shell command waits for its twin hook: a tool call instead
            **_cursor(r, s, "postToolUse"), "tool_name": "Grep", "tool_use_id": f"t-{i}",
            "tool_input": {"pattern": "retry", "path": f"{r}/README.md"},
            "tool_output": '{"ok": true}', "duration": 15,
        },
    ),
    "copilot": (
        copilot,
        lambda r, s: [{**_copilot(r, s, "sessionStart"), "source": "new"}],
        lambda r, s, i: {**_copilot(r, s, "userPromptSubmitted"), "prompt": f"retry {i} ✓"},
        lambda r, s, i: {
            **_copilot(r, s, "postToolUse"), "toolName": "bash", "toolCallId": f"c-{i}",
            "toolArgs": {"command": f"cat {r}/README.md"},
            "toolResult": {"resultType": "success"},
        },
    ),
    "opencode": (
        opencode,
        _opencode_start,
        lambda r, s, i: _opencode_part(r, s, i, type="text", text=f"retry {i} ✓"),
        lambda r, s, i: _opencode_part(
            r, s, i, type="tool", callID=f"call_{i}", tool="bash",
            state={"status": "completed", "input": {"command": f"cat {r}/README.md"},
                   "output": "ok", "time": {"start": 1, "end": 2}},
        ),
    ),
}  # fmt: skip

NAMES = sorted(AGENTS)


@pytest.fixture(autouse=True)
def _no_deadline() -> Iterator[None]:
    """An in-process light-path call sets the hook's deadline: lifted after each test."""
    yield
    live.hook_deadline(None)


def _started(repo: Path, name: str, sid: str) -> None:
    """The session started on the full path, with one of each event behind it (an
    agent's first tool call may claim capture there)."""
    module, starts, prompt, shell = AGENTS[name]
    for payload in starts(repo, sid):
        module.handle(payload)
    module.handle(prompt(repo, sid, 0))
    module.handle(shell(repo, sid, 0))


def _lines(repo: Path, sid: str) -> list[str]:
    return [line for s, line in lp.rows(repo, starts=False) if s == sid]


@pytest.mark.parametrize("name", NAMES)
def test_the_light_and_full_paths_store_the_same_lines(git_repo: Path, name: str) -> None:
    """A prompt and a shell call through the light path and through the full path give
    byte-for-byte the same lines (ids and times aside), paths made relative alike."""
    module, _, prompt, shell = AGENTS[name]
    light, full = f"{name}-light-0001", f"{name}-full-0001"
    _started(git_repo, name, light)
    _started(git_repo, name, full)
    located = lp.located(git_repo)
    for make in (prompt, shell):
        count = len(_lines(git_repo, light))
        assert module._fast(located, make(git_repo, light, 7)), "the light path gave way"
        assert len(_lines(git_repo, light)) > count
        module.handle(make(git_repo, full, 7))
    ours, theirs = _lines(git_repo, light), _lines(git_repo, full)
    assert len(ours) == len(theirs) >= 4
    assert [lp.masked(a, seq=False) for a in ours] == [lp.masked(b, seq=False) for b in theirs]
    stored = json.dumps([json.loads(line)["payload"] for line in ours])
    assert str(git_repo) not in stored  # cut to a path relative to the work tree


@pytest.mark.parametrize("name", NAMES)
def test_a_busy_database_spools_and_the_next_hook_replays_first(git_repo: Path, name: str) -> None:
    """Write lock held past the bound: the light path spools (writing nothing); the next
    hook process replays the spooled payload before its own."""
    module, _, prompt, shell = AGENTS[name]
    sid = f"{name}-busy-0001"
    lp.bounded(git_repo, 200)
    _started(git_repo, name, sid)
    before = _lines(git_repo, sid)
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert module._fast(lp.located(git_repo), shell(git_repo, sid, 5))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    live.hook_deadline(None)
    assert _lines(git_repo, sid) == before
    # With an entry spooled the light path gives way: the full path replays it first.
    assert not module._fast(lp.located(git_repo), prompt(git_repo, sid, 6))
    assert_silent(run_hook(name, json.dumps(prompt(git_repo, sid, 6)).encode(), git_repo))
    assert not spool.pending(git_repo / ".git")
    added = [json.loads(line)["kind"] for line in _lines(git_repo, sid)[len(before) :]]
    assert added[-1] == "prompt" and added.count("prompt") == 1
    assert added[0] != "prompt"  # the spooled call first, in order


@pytest.mark.parametrize("name", NAMES)
def test_what_cannot_be_stored_is_quarantined(git_repo: Path, name: str) -> None:
    """Text that is not valid UTF-8: the light path gives way, the full path quarantines."""
    module, _, prompt, _ = AGENTS[name]
    sid = f"{name}-odd-0001"
    _started(git_repo, name, sid)
    before = _lines(git_repo, sid)
    bad = json.loads(json.dumps(prompt(git_repo, sid, 3)).replace("retry 3", "retry \\ud800"))
    assert not module._fast(lp.located(git_repo), bad)
    proc = run_hook(name, json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and not proc.stdout  # the agent is never blocked
    assert _lines(git_repo, sid) == before
    with bitloops.Repository.open(git_repo) as r:
        ((count,),) = r.store.execute("SELECT count(*) FROM quarantine")
    assert count == 1


def test_session_record_prepares_as_the_hooks_do(repo: bitloops.Repository) -> None:
    """Session.record stores what live.prepare gives: the one preparation of an event."""
    session = repo.start_session(agent="api", model="m")
    payload = {"command": f"cat {repo.toplevel}/README.md", "token": "AKIA" + "Q3EXAMPLE7KEY2ZZ"}
    event = session.record("tool_use", payload, artefacts=("README.md",))
    text, arts, same = live.prepare(
        payload, ("README.md",), redactor=repo.redactor, max_bytes=1 << 20,
        worktree=str(repo.toplevel),
    )  # fmt: skip
    assert not same  # redacted and relativised
    assert event.payload == json.loads(text) and event.artefacts == arts
    (line,) = [ln for s, ln in lp.rows(repo.toplevel, starts=False) if s == session.session_id]
    assert f'"payload":{text},' in line


def test_an_import_records_the_same_lines_and_reads_none_back(repo: bitloops.Repository) -> None:
    """Inside counting() (an import) record stores the same line; the Event it returns
    holds the stored text, parsed only when read, and equal to the event as stored."""
    from bitloops.capture._session import counting

    payload = {"command": f"cat {repo.toplevel}/README.md", "token": "AKIA" + "Q3EXAMPLE7KEY2ZZ"}
    plain = {"text": "a reply"}
    sessions = [repo.start_session(agent="api", model="m") for _ in range(2)]
    returned = []
    for i, session in enumerate(sessions):
        with repo.store.transaction(), counting() if i else contextlib.nullcontext():
            returned += [session.record("tool_use", payload), session.record("response", plain)]
    lines: dict[str, list[str]] = {s.session_id: [] for s in sessions}
    for sid, line in lp.rows(repo.toplevel, starts=False):
        d = json.loads(line)
        lines[sid].append(line.replace(d["event_id"], "").replace(sid, "").replace(d["ts"], ""))
    assert lines[sessions[0].session_id] == lines[sessions[1].session_id]
    rows = repo.store.execute("SELECT line FROM live_events")
    stored = {e.event_id: e for e in (event_from_line(str(line)) for (line,) in rows)}
    for event in returned:
        assert event == stored[event.event_id]
        assert dict(event.payload) == stored[event.event_id].payload
    counted = returned[2].payload
    assert type(counted) is not dict and "AKIA" not in repr(counted) and len(counted) == 2


def test_an_event_that_ends_a_session_in_a_transaction_is_both_or_neither(
    repo: bitloops.Repository,
) -> None:
    """append_event inside a caller's transaction (the import's) goes through
    live.append_in_transaction: the session_end and the session's end are one."""
    session = repo.start_session(agent="api")

    def end_then_fail() -> None:
        with repo.store.transaction():
            session.end("imported")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        end_then_fail()
    query = "SELECT kind FROM live_events WHERE session_id = ? ORDER BY seq"
    assert repo.store.session_model(session.session_id)[2] == "active"
    assert [k for (k,) in repo.store.execute(query, (session.session_id,))] == ["session_start"]
    fresh = repo.session(session.session_id)
    with repo.store.transaction():
        fresh.end("imported")
    assert repo.store.session_model(session.session_id)[2] == "ended"
    kinds = [k for (k,) in repo.store.execute(query, (session.session_id,))]
    assert kinds == ["session_start", "session_end"]


def test_the_light_path_writes_the_schema_the_store_migrates_to() -> None:
    """live.py's statements are for the schema version the migrations reach."""
    assert live.SCHEMA_VERSION == SCHEMA_VERSION


def test_the_write_path_loads_no_object_model() -> None:
    """The light write path's modules import neither attrs nor the model classes."""
    code = (
        "import sys; import bitloops.capture._direct, bitloops.capture._transcript_state, "
        "bitloops.store._live; bad = [m for m in ('attr', 'attrs', 'bitloops.model', "
        "'bitloops.repository', 'typing') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    ).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_a_transcript_state_round_trips(tmp_path: Path) -> None:
    """The plain TranscriptState class saves and loads every field, and reads raw alike."""
    state = ts.TranscriptState(session_id="s-1", agent="codex", offset=12, seen=["a"], model="m")
    with ts.locked(tmp_path, "s-1"):
        ts.save(tmp_path, state)
    assert ts.load(tmp_path, "s-1") == state
    assert ts.load_raw(tmp_path, "s-1") == state.as_json()
    assert ts.load_raw(tmp_path, "s-2") is None
    with pytest.raises(TypeError):
        ts.TranscriptState(session_id="s", nonsense=1)
