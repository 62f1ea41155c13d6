"""Cursor's light hook path: the same stored lines as the full path, spooled when busy,
invalid payloads still quarantined, and really taken by `bitloops hook cursor`."""

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
from bitloops.agents import cursor
from bitloops.capture import _direct as direct
from bitloops.capture import _spool as spool
from bitloops.testing import assert_silent

LIGHT = "cur-light"
FULL = "cur-other"
MODEL = "claude-4.5-sonnet"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips


def _payload(repo: Path, sid: str, name: str, **fields: Any) -> dict[str, Any]:
    """A Cursor hook payload of session ``sid``, with the fields every payload has."""
    return {
        "hook_event_name": name,
        "conversation_id": sid,
        "model": MODEL,
        "cursor_version": "2.1.0",
        "workspace_roots": [str(repo)],
        "transcript_path": str(repo.parent / f"{sid}.jsonl"),
        "generation_id": "gen-1",
        **fields,
    }


def _started(repo: Path, sid: str) -> None:
    """Start the session and record its first prompt (the full path claims the capture)."""
    cursor.handle(_payload(repo, sid, "sessionStart"))
    cursor.handle(_payload(repo, sid, "beforeSubmitPrompt", prompt="first"))


# One payload (without the common fields) per kind of event the light path plans.
PLANNED: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "prompt": (
        "beforeSubmitPrompt",
        {"prompt": f"deploy with {AWS_KEY}, héllo ✓",
         "attachments": [{"type": "file", "file_path": "{repo}/README.md"}]},
        ["prompt"],
    ),
    "tool_use": (
        "postToolUse",
        {"tool_name": "Read", "tool_use_id": "t-1", "tool_input": {"file_path": "{repo}/a.py"},
         "tool_output": '{"content": "x = 1\\n", "n": 1.5}', "duration": 15},
        ["tool_use"],
    ),
    "failure": (
        "postToolUseFailure",
        {"tool_name": "Read", "tool_use_id": "t-2", "tool_input": {"file_path": "missing.py"},
         "error": "File not found"},
        ["tool_use"],
    ),
    "task": (
        "postToolUse",
        {"tool_name": "Task", "tool_use_id": "t-3",
         "tool_input": {"subagent_type": "explore", "description": "look around"},
         "tool_output": '{"result": "nothing"}'},
        ["tool_use", "subagent"],
    ),
    "subagent_start_tool": (
        "preToolUse",
        {"tool_name": "Task", "tool_use_id": "t-4", "tool_input": {"subagent_type": "explore"}},
        ["subagent"],
    ),
    "shell": (
        "afterShellExecution",
        {"generation_id": "", "command": "pytest -q", "output": "no tests\n", "exit_code": 5},
        ["tool_use"],
    ),
    "mcp": (
        "afterMCPExecution",
        {"tool_name": "search", "tool_input": '{"q": "greet"}', "result_json": '{"hits": 2}'},
        ["tool_use"],
    ),
    "compaction": (
        "preCompact",
        {"trigger": "auto", "context_usage_percent": 87},
        ["compaction"],
    ),
    "subagent": ("subagentStop", {"subagent_type": "explore", "status": "done"}, ["subagent"]),
    "note": ("afterTabFileEdit", {"file_path": "{repo}/a.py", "secret": AWS_KEY}, ["note"]),
}  # fmt: skip


def _filled(repo: Path, fields: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(fields).replace("{repo}", str(repo))
    return dict(json.loads(text))


def _light_as_full(repo: Path, name: str, fields: dict[str, Any], kinds: list[str]) -> list[str]:
    """Event ``name`` of two started sessions, one through the light path (which must take
    it), one through the full path: the light one's stored lines, checked to be the
    ``kinds`` given, redacted, and the full path's bytes but for ids and times."""
    _started(repo, LIGHT)
    _started(repo, FULL)
    before = len(lp.rows(repo, starts=True))
    assert cursor._fast(lp.located(repo), _payload(repo, LIGHT, name, **fields))
    cursor.handle(_payload(repo, FULL, name, **fields))
    rows = lp.rows(repo, starts=True)[before:]
    light = [line for sid, line in rows if sid == LIGHT]
    full = [line for sid, line in rows if sid == FULL]
    assert [json.loads(line)["kind"] for line in light] == kinds
    assert [lp.masked(line, seq=False) for line in light] == [
        lp.masked(line, seq=False) for line in full
    ]
    assert all(AWS_KEY not in line for _, line in rows)
    return light


@pytest.mark.parametrize("case", sorted(PLANNED))
def test_the_light_path_stores_what_the_full_path_stores(git_repo: Path, case: str) -> None:
    """Each planned event kind, light path and full path: the same bytes but for id and time."""
    name, fields, kinds = PLANNED[case]
    fields = _filled(git_repo, fields)
    _light_as_full(git_repo, name, fields, kinds)


def test_before_events_and_a_plain_pre_tool_use_record_nothing_lightly(git_repo: Path) -> None:
    """beforeShellExecution, beforeReadFile and a preToolUse of a plain tool: nothing, and
    no full path needed."""
    _started(git_repo, LIGHT)
    before = lp.rows(git_repo, starts=True)
    located = lp.located(git_repo)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("beforeShellExecution", {"command": "ls"}),
        ("beforeReadFile", {"file_path": str(git_repo / "README.md")}),
        ("preToolUse", {"tool_name": "Read", "tool_input": {"file_path": "README.md"}}),
    ]
    for name, fields in steps:
        assert cursor._fast(located, _payload(git_repo, LIGHT, name, **fields))
    assert lp.rows(git_repo, starts=True) == before


def test_a_shell_command_reported_twice_is_recorded_once(git_repo: Path) -> None:
    """The first of a command's two hooks (afterShellExecution, postToolUse) claims it in
    the session's state and records it, on the light path as on the full one; the other
    then records nothing. The same lines and the same claims either way."""
    _started(git_repo, LIGHT)
    _started(git_repo, FULL)
    located = lp.located(git_repo)
    before = len(lp.rows(git_repo, starts=True))
    steps: list[tuple[str, dict[str, Any]]] = [
        ("afterShellExecution", {"command": "ls", "output": "a\n"}),
        ("postToolUse", {"tool_name": "Shell", "tool_input": {"command": "ls"}}),
        ("postToolUse", {"tool_name": "Shell", "tool_input": {"command": "pwd"}}),
        ("afterShellExecution", {"command": "pwd", "output": "/\n"}),
    ]
    for name, fields in steps:
        assert cursor._fast(located, _payload(git_repo, LIGHT, name, **fields)), name
        cursor.handle(_payload(git_repo, FULL, name, **fields))
    rows = lp.rows(git_repo, starts=True)[before:]
    light = [line for sid, line in rows if sid == LIGHT]
    full = [line for sid, line in rows if sid == FULL]
    assert [json.loads(line)["kind"] for line in light] == ["tool_use", "tool_use"]
    assert [lp.masked(line, seq=False) for line in light] == [
        lp.masked(line, seq=False) for line in full
    ]
    common = str(git_repo / ".git")
    seen = {sid: (direct.read_state(common, sid) or {}).get("seen") for sid in (LIGHT, FULL)}
    assert seen[LIGHT] == seen[FULL] and len(seen[LIGHT] or ()) == 3  # capture, ls, pwd


def test_the_light_path_gives_way_to_the_full_path(git_repo: Path) -> None:
    """Session start, a new model or transcript, an unknown or ended session: the full
    path records them."""
    located = lp.located(git_repo)
    prompt = _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt="hi")
    assert not cursor._fast(located, prompt)  # no database, no session
    cursor.handle(_payload(git_repo, LIGHT, "sessionStart"))
    assert cursor._fast(located, prompt)  # the first capture, claimed in the state
    state = direct.read_state(str(git_repo / ".git"), LIGHT) or {}
    assert state.get("seen") == ["hooks:capture"]
    assert cursor._fast(located, prompt)
    steps: list[tuple[str, dict[str, Any]]] = [
        # stop, sessionEnd, the answers, thinking and file edits: Cursor's own dispatch on
        # the light path (below, and test_catch_up_path)
        ("sessionStart", {}),
        ("afterFileEdit", {"file_path": 5}),  # invalid: quarantined by the full path
        ("beforeSubmitPrompt", {"prompt": 5}),  # invalid: quarantined by the full path
        ("beforeSubmitPrompt", {"prompt": "hi", "model": "gpt-5"}),  # a new model
        ("beforeSubmitPrompt", {"prompt": "hi", "transcript_path": "/elsewhere.jsonl"}),
        ("preToolUse", {"tool_name": ["Task"]}),  # too odd to plan
        ("Not An Event", {}),
    ]
    for name, fields in steps:
        assert not cursor._fast(located, _payload(git_repo, LIGHT, name, **fields)), name
    assert not cursor._fast(located, {**prompt, "conversation_id": "cur-unknown"})
    cursor.handle(_payload(git_repo, LIGHT, "sessionEnd", reason="user_close"))
    assert not cursor._fast(located, prompt)  # ended: the full path resumes it


def _hook(repo: Path, payload: dict[str, Any], env: dict[str, str] | None = None) -> None:
    assert_silent(run_hook("cursor", json.dumps(payload).encode(), repo, env))


def _blocked(repo: Path) -> dict[str, str]:
    """An environment in which attrs cannot be imported: only the light path can work."""
    blocker = repo.parent / "blocker"
    (blocker / "attr").mkdir(parents=True, exist_ok=True)
    (blocker / "attr" / "__init__.py").write_text("raise ImportError('full path taken')\n")
    return {**os.environ, "PYTHONPATH": str(blocker)}


def _session_started_by_hooks(repo: Path) -> None:
    _hook(repo, _payload(repo, LIGHT, "sessionStart"))
    _hook(repo, _payload(repo, LIGHT, "beforeSubmitPrompt", prompt="first"))


def test_the_hook_command_takes_the_light_path(git_repo: Path) -> None:
    """With attrs unimportable, `bitloops hook cursor` still records the planned events."""
    _session_started_by_hooks(git_repo)
    env = _blocked(git_repo)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("beforeShellExecution", {"command": "ls"}),
        ("preToolUse", {"tool_name": "Read", "tool_input": {"file_path": "README.md"}}),
        ("postToolUse", {"tool_name": "Read", "tool_input": {"file_path": "README.md"}}),
        ("beforeSubmitPrompt", {"prompt": "light"}),
        ("preCompact", {"trigger": "manual"}),
        ("afterAgentThought", {"text": "hmm"}),
        ("afterFileEdit", {"file_path": str(git_repo / "README.md"), "edits": []}),
        ("afterAgentResponse", {"text": "done"}),
    ]
    for name, fields in steps:
        _hook(git_repo, _payload(git_repo, LIGHT, name, **fields), env)
    # The blocker works: an event of the full path (a new model to store) fails under it.
    other = _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt="hi", model="gpt-5")
    proc = run_hook("cursor", json.dumps(other).encode(), git_repo, env)
    assert b"hook failed" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        events = [(e.kind, e.model) for e in r.draft().events]
    assert events == [
        ("session_start", MODEL),
        ("prompt", MODEL),
        ("tool_use", MODEL),
        ("prompt", MODEL),
        ("compaction", MODEL),
        ("reasoning", MODEL),
        ("file_change", MODEL),
        ("response", MODEL),
    ]


def test_a_busy_database_spools_on_the_light_path(git_repo: Path) -> None:
    """The write lock held elsewhere: the light path spools the payload, redacted; the next
    hook replays it first, in order."""
    lp.bounded(git_repo)
    _session_started_by_hooks(git_repo)
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        secret = _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt=f"key {AWS_KEY}")
        _hook(git_repo, secret, _blocked(git_repo))  # spooled without attrs: the light path
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    data = Path(spool.spool_path(git_repo / ".git")).read_bytes()
    assert AWS_KEY.encode() not in data
    (entry,) = [json.loads(line) for line in data.splitlines()]
    assert entry["agent"] == "cursor"
    _hook(git_repo, _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt="later"))
    assert not spool.pending(git_repo / ".git")
    with bitloops.Repository.open(git_repo) as r:
        prompts = [e.payload["text"] for e in r.draft().events if e.kind == "prompt"]
    assert [prompts[0], prompts[2]] == ["first", "later"]
    assert prompts[1].startswith("key ") and AWS_KEY not in prompts[1]


def test_a_command_claimed_then_spooled_is_recorded_by_its_replay(git_repo: Path) -> None:
    """The full path claims a shell command (its twin hook must not record it again)
    before writing it; when the write then finds the database busy and the payload is
    spooled, the claim is given back, so the replay records the command."""
    lp.bounded(git_repo)
    _session_started_by_hooks(git_repo)
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        # A transcript path the session's state does not hold yet: the light path leaves
        # the payload to the full path, which claims the command before its first write.
        shell = _payload(git_repo, LIGHT, "afterShellExecution", command="make", output="ok\n")
        _hook(git_repo, {**shell, "transcript_path": str(git_repo.parent / "moved.jsonl")})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert spool.pending(git_repo / ".git")
    _hook(git_repo, _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt="later"))
    assert not spool.pending(git_repo / ".git")
    with bitloops.Repository.open(git_repo) as r:
        commands = [e.payload for e in r.draft().events if e.kind == "tool_use"]
    assert [c["input"]["command"] for c in commands] == ["make"]


def test_an_invalid_payload_of_an_open_session_is_quarantined(git_repo: Path) -> None:
    """A prompt that is not text, or too large, in an open session: the full path keeps it in
    the quarantine and records nothing."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps({"max_payload_bytes": 4096}))
    _session_started_by_hooks(git_repo)
    for prompt in (5, "x" * 10_000):
        raw = json.dumps(_payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt=prompt))
        proc = run_hook("cursor", raw.encode(), git_repo)
        assert proc.returncode == 0 and proc.stdout == b""
        assert b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        quarantined = r.store.quarantined()
        kinds = [e.kind for e in r.draft().events]
    assert [(agent, source) for _, _, agent, source, _, _ in quarantined] == [
        ("cursor", "hook"),
        ("cursor", "hook"),
    ]
    assert kinds == ["session_start", "prompt"]


# -- each turn's answer, thinking and file edits: Cursor's own dispatch, light (#12 item 2) --

#: (event, fields, the kinds it records) of the per-turn events the light path now takes.
TURNS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "response": ("afterAgentResponse", {"text": f"Done: key {AWS_KEY}, héllo ✓"}, ["response"]),
    "thought": ("afterAgentThought", {"text": "check the retry path", "duration_ms": 812},
                ["reasoning"]),
    "redacted thought": ("afterAgentThought", {"text": "[REDACTED]"}, []),
    "edit": ("afterFileEdit", {"file_path": "{repo}/README.md",
                               "edits": [{"old_string": "a", "new_string": AWS_KEY}]},
             ["file_change"]),
    "new file": ("afterFileEdit", {"file_path": "{repo}/new.py", "edits": []}, ["file_change"]),
    "too large edits": ("afterFileEdit", {"file_path": "{repo}/README.md",
                                          "edits": [{"new_string": "x" * 9000}]},
                        ["file_change"]),
    "outside": ("afterFileEdit", {"file_path": "/elsewhere/a.py"}, []),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(TURNS))
def test_each_turns_events_store_what_the_full_path_stores(git_repo: Path, case: str) -> None:
    """An answer, a thought, a file edit (tracked, new, with edits too large to keep, outside
    the work tree): the light path takes it and stores the full path's bytes."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(json.dumps({"max_payload_bytes": 4096}))
    (git_repo / "new.py").write_text("x = 1\n", encoding="utf-8")
    name, fields, kinds = TURNS[case]
    fields = _filled(git_repo, fields)
    light = _light_as_full(git_repo, name, fields, kinds)
    if case in ("new file", "too large edits"):
        (event,) = (json.loads(line) for line in light)
        assert event["payload"] == {
            "path": "new.py" if case == "new file" else "README.md",
            "change": "added" if case == "new file" else "modified",
        }


def test_an_answer_the_transcript_brought_is_recorded_once_either_way(
    git_repo: Path, tmp_path: Path
) -> None:
    """The answer and the thought arrive by hook and in the transcript, in either order: each
    is recorded once, with the same lines, whether the hooks take the light or full path."""
    from bitloops.testing import CursorTranscript

    for sid in (LIGHT, FULL):
        path = git_repo.parent / f"{sid}.jsonl"
        path.write_text("", encoding="utf-8")
        _started(git_repo, sid)
        transcript = CursorTranscript(sid, cwd=git_repo).thinking("weigh it").say("First.")
        transcript.say("Second.")
        path.write_text(transcript.text(), encoding="utf-8")
        steps: list[tuple[str, dict[str, Any]]] = [
            ("afterAgentResponse", {"text": "First."}),  # before the transcript is read
            ("stop", {"status": "completed"}),
            ("afterAgentThought", {"text": "weigh it"}),  # the transcript brought it
            ("afterAgentResponse", {"text": "Second."}),
            ("afterAgentResponse", {"text": "Third, hook only."}),
        ]
        for name, fields in steps:
            payload = _payload(git_repo, sid, name, **fields)
            if sid == LIGHT:
                assert cursor._fast(lp.located(git_repo), payload), name
            else:
                cursor.handle(payload)
    rows = lp.rows(git_repo, starts=True)
    light = [lp.masked(line, seq=False) for sid, line in rows if sid == LIGHT]
    full = [lp.masked(line, seq=False) for sid, line in rows if sid == FULL]
    assert light == full
    texts = [json.loads(line)["payload"].get("text") for line in light]
    assert [texts.count(t) for t in ("First.", "Second.", "weigh it", "Third, hook only.")] == [
        1,
        1,
        1,
        1,
    ]


def test_each_turns_events_leave_the_full_paths_work_to_it(git_repo: Path) -> None:
    """An unknown session (to start), an ended one (to resume), a spooled payload first,
    an invalid one: the light path writes nothing and says so."""
    located = lp.located(git_repo)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("afterAgentResponse", {"text": "done"}),
        ("afterAgentThought", {"text": "hmm"}),
        ("afterFileEdit", {"file_path": str(git_repo / "README.md")}),
    ]
    _started(git_repo, FULL)
    stored = lp.rows(git_repo, starts=True)
    for name, fields in steps:
        assert not cursor._fast(located, _payload(git_repo, "cur-unknown", name, **fields))
    cursor.handle(_payload(git_repo, FULL, "sessionEnd", reason="user_close"))
    stored = lp.rows(git_repo, starts=True)
    for name, fields in steps:
        assert not cursor._fast(located, _payload(git_repo, FULL, name, **fields)), name
    assert lp.rows(git_repo, starts=True) == stored
    _started(git_repo, LIGHT)
    entry = {"id": "x", "received_at": "2026-06-01T10:00:00Z", "agent": "cursor",
             "cwd": str(git_repo), "payload": json.dumps({"x": 1})}  # fmt: skip
    assert spool.append(git_repo / ".git", entry, durable=False, wait=1.0)
    stored = lp.rows(git_repo, starts=True)
    for name, fields in steps:
        assert not cursor._fast(located, _payload(git_repo, LIGHT, name, **fields)), name
    assert lp.rows(git_repo, starts=True) == stored


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("afterFileEdit", {"file_path": 5}),
        ("afterAgentResponse", {"text": "done", "model": 5}),
        ("afterAgentThought", {"text": "hmm", "generation_id": ["g"]}),
    ],
)
def test_an_invalid_turn_event_is_still_quarantined(
    git_repo: Path, name: str, fields: dict[str, Any]
) -> None:
    """A field of the wrong type: the light path declines, the hook quarantines it."""
    _session_started_by_hooks(git_repo)
    bad = _payload(git_repo, LIGHT, name, **fields)
    assert not cursor._fast(lp.located(git_repo), bad)
    proc = run_hook("cursor", json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        ((_, _, who, source, _, _),) = r.store.quarantined()
        kinds = [e.kind for e in r.draft().events]
    assert (who, source) == ("cursor", "hook")
    assert kinds == ["session_start", "prompt"]


@pytest.mark.parametrize("name", ["afterAgentResponse", "afterAgentThought", "afterFileEdit"])
def test_a_busy_database_spools_each_turns_event(git_repo: Path, name: str) -> None:
    """The write lock held elsewhere: the light path (attrs blocked) spools the payload,
    redacted; the next hook replays it first, once."""
    lp.bounded(git_repo)
    _session_started_by_hooks(git_repo)
    fields = {"text": f"key {AWS_KEY}", "file_path": str(git_repo / "README.md"),
              "edits": [{"new_string": AWS_KEY}]}  # fmt: skip
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        _hook(git_repo, _payload(git_repo, LIGHT, name, **fields), _blocked(git_repo))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    data = Path(spool.spool_path(git_repo / ".git")).read_bytes()
    assert AWS_KEY.encode() not in data
    assert [json.loads(line)["agent"] for line in data.splitlines()] == ["cursor"]
    assert lp.kinds(git_repo) == ["prompt"]
    _hook(git_repo, _payload(git_repo, LIGHT, "beforeSubmitPrompt", prompt="later"))
    assert not spool.pending(git_repo / ".git")
    kind = {"afterAgentResponse": "response", "afterAgentThought": "reasoning"}.get(
        name, "file_change"
    )
    assert lp.kinds(git_repo) == ["prompt", kind, "prompt"]
    assert all(AWS_KEY not in line for _, line in lp.rows(git_repo, starts=True))
