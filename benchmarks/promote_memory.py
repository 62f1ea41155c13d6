"""Peak memory of promoting a big draft: how much a ``promote()`` adds to its process.

A draft of ``--events`` events (default 200,000; the realistic mix of
``_common.record_mix``) is recorded in one transaction (untimed), a commit is made, and a
fresh Python process opens the repository, reads its peak resident set
(``ru_maxrss``), promotes, and reads it again: the growth is what promotion held in
memory at its peak. Target (#12): at most 64 MiB at 200,000 events.

What is measured is the promotion's own memory, not loading its code: the bytecode is
compiled beforehand (``compileall``, as an installed package has it), and the process
first promotes a 100-event draft of another repository, which imports (and warms) every
module a promotion needs before the peak is read (compiling and importing them added
about 5 MiB, whatever the draft's size).
Run: ``python benchmarks/promote_memory.py [--events 200000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import cache_bytecode, commit, machine, new_git_repo, record_mix, scratch, table

import bitloops

TARGET_MIB = 64.0
WARM_EVENTS = 100

CHILD = """
import json, resource, sys, time
import bitloops
with bitloops.Repository.open(sys.argv[2]) as warm:  # imports what promotion needs
    warm.promote()
repo = bitloops.Repository.open(sys.argv[1])
repo.store.execute("SELECT count(*) FROM live_events")  # open and warm, not counted
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
checkpoint = repo.promote()
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "seconds": seconds,
                  "events": len(checkpoint.events)}))
"""


def fill(repo_path: Path, n: int) -> None:
    """Record ``n`` events in one transaction (fast; the timing is not the point here)."""
    with bitloops.Repository.open(repo_path) as repo, repo.store.transaction():
        record_mix(repo, n)


def measure(events: int) -> dict[str, object]:
    """Fill, commit, promote in a fresh process; its figures."""
    with scratch("bl-promote-mem-") as folder:
        repo_path = new_git_repo(folder, "repo", "normal")
        fill(repo_path, events)
        commit(repo_path, "client.py", "def send():\n    return 1\n")
        warm_path = new_git_repo(folder, "warm", "normal")
        fill(warm_path, WARM_EVENTS)
        commit(warm_path, "client.py", "def send():\n    return 2\n")
        env = cache_bytecode(folder / "pycache")
        package = Path(bitloops.__file__).parent
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True
        )
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(repo_path), str(warm_path)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = (got["after_kib"] - got["before_kib"]) / 1024
    return {
        "events": got["events"],
        "seconds": got["seconds"],
        "growth_mib": growth,
        "bytes_per_event": growth * 1024 * 1024 / max(1, got["events"]),
        "target_mib": TARGET_MIB,
        "met": growth <= TARGET_MIB,
    }


def main() -> None:
    """Measure once and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    begun = time.perf_counter()
    found = measure(args.events)
    if args.json:
        print(json.dumps({"benchmark": "promote_memory", "figures": [found]}))
        return
    print(f"promotion memory benchmark: {machine()}")
    print(f"(took {time.perf_counter() - begun:.1f} s)")
    print(
        table(
            ("events", "promote s", "peak RSS growth MiB", "bytes/event", "target", ""),
            [
                (
                    f"{found['events']:,}",
                    f"{found['seconds']:.2f}",
                    f"{found['growth_mib']:.1f}",
                    f"{found['bytes_per_event']:,.0f}",
                    f"<= {TARGET_MIB:.0f} MiB",
                    "meets" if found["met"] else "ABOVE",
                )
            ],
        )
    )


if __name__ == "__main__":
    main()
