"""Crash safety: a recorder or a promotion killed with SIGKILL loses nothing it acknowledged.

The children run ``tests/_recorder.py``. Their stdout goes to a file: a line the child
wrote before the kill is in the kernel's page cache and survives the kill, so every seq
found there was acknowledged by ``record`` returning. Kill moments come from a seeded
``random.Random``; set ``CRASH_TEST_SEED`` to replay a failing run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import apsw
import pytest
from _recorder import Child
from conftest import commit_files

import bitloops

pytestmark = pytest.mark.slow

SESSION = "crash-session"


@pytest.fixture
def seed() -> int:
    """The seed of this test's random kill moments (printed on failure)."""
    value = int(os.environ.get("CRASH_TEST_SEED") or time.time_ns() % 1_000_000_007)
    print(f"CRASH_TEST_SEED={value}")
    return value


def integrity(db_path: Path) -> str:
    """``pragma integrity_check`` through a fresh connection (which also recovers the WAL)."""
    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READWRITE)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


def set_durability(worktree: Path, durability: str) -> None:
    """Write ``.bitloops/settings.json`` choosing the durability children will use."""
    folder = worktree / ".bitloops"
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({"durability": durability}))


def test_killed_recorder_keeps_every_acknowledged_event(
    git_repo: Path, tmp_path: Path, seed: int
) -> None:
    """SIGKILL at random moments (24 trials, one resumed session) never loses an acked event."""
    rng = random.Random(seed)
    acked_ever: set[int] = set()
    last_n = 0
    trials_with_acks = 0
    for trial in range(24):
        # Both durabilities: SIGKILL must lose nothing in either (normal records ~5x faster,
        # so it gets shorter runs to keep the draft, and the test, small).
        durability = "normal" if trial % 3 == 2 else "full"
        set_durability(git_repo, durability)
        ctx = f"(seed {seed}, trial {trial}, durability {durability})"
        child = Child(tmp_path, f"rec{trial}", "record", str(git_repo), SESSION, "0")
        if rng.random() < 0.25:
            # Early: anywhere in start-up, opening the database or start_session.
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            child.wait_for_line(lambda line: line == "ready")
            time.sleep(rng.uniform(0.0, 0.3 if durability == "full" else 0.12))
        status = child.kill()
        assert status == -signal.SIGKILL, f"child ended by itself {ctx}: {child.stderr()}"
        acked = [int(line) for line in child.lines() if line.isdigit()]
        assert acked == sorted(acked), f"acks out of order {ctx}"
        trials_with_acks += bool(acked)
        acked_ever.update(acked)

        repo = bitloops.Repository.open(git_repo)
        if not repo.db_path.exists():
            assert not acked_ever, f"database missing after acks {ctx}"
            continue
        assert integrity(repo.db_path) == "ok", f"integrity_check failed {ctx}"
        try:
            seqs = [e.seq for e in repo.draft().events if e.session_id == SESSION]
        finally:
            repo.close()
        n = len(seqs)
        assert seqs == list(range(1, n + 1)), f"seqs not gap-free 1..{n} {ctx}"
        assert n >= max(acked_ever, default=0), f"acknowledged seq missing {ctx}"
        assert n >= last_n, f"seq went back from {last_n} to {n} {ctx}"
        last_n = n
    assert trials_with_acks >= 12, f"too few trials got as far as recording (seed {seed})"

    # A promotion after all those crashes takes every event, and the store checks out.
    commit_files(git_repo, {"after.txt": "crashes\n"}, "after crashes")
    with bitloops.Repository.open(git_repo) as repo:
        checkpoint = repo.promote()
        assert checkpoint is not None
        seqs = [e.seq for e in checkpoint.events if e.session_id == SESSION]
        assert seqs == list(range(1, last_n + 1)), f"checkpoint lost events (seed {seed})"
        assert repo.draft().events == ()
        report = repo.verify()
        assert report.ok, f"{report.problems} (seed {seed})"


def _promote_state(git_repo: Path, expected: int, ctx: str) -> str:
    """Check the all-or-nothing outcome of an interrupted promotion; 'draft' or 'checkpoint'."""
    db_path = bitloops.Repository.open(git_repo).db_path
    assert integrity(db_path) == "ok", f"integrity_check failed {ctx}"
    with bitloops.Repository.open(git_repo) as repo:
        draft = len(repo.draft().events)
        checkpoints = repo.checkpoints()
        if not checkpoints:
            assert draft == expected, f"no checkpoint, yet the draft has {draft} {ctx}"
            return "draft"
        assert len(checkpoints) == 1, f"{len(checkpoints)} checkpoints {ctx}"
        assert draft == 0, f"a checkpoint and {draft} events left in the draft {ctx}"
        events = checkpoints[0].events
        assert len(events) == expected, f"partial checkpoint: {len(events)} events {ctx}"
        assert [e.seq for e in events] == list(range(1, expected + 1)), f"bad seqs {ctx}"
        report = repo.verify()
        assert report.ok, f"{report.problems} {ctx}"
        return "checkpoint"


def test_killed_promotion_is_all_or_nothing(git_repo: Path, tmp_path: Path, seed: int) -> None:
    """A promotion of 20k events killed inside its transaction, or at random, is atomic."""
    rng = random.Random(seed)
    set_durability(git_repo, "normal")  # only to fill the draft quickly
    count = 20_000
    with bitloops.Repository.open(git_repo) as repo:
        session = repo.start_session(agent="a", model="m", session_id=SESSION)
        for i in range(count):
            session.tool_use("bash", {"command": f"step {i}"}, output="ok " * 60)
    expected = count + 1  # with session_start
    commit_files(git_repo, {"big.txt": "big\n"}, "big change")

    # Deterministic kills with the write transaction open: nothing may be promoted.
    for stop_at in ("insert", "delete", "commit"):
        ctx = f"(killed before {stop_at}, seed {seed})"
        child = Child(tmp_path, f"promote-{stop_at}", "promote", str(git_repo), stop_at)
        marker = f"at {stop_at}"
        child.wait_for_line(marker.__eq__, timeout=60)
        child.kill()
        assert _promote_state(git_repo, expected, ctx) == "draft"

    # A random moment of a whole promotion: either outcome, never a mixture.
    child = Child(tmp_path, "promote-random", "promote", str(git_repo), "none")
    child.wait_for_line(lambda line: line == "promoting")
    delay = rng.uniform(0.0, 2.0)
    time.sleep(delay)
    child.kill()
    state = _promote_state(git_repo, expected, f"(random kill after {delay:.3f} s, seed {seed})")

    if state == "draft":
        # Killed after the commit but before the files were written: the checkpoint stands.
        child = Child(tmp_path, "promote-files", "promote", str(git_repo), "files")
        child.wait_for_line(lambda line: line == "at files", timeout=60)
        child.kill()
        state = _promote_state(git_repo, expected, f"(killed before files, seed {seed})")
        assert state == "checkpoint"

    # Promoting again returns the existing checkpoint and leaves everything as it was.
    with bitloops.Repository.open(git_repo) as repo:
        again = repo.promote()
        assert again is not None and len(again.events) == expected
        assert len(repo.checkpoints()) == 1
