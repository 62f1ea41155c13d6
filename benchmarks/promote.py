"""Promotion time: ``Repository.promote()`` of drafts of 1k, 10k and 100k events vs a floor.

The floor is the least any promotion must do: in one ``BEGIN IMMEDIATE`` transaction,
``INSERT INTO copy_events SELECT * FROM live_events`` and ``DELETE FROM live_events``, on
a database with the same ``live_events`` table (its DDL is copied from the bitloops
database), the same rows and the same pragmas. Drafts are filled through
``Session.record`` with durability "normal" (not timed); both promotions then run with
durability "full", the default. Target (#12): at most 3x the floor at 10k events.
Run: ``python benchmarks/promote.py [--sizes 1000,10000,100000] [--json]``; peak memory
is measured apart, in a fresh process: ``benchmarks/promote_memory.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    commit,
    floor_connection,
    machine,
    median,
    new_git_repo,
    record_mix,
    scratch,
    set_durability,
    table,
)

import bitloops
import bitloops.checkpoint._files
import bitloops.checkpoint._promote

RUNS = {1_000: 7, 10_000: 5, 100_000: 3}
TARGET = 3.0  # promote / floor at 10k
DURABILITY = "full"
CLIENT = "class Client:\n    def send(self):\n        return {n}\n\n\ndef helper():\n    return 2\n"


def fill(repo_path: Path, n: int) -> None:
    """Record ``n`` events (see :func:`record_mix`) with durability normal."""
    set_durability(repo_path, "normal")
    with bitloops.Repository.open(repo_path) as repo:
        record_mix(repo, n)


class Timer:
    """Wraps functions to add up how long their calls took, by label."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``label``."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - start

        return timed


def ours(repo_path: Path) -> tuple[float, dict[str, float], int]:
    """Seconds of ``promote()`` with the time of its phases, and the events promoted."""
    set_durability(repo_path, DURABILITY)
    timer = Timer()
    build, write_files = (
        bitloops.checkpoint._promote._build,
        bitloops.checkpoint._files.write_checkpoint_dir,
    )
    with bitloops.Repository.open(repo_path) as repo:
        store = repo.store
        store.draft_rows = timer.wrap("read draft", store.draft_rows)  # type: ignore[method-assign]
        # The write transaction: the database's write lock is held for all of it.
        store.move_draft = timer.wrap("write txn", store.move_draft)  # type: ignore[method-assign]
        bitloops.checkpoint._promote._build = timer.wrap("build", build)
        bitloops.checkpoint._files.write_checkpoint_dir = timer.wrap("files", write_files)
        try:
            start = time.perf_counter()
            checkpoint = repo.promote()
            total = time.perf_counter() - start
        finally:
            bitloops.checkpoint._promote._build = build
            bitloops.checkpoint._files.write_checkpoint_dir = write_files
        assert checkpoint is not None
        return total, timer.spent, len(checkpoint.events)


def prepare_floor(repo_path: Path, floor_path: Path) -> None:
    """A database with bitloops' live_events DDL, a same-shaped copy table, the same rows."""
    with bitloops.Repository.open(repo_path) as repo:
        db_path = repo.db_path
        ddl = dict(
            repo.store.execute(
                "SELECT name, sql FROM sqlite_schema WHERE name IN ('sessions', 'live_events')"
            )
        )
    conn = floor_connection(floor_path, DURABILITY)
    try:
        conn.execute(ddl["sessions"])
        conn.execute(ddl["live_events"])
        conn.execute(ddl["live_events"].replace("live_events", "copy_events", 1))
        conn.execute("ATTACH ? AS src", (str(db_path),))
        with conn:
            conn.execute("INSERT INTO main.sessions SELECT * FROM src.sessions")
            conn.execute("INSERT INTO main.live_events SELECT * FROM src.live_events")
        conn.execute("DETACH src")
    finally:
        conn.close()


def floor(floor_path: Path) -> tuple[float, int]:
    """Seconds of the raw copy + delete in one transaction, and the rows moved."""
    conn = floor_connection(floor_path, DURABILITY)
    try:
        conn.execute("SELECT count(*) FROM live_events").fetchall()  # warm the schema
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO copy_events SELECT * FROM live_events")
        moved = conn.changes()
        conn.execute("DELETE FROM live_events")
        conn.execute("COMMIT")
        return time.perf_counter() - start, moved
    finally:
        conn.close()


def main() -> None:
    """Fill, promote, compare, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, RUNS)), help="draft sizes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    if not args.json:
        print(f"promote benchmark: {machine()}")
        print(f"promotions run with durability {DURABILITY!r}; drafts filled with 'normal'")
    rows, phase_rows, found = [], [], []
    begun = time.perf_counter()
    for size in sizes:
        runs = RUNS.get(size, 3)
        totals, floors, phases = [], [], []
        for k in range(runs):
            with scratch("bl-promote-") as folder:
                repo_path = new_git_repo(folder, "repo", "normal")
                fill(repo_path, size)
                commit(repo_path, "client.py", CLIENT.format(n=k))
                floor_path = folder / "floor.db"
                prepare_floor(repo_path, floor_path)
                # Alternate which goes first, against drift.
                if k % 2:
                    floor_s, moved = floor(floor_path)
                    total, spent, count = ours(repo_path)
                else:
                    total, spent, count = ours(repo_path)
                    floor_s, moved = floor(floor_path)
                if count != size or moved != size:
                    raise RuntimeError(f"expected {size} events, promoted {count}, copied {moved}")
                totals.append(total)
                floors.append(floor_s)
                phases.append(spent)
        t, f = median(totals), median(floors)
        txn = median([p.get("write txn", 0.0) for p in phases])
        labels = ("read draft", "build", "write txn", "files")
        found.append(
            {
                "events": size,
                "runs": runs,
                "seconds": t,
                "floor_seconds": f,
                "ratio": t / f,
                "target": TARGET if size == 10_000 else None,
                "met": t / f <= TARGET if size == 10_000 else None,
                "phases": {label: median([p.get(label, 0.0) for p in phases]) for label in labels},
            }
        )
        rows.append(
            (
                f"{size:,}",
                runs,
                f"{t * 1e3:,.1f}",
                f"{f * 1e3:,.1f}",
                f"{t / f:.2f}",
                f"<= {TARGET}" if size == 10_000 else "",
                ("meets" if t / f <= TARGET else "ABOVE") if size == 10_000 else "",
                f"{txn * 1e3:,.1f}",
                f"{txn / f:.2f}",
                f"{t / size * 1e6:.1f}",
            )
        )
        parts = [median([p.get(label, 0.0) for p in phases]) for label in labels]
        rest = median([tot - sum(p.values()) for tot, p in zip(totals, phases, strict=True)])
        phase_rows.append((f"{size:,}", *(f"{x * 1e3:,.1f}" for x in (*parts, rest))))
    if args.json:
        print(json.dumps({"benchmark": "promote", "figures": found}))
        return
    print(f"\nmedians (took {time.perf_counter() - begun:.1f} s in all)")
    print(
        table(
            (
                "events",
                "runs",
                "promote ms",
                "floor ms",
                "ratio",
                "target",
                "",
                "lock held ms",
                "lock/floor",
                "µs/event",
            ),
            rows,
        )
    )
    print("\nwhere promote() spends its time (ms, medians; lock held = the write transaction)")
    print(table(("events", "read draft", "build", "write txn", "files", "other"), phase_rows))


if __name__ == "__main__":
    main()
