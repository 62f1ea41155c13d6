"""Promotions detached from `git commit` (bitloops/_pending.py), with real git and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import git

import bitloops
from bitloops import _commit_flow as flow
from bitloops import _pending as pending
from bitloops._codec import format_ts
from bitloops.checkpoint._files import CHECKPOINTS_DIR
from bitloops.checkpoint._links import LINK_FILE
from bitloops.git._git import Git
from bitloops.repository import DB_RELATIVE_PATH

BIG = pending.DETACH_AT + 20


def enable(repo: Path) -> None:
    """``bitloops enable`` in ``repo``."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "enable"], cwd=repo, capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def record(repo: Path, n: int, prompt: str = "make it fast") -> None:
    """Record ``n`` events of one session (in one transaction: quick)."""
    with bitloops.Repository.open(repo) as r, r.store.transaction():
        s = r.start_session("claude-code", "m1")
        s.prompt(prompt)
        for i in range(n - 2):
            s.record("tool_use", {"name": "bash", "input": {"command": f"echo {i}"}})


def commit(repo: Path, name: str) -> str:
    """A real ``git commit`` of a new file, hooks and all; the new SHA."""
    (repo / name).write_text(name, encoding="utf-8")
    git(repo, "add", "--", name)
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", f"add {name}"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return git(repo, "rev-parse", "HEAD").strip()


def records(repo: Path) -> list[str]:
    """The pending records' names."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    try:
        return sorted(n for n in os.listdir(git_dir / pending.PENDING_DIR) if "json" in n)
    except FileNotFoundError:
        return []


def wait_promoted(repo: Path, sha: str, seconds: float = 60.0) -> bitloops.Checkpoint:
    """Wait for the worker to promote ``sha``; its checkpoint."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not records(repo):
            with bitloops.Repository.open(repo) as r:
                if r.store.checkpoints_for_commits([sha]):
                    return r.checkpoint(sha)
        time.sleep(0.1)
    raise AssertionError(f"{sha} was not promoted; records: {records(repo)}")


def test_kept_in_step_with_the_modules_it_avoids_importing() -> None:
    """The light module's copies of paths and formats are the real ones."""
    assert pending._DB == DB_RELATIVE_PATH
    assert pending._STAGED == flow._STAGED_RECORD
    assert flow._FOLDERS == CHECKPOINTS_DIR
    assert flow._LINK_FILE == LINK_FILE
    now = pending._now_ts()
    assert now == format_ts(datetime.fromisoformat(now.replace("Z", "+00:00")))


def test_big_draft_is_promoted_by_a_worker(git_repo: Path) -> None:
    """A draft of DETACH_AT events or more: the hook returns at once, a worker promotes it."""
    enable(git_repo)
    record(git_repo, BIG)
    sha = commit(git_repo, "a.txt")
    checkpoint = wait_promoted(git_repo, sha)
    assert len(checkpoint.events) == BIG
    assert (git_repo / ".bitloops" / "checkpoints" / "v1" / sha / "session.json").is_file()
    with bitloops.Repository.open(git_repo) as r:
        assert r.store.draft_count(r.worktree) == 0
        assert r.verify().ok


def test_small_draft_is_promoted_by_the_hook_itself(git_repo: Path) -> None:
    """Below DETACH_AT the commit promotes inline, as before: nothing is pending after it."""
    enable(git_repo)
    record(git_repo, 10)
    sha = commit(git_repo, "a.txt")
    assert records(git_repo) == []
    with bitloops.Repository.open(git_repo) as r:
        assert len(r.checkpoint(sha).events) == 10


def test_the_next_commit_waits_and_stages_the_folder(git_repo: Path) -> None:
    """A commit right after a detached one carries the first one's folder."""
    enable(git_repo)
    record(git_repo, BIG)
    first = commit(git_repo, "a.txt")
    second = commit(git_repo, "b.txt")  # no wait in between
    tree = git(git_repo, "ls-tree", "-r", "--name-only", second)
    assert f".bitloops/checkpoints/v1/{first}/session.json" in tree.split("\n")
    wait_promoted(git_repo, first)


def test_boundary_leaves_later_events_in_the_draft(git_repo: Path) -> None:
    """Events after the pending record's time stay live for the next commit."""
    enable(git_repo)
    sha = commit(git_repo, "a.txt")  # nothing recorded yet: no checkpoint
    now = datetime.now(UTC)
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code", "m1") as s:
        s.record("prompt", {"text": "before the commit"}, ts=now - timedelta(seconds=5))
        s.record("prompt", {"text": "after the commit"}, ts=now + timedelta(seconds=5))
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    # What a crashed worker leaves: the next hook that runs the full path promotes it.
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": format_ts(now)}))
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "post-merge", "1"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert records(git_repo) == []
    with bitloops.Repository.open(git_repo) as r:
        checkpoint = r.checkpoint(sha)
        prompts = [e.payload.get("text") for e in checkpoint.events if e.kind == "prompt"]
        assert prompts == ["before the commit"]
        assert r.store.draft_count(r.worktree) >= 1  # the later prompt (and the end)


def test_promote_until_bounds_the_draft(git_repo: Path) -> None:
    """Repository.promote(until=...) takes the events up to that time only."""
    now = datetime.now(UTC)
    with bitloops.Repository.open(git_repo) as r:
        with r.start_session("codex", "m") as s:
            s.record("prompt", {"text": "early"}, ts=now - timedelta(minutes=1))
            s.record("prompt", {"text": "late"}, ts=now + timedelta(minutes=1))
        checkpoint = r.promote(until=now)
        assert checkpoint is not None
        assert [e.payload.get("text") for e in checkpoint.events if e.kind == "prompt"] == ["early"]
        left = r.store.draft_rows(r.worktree)
        assert left.event_count >= 1


def test_a_torn_record_is_dropped(git_repo: Path) -> None:
    """An unreadable pending record is removed, not retried forever."""
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    (folder / "junk.json").write_text("{not json")
    assert pending.pending_promotions(os.fspath(git_repo / ".git")) == []
    assert records(git_repo) == []


def test_lock_times_out_instead_of_hanging(git_repo: Path) -> None:
    """A second holder gives up after its timeout and is told so."""
    git_dir = os.fspath(git_repo / ".git")
    with pending.promotion_lock(git_dir, 1.0) as first:
        assert first
        start = time.monotonic()
        # Another process must wait: flock locks belong to the open file, so a child.
        code = (
            "import sys; from bitloops._pending import promotion_lock\n"
            f"with promotion_lock({git_dir!r}, 0.3) as held: sys.exit(0 if not held else 1)"
        )
        proc = subprocess.run([sys.executable, "-c", code], check=False)
        assert proc.returncode == 0
        assert time.monotonic() - start < 10


def test_explain_waits_for_a_pending_promotion(git_repo: Path) -> None:
    """`bitloops explain` of a commit still pending promotes it first, then explains it."""
    enable(git_repo)
    sha = commit(git_repo, "a.txt")
    record(git_repo, 5, prompt="explain me")
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    until = format_ts(datetime.now(UTC))
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": until}))
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "explain", sha],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "explain me" in proc.stdout
    assert records(git_repo) == []


def test_a_cherry_pick_with_a_big_draft_is_linked_not_detached(git_repo: Path) -> None:
    """A cherry-pick -x concluded after a conflict links the original: never detached."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    record(git_repo, 5, prompt="on side")
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    git(git_repo, "commit", "-q", "-m", "Add a on side")
    with bitloops.Repository.open(git_repo) as r:
        original = r.checkpoint("HEAD").checkpoint_id
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "a.py").write_text("x = 2\n")
    git(git_repo, "add", "a.py")
    git(git_repo, "commit", "-q", "--no-verify", "-m", "Add a on main")
    record(git_repo, BIG)
    proc = subprocess.run(["git", "cherry-pick", "-x", "side"], cwd=git_repo, capture_output=True)
    assert proc.returncode != 0  # the conflict
    (git_repo / "a.py").write_text("x = 3\n")
    git(git_repo, "add", "a.py")
    done = subprocess.run(["git", "commit", "-q", "--no-edit"], cwd=git_repo, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert records(git_repo) == []
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint("HEAD").checkpoint_id == original
        assert r.store.draft_count(r.worktree) == BIG  # still the draft


def test_a_detached_promotion_keeps_what_the_transcript_said_before_the_commit(
    git_repo: Path,
) -> None:
    """The worker catches up the open session's transcript after the commit returned; a
    reply the agent wrote before the commit still belongs to that commit, not the next."""
    from bitloops.agents import claude_code

    transcript = git_repo.parent / "session.jsonl"
    transcript.write_text("", encoding="utf-8")
    enable(git_repo)
    claude_code.handle(
        {
            "hook_event_name": "SessionStart",
            "session_id": "s-mid-turn",
            "cwd": str(git_repo),
            "transcript_path": str(transcript),
        }
    )
    with bitloops.Repository.open(git_repo) as r, r.store.transaction():
        s = r.session("s-mid-turn")
        for i in range(BIG):
            s.prompt(f"step {i}")
    reply = {
        "type": "assistant",
        "uuid": "u1",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "message": {
            "id": "m-u1",
            "model": "claude-x",
            "content": [{"type": "text", "text": "Reasoned mid-turn, before the commit"}],
        },
    }
    with transcript.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(reply) + "\n")
    sha = commit(git_repo, "a.txt")
    checkpoint = wait_promoted(git_repo, sha)
    texts = [e.payload.get("text") for e in checkpoint.events if e.kind == "response"]
    assert "Reasoned mid-turn, before the commit" in texts
    with bitloops.Repository.open(git_repo) as r:
        assert all(e.kind != "response" for e in r.draft().events)


def test_the_library_waits_for_a_pending_promotion(git_repo: Path) -> None:
    """``Repository.checkpoint``, ``checkpoints``, ``status``, ``draft``, ``history`` and
    ``search`` read after a pending promotion, not before it (the MCP tools and the web
    view read through them)."""
    enable(git_repo)
    readers: dict[str, Callable[[bitloops.Repository, str], object]] = {
        "checkpoint": lambda r, sha: [e.payload for e in r.checkpoint(sha).events],
        "checkpoints": lambda r, sha: len(r.checkpoints(commit=sha)),
        "status": lambda r, sha: r.status().draft_event_count,
        "draft": lambda r, sha: len(r.draft().events),
        "history": lambda r, sha: len(r.history("history.txt")),
        "search": lambda r, sha: len(r.search("searched")),
    }
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    got = {}
    for name, read in readers.items():
        sha = commit(git_repo, f"{name}.txt")  # promotes the draft before it, if any
        record(git_repo, 3, prompt=f"{name} searched")
        until = format_ts(datetime.now(UTC))
        (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": until}))
        with bitloops.Repository.open(git_repo) as r:
            got[name] = read(r, sha)
        assert records(git_repo) == [], name
    assert "checkpoint searched" in json.dumps(got["checkpoint"])
    assert got == {**got, "checkpoints": 1, "status": 0, "draft": 0, "history": 1}
    assert got["search"] == len(readers)  # each earlier prompt, and this one


def test_a_promotion_reading_the_repository_does_not_wait_for_itself(git_repo: Path) -> None:
    """Inside the promotion lock, the library's reads do not wait for the lock again."""
    enable(git_repo)
    sha = commit(git_repo, "a.txt")
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))
    started = time.monotonic()
    with pending.promotion_lock(os.fspath(git_repo / ".git"), 5.0) as held:
        assert held
        with bitloops.Repository.open(git_repo) as r:
            r.status()
        other: list[bool] = []  # another thread (a web request) still sees it pending
        thread = threading.Thread(target=lambda: other.append(pending.has_pending(str(git_repo))))
        thread.start()
        thread.join()
        assert other == [True]
    assert time.monotonic() - started < 4.0
    assert records(git_repo) != []  # still pending: the lock's holder promotes it


def test_a_promotions_helper_thread_does_not_wait_for_its_lock(git_repo: Path) -> None:
    """The thread a promotion runs git's side in (where a plugged-in symbol extractor
    may read through Repository) counts as the lock's holder; an unrelated thread not."""
    from bitloops.checkpoint._promote import _Background

    enable(git_repo)
    sha = commit(git_repo, "a.txt")
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))

    def read() -> tuple[bool, float]:
        started = time.monotonic()
        with bitloops.Repository.open(git_repo) as r:
            r.status()  # would wait for the lock (5 s) if it did not count as held
        return pending.has_pending(str(git_repo)), time.monotonic() - started

    with pending.promotion_lock(os.fspath(git_repo / ".git"), 5.0) as held:
        assert held
        helper_sees, took = _Background(read).result()
        other: list[bool] = []
        thread = threading.Thread(target=lambda: other.append(pending.has_pending(str(git_repo))))
        thread.start()
        thread.join()
    assert (helper_sees, other) == (False, [True])
    assert took < 4.0
    assert pending.has_pending(str(git_repo))  # outside the lock, pending again
    assert _Background(lambda: pending.has_pending(str(git_repo))).result()


def test_a_rebases_picks_do_not_wait_for_a_busy_worker(git_repo: Path) -> None:
    """While a worker holds the lock, a rebase's own commits go on (each waited up to
    30 s before); its post-rewrite waits for the worker and promotes what is pending."""
    enable(git_repo)
    base = git(git_repo, "branch", "--show-current").strip()
    git(git_repo, "checkout", "-q", "-b", "topic")
    picked = [commit(git_repo, f"topic{i}.txt") for i in range(2)]
    git(git_repo, "checkout", "-q", base)
    sha = commit(git_repo, "main.txt")
    record(git_repo, 3)
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir(exist_ok=True)
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))
    with pending.promotion_lock(os.fspath(git_repo / ".git"), 5.0) as held:
        assert held  # a busy worker, as far as the hooks can tell
        proc = subprocess.Popen(
            ["git", "rebase", "-q", base, "topic"], cwd=git_repo, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        done_picks = 0
        while time.monotonic() < deadline and done_picks < len(picked):
            log = git(git_repo, "reflog", "-n", "10", "--format=%gs")
            done_picks = log.count("rebase (pick)")
            time.sleep(0.1)
        assert done_picks == len(picked), "the picks waited for the lock"
        assert records(git_repo) == [f"{sha}.json"]  # left to post-rewrite
    _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors
    assert records(git_repo) == []
    with bitloops.Repository.open(git_repo) as r:
        assert r.store.checkpoints_for_commits([sha])


def _pend(repo: Path, sha: str) -> None:
    """Leave ``sha``'s promotion pending, as a detached post-commit does."""
    folder = repo / ".git" / pending.PENDING_DIR
    folder.mkdir(exist_ok=True)
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))


def _amend_while_busy(repo: Path, message: str) -> tuple[str, str]:
    """``git commit --amend`` (without hooks), then its post-rewrite run here while a busy
    worker holds the lock past the wait; (old, new)."""
    import io

    old = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--amend", "-m", message)
    new = git(repo, "rev-parse", "HEAD").strip()
    results: list[str | None] = []
    with pending.promotion_lock(os.fspath(repo / ".git"), 5.0) as held:
        assert held
        rewrites = io.StringIO(f"{old} {new}\n")
        run = lambda: results.append(  # noqa: E731
            flow.run_hook("post-rewrite", ["amend"], repo, rewrites, io.StringIO())
        )
        thread = threading.Thread(target=run)  # another thread: it must wait for the lock
        thread.start()
        thread.join()
    assert results == [None]
    return old, new


def test_an_amend_while_the_worker_is_busy_is_linked_once_promoted(
    git_repo: Path, monkeypatch: Any
) -> None:
    """post-rewrite of an amend that outlasts its wait for a busy worker leaves the link
    to whoever promotes the amended commit, who links it then."""
    enable(git_repo)
    monkeypatch.setattr(flow, "_PENDING_WAIT", 0.3)
    commit(git_repo, "a.txt")
    record(git_repo, 3, prompt="before the amend")
    _pend(git_repo, git(git_repo, "rev-parse", "HEAD").strip())
    sha, new = _amend_while_busy(git_repo, "amended")
    assert [r.new for r in pending.pending_rewrites(os.fspath(git_repo / ".git"))] == [new]
    with bitloops.Repository.open(git_repo) as r:  # a read promotes what is pending
        checkpoint = r.checkpoint(new)
    assert checkpoint.commit_sha == sha  # the amended commit's, linked to the amend
    assert "before the amend" in json.dumps(checkpoint.summary.intent)
    assert not any((git_repo / ".git" / pending.PENDING_DIR).glob("*.json"))


def test_amends_of_amends_while_busy_end_on_the_first_checkpoint(
    git_repo: Path, monkeypatch: Any
) -> None:
    """A (pending) amended to B, B amended to C, each while the worker is busy, and B's
    own promotion pending too: the rewrites are linked in the order they were noted,
    after the promotions they wait for, whatever order their SHAs sort in."""
    enable(git_repo)
    monkeypatch.setattr(flow, "_PENDING_WAIT", 0.3)
    a = commit(git_repo, "a.txt")
    record(git_repo, 3, prompt="reasoning of A")
    _pend(git_repo, a)
    _, b = _amend_while_busy(git_repo, "amend 1")
    _, c = _amend_while_busy(git_repo, "amend 2")  # B is not pending: its rewrite waits
    record(git_repo, 3, prompt="reasoning of C")
    _pend(git_repo, c)
    _, d = _amend_while_busy(git_repo, "amend 3")
    with bitloops.Repository.open(git_repo) as r:
        r.status()  # promotes A and C, then links B, C and D in turn
        first = set(r.store.checkpoint_ids(commit_sha=a))
        assert first and set(r.store.checkpoint_ids(commit_sha=b)) == first
        assert first <= set(r.store.checkpoint_ids(commit_sha=c))
        assert first | set(r.store.checkpoint_ids(commit_sha=c)) <= set(
            r.store.checkpoint_ids(commit_sha=d)
        )
        assert len(r.store.checkpoint_ids(commit_sha=d)) == 2
    assert pending.pending_rewrites(os.fspath(git_repo / ".git")) == []


def test_a_rewrite_of_a_commit_pended_meanwhile_waits_for_its_promotion(
    git_repo: Path, monkeypatch: Any
) -> None:
    """While the lock's holder promotes A, another commit B is left pending and its amend
    noted: the holder leaves that rewrite to B's promotion, which links it."""
    enable(git_repo)
    a = commit(git_repo, "a.txt")
    record(git_repo, 3, prompt="reasoning of B")
    b = commit(git_repo, "b.txt")
    git(git_repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--amend", "-m", "b1")
    b1 = git(git_repo, "rev-parse", "HEAD").strip()
    git_dir = os.fspath(git_repo / ".git")
    real = flow._promote_head

    def promote_while_others_commit(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if not pending.is_pending(git_dir, b):  # what B's hooks leave meanwhile
            _pend(git_repo, b)
            pending.defer_rewrite(git_dir, b, b1, "amend")

    monkeypatch.setattr(flow, "_promote_head", promote_while_others_commit)
    _pend(git_repo, a)
    paths = Git.locate(git_repo)
    flow._promote_pending(paths, timeout=1.0)  # A's worker
    assert [r.new for r in pending.pending_rewrites(git_dir)] == [b1]
    monkeypatch.setattr(flow, "_promote_head", real)
    flow._promote_pending(paths, timeout=1.0)  # B's
    with bitloops.Repository.open(git_repo) as r:
        linked = r.store.checkpoint_ids(commit_sha=b)
        assert linked and r.store.checkpoint_ids(commit_sha=b1) == linked


def test_a_read_inside_a_callers_transaction_does_not_promote(git_repo: Path) -> None:
    """A promotion inside the caller's transaction would be undone by its rollback while
    the pending record is gone: such reads leave the record to the next one."""
    enable(git_repo)
    sha = commit(git_repo, "a.txt")
    record(git_repo, 3)
    folder = git_repo / ".git" / pending.PENDING_DIR
    folder.mkdir()
    (folder / f"{sha}.json").write_text(json.dumps({"sha": sha, "until": pending._now_ts()}))
    with bitloops.Repository.open(git_repo) as r:
        with r.store.transaction():
            assert len(r.draft().events) == 3
        assert records(git_repo) != []
        assert r.draft().events == ()  # outside it, the read promotes first
    assert records(git_repo) == []


def test_a_big_draft_in_a_linked_worktree_is_detached_too(git_repo: Path, tmp_path: Path) -> None:
    """git sets ``GIT_DIR`` for a linked worktree's hooks; the commit still detaches: with
    the promotion lock held, it returns leaving its record to the worker."""
    enable(git_repo)
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "side", str(other))
    record(other, BIG)
    git_dir = git(other, "rev-parse", "--absolute-git-dir").strip()
    with pending.promotion_lock(git_dir, 5.0) as held:
        assert held
        sha = commit(other, "a.txt")
        assert records(other) == [f"{sha}.json"]  # the worker waits for the lock
    checkpoint = wait_promoted(other, sha)
    assert len(checkpoint.events) == BIG
    with bitloops.Repository.open(other) as r:
        assert r.store.draft_count(r.worktree) == 0
