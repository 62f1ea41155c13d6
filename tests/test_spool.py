"""Agent hooks under a busy database: the spool, its drain, and the fast path's writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.agents import claude_code
from bitloops.capture import _direct as direct
from bitloops.capture import _runner as base
from bitloops.capture import _spool as spool
from bitloops.git._git import Git
from bitloops.settings import load_settings
from bitloops.store._migrations import SCHEMA_VERSION

SID = "s-spool"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips


def _hook(repo: Path, payload: dict[str, object]) -> subprocess.Popen[bytes]:
    """Start `python -m bitloops hook claude-code` with ``payload`` on stdin (sent, closed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitloops", "hook", "claude-code"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    proc.stdin = None  # sent: communicate() only reads
    return proc


def _finish(proc: subprocess.Popen[bytes]) -> None:
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, b"", b"")


def _run(repo: Path, payload: dict[str, object]) -> None:
    _finish(_hook(repo, payload))


def _prompt(repo: Path, text: str, sid: str = SID) -> dict[str, object]:
    return {
        "hook_event_name": "UserPromptSubmit",
        "session_id": sid,
        "prompt": text,
        "cwd": str(repo),
    }


def _prompts(repo: Path) -> list[str]:
    with bitloops.Repository.open(repo) as r:
        return [e.payload["text"] for e in r.draft().events if e.kind == "prompt"]


def _bounded(repo: Path, ms: int = 300) -> None:
    (repo / ".bitloops").mkdir(exist_ok=True)
    (repo / ".bitloops" / "settings.json").write_text(json.dumps({"hook_busy_timeout_ms": ms}))


@pytest.fixture
def started(git_repo: Path) -> Path:
    """A repository whose Claude Code session is open, with a short hook bound."""
    _bounded(git_repo)
    _run(git_repo, {"hook_event_name": "SessionStart", "session_id": SID, "cwd": str(git_repo)})
    return git_repo


def _hold_write_lock(repo: Path) -> apsw.Connection:
    conn = apsw.Connection(str(repo / ".git" / "bitloops" / "bitloops.db"))
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_busy_database_sends_the_event_to_the_spool(started: Path) -> None:
    """Lock held elsewhere: the hook exits 0 quietly, its event waits in the spool, redacted."""
    common = started / ".git"
    holder = _hold_write_lock(started)
    try:
        _run(started, _prompt(started, f"deploy with {AWS_KEY}"))
        assert spool.pending(common)
        data = Path(spool.spool_path(common)).read_bytes()
        assert AWS_KEY.encode() not in data and b"REDACTED" in data
        (entry,) = [json.loads(line) for line in data.splitlines()]
        assert entry["agent"] == "claude-code"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _prompts(started) == []


def test_the_next_hook_drains_the_spool_first(started: Path) -> None:
    """Spooled while busy, then released: the next hook records them before its own, in order."""
    holder = _hold_write_lock(started)
    try:
        for i in range(3):
            _run(started, _prompt(started, f"spooled {i}"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _prompts(started) == []
    _run(started, _prompt(started, "after"))
    assert _prompts(started) == ["spooled 0", "spooled 1", "spooled 2", "after"]
    assert not spool.pending(started / ".git")
    with bitloops.Repository.open(started) as r:
        seqs = [e.seq for e in r.draft().events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_concurrent_drainers_record_each_entry_once(started: Path) -> None:
    """Several hooks start together on a full spool: every entry is recorded exactly once."""
    common = started / ".git"
    with bitloops.Repository.open(started) as r:
        for i in range(12):
            entry = base.spool_entry("claude-code", started, _prompt(started, f"s{i}"), r.redactor)
            assert spool.append(common, entry, durable=False, wait=5)
    procs = [_hook(started, _prompt(started, f"own {n}")) for n in range(3)]
    for proc in procs:
        _finish(proc)
    texts = _prompts(started)
    spooled = [t for t in texts if t.startswith("s")]
    assert spooled == [f"s{i}" for i in range(12)]
    assert sorted(t for t in texts if t.startswith("own")) == ["own 0", "own 1", "own 2"]
    assert not spool.pending(common)


def test_the_full_path_spools_too(started: Path) -> None:
    """A SessionStart (never the fast path) under a held lock: spooled, then recorded."""
    holder = _hold_write_lock(started)
    try:
        _run(
            started, {"hook_event_name": "SessionStart", "session_id": "s-two", "cwd": str(started)}
        )
        _run(started, {**_prompt(started, "first words", sid="s-two")})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(Path(spool.spool_path(started / ".git")).read_bytes().splitlines()) == 2
    _run(started, _prompt(started, "later", sid="s-two"))
    with bitloops.Repository.open(started) as r:
        kinds = [
            (e.kind, e.payload.get("text")) for e in r.draft().events if e.session_id == "s-two"
        ]
    assert kinds == [("session_start", None), ("prompt", "first words"), ("prompt", "later")]


def test_a_torn_line_is_quarantined_and_the_rest_recorded(started: Path) -> None:
    """A line cut short by a crash spoils only itself: it is quarantined, the others recorded."""
    common = started / ".git"
    with bitloops.Repository.open(started) as r:
        first = base.spool_entry("claude-code", started, _prompt(started, "one"), r.redactor)
        second = base.spool_entry("claude-code", started, _prompt(started, "two"), r.redactor)
    path = Path(spool.spool_path(common))
    path.write_bytes(json.dumps(first).encode() + b"\n" + b'{"id": "torn", "pay')
    assert spool.append(common, second, durable=True, wait=5)
    with bitloops.Repository.open(started) as r:
        assert base.drain_spool(r)
        assert [e.payload["text"] for e in r.draft().events if e.kind == "prompt"] == ["one", "two"]
        ((_, _, agent, source, reason, payload),) = r.store.quarantined()
    assert (agent, source) == ("unknown", "spool") and "torn" in reason
    assert payload == '{"id": "torn", "pay'
    assert not path.exists()


def test_a_promotion_drains_the_spool(started: Path) -> None:
    """Events spooled before a commit belong to its checkpoint."""
    holder = _hold_write_lock(started)
    try:
        _run(started, _prompt(started, "late"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    commit_files(started, {"a.txt": "1"})
    with bitloops.Repository.open(started) as r:
        checkpoint = r.promote()
        assert checkpoint is not None
        assert [e.payload["text"] for e in checkpoint.events if e.kind == "prompt"] == ["late"]
    assert not spool.pending(started / ".git")


def test_a_payload_that_no_longer_validates_leaves_the_spool(started: Path) -> None:
    """A spooled entry the agent rejects is quarantined, so it cannot block the spool."""
    common = started / ".git"
    bad = {"hook_event_name": "UserPromptSubmit", "session_id": SID, "prompt": 5}
    with bitloops.Repository.open(started) as r:
        assert spool.append(
            common, base.spool_entry("claude-code", started, bad, r.redactor), durable=False, wait=5
        )
        assert base.drain_spool(r)
        ((_, _, agent, source, reason, _),) = r.store.quarantined()
    assert (agent, source) == ("claude-code", "spool") and "prompt string" in reason


# -- the fast path --------------------------------------------------------------------------


def _normal(line: str) -> dict[str, object]:
    event: dict[str, object] = json.loads(line)
    for key in ("event_id", "ts", "session_id", "seq"):
        event.pop(key)
    return event


def test_the_fast_path_writes_what_session_writes(started: Path) -> None:
    """The same tool call, fast path and full path: the stored lines are the same bytes."""
    other = "s-full"
    claude_code.handle(
        {"hook_event_name": "SessionStart", "session_id": other, "cwd": str(started)}
    )
    (started / "src").mkdir()
    (started / "src" / "app.py").write_text("x = 1\n")
    call = {
        "hook_event_name": "PostToolUse",
        "cwd": str(started),
        "tool_name": "Edit",
        "tool_use_id": "toolu_1",
        "tool_input": {"file_path": str(started / "src" / "app.py"), "old_string": "x",
                       "new_string": "y", "note": f"key {AWS_KEY}", "unicode": "héllo ✓"},
        "tool_response": {"ok": True, "n": 1.5},
        "duration_ms": 12,
    }  # fmt: skip
    located = direct.locate(str(started))
    assert located is not None
    assert claude_code._fast(located, {**call, "session_id": SID})
    claude_code.handle({**call, "session_id": other})
    with bitloops.Repository.open(started) as r:
        rows = r.store.execute(
            "SELECT session_id, line FROM live_events WHERE kind != 'session_start' ORDER BY id"
        )
    fast = [_normal(line) for sid, line in rows if sid == SID]
    full = [_normal(line) for sid, line in rows if sid == other]
    assert [e["kind"] for e in fast] == ["tool_use", "file_change"]
    assert fast == full
    raw = [line for _, line in rows]
    assert all(AWS_KEY not in line for line in raw)
    # Byte for byte: the lines differ only in the four normalised fields.
    by_session = {sid: line for sid, line in rows if json.loads(line)["kind"] == "tool_use"}
    a, b = by_session[SID], by_session[other]
    for key in ("event_id", "ts", "session_id"):
        a = a.replace(json.loads(a)[key], "X")
        b = b.replace(json.loads(b)[key], "X")
    assert a.replace(f'"seq":{json.loads(a)["seq"]}', "") == b.replace(
        f'"seq":{json.loads(b)["seq"]}', ""
    )


def test_the_fast_path_leaves_the_unusual_to_the_full_path(git_repo: Path) -> None:
    """No database, an unknown session or a new transcript path: the fast path declines."""
    located = direct.locate(str(git_repo))
    assert located is not None
    prompt = _prompt(git_repo, "hi", sid="s-new")
    assert not claude_code._fast(located, prompt)  # no database yet
    claude_code.handle(
        {"hook_event_name": "SessionStart", "session_id": "s-old", "cwd": str(git_repo)}
    )
    assert not claude_code._fast(located, prompt)  # a session never started
    moved = {**_prompt(git_repo, "hi", sid="s-old"), "transcript_path": "/elsewhere.jsonl"}
    assert not claude_code._fast(located, moved)  # the transcript state must change
    assert claude_code._fast(located, _prompt(git_repo, "hi", sid="s-old"))
    assert _prompts(git_repo) == ["hi"]


def test_the_schema_version_of_the_fast_path_is_current() -> None:
    """direct.py writes the tables of the schema version the store creates."""
    assert direct.SCHEMA_VERSION == SCHEMA_VERSION


def test_locate_agrees_with_git(git_repo: Path, tmp_path: Path) -> None:
    """Reading .git gives git's answer, or None where git must decide."""
    (git_repo / "sub" / "dir").mkdir(parents=True)
    for place in (git_repo, git_repo / "sub" / "dir"):
        paths = Git.locate(place)
        expected = (str(paths.toplevel), str(paths.git_dir), str(paths.common_dir))
        assert direct.locate(str(place)) == expected
    worktree = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", str(worktree))
    paths = Git.locate(worktree)
    expected = (str(paths.toplevel), str(paths.git_dir), str(paths.common_dir))
    assert direct.locate(str(worktree)) == expected
    assert direct.locate(str(tmp_path)) is None  # no work tree: git decides (and says so)


def test_locate_leaves_submodules_and_git_variables_to_git(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submodule, or GIT_DIR in the environment: None, so the full path asks git."""
    inner = tmp_path / "inner"
    inner.mkdir()
    git(inner, "init", "-q", "-b", "main")
    commit_files(inner, {"x.txt": "x"})
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "mod")
    assert direct.locate(str(git_repo / "mod")) is None
    monkeypatch.setenv("GIT_DIR", str(git_repo / ".git"))
    assert direct.locate(str(git_repo)) is None


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"settings.json": {"durability": "normal", "hook_busy_timeout_ms": "250"}},
        {"settings.json": {"redact": {"extra_patterns": ["ACME-[0-9]+"]}, "telemetry": 1},
         "settings.local.json": {"redact": ["x-[a-z]+"], "capture": "off"}},
        {"settings.json": {"strategy": "session", "max_payload_bytes": 4096}},
    ],
)  # fmt: skip
def test_read_settings_agrees_with_load_settings(git_repo: Path, files: dict[str, object]) -> None:
    """The fast path reads the settings the library reads."""
    (git_repo / ".bitloops").mkdir()
    for name, data in files.items():
        (git_repo / ".bitloops" / name).write_text(json.dumps(data))
    lean = direct.read_settings(str(git_repo))
    full = load_settings(git_repo)
    assert lean is not None
    for key in ("durability", "capture", "max_payload_bytes", "hook_busy_timeout_ms", "strategy"):
        assert lean[key] == getattr(full, key)
    assert lean["redact"] == full.redact_patterns


@pytest.mark.parametrize(
    "bad",
    [{"durability": "fast"}, {"max_payload_bytes": 0}, {"capture": "maybe"}, {"redact": ["("]}, []],
)
def test_read_settings_declines_what_load_settings_rejects(git_repo: Path, bad: object) -> None:
    """Invalid settings: None, so the full path raises and logs SettingsError."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps(bad))
    assert direct.read_settings(str(git_repo)) is None
    with pytest.raises(bitloops.SettingsError):
        load_settings(git_repo)


def test_read_settings_honours_the_environment(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BITLOOPS_* variables override the files, as for the library."""
    monkeypatch.setenv("BITLOOPS_DURABILITY", "normal")
    monkeypatch.setenv("BITLOOPS_HOOK_BUSY_TIMEOUT_MS", "50")
    lean = direct.read_settings(str(git_repo))
    assert lean is not None and (lean["durability"], lean["hook_busy_timeout_ms"]) == ("normal", 50)
    monkeypatch.setenv("BITLOOPS_CAPTURE", "perhaps")
    assert direct.read_settings(str(git_repo)) is None


def test_run_hook_in_process_spools_a_busy_write(started: Path) -> None:
    """The function the CLI calls, with the lock held: None returned, the event spooled."""
    holder = _hold_write_lock(started)
    err = io.StringIO()
    try:
        raw = json.dumps(_prompt(started, "in process")).encode()
        assert claude_code.run_hook(io.BytesIO(raw), started, err) is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert err.getvalue() == ""
    assert spool.pending(started / ".git")
    assert os.environ.get("BITLOOPS_BUSY_TIMEOUT_MS") is None


def test_a_spooled_transcript_path_is_kept_as_it_was(started: Path) -> None:
    """Routing fields are not redacted in the spool: a Codex-like rollout path looks like a
    high-entropy token, and a redacted one would lose the transcript."""
    path = str(started / "rollout-2026-06-01T10-00-00-0196a7c2-3f4e-7d81-9b2a-5c6d7e8f9a0b.jsonl")
    redactor = bitloops.Repository.open(started).redactor
    payload = {**_prompt(started, f"key {AWS_KEY}"), "transcript_path": path}
    entry = base.spool_entry("claude-code", started, payload, redactor)
    kept = json.loads(entry["payload"])
    assert kept["transcript_path"] == path and kept["cwd"] == str(started)
    assert AWS_KEY not in entry["payload"]


def test_a_hook_does_not_wait_forever_for_a_transcript_lock(started: Path) -> None:
    """Another process holding the session's transcript-state lock: the hook gives up
    within the bound, spools its payload, exits 0; the event arrives on the next write."""
    import fcntl

    from bitloops.capture import _transcript_state as ts

    common = started / ".git"
    lock = ts._file(common, SID).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    transcript = started / "t.jsonl"
    transcript.write_text("")
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        _run(
            started,
            {
                "hook_event_name": "Stop",
                "session_id": SID,
                "cwd": str(started),
                "transcript_path": str(transcript),
            },
        )
    _run(started, _prompt(started, "after the lock"))
    assert _prompts(started) == ["after the lock"]
