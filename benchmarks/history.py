"""History by path at 10,000 checkpoints, and ``review`` of a 50-commit range, vs floors.

The store is built fast: 10,000 real commits through ``git fast-import`` (each changes
one of 200 files; every 50th also ``auth.py``), and for each a checkpoint inserted
directly, with its rows of the index by path, as promotion writes them (a realistic
header: a prompt, a decision naming the file, a general decision, an alternative, the
file and two symbols). Then, medians of repeated runs:

- ``repo.history("auth.py")`` (200 checkpoints) and ``repo.history("src/m7.py")``
  (50), against the floor of the two indexed SQL queries behind them run directly;
- ``answers.why("auth.py")``, against the same floor;
- ``review`` (gather and render Markdown) of the last 50 commits, against the floor
  of ``git rev-list`` of the range plus reading the 50 checkpoint rows.

Targets: history and why ≤ 50 ms, review ≤ 1 s. Run: ``python benchmarks/history.py``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _common import machine, median, scratch, table

import bitloops
from bitloops._codec import canonical_dumps, format_ts, new_id
from bitloops.context import answers
from bitloops.context._review import render_markdown, review
from bitloops.store._index import PATHS_FOR_SQL, WHY_FOR_PATH_SQL, index_rows, insert_rows

N = 10_000
FILES = 200
RUNS = 15


def build(root: Path) -> Path:
    """A repository of N commits, each with a checkpoint and its index rows."""
    repo_path = root / "work"
    subprocess.run(("git", "init", "-q", "-b", "main", str(repo_path)), check=True)
    script = []
    for i in range(N):
        script.append(
            f"commit refs/heads/main\nmark :{i + 1}\n"
            f"committer Bench <bench@example.invalid> {1_700_000_000 + i} +0000\n"
            f"data 6\nchange\n"
        )
        if i:
            script.append(f"from :{i}\n")
        data = f"def f{i}():\n    return {i}\n"
        script.append(f"M 100644 inline src/m{i % FILES}.py\ndata {len(data)}\n{data}\n")
        if i % 50 == 0:
            script.append(f"M 100644 inline auth.py\ndata {len(data)}\n{data}\n")
    subprocess.run(
        ("git", "fast-import", "--quiet"), cwd=repo_path, input="".join(script).encode(), check=True
    )
    subprocess.run(("git", "checkout", "-q", "main"), cwd=repo_path, check=True)
    shas = subprocess.run(
        ("git", "rev-list", "--reverse", "main"), cwd=repo_path, capture_output=True, text=True
    ).stdout.split()
    repo = bitloops.Repository.open(repo_path)
    with repo.store.transaction() as conn:
        for i, sha in enumerate(shas):
            cid = new_id()
            created = format_ts(datetime.now(UTC))
            paths = [f"src/m{i % FILES}.py"] + (["auth.py"] if i % 50 == 0 else [])
            header = {
                "checkpoint_id": cid,
                "commit_sha": sha,
                "created_at": created,
                "branch": "main",
                "strategy": "manual_commit",
                "sessions": [],
                "summary": {
                    "intent": [f"Change number {i}: make f{i} return {i}"],
                    "decisions": [
                        {"text": f"Return {i}", "rationale": "the caller expects it",
                         "source": "agent", "applies_to": [paths[-1]], "record_id": new_id()},
                        {"text": "Keep it small", "source": "agent", "record_id": new_id()},
                    ],
                    "alternatives": [
                        {"text": f"Return {i + 1}", "reason": "off by one",
                         "source": "extracted", "confidence": 0.7, "record_id": new_id()}
                    ],
                    "agents": ["claude-code"],
                    "models": ["claude-opus-4"],
                },
                "files": [{"path": p, "change": "modified", "in_commit": True,
                           "by_agent": True} for p in paths],
                "symbols": [{"path": paths[0], "name": f"f{i}", "kind": "function",
                             "language": "python"},
                            {"path": paths[0], "name": paths[0][4:-3], "kind": "module",
                             "language": "python"}],
                "models": [{"agent": "claude-code", "model": "claude-opus-4"}],
            }  # fmt: skip
            conn.execute(
                "INSERT INTO checkpoints (checkpoint_id, commit_sha, created_at, branch, "
                "strategy, event_count, content_hash, header) VALUES (?, ?, ?, 'main', "
                "'manual_commit', 0, ?, ?)",
                (cid, sha, created, "0" * 64, canonical_dumps(header)),
            )
            conn.execute(
                "INSERT INTO commit_links VALUES (?, ?, ?, 'created')", (sha, cid, created)
            )
            rows = index_rows(
                header, checkpoint_id=cid, commit_sha=sha, created_at=created,
                content_hash="0" * 64,
            )  # fmt: skip
            insert_rows(conn, rows)
    repo.close()
    return repo_path


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median seconds of ``fn``, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def main() -> None:
    """Build the store, time everything against its floor, print the table."""
    with scratch("bitloops-bench-history-") as root:
        start = time.perf_counter()
        path = build(root)
        print(
            f"{machine()}\nbuilt {N:,} commits and checkpoints in "
            f"{time.perf_counter() - start:.1f} s"
        )
        repo = bitloops.Repository.open(path)
        repo.history("auth.py")  # first use: the index is read once (renames scanned)
        conn = repo.store._conn

        def floor(target: str) -> Callable[[], object]:
            def run() -> object:
                a = conn.execute(PATHS_FOR_SQL, (json.dumps([target]), "", 1)).fetchall()
                b = conn.execute(WHY_FOR_PATH_SQL, (target, None, 1000)).fetchall()
                return a, b

            return run

        rows = []
        for target in ("auth.py", "src/m7.py"):
            count = len(repo.history(target))
            fl = timed(floor(target))
            got = timed(lambda t=target: repo.history(t))  # type: ignore[misc]
            rows.append((f"history({target}) [{count}]", fl, got))
            why = timed(lambda t=target: answers.why(repo, t))  # type: ignore[misc]
            rows.append((f"answers.why({target})", fl, why))
        shas = repo.git.run("rev-list", "--max-count=51", "HEAD").split()
        spec = f"{shas[-1]}..{shas[0]}"

        def review_floor() -> object:
            out = repo.git.run("rev-list", spec).split()
            return conn.execute(
                "SELECT header FROM checkpoints "
                "WHERE commit_sha IN (SELECT value FROM json_each(?))",
                (json.dumps(out),),
            ).fetchall()

        fl = timed(review_floor, 5)
        got = timed(lambda: render_markdown(review(repo, spec)), 5)
        rows.append(("review (50 commits, markdown)", fl, got))
        repo.close()
    print(
        table(
            ("what", "floor ms", "bitloops ms", "ratio", "target"),
            [
                (
                    name,
                    f"{fl * 1000:.2f}",
                    f"{got * 1000:.2f}",
                    f"{got / fl:.1f}x",
                    "≤ 1000 ms" if name.startswith("review") else "≤ 50 ms",
                )
                for name, fl, got in rows
            ],
        )
    )


if __name__ == "__main__":
    main()
