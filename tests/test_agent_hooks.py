"""`bitloops hook <agent>` for every integrated agent, and the catch-up registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bitloops
from bitloops.agents import claude_code, gemini
from bitloops.agents._registry import AGENTS, catch_up_all

PROMPTS: dict[str, dict[str, object]] = {
    "claude-code": {"hook_event_name": "UserPromptSubmit", "prompt": "hello"},
    "codex": {"hook_event_name": "UserPromptSubmit", "prompt": "hello"},
    "gemini": {"hook_event_name": "BeforeAgent", "prompt": "hello"},
    "cursor": {
        "hook_event_name": "beforeSubmitPrompt",
        "conversation_id": "s-cursor",
        "prompt": "hello",
    },
    "copilot": {"hookEventName": "userPromptSubmitted", "prompt": "hello"},
    "opencode": {
        "event": {
            "type": "message.part.updated",
            "properties": {
                "part": {"id": "p-1", "sessionID": "s-opencode", "type": "text", "text": "hello"}
            },
        },
        "role": "user",
    },
}


def _hook(repo: Path, name: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", name],
        cwd=repo,
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agent_hook_records_through_the_command(git_repo: Path, name: str) -> None:
    """Each agent's hook records its prompt through `python -m bitloops hook NAME`."""
    payload = {**PROMPTS[name], "session_id": f"s-{name}", "cwd": str(git_repo)}
    proc = _hook(git_repo, name, json.dumps(payload).encode())
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
    with bitloops.Repository.open(git_repo) as repo:
        prompts = [e for e in repo.draft().events if e.kind == "prompt"]
        assert [(e.agent, e.payload["text"]) for e in prompts] == [(name, "hello")]


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_agent_hook_never_blocks_on_bad_input(git_repo: Path, name: str) -> None:
    """Garbage on stdin: exit 0, nothing on stdout, no traceback, nothing recorded."""
    proc = _hook(git_repo, name, b"\xff{not json")
    assert proc.returncode == 0 and proc.stdout == b""
    assert b"Traceback" not in proc.stderr


def test_catch_up_reads_each_agents_transcript_with_its_own_reader(
    git_repo: Path, tmp_path: Path
) -> None:
    """With a Gemini session open, the Claude reader leaves its file to the Gemini reader."""
    session_file = tmp_path / "session-gemini.jsonl"
    session_file.write_text(
        json.dumps({"sessionId": "g-1", "startTime": "2026-06-01T10:00:00.000Z"})
        + "\n"
        + json.dumps(
            {
                "id": "m-1",
                "timestamp": "2026-06-01T10:00:01.000Z",
                "type": "gemini",
                "content": "Done.",
                "thoughts": [{"subject": "Plan", "description": "Check the loop bound."}],
                "model": "gemini-2.5-pro",
            }
        )
        + "\n"
    )
    base = {"session_id": "g-1", "transcript_path": str(session_file), "cwd": str(git_repo)}
    gemini.handle({**base, "hook_event_name": "SessionStart"})
    with bitloops.Repository.open(git_repo) as repo:
        assert claude_code.active_transcripts(repo) == []
        assert gemini.active_transcripts(repo) == [("g-1", str(session_file))]
        assert catch_up_all(repo) >= 1
        kinds = [e.kind for e in repo.draft().events]
        assert "reasoning" in kinds and "response" in kinds
