"""Helpers for the web view's tests: a repository with real checkpoints, a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import commit_files, git

import bitloops

#: A prompt a browser would run if the page did not escape it.
HOSTILE_PROMPT = "Add retries <script>document.title='pwned'</script> to the HTTP client"
CLIENT_V1 = "class Client:\n    def send(self):\n        return 1\n"
CLIENT_V2 = "class Client:\n    def send(self):\n        for _ in range(3):\n            return 1\n"


def build_repo(repo: Path) -> tuple[bitloops.Checkpoint, bitloops.Checkpoint]:
    """Two checkpoints in ``repo`` (a git repository): claude-code's, then codex's.

    The first holds the hostile prompt, reasoning, a tool call with its result, every
    kind of why-record and an agent edit of client.py; the second a human-looking change
    of NOTES.md recorded by another agent and model.
    """
    commit_files(repo, {"client.py": CLIENT_V1}, "add client")
    with bitloops.Repository.open(repo) as r:
        with r.start_session(agent="claude-code", model="claude-sonnet-4") as s:
            s.prompt(HOSTILE_PROMPT)
            s.reasoning("Requests fail under load with 503s.\nSo retry them, but not forever.")
            s.plan(items=[{"text": "Wrap send() in a retry loop", "status": "completed"}])
            s.constraint("No new dependencies", stated_by="user")
            s.alternative("Use the tenacity library", reason="adds a dependency")
            s.decision(
                "Exponential backoff with jitter",
                rationale="avoids synchronised retries",
                applies_to=["client.py::Client.send"],
            )
            s.tool_use(
                "Edit",
                {"file_path": "client.py", "old_string": "return 1", "new_string": CLIENT_V2},
                tool_use_id="tu-1",
            )
            s.tool_result("tu-1", "The file client.py has been updated (tool output).")
            s.file_change("client.py", "modified")
            s.response("Added retries with exponential backoff.")
        commit_files(repo, {"client.py": CLIENT_V2}, "retry the HTTP client")
        first = r.promote()
        with r.start_session(agent="codex", model="gpt-5") as s:
            s.prompt("Document the retry policy")
            s.file_change("NOTES.md", "added")
            s.response("Wrote NOTES.md.")
        commit_files(repo, {"NOTES.md": "Retries back off exponentially.\n"}, "notes")
        second = r.promote()
    assert first is not None and second is not None
    git(repo, "log", "--oneline")
    return first, second


_URL = re.compile(r"at (http://\S+) \(Ctrl-C")


def start_server(repo: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``bitloops serve --port 0 ARGS`` in ``repo``; the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitloops", "serve", "--port", "0", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = _URL.search(line)
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"bitloops serve did not start: {line!r}")


def stop_server(proc: subprocess.Popen[str]) -> None:
    """Stop a server started by :func:`start_server` (the test's own process only)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
