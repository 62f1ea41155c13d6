"""Gemini CLI capture: hook payloads through `handle`/`run_hook`, and the session file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import assert_logged, group_by_kind, payloads, with_field, write_transcript

import bitloops
from bitloops.agents import gemini
from bitloops.testing import commit_all

SID = "gm-session-1"
MODEL = "gemini-2.5-pro"


def _payloads(repo: Path, transcript: Path) -> list[dict[str, Any]]:
    return payloads("gemini", repo, transcript)


def _write_session(repo: Path, dest: Path) -> Path:
    return write_transcript("gemini", "session.jsonl", repo, dest)


def _gemini_line(mid: str, text: str, thought: str | None = None) -> str:
    line: dict[str, Any] = {"id": mid, "type": "gemini", "content": text, "model": MODEL}
    if thought is not None:
        line["thoughts"] = [{"subject": "S", "description": thought}]
    return json.dumps(line) + "\n"


def test_full_session_becomes_a_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Every fixture payload through handle(), the session file, a commit: all in the checkpoint."""
    transcript = _write_session(git_repo, tmp_path / "session-2026-06-01-gmsessio.jsonl")
    for payload in _payloads(git_repo, transcript):
        if payload["hook_event_name"] == "AfterTool" and payload["tool_name"] == "replace":
            (git_repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
        if payload["hook_event_name"] == "AfterTool" and payload["tool_name"] == "write_file":
            (git_repo / "src").mkdir()
            (git_repo / "src" / "greet.py").write_text(
                payload["tool_input"]["content"], encoding="utf-8"
            )
        gemini.handle(payload)
    with bitloops.Repository.open(git_repo) as repo:
        assert gemini.catch_up(repo, SID, transcript) == 0  # all read at AfterAgent already
    checkpoint = commit_all(git_repo, "greet", promote=True)
    events = list(checkpoint.events)
    by_kind = group_by_kind(events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [
        "Add a greet() function in src/greet.py"
    ]
    tools = {
        e.payload["name"]: e.payload for e in by_kind["tool_use"] if "is_error" not in e.payload
    }
    assert sorted(tools) == ["codebase_investigator", "replace", "run_shell_command", "write_file"]
    assert tools["run_shell_command"]["output"]["llmContent"] == "imported ok\n"
    (failed,) = [e.payload for e in by_kind["tool_use"] if e.payload.get("is_error")]
    assert failed["input"] == {"command": "pytest -q"}
    # Gemini CLI's subagents are tools: no subagent event of their own
    assert tools["codebase_investigator"]["input"]["objective"] == "Find other greeting helpers"
    written = tools["write_file"]["input"]["file_path"]  # relative once stored (issue 11 item 6)
    assert written in ("src/greet.py", str(git_repo / "src" / "greet.py"))
    changes = {(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]}
    assert changes == {("src/greet.py", "added"), ("README.md", "modified")}
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "A module with one function is enough.",
        "The file was written; I can summarise.",
    ]
    assert by_kind["reasoning"][0].payload["subject"] == "Planning"
    # The final text came from both the session file and AfterAgent: recorded once.
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "I will create src/greet.py.",
        "I added greet() in src/greet.py.",
    ]
    assert by_kind["response"][0].payload["message_id"] == "g-1"
    usage = [e.payload for e in by_kind["note"] if "usage" in e.payload]
    assert [u["message_id"] for u in usage] == ["g-1", "g-2"]
    assert usage[1]["usage"]["cached"] == 1000
    notes = [e.payload for e in by_kind["note"] if e.payload.get("hook_event_name")]
    assert [n["hook_event_name"] for n in notes] == ["Notification"]
    assert by_kind["compaction"][0].payload == {"phase": "pre", "trigger": "manual"}
    assert events[-1].kind == "session_end"
    assert events[-1].payload == {"reason": "exit"}
    assert events[-1].model == MODEL
    assert [s.agent for s in checkpoint.sessions] == ["gemini"]
    assert checkpoint.sessions[0].session_id == SID
    assert checkpoint.sessions[0].status == "ended"
    assert bitloops.ModelIdentity(agent="gemini", model=MODEL) in checkpoint.models


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-session-id": json.dumps({"hook_event_name": "BeforeAgent", "prompt": "x"}).encode(),
    "wrong-types": json.dumps(
        {"hook_event_name": "BeforeAgent", "session_id": "s-1", "prompt": 5}
    ).encode(),
    "session-id-not-text": json.dumps({"hook_event_name": "AfterAgent", "session_id": 7}).encode(),
    "tool-name-missing": json.dumps(
        {"hook_event_name": "AfterTool", "session_id": "s-1", "tool_input": {}}
    ).encode(),
    "invalid-utf8": b'{"hook_event_name": "AfterAgent", "session_id": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_nothing_and_records_nothing(git_repo: Path, name: str) -> None:
    """A bad payload through run_hook raises nothing, records nothing and is logged."""
    raw = with_field(BAD_INPUTS[name], "cwd", str(git_repo))
    err = io.StringIO()
    where = gemini.run_hook(io.BytesIO(raw), git_repo, err)
    assert where is not None and "Traceback" not in err.getvalue()
    assert_logged(git_repo, "gemini")


def test_payload_outside_a_git_repo_raises_nothing(tmp_path: Path) -> None:
    """A payload whose cwd is no work tree (nor is the hook's): nothing raised or written."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    payload = {"hook_event_name": "BeforeAgent", "session_id": "s-1", "prompt": "hi"}
    payload["cwd"] = str(elsewhere)
    err = io.StringIO()
    assert gemini.run_hook(io.BytesIO(json.dumps(payload).encode()), elsewhere, err)
    assert list(elsewhere.iterdir()) == []


def test_good_payload_through_run_hook(repo: bitloops.Repository) -> None:
    """A valid payload through run_hook returns None and records the prompt."""
    payload = {"hook_event_name": "BeforeAgent", "session_id": "ok", "prompt": "hello"}
    err = io.StringIO()
    assert gemini.run_hook(io.StringIO(json.dumps(payload)), repo.toplevel, err) is None
    assert err.getvalue() == ""
    assert [e.kind for e in repo.draft().events] == ["session_start", "prompt"]


def _start(repo: bitloops.Repository, transcript: Path) -> None:
    gemini.handle(
        {
            "hook_event_name": "SessionStart",
            "session_id": SID,
            "cwd": str(repo.toplevel),
            "transcript_path": str(transcript),
        }
    )


def _responses(repo: bitloops.Repository) -> list[str]:
    return [e.payload["text"] for e in repo.draft().events if e.kind == "response"]


def test_catch_up_is_incremental(repo: bitloops.Repository, tmp_path: Path) -> None:
    """Twice records nothing new; appended lines alone are recorded; a partial line waits."""
    transcript = _write_session(repo.toplevel, tmp_path / "s.jsonl")
    _start(repo, transcript)
    assert gemini.catch_up(repo, SID, transcript) == 2 + 2 + 2  # reasoning, responses, usage
    assert gemini.catch_up(repo, SID, transcript) == 0
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_gemini_line("g-3", "One more thing."))
        fh.write(_gemini_line("g-4", "Half a line")[:30])  # still being written
    assert gemini.catch_up(repo, SID, transcript) == 1
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_gemini_line("g-4", "Half a line")[30:])
    assert gemini.catch_up(repo, SID, transcript) == 1
    assert _responses(repo)[-2:] == ["One more thing.", "Half a line"]
    assert gemini.active_transcripts(repo) == [(SID, str(transcript))]


def test_message_rewritten_and_rewind(repo: bitloops.Repository, tmp_path: Path) -> None:
    """A message written again records only what is new; a rewind is a note; truncation rereads."""
    transcript = tmp_path / "s.jsonl"
    transcript.write_text(_gemini_line("g-1", "", thought="Think."), encoding="utf-8")
    _start(repo, transcript)
    assert gemini.catch_up(repo, SID, transcript) == 1
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_gemini_line("g-1", "Answer.", thought="Think."))
        fh.write(json.dumps({"$rewindTo": "g-1"}) + "\n")
    assert gemini.catch_up(repo, SID, transcript) == 2  # the response, the rewind note
    transcript.write_text(_gemini_line("g-1", "Answer.", thought="Think."), encoding="utf-8")
    assert gemini.catch_up(repo, SID, transcript) == 0
    kinds = [e.kind for e in repo.draft().events]
    assert kinds == ["session_start", "reasoning", "response", "note"]
    assert repo.store.sessions(session_ids=[SID])[0].model == MODEL


def test_older_whole_json_session_file(repo: bitloops.Repository, tmp_path: Path) -> None:
    """An older one-object .json session file is read; only unseen messages are recorded."""
    transcript = tmp_path / "session-old.json"
    messages = [
        {"id": "u-1", "type": "user", "content": "hi"},
        {"id": "g-1", "type": "gemini", "content": [{"text": "Hello."}], "model": MODEL},
    ]
    transcript.write_text(json.dumps({"sessionId": SID, "messages": messages}), "utf-8")
    _start(repo, transcript)
    assert gemini.catch_up(repo, SID, transcript) == 1
    messages.append({"id": "g-2", "type": "gemini", "content": "Bye."})
    transcript.write_text(json.dumps({"sessionId": SID, "messages": messages}), "utf-8")
    assert gemini.catch_up(repo, SID, transcript) == 1
    assert _responses(repo) == ["Hello.", "Bye."]


def test_after_model_sets_the_model(repo: bitloops.Repository) -> None:
    """AfterModel records nothing but later events carry llm_request.model."""
    base = {"session_id": "m-1", "cwd": str(repo.toplevel)}
    after = {**base, "hook_event_name": "AfterModel", "llm_request": {"model": "gemini-2.5-flash"}}
    assert gemini.handle(after) == []
    (event,) = gemini.handle({**base, "hook_event_name": "BeforeAgent", "prompt": "go"})
    assert event.model == "gemini-2.5-flash"
    assert repo.draft().sessions[0].agent == "gemini"


def test_failed_tool_is_marked_and_outside_write_is_no_file_change(
    repo: bitloops.Repository,
) -> None:
    """An AfterTool with an error is is_error; a write outside the work tree is no file_change."""
    events = gemini.handle(
        {
            "hook_event_name": "AfterTool",
            "session_id": "t-1",
            "cwd": str(repo.toplevel),
            "tool_name": "write_file",
            "tool_input": {"file_path": "/tmp/elsewhere.txt", "content": "x"},
            "tool_response": {"llmContent": "denied", "error": {"message": "denied"}},
        }
    )
    assert [e.kind for e in events] == ["tool_use"]
    assert events[0].payload["is_error"] is True
