"""bitloops.capture._importing: whole agent transcripts imported as sessions, once."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import payloads, write_transcript
from conftest import commit_files
from secrets_corpus import SECRETS

import bitloops
from bitloops.agents import claude_code
from bitloops.agents._registry import AGENTS, importable_agents
from bitloops.capture._importing import ImportResult, KeySet, import_transcript
from bitloops.testing import ClaudeCodeTranscript

# agent name -> (fixture folder, transcript fixture, the session id in it)
FIXTURES = {
    "claude-code": ("claude_code", "transcript.jsonl", "cc-session-1"),
    "codex": ("codex", "rollout.jsonl", "0199a5c3-1f2e-7c10-9b8a-3d4e5f6a7b8c"),
    "gemini": ("gemini", "session.jsonl", "gm-session-1"),
}


def _transcript(agent: str, git_repo: Path, tmp_path: Path) -> Path:
    folder, name, _ = FIXTURES[agent]
    return write_transcript(folder, name, git_repo, tmp_path / f"{folder}-{name}")


def _snapshot(repo: bitloops.Repository) -> tuple[Any, ...]:
    """Everything an import could change: sessions, live and committed events, states."""
    rows = repo.store.execute("SELECT session_id, seq, ts, line FROM live_events ORDER BY id")
    sessions = repo.store.execute("SELECT * FROM sessions ORDER BY session_id")
    committed = repo.store.execute("SELECT count(*) FROM checkpoint_events")
    states = sorted(
        (p.name, p.read_bytes())
        for p in (repo.paths.common_dir / "bitloops" / "transcripts").glob("*.json")
    )
    return rows, sessions, committed, states


def _events(repo: bitloops.Repository, session_id: str) -> list[bitloops.Event]:
    return [e for e in repo.draft().events if e.session_id == session_id]


@pytest.mark.parametrize("agent", sorted(FIXTURES))
def test_import_records_the_whole_transcript(
    agent: str, repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Each agent's fixture becomes one ended session with its prompt, replies and times."""
    path = _transcript(agent, git_repo, tmp_path)
    result = import_transcript(repo, agent, path)
    sid = FIXTURES[agent][2]
    events = _events(repo, sid)
    assert result == ImportResult(
        agent=agent, session_id=sid, path=str(path), events_added=len(events), new=True
    )
    kinds = Counter(e.kind for e in events)
    assert kinds["prompt"] == 1 and kinds["session_start"] == 1 and kinds["session_end"] == 1
    assert kinds["reasoning"] >= 2 and kinds["response"] >= 1 and kinds["tool_use"] >= 1
    assert kinds["file_change"] >= 1
    prompt = next(e for e in events if e.kind == "prompt")
    assert prompt.payload["text"].startswith("Add a greet() function in src/greet.py")
    # The file's own times, not the time of the import.
    assert all(e.ts.year == 2026 and e.ts.month == 6 for e in events)
    assert prompt.ts == datetime.fromisoformat(prompt.payload["transcript_ts"]).astimezone(UTC)
    (info,) = [s for s in repo.draft().sessions if s.session_id == sid]
    assert info.status == "ended" and info.agent == agent
    assert info.started_at == min(e.ts for e in events)


@pytest.mark.parametrize("agent", sorted(FIXTURES))
def test_importing_twice_adds_nothing(
    agent: str, repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """The second import of the same file records nothing and says so."""
    path = _transcript(agent, git_repo, tmp_path)
    first = import_transcript(repo, agent, path)
    before = _snapshot(repo)
    again = import_transcript(repo, agent, path)
    assert first.events_added > 0
    assert (again.events_added, again.new) == (0, False)
    assert _snapshot(repo) == before


@pytest.mark.parametrize("agent", sorted(FIXTURES))
def test_import_after_promotion_adds_nothing(
    agent: str, repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Once promoted into a checkpoint, importing the file again still adds nothing."""
    path = _transcript(agent, git_repo, tmp_path)
    added = import_transcript(repo, agent, path).events_added
    commit_files(git_repo, {"src/greet.py": "def greet(name):\n    return name\n"})
    checkpoint = repo.promote()
    assert checkpoint is not None and len(checkpoint.events) == added
    assert checkpoint.sessions[0].status == "ended"
    assert import_transcript(repo, agent, path).events_added == 0
    assert repo.store.draft_count(repo.worktree) == 0


def test_import_completes_a_session_the_hooks_captured_in_part(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """Enabled mid-session: the import adds the early prompt and tool call, nothing twice."""
    path = _transcript("claude-code", git_repo, tmp_path)
    # The hooks start after the first tool call (bitloops enabled then), until the end.
    hooks = payloads("claude_code", git_repo, path)
    first_live = next(i for i, p in enumerate(hooks) if p.get("tool_use_id") == "toolu_02")
    for payload in hooks[first_live:]:
        claude_code.handle(payload)
    live = Counter(e.kind for e in _events(repo, "cc-session-1"))
    assert live["prompt"] == 0
    result = import_transcript(repo, "claude-code", path)
    assert not result.new and result.events_added > 0
    events = _events(repo, "cc-session-1")
    assert [e.kind for e in events].count("prompt") == 1
    tool_ids = Counter(e.payload.get("tool_use_id") for e in events if e.kind == "tool_use")
    assert tool_ids["toolu_01"] == 1 and tool_ids["toolu_03"] == 1
    assert all(n == 1 for n in tool_ids.values())
    texts = [e.payload["text"] for e in events if e.kind in ("reasoning", "response")]
    assert len(texts) == len(set(texts))
    assert import_transcript(repo, "claude-code", path).events_added == 0


def test_import_of_a_grown_file_adds_only_the_new_part(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """The session went on without bitloops: importing again adds just the new turn."""
    path = _transcript("claude-code", git_repo, tmp_path)
    import_transcript(repo, "claude-code", path)
    line = {
        "type": "user",
        "uuid": "u-0100",
        "parentUuid": "a-0005",
        "sessionId": "cc-session-1",
        "timestamp": "2026-06-01T11:00:00.000Z",
        "message": {"role": "user", "content": "Now add a farewell() too"},
    }
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    result = import_transcript(repo, "claude-code", path)
    prompts = [e.payload["text"] for e in _events(repo, "cc-session-1") if e.kind == "prompt"]
    assert prompts[-1] == "Now add a farewell() too" and len(prompts) == 2
    assert result.events_added == 3  # session_start (reopened), the prompt, session_end
    (info,) = [s for s in repo.draft().sessions if s.session_id == "cc-session-1"]
    assert info.status == "ended"


def test_imported_text_is_redacted(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """A secret in a transcript is redacted before it is stored."""
    secret = SECRETS[0]
    transcript = ClaudeCodeTranscript("s-secret", cwd=git_repo)
    path = transcript.user(f"use this: {secret.text}").write(tmp_path / "secret.jsonl")
    import_transcript(repo, "claude-code", path)
    stored = "\n".join(r[0] for r in repo.store.execute("SELECT line FROM live_events"))
    assert "use this:" in stored and secret.secret not in stored


def test_every_registered_agent_with_a_reader_is_importable() -> None:
    """The three integrations with transcript readers are found through the registry."""
    assert {"claude-code", "codex", "gemini"} <= set(importable_agents())
    assert set(importable_agents()) <= set(AGENTS)


# -- errors: each leaves the database as it was -------------------------------------------


def test_unknown_agent(repo: bitloops.Repository, git_repo: Path, tmp_path: Path) -> None:
    """An agent name no integration has is an UnknownAgent listing the known ones."""
    path = _transcript("claude-code", git_repo, tmp_path)
    before = _snapshot(repo)
    with pytest.raises(bitloops.UnknownAgent, match="claude-code"):
        import_transcript(repo, "vim", path)
    assert _snapshot(repo) == before


def test_agent_without_a_transcript_reader(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered integration without catch_up/transcript_session_id is AgentNotSupported."""
    monkeypatch.setitem(AGENTS, "hooks-only", "_mcp_config")  # a real module with neither function
    path = _transcript("claude-code", git_repo, tmp_path)
    before = _snapshot(repo)
    with pytest.raises(bitloops.AgentNotSupported, match="cannot import hooks-only"):
        import_transcript(repo, "hooks-only", path)
    assert "hooks-only" not in importable_agents()
    assert _snapshot(repo) == before


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_missing_file(repo: bitloops.Repository, tmp_path: Path, what: str) -> None:
    """A path that is not a readable file is a TranscriptError; nothing is stored."""
    path = tmp_path / "nope.jsonl"
    if what == "directory":
        path.mkdir()
    before = _snapshot(repo)
    with pytest.raises(bitloops.TranscriptError, match=r"nope\.jsonl"):
        import_transcript(repo, "claude-code", path)
    assert _snapshot(repo) == before


@pytest.mark.parametrize("what", ["fifo", "device"])
def test_a_fifo_or_device_is_refused_at_once(
    repo: bitloops.Repository, tmp_path: Path, what: str
) -> None:
    """A FIFO (whose open would wait for a writer) or /dev/zero (which never ends) is a
    TranscriptError before anything is read; nothing is stored."""
    if what == "fifo":
        path = tmp_path / "session.jsonl"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    before = _snapshot(repo)
    with pytest.raises(bitloops.TranscriptError, match="not a regular file"):
        import_transcript(repo, "claude-code", path)
    assert _snapshot(repo) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(repo: bitloops.Repository, git_repo: Path, tmp_path: Path) -> None:
    """A file without read permission is a TranscriptError that names the problem."""
    path = _transcript("claude-code", git_repo, tmp_path)
    path.chmod(0)
    before = _snapshot(repo)
    with pytest.raises(bitloops.TranscriptError, match="permission"):
        import_transcript(repo, "claude-code", path)
    assert _snapshot(repo) == before


@pytest.mark.parametrize(
    ("agent", "wrong"),
    [("codex", "claude-code"), ("claude-code", "gemini"), ("gemini", "codex")],
)
def test_file_of_another_agent(
    repo: bitloops.Repository, git_repo: Path, tmp_path: Path, agent: str, wrong: str
) -> None:
    """Another agent's file is refused as not this agent's transcript; nothing is stored."""
    path = _transcript(wrong, git_repo, tmp_path)
    before = _snapshot(repo)
    with pytest.raises(bitloops.TranscriptError, match=f"is not a {agent} transcript"):
        import_transcript(repo, agent, path)
    assert _snapshot(repo) == before


def test_file_without_events(repo: bitloops.Repository, tmp_path: Path) -> None:
    """A transcript with a session id but nothing to record is refused; nothing is stored."""
    path = tmp_path / "empty.jsonl"
    lines = [
        {"type": "summary", "summary": "nothing", "leafUuid": "x"},
        {"type": "system", "uuid": "s-1", "sessionId": "cc-empty", "content": "hi"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = _snapshot(repo)
    with pytest.raises(bitloops.TranscriptError, match="nothing bitloops can import"):
        import_transcript(repo, "claude-code", path)
    assert _snapshot(repo) == before
    with pytest.raises(bitloops.SessionNotFound):
        repo.session("cc-empty")


def test_empty_file(repo: bitloops.Repository, tmp_path: Path) -> None:
    """An empty file names no session: a TranscriptError."""
    path = tmp_path / "zero.jsonl"
    path.write_bytes(b"")
    with pytest.raises(bitloops.TranscriptError, match="is not a gemini transcript"):
        import_transcript(repo, "gemini", path)


# -- the command line ---------------------------------------------------------------------


def _bitloops(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_import(git_repo: Path, tmp_path: Path) -> None:
    """`bitloops import` reports what it added; a second run adds nothing; --json."""
    path = _transcript("codex", git_repo, tmp_path)
    first = _bitloops(git_repo, "import", "codex", str(path))
    assert first.returncode == 0, first.stderr
    assert "imported from" in first.stdout and "new session" in first.stdout
    again = _bitloops(git_repo, "import", "codex", str(path), "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data == {
        "agent": "codex",
        "session_id": FIXTURES["codex"][2],
        "path": str(path),
        "events_added": 0,
        "new": False,
        "unmapped": [],
        "other_sessions": [],
    }


def test_cli_import_errors(git_repo: Path, tmp_path: Path) -> None:
    """Errors exit 2 with one line saying what went wrong."""
    path = _transcript("gemini", git_repo, tmp_path)
    wrong = _bitloops(git_repo, "import", "claude-code", str(path))
    assert wrong.returncode == 2
    assert (
        wrong.stderr.startswith("bitloops: ") and "is not a claude-code transcript" in wrong.stderr
    )
    unknown = _bitloops(git_repo, "import", "vim", str(path))
    assert unknown.returncode == 2 and "no agent integration is called 'vim'" in unknown.stderr
    bare = _bitloops(git_repo, "import")
    assert bare.returncode == 2 and "bitloops import NAME PATH" in bare.stderr
    relative = _bitloops(git_repo, "import", "gemini", os.path.relpath(path, git_repo))
    assert relative.returncode == 0, relative.stderr


@pytest.mark.parametrize("agent", sorted(FIXTURES))
def test_import_after_full_live_capture_adds_nothing(
    agent: str, repo: bitloops.Repository, git_repo: Path, tmp_path: Path
) -> None:
    """A session the hooks captured whole: importing its transcript records nothing."""
    path = _transcript(agent, git_repo, tmp_path)
    module = importlib.import_module(f"bitloops.agents.{AGENTS[agent]}")
    for payload in payloads(FIXTURES[agent][0], git_repo, path):
        module.handle(payload)
    before = _snapshot(repo)
    result = import_transcript(repo, agent, path)
    assert (result.events_added, result.new) == (0, False)
    assert _snapshot(repo) == before


def test_key_set_is_exact_past_its_window() -> None:
    """KeySet answers as a set does, also for keys its generations moved to the scratch
    file (a Bloom filter before it may say "maybe", never "no" for a key it holds)."""
    import random

    rng = random.Random(7)
    keys = [f"{rng.getrandbits(64):016x}-{i}" for i in range(3000)]
    held, ref = KeySet(keys[:5], window=50), set(keys[:5])
    for step in range(6000):
        key = rng.choice(keys[: 1 + step // 2])
        assert (key in held) == (key in ref), step
        if rng.random() < 0.7:
            held.add(key)
            ref.add(key)
    assert all(k in held for k in ref) and 12 not in held


def test_import_records_each_line_once_however_far_apart_its_copies(
    repo: bitloops.Repository,
    git_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lines copied again much later in the file (same uuid, same message id) are not
    recorded twice, though the reader's keys were moved out of memory long before."""
    monkeypatch.setattr(KeySet, "WINDOW", 3)
    transcript = ClaudeCodeTranscript("s-far", cwd=git_repo)
    for turn in range(30):
        transcript.user(f"question {turn}").thinking(f"think {turn}").say(f"answer {turn}")
    path = transcript.write(tmp_path / "far.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    copies = [line for line in lines[:12] if b'"assistant"' in line]
    assert copies
    path.write_bytes(b"".join(lines + copies))
    result = import_transcript(repo, "claude-code", path)
    kinds = Counter(e.kind for e in _events(repo, "s-far"))
    assert kinds["reasoning"] == 30 and kinds["response"] == 30 and kinds["prompt"] == 30
    notes = [e for e in _events(repo, "s-far") if e.kind == "note"]
    assert len(notes) == 60 == len({e.payload["message_id"] for e in notes})  # usage, once each
    assert result.events_added == sum(kinds.values())


def test_only_bitloops_own_readers_get_lazy_payloads() -> None:
    """An import hands a registered outside agent's reader plain dict payloads; only
    bitloops' own readers, which never read them back, get the lazily parsed ones."""
    from types import SimpleNamespace

    from bitloops.agents._registry import import_reader
    from bitloops.capture._importing import _builtin

    def import_pass(*args: object) -> None:
        """An outside agent's reader."""

    assert all(_builtin(import_reader(name)) for name in ("claude-code", "codex", "gemini"))
    assert not _builtin(SimpleNamespace(import_pass=import_pass, catch_up=None))
