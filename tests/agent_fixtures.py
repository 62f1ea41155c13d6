"""The hand-written agent fixtures under tests/fixtures/<agent>/, filled in for a test repo,
and the helpers the agent tests share: running a hook command, grouping events."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import bitloops

FIXTURES = Path(__file__).parent / "fixtures"


def fill(text: str, repo: Path, transcript: Path) -> str:
    """Put the test's work tree and transcript path where the fixture has placeholders."""
    return text.replace("{cwd}", str(repo)).replace("{transcript}", str(transcript))


def payloads(agent: str, repo: Path, transcript: Path) -> list[dict[str, Any]]:
    """The agent's hook payloads (``hooks.jsonl``), one dict per line."""
    text = fill((FIXTURES / agent / "hooks.jsonl").read_text(encoding="utf-8"), repo, transcript)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_transcript(agent: str, name: str, repo: Path, dest: Path) -> Path:
    """Copy the agent's transcript fixture ``name`` to ``dest``, filled in; ``dest``."""
    text = (FIXTURES / agent / name).read_text(encoding="utf-8")
    dest.write_text(fill(text, repo, dest), encoding="utf-8")
    return dest


def run_hook(
    agent: str, stdin: bytes, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``bitloops hook AGENT`` as a new process, as the agent runs it, fed ``stdin``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", agent],
        input=stdin,
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        check=False,
        timeout=60,
    )


def enable(repo: Path) -> None:
    """``bitloops enable`` in ``repo``: its git hooks promote on commit."""
    subprocess.run(
        [sys.executable, "-m", "bitloops", "enable"], cwd=repo, check=True, capture_output=True
    )


def commit_all(repo: Path, message: str, *, promote: bool = False) -> bitloops.Checkpoint:
    """Commit the whole work tree; the commit's checkpoint.

    ``promote``: with git hooks off, promoted here; else the post-commit hook that
    ``bitloops enable`` installed must have made it.
    """
    from conftest import git

    import bitloops

    git(repo, "add", "-A")
    if promote:
        git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", message)
    else:
        git(repo, "commit", "-q", "-m", message)
    with bitloops.Repository.open(repo) as opened:
        checkpoint = opened.promote("HEAD") if promote else opened.checkpoint("HEAD")
    assert checkpoint is not None
    return checkpoint


def group_by_kind(events: Iterable[Any]) -> dict[str, list[Any]]:
    """``events`` grouped by their kind, each group in order."""
    out: dict[str, list[Any]] = {}
    for event in events:
        out.setdefault(event.kind, []).append(event)
    return out


def with_field(raw: bytes, key: str, value: Any) -> bytes:
    """``raw`` with ``key`` set to ``value`` when it is a JSON object; else unchanged."""
    try:
        data = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        return raw
    if not isinstance(data, dict):
        return raw
    data[key] = value
    return json.dumps(data).encode()


def assert_silent(proc: subprocess.CompletedProcess[bytes]) -> None:
    """The hook exited 0 and wrote nothing, as a recorded payload should."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    assert proc.stderr == b"", proc.stderr


def assert_logged(repo: Path, agent: str) -> None:
    """A bad payload: ``agent``'s failure is in ``hooks.log`` and nothing was recorded."""
    import bitloops

    log = repo / ".git" / "bitloops" / "hooks.log"
    assert f"{agent} failed" in log.read_text(encoding="utf-8")
    with bitloops.Repository.open(repo) as opened:
        assert opened.draft().empty


def assert_logged_not_recorded(
    proc: subprocess.CompletedProcess[bytes], repo: Path, agent: str
) -> None:
    """A bad payload through the command: exit 0, no output nor traceback, see
    :func:`assert_logged`."""
    assert proc.returncode == 0 and proc.stdout == b""
    assert b"Traceback" not in proc.stderr
    assert_logged(repo, agent)
