"""Capture throughput: events/s through ``Session.record`` vs raw apsw inserts (the floor).

The floor commits the same kind of row (a ~480-byte event line) into a table shaped like
``live_events`` with the same pragmas (WAL, same ``synchronous``), one
``BEGIN IMMEDIATE ... COMMIT`` per event: what any durable per-event capture must pay.
Ours and the floor run interleaved, several rounds, in fresh databases; medians are
printed with the ratio ours/floor. Run: ``python benchmarks/capture.py``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import PAYLOAD, floor_connection, machine, median, new_git_repo, scratch, table

import bitloops
from bitloops.codec import canonical_dumps, event_line, format_ts, new_id

ROUNDS = 5
WARMUP = 50
COUNTS = {"full": 2_000, "normal": 20_000}
TARGETS = {"full": 0.8, "normal": 0.5}

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
    from bitloops.codec import parse_ts
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
        "parse_ts(ts) (returned Event)": lambda: parse_ts(ts),
        "json.loads(text) (returned Event)": lambda: json.loads(text),
    }
    return [(name, f"{per_call_us(fn):.1f}") for name, fn in steps.items()]


def main() -> None:
    """Measure, interleaved, and print the table."""
    print(f"capture benchmark: {machine()}")
    size, stored = len(canonical_dumps(PAYLOAD)), len(sample_line())
    print(f"payload: {size} bytes of JSON, stored line {stored} bytes")
    results: dict[tuple[str, str], list[float]] = {}
    begun = time.perf_counter()
    for k in range(ROUNDS):
        for durability, n in COUNTS.items():
            order = [("ours", ours), ("floor", floor)]
            if k % 2:
                order.reverse()  # alternate which goes first, against drift
            for name, fn in order:
                with scratch(f"bl-capture-{name}-") as folder:
                    results.setdefault((durability, name), []).append(fn(folder, durability, n))
    rows = []
    for durability, n in COUNTS.items():
        mine, base = median(results[durability, "ours"]), median(results[durability, "floor"])
        ratio = mine / base
        spread = [
            o / f
            for o, f in zip(results[durability, "ours"], results[durability, "floor"], strict=True)
        ]
        target = TARGETS[durability]
        rows.append(
            (
                durability,
                f"{n:,}",
                f"{mine:,.0f}",
                f"{base:,.0f}",
                f"{ratio:.2f}",
                f"{min(spread):.2f}-{max(spread):.2f}",
                f">= {target}",
                "meets" if ratio >= target else "BELOW",
                f"{1e6 / mine:.1f}",
                f"{1e6 / base:.1f}",
                f"{1e6 / mine - 1e6 / base:.1f}",
            )
        )
    print(f"\nmedian of {ROUNDS} interleaved rounds (took {time.perf_counter() - begun:.1f} s)")
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
