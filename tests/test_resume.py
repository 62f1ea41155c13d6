"""bitloops.resume: switch to a branch and find the session to continue."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import write_transcript
from conftest import commit_files, git

import bitloops
from bitloops.importing import import_transcript
from bitloops.resume import continue_command, resume


def test_resume_checks_out_and_finds_the_latest_work(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """The branch is checked out; its newest checkpoint and session are found."""
    git(git_repo, "checkout", "-q", "-b", "feature")
    s = repo.start_session(agent="claude-code", model="opus", session_id="sess-42")
    s.prompt("build the feature")
    commit_files(git_repo, {"f.txt": "1"})
    cp = repo.promote()
    commit_files(git_repo, {"g.txt": "2"})  # a later commit without a checkpoint
    git(git_repo, "checkout", "-q", "main")
    info = resume(repo, "feature")
    assert git(git_repo, "branch", "--show-current").strip() == "feature"
    assert info.checkpoint == cp
    assert info.session is not None and info.session.session_id == "sess-42"
    assert info.command == "claude --resume sess-42"


def test_resume_of_an_unknown_branch(repo: bitloops.Repository) -> None:
    """A branch that does not exist is an UnknownRef; a dash-name is refused."""
    with pytest.raises(bitloops.UnknownRef):
        resume(repo, "nope")
    with pytest.raises(bitloops.UnknownRef):
        resume(repo, "--force")


def test_resume_refuses_to_clobber_local_changes(repo: bitloops.Repository, git_repo: Path) -> None:
    """git's refusal to switch over local changes becomes a GitError that says what to do."""
    git(git_repo, "checkout", "-q", "-b", "feature")
    commit_files(git_repo, {"README.md": "changed on feature\n"})
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "README.md").write_text("local edit\n")
    with pytest.raises(bitloops.GitError, match="stash"):
        resume(repo, "feature")
    assert (git_repo / "README.md").read_text() == "local edit\n"


def test_continue_commands() -> None:
    """Known agents get their resume command; others get none."""
    assert continue_command("codex", "abc") == "codex resume abc"
    assert continue_command("my-loop", "abc") is None
    assert continue_command("claude-code", "id with space") == "claude --resume 'id with space'"


# -- restoring the agent's transcript ------------------------------------------------------

# agent name -> (fixture folder, transcript fixture, session id, continue command)
AGENT_FIXTURES = {
    "claude-code": ("claude_code", "transcript.jsonl", "cc-session-1", "claude --resume"),
    "codex": (
        "codex",
        "rollout.jsonl",
        "0199a5c3-1f2e-7c10-9b8a-3d4e5f6a7b8c",
        "codex resume",
    ),
    "gemini": ("gemini", "session.jsonl", "gm-session-1", "gemini --resume"),
}


def _imported_checkpoint(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path, agent: str
) -> bitloops.Checkpoint:
    folder, name, _, _ = AGENT_FIXTURES[agent]
    path = write_transcript(folder, name, git_repo, tmp_path / f"original-{name}")
    import_transcript(repo, agent, path)
    commit_files(git_repo, {"src/greet.py": "def greet(name):\n    return name\n"})
    checkpoint = repo.promote()
    assert checkpoint is not None
    return checkpoint


def _conversation(events: Iterable[bitloops.Event]) -> Counter[tuple[Any, ...]]:
    """What a transcript round trip must keep: the conversation, with its times."""
    kept: Counter[tuple[Any, ...]] = Counter()
    for e in events:
        if e.kind in ("prompt", "reasoning", "response"):
            kept[(e.kind, e.payload["text"], e.ts)] += 1
        elif e.kind == "tool_use":
            key = json.dumps([e.payload["input"], e.payload.get("output")], sort_keys=True)
            kept[(e.kind, e.payload["name"], key, e.ts)] += 1
        elif e.kind == "file_change":  # "added" or "modified" depends on git at the time
            kept[(e.kind, e.payload["path"])] += 1
    return kept


def _expected_place(agent: str, home: Path, git_repo: Path, sid: str, env: dict[str, str]) -> Path:
    if agent == "claude-code":
        slug = re.sub(r"[^A-Za-z0-9]", "-", str(git_repo))
        return home / ".claude" / "projects" / slug / f"{sid}.jsonl"
    if agent == "codex":
        day = Path(env["CODEX_HOME"]) / "sessions" / "2026" / "06" / "01"
        return day / f"rollout-2026-06-01T10-00-01-{sid}.jsonl"
    project = hashlib.sha256(str(git_repo).encode()).hexdigest()
    return (
        home / ".gemini" / "tmp" / project / "chats" / f"session-2026-06-01T10-00-{sid[:8]}.jsonl"
    )


@pytest.mark.parametrize("agent", sorted(AGENT_FIXTURES))
def test_resume_restores_the_transcript_for_the_agent(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path, agent: str
) -> None:
    """The transcript is written where the agent looks; importing it gives the same events."""
    checkpoint = _imported_checkpoint(repo, git_repo, tmp_path, agent)
    _, _, sid, command = AGENT_FIXTURES[agent]
    home = tmp_path / "home"
    env = {"CODEX_HOME": str(tmp_path / "codex-home")}
    info = resume(repo, "main", home=home, environ=env)
    assert info.command == f"{command} {sid}"
    assert info.transcript is not None and info.transcript.restored
    restored = Path(str(info.transcript.path))
    assert restored == _expected_place(agent, home, git_repo, sid, env)
    original = _conversation(checkpoint.events)
    # ... and in this repository, which holds all of it, importing it adds nothing.
    assert import_transcript(repo, agent, restored).events_added == 0
    # A clone at the same place that never saw the session gets the same conversation.
    repo.close()
    shutil.rmtree(repo.paths.common_dir / "bitloops")
    with bitloops.Repository.open(git_repo) as fresh:
        result = import_transcript(fresh, agent, restored)
        assert result.session_id == sid and result.new
        copy = [e for e in fresh.draft().events if e.session_id == sid]
    assert original and _conversation(copy) == original


def test_resume_never_overwrites_the_agents_file(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """A transcript the agent already has is left alone, and resume says so."""
    _imported_checkpoint(repo, git_repo, tmp_path, "claude-code")
    home = tmp_path / "home"
    mine = _expected_place("claude-code", home, git_repo, "cc-session-1", {})
    mine.parent.mkdir(parents=True)
    mine.write_text("the agent's own copy\n")
    info = resume(repo, "main", home=home, environ={})
    assert info.transcript is not None and not info.transcript.restored
    assert info.transcript.path == str(mine) and "left as it is" in info.transcript.note
    assert mine.read_text() == "the agent's own copy\n"
    assert info.command == "claude --resume cc-session-1"


def test_resume_honours_claude_config_dir(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """CLAUDE_CONFIG_DIR moves Claude Code's folder, and the restored file with it."""
    _imported_checkpoint(repo, git_repo, tmp_path, "claude-code")
    config = tmp_path / "claude-config"
    info = resume(repo, "main", home=tmp_path / "home", environ={"CLAUDE_CONFIG_DIR": str(config)})
    assert info.transcript is not None and info.transcript.restored
    assert Path(str(info.transcript.path)).parent.parent == config / "projects"
    assert not (tmp_path / "home").exists()


def test_resume_of_an_agent_without_transcript_support(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """An agent bitloops cannot write transcripts for gets a note, and no file."""
    with repo.start_session(agent="my-loop", session_id="loop-1") as s:
        s.prompt("hello")
    info = resume(repo, "main", home=tmp_path / "home", environ={})
    assert info.command is None
    assert info.transcript is not None and info.transcript.path is None
    assert "cannot rebuild my-loop transcripts" in info.transcript.note
    assert not (tmp_path / "home").exists()
    assert resume(repo, "main", restore=False).transcript is None


def test_cli_resume_prints_the_restored_path(git_repo: Path, tmp_path: Path) -> None:
    """`bitloops resume --json` has the restored path and the command; text says both."""
    with bitloops.Repository.open(git_repo) as repo:
        _imported_checkpoint(repo, git_repo, tmp_path, "claude-code")
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_CONFIG_DIR"}
    env["HOME"] = str(tmp_path / "home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bitloops", "resume", *args],
            cwd=git_repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    first = run("--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    expected = _expected_place("claude-code", tmp_path / "home", git_repo, "cc-session-1", {})
    assert data["command"] == "claude --resume cc-session-1"
    assert data["transcript"]["path"] == str(expected) and data["transcript"]["restored"]
    assert expected.is_file()
    second = run("--no-checkout")
    assert second.returncode == 0, second.stderr
    assert f"{expected} is already there; left as it is" in second.stdout
    assert "Continue:    claude --resume cc-session-1" in second.stdout
    skipped = run("--no-restore", "--json")
    assert json.loads(skipped.stdout)["transcript"] is None
