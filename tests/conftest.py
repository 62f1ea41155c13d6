"""Shared fixtures: real git repositories in temporary folders, real SQLite files."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import bitloops

# Where the PostgreSQL tests find a server (read before the BITLOOPS_* variables go).
PG_URL = os.environ.get("BITLOOPS_TEST_POSTGRES_URL")
# Set by .ci/run: a PostgreSQL test that cannot run is a failure there, not a skip.
PG_REQUIRED = os.environ.get("BITLOOPS_TEST_POSTGRES_REQUIRED") == "1"

# Tests must not depend on the developer's own git or bitloops configuration.
for _name in list(os.environ):
    if _name.startswith(("BITLOOPS_", "GIT_")):
        del os.environ[_name]
# Nor read or write the developer's home: agents' folders (~/.claude, ~/.codex, ...)
# that resume restores into, and that imports read, point into a throwaway one.
for _name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "COPILOT_HOME", "XDG_DATA_HOME"):
    os.environ.pop(_name, None)
os.environ["HOME"] = tempfile.mkdtemp(prefix="bitloops-test-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)
# The hooks the tests start are fresh Python processes. Where PYTHONDONTWRITEBYTECODE is
# set (some machines, CI's among them) each would compile bitloops and the standard
# library from source again: instead they share bytecode in a cache of this run's own,
# as processes of an installed package do.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bitloops-test-pycache-")
    atexit.register(shutil.rmtree, os.environ["PYTHONPYCACHEPREFIX"], ignore_errors=True)
os.environ.update(
    {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.invalid",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.invalid",
    }
)


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """Run the real git in ``repo`` and return stdout; fail the test if git fails."""
    proc = subprocess.run(
        ("git", *args), cwd=repo, input=input, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def commit_files(repo: Path, files: Mapping[str, str | None], message: str = "change") -> str:
    """Write (or, for None, delete) files, commit them all, return the new SHA."""
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A", "--", *files)
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def stage_all(repo: Path) -> None:
    """``git add -A``, checkpoint folders included: what the pre-commit hook would add to an
    ordinary commit, for a test that commits with the hooks off (the folders are ignored
    until added, see ``bitloops.git._hooks.exclude_folders``)."""
    git(repo, "add", "-A")
    if (repo / ".bitloops").is_dir():
        git(repo, "add", "-f", "--", ".bitloops")


def run_together(script: str, runs: list[list[str]], timeout: float = 120) -> list[str]:
    """Run ``python -c script ARGS START`` for each ``ARGS`` in ``runs``, all at once.

    ``START`` (a time 1.5 s away) is the last argument: the script sleeps until then, so
    the processes really overlap. Each must exit 0; returns their standard outputs.
    """
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


@pytest.fixture
def no_attrs(tmp_path: Path) -> dict[str, str]:
    """An environment where importing attrs fails: only a hook's light path can record."""
    blocker = tmp_path / "blocker"
    (blocker / "attr").mkdir(parents=True)
    (blocker / "attr" / "__init__.py").write_text("raise ImportError('full path taken')\n")
    return {**os.environ, "PYTHONPATH": str(blocker)}


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository with one initial commit (``README.md``)."""
    from bitloops.testing import create_repository

    return create_repository(tmp_path / "work").path


@pytest.fixture
def repo(git_repo: Path) -> Iterator[bitloops.Repository]:
    """A bitloops Repository on ``git_repo``, closed afterwards."""
    r = bitloops.Repository.open(git_repo)
    yield r
    r.close()


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server the tests may use, from ``BITLOOPS_TEST_POSTGRES_URL``."""
    if not PG_URL:
        reason = (
            "no PostgreSQL server: set BITLOOPS_TEST_POSTGRES_URL, e.g. "
            "postgresql://postgres@127.0.0.1:5432/test (the tests create and drop their own "
            "schemas and roles)"
        )
        if PG_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg(pg_url: str) -> Iterator[PgSchema]:
    """A fresh schema of its own on the test server, dropped (with its roles) afterwards."""
    with PgSchema.create(pg_url) as schema:
        yield schema


from pg_helpers import PgSchema  # noqa: E402  (needs the environment set up above)
