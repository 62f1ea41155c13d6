"""Import speed: ``bitloops import`` of a big Claude Code transcript, against its floor.

Generates a realistic Claude Code transcript (prompts, thinking, replies, Read/Edit/Bash/
Write calls with their structured results, token usage; one API message split over
several lines) of ``--mb`` megabytes, imports it into a fresh repository and times it.
The floor is what any import must do with the same file: ``json.loads`` of every line,
then for each event the import stored, redaction of its payload, its canonical JSON
line, and one transaction inserting them all. Prints both, their ratio (target: 2x or
less), time per MB at a quarter and at the full size (linear?), and each run's peak
memory (a child process's maximum resident set; independent of the size?).

Each size is imported ``--rounds`` times (each in a fresh repository, interleaved with
the floor); medians are printed, with the ratio of CPU times besides the wall-clock one.
The children load bytecode compiled beforehand, as an installed package has it.
Run: ``python benchmarks/import_transcript.py [--mb 50] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import cache_bytecode, floor_connection, machine, median, new_git_repo, scratch, table

SID = "0b7e3c2a-5d41-4f8e-9a6b-1c2d3e4f5a6b"
WORDS = [
    "the",
    "retry",
    "loop",
    "config",
    "parser",
    "request",
    "handler",
    "cache",
    "layer",
    "test",
    "fixture",
    "timeout",
    "value",
    "returns",
    "none",
    "when",
    "the",
    "header",
    "is",
    "missing",
    "so",
    "we",
    "should",
    "fall",
    "back",
    "to",
    "defaults",
    "and",
    "log",
    "it",
]


def _prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _code(rng: random.Random, lines: int) -> str:
    return "".join(
        f"def handler_{rng.randrange(10**6)}(request):\n    return {rng.choice(WORDS)!r}\n"
        for _ in range(lines // 2)
    )


def generate(path: Path, cwd: str, megabytes: float) -> int:
    """Write a transcript of about ``megabytes`` MB to ``path``; its number of lines."""
    rng = random.Random(11)
    target = int(megabytes * 1024 * 1024)
    size = lines = turn = 0
    parent = None
    with open(path, "w", encoding="utf-8") as fh:

        def line(obj: dict[str, object]) -> None:
            nonlocal size, lines, parent
            obj.update(
                {
                    "parentUuid": parent,
                    "isSidechain": False,
                    "userType": "external",
                    "cwd": cwd,
                    "sessionId": SID,
                    "version": "2.0.50",
                    "gitBranch": "main",
                    "uuid": f"{lines:08x}-1111-4222-8333-{rng.randrange(16**12):012x}",
                    "timestamp": f"2026-06-01T{10 + turn // 3600 % 10}:{turn // 60 % 60:02d}:"
                    f"{turn % 60:02d}.{lines % 1000:03d}Z",
                }
            )
            parent = str(obj["uuid"])
            text = json.dumps(obj, ensure_ascii=False) + "\n"
            fh.write(text)
            size += len(text.encode())
            lines += 1

        while size < target:
            turn += 1
            line({"type": "user", "message": {"role": "user", "content": _prose(rng, 25)}})
            for step in range(rng.randrange(3, 8)):
                mid = f"msg_01{turn:06d}{step:03d}"
                usage = {"input_tokens": 12, "output_tokens": 300, "cache_read_input_tokens": 9000}

                def assistant(blocks: list[object], mid: str = mid, usage: object = usage) -> None:
                    message = {"id": mid, "type": "message", "role": "assistant",
                               "model": "claude-opus-4-5-20251101", "content": blocks,
                               "stop_reason": None, "usage": usage}  # fmt: skip
                    line({"type": "assistant", "message": message, "requestId": f"req_{mid}"})

                assistant([{"type": "thinking", "thinking": _prose(rng, 60), "signature": "c2ln"}])
                assistant([{"type": "text", "text": _prose(rng, 30)}])
                call = f"toolu_01{turn:06d}{step:03d}"
                target_file = f"{cwd}/src/module_{rng.randrange(40)}.py"
                tool = rng.choice(("Read", "Edit", "Bash", "Write"))
                if tool == "Read":
                    tool_input: dict[str, object] = {"file_path": target_file}
                    body = _code(rng, 80)
                    result: object = {"type": "text", "file": {"filePath": target_file,
                                      "content": body, "numLines": 80}}  # fmt: skip
                elif tool == "Edit":
                    old, new = _code(rng, 4), _code(rng, 6)
                    tool_input = {"file_path": target_file, "old_string": old, "new_string": new}
                    body = f"The file {target_file} has been updated."
                    result = {"filePath": target_file, "oldString": old, "newString": new,
                              "structuredPatch": [], "userModified": False}  # fmt: skip
                elif tool == "Bash":
                    tool_input = {"command": "pytest -q tests", "description": "Run the tests"}
                    body = "".join(f"tests/test_{i}.py ....\n" for i in range(30))
                    result = {"stdout": body, "stderr": "", "interrupted": False}
                else:
                    body = _code(rng, 30)
                    tool_input = {"file_path": target_file, "content": body}
                    result = {"type": "update", "filePath": target_file, "content": body}
                assistant([{"type": "tool_use", "id": call, "name": tool, "input": tool_input}])
                content = [{"tool_use_id": call, "type": "tool_result", "content": body}]
                line(
                    {
                        "type": "user",
                        "message": {"role": "user", "content": content},
                        "toolUseResult": result,
                    }
                )
    return lines


def floor(path: Path, events: list[tuple[str, str]], where: Path) -> tuple[float, float]:
    """The least any import does: parse, redact, dump and insert, once each; its
    (seconds, CPU seconds)."""
    from bitloops._codec import canonical_dumps, event_line, format_ts, new_id
    from bitloops.redact import default_redactor

    redactor = default_redactor()
    conn = floor_connection(where, "full")
    conn.execute(
        "CREATE TABLE live_events (id INTEGER PRIMARY KEY, session_id TEXT, seq INTEGER, "
        "ts TEXT, kind TEXT, line TEXT)"
    )
    payloads = [(kind, json.loads(payload)) for kind, payload in events]  # not timed
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, "rb") as fh:
        for raw in fh:
            json.loads(raw)
    rows = []
    now = format_ts(datetime.now(UTC))
    for seq, (kind, payload) in enumerate(payloads, 1):
        text = redactor.redact_json(canonical_dumps(payload))
        line = event_line(
            seq=seq, event_id=new_id(), session_id=SID, ts=now, kind=kind,
            agent="claude-code", model=None, payload_json=text,
        )  # fmt: skip
        rows.append((SID, seq, now, kind, line))
    with conn:
        conn.executemany(
            "INSERT INTO live_events (session_id, seq, ts, kind, line) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


_CHILD = """
import json, resource, sys, time
import bitloops
from bitloops.capture._importing import import_transcript
repo = bitloops.Repository.open(sys.argv[1])
start, cpu = time.perf_counter(), time.process_time()
result = import_transcript(repo, "claude-code", sys.argv[2])
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
# Before the events are fetched. VmHWM, not ru_maxrss: Linux keeps the parent's maximum
# across the exec of a child spawned with vfork (a parent holding the last run's events).
try:
    with open("/proc/self/status") as fh:
        peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
json.dump({"seconds": elapsed, "cpu": cpu, "events": result.events_added,
           "peak_kb": peak}, sys.stdout)
if len(sys.argv) > 3:
    rows = repo.store.execute("SELECT kind, line FROM live_events ORDER BY id")
    events = [(kind, json.dumps(json.loads(line)["payload"])) for kind, line in rows]
    json.dump(events, open(sys.argv[3], "w"))
"""


def run(
    tmp: Path, name: str, megabytes: float, rounds: int, env: dict[str, str]
) -> dict[str, object]:
    """Generate, then import (each time in a child process, into a fresh repository)
    and measure the floor, interleaved, ``rounds`` times; the median figures."""
    repo = new_git_repo(tmp, name, "full")
    path = tmp / f"{name}.jsonl"
    lines = generate(path, str(repo), megabytes)  # its cwd: the repository's path
    events_file = tmp / f"{name}-events.json"
    figures: dict[str, list[float]] = {"seconds": [], "cpu": [], "floor": [], "floor_cpu": []}
    peak = count = 0
    for i in range(rounds):
        if i:  # a fresh repository at the same path: the transcript's cwd
            shutil.rmtree(repo)
            new_git_repo(tmp, name, "full")
        extra = [str(events_file)] if i == 0 else []
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(repo), str(path), *extra],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        child = json.loads(proc.stdout)
        figures["seconds"].append(child["seconds"])
        figures["cpu"].append(child["cpu"])
        peak, count = max(peak, child["peak_kb"]), child["events"]
        if i == 0:
            events = [tuple(e) for e in json.loads(events_file.read_text())]
        db = tmp / f"{name}-floor-{i}.db"
        wall, cpu = floor(path, events, db)
        figures["floor"].append(wall)
        figures["floor_cpu"].append(cpu)
    out: dict[str, object] = {k: median(v) for k, v in figures.items()}
    out.update(lines=lines, events=count, peak_kb=peak, mb=path.stat().st_size / 1024 / 1024)
    return out


def main() -> None:
    """Two sizes, a quarter and the whole; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="the big transcript's size")
    parser.add_argument("--rounds", type=int, default=3, help="imports and floors per size")
    args = parser.parse_args()
    print(f"import-transcript benchmark: {machine()}")
    rows = []
    with scratch("bitloops-bench-import-") as tmp:
        # The children load compiled bytecode, as an installed package does: else each
        # would time compiling the modules the import loads on its way.
        env = cache_bytecode(tmp / "pycache")
        import bitloops

        package = Path(bitloops.__file__).parent
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True
        )
        for name, size in (("quarter", args.mb / 4), ("whole", args.mb)):
            f = run(tmp, name, size, max(1, args.rounds), env)
            seconds, base = float(f["seconds"]), float(f["floor"])  # type: ignore[arg-type]
            cpu, base_cpu = float(f["cpu"]), float(f["floor_cpu"])  # type: ignore[arg-type]
            mb = float(f["mb"])  # type: ignore[arg-type]
            rows.append(
                (
                    f"{mb:.1f} MB, {f['lines']:,} lines, {f['events']:,} events",
                    f"{seconds:.2f} s",
                    f"{base:.2f} s",
                    f"{seconds / base:.2f}x",
                    f"{cpu / base_cpu:.2f}x",
                    f"{seconds / mb * 1000:.0f} ms",
                    f"{int(f['peak_kb']) / 1024:.0f} MB",  # type: ignore[call-overload]
                )
            )
    print(
        table(
            ("transcript", "import", "floor", "ratio", "CPU ratio", "import per MB", "peak RSS"),
            rows,
        )
    )
    print(
        f"medians of {max(1, args.rounds)} interleaved rounds; CPU ratio: the same in CPU "
        "time (less moved by other processes on a busy machine)"
    )
    print("target: ratio <= 2x the floor; per-MB time and peak memory flat across sizes")


if __name__ == "__main__":
    main()
