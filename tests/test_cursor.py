"""Cursor capture: hook payloads through `bitloops hook cursor`, and the agent transcript."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import (
    assert_logged_not_recorded,
    group_by_kind,
    payloads,
    run_hook,
    with_field,
    write_transcript,
)

import bitloops
from bitloops.agents import cursor
from bitloops.testing import assert_silent, commit_all, enable

SID = "cur-conv-1"
MODEL = "claude-4.5-sonnet"
PROMPT = "Add a greet() function in src/greet.py and mention it in the README"
FINAL = "I added greet() in src/greet.py and mentioned it in the README."


def _transcript_path(tmp_path: Path) -> Path:
    folder = tmp_path / "projects" / "work" / "agent-transcripts" / SID
    folder.mkdir(parents=True)
    return folder / f"{SID}.jsonl"


def _apply(repo: Path, payload: dict[str, Any]) -> None:
    """What Cursor's tools did to the work tree before the hook ran."""
    if payload["hook_event_name"] != "afterFileEdit":
        return
    path = Path(payload["file_path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name == "README.md":
        path.write_text("# demo\n\nSee greet().\n", encoding="utf-8")
    else:
        path.write_text(payload["edits"][0]["new_string"], encoding="utf-8")


def run_session(repo: Path, transcript: Path) -> None:
    """Every fixture payload through the `bitloops hook cursor` command (also for other tests)."""
    write_transcript("cursor", "transcript.jsonl", repo, transcript)
    for payload in payloads("cursor", repo, transcript):
        _apply(repo, payload)
        assert_silent(run_hook("cursor", json.dumps(payload).encode(), repo))


def test_full_session_becomes_a_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Every fixture payload through the CLI, then a real commit: the checkpoint has it all."""
    enable(git_repo)
    run_session(git_repo, _transcript_path(tmp_path))
    checkpoint = commit_all(git_repo, "greet")
    events = list(checkpoint.events)
    by_kind = group_by_kind(events)
    (prompt,) = by_kind["prompt"]
    assert prompt.payload["text"] == PROMPT
    # stored relative to the work tree (issue 11 item 6), absolute before that change
    assert prompt.payload["attachments"][0]["file_path"] in (
        "README.md",
        str(git_repo / "README.md"),
    )
    tools = [e.payload for e in by_kind["tool_use"]]
    assert [t["name"] for t in tools] == ["Read", "Edit", "Write", "Shell", "Shell", "Read", "Task"]
    # afterShellExecution and postToolUse both reported the import: recorded once
    shells = [t for t in tools if t["name"] == "Shell"]
    assert [s["input"]["command"] for s in shells] == ["python -c 'import src.greet'", "pytest -q"]
    assert shells[0]["output"] == "imported ok\n" and "is_error" not in shells[0]
    assert shells[1]["is_error"] is True and shells[1]["exit_code"] == 5
    assert tools[0]["output"] == {"content": "# demo\n"}  # the JSON string decoded
    assert tools[5]["is_error"] is True
    assert tools[5]["output"] == "File not found: tests/test_greet.py"
    assert all(t["generation_id"] == "gen-1" for t in tools)
    changes = {(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]}
    assert changes == {("README.md", "modified"), ("src/greet.py", "added")}
    readme = next(e for e in by_kind["file_change"] if e.payload["path"] == "README.md")
    assert readme.payload["edits"][0]["new_string"] == "# demo\n\nSee greet().\n"
    assert {f.path for f in checkpoint.files if f.by_agent} == {"README.md", "src/greet.py"}
    # thinking: one from the hook, one only the transcript had ([REDACTED] skipped)
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "The user wants a greet function; I should read the README first.",
        "A module src/greet.py with one function is enough; no class needed.",
    ]
    assert by_kind["reasoning"][0].payload["source"] == "hook"
    # answers from the hooks, plus the one only the transcript had; no duplicates
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
        "The import works; pytest finds no tests yet.",
    ]
    assert [e.payload["event"] for e in by_kind["subagent"]] == ["start", "stop"]
    assert by_kind["subagent"][0].payload["subagent_type"] == "explore"
    assert by_kind["compaction"][0].payload["phase"] == "pre"
    assert by_kind["compaction"][0].payload["trigger"] == "auto"
    assert "error" not in by_kind  # the turn completed
    assert events[-1].kind == "session_end"
    assert events[-1].payload == {"reason": "user_close"}
    assert {e.agent for e in events} == {"cursor"}
    assert {e.model for e in events} == {MODEL}
    assert [(s.agent, s.session_id, s.status) for s in checkpoint.sessions] == [
        ("cursor", SID, "ended")
    ]
    assert bitloops.ModelIdentity(agent="cursor", model=MODEL) in checkpoint.models


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-conversation-id": json.dumps(
        {"hook_event_name": "beforeSubmitPrompt", "prompt": "x"}
    ).encode(),
    "prompt-not-text": json.dumps(
        {"hook_event_name": "beforeSubmitPrompt", "conversation_id": "c-1", "prompt": 5}
    ).encode(),
    "tool-name-missing": json.dumps(
        {"hook_event_name": "postToolUse", "conversation_id": "c-1", "tool_input": {}}
    ).encode(),
    "model-not-text": json.dumps(
        {"hook_event_name": "stop", "conversation_id": "c-1", "model": ["x"]}
    ).encode(),
    "invalid-utf8": b'{"hook_event_name": "stop", "conversation_id": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_0_and_is_logged(git_repo: Path, name: str) -> None:
    """A bad payload exits 0, prints nothing on stdout, records nothing and is logged."""
    raw = with_field(BAD_INPUTS[name], "workspace_roots", [str(git_repo)])
    proc = run_hook("cursor", raw, git_repo)
    assert_logged_not_recorded(proc, git_repo, "cursor")


def test_the_work_tree_is_the_first_workspace_root_inside_one(
    git_repo: Path, tmp_path: Path
) -> None:
    """A workspace root outside any work tree is passed over for the next one."""
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    payload = {
        "hook_event_name": "beforeSubmitPrompt",
        "conversation_id": "roots-1",
        "workspace_roots": [str(outside), str(git_repo)],
        "prompt": "hello",
        "model": "gpt-5",
    }
    err = io.StringIO()
    assert cursor.run_hook(io.BytesIO(json.dumps(payload).encode()), outside, err) is None
    with bitloops.Repository.open(git_repo) as repo:
        prompts = [e for e in repo.draft().events if e.kind == "prompt"]
    assert [(e.agent, e.model, e.payload["text"]) for e in prompts] == [
        ("cursor", "gpt-5", "hello")
    ]


def _assistant(text: str) -> str:
    return json.dumps(
        {"role": "assistant", "message": {"content": [{"type": "text", "text": text}]}}
    )


def _responses(repo: bitloops.Repository) -> list[str]:
    return [e.payload["text"] for e in repo.draft().events if e.kind == "response"]


def test_catch_up_is_incremental_and_survives_truncation(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """Twice records nothing new; a partial line waits; a truncated file adds no copies."""
    transcript = _transcript_path(tmp_path)
    transcript.write_text(_assistant("first") + "\n" + _assistant("second")[:20], "utf-8")
    cursor.handle(
        {
            "hook_event_name": "sessionStart",
            "conversation_id": SID,
            "workspace_roots": [str(repo.toplevel)],
            "transcript_path": str(transcript),
        }
    )
    assert cursor.catch_up(repo, SID, transcript) == 1
    assert cursor.catch_up(repo, SID, transcript) == 0
    with open(transcript, "a", encoding="utf-8") as fh:
        fh.write(_assistant("second")[20:] + "\n")
    assert cursor.catch_up(repo, SID, transcript) == 1
    transcript.write_text(_assistant("third") + "\n", "utf-8")  # rotated: smaller
    assert cursor.catch_up(repo, SID, transcript) == 1
    assert _responses(repo) == ["first", "second", "third"]
    assert cursor.active_transcripts(repo) == [(SID, str(transcript))]


def test_stop_finds_the_transcript_when_the_payload_has_none(
    repo: bitloops.Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transcript_path null: the stop hook reads ~/.cursor/projects/*/agent-transcripts/<id>."""
    monkeypatch.setenv("CURSOR_HOME", str(tmp_path))
    transcript = _transcript_path(tmp_path)
    transcript.write_text(_assistant("Done.") + "\n", "utf-8")
    assert cursor.find_transcript(SID) == str(transcript)
    assert cursor.find_transcript("../escape") is None
    base = {"conversation_id": SID, "workspace_roots": [str(repo.toplevel)]}
    events = cursor.handle({**base, "hook_event_name": "stop", "status": "error"})
    assert [e.kind for e in events] == ["response", "error"]
    assert _responses(repo) == ["Done."]


def test_transcript_session_id(tmp_path: Path) -> None:
    """The id comes from a line's field, else from the agent-transcripts file name."""
    transcript = _transcript_path(tmp_path)
    transcript.write_text(_assistant("hi") + "\n", "utf-8")
    assert cursor.transcript_session_id(transcript) == SID
    flat = tmp_path / "agent-transcripts" / "flat-1.jsonl"
    flat.parent.mkdir()
    flat.write_text(_assistant("hi") + "\n", "utf-8")
    assert cursor.transcript_session_id(flat) == "flat-1"
    tagged = tmp_path / "elsewhere.jsonl"
    tagged.write_text(json.dumps({"conversation_id": "c-9", "role": "user"}) + "\n", "utf-8")
    assert cursor.transcript_session_id(tagged) == "c-9"
    other = tmp_path / "notes.jsonl"
    other.write_text(_assistant("hi") + "\n", "utf-8")
    assert cursor.transcript_session_id(other) is None
    assert cursor.transcript_session_id(tmp_path / "missing.jsonl") is None


def test_a_transcript_imports_as_a_whole_session(repo: bitloops.Repository, tmp_path: Path) -> None:
    """`bitloops import cursor`: the prompt unwrapped, tool calls, answers, thinking; once."""
    from bitloops.capture._importing import import_transcript

    transcript = write_transcript(
        "cursor", "transcript.jsonl", Path(repo.toplevel), _transcript_path(tmp_path)
    )
    result = import_transcript(repo, "cursor", transcript)
    assert (result.session_id, result.new) == (SID, True) and result.events_added > 0
    assert import_transcript(repo, "cursor", transcript).events_added == 0
    by_kind = group_by_kind(repo.draft().events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [PROMPT]
    assert [e.payload["name"] for e in by_kind["tool_use"]] == ["Read", "Write", "Shell"]
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        "The import works; pytest finds no tests yet.",
        FINAL,
    ]
    assert len(by_kind["reasoning"]) == 2
