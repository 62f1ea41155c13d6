"""Claude Code's catch-ups (Stop, SubagentStop, SessionEnd) on the light path: the same
stored lines as the full path, one transaction per batch, the rest left to the full path,
spooled when busy, and a real hook process that never imports attrs (issue #12 item 2)."""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Iterator
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


def _deliver(module: Any, repo: Path, light: Path, payload: dict[str, Any]) -> None:
    """``payload`` to the agent ``module``: through the light path for the ``light`` twin
    (which must take it), through the full path for the other."""
    if repo is light:
        assert module._fast(lp.located(repo), payload)
    else:
        module.handle(payload)


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
            _deliver(claude_code, repo, light, stop)
        end = _base(repo, transcript, "s-1", "SessionEnd", reason="clear")
        _deliver(claude_code, repo, light, end)
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


# -- Gemini CLI, Cursor and Copilot CLI: their transcript reads on the light path too ------

#: agent -> the hook events that read its transcript (and take the light catch-up)
AGENT_CATCH_UPS = {
    "gemini": ("AfterAgent", "SessionEnd"),
    "cursor": ("stop", "sessionEnd"),
    "copilot": ("agentStop", "sessionEnd"),
}
_FIXTURE_FILES = {
    "gemini": "session.jsonl",
    "cursor": "transcript.jsonl",
    "copilot": "events.jsonl",
}


def _agent(name: str) -> Any:
    from importlib import import_module

    return import_module(f"bitloops.agents.{name}")


def _fixture_hooks(agent: str, repo: Path, transcript: Path) -> list[dict[str, Any]]:
    """The agent's fixture hook payloads; Copilot's camelCase ones given the event name
    their hook entry's environment gives them."""
    found = payloads(agent, repo, transcript)
    if agent != "copilot":
        return found
    return [
        line["payload"]
        if "hook_event_name" in line["payload"]
        else {"hookEventName": line["hook"], **line["payload"]}
        for line in found
    ]


def _lines_alike(repo: Path) -> list[str]:
    """:func:`_stored`, with the fingerprint of the transcript line an event came from
    masked too: a line naming a file holds the twin's own work tree."""
    return [re.sub(r'"transcript_line":"sha256:[0-9a-f]+"', '"transcript_line":"X"', line)
            for line in _stored(repo)]  # fmt: skip


def _name(payload: dict[str, Any]) -> str:
    return str(payload.get("hook_event_name") or payload.get("hookEventName"))


def _growing_session(
    agent: str, repo: Path, tmp_path: Path, file_name: str | None
) -> Iterator[dict[str, Any]]:
    """The hooks of the agent's fixture session (its transcript ``file_name``, None for
    none) for ``repo``, each handed over once the transcript grew by its line (the last
    hook's: the rest), as the agent writes while its hooks arrive."""
    transcript = tmp_path / f"t-{repo.name}" / (file_name or "none.jsonl")
    transcript.parent.mkdir()
    text = "" if file_name is None else (FIXTURES / agent / file_name).read_text(encoding="utf-8")
    lines = fill(text, repo, transcript).splitlines(keepends=True)
    transcript.write_text("", encoding="utf-8")
    hooks = _fixture_hooks(agent, repo, transcript)
    for i, payload in enumerate(hooks):
        grown = lines[i : i + 1] if i < len(hooks) - 1 else lines[i:]
        with open(transcript, "a", encoding="utf-8") as fh:
            fh.writelines(grown)
        yield payload


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_fixture_session_stores_what_the_full_path_stores(
    agent: str, tmp_path: Path
) -> None:
    """Every hook of the agent's fixture session, its transcript growing as the hooks
    arrive: the transcript reads take the light path and the stored lines are the full
    path's, byte for byte."""
    module = _agent(agent)
    light, full = _twins(tmp_path)
    took: list[str] = []
    for repo in (light, full):
        hooks = []
        for payload in _growing_session(agent, repo, tmp_path, _FIXTURE_FILES[agent]):
            hooks.append(payload)
            name = _name(payload)
            if repo is full:
                module.handle(payload)
            elif name in AGENT_CATCH_UPS[agent]:
                assert module._fast(lp.located(repo), payload), name
                took.append(name)
            elif not module._fast(lp.located(repo), payload):
                module.handle(payload)
    assert took == [n for n in map(_name, hooks) if n in AGENT_CATCH_UPS[agent]]
    assert took[-1].lower() == "sessionend"
    stored = _lines_alike(light)
    assert stored == _lines_alike(full)
    kinds = [json.loads(line)["kind"] for line in stored]
    assert "response" in kinds and "reasoning" in kinds and kinds[-1] == "session_end"
    first = hooks[0]
    sid = str(first.get("conversation_id") or first.get("session_id") or first["sessionId"])
    with bitloops.Repository.open(light) as r:
        assert r.session(sid).ended


def _grown_lines(agent: str, repo: Path, sid: str, count: int) -> list[str]:
    """``count`` transcript lines of the model thinking and replying, in the agent's format
    (after a head the session starts with: its metadata, the prompt)."""
    from bitloops.testing import CopilotEvents, CursorTranscript, GeminiSession

    if agent == "gemini":
        gemini = GeminiSession(sid, cwd=repo).user("make it retry")
        for n in range(count):
            gemini.reply(f"Done with step {n}.", thoughts=[f"step {n}: check the retry path"])
        return gemini.text().splitlines(keepends=True)[2:]
    if agent == "cursor":
        cursor = CursorTranscript(sid, cwd=repo)
        for n in range(count):
            cursor.thinking(f"step {n}: check") if n % 2 else cursor.say(f"Done with step {n}.")
        return cursor.text().splitlines(keepends=True)
    copilot = CopilotEvents(sid, cwd=repo)
    for n in range(count):
        copilot.reasoning(f"step {n}: check") if n % 2 else copilot.say(f"Done with step {n}.")
    return copilot.text().splitlines(keepends=True)[1:]  # after session.start


def _hook_payload(agent: str, repo: Path, path: Path, sid: str, what: str, **extra: Any) -> Any:
    """The agent's payload of ``what``: start, prompt, stop (its transcript read) or end."""
    if agent == "gemini":
        names = {"start": "SessionStart", "prompt": "BeforeAgent", "stop": "AfterAgent",
                 "end": "SessionEnd"}  # fmt: skip
        return {"hook_event_name": names[what], "session_id": sid, "cwd": str(repo),
                "transcript_path": str(path), **extra}  # fmt: skip
    if agent == "cursor":
        names = {"start": "sessionStart", "prompt": "beforeSubmitPrompt", "stop": "stop",
                 "end": "sessionEnd"}  # fmt: skip
        return {"hook_event_name": names[what], "conversation_id": sid,
                "model": "claude-4.5-sonnet", "workspace_roots": [str(repo)],
                "transcript_path": str(path), **extra}  # fmt: skip
    names = {"start": "sessionStart", "prompt": "userPromptSubmitted", "stop": "agentStop",
             "end": "sessionEnd"}  # fmt: skip
    return {"hookEventName": names[what], "sessionId": sid, "cwd": str(repo),
            "transcriptPath": str(path), **extra}  # fmt: skip


def _started(agent: str, repo: Path, path: Path, sid: str) -> None:
    """The session started by its hook (the full path), with an empty transcript."""
    path.write_text("", encoding="utf-8")
    _agent(agent).handle(_hook_payload(agent, repo, path, sid, "start"))


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_catch_ups_and_end_store_what_the_full_path_stores(
    agent: str, tmp_path: Path
) -> None:
    """Growing transcripts read at each turn's end, then the session's end: the same lines
    either way, each catch-up on the light path."""
    module = _agent(agent)
    light, full = _twins(tmp_path)
    for repo in (light, full):
        path = tmp_path / f"{repo.name}.jsonl"
        _started(agent, repo, path, "s-1")
        lines = _grown_lines(agent, repo, "s-1", 90)
        for start, stop in ((0, 40), (40, 81), (81, 90)):
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(lines[start:stop])
            payload = _hook_payload(agent, repo, path, "s-1", "stop")
            _deliver(module, repo, light, payload)
        end = _hook_payload(agent, repo, path, "s-1", "end", reason="exit")
        _deliver(module, repo, light, end)
    stored = _stored(light)
    assert stored == _stored(full)
    kinds = [json.loads(line)["kind"] for line in stored]
    assert kinds.count("reasoning") >= 45 and kinds.count("response") >= 45
    assert json.loads(stored[-1])["payload"] == {"reason": "exit"}


def test_a_cursor_transcript_no_hook_captured_records_its_tool_calls_alike(
    tmp_path: Path,
) -> None:
    """A Cursor session whose prompts and tool calls no hook records: its stop reads them
    from the transcript, with the file a Write made, on the light path as on the full."""
    from bitloops.agents import cursor

    light, full = _twins(tmp_path)
    for repo in (light, full):
        path = tmp_path / f"{repo.name}.jsonl"
        text = (FIXTURES / "cursor" / "transcript.jsonl").read_text(encoding="utf-8")
        _started("cursor", repo, path, "s-1")
        path.write_text(fill(text, repo, path), encoding="utf-8")
        stop = _hook_payload("cursor", repo, path, "s-1", "stop", status="completed")
        _deliver(cursor, repo, light, stop)
    stored = _lines_alike(light)
    assert stored == _lines_alike(full)
    kinds = [json.loads(line)["kind"] for line in stored]
    assert {"prompt", "tool_use", "file_change", "response"} <= set(kinds)


def test_an_older_gemini_session_file_is_read_whole_alike(tmp_path: Path) -> None:
    """The one-object ``.json`` session file of older Gemini CLI versions, on the light
    path as on the full."""
    from bitloops.agents import gemini
    from bitloops.testing import GeminiSession

    light, full = _twins(tmp_path)
    for repo in (light, full):
        path = tmp_path / f"{repo.name}.json"
        _started("gemini", repo, path, "s-1")
        session = GeminiSession("s-1", cwd=repo).user("hi")
        session.reply("Hello.", thoughts=["greet back"]).reply("Anything else?")
        session.write(path)
        stop = _hook_payload("gemini", repo, path, "s-1", "stop", prompt_response="Bye.")
        _deliver(gemini, repo, light, stop)
    stored = _stored(light)
    assert stored == _stored(full)
    texts = [json.loads(line)["payload"].get("text") for line in stored]
    assert {"Hello.", "greet back", "Anything else?", "Bye."} <= set(texts)


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_what_only_the_full_path_does_is_left_to_it_for_each_agent(
    agent: str, git_repo: Path, tmp_path: Path
) -> None:
    """An unknown session (started by the full path), a stop of an ended one (resumed),
    a session start, a spooled payload: the light path writes nothing and says so."""
    module = _agent(agent)
    located = lp.located(git_repo)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(_grown_lines(agent, git_repo, "s-1", 4)), encoding="utf-8")
    _started(agent, git_repo, tmp_path / "other.jsonl", "s-0")
    stored = lp.rows(git_repo, starts=True)
    for what in ("stop", "end", "start"):
        payload = _hook_payload(agent, git_repo, path, "s-1", what)
        assert not module._fast(located, payload), what  # no such session yet
    assert lp.rows(git_repo, starts=True) == stored
    module.handle(_hook_payload(agent, git_repo, path, "s-1", "stop"))
    assert "reasoning" in lp.kinds(git_repo)
    module.handle(_hook_payload(agent, git_repo, path, "s-1", "end"))
    stored = lp.rows(git_repo, starts=True)
    assert not module._fast(located, _hook_payload(agent, git_repo, path, "s-1", "stop"))
    assert lp.rows(git_repo, starts=True) == stored
    other = tmp_path / "t2.jsonl"
    _started(agent, git_repo, other, "s-2")
    with open(other, "a", encoding="utf-8") as fh:
        fh.writelines(_grown_lines(agent, git_repo, "s-2", 2))
    entry = {"id": "x", "received_at": "2026-06-01T10:00:00Z", "agent": agent,
             "cwd": str(git_repo), "payload": json.dumps({"x": 1})}  # fmt: skip
    assert spool.append(git_repo / ".git", entry, durable=False, wait=1.0)
    stored = lp.rows(git_repo, starts=True)
    assert not module._fast(located, _hook_payload(agent, git_repo, other, "s-2", "stop"))
    assert lp.rows(git_repo, starts=True) == stored


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_session_strategy_ends_on_the_full_path(
    agent: str, git_repo: Path, tmp_path: Path
) -> None:
    """Under the session strategy an end promotes: the light path gives way once it has
    read the transcript, and the full path ends and promotes it."""
    module = _agent(agent)
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"strategy": "session"}')
    path = tmp_path / "t.jsonl"
    _started(agent, git_repo, path, "s-1")
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(_grown_lines(agent, git_repo, "s-1", 4))
    end = _hook_payload(agent, git_repo, path, "s-1", "end", reason="exit")
    assert not module._fast(lp.located(git_repo), end)
    module.handle(end)
    with bitloops.Repository.open(git_repo) as r:
        (checkpoint,) = r.checkpoints()
        kinds = [e.kind for e in checkpoint.events]
    assert kinds.count("reasoning") == _thoughts(agent, 4) and kinds[-1] == "session_end"


def _thoughts(agent: str, lines: int) -> int:
    """The reasoning events (and the responses) of :func:`_grown_lines`' first ``lines``:
    each of Gemini CLI's is a message with both, the others' lines alternate."""
    return lines if agent == "gemini" else lines // 2


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_busy_database_spools_the_stop(
    agent: str, git_repo: Path, tmp_path: Path
) -> None:
    """The write lock held elsewhere: the stop hook process spools its payload and writes
    nothing; the next hook replays it, and the transcript is read then, once."""
    lp.bounded(git_repo)
    path = tmp_path / "t.jsonl"
    _started(agent, git_repo, path, "s-1")
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(_grown_lines(agent, git_repo, "s-1", 6))
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        stop = _hook_payload(agent, git_repo, path, "s-1", "stop")
        assert_silent(run_hook(agent, json.dumps(stop).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert lp.kinds(git_repo) == []
    prompt = _hook_payload(agent, git_repo, path, "s-1", "prompt", prompt="next")
    assert_silent(run_hook(agent, json.dumps(prompt).encode(), git_repo))
    assert not spool.pending(git_repo / ".git")
    kinds = lp.kinds(git_repo)
    assert kinds[-1] == "prompt"
    assert kinds.count("reasoning") == kinds.count("response") == _thoughts(agent, 6)


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_real_stop_hook_process_takes_the_light_path(
    agent: str, git_repo: Path, tmp_path: Path, no_attrs: dict[str, str]
) -> None:
    """With attrs unimportable, a stop with 200 new lines and the session's end still
    record; a stop of an unknown session (the full path's) fails under the same block."""
    path = tmp_path / "t.jsonl"
    _started(agent, git_repo, path, "s-1")
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(_grown_lines(agent, git_repo, "s-1", 200))
    for what in ("stop", "end"):
        payload = _hook_payload(agent, git_repo, path, "s-1", what)
        assert_silent(run_hook(agent, json.dumps(payload).encode(), git_repo, no_attrs))
    kinds = lp.kinds(git_repo)
    assert kinds.count("reasoning") >= 100 and kinds.count("response") >= 100
    assert kinds[-1] == "session_end"
    unknown = _hook_payload(agent, git_repo, path, "s-other", "stop")
    proc = run_hook(agent, json.dumps(unknown).encode(), git_repo, no_attrs)
    assert b"failed" in proc.stderr  # the check is real: the full path cannot run


@pytest.mark.parametrize("agent", sorted(AGENT_CATCH_UPS))
def test_each_agents_invalid_stop_is_still_quarantined(
    agent: str, git_repo: Path, tmp_path: Path
) -> None:
    """A transcript-reading hook's payload with a field of the wrong type: the light path
    declines, the full path quarantines it and records nothing."""
    path = tmp_path / "t.jsonl"
    _started(agent, git_repo, path, "s-1")
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(_grown_lines(agent, git_repo, "s-1", 2))
    bad = _hook_payload(agent, git_repo, path, "s-1", "stop")
    bad["session_id" if agent == "gemini" else next(k for k in bad if "ranscript" in k)] = 5
    assert not _agent(agent)._fast(lp.located(git_repo), bad)
    proc = run_hook(agent, json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        ((_, _, who, source, _, _),) = r.store.quarantined()
    assert (who, source) == (agent, "hook")
    assert lp.kinds(git_repo) == []


# -- every capture event of every agent: the light path (#12 item 2) -----------------------

#: agent -> its fixture transcript (None: OpenCode's plugin sends everything)
_EVERY_AGENT = {
    "claude_code": "transcript.jsonl",
    "codex": "rollout.jsonl",
    "gemini": "session.jsonl",
    "cursor": "transcript.jsonl",
    "copilot": "events.jsonl",
    "opencode": None,
}


def _event_name(agent: str, payload: dict[str, Any]) -> str:
    if agent != "opencode":
        return _name(payload)
    event = payload["event"]
    part = event["properties"].get("part") or {}
    return ":".join(str(x) for x in (event["type"], part.get("type"), part.get("tool")) if x)


@pytest.mark.parametrize("agent", sorted(_EVERY_AGENT))
def test_every_capture_event_of_a_fixture_session_takes_the_light_path(
    agent: str, tmp_path: Path
) -> None:
    """Each agent's fixture session, its transcript growing as the hooks arrive: every hook
    but the session's start takes the light path (OpenCode: also a child session's first
    message, which names its model with a usage to record), and the stored lines are the
    full path's, byte for byte."""
    module = _agent(agent)
    light, full = _twins(tmp_path)
    heavy: list[str] = []
    for repo in (light, full):
        for payload in _growing_session(agent, repo, tmp_path, _EVERY_AGENT[agent]):
            if repo is full:
                module.handle(payload)
            elif not module._fast(lp.located(repo), payload):
                heavy.append(_event_name(agent, payload))
                module.handle(payload)
    starts = {"session.created"} if agent == "opencode" else {"SessionStart", "sessionStart"}
    expected = ["session.created", "session.created", "message.updated"]
    assert heavy == (expected if agent == "opencode" else [n for n in heavy if n in starts])
    assert len(heavy) == (3 if agent == "opencode" else 1)
    assert _lines_alike(light) == _lines_alike(full)
