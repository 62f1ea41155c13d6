"""Import cost: what ``import bitloops`` costs a git hook, and what it drags in.

Runs ``python -X importtime -c "import bitloops"`` several times and prints the median
cumulative time of ``bitloops`` and its most expensive imports, next to the wall time of
``python -c pass`` (the interpreter's own start-up, the floor) and of
``python -c "import bitloops"``. Then lists which heavy modules got imported. Every run
has its bytecode cached, as an installed package has it (a fresh ``PYTHONPYCACHEPREFIX``
the first run fills), whatever ``PYTHONDONTWRITEBYTECODE`` says: otherwise each run would
time compiling the sources.
Run: ``python benchmarks/import_time.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict

from _common import cache_bytecode, machine, median, scratch, table

RUNS = 21
#: The child processes' environment (set in main: bytecode cached in a scratch folder).
ENV: dict[str, str] = {}
WATCHED = ("apsw", "psycopg", "sqlite3", "attrs", "attr", "cattrs", "json", "re", "subprocess")


def wall(code: str) -> float:
    """Seconds for a fresh interpreter to run ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return time.perf_counter() - start


def importtime() -> dict[str, tuple[int, int, int]]:
    """One ``-X importtime`` run: module -> (self µs, cumulative µs, depth), for ``bitloops``
    and the modules imported under it (not the interpreter's own start-up imports)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bitloops"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    rows: list[tuple[str, int, int, int]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), int(own), int(cumulative), depth))
    # A module's line follows those of everything it imported, which are indented deeper.
    end = next(i for i, row in enumerate(rows) if row[0] == "bitloops" and row[3] == 0)
    start = end
    while start > 0 and rows[start - 1][3] > 0:
        start -= 1
    return {name: (own, cum, depth) for name, own, cum, depth in rows[start : end + 1]}


def modules_after(code: str) -> dict[str, bool]:
    """Which WATCHED modules are in ``sys.modules`` after running ``code`` in a fresh process.

    Membership is taken before the probe imports json to print it.
    """
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nseen = {{m: m in sys.modules for m in {WATCHED!r}}}\n"
            "import json\nprint(json.dumps(seen))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    result: dict[str, bool] = json.loads(proc.stdout)
    return result


def main() -> None:
    """Measure interleaved, print medians."""
    with scratch("bl-import-time-") as tmp:
        ENV.update(cache_bytecode(tmp / "pycache"))
        wall("import bitloops")  # writes the bytecode
        report()


def report() -> None:
    """The measurements and their tables."""
    print(f"import-time benchmark: {machine()}")
    passes, imports, runs = [], [], []
    for _ in range(RUNS):
        passes.append(wall("pass"))
        imports.append(wall("import bitloops"))
        runs.append(importtime())
    per_module: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for run in runs:
        for name, value in run.items():
            per_module[name].append(value)
    cumulative = median([run["bitloops"][1] for run in runs])
    floor, ours = median(passes), median(imports)
    print(f"\nmedians of {RUNS} runs each")
    print(
        table(
            ("measure", "value"),
            [
                ("python -c pass (wall, the floor)", f"{floor * 1e3:.1f} ms"),
                ('python -c "import bitloops" (wall)', f"{ours * 1e3:.1f} ms"),
                ("difference (wall)", f"{(ours - floor) * 1e3:.1f} ms"),
                ("ratio import/pass (wall)", f"{ours / floor:.2f}"),
                ("bitloops cumulative (-X importtime)", f"{cumulative:,.0f} µs"),
            ],
        )
    )
    top = sorted(
        ((name, vals) for name, vals in per_module.items() if name != "bitloops"),
        key=lambda item: -median([v[1] for v in item[1]]),
    )[:8]
    own = median([sum(v[0] for n, v in run.items() if n.startswith("bitloops")) for run in runs])
    print(f"\nself time of bitloops' own modules: {own:,.0f} µs (the rest is dependencies)")
    print("\nmost expensive imports under `import bitloops` (median µs; indented by depth)")
    print(
        table(
            ("module", "cumulative µs", "self µs"),
            [
                (
                    "  " * vals[0][2] + name,
                    f"{median([v[1] for v in vals]):,.0f}",
                    f"{median([v[0] for v in vals]):,.0f}",
                )
                for name, vals in top
            ],
        )
    )
    after_import = modules_after("import bitloops")
    after_repo = modules_after("import bitloops\nbitloops.Repository")
    print("\nin sys.modules after ...")
    print(
        table(
            ("module", "import bitloops", "+ bitloops.Repository"),
            [
                (m, "yes" if after_import[m] else "no", "yes" if after_repo[m] else "no")
                for m in WATCHED
            ],
        )
    )


if __name__ == "__main__":
    main()
