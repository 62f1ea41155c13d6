"""Capture throughput: events/s through ``Session.record`` vs raw apsw inserts (the floor).

The floor commits the same kind of row (a ~480-byte event line) into a table shaped like
``live_events`` with the same pragmas (WAL, same ``synchronous``), one
``BEGIN IMMEDIATE ... COMMIT`` per event: what any durable per-event capture must pay.
Ours and the floor run interleaved, 15 rounds, in fresh databases; medians are printed
with the ratio ours/floor, for both durabilities in the same run. Targets (#12): at
least 0.8x the floor at FULL, 0.6x at NORMAL.
Run: ``python benchmarks/capture.py [--rounds 15] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import PAYLOAD, floor_connection, machine, median, new_git_repo, scratch, table

import bitloops
from bitloops._codec import canonical_dumps, event_line, format_ts, new_id, plain_copy

ROUNDS = 15
WARMUP = 50
COUNTS = {"full": 2_000, "normal": 10_000}
TARGETS = {"full": 0.8, "normal": 0.6}

LIVE_EVENTS = """
CREATE TABLE live_events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    worktree   TEXT NOT NULL,
    ts         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    line       TEXT NOT NULL,
    UNIQUE (session_id, seq)
) STRICT
"""


def ours(folder: Path, durability: str, n: int) -> float:
    """Events/s of ``Session.record`` with a tool_use payload, in a fresh repository."""
    repo = bitloops.Repository.open(new_git_repo(folder, "ours", durability))
    try:
        session = repo.start_session(agent="bench", model="m")
        for _ in range(WARMUP):
            session.record("tool_use", PAYLOAD)
        start = time.perf_counter()
        for _ in range(n):
            session.record("tool_use", PAYLOAD)
        return n / (time.perf_counter() - start)
    finally:
        repo.close()


def sample_line() -> str:
    """An event line the size of the ones bitloops stores for PAYLOAD."""
    return event_line(
        event_id=new_id(),
        session_id=new_id(),
        seq=1,
        ts=format_ts(datetime.now(UTC)),
        kind="tool_use",
        agent="bench",
        model="m",
        payload_json=canonical_dumps(PAYLOAD),
    )


def floor(folder: Path, durability: str, n: int) -> float:
    """Events/s of raw apsw inserts, one BEGIN IMMEDIATE ... COMMIT per event."""
    conn = floor_connection(folder / "floor.db", durability)
    try:
        conn.execute(LIVE_EVENTS)
        line, sid, worktree = sample_line(), new_id(), str(folder)
        ts = format_ts(datetime.now(UTC))
        insert = (
            "INSERT INTO live_events (session_id, seq, worktree, ts, kind, line) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )

        def one(seq: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(insert, (sid, seq, worktree, ts, "tool_use", line))
            conn.execute("COMMIT")

        for seq in range(WARMUP):
            one(seq)
        start = time.perf_counter()
        for seq in range(WARMUP, WARMUP + n):
            one(seq)
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def statements_per_record() -> list[str]:
    """The SQL one ``Session.record`` runs (traced), to compare with the floor's three."""
    with scratch("bl-capture-trace-") as folder:
        repo = bitloops.Repository.open(new_git_repo(folder, "trace", "normal"))
        try:
            session = repo.start_session(agent="bench", model="m")
            seen: list[str] = []

            def trace(_cursor: object, sql: str, _bindings: object) -> bool:
                seen.append(" ".join(sql.split()))
                return True

            conn = repo.store._conn
            conn.exec_trace = trace
            session.record("tool_use", PAYLOAD)
            conn.exec_trace = None
            return seen
        finally:
            repo.close()


def per_call_us(fn: object, n: int = 20_000) -> float:
    """Median µs of one call of ``fn`` (no arguments), over three batches."""
    assert callable(fn)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return median(runs)


def breakdown() -> list[tuple[str, str]]:
    """CPU cost of the steps of one record outside SQLite, for finding slow spots."""
    from bitloops.redact import default_redactor

    redactor = default_redactor()
    text = canonical_dumps(PAYLOAD)
    ts, eid, sid = format_ts(datetime.now(UTC)), new_id(), new_id()
    steps = {
        "canonical_dumps(payload)": lambda: canonical_dumps(PAYLOAD),
        "redactor.redact_json(text)": lambda: redactor.redact_json(text),
        "format_ts(datetime.now(UTC))": lambda: format_ts(datetime.now(UTC)),
        "new_id()": new_id,
        "event_line(...) alone": lambda: event_line(
            event_id=eid,
            session_id=sid,
            seq=1,
            ts=ts,
            kind="tool_use",
            agent="bench",
            model="m",
            payload_json=text,
        ),
        "plain_copy(payload) (returned Event)": lambda: plain_copy(PAYLOAD),
        "json.loads(text) (if redaction changed it)": lambda: json.loads(text),
    }
    return [(name, f"{per_call_us(fn):.1f}") for name, fn in steps.items()]


def measure(rounds: int) -> dict[tuple[str, str], list[float]]:
    """Events/s of ours and the floor, ``rounds`` interleaved rounds per durability."""
    results: dict[tuple[str, str], list[float]] = {}
    for k in range(rounds):
        for durability, n in COUNTS.items():
            order = [("ours", ours), ("floor", floor)]
            if k % 2:
                order.reverse()  # alternate which goes first, against drift
            for name, fn in order:
                with scratch(f"bl-capture-{name}-") as folder:
                    results.setdefault((durability, name), []).append(fn(folder, durability, n))
    return results


def figures(results: dict[tuple[str, str], list[float]]) -> list[dict[str, object]]:
    """One figure per durability: medians, ratio, per-round spread, target."""
    out: list[dict[str, object]] = []
    for durability, n in COUNTS.items():
        mine, base = median(results[durability, "ours"]), median(results[durability, "floor"])
        spread = [
            o / f
            for o, f in zip(results[durability, "ours"], results[durability, "floor"], strict=True)
        ]
        out.append(
            {
                "durability": durability,
                "events": n,
                "rounds": len(spread),
                "ours_per_s": mine,
                "floor_per_s": base,
                "ours_us": 1e6 / mine,
                "floor_us": 1e6 / base,
                "overhead_us": 1e6 / mine - 1e6 / base,
                "ratio": mine / base,
                "ratio_min": min(spread),
                "ratio_max": max(spread),
                "target": TARGETS[durability],
                "met": mine / base >= TARGETS[durability],
            }
        )
    return out


def main() -> None:
    """Measure, interleaved, and print the table (or the figures as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    begun = time.perf_counter()
    found = figures(measure(args.rounds))
    if args.json:
        print(json.dumps({"benchmark": "capture", "figures": found}))
        return
    print(f"capture benchmark: {machine()}")
    size, stored = len(canonical_dumps(PAYLOAD)), len(sample_line())
    print(f"payload: {size} bytes of JSON, stored line {stored} bytes")
    rows = [
        (
            f["durability"],
            f"{f['events']:,}",
            f"{f['ours_per_s']:,.0f}",
            f"{f['floor_per_s']:,.0f}",
            f"{f['ratio']:.2f}",
            f"{f['ratio_min']:.2f}-{f['ratio_max']:.2f}",
            f">= {f['target']}",
            "meets" if f["met"] else "BELOW",
            f"{f['ours_us']:.1f}",
            f"{f['floor_us']:.1f}",
            f"{f['overhead_us']:.1f}",
        )
        for f in found
    ]
    took = time.perf_counter() - begun
    print(f"\nmedian of {args.rounds} interleaved rounds (took {took:.1f} s)")
    print(
        table(
            (
                "durability",
                "events",
                "ours ev/s",
                "floor ev/s",
                "ratio",
                "per-round",
                "target",
                "",
                "ours µs/ev",
                "floor µs/ev",
                "overhead µs/ev",
            ),
            rows,
        )
    )
    print("\nSQL per Session.record (the floor runs BEGIN IMMEDIATE, one INSERT, COMMIT):")
    for sql in statements_per_record():
        print(f"  {sql[:150]}")
    print("\nCPU per event outside SQLite (µs, median of 3 x 20k calls):")
    print(table(("step", "µs"), breakdown()))


if __name__ == "__main__":
    main()
