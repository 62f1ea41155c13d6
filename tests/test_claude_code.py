"""Claude Code capture: hook payloads through `bitloops hook claude-code`, and the transcript."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import (
    assert_logged_not_recorded,
    group_by_kind,
    payloads,
    run_hook,
    with_field,
    write_transcript,
)
from conftest import git

import bitloops
from bitloops import testing
from bitloops.agents import claude_code
from bitloops.testing import ClaudeCodeTranscript, assert_silent, commit_all, enable

SID = "cc-session-1"
MODEL = "claude-opus-4-5-20251101"


def _payloads(repo: Path, transcript: Path) -> list[dict[str, Any]]:
    return payloads("claude_code", repo, transcript)


def _write_transcript(repo: Path, dest: Path) -> Path:
    return write_transcript("claude_code", "transcript.jsonl", repo, dest)


def _run_hook(stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return run_hook("claude-code", stdin, cwd)


def test_full_session_becomes_a_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Every fixture payload through the CLI, then a commit: the checkpoint has it all."""
    transcript = _write_transcript(git_repo, tmp_path / "transcript.jsonl")
    for payload in _payloads(git_repo, transcript):
        # What the agent's tools did to the work tree, before the PostToolUse hook.
        if payload["hook_event_name"] == "PostToolUse" and payload["tool_name"] == "Edit":
            (git_repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
        if payload["hook_event_name"] == "PostToolUse" and payload["tool_name"] == "Write":
            (git_repo / "src").mkdir()
            (git_repo / "src" / "greet.py").write_text(
                payload["tool_input"]["content"], encoding="utf-8"
            )
        assert_silent(_run_hook(json.dumps(payload).encode(), git_repo))
    checkpoint = commit_all(git_repo, "greet", promote=True)
    events = list(checkpoint.events)
    by_kind = group_by_kind(events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [
        "Add a greet() function in src/greet.py and mention it in the README"
    ]
    tools = {e.payload["tool_use_id"]: e.payload for e in by_kind["tool_use"]}
    # A failed call is the call and its error result, as an import records it.
    assert sorted(tools) == ["toolu_01", "toolu_02", "toolu_03", "toolu_04", "toolu_05"]
    assert tools["toolu_04"]["output"]["stdout"] == "imported ok\n"
    assert tools["toolu_02"]["input"]["new_string"] == "# demo\n\nSee greet().\n"
    assert tools["toolu_01"]["duration_ms"] == 12
    failure = by_kind["tool_result"][0].payload
    assert failure["tool_use_id"] == "toolu_05" and failure["is_error"] is True
    assert failure["output"] == "Exit code 5: no tests ran"
    changes = {(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]}
    assert changes == {("README.md", "modified"), ("src/greet.py", "added")}
    assert {f.path for f in checkpoint.files if f.by_agent} == {"README.md", "src/greet.py"}
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "The user wants a greet function; I should read the README first.",
        "A module src/greet.py with one function is enough; no class needed.",
    ]
    # The final text came from both the transcript and the Stop hook: recorded once.
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        "I added greet() in src/greet.py and mentioned it in the README.",
    ]
    assert by_kind["reasoning"][0].payload["transcript_uuid"] == "a-0001"
    usage = [e.payload for e in by_kind["note"] if "usage" in e.payload]
    assert [u["message_id"] for u in usage] == ["msg_01", "msg_02", "msg_03"]
    assert usage[0]["usage"]["output_tokens"] == 42  # the message's last line wins
    assert [e.payload["event"] for e in by_kind["subagent"]] == ["start", "stop"]
    assert by_kind["subagent"][0].payload["agent_type"] == "Explore"
    assert by_kind["compaction"][0].payload == {
        "phase": "pre",
        "trigger": "manual",
        "custom_instructions": "",
    }
    assert events[-1].kind == "session_end"
    assert events[-1].payload == {"reason": "prompt_input_exit"}
    assert events[-1].model == MODEL
    assert [s.agent for s in checkpoint.sessions] == ["claude-code"]
    assert checkpoint.sessions[0].session_id == SID
    assert checkpoint.sessions[0].status == "ended"
    assert bitloops.ModelIdentity(agent="claude-code", model=MODEL) in checkpoint.models
    assert MODEL in checkpoint.summary.models


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-session-id": json.dumps({"hook_event_name": "UserPromptSubmit", "prompt": "x"}).encode(),
    "wrong-types": json.dumps(
        {"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": 5}
    ).encode(),
    "session-id-not-text": json.dumps({"hook_event_name": "Stop", "session_id": 7}).encode(),
    "tool-name-missing": json.dumps(
        {"hook_event_name": "PostToolUse", "session_id": "s-1", "tool_input": {}}
    ).encode(),
    "invalid-utf8": b'{"hook_event_name": "Stop", "session_id": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_0_and_is_logged(git_repo: Path, name: str) -> None:
    """A bad payload exits 0, prints no traceback, records nothing and is logged."""
    raw = BAD_INPUTS[name]
    if b"session_id" in raw:
        raw = with_field(raw, "cwd", str(git_repo))
    assert_logged_not_recorded(_run_hook(raw, git_repo), git_repo, "claude-code")


def test_payload_outside_a_git_repo_exits_0(tmp_path: Path) -> None:
    """A payload whose cwd is no work tree (nor is the hook's): exit 0, nothing written."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": "hi"}
    payload["cwd"] = str(elsewhere)
    proc = _run_hook(json.dumps(payload).encode(), elsewhere)
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert b"Traceback" not in proc.stderr
    assert list(elsewhere.iterdir()) == []


def test_git_hook_names_still_work(git_repo: Path) -> None:
    """`bitloops hook post-commit` is unchanged by the claude-code name."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "post-commit"],
        cwd=git_repo,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == b""


def _assistant(uuid: str, text: str, mid: str = "msg_x") -> str:
    line = {
        "type": "assistant",
        "uuid": uuid,
        "message": {"id": mid, "model": MODEL, "content": [{"type": "text", "text": text}]},
    }
    return json.dumps(line) + "\n"


def _start(repo: bitloops.Repository, transcript: Path) -> None:
    claude_code.handle(
        {
            "hook_event_name": "SessionStart",
            "session_id": SID,
            "cwd": str(repo.toplevel),
            "transcript_path": str(transcript),
        }
    )


def _responses(repo: bitloops.Repository) -> list[str]:
    return [e.payload["text"] for e in repo.draft().events if e.kind == "response"]


def test_catch_up_is_incremental(repo: bitloops.Repository, tmp_path: Path) -> None:
    """Twice records nothing new; appended lines alone are recorded; a partial line waits."""
    transcript = _write_transcript(repo.toplevel, tmp_path / "t.jsonl")
    _start(repo, transcript)
    first = claude_code.catch_up(repo, SID, transcript)
    assert first == 2 + 2 + 3  # reasoning, responses, usage notes
    assert claude_code.catch_up(repo, SID, transcript) == 0
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_assistant("a-0100", "One more thing."))
        fh.write(_assistant("a-0101", "Half a line")[:40])  # still being written
    assert claude_code.catch_up(repo, SID, transcript, max_seconds=5) == 1
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_assistant("a-0101", "Half a line")[40:])
    assert claude_code.catch_up(repo, SID, transcript) == 1
    assert _responses(repo)[-2:] == ["One more thing.", "Half a line"]
    assert claude_code.active_transcripts(repo) == [(SID, str(transcript))]


def test_catch_up_after_truncation_does_not_duplicate(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """A truncated (rotated) transcript is read again from 0, skipping uuids already seen."""
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(_assistant("a-1", "first") + _assistant("a-2", "second"), "utf-8")
    _start(repo, transcript)
    assert claude_code.catch_up(repo, SID, transcript) == 2
    transcript.write_text(_assistant("a-3", "third"), "utf-8")  # smaller than the offset
    assert claude_code.catch_up(repo, SID, transcript) == 1
    assert claude_code.catch_up(repo, SID, transcript) == 0
    assert _responses(repo) == ["first", "second", "third"]


def test_handle_starts_an_unknown_session(repo: bitloops.Repository) -> None:
    """An event of a session bitloops never saw start (enabled mid-session) starts it."""
    events = claude_code.handle(
        {"hook_event_name": "UserPromptSubmit", "session_id": "late", "prompt": "go on"},
        cwd=str(repo.toplevel),
    )
    assert [e.kind for e in events] == ["prompt"]
    kinds = [e.kind for e in repo.draft().events]
    assert kinds == ["session_start", "prompt"]
    assert repo.draft().sessions[0].agent == "claude-code"


def test_write_outside_the_work_tree_is_no_file_change(repo: bitloops.Repository) -> None:
    """A tool writing outside the work tree is a tool_use without a file_change."""
    events = claude_code.handle(
        {
            "hook_event_name": "PostToolUse",
            "session_id": "s-out",
            "cwd": str(repo.toplevel),
            "tool_name": "Write",
            "tool_use_id": "toolu_x",
            "tool_input": {"file_path": "/tmp/elsewhere.txt", "content": "x"},
            "tool_response": {"type": "create"},
        }
    )
    assert [e.kind for e in events] == ["tool_use"]


def test_stop_before_the_transcript_lands_is_not_duplicated(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """The Stop hook records the final text; the transcript bringing it later adds no copy."""
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("", encoding="utf-8")
    _start(repo, transcript)
    stop = {
        "hook_event_name": "Stop",
        "session_id": SID,
        "cwd": str(repo.toplevel),
        "transcript_path": str(transcript),
        "last_assistant_message": "All done.",
    }
    assert [e.kind for e in claude_code.handle(stop)] == ["response"]
    transcript.write_text(_assistant("a-1", "All done."), encoding="utf-8")
    assert claude_code.catch_up(repo, SID, transcript) == 0
    assert _responses(repo) == ["All done."]


def test_oversized_tool_output_is_cut_not_lost(git_repo: Path) -> None:
    """A tool output over max_payload_bytes is kept as an excerpt, marked truncated."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        json.dumps({"max_payload_bytes": 4096}), encoding="utf-8"
    )
    payload = {
        "hook_event_name": "PostToolUse",
        "session_id": "big",
        "cwd": str(git_repo),
        "tool_name": "Read",
        "tool_use_id": "toolu_big",
        "tool_input": {"file_path": str(git_repo / "README.md")},
        "tool_response": "x" * 20000,
    }
    (event,) = claude_code.handle(payload)
    assert event.payload["output_truncated"] is True
    assert 0 < len(event.payload["output"]) < 4096


def test_event_after_session_end_resumes_it(repo: bitloops.Repository) -> None:
    """SessionEnd ends the session; a later prompt of that id resumes it."""
    base = {"session_id": "r-1", "cwd": str(repo.toplevel)}
    claude_code.handle({**base, "hook_event_name": "SessionEnd", "reason": "clear"})
    assert claude_code.handle({**base, "hook_event_name": "SessionEnd"}) == []
    claude_code.handle({**base, "hook_event_name": "UserPromptSubmit", "prompt": "again"})
    kinds = [e.kind for e in repo.draft().events]
    assert kinds == ["session_start", "session_end", "session_start", "prompt"]
    assert repo.draft().sessions[0].status == "active"


def test_a_commit_made_mid_turn_gets_the_turns_reasoning(git_repo: Path, tmp_path: Path) -> None:
    """post-commit reads the open session's transcript before promoting (issue: mid-turn)."""
    enable(git_repo)
    transcript = ClaudeCodeTranscript("mid-1", cwd=git_repo, model="claude-opus-4-5")
    path = transcript.write(tmp_path / "session.jsonl")  # empty so far
    start = transcript.hook("SessionStart", source="startup")
    assert_silent(
        testing.run_hook(
            "claude-code",
            [start, transcript.hook("UserPromptSubmit", prompt="fix the bug")],
            repo=git_repo,
        )
    )
    # the agent thinks, then commits in the same turn: no Stop hook has run yet
    transcript.thinking("The off-by-one is in the loop bound.").write(path)
    (git_repo / "fix.py").write_text("x = 1\n")
    git(git_repo, "add", "fix.py")
    git(git_repo, "commit", "-q", "-m", "fix")
    with bitloops.Repository.open(git_repo) as repo:
        cp = repo.checkpoint("HEAD")
        reasoning = [e for e in cp.events if e.kind == "reasoning"]
        assert [e.payload["text"] for e in reasoning] == ["The off-by-one is in the loop bound."]
        assert ("claude-code", "claude-opus-4-5") in {(m.agent, m.model) for m in cp.models}
        assert repo.store.sessions(session_ids=["mid-1"])[0].model == "claude-opus-4-5"
