"""OpenCode plugin payloads on the light path: the same stored lines as the full path,
each part claimed once whichever path took it, spooled when busy, the odd left to the
full path, and a real hook process without attrs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw
import light_path as lp
from agent_fixtures import run_hook

import bitloops
from bitloops.agents import opencode
from bitloops.capture import _spool as spool
from bitloops.testing import assert_silent

FAST = "ses_light0000000FAST"
FULL = "ses_light0000000FULL"
MODEL = "claude-sonnet-4-5"
AWS_KEY = "AKIA" + "Q3EXAMPLE7KEY2ZZ"  # an AWS access key id shape, split so no scanner trips
PATCH = "*** Begin Patch\n*** Add File: src/new.py\n+x = 1\n*** Delete File: old.txt\n"


def _event(repo: Path, kind: str, props: dict[str, Any], role: str | None = None) -> dict[str, Any]:
    return {
        "bitloops_opencode": 1,
        "hook": "event",
        "time": 1764000000000,
        "cwd": str(repo),
        "worktree": str(repo),
        "role": role,
        "event": {"type": kind, "properties": props},
    }


def _for(payload: dict[str, Any], sid: str) -> dict[str, Any]:
    """``payload`` with its session id set to ``sid`` wherever it names one."""
    renamed: dict[str, Any] = json.loads(json.dumps(payload).replace('"SID"', json.dumps(sid)))
    return renamed


def _message(mid: str, **info: Any) -> dict[str, Any]:
    return {"info": {"id": mid, "sessionID": "SID", "role": "assistant", **info}}


def _part(pid: str, mid: str, **part: Any) -> dict[str, Any]:
    return {"part": {"id": pid, "sessionID": "SID", "messageID": mid, **part}}


def _tool(pid: str, tool: str, status: str, tool_input: Any, **state: Any) -> dict[str, Any]:
    state = {"status": status, "input": tool_input, **state}
    return _part(pid, "msg_a1", type="tool", callID=f"call_{pid}", tool=tool, state=state)


def _start(repo: Path, *sids: str) -> None:
    """Create each session and give it its model, through the full path."""
    for sid in sids:
        opencode.handle(_for(_event(repo, "session.created", {"info": {"id": "SID"}}), sid))
        first = _message("msg_a1", modelID=MODEL, providerID="anthropic", time={"created": 1})
        opencode.handle(_for(_event(repo, "message.updated", first, "assistant"), sid))


def _events(repo: Path) -> list[dict[str, Any]]:
    """One payload of each event the light path records (session id "SID")."""
    text = {"type": "text", "time": {"start": 1, "end": 2}}
    edit = {"filePath": str(repo / "README.md"), "oldString": "a", "newString": AWS_KEY}
    task = {"subagent_type": "explore", "description": "look around"}
    done = _message(
        "msg_a1", modelID=MODEL, providerID="anthropic", time={"created": 1, "completed": 2},
        tokens={"input": 10, "output": 5}, cost=0.01,
    )  # fmt: skip
    failed = _message("msg_a2", modelID=MODEL, error={"name": "APIError", "data": {"message": "x"}})
    return [
        _event(repo, "message.part.updated", _part("prt_u1", "msg_u1", type="text",
               text="make it héllo ✓"), "user"),
        _event(repo, "message.part.updated", _part("prt_r1", "msg_a1", type="reasoning",
               text="thinking", time={"start": 1, "end": 2}), "assistant"),
        _event(repo, "message.part.updated", _part("prt_t1", "msg_a1", text="done", **text),
               "assistant"),
        _event(repo, "message.part.updated", _tool("prt_k1", "task", "running", task)),
        _event(repo, "message.part.updated", _tool("prt_k1", "task", "completed", task,
               output="found", metadata={"sessionId": "ses_child"})),
        _event(repo, "message.part.updated", _tool("prt_e1", "edit", "completed", edit,
               output="ok", title="README.md")),
        _event(repo, "message.part.updated", _tool("prt_p1", "apply_patch", "completed",
               {"patchText": PATCH}, output="ok")),
        _event(repo, "message.part.updated", _tool("prt_w1", "write", "completed",
               {"filePath": str(repo / "gone.txt")}, output="ok")),  # gone: deleted
        _event(repo, "message.part.updated", _tool("prt_x1", "bash", "error",
               {"command": "false"}, error="exit 1")),
        _event(repo, "message.part.updated", _part("prt_c1", "msg_a1", type="compaction",
               auto=True)),
        _event(repo, "message.updated", done, "assistant"),
        _event(repo, "message.updated", failed, "assistant"),
        _event(repo, "session.compacted", {"sessionID": "SID"}),
        _event(repo, "session.error", {"sessionID": "SID", "error": {"name": "ProviderAuthError"}}),
    ]  # fmt: skip


def test_the_light_path_stores_what_the_full_path_stores(git_repo: Path) -> None:
    """Each event through _fast and through handle: byte-for-byte the same lines."""
    _start(git_repo, FAST, FULL)
    located = lp.located(git_repo)
    for payload in _events(git_repo):
        assert opencode._fast(located, _for(payload, FAST)), payload["event"]
        opencode.handle(_for(payload, FULL))
    rows = lp.rows(git_repo, starts=False)
    fast = [lp.masked(line, seq=True) for sid, line in rows if sid == FAST]
    full = [lp.masked(line, seq=True) for sid, line in rows if sid == FULL]
    assert fast == full
    events = [json.loads(line) for sid, line in rows if sid == FAST]
    assert [e["kind"] for e in events] == [
        "prompt", "reasoning", "response", "subagent", "tool_use", "subagent", "tool_use",
        "file_change", "tool_use", "file_change", "file_change", "tool_use", "file_change",
        "tool_use", "compaction", "note", "error", "compaction", "error",
    ]  # fmt: skip
    changes = [e["payload"] for e in events if e["kind"] == "file_change"]
    assert [c["change"] for c in changes] == ["modified", "added", "deleted", "deleted"]
    assert all(e["model"] == MODEL for e in events)
    assert all(AWS_KEY not in line for _, line in rows)


def test_a_part_is_claimed_once_whichever_path_takes_it(git_repo: Path) -> None:
    """A part sent again (a second plugin copy) records nothing, on either path."""
    _start(git_repo, FAST)
    located = lp.located(git_repo)
    prompt, _, _, _, _, edit = (_for(p, FAST) for p in _events(git_repo)[:6])
    assert opencode._fast(located, prompt)
    assert opencode._fast(located, prompt)  # nothing to record: OpenCode's dispatch, lightly
    opencode.handle(prompt)
    opencode.handle(edit)
    assert opencode._fast(located, edit)
    assert lp.kinds(git_repo) == ["prompt", "tool_use", "file_change"]


def test_the_light_path_leaves_the_rest_to_the_full_path(git_repo: Path) -> None:
    """Creation, deletion, a new model with something to record, an unknown session:
    declined; a file git must judge is judged from its index."""
    located = lp.located(git_repo)
    prompt = _for(_events(git_repo)[0], FAST)
    assert not opencode._fast(located, prompt)  # no database, no session yet
    _start(git_repo, FAST)
    created = _for(_event(git_repo, "session.created", {"info": {"id": "SID"}}), FAST)
    deleted = _for(_event(git_repo, "session.deleted", {"info": {"id": "SID"}}), FAST)
    other_model = _for(
        _event(git_repo, "message.updated", _message("msg_a9", modelID="gpt-6",
               time={"created": 1, "completed": 2}, tokens={"input": 1})), FAST,
    )  # fmt: skip
    (git_repo / "new.py").write_text("x = 1\n", encoding="utf-8")
    write = _for(
        _event(git_repo, "message.part.updated",
               _tool("prt_w9", "write", "completed", {"filePath": str(git_repo / "new.py")})),
        FAST,
    )  # fmt: skip
    for payload in (created, deleted, other_model):
        assert not opencode._fast(located, payload), payload["event"]["type"]
    assert not opencode._fast(located, {**prompt, "bitloops_opencode": 2})
    assert not opencode._fast(located, {**prompt, "event": {"type": "x"}})
    assert not opencode._fast(located, _for(_events(git_repo)[0], "ses_unknown"))
    assert lp.rows(git_repo, starts=False) == []
    assert opencode._fast(located, write)  # git's index, read here, says it is new
    assert [
        json.loads(line)["payload"].get("change") for _, line in lp.rows(git_repo, starts=False)
    ] == [
        None,
        "added",
    ]
    assert opencode._fast(located, prompt)


def test_a_busy_database_spools_and_the_replay_claims_the_part(git_repo: Path) -> None:
    """Write lock held elsewhere: the hook process spools; the next hook records it once."""
    lp.bounded(git_repo)
    _start(git_repo, FAST)
    edit = _for(_events(git_repo)[5], FAST)
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_silent(run_hook("opencode", json.dumps(edit).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert lp.rows(git_repo, starts=False) == []
    prompt = _for(_events(git_repo)[0], FAST)
    assert_silent(run_hook("opencode", json.dumps(prompt).encode(), git_repo))
    assert lp.kinds(git_repo) == ["tool_use", "file_change", "prompt"]
    assert not spool.pending(git_repo / ".git")
    assert opencode._fast(lp.located(git_repo), edit)  # the replay claimed it: nothing again
    assert lp.kinds(git_repo) == ["tool_use", "file_change", "prompt"]


def test_an_invalid_payload_is_still_quarantined(git_repo: Path) -> None:
    """An event without properties: the light path declines, the full path quarantines."""
    _start(git_repo, FAST)
    bad = _for(_event(git_repo, "message.part.updated", {}), FAST)
    bad["event"]["properties"] = "nope"
    proc = run_hook("opencode", json.dumps(bad).encode(), git_repo)
    assert proc.returncode == 0 and b"quarantine" in proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        ((_, _, agent, source, reason, _),) = r.store.quarantined()
    assert (agent, source) == ("opencode", "hook") and "properties" in reason
    assert lp.rows(git_repo, starts=False) == []


def test_a_real_hook_process_takes_the_light_path(git_repo: Path, no_attrs: dict[str, str]) -> None:
    """With attrs unimportable, a prompt, a tool call and a usage note still go through."""
    _start(git_repo, FAST)
    events = _events(git_repo)
    for payload in (events[0], events[5], events[10]):
        stdin = json.dumps(_for(payload, FAST)).encode()
        assert_silent(run_hook("opencode", stdin, git_repo, no_attrs))
    assert lp.kinds(git_repo) == ["prompt", "tool_use", "file_change", "note"]
    created = _for(_event(git_repo, "session.created", {"info": {"id": "SID"}}), "ses_other")
    proc = run_hook("opencode", json.dumps(created).encode(), git_repo, no_attrs)
    assert proc.returncode == 0
    with bitloops.Repository.open(git_repo) as r:  # the full path could not run
        assert "ses_other" not in {s.session_id for s in r.draft().sessions}


# -- the events that record nothing, or only name a model: light too (#12 item 2) ----------


def _turn(repo: Path) -> list[dict[str, Any]]:
    """One turn as the plugin sends it: the user's message and part, then each assistant
    step's message first seen (naming the model, recording nothing), its parts, its
    message done (the usage); one step on another model."""
    user = {"info": {"id": "msg_u7", "sessionID": "SID", "role": "user", "time": {"created": 1}}}
    text = {"type": "text", "time": {"start": 1, "end": 2}}
    steps: list[dict[str, Any]] = [
        _event(repo, "message.updated", user, "user"),
        _event(repo, "message.part.updated", _part("prt_u7", "msg_u7", type="text",
               text="and now?"), "user"),
    ]  # fmt: skip
    for n, model in enumerate((MODEL, MODEL, "gpt-6")):
        mid = f"msg_s{n}"
        first = _message(mid, modelID=model, providerID="p", time={"created": 1})
        done = _message(mid, modelID=model, providerID="p", time={"created": 1, "completed": 2},
                        tokens={"input": 10 + n, "output": 5})  # fmt: skip
        steps += [
            _event(repo, "message.updated", first, "assistant"),
            _event(repo, "message.part.updated", _part(f"prt_s{n}", mid, text=f"step {n}",
                   **text), "assistant"),
            _event(repo, "message.updated", done, "assistant"),
        ]  # fmt: skip
    return steps


def test_a_whole_turn_takes_the_light_path_and_stores_the_full_paths_lines(
    git_repo: Path,
) -> None:
    """Every payload of a turn, the messages that record nothing and the new model
    included, on the light path: the lines, the sessions' models and their states are
    the full path's."""
    from bitloops.capture import _direct as direct

    for sid in (FAST, FULL):
        opencode.handle(_for(_event(git_repo, "session.created", {"info": {"id": "SID"}}), sid))
    located = lp.located(git_repo)
    for payload in _turn(git_repo):
        assert opencode._fast(located, _for(payload, FAST)), payload["event"]
        opencode.handle(_for(payload, FULL))
    rows = lp.rows(git_repo, starts=True)
    fast = [lp.masked(line, seq=True) for sid, line in rows if sid == FAST]
    assert fast == [lp.masked(line, seq=True) for sid, line in rows if sid == FULL]
    events = [json.loads(line) for sid, line in rows if sid == FAST]
    assert [(e["kind"], e["model"]) for e in events] == [
        ("session_start", None), ("prompt", None), ("response", MODEL), ("note", MODEL),
        ("response", MODEL), ("note", MODEL), ("response", "gpt-6"), ("note", "gpt-6"),
    ]  # fmt: skip
    with bitloops.Repository.open(git_repo) as r:
        assert r.session(FAST).model == r.session(FULL).model == "gpt-6"
    states = [direct.read_state(str(git_repo / ".git"), sid) or {} for sid in (FAST, FULL)]
    for state in states:
        state.pop("session_id")
    assert states[0] == states[1] and states[0]["model"] == "gpt-6"


def test_an_event_that_records_nothing_leaves_the_full_paths_work_to_it(git_repo: Path) -> None:
    """A message first seen of an unknown session (to start) or a deleted one (to
    resume), or with something spooled first: declined, nothing written."""
    located = lp.located(git_repo)
    template = _event(git_repo, "message.updated", _message("msg_n1", modelID=MODEL))
    first = _for(template, FAST)
    _start(git_repo, FULL)
    assert not opencode._fast(located, first)  # unknown: the full path starts it
    _start(git_repo, FAST)
    opencode.handle(_for(_event(git_repo, "session.deleted", {"info": {"id": "SID"}}), FAST))
    stored = lp.rows(git_repo, starts=True)
    assert not opencode._fast(located, first)  # ended: the full path resumes it
    other = _for(template, FULL)
    assert opencode._fast(located, other)
    entry = {"id": "x", "received_at": "2026-06-01T10:00:00Z", "agent": "opencode",
             "cwd": str(git_repo), "payload": json.dumps({"x": 1})}  # fmt: skip
    assert spool.append(git_repo / ".git", entry, durable=False, wait=1.0)
    assert not opencode._fast(located, other)  # the full path replays the spool first
    assert lp.rows(git_repo, starts=True) == stored


def test_a_new_model_with_a_busy_database_is_spooled_and_replayed(git_repo: Path) -> None:
    """A message first seen naming another model while the write lock is held elsewhere:
    the hook process spools it; the next hook stores the model first, then its own event."""
    lp.bounded(git_repo)
    _start(git_repo, FAST)
    first = _for(_event(git_repo, "message.updated", _message("msg_n2", modelID="gpt-6"),
                        "assistant"), FAST)  # fmt: skip
    holder = apsw.Connection(str(git_repo / ".git" / "bitloops" / "bitloops.db"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert_silent(run_hook("opencode", json.dumps(first).encode(), git_repo))
        assert spool.pending(git_repo / ".git")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with bitloops.Repository.open(git_repo) as r:
        assert r.session(FAST).model == MODEL
    prompt = _for(_events(git_repo)[2], FAST)  # a response: it carries the model
    assert_silent(run_hook("opencode", json.dumps(prompt).encode(), git_repo))
    assert not spool.pending(git_repo / ".git")
    ((_, line),) = lp.rows(git_repo, starts=False)
    assert json.loads(line)["model"] == "gpt-6"


def test_a_real_hook_process_records_a_turn_without_attrs(
    git_repo: Path, no_attrs: dict[str, str]
) -> None:
    """With attrs unimportable, the session created by the full path, then a whole turn
    (its messages that record nothing, a new model) through the hook command."""
    opencode.handle(_for(_event(git_repo, "session.created", {"info": {"id": "SID"}}), FAST))
    for payload in _turn(git_repo):
        stdin = json.dumps(_for(payload, FAST)).encode()
        assert_silent(run_hook("opencode", stdin, git_repo, no_attrs))
    assert lp.kinds(git_repo) == ["prompt"] + ["response", "note"] * 3
