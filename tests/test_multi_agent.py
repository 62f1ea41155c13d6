"""Two agents in one repository in the same hour: one checkpoint, each event tagged."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from agent_fixtures import payloads, write_transcript

import bitloops
from bitloops.testing import assert_silent, commit_all, enable, run_hook

CLAUDE_SID, CLAUDE_MODEL = "cc-session-1", "claude-opus-4-5-20251101"
CURSOR_SID, CURSOR_MODEL = "cur-conv-1", "claude-4.5-sonnet"
GREET = "def greet(name):\n    return f'Hello, {name}!'\n"


def _hook(agent: str, payload: dict[str, Any], cwd: Path) -> None:
    assert_silent(run_hook(agent, payload, repo=cwd))


def _apply(repo: Path, agent: str, payload: dict[str, Any]) -> None:
    """The files both agents' tools write, before their hooks report them."""
    name = payload["hook_event_name"]
    tool = payload.get("tool_name")
    readme = (agent == "claude-code" and name == "PostToolUse" and tool == "Edit") or (
        agent == "cursor" and name == "afterFileEdit" and payload["file_path"].endswith(".md")
    )
    greet = (agent == "claude-code" and name == "PostToolUse" and tool == "Write") or (
        agent == "cursor" and name == "afterFileEdit" and payload["file_path"].endswith(".py")
    )
    if readme:
        (repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
    if greet:
        (repo / "src").mkdir(exist_ok=True)
        (repo / "src" / "greet.py").write_text(GREET, encoding="utf-8")


def test_claude_code_and_cursor_share_one_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Interleaved Claude Code and Cursor sessions: one commit, both in it, each tagged."""
    enable(git_repo)
    claude_transcript = write_transcript(
        "claude_code", "transcript.jsonl", git_repo, tmp_path / "claude.jsonl"
    )
    cursor_dir = tmp_path / "agent-transcripts" / CURSOR_SID
    cursor_dir.mkdir(parents=True)
    cursor_transcript = write_transcript(
        "cursor", "transcript.jsonl", git_repo, cursor_dir / f"{CURSOR_SID}.jsonl"
    )
    claude = [("claude-code", p) for p in payloads("claude_code", git_repo, claude_transcript)]
    cursor = [("cursor", p) for p in payloads("cursor", git_repo, cursor_transcript)]
    # the two agents take turns, as two windows open on one repository would
    for pair in itertools.zip_longest(claude, cursor):
        for item in pair:
            if item is not None:
                agent, payload = item
                _apply(git_repo, agent, payload)
                _hook(agent, payload, git_repo)
    checkpoint = commit_all(git_repo, "greet, twice over")
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.draft().empty  # everything went into the one checkpoint
    assert {(s.session_id, s.agent) for s in checkpoint.sessions} == {
        (CLAUDE_SID, "claude-code"),
        (CURSOR_SID, "cursor"),
    }
    agent_of = {s.session_id: s.agent for s in checkpoint.sessions}
    events = list(checkpoint.events)
    assert all(e.agent == agent_of[e.session_id] for e in events)
    claude_events = [e for e in events if e.agent == "claude-code"]
    cursor_events = [e for e in events if e.agent == "cursor"]
    # the kinds each agent brought, both sessions complete in the one checkpoint
    for mine in (claude_events, cursor_events):
        kinds = {e.kind for e in mine}
        assert kinds >= {
            "session_start",
            "prompt",
            "reasoning",
            "response",
            "tool_use",
            "file_change",
            "subagent",
            "compaction",
            "session_end",
        }
    # each event carries its own agent's model: Cursor's on every one, Claude Code's exact
    # id from its transcript on everything recorded once the transcript was read
    assert {e.model for e in cursor_events} == {CURSOR_MODEL}
    assert {e.model for e in claude_events if e.kind in ("reasoning", "response")} == {CLAUDE_MODEL}
    assert not {e.model for e in claude_events} & {CURSOR_MODEL}
    assert {(m.agent, m.model) for m in checkpoint.models} >= {
        ("claude-code", CLAUDE_MODEL),
        ("cursor", CURSOR_MODEL),
    }
    assert set(checkpoint.summary.agents) == {"claude-code", "cursor"}
    # the two sessions interleave in time, within the hour
    times = sorted(e.ts for e in events)
    assert (times[-1] - times[0]).total_seconds() < 3600
    first_cursor = min(e.ts for e in cursor_events)
    last_claude = max(e.ts for e in claude_events)
    assert first_cursor < last_claude
    files = {(f.path, f.by_agent) for f in checkpoint.files}
    assert files >= {("README.md", True), ("src/greet.py", True)}
    changed_by = {(e.agent, e.payload["path"]) for e in events if e.kind == "file_change"}
    assert changed_by == {
        ("claude-code", "README.md"),
        ("claude-code", "src/greet.py"),
        ("cursor", "README.md"),
        ("cursor", "src/greet.py"),
    }
