"""A fuzz run of hostile hook payloads across the six agents (issue #15, the proof).

Real payloads from the agent fixtures, mutated: session ids with lone surrogates or
thousands of characters, a ``cwd`` too long for the file system or naming a file, a
``transcript_path`` that is a FIFO, ``/dev/zero``, a 2 GB sparse file, a directory,
``/proc/self/mem`` (EIO), a name too long; values of the wrong type, secrets, huge
fields; and plain garbage. Over 2,000 payloads go through the in-process hook entry
point, and a few hundred through ``python -m bitloops hook AGENT`` as the agents run
it. Every hook must return normally (exit 0), write no traceback, end within 2 s, write
nothing outside ``.git/bitloops`` and the user's bitloops cache folder, and every payload
must end recorded, spooled or quarantined: a hook that reports a failure has added a
quarantine row or a spool entry.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import FIXTURES, payloads, write_transcript

import bitloops
from bitloops.agents._registry import AGENTS, run_agent_hook
from bitloops.capture import _hooklog as hooklog
from bitloops.capture import _spool as spool

pytestmark = pytest.mark.slow

IN_PROCESS = 2100
SUBPROCESS = 240
SECRET = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # split: no scanner trips
_TRANSCRIPTS = {
    "claude-code": "transcript.jsonl",
    "codex": "rollout.jsonl",
    "copilot": "events.jsonl",
    "cursor": "transcript.jsonl",
    "gemini": "session.jsonl",
}
_SESSION_KEYS = ("session_id", "sessionId", "conversation_id", "sessionID")
_PATH_KEYS = ("transcript_path", "transcriptPath")


def _strings(rng: random.Random, hostile: Path) -> list[Any]:
    return [
        "", " ", "s-\ud800", "\udfff", "x" * 5000, "/" + "y" * 300, "a\x00b",
        "../../../../PWNED_x", "💥" * 50, f"token {SECRET}", "z" * rng.randint(10_000, 300_000),
        None, 7, -1, 1.5, True, [], ["a", 1], {"k": "v"}, {"nested": {"deep": [None]}},
        str(hostile / "fifo"),
    ]  # fmt: skip


def _paths(hostile: Path, transcript: Path) -> list[str]:
    return [
        str(hostile / "fifo"), "/dev/zero", "/dev/null", str(hostile / "sparse.jsonl"),
        str(hostile), str(hostile / "missing.jsonl"), "/tmp/" + "n" * 5000,
        "/proc/self/mem", str(transcript), str(transcript), "bad\x00path",
    ]  # fmt: skip


def _cwds(repo: Path, hostile: Path) -> list[Any]:
    return [
        str(repo), str(repo), str(repo / "sub"), "/" + "c" * 300, str(hostile / "fifo"),
        str(hostile / "missing"), "/", "", None, 12, "c\x00d",
    ]  # fmt: skip


def _bases(agent: str, repo: Path, transcript: Path) -> list[dict[str, Any]]:
    out = []
    for item in payloads(agent.replace("-", "_"), repo, transcript):
        if agent == "copilot":  # the fixture gives the event beside the payload
            out.append({**item["payload"], "hook_event_name": item["hook"]})
        else:
            out.append(item)
    return out


def _mutate(rng: random.Random, base: dict[str, Any], pools: dict[str, list[Any]]) -> bytes:
    """One payload: a fixture payload with a few fields made hostile, or garbage."""
    roll = rng.random()
    if roll < 0.05:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if roll < 0.08:
        return json.dumps(base).encode()[: rng.randint(0, 200)]  # cut short
    payload = json.loads(json.dumps(base))
    for _ in range(rng.randint(0, 3)):
        choice = rng.random()
        if choice < 0.25:
            key = rng.choice([k for k in _PATH_KEYS if k in payload] or list(_PATH_KEYS))
            payload[key] = rng.choice(pools["paths"])
        elif choice < 0.45:
            payload["cwd"] = rng.choice(pools["cwds"])
        elif choice < 0.6:
            key = rng.choice([k for k in _SESSION_KEYS if k in payload] or ["session_id"])
            payload[key] = rng.choice(pools["strings"] + pools["sessions"] * 4)
        elif choice < 0.9 and payload:
            payload[rng.choice(list(payload))] = rng.choice(pools["strings"])
        else:
            payload.pop(rng.choice(list(payload)), None) if payload else None
    try:
        return json.dumps(payload).encode()
    except (TypeError, ValueError):  # pragma: no cover - every value above is JSON
        return b"{}"


def _snapshot(*roots: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not any((here / d) == s for s in skip)]
            for name in filenames:
                path = here / name
                try:
                    st = path.lstat()
                except OSError:
                    continue
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def _kept(repo: Path) -> tuple[int, set[bytes]]:
    """The newest quarantine row's id, and the spool entries wherever they are."""
    newest = 0
    db = repo / ".git" / "bitloops" / "bitloops.db"
    if db.exists():
        with bitloops.Repository.open(repo) as r:
            ((newest,),) = r.store.execute("SELECT coalesce(max(id), 0) FROM quarantine")
    lines: set[bytes] = set()
    for folder in spool.places(repo / ".git"):
        try:
            lines |= set(Path(spool.spool_path(folder)).read_bytes().splitlines())
        except OSError:
            pass
    return int(newest), lines


def _added(before: tuple[int, set[bytes]], after: tuple[int, set[bytes]]) -> bool:
    """A quarantine row or a spool entry came (a replayed entry leaves the spool)."""
    return after[0] > before[0] or bool(after[1] - before[1])


@pytest.fixture
def arena(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The repository, hostile files beside it, a transcript per agent, a cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A relative cwd in a payload is taken from the process's directory: not this checkout.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (git_repo / "sub").mkdir()
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        json.dumps({"max_payload_bytes": 65536, "hook_busy_timeout_ms": 500})
    )
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    os.mkfifo(hostile / "fifo")
    with open(hostile / "sparse.jsonl", "wb") as fh:
        fh.truncate(2 * 1024**3)
    transcripts = {
        agent: write_transcript(
            agent.replace("-", "_"), name, git_repo, hostile / f"{agent}-{name}"
        )
        for agent, name in _TRANSCRIPTS.items()
    }
    transcripts["opencode"] = hostile / "opencode.json"
    transcripts["opencode"].write_text("{}")
    return {"repo": git_repo, "hostile": hostile, "transcripts": transcripts, "tmp": tmp_path}


def _corpus(arena: dict[str, Any], rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    repo, hostile = arena["repo"], arena["hostile"]
    out = []
    for i in range(count):
        agent = sorted(AGENTS)[i % len(AGENTS)]
        transcript = arena["transcripts"][agent]
        bases = _bases(agent, repo, transcript)
        pools = {
            "paths": _paths(hostile, transcript),
            "cwds": _cwds(repo, hostile),
            "strings": _strings(rng, hostile),
            "sessions": [f"fuzz-{n}" for n in range(4)],
        }
        out.append((agent, _mutate(rng, rng.choice(bases), pools)))
    assert FIXTURES.exists()
    return out


def test_two_thousand_hostile_payloads_never_hang_fail_or_drop(arena: dict[str, Any]) -> None:
    """In-process and as real processes: exit 0, no traceback, under 2 s each, nothing
    written outside .git/bitloops and the cache, every failure kept (quarantine/spool)."""
    repo: Path = arena["repo"]
    tmp: Path = arena["tmp"]
    rng = random.Random(15)
    skip = (repo / ".git" / "bitloops", tmp / "cache", arena["hostile"])
    before = _snapshot(tmp, Path(os.environ["HOME"]), skip=skip)
    slowest = 0.0
    failures = 0
    for agent, raw in _corpus(arena, rng, IN_PROCESS):
        kept = _kept(repo)
        err = io.StringIO()
        started = time.monotonic()
        where = run_agent_hook(agent, io.BytesIO(raw), repo, err)
        slowest = max(slowest, time.monotonic() - started)
        assert "Traceback" not in err.getvalue(), (agent, raw[:300])
        if where is not None:
            failures += 1
            assert _added(kept, _kept(repo)), (agent, raw[:300], err.getvalue())
    for agent, raw in _corpus(arena, rng, SUBPROCESS):
        kept = _kept(repo)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "bitloops", "hook", agent],
            cwd=repo, input=raw, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        slowest = max(slowest, time.monotonic() - started)
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr, (agent, raw[:300])
        if proc.stderr and b"hook failed" in proc.stderr:
            assert _added(kept, _kept(repo)), (agent, raw[:300], proc.stderr)
    after = _snapshot(tmp, Path(os.environ["HOME"]), skip=skip)
    changed = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
    assert changed == [], changed[:20]
    log = repo / ".git" / hooklog.LOG_RELATIVE_PATH
    assert not log.exists() or log.stat().st_size <= hooklog.MAX_LOG_BYTES
    # What the hooks keep aside is redacted: the log, the spools, the quarantine. (Ids
    # that route events, a session id or a tool call id, are kept as they came.)
    logs = [log, log.with_name("hooks.log.1")]
    spools = [Path(spool.spool_path(folder)) for folder in spool.places(repo / ".git")]
    kept_aside = b"".join(p.read_bytes() for p in logs + spools if p.exists())
    with bitloops.Repository.open(repo) as r:
        rows = r.store.execute("SELECT reason, payload FROM quarantine")
    kept_aside += json.dumps([list(row) for row in rows]).encode()
    assert SECRET.encode() not in kept_aside
    print(
        f"fuzz: {IN_PROCESS} in-process and {SUBPROCESS} subprocess payloads, "
        f"{failures} kept aside in process, slowest hook {slowest:.3f} s"
    )
    assert slowest < 2.0, slowest
    assert failures > 0  # the corpus does hold payloads that must be kept aside
