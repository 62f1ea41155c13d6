"""Sending a checkpoint to the shared PostgreSQL store vs a raw COPY of the same rows.

For a 10k-event checkpoint (and 100 and 1k), three timings in the same run:
- ours: ``PostgresStore.put_checkpoint`` — one transaction: the checkpoint row and its
  links (pipelined), the COPY of the events, the commit;
- floor: a raw psycopg ``COPY`` of the same event rows, in one transaction, into a table
  made ``LIKE checkpoint_events INCLUDING ALL`` (same columns, primary key and search
  index; no foreign key, no triggers);
- bare: the same COPY into a table with no indexes at all, to show what the search
  index costs.
It also counts the round trips of one send (libpq's protocol trace: each wait for the
server is a ReadyForQuery or a CopyInResponse) and times ``repo.promote()`` of a 10k
draft with and without the team setup. Needs ``BITLOOPS_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Run: ``python benchmarks/postgres.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import attrs
import psycopg
from _common import commit, machine, median, new_git_repo, record_mix, scratch, table

import bitloops
from bitloops.store._postgres import PostgresStore
from bitloops.store._sqlite import CheckpointRow

SERVER = os.environ.get("BITLOOPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SIZES = {100: 9, 1_000: 7, 10_000: 5}
TARGET = 2.0  # ours / floor at 10k


def schema_url(schema: str) -> str:
    sep = "&" if "?" in SERVER else "?"
    return SERVER + sep + urlencode({"options": f"-csearch_path={schema}"})


def make_checkpoint(
    parent: Path, n: int
) -> tuple[CheckpointRow, list[tuple[str, int, str, str, str]], list[tuple[str, str, str]]]:
    """Promote an n-event draft locally and return what a send reads from the outbox."""
    top = new_git_repo(parent, f"local{n}", "normal")
    with bitloops.Repository.open(top) as repo:
        record_mix(repo, n)
        commit(top, "client.py", "x = 1\n")
        made = repo.promote()
        assert made is not None
        return repo.store.checkpoint_rows(made.checkpoint_id)


def round_trips(store: PostgresStore, row: CheckpointRow, events: list, links: list) -> int:
    """Waits for the server during one put_checkpoint, read off libpq's protocol trace."""
    conn = store._connection()
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        store.put_checkpoint(row, events, links)
        conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    waits = ("ReadyForQuery", "CopyInResponse")
    return sum(1 for line in lines if line.startswith("B\t") and line.split("\t")[2] in waits)


def main() -> None:
    schema = f"bl_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(SERVER, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    url = schema_url(schema)
    rows_out = []
    trips = {}
    try:
        store = PostgresStore(url)
        store.connect()
        admin.execute(
            f"CREATE TABLE {schema}.floor_events (LIKE {schema}.checkpoint_events INCLUDING ALL)"
        )
        admin.execute(
            f"CREATE TABLE {schema}.bare_events (checkpoint_id text, position integer, "
            "session_id text, seq integer, ts text, kind text, line text)"
        )
        raw = psycopg.connect(url)
        with scratch("bitloops-bench-pg-") as parent:
            for n, runs in SIZES.items():
                row, events, links = make_checkpoint(parent, n)
                ours, floor, bare = [], [], []
                for _ in range(runs):
                    copy = attrs.evolve(row, checkpoint_id=secrets.token_hex(16))
                    start = time.perf_counter()
                    assert store.put_checkpoint(copy, events, links)
                    ours.append(time.perf_counter() - start)
                    for target, out in (("floor_events", floor), ("bare_events", bare)):
                        cid = secrets.token_hex(16)
                        start = time.perf_counter()
                        with (
                            raw.transaction(),
                            raw.cursor().copy(
                                f"COPY {target} (checkpoint_id, position, session_id, seq, "
                                "ts, kind, line) FROM STDIN"
                            ) as cp,
                        ):
                            for pos, (sid, seq, ts, kind, line) in enumerate(events):
                                cp.write_row((cid, pos, sid, seq, ts, kind, line))
                        out.append(time.perf_counter() - start)
                fresh = attrs.evolve(row, checkpoint_id=secrets.token_hex(16))
                trips[n] = round_trips(store, fresh, events, links)
                trips[f"{n} again"] = round_trips(store, fresh, events, links)  # stored now
                o, f, b = median(ours), median(floor), median(bare)
                rows_out.append(
                    [
                        f"{n:,}",
                        f"{o * 1e3:.1f} ms",
                        f"{f * 1e3:.1f} ms",
                        f"{o / f:.2f}x",
                        f"{b * 1e3:.1f} ms",
                        f"{o / b:.2f}x",
                        str(trips[n]),
                    ]
                )
            store.close()
            raw.close()

            # End to end: promote() of a 10k draft, local only vs team (move + send).
            e2e = []
            for team in (False, True):
                times = []
                for k in range(3):
                    top = new_git_repo(parent, f"e2e{int(team)}{k}", "full")
                    if team:
                        (top / ".bitloops" / "settings.local.json").write_text(
                            json.dumps({"committed_store": url})
                        )
                    with bitloops.Repository.open(top) as repo:
                        record_mix(repo, 10_000)
                        commit(top, "client.py", "x = 1\n")
                        start = time.perf_counter()
                        assert repo.promote() is not None
                        times.append(time.perf_counter() - start)
                        assert repo.status().unsent_count == 0
                e2e.append(median(times))
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()

    print(machine())
    print("Sending one checkpoint to PostgreSQL: put_checkpoint vs raw COPY of the same rows")
    print(
        table(
            ["events", "ours", "floor COPY", "ours/floor", "bare COPY", "ours/bare", "round trips"],
            rows_out,
        )
    )
    print(
        "round trips of a send that finds the checkpoint stored already: "
        + ", ".join(f"{trips[f'{n} again']} ({n:,} events)" for n in SIZES)
    )
    ten = float(rows_out[-1][3].rstrip("x"))
    verdict = "meets" if ten <= TARGET else "misses"
    print(f"10k ratio {ten:.2f} {verdict} the target of <= {TARGET}")
    print(
        f"promote() of a 10k draft: local only {e2e[0] * 1e3:.0f} ms, team setup (move + send) "
        f"{e2e[1] * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
