"""bitloops.resume: switch to a branch and find the session to continue."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_files, git

import bitloops
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
