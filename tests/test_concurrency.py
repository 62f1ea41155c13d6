"""Concurrency: several processes recording and promoting into one database at once.

The recorders and promoters are ``tests/_recorder.py`` subprocesses; a start barrier (a
file they wait for) makes them begin together.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from _recorder import Child
from conftest import commit_files

import bitloops

pytestmark = pytest.mark.slow


def set_durability(worktree: Path, durability: str) -> None:
    """Write ``.bitloops/settings.json`` choosing the durability every process will use."""
    folder = worktree / ".bitloops"
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({"durability": durability}))


def release(children: list[Child], go: Path) -> None:
    """Wait until every child is ready, then let them all start at once."""
    for child in children:
        child.wait_for_line(lambda line: line == "ready")
    go.touch()


def test_recorders_and_promotions_lose_and_duplicate_nothing(
    git_repo: Path, tmp_path: Path
) -> None:
    """4 processes x 2,000 events (durability full) while promotions run: each event once."""
    set_durability(git_repo, "full")
    per_process, sessions = 2_000, [f"session-{k}" for k in range(4)]
    go = tmp_path / "go"
    children = [
        Child(tmp_path, sid, "record", str(git_repo), sid, str(per_process), str(go))
        for sid in sessions
    ]
    release(children, go)

    checkpoint_ids: list[str] = []
    during = 0
    with bitloops.Repository.open(git_repo) as repo:
        i = 0
        while any(child.running() for child in children):
            i += 1
            commit_files(git_repo, {f"step{i}.txt": f"{i}\n"}, f"step {i}")
            checkpoint = repo.promote()
            if checkpoint is not None:
                checkpoint_ids.append(checkpoint.checkpoint_id)
                during += any(child.running() for child in children)

        for child in children:
            assert child.wait() == 0, f"{child.name} failed: {child.stderr()}"
            assert child.stderr() == "", f"{child.name} wrote to stderr: {child.stderr()}"
            lines = child.lines()
            assert lines[0] == "ready" and lines[-1] == "done"
            # seq 1 is the session_start event; the acknowledged ones follow without a gap.
            assert [int(x) for x in lines[1:-1]] == list(range(2, per_process + 2))
        # How many overlap depends on the machine's speed; one proves the point, two or
        # more is what a normal run gives.
        assert during >= 2, f"only {during} promotions overlapped the recording"

        stored = [e for cid in checkpoint_ids for e in repo.checkpoint(cid).events]
        assert len(repo.checkpoints()) == len(checkpoint_ids)
        stored += repo.draft().events
        counts = Counter((e.session_id, e.seq) for e in stored)
        assert set(counts.values()) == {1}, "an event was stored twice"
        assert len({e.event_id for e in stored}) == len(stored)
        for sid in sessions:
            seqs = sorted(seq for s, seq in counts if s == sid)
            assert seqs == list(range(1, per_process + 2)), f"{sid} is not gap-free"
        assert len(counts) == len(sessions) * (per_process + 1)
        report = repo.verify()
        assert report.ok, report.problems
    print(f"{len(checkpoint_ids)} checkpoints, {during} made while recording")


def test_two_processes_promoting_one_commit_make_one_checkpoint(
    git_repo: Path, tmp_path: Path
) -> None:
    """Two processes promoting the same commit at the same moment create exactly one checkpoint."""
    set_durability(git_repo, "normal")  # only to fill the drafts quickly
    outcomes = Counter[str]()
    overlapped = 0
    for round_ in range(4):
        with bitloops.Repository.open(git_repo) as repo:
            session = repo.start_session(agent="a", model="m")
            # A draft big enough that both promoters are still building when they race.
            for i in range(3_000):
                session.tool_use("bash", {"command": f"step {i}"}, output="ok")
            expected = {(e.session_id, e.seq) for e in repo.draft().events}
        sha = commit_files(git_repo, {"race.txt": f"{round_}\n"}, f"race {round_}")
        go = tmp_path / f"go{round_}"
        racers = [
            Child(tmp_path, f"race{round_}-{k}", "race", str(git_repo), str(go)) for k in (0, 1)
        ]
        release(racers, go)
        results, spans = [], []
        for racer in racers:
            assert racer.wait() == 0, f"{racer.name} failed: {racer.stderr()}"
            _, result, start, end = racer.lines()[-1].split()
            results.append(result)
            spans.append((float(start), float(end)))
        overlapped += max(s for s, _ in spans) < min(e for _, e in spans)

        with bitloops.Repository.open(git_repo) as repo:
            made = repo.checkpoints(commit=sha)
            assert len(made) == 1, f"round {round_}: {len(made)} checkpoints for one commit"
            assert {(e.session_id, e.seq) for e in made[0].events} == expected
            assert repo.draft().events == ()
            # Each racer got the checkpoint, made by it or by the other; a racer that looked
            # only after the other had emptied the draft may get None (nothing to promote).
            cid = made[0].checkpoint_id
            assert set(results) <= {cid, "None"}, results
            assert cid in results
            outcomes["both got it" if results == [cid, cid] else "one got None"] += 1
    assert overlapped >= 1, "the two promotions never ran at the same time"
    with bitloops.Repository.open(git_repo) as repo:
        assert len(repo.checkpoints()) == 4
        assert repo.verify().ok
    print(f"race outcomes: {dict(outcomes)}, overlapping rounds: {overlapped}/4")
