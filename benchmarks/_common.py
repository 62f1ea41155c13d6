"""Helpers shared by the benchmark scripts: throwaway git repositories, medians, tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

# The benchmarks must not depend on the user's git or bitloops configuration.
for _name in list(os.environ):
    if _name.startswith(("BITLOOPS_", "GIT_")):
        del os.environ[_name]
os.environ.update(
    {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
)

#: A realistic tool call, about 300 bytes once serialised.
PAYLOAD: dict[str, Any] = {
    "name": "bash",
    "input": {"command": "pytest -q tests/test_http.py -k retries", "cwd": "/home/dev/project"},
    "output": "....F.\n1 failed, 5 passed in 0.42s\nE   AssertionError: expected 3 retries, got 1\n"
    "tests/test_http.py:42: in test_retries_on_503",
    "tool_use_id": "toolu_01",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout."""
    proc = subprocess.run(("git", *args), cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


def set_durability(repo: Path, durability: str) -> None:
    """Choose the durability through ``.bitloops/settings.json``."""
    folder = repo / ".bitloops"
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(f'{{"durability": "{durability}"}}\n')


def new_git_repo(parent: Path, name: str, durability: str) -> Path:
    """A fresh ``git init`` repository with one commit and the given durability."""
    repo = parent / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# bench\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "--no-verify", "-m", "initial")
    set_durability(repo, durability)
    return repo


def commit(repo: Path, rel: str, text: str) -> str:
    """Write one file, commit it, return the SHA."""
    (repo / rel).write_text(text)
    git(repo, "add", "--", rel)
    git(repo, "commit", "-q", "--no-verify", "-m", f"change {rel}")
    return git(repo, "rev-parse", "HEAD").strip()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def floor_connection(path: Path, durability: str) -> apsw.Connection:
    """A raw apsw connection with the pragmas bitloops uses (WAL, same synchronous)."""
    conn = apsw.Connection(str(path))
    conn.set_busy_timeout(10_000)
    conn.pragma("foreign_keys", True)
    if conn.pragma("journal_mode", "wal") != "wal":
        raise RuntimeError(f"{path} cannot use WAL")
    conn.pragma("synchronous", "FULL" if durability == "full" else "NORMAL")
    return conn


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    """One line describing where the numbers come from."""
    return (
        f"python {platform.python_version()}, SQLite {apsw.sqlite_lib_version()}, "
        f"apsw {apsw.apsw_version()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, executable {sys.executable}"
    )


def cache_bytecode(cache: Path) -> dict[str, str]:
    """The environment for child Pythons that keep compiled bytecode in ``cache``.

    As an installed package does, whatever ``PYTHONDONTWRITEBYTECODE`` says (this
    machine sets it): otherwise each fresh process would time compiling its sources.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def record_mix(repo: Any, n: int) -> None:
    """Record ``n`` events in ``repo`` (a Repository): a realistic mix of kinds, two sessions.

    Their two session_start events count: ``n`` events in all.
    """
    sessions = [repo.start_session(agent="bench", model=f"m{k}") for k in range(2)]
    for i in range(n - len(sessions)):
        s = sessions[i % 2]
        step = i % 8
        if step == 0:
            s.prompt(f"step {i}: make the client retry on 503")
        elif step == 1:
            s.reasoning("The server rate-limits bursts, so back off exponentially. " * 3)
        elif step in (2, 3, 4):
            s.record("tool_use", PAYLOAD)
        elif step == 5:
            s.file_change("client.py", "modified")
        elif step == 6:
            s.decision("exponential backoff", rationale="avoids synchronised retries")
        else:
            s.response("Added retries with exponential backoff.")
