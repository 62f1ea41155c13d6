"""Claude Code's catch-ups (Stop, SubagentStop, SessionEnd) on the light path: the same
stored lines as the full path, one transaction per batch, the rest left to the full path,
spooled when busy, and a real hook process that never imports attrs (issue #12 item 2)."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import apsw
import light_path as lp
import pytest
from agent_fixtures import FIXTURES, fill, payloads, run_hook

import bitloops
from bitloops.agents import claude_code
from bitloops.capture import _spool as spool
from bitloops.capture import _transcript_state as ts
from bitloops.store import _live as live
from bitloops.testing import assert_silent, create_repository

SID = "cc-session-1"  # the fixtures' session
CATCH_UPS = ("Stop", "SubagentStop", "SessionEnd")


def _line(sid: str, n: int, **extra: Any) -> str:
    """One assistant line of ``sid``'s transcript: a thought (odd ``n``) or a reply."""
    block = (
        {"type": "thinking", "thinking": f"step {n}: check the retry path", "signature": "c2"}
        if n % 2
        else {"type": "text", "text": f"Done with step {n}."}
    )
    message = {"id": f"msg_{n // 2:04d}", "role": "assistant", "type": "message",
               "model": "claude-opus-4-5", "content": [block],
               "usage": {"input_tokens": n, "output_tokens": 1}}  # fmt: skip
    line = {"type": "assistant", "sessionId": sid, "message": message, "uuid": f"u-{n:06d}",
            "timestamp": "2026-06-01T10:00:00.000Z", "cwd": "/x", **extra}  # fmt: skip
    return json.dumps(line) + "\n"


def _grow(transcript: Path, sid: str, start: int, count: int) -> None:
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.writelines(_line(sid, n) for n in range(start, start + count))


def _base(repo: Path, transcript: Path, sid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"hook_event_name": name, "session_id": sid, "cwd": str(repo),
            "transcript_path": str(transcript), **extra}  # fmt: skip


def _light_else_full(repo: Path, payload: dict[str, Any]) -> bool:
    """What the hook command does: the light path, else the full one; True if light."""
    if claude_code._fast(lp.located(repo), payload):
        return True
    claude_code.handle(payload)
    return False


def _stored(repo: Path) -> list[str]:
    """Every live event line, the ids and times masked, in order (and the twin work
    trees' first commits, which differ when they are made in different seconds)."""
    return [
        re.sub(r'"base_commit":"[0-9a-f]+"', '"base_commit":"X"', lp.masked(line, seq=False))
        for _, line in lp.rows(repo, starts=True)
    ]


def _twins(tmp_path: Path) -> tuple[Path, Path]:
    """Two work trees alike, for the light path and the full path."""
    return create_repository(tmp_path / "light").path, create_repository(tmp_path / "full").path


def test_the_fixture_session_stores_what_the_full_path_stores(tmp_path: Path) -> None:
    """Every hook of the fixture session, with its transcript and a subagent's file: the
    catch-ups take the light path and the stored lines are the full path's, byte for byte."""
    light, full = _twins(tmp_path)
    took: list[str] = []
    for repo in (light, full):
        folder = tmp_path / f"t-{repo.name}"
        folder.mkdir()
        transcript = folder / "transcript.jsonl"
        text = (FIXTURES / "claude_code" / "transcript.jsonl").read_text(encoding="utf-8")
        lines = fill(text, repo, transcript).splitlines(keepends=True)
        transcript.write_text("", encoding="utf-8")
        sub = folder / "transcript" / "subagents" / "agent-a7.jsonl"
        sub.parent.mkdir(parents=True)
        sub.write_text(_line(SID, 1, isSidechain=True) + _line(SID, 2, isSidechain=True))
        hooks = payloads("claude_code", repo, transcript)
        for i, payload in enumerate(hooks):
            # The file grows as the session goes; it is complete by the session's end.
            grown = lines[i : i + 1] if i < len(hooks) - 1 else lines[i:]
            with open(transcript, "a", encoding="utf-8") as fh:
                fh.writelines(grown)
            name = payload["hook_event_name"]
            if repo is full:
                claude_code.handle(payload)
            elif name in CATCH_UPS:
                assert claude_code._fast(lp.located(repo), payload), name
                took.append(name)
            else:
                _light_else_full(repo, payload)
    assert took == ["SubagentStop", "Stop", "SessionEnd"]
    stored = _stored(light)
    assert stored == _stored(full)
    kinds = [json.loads(line)["kind"] for line in stored]
    assert kinds.count("reasoning") >= 2 and kinds.count("response") >= 2
    assert kinds[-1] == "session_end"
    assert sum('"agent_id":"a7"' in line for line in stored) == 4  # its 2 lines, 2 usages
    with bitloops.Repository.open(light) as r:
        assert r.session(SID).ended
    common = light / ".git"
    assert ts.load(common, SID).offset == (tmp_path / "t-light" / "transcript.jsonl").stat().st_size


def _start(repo: Path, transcript: Path, sid: str) -> None:
    transcript.write_text("", encoding="utf-8")
    claude_code.handle(_base(repo, transcript, sid, "SessionStart", source="startup"))


def test_catch_ups_and_the_final_text_store_what_the_full_path_stores(tmp_path: Path) -> None:
    """Growing transcripts, Stops with and without the turn's final text (one the
    transcript brought, one it did not), then the end: the same lines either way."""
    light, full = _twins(tmp_path)
    for repo in (light, full):
        transcript = tmp_path / f"{repo.name}.jsonl"
        _start(repo, transcript, "s-1")
        turns = [(0, 40, None), (40, 41, "Done with step 40."), (81, 1, "not in the file")]
        for start, count, final in turns:
            _grow(transcript, "s-1", start, count)
            stop = _base(repo, transcript, "s-1", "Stop", last_assistant_message=final)
            if repo is light:
                assert claude_code._fast(lp.located(repo), stop)
            else:
                claude_code.handle(stop)
        end = _base(repo, transcript, "s-1", "SessionEnd", reason="clear")
        if repo is light:
            assert claude_code._fast(lp.located(repo), end)
        else:
            claude_code.handle(end)
    stored = _stored(light)
    assert stored == _stored(full)
    texts = [json.loads(line)["payload"].get("text") for line in stored]
    assert texts.count("Done with step 40.") == 1  # from the transcript, not again the hook's
    assert texts.count("not in the file") == 1
    assert json.loads(stored[-1])["payload"] == {"reason": "clear"}


def _commits_in_wal(repo: Path) -> int:
    """The commit frames in the database's write-ahead log (a real count of transactions)."""
    wal = repo / ".git" / "bitloops" / "bitloops.db-wal"
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < 32:
        return 0
    page = struct.unpack(">I", data[8:12])[0]
    salt = data[16:24]
    commits, at = 0, 32
    while at + 24 + page <= len(data):
        frame = data[at : at + 24]
        if frame[8:16] != salt:  # frames of an earlier log, left behind after a restart
            break
        commits += struct.unpack(">I", frame[4:8])[0] != 0
        at += 24 + page
    return commits


def test_a_catch_up_of_500_lines_is_one_transaction(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 new lines: one commit (one sync), not one per event; then the log is emptied."""
    from bitloops.store import _live as live

    monkeypatch.setattr(live, "LOG_LIMIT_BYTES", 1 << 40)  # keep the log to count its commits
    transcript = tmp_path / "t.jsonl"
    _start(git_repo, transcript, "s-1")
    _grow(transcript, "s-1", 0, 500)
    with bitloops.Repository.open(git_repo) as r:
        r.store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _commits_in_wal(git_repo) == 0
    assert claude_code._fast(lp.located(git_repo), _base(git_repo, transcript, "s-1", "Stop"))
    assert _commits_in_wal(git_repo) == 1
    assert len(lp.rows(git_repo, starts=False)) == 500 + 250  # and each message's usage
    monkeypatch.setattr(live, "LOG_LIMIT_BYTES", 1)
    _grow(transcript, "s-1", 500, 510)
    assert claude_code._fast(lp.located(git_repo), _base(git_repo, transcript, "s-1", "Stop"))
    assert _commits_in_wal(git_repo) == 0  # checkpointed and truncated after the catch-up


def test_what_only_the_full_path_does_is_left_to_it(git_repo: Path, tmp_path: Path) -> None:
    """No database, an unknown or ended session, an earlier session's lines, capture off,
    a spooled payload: the light path writes nothing and says so; the full path does it."""
    transcript = tmp_path / "t.jsonl"
    located = lp.located(git_repo)
    stop = _base(git_repo, transcript, "s-1", "Stop")
    transcript.write_text(_line("s-1", 0), encoding="utf-8")
    assert not claude_code._fast(located, stop)  # no database yet
    _start(git_repo, tmp_path / "other.jsonl", "s-0")
    stored = lp.rows(git_repo, starts=True)
    assert not claude_code._fast(located, stop)  # no such session: the full path starts it
    assert lp.rows(git_repo, starts=True) == stored
    _start(git_repo, transcript, "s-1")
    _grow(transcript, "s-1", 0, 3)
    # An earlier session's line in the file (a resumed session): rolled back, given way.
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_line("s-earlier", 3))
    assert not claude_code._fast(located, stop)
    assert lp.kinds(git_repo) == []
    assert ts.load(git_repo / ".git", "s-1").offset == 0  # the batch is read again
    claude_code.handle(stop)
    assert "reasoning" in lp.kinds(git_repo)
    claude_code.handle(_base(git_repo, transcript, "s-1", "SessionEnd"))
    stored = lp.rows(git_repo, starts=True)
    assert not claude_code._fast(located, stop)  # ended: a Stop resumes it, the full path's
    other = tmp_path / "t2.jsonl"
    _start(git_repo, other, "s-2")
    _grow(other, "s-2", 0, 2)
    stored = lp.rows(git_repo, starts=True)
    (git_repo / ".bitloops").mkdir(exist_ok=True)
    (git_repo / ".bitloops" / "settings.json").write_text('{"capture": false}')
    assert not claude_code._fast(located, _base(git_repo, other, "s-2", "Stop"))
    (git_repo / ".bitloops" / "settings.json").write_text("{}")
    entry = {"id": "x", "received_at": "2026-06-01T10:00:00Z", "agent": "claude-code",
             "cwd": str(git_repo), "payload": json.dumps(stop)}  # fmt: skip
    assert spool.append(git_repo / ".git", entry, durable=False, wait=1.0)
    assert not claude_code._fast(located, _base(git_repo, other, "s-2", "Stop"))
    assert lp.rows(git_repo, starts=True) == stored
    assert ts.load(git_repo / ".git", "s-2").offset == 0


def test_the_session_strategy_ends_on_the_full_path(git_repo: Path, tmp_path: Path) -> None:
    """Ending a session promotes it under the session strategy: the full path does that,
    after the light path recorded what the transcript held."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"strategy": "session"}')
    transcript = tmp_path / "t.jsonl"
    _start(git_repo, transcript, "s-1")
    _grow(transcript, "s-1", 0, 4)
    end = _base(git_repo, transcript, "s-1", "SessionEnd", reason="exit")
    assert not claude_code._fast(lp.located(git_repo), end)
    claude_code.handle(end)
    with bitloops.Repository.open(git_repo) as r:
        (checkpoint,) = r.checkpoints()
        kinds = [e.kind for e in checkpoint.events]
    assert kinds.count("reasoning") == 2 and kinds[-1] == "session_end"


def test_a_busy_database_spools_the_stop(git_repo: Path, tmp_path: Path) -> None:
    """The write lock held elsewhere: the Stop hook process spools its payload and writes
    nothing; the next hook replays it, and the transcript is read then, once."""
    lp.bounded(git_repo)
    transcript = tmp_path / "t.jsonl"
    _start(git_repo, transcript, "s-1")
    _grow(transcript, "s-1", 0, 6)
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        stop = _base(git_repo, transcript, "s-1", "Stop")
        assert_silent(run_hook("claude-code", json.dumps(stop).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert lp.kinds(git_repo) == []
    prompt = _base(git_repo, transcript, "s-1", "UserPromptSubmit", prompt="next")
    assert_silent(run_hook("claude-code", json.dumps(prompt).encode(), git_repo))
    assert not spool.pending(git_repo / ".git")
    kinds = lp.kinds(git_repo)
    assert sorted(kinds[:-1]) == ["note"] * 3 + ["reasoning"] * 3 + ["response"] * 3
    assert kinds[-1] == "prompt"


def test_a_real_stop_hook_process_takes_the_light_path(
    git_repo: Path, tmp_path: Path, no_attrs: dict[str, str]
) -> None:
    """With attrs unimportable, a Stop with 200 new lines and a SessionEnd still record."""
    transcript = tmp_path / "t.jsonl"
    _start(git_repo, transcript, "s-1")
    _grow(transcript, "s-1", 0, 200)
    for name in ("Stop", "SessionEnd"):
        payload = _base(git_repo, transcript, "s-1", name, last_assistant_message="Bye.")
        assert_silent(run_hook("claude-code", json.dumps(payload).encode(), git_repo, no_attrs))
    kinds = lp.kinds(git_repo)
    assert len(kinds) == 200 + 100 + 2 and kinds[-2:] == ["response", "session_end"]
    start = _base(git_repo, transcript, "s-other", "Stop")
    proc = run_hook("claude-code", json.dumps(start).encode(), git_repo, no_attrs)
    assert b"failed" in proc.stderr  # the check is real: the full path cannot run


def test_the_light_event_kinds_are_the_models() -> None:
    """live.EVENT_KINDS (no object model) is bitloops.EVENT_KINDS."""
    assert live.EVENT_KINDS == bitloops.EVENT_KINDS


def test_a_transcript_state_takes_string_paths(tmp_path: Path) -> None:
    """load, save and locked take the common dir as a string (the light path's) or a Path."""
    state = ts.TranscriptState(session_id="s", agent="claude-code", offset=3)
    with ts.locked(str(tmp_path), "s"):
        ts.save(str(tmp_path), state)
    assert ts.load(tmp_path, "s") == state == ts.load(str(tmp_path), "s")
    assert ts._file(tmp_path, "s").exists()
    shutil.rmtree(tmp_path / "bitloops")
    assert ts.load(str(tmp_path), "s") == ts.TranscriptState(session_id="s")


def test_codex_stops_store_what_the_full_path_stores(tmp_path: Path) -> None:
    """Codex's Stop reads the rollout on the light path too: the fixture session, with
    the rollout growing as the hooks arrive, stores the full path's lines."""
    from bitloops.agents import codex

    light, full = _twins(tmp_path)
    took = 0
    for repo in (light, full):
        rollout = tmp_path / f"rollout-{repo.name}.jsonl"
        text = (FIXTURES / "codex" / "rollout.jsonl").read_text(encoding="utf-8")
        lines = fill(text, repo, rollout).splitlines(keepends=True)
        rollout.write_text("", encoding="utf-8")
        hooks = payloads("codex", repo, rollout)
        for i, payload in enumerate(hooks):
            grown = lines[i : i + 1] if i < len(hooks) - 1 else lines[i:]
            with open(rollout, "a", encoding="utf-8") as fh:
                fh.writelines(grown)
            if repo is full:
                codex.handle(payload)
            elif payload["hook_event_name"] == "Stop":
                assert codex._fast(lp.located(repo), payload)
                took += 1
            elif not codex._fast(lp.located(repo), payload):
                codex.handle(payload)
    assert took >= 1
    stored = _stored(light)
    assert stored == _stored(full)
    kinds = [json.loads(line)["kind"] for line in stored]
    assert "response" in kinds and "tool_use" in kinds
