"""``repo.verify()`` at 1,000 and 5,000 checkpoints, against its floor.

The store is built fast: N real commits through ``git fast-import``, and for each a
checkpoint of 20 events (a real promotion's header and lines as the template, ids and
the hash chain made per checkpoint) inserted directly, with its folder written by the
same code promotion uses and committed to git, as the ``branch`` mode leaves them.

The floor is the work verify cannot avoid: reading and hashing every stored line once,
reading and hashing every file of every folder once, and SQLite's ``quick_check``.
Target (#12 item 5): verify <= 2x the floor. Run: ``python benchmarks/verify.py``
(``--json`` prints the figures as JSON; ``--sizes 1000`` picks the sizes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import machine, median, scratch, table

import bitloops
from bitloops._codec import canonical_dumps, content_hash, format_ts, new_id, structure
from bitloops.checkpoint._files import CHECKPOINTS_DIR, write_checkpoint_dir
from bitloops.checkpoint._transcript import Transcript
from bitloops.model import Checkpoint

EVENTS = 20
RUNS = 5


def _template(root: Path) -> tuple[dict[str, object], list[str]]:
    """A real promotion's header and event lines."""
    path = root / "template"
    subprocess.run(("git", "init", "-q", "-b", "main", str(path)), check=True)
    (path / "f.py").write_text("def f():\n    return 1\n")
    subprocess.run(("git", "add", "f.py"), cwd=path, check=True)
    subprocess.run(("git", "commit", "-q", "--no-verify", "-m", "one"), cwd=path, check=True)
    repo = bitloops.Repository.open(path)
    s = repo.start_session(agent="claude-code", model="claude-opus-4")
    s.prompt("Make f return 2 and explain why the caller needs it")
    for i in range((EVENTS - 4) // 2):
        use = s.tool_use("bash", {"command": f"pytest -q tests/test_f.py -k case{i}"})
        s.tool_result(use.event_id, {"output": "....F.\n1 failed, 5 passed in 0.42s\n" * 3})
    s.decision("Return 2", rationale="the caller expects it")
    (path / "f.py").write_text("def f():\n    return 2\n")
    subprocess.run(("git", "commit", "-q", "--no-verify", "-am", "two"), cwd=path, check=True)
    cp = repo.promote()
    assert cp is not None
    row, lines, _ = repo.store.checkpoint_data(cp.checkpoint_id) or (None, [], [])
    assert row is not None
    repo.close()
    return json.loads(row.header), lines


def build(root: Path, n: int) -> Path:
    """A repository of ``n`` commits, each with a checkpoint and its committed folder."""
    header0, lines = _template(root)
    path = root / f"work{n}"
    subprocess.run(("git", "init", "-q", "-b", "main", str(path)), check=True)
    script = []
    for i in range(n):
        script.append(
            f"commit refs/heads/main\nmark :{i + 1}\n"
            f"committer Bench <bench@example.invalid> {1_700_000_000 + i} +0000\ndata 6\nchange\n"
        )
        if i:
            script.append(f"from :{i}\n")
        data = f"{i}\n"
        script.append(f"M 100644 inline src/m{i % 200}.txt\ndata {len(data)}\n{data}\n")
    subprocess.run(
        ("git", "fast-import", "--quiet"), cwd=path, input="".join(script).encode(), check=True
    )
    subprocess.run(("git", "checkout", "-q", "main"), cwd=path, check=True)
    shas = subprocess.run(
        ("git", "rev-list", "--reverse", "main"), cwd=path, capture_output=True, text=True
    ).stdout.split()
    repo = bitloops.Repository.open(path)
    start = datetime.now(UTC) - timedelta(days=1)
    parent_id: str | None = None
    parent_hash: str | None = None
    with repo.store.transaction() as conn:
        for i, sha in enumerate(shas):
            cid = new_id()
            created = format_ts(start + timedelta(seconds=i))
            header = {
                **header0,
                "checkpoint_id": cid,
                "commit_sha": sha,
                "created_at": created,
                "parent_checkpoint_id": parent_id,
                "parent_hash": parent_hash,
            }
            digest = content_hash(header, lines)
            conn.execute(
                "INSERT INTO checkpoints (checkpoint_id, commit_sha, created_at, branch, "
                "strategy, event_count, parent_checkpoint_id, parent_hash, content_hash, "
                "header) VALUES (?, ?, ?, 'main', 'manual_commit', ?, ?, ?, ?, ?)",
                (cid, sha, created, len(lines), parent_id, parent_hash, digest,
                 canonical_dumps(header)),
            )  # fmt: skip
            for line in lines:
                event = json.loads(line)
                conn.execute(
                    "INSERT INTO checkpoint_events (checkpoint_id, session_id, seq, ts, kind, "
                    "line) VALUES (?, ?, ?, ?, ?, ?)",
                    (cid, event["session_id"], event["seq"], event["ts"], event["kind"], line),
                )
            conn.execute(
                "INSERT INTO commit_links VALUES (?, ?, ?, 'created')", (sha, cid, created)
            )
            checkpoint = structure(
                {**header, "commits": [sha], "content_hash": digest, "events": []}, Checkpoint
            )
            checkpoint = attrs_evolve(checkpoint, Transcript(lines))
            write_checkpoint_dir(path, checkpoint, lines)
            parent_id, parent_hash = cid, digest
    repo.close()
    subprocess.run(("git", "add", "-f", CHECKPOINTS_DIR), cwd=path, check=True)
    subprocess.run(
        ("git", "commit", "-q", "--no-verify", "-m", "checkpoints"), cwd=path, check=True
    )
    return path


def attrs_evolve(checkpoint: Checkpoint, events: Transcript) -> Checkpoint:
    """The checkpoint with its events (kept apart so the build reads plainly)."""
    import attrs

    return attrs.evolve(checkpoint, events=events)


def floor(path: Path) -> float:
    """Seconds to hash every stored line and every folder file once, plus quick_check."""
    import apsw

    start = time.perf_counter()
    conn = apsw.Connection(str(path / ".git" / "bitloops" / "bitloops.db"))
    conn.execute("PRAGMA quick_check").fetchall()
    for (cid,) in conn.execute("SELECT checkpoint_id FROM checkpoints").fetchall():
        digest = hashlib.sha256()
        for (line,) in conn.execute(
            "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id", (cid,)
        ):
            digest.update(line.encode())
        digest.hexdigest()
    conn.close()
    for folder in (path / CHECKPOINTS_DIR).iterdir():
        for file in folder.iterdir():
            hashlib.sha256(file.read_bytes()).hexdigest()
    return time.perf_counter() - start


def timed_verify(path: Path) -> tuple[float, int, bool]:
    """Seconds of one ``repo.verify()`` on a freshly opened repository."""
    start = time.perf_counter()
    repo = bitloops.Repository.open(path)
    report = repo.verify()
    repo.close()
    return time.perf_counter() - start, report.checked, report.ok


def main() -> None:
    """Build each store, time verify and its floor (medians), print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--sizes", default="1000,5000", help="comma-separated checkpoint counts")
    args = parser.parse_args()
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        with scratch("bitloops-bench-verify-") as root:
            path = build(root, n)
            floors, times = [], []
            for _ in range(RUNS):
                floors.append(floor(path))
                seconds, checked, ok = timed_verify(path)
                assert checked == n and ok, (checked, ok)
                times.append(seconds)
            f, t = median(floors), median(times)
            results.append({"checkpoints": n, "floor_s": f, "verify_s": t, "ratio": t / f})
    if args.json:
        print(json.dumps({"benchmark": "verify", "target_ratio": 2.0, "results": results}))
        return
    print(machine())
    print(
        table(
            ["checkpoints", "floor", "verify", "ratio", "target"],
            [
                [
                    f"{r['checkpoints']:,}",
                    f"{r['floor_s'] * 1000:.0f} ms",
                    f"{r['verify_s'] * 1000:.0f} ms",
                    f"{r['ratio']:.2f}x",
                    "<= 2x",
                ]
                for r in results
            ],
        )
    )


if __name__ == "__main__":
    main()
