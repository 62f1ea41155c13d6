"""The post-commit hook with 0 and with 1,600 ended sessions behind it: is it flat?

Every agent session leaves a reading-state file (``.git/bitloops/transcripts/``) and its
rows in the database. A clone used for months holds thousands of ended sessions; the
post-commit hook must not pay for them. Two repositories, the same 50-event draft, the
hook timed as git runs it (a fresh process, bytecode cached), interleaved, median of
``--rounds``. Target (#12): ratio <= 1.2.

Run: ``python benchmarks/post_commit_sessions.py [--sessions 1600] [--rounds 7] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import cache_bytecode, git, machine, median, new_git_repo, scratch, table

import bitloops
from bitloops.capture import _transcript_state as ts

TARGET = 1.2


def with_sessions(parent: Path, name: str, sessions: int) -> Path:
    """A hooked repository with ``sessions`` ended, promoted sessions and their state files."""
    repo = new_git_repo(parent, name, "normal")
    subprocess.run([sys.executable, "-m", "bitloops", "enable"], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip
    with bitloops.Repository.open(repo) as r:
        common = r.paths.common_dir
        for i in range(sessions):
            sid = f"past-{i:05d}"
            s = r.start_session(agent="claude-code", session_id=sid, model="m")
            s.prompt(f"step {i}")
            s.end()
            transcript = parent / f"{name}-{sid}.jsonl"
            transcript.write_text('{"type":"user"}\n')
            state = ts.TranscriptState(session_id=sid, agent="claude-code", worktree=str(repo),
                                       transcript_path=str(transcript), offset=16,
                                       inode=transcript.stat().st_ino)  # fmt: skip
            ts.save(common, state)
        if sessions:
            (repo / "past.txt").write_text("past")
            git(repo, "add", "past.txt")
            git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "past")
            r.promote()
    return repo


def timed_post_commit(repo: Path, i: int, env: dict[str, str]) -> float:
    """A 50-event draft, a commit without hooks, then the hook alone, as git runs it."""
    with bitloops.Repository.open(repo) as r:
        s = r.start_session(agent="bench", model="m")
        s.prompt("make the client retry")
        for n in range(48):
            s.record("tool_use", {"name": "Bash", "input": {"command": f"pytest -k {n}"}})
        s.end()
    (repo / "h.txt").write_text(str(i))
    git(repo, "add", "h.txt")
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"h{i}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bitloops", "hook", "post-commit"], cwd=repo,
                   env=env, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    """Build both repositories, time the hook in each, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1600)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with scratch("bl-post-commit-sessions-") as tmp:
        env = cache_bytecode(tmp / "pycache")
        none = with_sessions(tmp, "none", 0)
        many = with_sessions(tmp, "many", args.sessions)
        states = len(os.listdir(many / ".git" / "bitloops" / "transcripts"))
        cost: dict[str, list[float]] = {"none": [], "many": []}
        timed_post_commit(none, -1, env)  # writes the bytecode
        for i in range(args.rounds):
            for label, repo in (("none", none), ("many", many)):
                cost[label].append(timed_post_commit(repo, i, env))
    ms = {label: median(values) * 1e3 for label, values in cost.items()}
    ratio = ms["many"] / ms["none"]
    if args.json:
        print(json.dumps({"ms_0": ms["none"], "ms_many": ms["many"], "sessions": args.sessions,
                          "ratio": ratio}))  # fmt: skip
        return
    print(f"post-commit vs ended sessions: {machine()}")
    print(f"post-commit hook, 50-event draft, fresh process (median of {args.rounds})")
    print(
        table(
            ["ended sessions", "ms", "ratio", "target"],
            [
                ["0", f"{ms['none']:.1f}", "", ""],
                [f"{args.sessions:,} ({states:,} state files)", f"{ms['many']:.1f}",
                 f"{ratio:.2f}", f"<= {TARGET} " + ("meets" if ratio <= TARGET else "ABOVE")],
            ],
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
