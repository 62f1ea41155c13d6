"""Gemini CLI hooks on the light path: the same stored lines as the full path, spooled
when busy, the odd left to the full path, and a real hook process without attrs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw
import light_path as lp
from agent_fixtures import run_hook

import bitloops
from bitloops.agents import gemini
from bitloops.capture import _direct as direct
from bitloops.capture import _spool as spool
from bitloops.testing import assert_silent

FAST = "gm-fast"
FULL = "gm-full"
MODEL = "gemini-2.5-pro"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips


def _base(repo: Path, session_file: Path, sid: str, name: str) -> dict[str, Any]:
    return {
        "hook_event_name": name,
        "session_id": sid,
        "transcript_path": str(session_file),
        "cwd": str(repo),
        "timestamp": "2026-06-01T10:00:01.000Z",
    }


def _start(repo: Path, session_file: Path, *sids: str) -> None:
    """Start each session and give it its model, through the full path."""
    for sid in sids:
        gemini.handle({**_base(repo, session_file, sid, "SessionStart"), "source": "startup"})
        after = {**_base(repo, session_file, sid, "AfterModel"), "llm_request": {"model": MODEL}}
        gemini.handle(after)


def _events(repo: Path, session_file: Path) -> list[dict[str, Any]]:
    """One payload of each event the light path takes (session id filled in later)."""

    def base(name: str) -> dict[str, Any]:
        return _base(repo, session_file, "", name)

    edit = {"file_path": str(repo / "README.md"), "old_string": "a", "new_string": AWS_KEY}
    return [
        {**base("BeforeAgent"), "prompt": "make it héllo ✓"},
        {**base("BeforeModel"), "llm_request": {"model": MODEL, "messages": []}},
        {**base("BeforeToolSelection"), "llm_request": {"model": MODEL}},
        {**base("BeforeTool"), "tool_name": "replace", "tool_input": edit},
        {**base("AfterTool"), "tool_name": "replace", "tool_input": edit,
         "tool_response": {"llmContent": "ok", "n": 1.5}},
        {**base("AfterTool"), "tool_name": "run_shell_command", "tool_input": {"command": "x"},
         "tool_response": {"error": "exit 1"}},
        {**base("AfterTool"), "tool_name": "write_file",  # outside the work tree: no change
         "tool_input": {"file_path": "/elsewhere/x.py", "content": ""}},
        {**base("PreCompress"), "trigger": "auto"},
        {**base("Notification"), "message": "waiting", "notification_type": "ToolPermission"},
    ]  # fmt: skip


def test_the_light_path_stores_what_the_full_path_stores(git_repo: Path, tmp_path: Path) -> None:
    """Each event through _fast and through handle: byte-for-byte the same lines."""
    session_file = tmp_path / "session.jsonl"
    _start(git_repo, session_file, FAST, FULL)
    located = lp.located(git_repo)
    for payload in _events(git_repo, session_file):
        assert gemini._fast(located, {**payload, "session_id": FAST}), payload["hook_event_name"]
        gemini.handle({**payload, "session_id": FULL})
    rows = lp.rows(git_repo, starts=False)
    fast = [lp.masked(line, seq=True) for sid, line in rows if sid == FAST]
    full = [lp.masked(line, seq=True) for sid, line in rows if sid == FULL]
    assert fast == full
    events = [json.loads(line) for sid, line in rows if sid == FAST]
    assert [e["kind"] for e in events] == [
        "prompt", "tool_use", "file_change", "tool_use", "tool_use", "compaction", "note"
    ]  # fmt: skip
    assert events[2]["payload"] == {"path": "README.md", "change": "modified"}
    assert events[3]["payload"]["is_error"] is True
    assert all(e["model"] == MODEL for e in events)
    assert all(AWS_KEY not in line for _, line in rows)


def test_the_light_path_leaves_the_rest_to_the_full_path(git_repo: Path, tmp_path: Path) -> None:
    """Start, a new session file: declined (AfterAgent and SessionEnd read the session file
    on the light path: tests/test_catch_up_path.py; AfterModel naming a new model stores
    it there too)."""
    session_file = tmp_path / "session.jsonl"
    located = lp.located(git_repo)
    prompt = {**_base(git_repo, session_file, FAST, "BeforeAgent"), "prompt": "hi"}
    assert not gemini._fast(located, prompt)  # no database, no session yet
    _start(git_repo, session_file, FAST)
    assert not gemini._fast(located, _base(git_repo, session_file, FAST, "SessionStart"))
    # AfterModel, after every model call: nothing to write while the model stays the same.
    model = _base(git_repo, session_file, FAST, "AfterModel")
    assert gemini._fast(located, {**model, "llm_request": {"model": MODEL}})
    assert gemini._fast(located, model)  # no model named
    newer = {**model, "llm_request": {"model": "gemini-3-pro"}}
    assert gemini._fast(located, newer)  # Gemini CLI's own dispatch stores it, lightly
    with bitloops.Repository.open(git_repo) as r:
        assert r.session(FAST).model == "gemini-3-pro"
    assert (direct.read_state(str(git_repo / ".git"), FAST) or {}).get("model") == "gemini-3-pro"
    assert gemini._fast(located, newer)
    assert not gemini._fast(located, {**prompt, "transcript_path": str(tmp_path / "other")})
    assert not gemini._fast(located, {**prompt, "prompt": 5})  # the full path quarantines it
    assert not gemini._fast(located, {**prompt, "session_id": "gm-unknown"})
    assert not gemini._fast(located, {**prompt, "session_id": " "})
    write = {
        **_base(git_repo, session_file, FAST, "AfterTool"),
        "tool_name": "write_file",
        "tool_input": {"file_path": str(git_repo / "new.py"), "content": "x = 1\n"},
    }
    assert lp.rows(git_repo, starts=False) == []
    # A write: git's index (read, not asked) tells an added file from a modified one.
    tracked = {**write, "tool_input": {"file_path": str(git_repo / "README.md"), "content": ""}}
    assert gemini._fast(located, write) and gemini._fast(located, tracked)
    assert [
        json.loads(line)["payload"].get("change") for _, line in lp.rows(git_repo, starts=False)
    ] == [
        None,
        "added",
        None,
        "modified",
    ]
    assert gemini._fast(located, prompt)


def test_a_busy_database_spools_the_event(git_repo: Path, tmp_path: Path) -> None:
    """Write lock held elsewhere: the hook process spools; the next hook records both."""
    session_file = tmp_path / "session.jsonl"
    lp.bounded(git_repo)
    _start(git_repo, session_file, FAST)
    call = {**_events(git_repo, session_file)[4], "session_id": FAST}
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_silent(run_hook("gemini", json.dumps(call).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
        data = Path(spool.spool_path(git_repo / ".git")).read_text(encoding="utf-8")
        assert AWS_KEY not in data and json.loads(data)["agent"] == "gemini"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert lp.rows(git_repo, starts=False) == []
    prompt = {**_base(git_repo, session_file, FAST, "BeforeAgent"), "prompt": "after"}
    assert_silent(run_hook("gemini", json.dumps(prompt).encode(), git_repo))
    assert lp.kinds(git_repo) == ["tool_use", "file_change", "prompt"]
    assert not spool.pending(git_repo / ".git")


def test_an_invalid_payload_is_still_quarantined(git_repo: Path, tmp_path: Path) -> None:
    """An AfterTool without a tool name: the light path declines, the full path quarantines."""
    session_file = tmp_path / "session.jsonl"
    _start(git_repo, session_file, FAST)
    bad = {**_base(git_repo, session_file, FAST, "AfterTool"), "tool_name": ""}
    proc = run_hook("gemini", json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        ((_, _, agent, source, reason, _),) = r.store.quarantined()
    assert (agent, source) == ("gemini", "hook") and "tool_name" in reason
    assert lp.rows(git_repo, starts=False) == []


def test_a_real_hook_process_takes_the_light_path(
    git_repo: Path, tmp_path: Path, no_attrs: dict[str, str]
) -> None:
    """With attrs unimportable, a prompt, a model request and a tool call still go through."""
    session_file = tmp_path / "session.jsonl"
    _start(git_repo, session_file, FAST)
    events = _events(git_repo, session_file)
    for payload in (events[0], events[1], events[4]):
        stdin = json.dumps({**payload, "session_id": FAST}).encode()
        assert_silent(run_hook("gemini", stdin, git_repo, no_attrs))
    assert lp.kinds(git_repo) == ["prompt", "tool_use", "file_change"]
    start = _base(git_repo, session_file, "gm-other", "SessionStart")
    proc = run_hook("gemini", json.dumps(start).encode(), git_repo, no_attrs)
    assert b"failed" in proc.stderr  # the check is real: the full path cannot run


def test_a_new_model_is_stored_lightly_as_the_full_path_stores_it(
    git_repo: Path, tmp_path: Path
) -> None:
    """AfterModel naming another model (after every model call, so per turn) on the light
    path: the session's model, its state and the next events' lines are the full path's;
    the session's start stays the full path's."""
    session_file = tmp_path / "session.jsonl"
    located = lp.located(git_repo)
    _start(git_repo, session_file, FAST, FULL)
    newer = {"llm_request": {"model": "gemini-3-pro"}}
    unknown = {**_base(git_repo, session_file, "gm-unknown", "AfterModel"), **newer}
    assert not gemini._fast(located, unknown)  # the full path starts that session
    before = len(lp.rows(git_repo, starts=True))
    for payload in (
        {**_base(git_repo, session_file, "SID", "AfterModel"), **newer},
        {**_base(git_repo, session_file, "SID", "BeforeAgent"), "prompt": "and now?"},
    ):
        assert gemini._fast(located, {**payload, "session_id": FAST})
        gemini.handle({**payload, "session_id": FULL})
    rows = lp.rows(git_repo, starts=True)[before:]
    light = [lp.masked(line, seq=False) for sid, line in rows if sid == FAST]
    assert light == [lp.masked(line, seq=False) for sid, line in rows if sid == FULL]
    assert [json.loads(line)["model"] for sid, line in rows if sid == FAST] == ["gemini-3-pro"]
    states = [direct.read_state(str(git_repo / ".git"), sid) or {} for sid in (FAST, FULL)]
    assert [s.pop("session_id") for s in states] == [FAST, FULL]
    assert states[0] == states[1] and states[0]["model"] == "gemini-3-pro"
    with bitloops.Repository.open(git_repo) as r:
        assert r.session(FAST).model == r.session(FULL).model == "gemini-3-pro"
