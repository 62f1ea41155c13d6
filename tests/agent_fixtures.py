"""The hand-written agent fixtures under tests/fixtures/<agent>/, filled in for a test repo,
and the few helpers the agent tests share that are not :mod:`bitloops.testing`'s.

The general helpers (enabling bitloops, committing to a checkpoint, running hooks,
building transcripts) live in :mod:`bitloops.testing`; ``enable``, ``commit_all`` and
``assert_silent`` are re-exported here for the tests that still import them from here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bitloops.testing import assert_silent, commit_all, enable, hook_command

__all__ = [
    "FIXTURES",
    "assert_logged",
    "assert_logged_not_recorded",
    "assert_silent",
    "commit_all",
    "enable",
    "fill",
    "group_by_kind",
    "payloads",
    "run_hook",
    "with_field",
    "write_transcript",
]

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
    """``bitloops hook AGENT`` as a new process, as the agent runs it, fed ``stdin``.

    ``env`` is the process's whole environment (default: this one's). For the hook's
    output and the events it recorded, use :func:`bitloops.testing.run_hook` instead.
    """
    return subprocess.run(
        hook_command(agent),
        input=stdin,
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        check=False,
        timeout=60,
    )


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
