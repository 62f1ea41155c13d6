"""Codex capture: hook payloads through `codex.handle`/`run_hook`, and the rollout file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import assert_logged, group_by_kind, payloads, with_field, write_transcript

import bitloops
from bitloops.agents import codex
from bitloops.testing import commit_all

SID = "0199a5c3-1f2e-7c10-9b8a-3d4e5f6a7b8c"
MODEL = "gpt-5-codex"
FINAL = "I added greet() in src/greet.py and mentioned it in the README."


def _payloads(repo: Path, transcript: Path) -> list[dict[str, Any]]:
    return payloads("codex", repo, transcript)


def _write_rollout(repo: Path, dest: Path) -> Path:
    return write_transcript("codex", "rollout.jsonl", repo, dest)


def test_full_session_becomes_a_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Every fixture payload through handle(), the rollout at Stop, then a commit."""
    rollout = _write_rollout(git_repo, tmp_path / f"rollout-2026-06-01T10-00-00-{SID}.jsonl")
    for payload in _payloads(git_repo, rollout):
        if payload["hook_event_name"] == "PostToolUse" and payload["tool_name"] == "apply_patch":
            (git_repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
            (git_repo / "src").mkdir()
            (git_repo / "src" / "greet.py").write_text(
                "def greet(name):\n    return f'Hello, {name}!'\n", encoding="utf-8"
            )
        codex.handle(payload)
    checkpoint = commit_all(git_repo, "greet", promote=True)
    by_kind = group_by_kind(checkpoint.events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [
        "Add a greet() function in src/greet.py and mention it in the README"
    ]
    tools = [e.payload for e in by_kind["tool_use"]]
    assert sorted(t["tool_use_id"] for t in tools) == ["call_1", "call_2", "call_3", "call_4"]
    by_id = {t["tool_use_id"]: t for t in tools}
    assert by_id["call_1"]["output"]["stdout"] == "# demo\n"  # from the hook
    # from the rollout: exec_command_end came first, its function_call_output is a duplicate
    assert by_id["call_2"]["output"]["stdout"] == "imported ok\n"
    assert by_id["call_2"]["input"]["command"][0] == "bash"
    assert by_id["call_3"]["name"] == "apply_patch"
    assert "tool_result" not in by_kind
    changes = {(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]}
    assert changes == {("README.md", "modified"), ("src/greet.py", "added")}
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "**Reading the README**\n\nThe user wants a greet function;"
        " I should read the README first.",
        "**Planning the module**\n\nA module src/greet.py with one function is enough; no class"
        " needed.",
    ]
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
    ]
    usage = [e.payload for e in by_kind["note"] if "usage" in e.payload]
    assert [u["usage"]["output_tokens"] for u in usage] == [60, 140]
    assert usage[1]["total_usage"]["total_tokens"] == 5700
    assert by_id["call_4"]["output"]["exit_code"] == 5  # the failure: Codex has no failure hook
    assert [e.payload["event"] for e in by_kind["subagent"]] == ["start", "stop"]
    assert by_kind["subagent"][0].payload["agent_type"] == "explorer"
    assert by_kind["compaction"][0].payload["phase"] == "pre"
    assert by_kind["reasoning"][0].model == MODEL
    assert [s.agent for s in checkpoint.sessions] == ["codex"]
    assert checkpoint.sessions[0].session_id == SID
    assert bitloops.ModelIdentity(agent="codex", model=MODEL) in checkpoint.models


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-session-id": json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "x"}).encode(),
    "wrong-types": json.dumps(
        {"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": 5}
    ).encode(),
    "model-not-text": json.dumps(
        {"hook_event_name": "SessionStart", "session_id": "s-1", "model": ["x"]}
    ).encode(),
    "session-id-not-text": json.dumps({"hook_event_name": "Stop", "session_id": 7}).encode(),
    "tool-name-missing": json.dumps(
        {"hook_event_name": "PostToolUse", "session_id": "s-1", "tool_input": {}}
    ).encode(),
    "invalid-utf8": b'{"hook_event_name": "Stop", "session_id": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_logged_not_raised(git_repo: Path, name: str) -> None:
    """A bad payload raises nothing, records nothing, and is logged in hooks.log."""
    raw = with_field(BAD_INPUTS[name], "cwd", str(git_repo))
    err = io.StringIO()
    where = codex.run_hook(io.BytesIO(raw), git_repo, err)
    log = git_repo / ".git" / "bitloops" / "hooks.log"
    assert where == str(log)
    assert "Traceback" not in err.getvalue() and "codex hook failed" in err.getvalue()
    assert_logged(git_repo, "codex")


def test_payload_outside_a_git_repo_writes_nothing(tmp_path: Path) -> None:
    """A payload whose cwd is no work tree (nor is the hook's): nothing raised or written."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": "hi"}
    payload["cwd"] = str(elsewhere)
    err = io.StringIO()
    where = codex.run_hook(io.BytesIO(json.dumps(payload).encode()), elsewhere, err)
    assert where == "nowhere (no git work tree found)"
    assert list(elsewhere.iterdir()) == []


def test_good_payload_through_run_hook(git_repo: Path) -> None:
    """A valid payload through run_hook returns None and records the prompt."""
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s-ok", "prompt": "hi"}
    payload["cwd"] = str(git_repo)
    err = io.StringIO()
    assert codex.run_hook(io.BytesIO(json.dumps(payload).encode()), git_repo, err) is None
    assert err.getvalue() == ""
    with bitloops.Repository.open(git_repo) as repo:
        assert [e.kind for e in repo.draft().events] == ["session_start", "prompt"]
        assert repo.draft().sessions[0].agent == "codex"


def _message(n: int, text: str) -> str:
    content = [{"type": "output_text", "text": text}]
    payload = {"type": "message", "role": "assistant", "content": content}
    line = {"timestamp": f"2026-06-01T11:00:{n:02d}Z", "type": "response_item", "payload": payload}
    return json.dumps(line) + "\n"


def _start(repo: bitloops.Repository, rollout: Path) -> None:
    codex.handle(
        {
            "hook_event_name": "SessionStart",
            "session_id": SID,
            "cwd": str(repo.toplevel),
            "transcript_path": str(rollout),
            "model": None,
        }
    )


def _responses(repo: bitloops.Repository) -> list[str]:
    return [e.payload["text"] for e in repo.draft().events if e.kind == "response"]


def test_catch_up_is_incremental(repo: bitloops.Repository, tmp_path: Path) -> None:
    """Twice records nothing new; appended lines alone are recorded; a partial line waits."""
    rollout = _write_rollout(repo.toplevel, tmp_path / "rollout.jsonl")
    _start(repo, rollout)
    # reasoning, responses, tool uses (call_1, call_3, call_2), usage notes, patch's file_changes
    assert codex.catch_up(repo, SID, rollout) == 2 + 2 + 3 + 2 + 2
    assert codex.catch_up(repo, SID, rollout) == 0
    with open(rollout, "a", encoding="utf-8") as fh:
        fh.write(_message(1, "One more thing."))
        fh.write(_message(2, "Half a line")[:40])  # still being written
    assert codex.catch_up(repo, SID, rollout, max_seconds=5) == 1
    with open(rollout, "a", encoding="utf-8") as fh:
        fh.write(_message(2, "Half a line")[40:])
    assert codex.catch_up(repo, SID, rollout) == 1
    assert _responses(repo)[-2:] == ["One more thing.", "Half a line"]
    assert codex.active_transcripts(repo) == [(SID, str(rollout))]
    assert repo.store.sessions(session_ids=[SID])[0].model == MODEL


def test_call_split_across_reads_is_one_call_and_one_result(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """A call read before its output: a tool_use now, one tool_result later, duplicates dropped."""
    rollout = tmp_path / "rollout.jsonl"
    call = {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "c9"}
    end = {"type": "exec_command_end", "call_id": "c9", "stdout": "ok\n", "exit_code": 0}
    out = {"type": "function_call_output", "call_id": "c9", "output": "ok\n"}
    rollout.write_text(json.dumps({"type": "response_item", "payload": call}) + "\n")
    _start(repo, rollout)
    assert codex.catch_up(repo, SID, rollout) == 1
    with open(rollout, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "event_msg", "payload": end}) + "\n")
        fh.write(json.dumps({"type": "response_item", "payload": out}) + "\n")
    assert codex.catch_up(repo, SID, rollout) == 1
    kinds = [e.kind for e in repo.draft().events if e.kind.startswith("tool")]
    assert kinds == ["tool_use", "tool_result"]


def test_stop_without_transcript_path_finds_the_rollout(
    repo: bitloops.Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A null transcript_path: Stop finds the rollout under $CODEX_HOME/sessions by id."""
    home = tmp_path / "codex-home"
    day = home / "sessions" / "2026" / "06" / "01"
    day.mkdir(parents=True)
    _write_rollout(repo.toplevel, day / f"rollout-2026-06-01T10-00-00-{SID}.jsonl")
    monkeypatch.setenv("CODEX_HOME", str(home))
    stop = {
        "hook_event_name": "Stop",
        "session_id": SID,
        "cwd": str(repo.toplevel),
        "transcript_path": None,
        "last_assistant_message": FINAL,
    }
    codex.handle(stop)
    assert _responses(repo) == ["Let me look at the README first.", FINAL]
