"""Wall time of a `bitloops hook claude-code` PreToolUse call that hands the agent a file's
past reasoning, as a fresh process, with 1,000 checkpoints stored.

Before an edit the hook records nothing, reads the index by path (one SQL statement),
checks the candidates' commits against HEAD (one `git rev-list`) and prints the answer.
Measured against `python -c pass` in the same run (the floor), interleaved, with the
bytecode cached as an installed package has it (see _common.cache_bytecode). Target
(past-reasoning issue): median <= 45 ms above the floor. Also shown: the same hook with
injection turned off (`BITLOOPS_CONTEXT_INJECTION=false`).

Each timed run is a new process in an open session whose "already injected" mark is
removed first (not timed), so every run does the whole injection. The ancestry answers
git gave stay cached while HEAD does not move (injection/ancestry.json), as between two
commits (a commit on top keeps them); the row "ancestry cache lost" (as after a checkout
or a reset) removes that cache too, so its run asks git.

Run: python benchmarks/injection.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import cache_bytecode, git, machine, new_git_repo, scratch, table

import bitloops

RUNS = 21
CHECKPOINTS = 1_000
FILES = 50


def run(cmd: list[str], cwd: Path, env: dict[str, str], stdin: bytes = b"") -> tuple[float, bytes]:
    """Seconds one run of ``cmd`` takes, start to exit, and its stdout."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.stderr:
        raise RuntimeError(f"{cmd} wrote {proc.stderr!r}")
    return elapsed, proc.stdout


def fill(repo: Path) -> int:
    """1,000 promoted checkpoints, each with a decision about one of 50 files."""
    with bitloops.Repository.open(repo) as r:
        s = r.start_session(agent="bench", model="m")
        for i in range(CHECKPOINTS):
            rel = f"src/mod{i % FILES}.py"
            s.prompt(f"step {i}")
            s.decision(f"decision {i} about {rel}", f"because of step {i}", applies_to=(rel,))
            if i % 10 == 0:
                s.alternative(f"alternative {i}", f"it failed in step {i}", applies_to=(rel,))
            path = repo / rel
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"value = {i}\n")
            s.file_change(rel, "modified")
            git(repo, "add", rel)
            git(repo, "commit", "-q", "--no-verify", "-m", f"step {i}")
            r.promote()
        return r.status().checkpoint_count


def main() -> None:
    """Fill the checkpoints, start a session, time the hook against the floor, interleaved."""
    print(f"injection benchmark: {machine()}\n")
    with scratch("bl-injection-") as tmp:
        repo = new_git_repo(tmp, "repo", "full")
        checkpoints = fill(repo)
        env = cache_bytecode(tmp / "pycache")
        hook = [sys.executable, "-m", "bitloops", "hook", "claude-code"]
        floor = [sys.executable, "-c", "pass"]
        sid = "bench-session"
        transcript = tmp / "transcript.jsonl"
        transcript.touch()
        base = {"session_id": sid, "transcript_path": str(transcript), "cwd": str(repo)}
        start = {**base, "hook_event_name": "SessionStart", "source": "startup"}
        # Starts the session (full path), indexes, writes the bytecode.
        run(hook, repo, env, json.dumps(start).encode())
        edit = {
            **base,
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {
                "file_path": str(repo / "src" / "mod7.py"),
                "old_string": "value",
                "new_string": "result",
            },
        }
        marks = repo / ".git" / "bitloops" / "injection" / "sessions"
        ancestry = repo / ".git" / "bitloops" / "injection" / "ancestry.json"
        off = {**env, "BITLOOPS_CONTEXT_INJECTION": "false"}

        def forget() -> None:
            for mark in marks.glob("*"):
                mark.unlink()

        forget()
        _, first = run(hook, repo, env, json.dumps(edit).encode())
        answer = json.loads(first)["hookSpecificOutput"]["additionalContext"]
        run(floor, repo, env)
        run(hook, repo, off, json.dumps(edit).encode())
        ours, cold, plain, floors = [], [], [], []
        for i in range(RUNS):
            edit["tool_use_id"] = f"toolu_{i:03d}"
            forget()
            elapsed, out = run(hook, repo, env, json.dumps(edit).encode())
            if b"additionalContext" not in out:
                raise RuntimeError("the hook injected nothing")
            ours.append(elapsed)
            forget()
            ancestry.unlink()  # as after a checkout: git is asked again
            elapsed, out = run(hook, repo, env, json.dumps(edit).encode())
            if b"additionalContext" not in out:
                raise RuntimeError("the hook injected nothing")
            cold.append(elapsed)
            elapsed, out = run(hook, repo, off, json.dumps(edit).encode())
            if out:
                raise RuntimeError(f"injection off, yet the hook wrote {out!r}")
            plain.append(elapsed)
            floors.append(run(floor, repo, env)[0])
        size = os.path.getsize(repo / ".git" / "bitloops" / "bitloops.db")

    def ms(values: list[float]) -> tuple[float, float]:
        return statistics.median(values) * 1e3, statistics.quantiles(values, n=10)[-1] * 1e3

    (f_med, f_p90), (o_med, o_p90), (p_med, p_p90) = ms(floors), ms(ours), ms(plain)
    c_med, c_p90 = ms(cold)
    above = o_med - f_med
    print(f"{checkpoints:,} checkpoints stored ({size / 1e6:.1f} MB database); the answer:")
    print(f"{len(answer)} characters, {answer.count(chr(10))} records\n")
    print(
        table(
            ["measure", "median ms", "p90 ms", "above floor ms"],
            [
                ["python -c pass (floor)", f"{f_med:.1f}", f"{f_p90:.1f}", ""],
                ["hook PreToolUse, injection off", f"{p_med:.1f}", f"{p_p90:.1f}",
                 f"{p_med - f_med:.1f}"],
                ["hook PreToolUse with injection", f"{o_med:.1f}", f"{o_p90:.1f}",
                 f"{above:.1f}"],
                ["  the same, ancestry cache lost", f"{c_med:.1f}", f"{c_p90:.1f}",
                 f"{c_med - f_med:.1f}"],
            ],
        )
    )  # fmt: skip
    verdict = "meets" if above <= 45 else "ABOVE"
    print(f"\nwith injection / floor: {o_med / f_med:.2f}x; above the floor: {above:.1f} ms")
    print(f"target: <= 45 ms above the floor: {verdict}")


if __name__ == "__main__":
    main()
