"""The session strategy: a checkpoint per ended session, linked to the commits it made."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_files

import bitloops
from bitloops.checkpoint._files import CHECKPOINTS_DIR


@pytest.fixture
def session_repo(git_repo: Path) -> bitloops.Repository:
    """A repository configured with the session strategy."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"strategy": "session"}')
    return bitloops.Repository.open(git_repo)


def test_ending_a_session_makes_its_checkpoint(
    session_repo: bitloops.Repository, git_repo: Path
) -> None:
    """end() promotes the session's events, linked to every commit made meanwhile."""
    repo = session_repo
    s = repo.start_session(agent="claude-code", model="opus")
    s.prompt("two steps")
    first = commit_files(git_repo, {"a.py": "def a():\n    return 1\n"}, "step 1")
    s.decision("second step", rationale="smaller diffs")
    second = commit_files(git_repo, {"b.py": "def b():\n    return 2\n"}, "step 2")
    assert repo.promote() is None  # the session is still open: nothing yet
    s.end()
    cp = repo.checkpoint("HEAD")
    assert cp.strategy == "session"
    assert cp.commit_sha == second and set(cp.commits) == {first, second}
    assert repo.checkpoint(first).checkpoint_id == cp.checkpoint_id
    assert {f.path for f in cp.files} == {"a.py", "b.py"}
    assert {s.name for s in cp.symbols} >= {"a", "b"}
    assert [e.kind for e in cp.events][-1] == "session_end"
    assert repo.draft().events == ()
    assert repo.verify().ok


def test_each_session_gets_its_own_checkpoint(
    session_repo: bitloops.Repository, git_repo: Path
) -> None:
    """Two sessions ending on one commit: two checkpoints, two folders, other drafts kept."""
    repo = session_repo
    commit_files(git_repo, {"x.txt": "1"})
    a = repo.start_session(agent="claude-code")
    b = repo.start_session(agent="cursor")
    c = repo.start_session(agent="codex")
    a.prompt("from claude")
    b.prompt("from cursor")
    c.prompt("still working")
    a.end()
    b.end()
    made = repo.checkpoints(commit="HEAD")
    assert sorted(cp.sessions[0].agent for cp in made) == ["claude-code", "cursor"]
    assert all(len(cp.sessions) == 1 for cp in made)
    sha = made[0].commit_sha
    root = git_repo / CHECKPOINTS_DIR / sha
    folders = [root] + [p for p in root.iterdir() if p.is_dir()]
    assert sorted(bitloops.read_checkpoint_dir(f).checkpoint_id for f in folders) == sorted(
        cp.checkpoint_id for cp in made
    )
    assert {e.session_id for e in repo.draft().events} == {c.session_id}
    assert repo.verify().ok


def test_idle_sessions_end_and_promote(session_repo: bitloops.Repository, git_repo: Path) -> None:
    """A session idle past idle_minutes is ended by the next promote() and checkpointed."""
    repo = session_repo
    s = repo.start_session(agent="a")
    s.prompt("then the agent went quiet")
    commit_files(git_repo, {"x.txt": "1"})
    repo.store._conn.execute(
        "UPDATE live_events SET ts = '2000-01-01T00:00:00.000000Z'; "
        "UPDATE sessions SET started_at = '2000-01-01T00:00:00.000000Z'"
    )
    cp = repo.promote()
    assert cp is not None
    assert cp.events[-1].kind == "session_end"
    assert cp.events[-1].payload == {"reason": "idle"}


def test_a_session_ended_before_any_commit_waits(git_repo: Path, tmp_path: Path) -> None:
    """With no commit to link to, the ended session's draft stays until there is one."""
    from conftest import git

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    (fresh / ".bitloops").mkdir()
    (fresh / ".bitloops" / "settings.json").write_text('{"strategy": "session"}')
    repo = bitloops.Repository.open(fresh)
    s = repo.start_session(agent="a")
    s.prompt("before the first commit")
    s.end()
    assert len(repo.draft().events) == 3
    sha = commit_files(fresh, {"a.txt": "1"})
    cp = repo.promote()
    assert cp is not None and cp.commit_sha == sha
    repo.close()
