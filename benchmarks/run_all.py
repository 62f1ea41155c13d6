"""Every benchmark figure of issue #12 in one table: what, time, floor, ratio, target, met?

Each benchmark script runs in a fresh process with ``--json``, with its bytecode cached
as an installed package has it: ``PYTHONDONTWRITEBYTECODE`` (set on some machines) is
dropped, ``PYTHONPYCACHEPREFIX`` points at a fresh folder, and ``compileall`` fills it
first, so no process pays to compile its sources. The figures:

- the agents' capture hooks, every agent and event, and the 500-line catch-up
  (``hook_latency.py``);
- the git hooks with nothing to do, ``git commit`` with a 2,000-event draft, and
  post-commit at 10 vs 1,000 stored checkpoints (``hooks.py``), and at 0 vs 1,600 ended
  sessions (``post_commit_sessions.py``);
- ``Session.record`` at FULL and NORMAL against raw apsw (``capture.py``);
- promotion of 10k and 100k events against the raw move (``promote.py``) and its peak
  memory growth at 200k events (``promote_memory.py``);
- ``verify`` at 1,000 and 5,000 checkpoints (``verify.py``).

A hook's target is over its floor (``python -c pass``); the ratio column is always time
over floor. ``git commit`` with an empty draft has no target of its own in #12: it is
given the two hooks' (+30 ms each).

Run: ``python benchmarks/run_all.py`` (about 10 minutes on 2 cores; ``--quick`` for a
smaller, rougher run; ``--only capture,promote`` for some; ``--json`` for the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

Row = dict[str, Any]

#: Targets of #12, in the units the rows use.
HOOK_OVER_MS, HOOK_P95_MS, CATCH_UP_OVER_MS = 25.0, 60.0, 80.0
IDLE_OVER_MS, COMMIT_OVER_MS, FLAT_RATIO = 30.0, 150.0, 1.2
RECORD_RATIO = {"full": 0.8, "normal": 0.6}
PROMOTE_RATIO, PROMOTE_MIB, VERIFY_RATIO = 3.0, 64.0, 2.0


def row(
    what: str,
    time: float,
    floor: float | None,
    target: str,
    met: bool | None,
    unit: str = "ms",
) -> Row:
    """One line of the table; ``ratio`` is time / floor."""
    ratio = None if not floor else time / floor
    return {"what": what, "time": time, "floor": floor, "unit": unit, "ratio": ratio,
            "target": target, "met": met}  # fmt: skip


#: (agent, hook event, key in hook_latency.py's JSON) of each catch-up timed.
CATCH_UPS = (
    ("claude-code", "Stop", "catch_up"),
    ("codex", "Stop", "codex_catch_up"),
    ("gemini", "AfterAgent", "gemini_catch_up"),
    ("cursor", "stop", "cursor_catch_up"),
    ("copilot", "agentStop", "copilot_catch_up"),
)


def hook_rows(data: dict[str, Any]) -> Iterator[Row]:
    """The agents' hooks (over the floor, and p95) and the catch-up."""
    for f in data["hooks"]:
        over = f["median_ms"] - f["floor_ms"]
        yield row(
            f"hook {f['agent']} {f['event']} (p95 {f['p95_ms']:.0f} ms)",
            f["median_ms"],
            f["floor_ms"],
            f"<= +{HOOK_OVER_MS:.0f} ms, p95 <= {HOOK_P95_MS:.0f}",
            over <= HOOK_OVER_MS and f["p95_ms"] <= HOOK_P95_MS,
        )
    for label, event, key in CATCH_UPS:
        c = data.get(key)
        if c is None:
            continue
        yield row(
            f"catch-up, {label} {event}, 500 transcript lines",
            c["median_ms"],
            c["floor_ms"],
            f"<= +{CATCH_UP_OVER_MS:.0f} ms",
            c["median_ms"] - c["floor_ms"] <= CATCH_UP_OVER_MS,
        )


def git_hook_rows(data: dict[str, Any]) -> Iterator[Row]:
    """Idle git hooks, the 2,000-event commit, post-commit flatness."""
    idle = data["idle"]
    for name in ("pre-commit", "post-commit"):
        ms = idle[f"{name}_ms"]
        yield row(
            f"git {name} hook, nothing to do",
            ms,
            idle["pass_ms"],
            f"<= +{IDLE_OVER_MS:.0f} ms",
            ms - idle["pass_ms"] <= IDLE_OVER_MS,
        )
    yield row(
        "git commit, hooks, empty draft",
        idle["commit_ms"],
        idle["plain_ms"],
        f"<= +{2 * IDLE_OVER_MS:.0f} ms",
        idle["commit_ms"] - idle["plain_ms"] <= 2 * IDLE_OVER_MS,
    )
    yield row(
        "git commit, 2,000-event draft",
        data["commit_ms"],
        data["plain_ms"],
        f"<= +{COMMIT_OVER_MS:.0f} ms",
        data["commit_ms"] - data["plain_ms"] <= COMMIT_OVER_MS,
    )
    pc = data["post_commit"]
    yield row(
        "post-commit, 1,000 vs 10 checkpoints",
        pc["ms_1000"],
        pc["ms_10"],
        f"<= {FLAT_RATIO}x",
        pc["ms_1000"] / pc["ms_10"] <= FLAT_RATIO,
    )


def sessions_rows(data: dict[str, Any]) -> Iterator[Row]:
    """Post-commit with many ended sessions behind it against none."""
    yield row(
        f"post-commit, {data['sessions']:,} vs 0 ended sessions",
        data["ms_many"],
        data["ms_0"],
        f"<= {FLAT_RATIO}x",
        data["ms_many"] / data["ms_0"] <= FLAT_RATIO,
    )


def capture_rows(data: dict[str, Any]) -> Iterator[Row]:
    """Session.record against raw apsw: µs per event; the target is a speed ratio."""
    for f in data["figures"]:
        r = row(
            f"Session.record {f['durability'].upper()}, per event (speed ratio)",
            f["ours_us"],
            f["floor_us"],
            f">= {RECORD_RATIO[f['durability']]}x",
            f["ratio"] >= RECORD_RATIO[f["durability"]],
            unit="µs",
        )
        r["ratio"] = f["ratio"]  # floor time / ours: the speed ratio the target names
        yield r


def promote_rows(data: dict[str, Any]) -> Iterator[Row]:
    """Promotion against the raw move."""
    for f in data["figures"]:
        target = f"<= {PROMOTE_RATIO}x" if f["events"] == 10_000 else "(10k is the target)"
        met = f["ratio"] <= PROMOTE_RATIO if f["events"] == 10_000 else None
        yield row(
            f"promotion, {f['events']:,} events", f["seconds"] * 1e3,
            f["floor_seconds"] * 1e3, target, met,
        )  # fmt: skip


def memory_rows(data: dict[str, Any]) -> Iterator[Row]:
    """Peak memory growth of a promotion (MiB in the time column)."""
    for f in data["figures"]:
        yield row(
            f"promotion, {f['events']:,} events: peak memory growth",
            f["growth_mib"],
            None,
            f"<= {PROMOTE_MIB:.0f} MiB",
            f["growth_mib"] <= PROMOTE_MIB,
            unit="MiB",
        )


def verify_rows(data: dict[str, Any]) -> Iterator[Row]:
    """verify against hashing everything once plus quick_check."""
    for f in data["results"]:
        yield row(
            f"verify, {f['checkpoints']:,} checkpoints",
            f["verify_s"] * 1e3,
            f["floor_s"] * 1e3,
            f"<= {VERIFY_RATIO}x",
            f["ratio"] <= VERIFY_RATIO,
        )


#: name -> (script, arguments, quick arguments, rows from its JSON)
BENCHMARKS: dict[str, tuple[str, list[str], list[str], Callable[[Any], Iterator[Row]]]] = {
    "hooks": ("hook_latency.py", [], ["--runs", "5", "--checkpoints", "100"], hook_rows),
    "git_hooks": ("hooks.py", [], [], git_hook_rows),
    "sessions": (
        "post_commit_sessions.py",
        [],
        ["--sessions", "400", "--rounds", "3"],
        sessions_rows,
    ),
    "capture": ("capture.py", [], ["--rounds", "3"], capture_rows),
    "promote": (
        "promote.py",
        ["--sizes", "10000,100000"],
        ["--sizes", "10000"],
        promote_rows,
    ),
    "promote_memory": ("promote_memory.py", [], ["--events", "50000"], memory_rows),
    "verify": ("verify.py", [], ["--sizes", "1000"], verify_rows),
}


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment of the children: bytecode kept in ``cache``, compiled beforehand."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "bitloops"), str(HERE)],
        env=env,
        check=True,
    )
    return env


def run(name: str, env: dict[str, str], quick: bool) -> tuple[list[Row], float, str | None]:
    """Run one benchmark; its rows, the seconds it took, and an error if it failed."""
    script, args, quick_args, to_rows = BENCHMARKS[name]
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / script), "--json", *(quick_args if quick else args)],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return [], took, f"{script} failed (exit {proc.returncode}): {' | '.join(tail)}"
    try:
        return list(to_rows(json.loads(lines[-1]))), took, None
    except (KeyError, TypeError, ValueError) as exc:
        return [], took, f"{script}: unexpected --json output ({exc!r})"


def render(rows: list[Row]) -> str:
    """The table, in the house format of the benchmarks."""
    sys.path.insert(0, str(HERE))
    from _common import table

    def amount(value: float | None, unit: str) -> str:
        return "" if value is None else f"{value:,.1f} {unit}"

    cells = []
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        cells.append((r["what"], amount(r["time"], r["unit"]), amount(r["floor"], r["unit"]),
                      ratio, r["target"], met))  # fmt: skip
    return table(("what", "time", "floor", "ratio", "target", "met?"), cells)


def main() -> None:
    """Run the benchmarks one after another and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; use {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bl-run-all-") as tmp:
        env = bytecode_env(Path(tmp) / "pycache")
        for name in names:
            print(f"running {BENCHMARKS[name][0]} ...", end=" ", file=sys.stderr, flush=True)
            found, took, error = run(name, env, args.quick)
            print(f"{took:.0f} s", file=sys.stderr, flush=True)
            rows += found
            if error:
                errors.append(error)
    if args.json:
        print(json.dumps({"rows": rows, "errors": errors}))
        return
    print(render(rows))
    for error in errors:
        print(f"\n{error}")
    missed = sum(1 for r in rows if r["met"] is False)
    print(f"\n{len(rows)} figures, {missed} missing their target" + ("" if not errors else
          f", {len(errors)} benchmark(s) failed"))  # fmt: skip


if __name__ == "__main__":
    main()
