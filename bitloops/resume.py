"""Resume a branch's work: check the branch out and find the session to continue."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import attrs

from .errors import CheckpointNotFound, GitError, UnknownRef
from .model import Checkpoint, SessionInfo

if TYPE_CHECKING:
    from .repository import Repository

__all__ = ["ResumeInfo", "continue_command", "resume"]

# How each agent's own CLI reopens a session by id (from the agents' documentation).
_RESUME_COMMANDS = {
    "claude-code": ["claude", "--resume"],
    "codex": ["codex", "resume"],
    "gemini": ["gemini", "--resume"],
    "copilot": ["copilot", "--resume"],
    "opencode": ["opencode", "--session"],
}


@attrs.frozen(kw_only=True)
class ResumeInfo:
    """Where a branch's work stands, and how to pick it up."""

    branch: str
    head: str
    checkpoint: Checkpoint | None
    session: SessionInfo | None
    #: A shell command that continues the session with the agent that produced it.
    command: str | None


def continue_command(agent: str, session_id: str) -> str | None:
    """The command that reopens ``session_id`` in ``agent``'s CLI, if that agent has one."""
    base = _RESUME_COMMANDS.get(agent)
    return None if base is None else shlex.join([*base, session_id])


def resume(repo: Repository, branch: str, *, checkout: bool = True) -> ResumeInfo:
    """Check out ``branch`` (unless ``checkout`` is False) and find its latest work.

    The checkpoint is the newest one on the branch's first-parent history; the session
    is the most recently active one recorded on that branch (live or committed).
    Raises :class:`~bitloops.UnknownRef` for a branch that does not exist and
    :class:`~bitloops.GitError` when git refuses the checkout (local changes).
    """
    if branch.startswith("-") or not repo.git.try_run("check-ref-format", "--branch", branch):
        raise UnknownRef(f"{branch!r} is not a branch name")
    head = repo.git.resolve_commit(f"refs/heads/{branch}")
    if checkout and repo.git.branch() != branch:
        try:
            repo.git.run("checkout", "--quiet", branch)
        except GitError as exc:
            raise GitError(
                f"cannot switch to {branch}: {exc}; commit or stash your changes first"
            ) from None
    checkpoint = _latest_checkpoint(repo, head)
    sessions = [s for s in repo.store.sessions() if s.branch == branch]
    if checkpoint is not None:
        sessions += [
            s for s in checkpoint.sessions if s.session_id not in {x.session_id for x in sessions}
        ]
    session = max(sessions, key=lambda s: s.last_event_at or s.started_at, default=None)
    command = continue_command(session.agent, session.session_id) if session else None
    return ResumeInfo(
        branch=branch, head=head, checkpoint=checkpoint, session=session, command=command
    )


def _latest_checkpoint(repo: Repository, head: str) -> Checkpoint | None:
    try:
        return repo.checkpoint(head)
    except CheckpointNotFound:
        pass
    chain = repo.git.first_parent_chain(head, 1000)
    found = repo.store.checkpoints_for_commits(chain)
    for sha in chain:
        if sha in found:
            return repo.checkpoint(found[sha][0])
    return None
