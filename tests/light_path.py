"""What the light-path tests of every agent share (tests/test_light_path_*.py).

Each test file drives one agent's ``_fast`` (the light hook path) and its ``handle`` (the
full path) and compares what they store; these read the stored lines back.
"""

from __future__ import annotations

import json
from pathlib import Path

import bitloops
from bitloops.capture import _direct as direct


def located(repo: Path) -> direct.Located:
    """The work tree as the light path finds it."""
    found = direct.locate(str(repo))
    assert found is not None
    return found


def rows(repo: Path, *, starts: bool) -> list[tuple[str, str]]:
    """(session id, stored line) of every live event in order; ``starts``: with the
    session_start events (which the light path never writes)."""
    where = "" if starts else "WHERE kind != 'session_start' "
    with bitloops.Repository.open(repo) as r:
        found = r.store.execute(f"SELECT session_id, line FROM live_events {where}ORDER BY id")
    return [(str(sid), str(line)) for sid, line in found]


def kinds(repo: Path) -> list[str]:
    """The kinds of the live events but session starts, in order."""
    return [json.loads(line)["kind"] for _, line in rows(repo, starts=False)]


def masked(line: str, *, seq: bool) -> str:
    """The stored line with its event id, time and session id masked (and with ``seq``
    its seq: two sessions' lines compared), byte for byte else."""
    event = json.loads(line)
    for key in ("event_id", "ts", "session_id"):
        line = line.replace(json.dumps(event[key]), '"X"')
    return line.replace(f'"seq":{event["seq"]}', '"seq":0') if seq else line


def bounded(repo: Path, ms: int = 300) -> None:
    """Settings that bound a hook's wait for the database to ``ms``."""
    (repo / ".bitloops").mkdir(exist_ok=True)
    (repo / ".bitloops" / "settings.json").write_text(json.dumps({"hook_busy_timeout_ms": ms}))
