"""Hostile hook payloads (issue #15, items 4, 5, 6, 9, 11): never hang, never drop.

Each test shows one way a payload, a transcript or a broken repository used to hang a
hook, drop its event or leak a value into hooks.log, and that now it ends recorded,
spooled or quarantined, with the log redacted and bounded.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import apsw
import pytest
from conftest import git

import bitloops
from bitloops.agents._registry import AGENTS, run_agent_hook
from bitloops.capture import _hooklog as hooklog
from bitloops.capture import _runner as base
from bitloops.capture import _safe_read as safe_read
from bitloops.capture import _spool as spool
from bitloops.capture import _transcript_state as ts
from bitloops.store import _live as live

SID = "s-hostile"
# Split so that no scanner trips on the test itself.
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _hook(repo: Path, payload: object, name: str = "claude-code") -> tuple[str | None, str]:
    """Run one hook in-process; (where the failure went, what went to stderr)."""
    err = io.StringIO()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    where = run_agent_hook(name, io.BytesIO(raw), repo, err)
    assert "Traceback" not in err.getvalue()
    return where, err.getvalue()


def _subprocess_hook(
    repo: Path, payload: dict[str, object], timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`python -m bitloops hook claude-code` with ``payload``; fails the test if it hangs."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "claude-code"],
        cwd=repo,
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _prompt(repo: Path, text: str, sid: str = SID) -> dict[str, object]:
    return {
        "hook_event_name": "UserPromptSubmit",
        "session_id": sid,
        "prompt": text,
        "cwd": str(repo),
    }


def _stop(repo: Path, transcript: str, text: str = "done", sid: str = SID) -> dict[str, object]:
    return {
        "hook_event_name": "Stop",
        "session_id": sid,
        "cwd": str(repo),
        "transcript_path": transcript,
        "last_assistant_message": text,
    }


def _counts(repo: Path) -> tuple[int, int]:
    """(live events, quarantined payloads)."""
    with bitloops.Repository.open(repo) as r:
        ((events, quarantined),) = r.store.execute(
            "SELECT (SELECT count(*) FROM live_events), (SELECT count(*) FROM quarantine)"
        )
    return events, quarantined


def _texts(repo: Path, kind: str = "prompt") -> list[str]:
    with bitloops.Repository.open(repo) as r:
        return [e.payload["text"] for e in r.draft().events if e.kind == kind]


def _log(repo: Path) -> str:
    path = repo / ".git" / hooklog.LOG_RELATIVE_PATH
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _on_disk(root: Path) -> bytes:
    """Every byte of every file under ``root`` (for a secret search)."""
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            out.append(path.read_bytes())
    return b"\n".join(out)


@pytest.fixture
def started(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with an open Claude Code session and its own cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert (
        _hook(
            git_repo, {"hook_event_name": "SessionStart", "session_id": SID, "cwd": str(git_repo)}
        )[0]
        is None
    )
    return git_repo


# -- item 4: hooks.log is redacted and bounded ------------------------------------------------


def test_a_token_in_an_overlong_cwd_reaches_no_file(started: Path) -> None:
    """A cwd too long for the file system, holding a token: the prompt is recorded in the
    hook's own directory, and the token is nowhere on disk (hooks.log quoted it)."""
    cwd = "/" + "d" * 300 + f"/{AWS_KEY}/" + "e" * 300
    where, _ = _hook(started, {**_prompt(started, "hello"), "cwd": cwd})
    assert where is None
    assert _texts(started) == ["hello"]
    assert AWS_KEY.encode() not in _on_disk(started / ".git" / "bitloops")


def test_hooks_log_entries_are_redacted_and_cut(tmp_path: Path) -> None:
    """An entry quoting a token and a 5 MB value is written redacted, a few KiB long."""
    text = f"failed on {GH_TOKEN}\n" + "v" * 5_000_000 + "\nValueError: last line"
    hooklog.write(tmp_path, text)
    logged = (tmp_path / hooklog.LOG_RELATIVE_PATH).read_text()
    assert GH_TOKEN not in logged and "REDACTED" in logged
    assert len(logged) <= hooklog.MAX_ENTRY_CHARS + 200
    assert "ValueError: last line" in logged  # the end of a traceback says what raised


def test_hooks_log_is_rotated_past_its_bound(tmp_path: Path) -> None:
    """However many entries, hooks.log and hooks.log.1 together stay near two MiB."""
    for i in range(400):
        hooklog.write(tmp_path, f"entry {i} " + ("x" * 1000 + "\n") * 7)
    log = tmp_path / hooklog.LOG_RELATIVE_PATH
    old = log.with_name("hooks.log.1")
    assert log.stat().st_size <= hooklog.MAX_LOG_BYTES
    assert old.exists() and old.stat().st_size <= hooklog.MAX_LOG_BYTES
    assert "entry 399 " in log.read_text()


def test_a_git_hook_traceback_is_redacted(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git hook failing on a value holding a token logs the traceback without it."""
    from bitloops import _commit_flow as flow

    def boom(paths: object) -> None:
        raise RuntimeError(f"cannot use {AWS_KEY}")

    monkeypatch.setattr(flow, "_post_commit", boom)
    where = flow.run_hook("post-commit", [], git_repo, io.StringIO(), io.StringIO())
    assert where is not None and where.endswith("hooks.log")
    logged = _log(git_repo)
    assert "RuntimeError" in logged and AWS_KEY not in logged


# -- item 5: transcripts that are no regular files, or too big ---------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_transcript_that_is_no_regular_file_does_not_hang_the_hook(
    started: Path, tmp_path: Path, kind: str
) -> None:
    """A FIFO (whose open blocks) or /dev/zero (endless): the Stop hook ends, records the
    turn's final text, and says once in hooks.log why the transcript was not read."""
    if kind == "fifo":
        transcript = str(tmp_path / "transcript.fifo")
        os.mkfifo(transcript)
    else:
        transcript = "/dev/zero"
    proc = _subprocess_hook(started, _stop(started, transcript, "final words"), timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert _texts(started, "response") == ["final words"]
    assert "not a regular file" in _log(started)
    proc = _subprocess_hook(started, _stop(started, transcript, "again"), timeout=60)
    assert proc.returncode == 0
    assert _log(started).count("not a regular file") == 1  # said once, not on every hook


def test_a_commit_does_not_read_a_device_transcript(started: Path) -> None:
    """Once a session's transcript is /dev/zero, a git commit still ends (the post-commit
    catch-up used to read it without bound, on every commit)."""
    _hook(started, _stop(started, "/dev/zero"))
    _hook(started, _prompt(started, "some work"))
    subprocess.run(
        [sys.executable, "-m", "bitloops", "enable"],
        cwd=started,
        check=True,
        capture_output=True,
        timeout=60,
    )
    (started / "a.txt").write_text("a\n")
    git(started, "add", "a.txt")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "work"],
        cwd=started,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    with bitloops.Repository.open(started) as r:
        assert len(r.store.checkpoint_ids()) == 1


def test_a_huge_sparse_transcript_is_read_in_bounded_parts(
    started: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse file with a line far over the bound: each hook reads a bounded part and
    saves where it stopped (never from the start again); the over-long line is passed
    over, said once, and the line after it is recorded."""
    monkeypatch.setattr(safe_read, "MAX_LINE_BYTES", 1 << 20)
    monkeypatch.setattr(base, "MAX_READ_BYTES", 4 << 20)
    transcript = tmp_path / "sparse.jsonl"
    with open(transcript, "wb") as fh:
        fh.truncate(20 << 20)  # 20 MiB of NUL bytes, no newline
    offsets = []
    common = started / ".git"
    for _ in range(3):
        _hook(started, _stop(started, str(transcript), "turn"))
        offsets.append(ts.load(common, SID).offset)
    assert 0 < offsets[0] < offsets[1] < offsets[2] < 20 << 20
    assert ts.load(common, SID).skipping
    line = {
        "type": "assistant",
        "uuid": "u-after",
        "sessionId": SID,
        "message": {
            "id": "m-1",
            "role": "assistant",
            "content": [{"type": "text", "text": "after the hole"}],
        },
    }
    with open(transcript, "ab") as fh:
        fh.write(b"\n" + json.dumps(line).encode() + b"\n")
    for _ in range(6):
        _hook(started, _stop(started, str(transcript), "turn"))
    state = ts.load(common, SID)
    assert not state.skipping and state.offset == transcript.stat().st_size
    assert "after the hole" in _texts(started, "response")
    assert _log(started).count("is skipped") == 1


def test_safe_read_refuses_what_is_no_regular_file(tmp_path: Path) -> None:
    """open_regular: a FIFO, a directory and a device raise UnreadableFile (an OSError)."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, Path("/dev/null")):
        with pytest.raises(safe_read.UnreadableFile):
            safe_read.open_regular(path)
        with pytest.raises(OSError):
            safe_read.read_file(path, 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(safe_read.UnreadableFile):
        safe_read.read_file(big, 100)
    assert safe_read.read_file(big, 101) == b"x" * 101


# -- item 6: payloads that raised instead of being kept ---------------------------------------


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_a_lone_surrogate_session_id_is_quarantined(started: Path, name: str) -> None:
    """A session id holding a lone surrogate (valid JSON, \\ud800) ends in the quarantine."""
    sid = "s-\ud800"
    payload = {
        "hook_event_name": "UserPromptSubmit", "session_id": sid, "sessionId": sid,
        "conversation_id": sid, "prompt": "hi", "cwd": str(started),
        "type": "message.updated", "sessionID": sid,
    }  # fmt: skip
    before = _counts(started)
    where, err = _hook(started, payload, name)
    after = _counts(started)
    assert after[1] == before[1] + 1 or after[0] > before[0]  # quarantined (or recorded)
    assert where is None or "quarantine" in err


def test_an_unreadable_transcript_leaves_the_turn_recorded(started: Path) -> None:
    """A transcript giving EIO on read (/proc/self/mem) or a name too long: the Stop hook
    records its final text, and notes the transcript problem."""
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc")
    assert _hook(started, _stop(started, "/proc/self/mem", "first"))[0] is None
    assert _hook(started, _stop(started, "/tmp/" + "n" * 5000, "second"))[0] is None
    assert _texts(started, "response") == ["first", "second"]
    assert "Input/output error" in _log(started) and "File name too long" in _log(started)


def test_an_unexpected_failure_quarantines_the_payload(
    started: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug anywhere in handling (here: a reader raising) keeps the payload in the
    quarantine, not only in hooks.log."""
    from bitloops.agents import claude_code

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("no such thing")

    monkeypatch.setattr(claude_code, "_dispatch", broken)
    before = _counts(started)[1]
    where, err = _hook(started, _prompt(started, f"uses {AWS_KEY}", sid="s-unknown"))
    assert where is not None and "quarantine" in err
    assert _counts(started)[1] == before + 1
    assert AWS_KEY.encode() not in _on_disk(started / ".git" / "bitloops")


# -- item 9: the bound is the whole wait -------------------------------------------------------


def test_a_hook_deadline_cuts_every_busy_wait_short(tmp_path: Path) -> None:
    """With the hook's deadline passed, a connection configured for a 10-minute busy
    timeout gives up at once (each wait used to get the whole bound again)."""
    script = f"""
import time, apsw
from bitloops.store import _live as live
db = {str(tmp_path / "x.db")!r}
holder = apsw.Connection(db)
holder.execute("PRAGMA journal_mode=WAL")
holder.execute("BEGIN IMMEDIATE")
live.hook_deadline(time.monotonic() + 0.2)
conn = apsw.Connection(db)
live.configure(conn, durability="full", busy_timeout_ms=600_000)
try:
    conn.execute("BEGIN IMMEDIATE")
except apsw.BusyError:
    print("busy")
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.stdout.strip() == "busy", proc.stderr


@pytest.mark.slow
def test_a_busy_full_path_hook_waits_its_bound_once(started: Path) -> None:
    """The database locked, an entry already spooled: a new session's hook (the full path,
    which replays the spool first) ends within one bound of 4 s, not two."""
    (started / ".bitloops").mkdir(exist_ok=True)
    (started / ".bitloops" / "settings.json").write_text(json.dumps({"hook_busy_timeout_ms": 4000}))
    holder = apsw.Connection(str(started / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        with bitloops.Repository.open(started) as r:
            entry = base.spool_entry("claude-code", started, _prompt(started, "queued"), r.redactor)
        assert spool.append(started / ".git", entry, durable=False, wait=5)
        # Twice the bound is 8 s; one bound and a process start fit well within 7. (The
        # context injection after a SessionStart used to wait busy_timeout_ms on top.)
        proc = _subprocess_hook(
            started,
            {"hook_event_name": "SessionStart", "session_id": "s-new", "cwd": str(started)},
            timeout=7,
        )
        assert proc.returncode == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _hook(started, _prompt(started, "later"))
    assert _texts(started) == ["queued", "later"]


# -- item 11: the database cannot be opened ----------------------------------------------------


def test_broken_settings_spool_the_event_redacted_with_the_last_good_ones(started: Path) -> None:
    """A trailing comma in settings.local.json: the prompt is spooled, redacted with the
    personal pattern of the last settings that parsed, then recorded once it is fixed;
    status says events wait."""
    local = started / ".bitloops" / "settings.local.json"
    local.parent.mkdir(exist_ok=True)
    local.write_text(json.dumps({"redact": ["hunter[0-9]+"]}))
    assert _hook(started, _prompt(started, "first"))[0] is None
    # The edit that breaks the file adds a pattern: it applies as well (read leniently).
    local.write_text('{"redact": ["hunter[0-9]+", "swordfish[0-9]+"],}')
    where, err = _hook(started, _prompt(started, "my password is hunter42 or swordfish7"))
    assert where is not None and "spooled" in err
    spooled = Path(spool.spool_path(started / ".git")).read_text()
    assert "hunter42" not in spooled and "swordfish7" not in spooled
    assert "REDACTED" in spooled
    local.write_text(json.dumps({"redact": ["hunter[0-9]+"]}))
    status = subprocess.run(
        [sys.executable, "-m", "bitloops", "status"],
        cwd=started,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "1 hook event(s) wait" in status.stdout
    assert _hook(started, _prompt(started, "third"))[0] is None
    texts = _texts(started)
    assert texts[0] == "first" and texts[2] == "third"
    assert "hunter42" not in texts[1] and "swordfish7" not in texts[1]
    assert not spool.pending(started / ".git")


def test_a_damaged_database_spools_the_event(started: Path, tmp_path: Path) -> None:
    """A database that is no SQLite file: the event is spooled; once the file is restored,
    the next hook records it, after the spooled one."""
    db = started / ".git" / "bitloops" / "bitloops.db"
    with apsw.Connection(str(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    good = tmp_path / "good.db"
    shutil.copyfile(db, good)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database " * 100)
    where, err = _hook(started, _prompt(started, "kept"))
    assert where is not None and "spooled" in err
    assert spool.pending(started / ".git")
    shutil.copyfile(good, db)
    assert _hook(started, _prompt(started, "after"))[0] is None
    assert _texts(started) == ["kept", "after"]


def test_an_unwritable_git_directory_spools_to_the_cache(started: Path, tmp_path: Path) -> None:
    """.git/bitloops unusable (here a file stands in its place, which fails as a read-only
    folder does, even for root): the event goes to the user's cache folder; doctor says
    so; once the folder is back, the next hook records it and the cache is emptied."""
    folder = started / ".git" / "bitloops"
    aside = tmp_path / "bitloops-aside"
    shutil.move(str(folder), aside)
    folder.write_text("not a folder")
    try:
        where, err = _hook(started, _prompt(started, "cached"))
        assert where is not None and "spooled" in err
        cached = Path(spool.spool_path(spool.fallback_dir(started / ".git")))
        assert cached.is_relative_to(tmp_path / "cache") and cached.read_text().count("\n") == 1
    finally:
        folder.unlink()
        shutil.move(str(aside), folder)
    with bitloops.Repository.open(started) as r:
        from bitloops.doctor import diagnose

        checks = {f.check for f in diagnose(r).findings}
    assert "hook_spool_elsewhere" in checks
    assert _hook(started, _prompt(started, "back"))[0] is None
    assert _texts(started) == ["cached", "back"]
    assert not spool.pending(started / ".git")


def test_the_last_good_settings_hold_no_store_url(started: Path) -> None:
    """The copy of the last good settings keeps what redaction needs, never a store URL."""
    (started / ".bitloops").mkdir(exist_ok=True)
    (started / ".bitloops" / "settings.local.json").write_text(
        json.dumps(
            {"committed_store": "postgresql://u:s3cret@db.example/x", "redact": ["zzz[0-9]"]}
        )
    )
    _hook(
        started, {"hook_event_name": "SessionStart", "session_id": "s-other", "cwd": str(started)}
    )
    kept = (started / ".git" / spool.LAST_SETTINGS_RELATIVE_PATH).read_text()
    assert "s3cret" not in kept and "zzz[0-9]" in kept


def test_no_deadline_stays_behind_after_a_hook(started: Path) -> None:
    """After an in-process hook, no deadline stays behind for the host process."""
    _hook(started, _prompt(started, "x"))
    assert live.seconds_left(5.0) == 5.0


def test_log_entries_use_the_work_trees_own_redaction_rules(git_repo: Path) -> None:
    """A pattern the repository's settings add redacts hooks.log and distill.log entries
    written by the git hooks and the distiller, even before any agent hook ran."""
    from bitloops.capture import _hooklog as hooklog

    (git_repo / ".bitloops").mkdir(exist_ok=True)
    (git_repo / ".bitloops" / "settings.json").write_text(
        json.dumps({"redact": {"extra_patterns": ["MYCORP-[0-9]+"]}})
    )
    common = git_repo / ".git"
    for log in (hooklog.LOG_RELATIVE_PATH, "bitloops/distill.log"):
        hooklog.write(common, "token MYCORP-123456", log_path=log, toplevel=git_repo)
        text = (common / log).read_text()
        assert "MYCORP-123456" not in text and "token" in text
