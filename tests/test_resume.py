"""bitloops.agents._resume: switch to a branch and find the session to continue."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import run_hook, write_transcript
from conftest import commit_files, git

import bitloops
from bitloops.agents._resume import continue_command, resume
from bitloops.capture._importing import import_transcript


def test_resume_checks_out_and_finds_the_latest_work(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """The branch is checked out; its newest checkpoint and session are found."""
    git(git_repo, "checkout", "-q", "-b", "feature")
    s = repo.start_session(agent="claude-code", model="opus", session_id="sess-42")
    s.prompt("build the feature")
    commit_files(git_repo, {"f.txt": "1"})
    cp = repo.promote()
    commit_files(git_repo, {"g.txt": "2"})  # a later commit without a checkpoint
    git(git_repo, "checkout", "-q", "main")
    info = resume(repo, "feature", home=tmp_path / "home", environ={})  # not the real home
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


# -- where the session was started --------------------------------------------------------


def _slug(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


def _hooked_prompt(git_repo: Path, cwd: Path, home: Path, sid: str) -> None:
    """A prompt recorded by the Claude Code hook, as Claude Code started in ``cwd`` sends it."""
    from bitloops.agents import claude_code

    transcript = home / ".claude" / "projects" / _slug(cwd) / f"{sid}.jsonl"
    payload = {
        "hook_event_name": "UserPromptSubmit",
        "session_id": sid,
        "cwd": str(cwd),
        "transcript_path": str(transcript),  # gone since (Claude Code cleans old ones up)
        "prompt": "fix the tools",
    }
    claude_code.handle(payload, cwd=git_repo)


def test_a_session_started_in_a_subdirectory_is_restored_there(
    git_repo: Path, tmp_path: Path
) -> None:
    """Restored under the subdirectory's folder; the command starts Claude Code there."""
    sub = git_repo / "tools" / "cli.v2"
    sub.mkdir(parents=True)
    home = tmp_path / "home"
    _hooked_prompt(git_repo, sub, home, "cc-sub-1")
    with bitloops.Repository.open(git_repo) as repo:
        info = resume(repo, "main", home=home, environ={})
    expected = home / ".claude" / "projects" / _slug(sub) / "cc-sub-1.jsonl"
    assert info.transcript is not None and info.transcript.restored
    assert info.transcript.path == str(expected) and info.transcript.cwd == str(sub)
    assert info.command == f"cd {shlex.quote(str(sub))} && claude --resume cc-sub-1"
    records = [json.loads(line) for line in expected.read_text("utf-8").splitlines()]
    assert [r["message"]["content"] for r in records] == ["fix the tools"]
    assert {r["cwd"] for r in records} == {str(sub)}
    assert not (home / ".claude" / "projects" / _slug(git_repo)).exists()

    # The command line prints it; run again, the file is found and left alone.
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_CONFIG_DIR"}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "resume", "--no-checkout"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{expected} is already there; left as it is" in proc.stdout
    assert f"Continue:    cd {shlex.quote(str(sub))} && claude --resume cc-sub-1" in proc.stdout


def test_a_cwd_recorded_in_the_events_is_used(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """A custom loop's event naming its ``cwd`` places the file, in a clone without hook state."""
    other = tmp_path / "other checkout"
    other.mkdir()
    with repo.start_session(agent="claude-code", session_id="cc-loop-1") as s:
        s.record("note", {"text": "started", "cwd": str(other)})
        s.prompt("hello")
    home = tmp_path / "home"
    info = resume(repo, "main", home=home, environ={})
    assert info.transcript is not None and info.transcript.restored
    expected = home / ".claude" / "projects" / _slug(other) / "cc-loop-1.jsonl"
    assert info.transcript.path == str(expected) and expected.is_file()
    assert info.command == f"cd {shlex.quote(str(other))} && claude --resume cc-loop-1"


def test_the_agents_file_is_found_in_any_project_folder(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Claude Code's own file under another folder is reported, with its cwd, not duplicated."""
    _imported_checkpoint(repo, git_repo, tmp_path, "claude-code")
    home = tmp_path / "home"
    sub = git_repo / "src"  # made by the checkpoint's commit
    theirs = home / ".claude" / "projects" / _slug(sub) / "cc-session-1.jsonl"
    theirs.parent.mkdir(parents=True)
    line = {"type": "user", "sessionId": "cc-session-1", "cwd": str(sub), "uuid": "u1"}
    theirs.write_text(json.dumps(line) + "\n", encoding="utf-8")
    info = resume(repo, "main", home=home, environ={})
    assert info.transcript is not None and not info.transcript.restored
    assert info.transcript.path == str(theirs) and info.transcript.cwd == str(sub)
    assert "left as it is" in info.transcript.note
    assert info.command == f"cd {shlex.quote(str(sub))} && claude --resume cc-session-1"
    assert sorted((home / ".claude" / "projects").rglob("cc-session-1.jsonl")) == [theirs]
    assert theirs.read_text(encoding="utf-8") == json.dumps(line) + "\n"


def test_gemini_files_are_found_in_any_project_folder(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Gemini CLI's file under another project's hash is found and not written again."""
    _imported_checkpoint(repo, git_repo, tmp_path, "gemini")
    home = tmp_path / "home"
    chats = home / ".gemini" / "tmp" / ("0" * 64) / "chats"
    chats.mkdir(parents=True)
    theirs = chats / "session-2026-06-01T10-00-gm-sessi.jsonl"
    meta = {"sessionId": "gm-session-1", "projectHash": "0" * 64, "startTime": "2026"}
    theirs.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    info = resume(repo, "main", home=home, environ={})
    assert info.transcript is not None and not info.transcript.restored
    assert info.transcript.path == str(theirs)
    assert info.command == "gemini --resume gm-session-1"  # its folder is no known directory
    assert sorted((home / ".gemini").rglob("session-*")) == [theirs]


def test_a_session_of_another_worktree_is_restored_for_that_worktree(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Resumed from the main work tree, a session of a linked worktree goes to that one's folder."""
    linked = tmp_path / "linked"
    git(git_repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    home = tmp_path / "home"
    _hooked_prompt(linked, linked, home, "cc-wt-1")
    info = resume(repo, "feature", checkout=False, home=home, environ={})
    expected = home / ".claude" / "projects" / _slug(linked) / "cc-wt-1.jsonl"
    assert info.transcript is not None and info.transcript.restored
    assert info.transcript.path == str(expected)
    assert info.command == f"cd {shlex.quote(str(linked))} && claude --resume cc-wt-1"


def test_resume_refuses_a_session_id_that_climbs_out(git_repo: Path, tmp_path: Path) -> None:
    """A hook-recorded id of ``../../../../PWNED_x``: InvalidSessionId, nothing written."""
    sid = "../../../../PWNED_x"
    for payload in (
        {"hook_event_name": "SessionStart", "session_id": sid, "cwd": str(git_repo)},
        {"hook_event_name": "UserPromptSubmit", "session_id": sid, "prompt": "hello"},
    ):
        proc = run_hook(
            "claude-code", json.dumps({"cwd": str(git_repo), **payload}).encode(), git_repo
        )
        assert proc.returncode == 0, proc.stderr
    git(git_repo, "checkout", "-q", "-b", "elsewhere")
    home = tmp_path / "deep" / "er" / "home"
    before = sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts)
    with bitloops.Repository.open(git_repo) as repo:
        assert [s.session_id for s in repo.store.sessions()] == [sid]
        with pytest.raises(bitloops.BitloopsError, match="cannot name a transcript file"):
            resume(repo, "main", home=home, environ={})
    assert sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts) == before
    assert git(git_repo, "branch", "--show-current").strip() == "elsewhere"  # no checkout
