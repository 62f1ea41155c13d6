"""Wall time of one `bitloops hook claude-code` PostToolUse call as a fresh process.

An agent runs this on every tool call, so it is the latency a user feels. Measured with
1,000 checkpoints already stored, against `python -c pass` in the same run (the floor:
starting Python at all). Target (agent integrations issue): median <= 60 ms here.

Both run with their bytecode cached, as an installed package has it: the runs share a
fresh ``PYTHONPYCACHEPREFIX`` (the first run writes it), whatever
``PYTHONDONTWRITEBYTECODE`` says, so neither pays to compile its sources each time.

Run: python benchmarks/hook_latency.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import cache_bytecode, git, machine, new_git_repo, scratch, table

import bitloops

RUNS = 21


def wall(cmd: list[str], cwd: Path, env: dict[str, str], stdin: bytes = b"") -> float:
    """Seconds one run of ``cmd`` takes, start to exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, env=env, check=True, capture_output=True)
    if proc.stdout or proc.stderr:
        raise RuntimeError(f"{cmd} wrote {proc.stdout!r} {proc.stderr!r}")
    return time.perf_counter() - start


def main() -> None:
    """Fill 1,000 checkpoints, then time the hook against the floor, interleaved."""
    print(f"hook latency benchmark: {machine()}\n")
    with scratch("bl-hook-latency-") as tmp:
        repo = new_git_repo(tmp, "repo", "full")
        with bitloops.Repository.open(repo) as r:
            s = r.start_session(agent="bench", model="m")
            for i in range(1_000):
                s.prompt(f"step {i}")
                (repo / "f.txt").write_text(str(i))
                git(repo, "add", "f.txt")
                git(repo, "commit", "-q", "--no-verify", "-m", f"step {i}")
                r.promote()
            checkpoints = r.status().checkpoint_count
        payload = {
            "hook_event_name": "PostToolUse",
            "session_id": "bench-session",
            "transcript_path": None,
            "cwd": str(repo),
            "tool_name": "Bash",
            "tool_use_id": "toolu_01",
            "tool_input": {"command": "pytest -q", "description": "run the tests"},
            "tool_response": {"stdout": "34 passed in 2.48s\n", "stderr": "", "exit_code": 0},
        }
        hook = [sys.executable, "-m", "bitloops", "hook", "claude-code"]
        floor = [sys.executable, "-c", "pass"]
        env = cache_bytecode(tmp / "pycache")
        # The first call starts the session (full path) and writes the bytecode.
        wall(hook, repo, env, json.dumps(payload).encode())
        wall(floor, repo, env)
        ours, base = [], []
        for i in range(RUNS):
            payload["tool_use_id"] = f"toolu_{i:03d}"
            ours.append(wall(hook, repo, env, json.dumps(payload).encode()))
            base.append(wall(floor, repo, env))
        with bitloops.Repository.open(repo) as r:
            recorded = len(r.draft().events)
    ours_ms = statistics.median(ours) * 1e3
    base_ms = statistics.median(base) * 1e3
    print(f"{checkpoints:,} checkpoints stored; {recorded} draft events recorded by the hook")
    print(
        table(
            ["measure", "median ms", "p90 ms", "target"],
            [
                ["python -c pass (floor)", f"{base_ms:.1f}",
                 f"{statistics.quantiles(base, n=10)[-1] * 1e3:.1f}", ""],
                ["bitloops hook claude-code (PostToolUse)", f"{ours_ms:.1f}",
                 f"{statistics.quantiles(ours, n=10)[-1] * 1e3:.1f}",
                 "<= 60 " + ("meets" if ours_ms <= 60 else "ABOVE")],
            ],
        )
    )  # fmt: skip
    print(f"\nabove the floor: {ours_ms - base_ms:.1f} ms")


if __name__ == "__main__":
    main()
