"""Copilot CLI's light hook path: the same stored lines as the full path, spooled when busy,
invalid payloads still quarantined, and really taken by `bitloops hook copilot`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import apsw
import light_path as lp
import pytest
from agent_fixtures import run_hook

import bitloops
from bitloops.agents import copilot
from bitloops.capture import _spool as spool
from bitloops.testing import assert_silent

LIGHT = "0196a7c2-light"
FULL = "0196a7c2-other"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips


def _payload(repo: Path, sid: str, name: str, **fields: Any) -> dict[str, Any]:
    """A camelCase Copilot CLI payload of session ``sid`` naming its event."""
    return {
        "hookEventName": name,
        "sessionId": sid,
        "timestamp": 1780308001000,
        "cwd": str(repo),
        "transcriptPath": str(repo.parent / f"{sid}.jsonl"),
        **fields,
    }


def _started(repo: Path, sid: str) -> None:
    copilot.handle(_payload(repo, sid, "sessionStart", source="new"))


PATCH = (
    "*** Begin Patch\n*** Add File: {repo}/src/new.py\n+x = 1\n"
    "*** Update File: README.md\n@@\n-# demo\n+# demo!\n*** End Patch\n"
)
# One payload (without the common fields) per kind of event the light path plans.
PLANNED: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "prompt": ("userPromptSubmitted", {"prompt": f"deploy with {AWS_KEY}, héllo ✓"}, ["prompt"]),
    "tool_use": (
        "postToolUse",
        {"toolName": "view", "toolArgs": '{"path": "{repo}/README.md", "n": 1.5}',
         "toolResult": {"resultType": "success", "textResultForLlm": "1. # demo\n"}},
        ["tool_use"],
    ),
    "edit": (
        "postToolUse",
        {"toolName": "edit", "toolCallId": "c-1",
         "toolArgs": {"path": "{repo}/README.md", "old_str": "# demo", "new_str": AWS_KEY},
         "toolResult": {"resultType": "success"}},
        ["tool_use", "file_change"],
    ),
    "patch": (
        "postToolUse",
        {"toolName": "apply_patch", "toolArgs": {"input": PATCH},
         "toolResult": {"resultType": "success"}},
        ["tool_use", "file_change", "file_change"],
    ),
    "rejected": (
        "postToolUse",
        {"toolName": "edit", "toolArgs": {"path": "README.md"},
         "toolResult": {"resultType": "rejected"}},
        ["tool_use"],
    ),
    "failure": (
        "postToolUseFailure",
        {"toolName": "bash", "toolArgs": {"command": "false"}, "error": "exit 1"},
        ["tool_use"],
    ),
    "subagent": ("subagentStart", {"agentName": "explore", "agentType": "task"}, ["subagent"]),
    "compaction": ("preCompact", {"trigger": "auto"}, ["compaction"]),
    "error": (
        "errorOccurred",
        {"error": {"message": "rate limited", "name": "RateLimit", "code": 429}},
        ["error"],
    ),
    "note": ("notification", {"message": f"token {AWS_KEY}"}, ["note"]),
}  # fmt: skip


def _filled(repo: Path, fields: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(fields).replace("{repo}", str(repo))
    return dict(json.loads(text))


@pytest.mark.parametrize("case", sorted(PLANNED))
def test_the_light_path_stores_what_the_full_path_stores(git_repo: Path, case: str) -> None:
    """Each planned event kind, light path and full path: the same bytes but for id and time."""
    name, fields, kinds = PLANNED[case]
    fields = _filled(git_repo, fields)
    _started(git_repo, LIGHT)
    _started(git_repo, FULL)
    before = len(lp.rows(git_repo, starts=True))
    assert copilot._fast(lp.located(git_repo), _payload(git_repo, LIGHT, name, **fields))
    copilot.handle(_payload(git_repo, FULL, name, **fields))
    rows = lp.rows(git_repo, starts=True)[before:]
    light = [line for sid, line in rows if sid == LIGHT]
    full = [line for sid, line in rows if sid == FULL]
    assert [json.loads(line)["kind"] for line in light] == kinds
    assert [lp.masked(line, seq=False) for line in light] == [
        lp.masked(line, seq=False) for line in full
    ]
    assert all(AWS_KEY not in line for _, line in rows)


def test_a_pre_tool_use_records_nothing_lightly(git_repo: Path) -> None:
    """preToolUse: nothing recorded, and no full path needed."""
    _started(git_repo, LIGHT)
    before = lp.rows(git_repo, starts=True)
    pre = _payload(git_repo, LIGHT, "preToolUse", toolName="view", toolArgs='{"path": "x"}')
    assert copilot._fast(lp.located(git_repo), pre)
    assert lp.rows(git_repo, starts=True) == before


def test_the_light_path_gives_way_to_the_full_path(git_repo: Path) -> None:
    """Session start and end, the turn's stop, a create (git says whether it is new), the
    initial prompt again, a new model or events file, an unknown or ended session: the
    full path records them."""
    located = lp.located(git_repo)
    prompt = _payload(git_repo, LIGHT, "userPromptSubmitted", prompt="hi")
    assert not copilot._fast(located, prompt)  # no database, no session
    copilot.handle(_payload(git_repo, LIGHT, "sessionStart", initialPrompt="hello"))
    assert copilot._fast(located, prompt)
    again = _payload(git_repo, LIGHT, "userPromptSubmitted", prompt="hello")
    assert not copilot._fast(located, again)  # the full path takes the claim back
    copilot.handle(again)
    assert copilot._fast(located, again)  # a second "hello" is a prompt of its own
    create = {"path": str(git_repo / "new.py"), "file_text": "x = 1\n"}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("sessionStart", {}),  # agentStop, sessionEnd: the light catch-up (test_catch_up_path)
        ("userPromptSubmitted", {"prompt": 5}),  # invalid: quarantined by the full path
        ("postToolUse", {"toolArgs": {}}),  # no tool name: invalid
        ("userPromptSubmitted", {"prompt": "hi", "model": "gpt-5"}),  # a new model
        ("userPromptSubmitted", {"prompt": "hi", "transcriptPath": "/elsewhere.jsonl"}),
        ("not an event!", {}),
    ]
    for name, fields in steps:
        assert not copilot._fast(located, _payload(git_repo, LIGHT, name, **fields)), name
    # A write of a new file: git's index says it is added, on the light path too.
    made = _payload(git_repo, LIGHT, "postToolUse", toolName="create", toolArgs=create,
                    toolResult={})  # fmt: skip
    assert copilot._fast(located, made)
    assert not copilot._fast(located, {**prompt, "sessionId": "0196-unknown"})
    copilot.handle(_payload(git_repo, LIGHT, "sessionEnd", reason="complete"))
    assert not copilot._fast(located, prompt)  # ended: the full path resumes it


def test_an_events_file_found_for_the_session_is_left_to_the_full_path(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload without transcriptPath, for a session whose events file bitloops does not
    know yet: the full path finds the file and remembers it."""
    home = tmp_path / "copilot-home"
    monkeypatch.setenv("COPILOT_HOME", str(home))
    bare = {"hookEventName": "userPromptSubmitted", "sessionId": LIGHT, "cwd": str(git_repo)}
    copilot.handle({**bare, "hookEventName": "sessionStart"})
    located = lp.located(git_repo)
    assert copilot._fast(located, {**bare, "prompt": "no file yet"})
    events = home / "session-state" / LIGHT / "events.jsonl"
    events.parent.mkdir(parents=True)
    events.write_text("")
    assert not copilot._fast(located, {**bare, "prompt": "the file is there"})
    copilot.handle({**bare, "prompt": "the file is there"})
    assert copilot._fast(located, {**bare, "prompt": "known now"})


def _hook(repo: Path, payload: dict[str, Any], env: dict[str, str] | None = None) -> None:
    assert_silent(run_hook("copilot", json.dumps(payload).encode(), repo, env))


def _blocked(repo: Path, event: str | None = None) -> dict[str, str]:
    """An environment in which attrs cannot be imported: only the light path can work."""
    blocker = repo.parent / "blocker"
    (blocker / "attr").mkdir(parents=True, exist_ok=True)
    (blocker / "attr" / "__init__.py").write_text("raise ImportError('full path taken')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    if event is not None:
        env[copilot.EVENT_ENV] = event  # as the installer sets it in the hook entry's env
    return env


def _unnamed(repo: Path, name: str, **fields: Any) -> dict[str, Any]:
    """A payload as Copilot sends it to a camelCase hook: its event is not in it."""
    payload = _payload(repo, LIGHT, name, **fields)
    del payload["hookEventName"]
    return payload


def test_the_hook_command_takes_the_light_path(git_repo: Path) -> None:
    """With attrs unimportable, `bitloops hook copilot` still records the planned events,
    the event named by the environment as the installer sets it."""
    _hook(git_repo, _payload(git_repo, LIGHT, "sessionStart", source="new"))
    view = {"toolName": "view", "toolArgs": '{"path": "README.md"}'}
    edit = {"toolName": "edit", "toolArgs": {"path": str(git_repo / "README.md")}}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("userPromptSubmitted", {"prompt": "light"}),
        ("preToolUse", view),
        ("postToolUse", {**view, "toolResult": {"resultType": "success"}}),
        ("postToolUse", {**edit, "toolResult": {"resultType": "success"}}),
        ("preCompact", {"trigger": "manual"}),
    ]
    for name, fields in steps:
        _hook(git_repo, _unnamed(git_repo, name, **fields), _blocked(git_repo, name))
    # The blocker works: an event of the full path fails under it.
    start = _payload(git_repo, LIGHT, "sessionStart", source="resume")
    proc = run_hook("copilot", json.dumps(start).encode(), git_repo, _blocked(git_repo))
    assert b"hook failed" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        events = [(e.kind, e.payload.get("path")) for e in r.draft().events]
    assert events == [
        ("session_start", None),
        ("prompt", None),
        ("tool_use", None),
        ("tool_use", None),
        ("file_change", "README.md"),
        ("compaction", None),
    ]


def test_a_busy_database_spools_on_the_light_path(git_repo: Path) -> None:
    """The write lock held elsewhere: the light path spools the payload, redacted and naming
    its event; the next hook replays it first, in order."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps({"hook_busy_timeout_ms": 300}))
    _hook(git_repo, _payload(git_repo, LIGHT, "sessionStart", source="new"))
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        secret = _unnamed(git_repo, "userPromptSubmitted", prompt=f"key {AWS_KEY}")
        _hook(git_repo, secret, _blocked(git_repo, "userPromptSubmitted"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    data = Path(spool.spool_path(git_repo / ".git")).read_bytes()
    assert AWS_KEY.encode() not in data
    (entry,) = [json.loads(line) for line in data.splitlines()]
    assert entry["agent"] == "copilot"
    assert json.loads(entry["payload"])["hook_event_name"] == "userPromptSubmitted"
    # Replayed by a hook of another event: the spooled payload still says what it was.
    later = _unnamed(git_repo, "preCompact", trigger="manual")
    _hook(git_repo, later, {**os.environ, copilot.EVENT_ENV: "preCompact"})
    assert not spool.pending(git_repo / ".git")
    with bitloops.Repository.open(git_repo) as r:
        events = [(e.kind, e.payload.get("text")) for e in r.draft().events]
    assert [kind for kind, _ in events] == ["session_start", "prompt", "compaction"]
    text = events[1][1]
    assert isinstance(text, str) and text.startswith("key ") and AWS_KEY not in text


def test_a_busy_database_spools_on_the_full_path_naming_the_event(git_repo: Path) -> None:
    """A session start (the full path) while the write lock is held elsewhere: the spooled
    payload names its event, which only the hook's environment said; a hook of another
    event replays it as what it was."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps({"hook_busy_timeout_ms": 300}))
    _hook(git_repo, _payload(git_repo, FULL, "sessionStart", source="new"))  # the database
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        start = _unnamed(git_repo, "sessionStart", source="new")
        _hook(git_repo, start, {**os.environ, copilot.EVENT_ENV: "sessionStart"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    data = Path(spool.spool_path(git_repo / ".git")).read_bytes()
    (entry,) = [json.loads(line) for line in data.splitlines()]
    assert json.loads(entry["payload"])["hookEventName"] == "sessionStart"
    later = _unnamed(git_repo, "preCompact", trigger="manual")
    _hook(git_repo, later, {**os.environ, copilot.EVENT_ENV: "preCompact"})
    assert not spool.pending(git_repo / ".git")
    with bitloops.Repository.open(git_repo) as r:
        kinds = [e.kind for e in r.draft().events if e.session_id == LIGHT]
    assert kinds == ["session_start", "compaction"]


def test_an_invalid_payload_of_an_open_session_is_quarantined(git_repo: Path) -> None:
    """A prompt that is not text, or too large, in an open session: the full path keeps it in
    the quarantine and records nothing."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps({"max_payload_bytes": 4096}))
    _hook(git_repo, _payload(git_repo, LIGHT, "sessionStart", source="new"))
    for prompt in (5, "x" * 10_000):
        raw = json.dumps(_payload(git_repo, LIGHT, "userPromptSubmitted", prompt=prompt))
        proc = run_hook("copilot", raw.encode(), git_repo)
        assert proc.returncode == 0 and proc.stdout == b""
        assert b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        quarantined = r.store.quarantined()
        kinds = [e.kind for e in r.draft().events]
    assert [(agent, source) for _, _, agent, source, _, _ in quarantined] == [
        ("copilot", "hook"),
        ("copilot", "hook"),
    ]
    assert kinds == ["session_start"]
