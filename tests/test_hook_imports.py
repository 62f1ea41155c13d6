"""What an agent hook's process loads: none of the standard library's heavier modules.

A hook is a new process per prompt and tool call, so every module it imports is paid
all day (#12). Past the session's start (the full path), each agent's fixture session
runs with neither ``re`` nor ``json`` (the regex cache of :mod:`bitloops._rx` and the C
JSON of :mod:`bitloops._jsonc` stand in), nor what they pull in, nor typing or attrs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import payloads

from bitloops import _rx
from bitloops.agents import copilot
from bitloops.testing import create_repository

#: Never on a light hook path: each costs a fresh process a millisecond or more.
HEAVY = (
    "re",
    "json",
    "enum",
    "functools",
    "contextlib",
    "datetime",
    "typing",
    "attr",
    "cattrs",
    "warnings",
    "importlib.util",
    "pathlib",
    "subprocess",
    "threading",
    "hashlib",
)

#: The hook as ``python -m bitloops hook NAME`` runs it (runpy itself imports contextlib),
#: then the heavy modules it loaded.
SCRIPT = (
    "import sys\n"
    "from bitloops.__main__ import main\n"
    "status = main(['hook', sys.argv[1]])\n"
    "print(status, *sorted(m for m in sys.argv[2].split(',') if m in sys.modules))\n"
)


def _env(tmp_path: Path) -> dict[str, str]:
    """Bytecode (and so the regex cache) kept, as an installed package has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    return env


def _hooks(agent: str, repo: Path, transcript: Path) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of the agent's fixture session."""
    out = []
    for p in payloads(agent, repo, transcript):
        if agent == "copilot":  # the event's name comes from its hook entry's env
            out.append((p["hook"], p["payload"]))
            continue
        event: dict[str, Any] = p["event"] if isinstance(p.get("event"), dict) else {}
        out.append((str(p.get("hook_event_name") or event.get("type")), p))
    return out


def _run(agent: str, repo: Path, env: dict[str, str], name: str, payload: Any) -> str:
    if agent == "copilot":
        env = {**env, copilot.EVENT_ENV: name}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, agent.replace("_", "-"), ",".join(HEAVY)],
        input=json.dumps(payload).encode(),
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert proc.stderr == b"", proc.stderr
    return proc.stdout.decode().strip()


@pytest.mark.parametrize(
    "agent", ["claude_code", "codex", "gemini", "cursor", "copilot", "opencode"]
)
def test_each_agents_session_hooks_load_no_heavy_module(agent: str, tmp_path: Path) -> None:
    """Every hook of the fixture session after its start, in a fresh process with the
    caches an installed package has: status 0 and none of :data:`HEAVY` loaded."""
    env = _env(tmp_path)
    heavy: dict[str, str] = {}
    for round_ in ("warm", "timed"):  # the first fills the bytecode and regex caches
        repo = create_repository(tmp_path / round_, enabled=True).path
        transcript = tmp_path / f"{round_}.jsonl"
        transcript.write_text("", encoding="utf-8")
        for i, (name, payload) in enumerate(_hooks(agent, repo, transcript)):
            out = _run(agent, repo, env, name, payload)
            status, *loaded = out.split(" ")
            assert status == "0", (name, out)
            if round_ == "timed" and loaded and "attr" not in loaded:
                heavy[f"{i} {name}"] = " ".join(loaded)
    # The full path (a session's start, OpenCode's child session) loads the object model,
    # attrs and all: that is allowed. A light path loads none of them.
    assert heavy == {}
    assert _rx.cache_path() is not None


def test_a_cold_hook_still_records_without_the_cache(tmp_path: Path) -> None:
    """With no bytecode written (PYTHONDONTWRITEBYTECODE), nothing is cached: the hook
    compiles its patterns with re, and records the same."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "c")}
    repo = create_repository(tmp_path / "repo", enabled=True).path
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("", encoding="utf-8")
    for name, payload in _hooks("claude_code", repo, transcript)[:4]:
        assert _run("claude_code", repo, env, name, payload).startswith("0")
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("_rx.*"))
