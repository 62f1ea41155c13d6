"""Codex hooks on the light path: the same stored lines as the full path, spooled when
busy, the odd left to the full path, and a real hook process that never imports attrs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw
import light_path as lp
import pytest
from agent_fixtures import run_hook

import bitloops
from bitloops.agents import codex
from bitloops.capture import _spool as spool
from bitloops.testing import assert_silent

FAST = "0199a5c3-0000-7c10-9b8a-00000000fa57"
FULL = "0199a5c3-0000-7c10-9b8a-00000000f011"
MODEL = "gpt-5-codex"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips
PATCH = (
    "*** Begin Patch\n*** Add File: src/new.py\n+x = 1\n*** Update File: README.md\n"
    "*** Move to: docs/README.md\n@@\n-a\n+b\n*** Delete File: old.txt\n*** End Patch\n"
)


def _base(repo: Path, rollout: Path, sid: str, name: str) -> dict[str, Any]:
    return {
        "hook_event_name": name,
        "session_id": sid,
        "transcript_path": str(rollout),
        "cwd": str(repo),
        "model": MODEL,
        "turn_id": "turn-1",
    }


def _start(repo: Path, rollout: Path, *sids: str) -> None:
    for sid in sids:
        codex.handle(_base(repo, rollout, sid, "SessionStart"))


def _events(repo: Path, rollout: Path) -> list[dict[str, Any]]:
    """One payload of each event the light path plans (session id filled in later)."""
    tool = {"tool_name": "shell", "tool_input": {"command": ["bash", "-lc", f"echo {AWS_KEY}"]}}
    return [
        {**_base(repo, rollout, "", "UserPromptSubmit"), "prompt": "make it héllo ✓"},
        {**_base(repo, rollout, "", "PreToolUse"), **tool, "tool_use_id": "call_1"},
        {
            **_base(repo, rollout, "", "PostToolUse"),
            **tool,
            "tool_use_id": "call_1",
            "tool_response": {"stdout": "ok\n", "exit_code": 0, "n": 1.5},
        },
        {
            **_base(repo, rollout, "", "PostToolUse"),
            "tool_name": "apply_patch",
            "tool_use_id": "call_2",
            "tool_input": {"input": PATCH},
            "tool_response": "Success",
        },
        {**_base(repo, rollout, "", "PostToolUse"), **tool},  # no tool_use_id
        {**_base(repo, rollout, "", "SubagentStart"), "agent_id": "a-1", "agent_type": "explore"},
        {**_base(repo, rollout, "", "SubagentStop"), "agent_id": "a-1"},
        {**_base(repo, rollout, "", "PreCompact"), "trigger": "auto"},
        {**_base(repo, rollout, "", "PostCompact"), "trigger": "auto"},
        {**_base(repo, rollout, "", "Notification"), "message": "waiting"},
    ]


def test_the_light_path_stores_what_the_full_path_stores(git_repo: Path, tmp_path: Path) -> None:
    """Each planned event through _fast and through handle: byte-for-byte the same lines."""
    rollout = tmp_path / "rollout.jsonl"
    _start(git_repo, rollout, FAST, FULL)
    located = lp.located(git_repo)
    for payload in _events(git_repo, rollout):
        assert codex._fast(located, {**payload, "session_id": FAST}), payload["hook_event_name"]
        codex.handle({**payload, "session_id": FULL})
    rows = lp.rows(git_repo, starts=False)
    fast = [lp.masked(line, seq=True) for sid, line in rows if sid == FAST]
    full = [lp.masked(line, seq=True) for sid, line in rows if sid == FULL]
    assert fast == full
    assert all(AWS_KEY not in line for _, line in rows)
    events = [json.loads(line) for sid, line in rows if sid == FAST]
    assert [e["kind"] for e in events] == [
        "prompt", "tool_use", "tool_use", "file_change", "file_change", "file_change",
        "tool_use", "subagent", "subagent", "compaction", "compaction", "note",
    ]  # fmt: skip
    changes = [(e["payload"], e["artefacts"]) for e in events if e["kind"] == "file_change"]
    assert changes[1] == (
        {"path": "docs/README.md", "change": "renamed", "old_path": "README.md"},
        ["docs/README.md", "README.md"],
    )
    assert all(e["model"] == MODEL for e in events)


def _call_lines(call_id: str) -> str:
    call = {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": call_id}
    output = {"type": "function_call_output", "call_id": call_id, "output": "ok"}
    return "".join(
        json.dumps({"timestamp": "2026-06-01T10:00:00Z", "type": "response_item", "payload": p})
        + "\n"
        for p in (call, output)
    )


def test_a_light_tool_call_is_not_recorded_again_from_the_rollout(
    git_repo: Path, tmp_path: Path
) -> None:
    """The light path claims the call in the state, as the full path does: Stop skips it."""
    rollout = tmp_path / "rollout.jsonl"
    rollout.write_text("", encoding="utf-8")
    _start(git_repo, rollout, FAST)
    call = _events(git_repo, rollout)[2]
    assert codex._fast(lp.located(git_repo), {**call, "session_id": FAST})
    rollout.write_text(_call_lines("call_1"), encoding="utf-8")
    codex.handle({**_base(git_repo, rollout, FAST, "Stop"), "last_assistant_message": None})
    kinds = [json.loads(line)["kind"] for _, line in lp.rows(git_repo, starts=False)]
    assert kinds == ["tool_use"]


def test_the_light_path_leaves_the_rest_to_the_full_path(git_repo: Path, tmp_path: Path) -> None:
    """Session start, a new model or transcript, a call the rollout recorded: declined (a
    Stop reads the rollout on the light path, tests/test_catch_up_path.py)."""
    rollout = tmp_path / "rollout.jsonl"
    located = lp.located(git_repo)
    prompt = {**_base(git_repo, rollout, FAST, "UserPromptSubmit"), "prompt": "hi"}
    assert not codex._fast(located, prompt)  # no database, no session yet
    _start(git_repo, rollout, FAST)
    assert not codex._fast(located, _base(git_repo, rollout, FAST, "SessionStart"))
    assert codex._fast(located, _base(git_repo, rollout, FAST, "Stop"))  # an empty rollout
    assert not codex._fast(located, {**prompt, "model": "gpt-6"})  # the state must learn it
    assert not codex._fast(located, {**prompt, "transcript_path": str(tmp_path / "other")})
    assert not codex._fast(located, {**prompt, "prompt": 5})  # the full path quarantines it
    assert not codex._fast(located, {**prompt, "session_id": "s-unknown"})
    assert not codex._fast(located, {**prompt, "hook_event_name": 3})
    # The rollout recorded call_9 (its call, not its output): the full path records its result.
    rollout.write_text(_call_lines("call_9").splitlines(keepends=True)[0], encoding="utf-8")
    codex.handle({**_base(git_repo, rollout, FAST, "Stop"), "last_assistant_message": None})
    call = {**_events(git_repo, rollout)[2], "session_id": FAST, "tool_use_id": "call_9"}
    assert not codex._fast(located, call)
    # Only what the Stop read: the call without its output; the declined wrote nothing.
    assert [json.loads(line)["kind"] for _, line in lp.rows(git_repo, starts=False)] == ["tool_use"]
    assert codex._fast(located, prompt)


def test_a_busy_database_spools_and_the_replay_claims_the_call(
    git_repo: Path, tmp_path: Path
) -> None:
    """Write lock held elsewhere: the hook process spools; the next hook records it once."""
    rollout = tmp_path / "rollout.jsonl"
    lp.bounded(git_repo)
    _start(git_repo, rollout, FAST)
    call = {**_events(git_repo, rollout)[2], "session_id": FAST}
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_silent(run_hook("codex", json.dumps(call).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert lp.rows(git_repo, starts=False) == []
    prompt = {**_base(git_repo, rollout, FAST, "UserPromptSubmit"), "prompt": "after"}
    assert_silent(run_hook("codex", json.dumps(prompt).encode(), git_repo))
    assert [json.loads(line)["kind"] for _, line in lp.rows(git_repo, starts=False)] == [
        "tool_use",
        "prompt",
    ]
    assert not spool.pending(git_repo / ".git")
    assert not codex._fast(lp.located(git_repo), call)  # the replay claimed call_1


def test_an_invalid_payload_is_still_quarantined(git_repo: Path, tmp_path: Path) -> None:
    """A prompt that is no string: the light path declines, the full path quarantines it."""
    rollout = tmp_path / "rollout.jsonl"
    _start(git_repo, rollout, FAST)
    bad = {**_base(git_repo, rollout, FAST, "UserPromptSubmit"), "prompt": 5}
    proc = run_hook("codex", json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        ((_, _, agent, source, reason, _),) = r.store.quarantined()
    assert (agent, source) == ("codex", "hook") and "prompt string" in reason
    assert lp.rows(git_repo, starts=False) == []


def test_a_real_hook_process_takes_the_light_path(
    git_repo: Path, tmp_path: Path, no_attrs: dict[str, str]
) -> None:
    """With attrs unimportable, a prompt and a tool call are still stored by the hook."""
    rollout = tmp_path / "rollout.jsonl"
    _start(git_repo, rollout, FAST)
    events = _events(git_repo, rollout)
    for payload in (events[0], events[2], events[3]):
        proc = run_hook(
            "codex", json.dumps({**payload, "session_id": FAST}).encode(), git_repo, no_attrs
        )
        assert_silent(proc)
    kinds = [json.loads(line)["kind"] for _, line in lp.rows(git_repo, starts=False)]
    assert kinds == ["prompt", "tool_use", "tool_use", "file_change", "file_change", "file_change"]
    start = {**_base(git_repo, rollout, "s-other", "SessionStart")}
    proc = run_hook("codex", json.dumps(start).encode(), git_repo, no_attrs)
    assert b"failed" in proc.stderr  # the check is real: the full path cannot run


def test_a_long_write_ahead_log_is_emptied_after_the_write(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the bound the light path checkpoints and truncates the log once its events are
    committed; a reader that keeps the log in use only defers that to a later hook."""
    from bitloops.store import _live as live

    rollout = tmp_path / "rollout.jsonl"
    _start(git_repo, rollout, FAST)
    wal = git_repo / ".git" / "bitloops" / "bitloops.db-wal"
    prompt = {**_base(git_repo, rollout, FAST, "UserPromptSubmit"), "prompt": "one"}
    assert codex._fast(lp.located(git_repo), prompt)
    grown = wal.stat().st_size
    assert grown > 0  # the hook leaves the log to later processes
    monkeypatch.setattr(live, "LOG_LIMIT_BYTES", grown * 10)
    assert codex._fast(lp.located(git_repo), {**prompt, "prompt": "two"})
    assert wal.stat().st_size > grown  # still under the bound
    monkeypatch.setattr(live, "LOG_LIMIT_BYTES", 1)
    reader = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM live_events").fetchall()  # a snapshot in the log
    try:
        assert codex._fast(lp.located(git_repo), {**prompt, "prompt": "three"})
        assert wal.stat().st_size > 0  # in use: left as it is
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert codex._fast(lp.located(git_repo), {**prompt, "prompt": "four"})
    assert wal.stat().st_size == 0
    prompts = [json.loads(line)["payload"]["text"] for _, line in lp.rows(git_repo, starts=False)]
    assert prompts == ["one", "two", "three", "four"]
