"""What the git hooks cost: `git commit` with and without them, and history's effect.

Measured in one run, each against its floor:
- `git commit` of a 2,000-event draft with the hooks installed (pre-commit stages, the
  post-commit hook promotes) against `git commit` in a repository without them;
- the post-commit hook (promoting a 50-event draft) in a repository holding 1,000
  checkpoints against one holding 10 (target ratio <= 1.2: the cost must not grow with
  history);
- `bitloops status` and `bitloops explain` wall time against `python -c pass`.

Run: python benchmarks/hooks.py [--only commit,idle,history,cli] [--json]  (--json: the
figures as one JSON line, last; --only: those parts, e.g. ``--only idle`` while iterating)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    PAYLOAD,
    cache_bytecode,
    git,
    machine,
    median,
    new_git_repo,
    scratch,
    set_durability,
    table,
)

import bitloops

ROUNDS = 5
DRAFT = 2_000


def record(repo: Path, n: int) -> None:
    """Record ``n`` tool_use events (durability normal: the fill is not what is timed)."""
    with bitloops.Repository.open(repo) as r:
        s = r.start_session(agent="bench", model="m")
        s.prompt("make the client retry")
        for _ in range(n - 2):
            s.record("tool_use", PAYLOAD)


def timed_commit(repo: Path, name: str) -> float:
    """Seconds of one real `git commit` (hooks and all) of a new file."""
    (repo / name).write_text(name)
    git(repo, "add", "--", name)
    start = time.perf_counter()
    git(repo, "commit", "-q", "-m", f"add {name}")
    return time.perf_counter() - start


def settle(repo: Path, limit: float = 120.0) -> float:
    """Wait until no promotion detached from a commit is pending; the seconds waited.

    A big draft's post-commit hook hands the promotion to a worker (bitloops/_pending.py);
    the next commit would wait for it, which is not the cost of the commit measured.
    """
    folder = repo / ".git" / "bitloops-pending"
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        try:
            if not any(n.endswith(".json") for n in os.listdir(folder)):
                break
        except FileNotFoundError:
            break
        time.sleep(0.005)
    return time.perf_counter() - start


def bitloops_cli(repo: Path, *args: str) -> None:
    """Run the installed CLI as a fresh process, as a user or a hook would."""
    subprocess.run([sys.executable, "-m", "bitloops", *args], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip


def wall(cmd: list[str], cwd: Path, runs: int = 9) -> float:
    """Median wall seconds of ``cmd``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_history(parent: Path, name: str, checkpoints: int) -> Path:
    """A hooked repository whose database already holds ``checkpoints`` checkpoints."""
    repo = new_git_repo(parent, name, "normal")
    bitloops_cli(repo, "enable")
    # Built in-process (a hook process per commit would take minutes for 1,000).
    with bitloops.Repository.open(repo) as r:
        s = r.start_session(agent="bench", model="m")
        for i in range(checkpoints):
            s.prompt(f"step {i}")
            (repo / "f.txt").write_text(str(i))
            git(repo, "add", "f.txt")
            git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"step {i}")
            r.promote()
    return repo


PARTS = ("commit", "idle", "history", "cli")


def main() -> None:
    """Print the comparisons asked for (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON line")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}")
    print(f"hooks benchmark: {machine()}\n")
    out: dict[str, object] = {}
    with scratch("bl-hooks-") as tmp:
        # git runs the hooks with this environment: bytecode cached as when installed.
        env = cache_bytecode(tmp / "pycache")
        os.environ.clear()
        os.environ.update(env)
        plain = new_git_repo(tmp, "plain", "full")
        hooked = new_git_repo(tmp, "hooked", "full")
        bitloops_cli(hooked, "enable")
        if "commit" in parts:
            ours, floor, behind = [], [], []
            for i in range(ROUNDS):
                set_durability(hooked, "normal")
                record(hooked, DRAFT)
                set_durability(hooked, "full")
                ours.append(timed_commit(hooked, f"h{i}.txt"))
                behind.append(settle(hooked))  # the worker's promotion, after the commit returned
                floor.append(timed_commit(plain, f"p{i}.txt"))
            with bitloops.Repository.open(hooked) as r:
                promoted = r.status().checkpoint_count
            rows = [
                ["git commit, no hooks (floor)", f"{median(floor) * 1e3:.1f}", "", "", ""],
                [f"git commit, hooks, {DRAFT:,}-event draft", f"{median(ours) * 1e3:.1f}",
                 f"{median(ours) / median(floor):.1f}x",
                 f"+{(median(ours) - median(floor)) * 1e3:.1f} ms",
                 "<= +150 ms " + ("meets" if median(ours) - median(floor) <= 0.150 else "ABOVE")],
                ["  promotion done after the commit returned (worker)",
                 f"{median(behind) * 1e3:.1f}", "", "", ""],
            ]  # fmt: skip
            out.update({"commit_ms": median(ours) * 1e3, "plain_ms": median(floor) * 1e3,
                        "worker_ms": median(behind) * 1e3})  # fmt: skip
            print(f"commit cost (median of {ROUNDS}; {promoted} checkpoints made)")
            print(table(["measure", "ms", "ratio", "over floor", "target"], rows))

        if "idle" in parts:
            # Nothing to do: the draft is empty and every folder is committed (the idle check).
            git(hooked, "commit", "-q", "--allow-empty", "-m", "stage the last folder")
            idle_ours, idle_floor = [], []
            for i in range(ROUNDS * 3):
                idle_ours.append(timed_commit(hooked, f"e{i}.txt"))
                idle_floor.append(timed_commit(plain, f"q{i}.txt"))
            base = wall([sys.executable, "-c", "pass"], hooked)
            each = {
                name: wall([sys.executable, "-m", "bitloops", "hook", name], hooked)
                for name in ("pre-commit", "post-commit")
            }
            rows = [
                ["git commit, no hooks (floor)", f"{median(idle_floor) * 1e3:.1f}", "", ""],
                ["git commit, hooks, empty draft", f"{median(idle_ours) * 1e3:.1f}",
                 f"+{(median(idle_ours) - median(idle_floor)) * 1e3:.1f} ms", ""],
                ["python -c pass (floor)", f"{base * 1e3:.1f}", "", ""],
            ]  # fmt: skip
            for name, seconds in each.items():
                over = (seconds - base) * 1e3
                verdict = "meets" if over <= 30 else "ABOVE"
                rows.append(
                    [f"hook {name}, nothing to do", f"{seconds * 1e3:.1f}", f"+{over:.1f} ms",
                     f"<= +30 ms {verdict}"]
                )  # fmt: skip
            out["idle"] = {"commit_ms": median(idle_ours) * 1e3, "pass_ms": base * 1e3,
                           "plain_ms": median(idle_floor) * 1e3,
                           **{f"{k}_ms": v * 1e3 for k, v in each.items()}}  # fmt: skip
            print(f"\nnothing to do (median of {ROUNDS * 3} commits, 9 hook runs)")
            print(table(["measure", "ms", "over floor", "target"], rows))

        if parts & {"history", "cli"}:
            large = with_history(tmp, "thousand", 1_000)
        if "history" in parts:
            small = with_history(tmp, "ten", 10)
            cost: dict[str, list[float]] = {"10": [], "1000": []}
            for i in range(ROUNDS):
                for label, repo in (("10", small), ("1000", large)):
                    # Commit without hooks, then time the hook itself as git would run it.
                    record(repo, 50)
                    (repo / "h.txt").write_text(str(i))
                    git(repo, "add", "h.txt")
                    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"h{i}")
                    start = time.perf_counter()
                    bitloops_cli(repo, "hook", "post-commit")
                    cost[label].append(time.perf_counter() - start)
            ratio = median(cost["1000"]) / median(cost["10"])
            out["post_commit"] = {
                "ms_10": median(cost["10"]) * 1e3,
                "ms_1000": median(cost["1000"]) * 1e3,
            }
            print("\npost-commit hook, 50-event draft, fresh process (median of 5)")
            print(
                table(
                    ["stored checkpoints", "ms", "ratio", "target"],
                    [
                        ["10", f"{median(cost['10']) * 1e3:.1f}", "", ""],
                        ["1,000", f"{median(cost['1000']) * 1e3:.1f}", f"{ratio:.2f}",
                         "<= 1.2 " + ("meets" if ratio <= 1.2 else "ABOVE")],
                    ],
                )
            )  # fmt: skip

        if "cli" in parts:
            base = wall([sys.executable, "-c", "pass"], large)
            status = wall([sys.executable, "-m", "bitloops", "status"], large)
            explain = wall([sys.executable, "-m", "bitloops", "explain"], large)
            print("\nCLI wall time in the 1,000-checkpoint repository (median of 9)")
            print(
                table(
                    ["command", "ms", "vs python -c pass"],
                    [
                        ["python -c pass (floor)", f"{base * 1e3:.1f}", ""],
                        ["bitloops status", f"{status * 1e3:.1f}",
                         f"+{(status - base) * 1e3:.1f} ms"],
                        ["bitloops explain", f"{explain * 1e3:.1f}",
                         f"+{(explain - base) * 1e3:.1f} ms"],
                    ],
                )
            )  # fmt: skip
        if args.json:
            print(json.dumps(out))


if __name__ == "__main__":
    main()
