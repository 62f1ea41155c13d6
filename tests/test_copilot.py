"""GitHub Copilot CLI capture: hook payloads through `bitloops hook copilot`, the events file."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import (
    FIXTURES,
    assert_logged_not_recorded,
    fill,
    group_by_kind,
    payloads,
    run_hook,
    with_field,
)
from conftest import git

import bitloops
from bitloops.agents import copilot
from bitloops.testing import assert_silent, commit_all, enable

SID = "8f6d2c1e-5b3a-4e7f-9a0b-1c2d3e4f5a6b"
PROMPT = "Add a greet() function in src/greet.py and mention it in the README"
FINAL = "I added greet() in src/greet.py and mentioned it in the README."


def _events_file(home: Path) -> Path:
    folder = home / "session-state" / SID
    folder.mkdir(parents=True)
    return folder / "events.jsonl"


def _run_hook(
    payload: dict[str, Any], cwd: Path, event: str | None, home: Path
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COPILOT_HOME": str(home)}
    if event is not None:
        env[copilot.EVENT_ENV] = event  # as the installer sets it in each hook entry's env
    return run_hook("copilot", json.dumps(payload).encode(), cwd, env)


def _apply(repo: Path, payload: dict[str, Any]) -> None:
    """What Copilot's tools did to the work tree before the postToolUse hook ran."""
    tool = payload.get("toolName")
    if tool == "edit":
        (repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
    elif tool == "create":
        args = json.loads(payload["toolArgs"])
        (repo / "src").mkdir()
        (repo / "src" / "greet.py").write_text(args["file_text"], encoding="utf-8")


def test_full_session_becomes_a_checkpoint(git_repo: Path, tmp_path: Path) -> None:
    """Every fixture payload through the CLI, the events file read, a real commit: all kept."""
    enable(git_repo)
    home = tmp_path / "copilot-home"
    events_file = _events_file(home)
    lines = fill((FIXTURES / "copilot" / "events.jsonl").read_text("utf-8"), git_repo, events_file)
    head, rest = lines.splitlines(keepends=True)[:2], lines.splitlines(keepends=True)[2:]
    events_file.write_text("".join(head), encoding="utf-8")  # what Copilot wrote at start
    for line in payloads("copilot", git_repo, events_file):
        payload, event = line["payload"], line["hook"]
        _apply(git_repo, payload)
        if event == "agentStop":
            with open(events_file, "a", encoding="utf-8") as fh:
                fh.write("".join(rest))
        # PascalCase payloads name their event; camelCase ones get it from the env
        assert_silent(
            _run_hook(payload, git_repo, None if "hook_event_name" in payload else event, home)
        )
    checkpoint = commit_all(git_repo, "greet")
    events = list(checkpoint.events)
    by_kind = group_by_kind(events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [PROMPT]
    tools = [e.payload for e in by_kind["tool_use"]]
    assert [t["name"] for t in tools] == ["view", "edit", "create", "bash", "bash", "web_fetch"]
    # toolArgs decoded; the path relative once stored (issue 11 item 6)
    assert tools[0]["input"] in ({"path": "README.md"}, {"path": str(git_repo / "README.md")})
    assert tools[3]["output"]["resultType"] == "success" and "is_error" not in tools[3]
    assert tools[4]["is_error"] is True  # resultType failure
    assert tools[5]["is_error"] is True and "ENOTFOUND" in tools[5]["output"]
    changes = {(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]}
    assert changes == {("README.md", "modified"), ("src/greet.py", "added")}
    assert {f.path for f in checkpoint.files if f.by_agent} == {"README.md", "src/greet.py"}
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "The user wants a greet function; I should read the README first.",
        "A module src/greet.py with one function is enough; no class needed.",
    ]
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
    ]
    assert by_kind["response"][0].payload["message_id"] == "msg-1"
    assert by_kind["response"][0].payload["transcript_ts"] == "2026-06-01T10:00:03.000Z"
    usage = [e.payload for e in by_kind["note"] if "usage" in e.payload]
    assert [(u["model"], u["usage"]["outputTokens"]) for u in usage] == [
        ("claude-sonnet-4.5", 60),
        ("gpt-5", 140),
    ]
    assert [e.payload["event"] for e in by_kind["subagent"]] == ["start", "stop"]
    assert by_kind["subagent"][0].payload["agent_name"] == "explore"
    assert by_kind["compaction"][0].payload == {
        "phase": "pre",
        "trigger": "auto",
        "token_count": 128000,
    }
    assert [e.payload["message"] for e in by_kind["error"]] == ["Rate limit reached, retrying"]
    assert by_kind["error"][0].payload["name"] == "RateLimitError"
    # the model named at session start tags the hook events; the change tags what follows
    assert by_kind["prompt"][0].model == "claude-sonnet-4.5"
    assert by_kind["response"][-1].model == "gpt-5"
    assert events[-1].kind == "session_end" and events[-1].payload == {"reason": "complete"}
    assert {e.agent for e in events} == {"copilot"}
    assert [(s.agent, s.session_id, s.status) for s in checkpoint.sessions] == [
        ("copilot", SID, "ended")
    ]
    assert {(m.agent, m.model) for m in checkpoint.models} >= {
        ("copilot", "claude-sonnet-4.5"),
        ("copilot", "gpt-5"),
    }


def test_an_unnamed_event_is_told_by_its_fields(repo: bitloops.Repository) -> None:
    """Without a name in payload or env, toolName + toolResult is a postToolUse."""
    payload = {
        "sessionId": "guess-1",
        "cwd": str(repo.toplevel),
        "toolName": "bash",
        "toolArgs": '{"command": "ls"}',
        "toolResult": {"resultType": "success", "textResultForLlm": "README.md"},
    }
    assert copilot.normalise(payload)["hook_event_name"] == "postToolUse"
    (event,) = copilot.handle(payload)
    assert event.kind == "tool_use" and event.payload["input"] == {"command": "ls"}
    assert event.agent == "copilot"


def test_the_initial_prompt_is_recorded_once(repo: bitloops.Repository) -> None:
    """sessionStart's initialPrompt is a prompt; the same text submitted right after is not."""
    base = {"sessionId": "init-1", "cwd": str(repo.toplevel)}
    copilot.handle({**base, "hookEventName": "sessionStart", "initialPrompt": "fix it"})
    copilot.handle({**base, "hookEventName": "userPromptSubmitted", "prompt": "fix it"})
    copilot.handle({**base, "hookEventName": "userPromptSubmitted", "prompt": "fix it"})
    prompts = [e.payload["text"] for e in repo.draft().events if e.kind == "prompt"]
    assert prompts == ["fix it", "fix it"]


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-session-id": json.dumps({"hookEventName": "userPromptSubmitted", "prompt": "x"}).encode(),
    "no-event": json.dumps({"sessionId": "s-1", "timestamp": 1}).encode(),
    "prompt-not-text": json.dumps(
        {"hookEventName": "userPromptSubmitted", "sessionId": "s-1", "prompt": 5}
    ).encode(),
    "tool-name-missing": json.dumps(
        {"hookEventName": "postToolUse", "sessionId": "s-1", "toolArgs": "{}"}
    ).encode(),
    "invalid-utf8": b'{"hookEventName": "agentStop", "sessionId": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_logged_not_raised(git_repo: Path, tmp_path: Path, name: str) -> None:
    """A bad payload exits 0, prints nothing on stdout, records nothing and is logged."""
    raw = with_field(BAD_INPUTS[name], "cwd", str(git_repo))
    env = {k: v for k, v in os.environ.items() if k != copilot.EVENT_ENV}
    proc = run_hook("copilot", raw, git_repo, {**env, "COPILOT_HOME": str(tmp_path)})
    assert_logged_not_recorded(proc, git_repo, "copilot")


def _message(n: int, text: str) -> str:
    line = {"type": "assistant.message", "id": f"e-{n}", "data": {"content": text}}
    return json.dumps(line) + "\n"


def test_catch_up_is_incremental_and_survives_rotation(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """A partial line waits; a file read again from the start records nothing twice."""
    events_file = _events_file(tmp_path)
    events_file.write_text(_message(1, "one") + _message(2, "two")[:15], "utf-8")
    copilot.handle(
        {"sessionId": SID, "cwd": str(repo.toplevel), "hookEventName": "sessionStart"}
        | {"transcriptPath": str(events_file)}
    )
    assert copilot.catch_up(repo, SID, events_file) == 0  # sessionStart read "one" already
    with open(events_file, "a", encoding="utf-8") as fh:
        fh.write(_message(2, "two")[15:])
    assert copilot.catch_up(repo, SID, events_file) == 1
    rotated = events_file.with_name("events.jsonl.new")
    rotated.write_text(_message(1, "one") + _message(3, "three"), "utf-8")
    os.replace(rotated, events_file)  # another inode: read again from the start
    assert copilot.catch_up(repo, SID, events_file) == 1
    texts = [e.payload["text"] for e in repo.draft().events if e.kind == "response"]
    assert texts == ["one", "two", "three"]
    assert copilot.active_transcripts(repo) == [(SID, str(events_file))]


def test_an_older_session_json_is_read_whole(repo: bitloops.Repository, tmp_path: Path) -> None:
    """A history-session-state JSON (chatMessages) gives its assistant answers, once."""
    old = tmp_path / f"session_{SID}_1780308000000.json"
    old.write_text(
        json.dumps(
            {
                "sessionId": SID,
                "startTime": "2026-06-01T10:00:00.000Z",
                "chatMessages": [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "Hi, what shall we build?"},
                ],
            }
        ),
        "utf-8",
    )
    assert copilot.transcript_session_id(old) == SID
    assert copilot.catch_up(repo, SID, old) == 1
    assert copilot.catch_up(repo, SID, old) == 0
    (event,) = [e for e in repo.draft().events if e.kind == "response"]
    assert event.payload["text"] == "Hi, what shall we build?" and event.agent == "copilot"


def test_transcript_session_id(tmp_path: Path) -> None:
    """The sessionId of the session.start line, else the session-state folder's name."""
    events_file = _events_file(tmp_path)
    events_file.write_text(
        fill((FIXTURES / "copilot" / "events.jsonl").read_text("utf-8"), tmp_path, events_file)
    )
    assert copilot.transcript_session_id(events_file) == SID
    events_file.write_text(_message(1, "no session.start here"), "utf-8")
    assert copilot.transcript_session_id(events_file) == SID  # from the folder
    stray = tmp_path / "events.jsonl"
    stray.write_text("not json\n", "utf-8")
    assert copilot.transcript_session_id(stray) is None
    assert copilot.find_events_file(SID, tmp_path) == str(events_file)
    assert copilot.find_events_file("../x", tmp_path) is None


def test_run_hook_reports_where_the_failure_went(git_repo: Path) -> None:
    """run_hook returns the log path for a failure and None for a recorded payload."""
    err = io.StringIO()
    good = {"hookEventName": "userPromptSubmitted", "sessionId": "s-2", "prompt": "hi"}
    good["cwd"] = str(git_repo)
    assert copilot.run_hook(io.BytesIO(json.dumps(good).encode()), git_repo, err) is None
    where = copilot.run_hook(io.BytesIO(b"{}"), git_repo, err)
    assert where == str(git_repo / ".git" / "bitloops" / "hooks.log")
    assert "copilot hook failed" in err.getvalue()


def test_an_events_file_imports_as_a_whole_session(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """`bitloops import copilot`: prompts, tools with their file changes, answers; once."""
    from bitloops.capture._importing import import_transcript

    top = Path(repo.toplevel)
    events_file = _events_file(tmp_path)
    text = (FIXTURES / "copilot" / "events.jsonl").read_text("utf-8")
    events_file.write_text(fill(text, top, events_file), "utf-8")
    result = import_transcript(repo, "copilot", events_file)
    assert (result.session_id, result.new) == (SID, True) and result.events_added > 0
    assert import_transcript(repo, "copilot", events_file).events_added == 0
    by_kind = group_by_kind(repo.draft().events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [PROMPT]
    assert [e.payload["tool_use_id"] for e in by_kind["tool_use"]] == ["call-1"]
    assert by_kind["tool_use"][0].payload["output"] == {"content": "1. # demo\n"}
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
    ]
    assert {e.agent for e in repo.draft().events} == {"copilot"}


def test_a_commit_made_mid_turn_gets_the_turns_reasoning(git_repo: Path, tmp_path: Path) -> None:
    """post-commit reads the open session's events file before promoting."""
    enable(git_repo)
    events_file = _events_file(tmp_path)
    events_file.write_text("", "utf-8")
    base = {"sessionId": SID, "cwd": str(git_repo), "transcriptPath": str(events_file)}
    copilot.handle({**base, "hookEventName": "sessionStart", "source": "new"})
    copilot.handle({**base, "hookEventName": "userPromptSubmitted", "prompt": "fix the bug"})
    line = {
        "type": "assistant.reasoning",
        "id": "r-1",
        "timestamp": "2026-06-01T10:00:01.000Z",
        "data": {"reasoningId": "r-1", "content": "The off-by-one is in the loop bound."},
    }
    events_file.write_text(json.dumps(line) + "\n", "utf-8")  # no agentStop yet
    (git_repo / "fix.py").write_text("x = 1\n")
    git(git_repo, "add", "fix.py")
    git(git_repo, "commit", "-q", "-m", "fix")
    with bitloops.Repository.open(git_repo) as repo:
        checkpoint = repo.checkpoint("HEAD")
    reasoning = [e.payload["text"] for e in checkpoint.events if e.kind == "reasoning"]
    assert reasoning == ["The off-by-one is in the loop bound."]
    assert [s.status for s in checkpoint.sessions] == ["active"]
