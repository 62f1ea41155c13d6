"""OpenCode capture: the plugin's payloads through `bitloops hook opencode`, and the plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import (
    FIXTURES,
    assert_logged_not_recorded,
    group_by_kind,
    payloads,
    run_hook,
    with_field,
)

import bitloops
from bitloops.agents import opencode
from bitloops.testing import assert_silent, commit_all, enable

SID = "ses_4a1b2c3d4e5fOC1"
CHILD = "ses_4a1b2c3d4e5fOC2"
MODEL = "claude-sonnet-4-5"
PROMPT = "Add a greet() function in src/greet.py and mention it in the README"
FINAL = "I added greet() in src/greet.py and mentioned it in the README."
GREET = "def greet(name):\n    return f'Hello, {name}!'\n"


def _apply(repo: Path, payload: dict[str, Any]) -> None:
    """What OpenCode's tools did to the work tree before their part was published."""
    part = payload["event"]["properties"].get("part", {})
    if part.get("type") != "tool" or part["state"]["status"] != "completed":
        return
    if part["tool"] == "edit":
        (repo / "README.md").write_text("# demo\n\nSee greet().\n", encoding="utf-8")
    elif part["tool"] == "write":
        (repo / "src").mkdir()
        (repo / "src" / "greet.py").write_text(GREET, encoding="utf-8")
    elif part["tool"] == "bash" and "docs/notes.md" in part["state"]["input"]["command"]:
        (repo / "docs").mkdir()
        (repo / "docs" / "notes.md").write_text("# Notes\n", encoding="utf-8")


def _fixture(repo: Path) -> list[dict[str, Any]]:
    return payloads("opencode", repo, repo / "unused")


def _check_session(checkpoint: bitloops.Checkpoint) -> None:
    """What the fixture session must leave in a checkpoint, however it was delivered."""
    events = list(checkpoint.events)
    main = [e for e in events if e.session_id == SID]
    by_kind = group_by_kind(main)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [PROMPT]
    tools = [e.payload for e in by_kind["tool_use"]]
    assert [t["name"] for t in tools] == ["read", "edit", "write", "bash", "bash", "task"]
    assert [t["tool_use_id"] for t in tools] == [f"toolu_0{n}" for n in range(1, 7)]
    assert tools[0]["output"].startswith("<file>") and tools[0]["title"] == "README.md"
    assert tools[4]["is_error"] is True and tools[4]["output"] == "Exit code 5: no tests ran"
    assert "is_error" not in tools[3]
    changes = [(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]]
    # the edit tools' files, then the one the patch part adds (made by bash)
    assert changes == [
        ("README.md", "modified"),
        ("src/greet.py", "added"),
        ("docs/notes.md", "added"),
    ]
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "The user wants a greet function; I should read the README first."
    ]
    # the duplicate part (a second plugin copy) was recorded once
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
    ]
    subagents = [e.payload for e in by_kind["subagent"]]
    assert [s["event"] for s in subagents] == ["start", "stop"]
    assert subagents[0]["subagent_type"] == "general"
    assert subagents[1]["child_session_id"] == CHILD
    (usage,) = [e.payload for e in by_kind["note"] if "usage" in e.payload]
    assert usage["usage"]["output"] == 410 and usage["cost"] == 0.0213
    assert usage["provider"] == "anthropic" and usage["message_id"] == "msg_a1"
    assert [(c.payload["phase"], c.payload.get("auto")) for c in by_kind["compaction"]] == [
        ("pre", True),
        ("post", None),
    ]
    assert [e.payload["message"] for e in by_kind["error"]] == ["Overloaded, retrying"]
    assert {e.model for e in main if e.kind != "session_start"} == {MODEL}
    child = [e for e in events if e.session_id == CHILD]
    assert [e.kind for e in child] == ["session_start", "note", "response", "note"]
    assert child[1].payload["parent_session_id"] == SID
    assert {e.agent for e in events} == {"opencode"}
    assert {s.session_id for s in checkpoint.sessions} == {SID, CHILD}
    assert {f.path for f in checkpoint.files if f.by_agent} == {
        "README.md",
        "src/greet.py",
        "docs/notes.md",
    }
    assert bitloops.ModelIdentity(agent="opencode", model=MODEL) in checkpoint.models


def test_full_session_becomes_a_checkpoint(git_repo: Path) -> None:
    """Every fixture payload through the CLI, then a real commit: the checkpoint has it all."""
    enable(git_repo)
    for payload in _fixture(git_repo):
        _apply(git_repo, payload)
        assert_silent(run_hook("opencode", json.dumps(payload).encode(), git_repo))
    _check_session(commit_all(git_repo, "greet"))


_NODE = shutil.which("node")
_DRIVER = """
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
const [plugin, fixture, directory] = process.argv.slice(2);
const mod = await import(pathToFileURL(plugin).href);
const hooks = await mod.BitloopsCapture({ directory, worktree: directory });
for (const line of readFileSync(fixture, "utf-8").split("\\n")) {
  if (!line.trim()) continue;
  const event = JSON.parse(line).event;
  const part = event.properties.part;
  if (part && (part.type === "text" || part.type === "reasoning") && part.time) {
    // what OpenCode publishes while the part streams: the plugin must not forward it
    const partial = { ...part, text: part.text.slice(0, 5), time: { start: part.time.start } };
    await hooks.event({ event: { type: event.type, properties: { part: partial, delta: "x" } } });
  }
  await hooks.event({ event });
  await hooks.event({ event: { type: "session.status", properties: { sessionID: "x" } } });
}
"""


@pytest.mark.skipif(_NODE is None, reason="needs node to load the plugin")
def test_the_plugin_forwards_the_session(git_repo: Path, tmp_path: Path) -> None:
    """The shipped plugin, loaded by node, feeds the fixture's bus events to the hook."""
    assert _NODE is not None
    # node reads a .js file as CommonJS unless told otherwise; OpenCode (bun) reads ESM
    plugin = tmp_path / "plugin" / "bitloops.mjs"
    plugin.parent.mkdir()
    plugin.write_text(opencode.plugin_source(), encoding="utf-8")
    driver = tmp_path / "driver.mjs"
    driver.write_text(_DRIVER, encoding="utf-8")
    fixture = tmp_path / "events.jsonl"
    fixture.write_text(
        (FIXTURES / "opencode" / "hooks.jsonl").read_text("utf-8").replace("{cwd}", str(git_repo))
    )
    for payload in _fixture(git_repo):  # the files the tools wrote, up front
        _apply(git_repo, payload)
    command = json.dumps([sys.executable, "-m", "bitloops"])
    env = {**os.environ, "BITLOOPS_OPENCODE_COMMAND": command}
    proc = subprocess.run(
        [_NODE, str(driver), str(plugin), str(fixture), str(git_repo)],
        cwd=git_repo,
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (git_repo / ".git" / "bitloops" / "hooks.log").exists()
    checkpoint = commit_all(git_repo, "greet", promote=True)
    _check_session(checkpoint)
    texts = [e.payload.get("text") for e in checkpoint.events]
    assert "Add a" not in texts and "Let m" not in texts  # no streaming fragments


@pytest.mark.skipif(_NODE is None, reason="needs node to load the plugin")
def test_the_plugin_never_fails_opencode(tmp_path: Path) -> None:
    """A missing bitloops command and odd events: every handler still resolves."""
    assert _NODE is not None
    plugin = tmp_path / "bitloops.mjs"
    plugin.write_text(opencode.plugin_source(), encoding="utf-8")
    script = tmp_path / "odd.mjs"
    script.write_text(
        'import { pathToFileURL } from "node:url";\n'
        "const mod = await import(pathToFileURL(process.argv[2]).href);\n"
        "const hooks = await mod.BitloopsCapture(undefined);\n"
        "for (const input of [undefined, {}, { event: null }, { event: { type: 5 } },\n"
        '  { event: { type: "session.created", properties: { info: { id: "s" } } } },\n'
        '  { event: { type: "message.part.updated", properties: {} } }]) {\n'
        "  await hooks.event(input);\n"
        "}\n"
        'console.log("ok");\n',
        encoding="utf-8",
    )
    env = {**os.environ, "BITLOOPS_OPENCODE_COMMAND": '["/nonexistent/bitloops"]'}
    proc = subprocess.run(
        [_NODE, str(script), str(plugin)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"ok\n"


def test_the_plugin_ships_as_package_data() -> None:
    """The installer reads the plugin from the package; it runs `bitloops hook opencode`."""
    source = opencode.plugin_source()
    assert '"hook", "opencode"' in source
    assert "export const BitloopsCapture" in source
    assert f"const PAYLOAD_VERSION = {opencode.PAYLOAD_VERSION};" in source


def _export(repo: Path) -> dict[str, Any]:
    """An `opencode export` document of the fixture's main session."""
    messages: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    for payload in _fixture(repo):
        event = payload["event"]
        props = event["properties"]
        if event["type"] == "session.created" and props["info"]["id"] == SID:
            info = props["info"]
        elif event["type"] == "message.updated" and props["info"]["sessionID"] == SID:
            entry = messages.setdefault(props["info"]["id"], {"info": {}, "parts": {}})
            entry["info"] = props["info"]
        elif event["type"] == "message.part.updated" and props["part"]["sessionID"] == SID:
            part = props["part"]
            messages[part["messageID"]]["parts"][part["id"]] = part
    return {
        "info": info,
        "messages": [
            {"info": m["info"], "parts": list(m["parts"].values())} for m in messages.values()
        ],
    }


def test_an_export_file_is_read_once(repo: bitloops.Repository, tmp_path: Path) -> None:
    """`opencode export` JSON: its session id, its events, nothing twice."""
    top = Path(repo.toplevel)
    for payload in _fixture(top):
        _apply(top, payload)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_export(top)), encoding="utf-8")
    assert opencode.transcript_session_id(export) == SID
    recorded = opencode.catch_up(repo, SID, export)
    assert opencode.catch_up(repo, SID, export) == 0
    events = repo.draft().events
    by_kind = group_by_kind(events)
    assert recorded == len(events) - 1  # all but the session_start
    assert [e.payload["text"] for e in by_kind["prompt"]] == [PROMPT]
    assert [e.payload["text"] for e in by_kind["response"]] == [
        "Let me look at the README first.",
        FINAL,
    ]
    assert len(by_kind["tool_use"]) == 6 and len(by_kind["file_change"]) == 3
    assert {e.model for e in by_kind["tool_use"]} == {MODEL}
    assert [e.payload["phase"] for e in by_kind["compaction"]] == ["pre"]


def test_transcript_session_id_of_other_files(tmp_path: Path) -> None:
    """Stored session and message files give their session; anything else gives None."""
    stored = tmp_path / "ses.json"
    stored.write_text(json.dumps({"id": SID, "title": "x"}), "utf-8")
    assert opencode.transcript_session_id(stored) == SID
    message = tmp_path / "msg.json"
    message.write_text(json.dumps({"id": "msg_1", "sessionID": SID}), "utf-8")
    assert opencode.transcript_session_id(message) == SID
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"id": "abc"}), "utf-8")
    assert opencode.transcript_session_id(other) is None
    (tmp_path / "bad.json").write_text("{", "utf-8")
    assert opencode.transcript_session_id(tmp_path / "bad.json") is None


BAD_INPUTS = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1, 2, 3]",
    "no-event-type": json.dumps({"bitloops_opencode": 1, "event": {"properties": {}}}).encode(),
    "no-session": json.dumps(
        {"bitloops_opencode": 1, "event": {"type": "message.part.updated", "properties": {}}}
    ).encode(),
    "newer-plugin": json.dumps(
        {
            "bitloops_opencode": 99,
            "event": {"type": "session.created", "properties": {"info": {"id": "ses_x"}}},
        }
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_0_and_is_logged(git_repo: Path, name: str) -> None:
    """A bad payload exits 0, prints nothing on stdout, records nothing and is logged."""
    raw = with_field(BAD_INPUTS[name], "cwd", str(git_repo))
    proc = run_hook("opencode", raw, git_repo)
    assert_logged_not_recorded(proc, git_repo, "opencode")


def test_an_error_of_no_session_is_dropped_quietly(repo: bitloops.Repository) -> None:
    """session.error without a sessionID (a provider login) records nothing and raises not."""
    event = {"type": "session.error", "properties": {"error": {"name": "ProviderAuthError"}}}
    assert opencode.handle({"cwd": str(repo.toplevel), "event": event}) == []
    assert repo.draft().empty


def test_session_deleted_ends_the_session(repo: bitloops.Repository) -> None:
    """A bare bus event works too; deleting the session ends it."""
    top = str(repo.toplevel)
    created = {"type": "session.created", "properties": {"info": {"id": "ses_d1"}}}
    opencode.handle({"cwd": top, "event": created})
    deleted = {"type": "session.deleted", "properties": {"info": {"id": "ses_d1"}}}
    (end,) = opencode.handle({"cwd": top, **deleted})
    assert end.kind == "session_end" and end.payload == {"reason": "deleted"}
    assert repo.store.sessions(session_ids=["ses_d1"])[0].status == "ended"


def test_an_export_imports_as_a_whole_session(repo: bitloops.Repository, tmp_path: Path) -> None:
    """`bitloops import opencode` of an `opencode export` file: the session, once."""
    from bitloops.capture._importing import import_transcript

    top = Path(repo.toplevel)
    for payload in _fixture(top):
        _apply(top, payload)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_export(top)), encoding="utf-8")
    result = import_transcript(repo, "opencode", export)
    assert (result.session_id, result.new) == (SID, True) and result.events_added > 0
    assert import_transcript(repo, "opencode", export).events_added == 0
    kinds = {e.kind for e in repo.draft().events}
    assert kinds >= {"prompt", "reasoning", "response", "tool_use", "file_change", "subagent"}
