"""Claude Code capture fidelity (issue 11): real transcript shapes, live and imported alike.

Each fixture under tests/fixtures/claude_code/ is replayed as Claude Code runs it (the
transcript grows line by line while `bitloops hook claude-code` gets the payloads the
agent would send) and imported with `bitloops import`; both end in a checkpoint after a
real `git commit`, and both must hold the same records.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import FIXTURES, group_by_kind
from conftest import commit_files, git

import bitloops
from bitloops.agents import claude_code
from bitloops.capture._importing import import_transcript
from bitloops.testing import assert_silent, commit_all, enable, run_hook

FOLDER = FIXTURES / "claude_code"
PARENT = "c3e9a0f2-4d5b-4c6a-9e8f-7a6b5c4d3e21"
AGENT_ID = "a4f1c2e9b8d7"
EARLIER = "5b0e7c1e-9d2a-4e3f-a1b2-c3d4e5f60718"
RESUMED = "9f3a2d18-6b4c-4a5d-8e7f-901a2b3c4d5e"
# Fields that say when, or where from, rather than what: a hook and a transcript differ there.
PROVENANCE = frozenset(
    {
        "transcript_ts",
        "transcript_uuid",
        "message_id",
        "model",
        "source",
        "duration_ms",
        "agent_transcript_path",
        "stop_hook_active",
        "last_assistant_message",
    }
)


def _fill(text: str, repo: Path) -> str:
    return text.replace("{cwd}", str(repo)).replace("{home}", os.environ["HOME"])


def _place(name: str, repo: Path, dest: Path) -> Path:
    """Copy fixture ``name`` (a file, or for subagents the parent's file and its folder)
    to ``dest``'s folder, filled in for ``repo``; the transcript's path."""
    dest.mkdir(parents=True, exist_ok=True)
    source = FOLDER / name
    if name == "subagents":
        for path in sorted(source.rglob("*")):
            if path.is_file():
                target = dest / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_fill(path.read_text("utf-8"), repo), "utf-8")
        return dest / f"{PARENT}.jsonl"
    target = dest / name
    target.write_text(_fill(source.read_text("utf-8"), repo), "utf-8")
    return target


def _repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A git work tree with ``bitloops enable`` run, holding ``files`` committed."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    commit_files(root, {"README.md": "# demo\n", **(files or {})}, "initial commit")
    enable(root)
    return root


def _hook(repo: Path, payload: dict[str, Any]) -> None:
    assert_silent(run_hook("claude-code", payload, repo=repo, subprocess=True))


def _lines(path: Path) -> tuple[list[str], bool]:
    """The file's lines (without newlines), and whether the last one has its newline."""
    text = path.read_text("utf-8")
    return text.splitlines(), text.endswith("\n")


def _replay(repo: Path, source: Path, transcript: Path, *, end: bool = True) -> None:
    """Claude Code's run of ``source``: its lines written to ``transcript`` one by one, and
    between them the hook payloads the agent sends (subagents run inside their Task)."""
    lines, trailing = _lines(source)
    sid = claude_code.transcript_session_id(source)
    assert sid is not None
    common = {"session_id": sid, "transcript_path": str(transcript), "cwd": str(repo)}
    _hook(repo, {**common, "hook_event_name": "SessionStart", "source": "startup"})
    transcript.write_text("", "utf-8")
    _grow(repo, lines, trailing, transcript, common, source, None)
    if end:
        _hook(repo, {**common, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"})


def _grow(
    repo: Path,
    lines: list[str],
    trailing: bool,
    transcript: Path,
    common: dict[str, Any],
    source: Path,
    agent: dict[str, str] | None,
) -> None:
    calls: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(lines):
        obj = json.loads(raw)
        if obj.get("sessionId", common["session_id"]) != common["session_id"]:
            # An earlier session's line at the top of a resumed file: no hook sends it.
            with open(transcript, "a", encoding="utf-8") as fh:
                fh.write(raw + "\n")
            continue
        message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
        content = message.get("content")
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        texts = [content] if isinstance(content, str) else [b.get("text") for b in blocks]
        prompts = [
            t for t in texts if isinstance(t, str) and t.strip() and claude_code.marker(t) is None
        ]
        if obj["type"] == "user" and not obj.get("isMeta") and prompts and agent is None:
            prompt = "\n\n".join(prompts)
            _hook(repo, {**common, "hook_event_name": "UserPromptSubmit", "prompt": prompt})
        for block in blocks:
            call = calls.get(str(block.get("tool_use_id")))
            if block.get("type") != "tool_result" or call is None:
                continue
            if call["name"] == "Task":  # the subagent runs before its Task's result
                _subagent(repo, common, source, transcript)
        newline = "\n" if trailing or index < len(lines) - 1 else ""
        with open(transcript, "a", encoding="utf-8") as fh:
            fh.write(raw + newline)
        for block in blocks:
            if block.get("type") == "tool_use":
                calls[block["id"]] = block
            call = calls.get(str(block.get("tool_use_id")))
            if block.get("type") != "tool_result" or call is None:
                continue
            tool = {
                **common,
                **(agent or {}),
                "tool_name": call["name"],
                "tool_input": call["input"],
                "tool_use_id": call["id"],
            }
            if block.get("is_error"):
                _hook(
                    repo,
                    {**tool, "hook_event_name": "PostToolUseFailure", "error": block["content"]},
                )
            else:
                result = obj.get("toolUseResult", block.get("content"))
                _hook(repo, {**tool, "hook_event_name": "PostToolUse", "tool_response": result})
        if (
            obj["type"] == "assistant"
            and message.get("stop_reason") == "end_turn"
            and agent is None
        ):
            final = next(b["text"] for b in message["content"] if b.get("type") == "text")
            _hook(
                repo,
                {**common, "hook_event_name": "Stop", "stop_hook_active": False,
                 "last_assistant_message": final},
            )  # fmt: skip


def _subagent(repo: Path, common: dict[str, Any], source: Path, transcript: Path) -> None:
    """The subagent of a Task, as Claude Code runs it: start, its file growing, stop."""
    name = f"agent-{AGENT_ID}.jsonl"
    own = source.with_suffix("") / "subagents" / name
    dest = transcript.with_suffix("") / "subagents" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("", "utf-8")
    who = {"agent_id": AGENT_ID, "agent_type": "Explore"}
    start = {**common, **who, "agent_transcript_path": str(dest)}
    _hook(repo, {**start, "hook_event_name": "SubagentStart"})
    lines, trailing = _lines(own)
    _grow(repo, lines, trailing, dest, common, source, who)
    _hook(repo, {**start, "hook_event_name": "SubagentStop", "stop_hook_active": False})


def _records(events: Any) -> Counter[str]:
    """What a session recorded, apart from times, provenance and hook-only fields."""
    out: Counter[str] = Counter()
    for event in events:
        if event.kind in ("session_start", "session_end"):
            continue
        payload = {k: v for k, v in event.payload.items() if k not in PROVENANCE}
        out[json.dumps([event.session_id, event.kind, payload], sort_keys=True)] += 1
    return out


def _imported(tmp_path: Path, name: str, files: dict[str, str] | None = None) -> Any:
    """``name`` imported into a fresh clone, then committed: its checkpoint."""
    work = _repo(tmp_path / "imported", files)
    transcript = _place(name, work, tmp_path / "imported-transcripts")
    with bitloops.Repository.open(work) as opened:
        import_transcript(opened, "claude-code", transcript)
    (work / "marker.txt").write_text("imported\n", "utf-8")
    return commit_all(work, "imported")


def _live(tmp_path: Path, name: str, files: dict[str, str] | None = None) -> Any:
    """``name`` replayed through the hooks in a fresh clone, then committed."""
    work = _repo(tmp_path / "live", files)
    source = _place(name, work, tmp_path / "live-fixture")
    transcript = tmp_path / "live-transcripts" / source.name
    transcript.parent.mkdir(parents=True)
    _replay(work, source, transcript)
    (work / "marker.txt").write_text("live\n", "utf-8")
    return commit_all(work, "live")


def _texts(events: Any, kind: str, **where: Any) -> list[str]:
    return [
        e.payload["text"]
        for e in events
        if e.kind == kind and all(e.payload.get(k) == v for k, v in where.items())
    ]


def _changes(checkpoint: Any) -> set[tuple[str, str]]:
    return {
        (e.payload["path"], e.payload["change"])
        for e in checkpoint.events
        if e.kind == "file_change"
    }


ROUND_TRIP = {
    "no_trailing_newline.jsonl": {"util.py": "def make_slug(text):\n    return text.lower()\n"},
    "markers.jsonl": {"cli.py": "parser = argparse.ArgumentParser()\n"},
    "failed_edit.jsonl": {"notes.md": "teh notes\n", "CHANGELOG.md": "## Unreleased\n"},
    "subagents": {"config.py": "def load(path):\n"},
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_live_and_imported_give_the_same_records(tmp_path: Path, name: str) -> None:
    """The transcript captured live (hooks while it grows) and imported: the same records."""
    live = _live(tmp_path, name, ROUND_TRIP[name])
    imported = _imported(tmp_path, name, ROUND_TRIP[name])
    assert _records(live.events) == _records(imported.events)
    assert _changes(live) == _changes(imported)
    assert [s.session_id for s in live.sessions] == [s.session_id for s in imported.sessions]


# -- 1. the last line without its newline ---------------------------------------------------


def test_a_last_line_without_newline_is_imported(repo: bitloops.Repository, tmp_path: Path) -> None:
    """The final answer on a last line without "\\n" is the session's last response."""
    path = _place("no_trailing_newline.jsonl", repo.toplevel, tmp_path)
    assert not path.read_bytes().endswith(b"\n")
    import_transcript(repo, "claude-code", path)
    events = repo.draft().events
    assert _texts(events, "response")[-1] == "Renamed the helper to slugify() in util.py."
    assert import_transcript(repo, "claude-code", path).events_added == 0


def test_live_reading_waits_but_the_promotion_takes_the_last_line(tmp_path: Path) -> None:
    """A hook's read leaves it (it may be half written); the commit's catch-up takes it."""
    work = _repo(tmp_path / "work", ROUND_TRIP["no_trailing_newline.jsonl"])
    source = _place("no_trailing_newline.jsonl", work, tmp_path / "fixture")
    transcript = tmp_path / "t" / source.name
    transcript.parent.mkdir()
    lines, _ = _lines(source)
    sid = claude_code.transcript_session_id(source)
    common = {"session_id": sid, "transcript_path": str(transcript), "cwd": str(work)}
    _hook(work, {**common, "hook_event_name": "SessionStart"})
    transcript.write_text("\n".join(lines), "utf-8")  # no Stop hook: the agent was killed
    with bitloops.Repository.open(work) as opened:
        assert sid is not None
        claude_code._catch_up(opened, sid, str(transcript), 2.0)  # as a hook reads
        assert "Renamed the helper" not in json.dumps([e.payload for e in opened.draft().events])
    (work / "util.py").write_text("def slugify(text):\n", "utf-8")
    checkpoint = commit_all(work, "rename")
    assert _texts(checkpoint.events, "response") == ["Renamed the helper to slugify() in util.py."]


# -- 2. subagents ---------------------------------------------------------------------------


def test_subagents_are_imported_with_the_parent(tmp_path: Path) -> None:
    """The parent's import brings its subagent: its calls, texts and edit, with agent_id."""
    checkpoint = _imported(tmp_path, "subagents", ROUND_TRIP["subagents"])
    events = list(checkpoint.events)
    assert {e.session_id for e in events} == {PARENT}
    by_kind = group_by_kind(events)
    sub_tools = [e.payload["name"] for e in by_kind["tool_use"] if e.payload.get("agent_id")]
    assert sub_tools == ["Grep", "Edit"]
    assert [(e.payload["event"], e.payload["agent_type"]) for e in by_kind["subagent"]] == [
        ("start", "Explore"),
        ("stop", "Explore"),
    ]
    assert _texts(events, "note", marker="subagent_prompt", agent_id=AGENT_ID) == [
        "Find where the config file is parsed in this repository and add a docstring to that "
        "function."
    ]
    assert _texts(events, "reasoning", agent_id=AGENT_ID) == [
        "Grep for open( calls of config files."
    ]
    assert ("config.py", "modified") in _changes(checkpoint)
    assert ("tests/test_config.py", "added") in _changes(checkpoint)
    assert _texts(events, "prompt") == [
        "Find where the config is parsed, document it, and add a test for it"
    ]
    assert "config.py" in {f.path for f in checkpoint.files if f.by_agent}


def test_a_subagent_file_alone_is_imported_not_already_imported(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """Importing a subagent's own file records it in its parent's session; the parent's
    import afterwards adds only the rest."""
    parent = _place("subagents", repo.toplevel, tmp_path)
    sub = parent.with_suffix("") / "subagents" / f"agent-{AGENT_ID}.jsonl"
    first = import_transcript(repo, "claude-code", sub)
    assert first.session_id == PARENT and first.events_added > 0
    assert import_transcript(repo, "claude-code", sub).events_added == 0
    second = import_transcript(repo, "claude-code", parent)
    assert second.events_added > 0
    events = repo.draft().events
    assert [e.payload["name"] for e in events if e.kind == "tool_use"].count("Edit") == 1
    assert len(_texts(events, "reasoning", agent_id=AGENT_ID)) == 1


def test_subagents_live_reach_the_checkpoint(tmp_path: Path) -> None:
    """Through the hooks: the subagent's texts, calls and edit are in the parent's checkpoint."""
    checkpoint = _live(tmp_path, "subagents", ROUND_TRIP["subagents"])
    events = list(checkpoint.events)
    sub = [e for e in events if e.payload.get("agent_id") == AGENT_ID]
    assert {e.kind for e in sub} >= {"tool_use", "reasoning", "response", "note", "subagent"}
    assert ("config.py", "modified") in _changes(checkpoint)


# -- 3. resumed sessions --------------------------------------------------------------------


def _sessions(events: Any, kind: str) -> list[tuple[str, str]]:
    return [(e.session_id, e.payload["text"]) for e in events if e.kind == kind]


EARLIER_REPLY = "setup.cfg still uses the old description-file key; it should be long_description."


def test_a_resumed_file_imports_each_record_once_in_its_own_session(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """The earlier session's lines go to it, once; the new ones to the resumed session."""
    earlier = _place("resumed_earlier.jsonl", repo.toplevel, tmp_path)
    resumed = _place("resumed.jsonl", repo.toplevel, tmp_path)
    assert import_transcript(repo, "claude-code", earlier).session_id == EARLIER
    result = import_transcript(repo, "claude-code", resumed)
    assert result.session_id == RESUMED
    events = repo.draft().events
    assert _sessions(events, "response") == [
        (EARLIER, EARLIER_REPLY),
        (RESUMED, "Renamed the key in setup.cfg; the warning is gone."),
    ]
    assert _sessions(events, "prompt") == [
        (EARLIER, "Why does the build print a deprecation warning?"),
        (RESUMED, "Fix it then"),
    ]
    assert import_transcript(repo, "claude-code", resumed).events_added == 0


def test_a_resumed_file_after_the_earlier_session_was_committed(tmp_path: Path) -> None:
    """The earlier session's records in a checkpoint already: the resumed file adds none."""
    work = _repo(tmp_path / "work")
    earlier = _place("resumed_earlier.jsonl", work, tmp_path / "t")
    resumed = _place("resumed.jsonl", work, tmp_path / "t")
    with bitloops.Repository.open(work) as opened:
        import_transcript(opened, "claude-code", earlier)
    (work / "a.txt").write_text("a\n", "utf-8")
    first = commit_all(work, "earlier")
    assert EARLIER_REPLY in _texts(first.events, "response")
    with bitloops.Repository.open(work) as opened:
        result = import_transcript(opened, "claude-code", resumed)
        assert result.other_sessions == ()
    (work / "b.txt").write_text("b\n", "utf-8")
    second = commit_all(work, "resumed")
    assert {e.session_id for e in second.events} == {RESUMED}
    assert EARLIER_REPLY not in _texts(second.events, "response")


def test_a_resumed_file_alone_fills_in_the_earlier_session(
    repo: bitloops.Repository, tmp_path: Path
) -> None:
    """Without the earlier file, its lines in the resumed one still go to their session."""
    resumed = _place("resumed.jsonl", repo.toplevel, tmp_path)
    result = import_transcript(repo, "claude-code", resumed)
    assert (result.session_id, result.other_sessions) == (RESUMED, (EARLIER,))
    events = repo.draft().events
    assert _sessions(events, "response")[0] == (EARLIER, EARLIER_REPLY)
    assert [r for r in _sessions(events, "reasoning") if r[0] == RESUMED] == [
        (RESUMED, "One key to rename in setup.cfg.")
    ]
    infos = {s.session_id: s.status for s in repo.store.sessions()}
    assert infos == {EARLIER: "ended", RESUMED: "ended"}


def test_a_resumed_session_live_records_no_earlier_reply_again(tmp_path: Path) -> None:
    """Live: the earlier session, then the resumed one; each reply once, where it was made."""
    work = _repo(tmp_path / "work", {"setup.cfg": "description-file = README\n"})
    fixtures = tmp_path / "fixtures"
    earlier = _place("resumed_earlier.jsonl", work, fixtures)
    resumed = _place("resumed.jsonl", work, fixtures)
    (tmp_path / "t").mkdir()
    _replay(work, earlier, tmp_path / "t" / f"{EARLIER}.jsonl")
    _replay(work, resumed, tmp_path / "t" / f"{RESUMED}.jsonl")
    (work / "setup.cfg").write_text("long_description = README\n", "utf-8")
    checkpoint = commit_all(work, "fix the key")
    responses = _sessions(checkpoint.events, "response")
    assert responses.count((EARLIER, EARLIER_REPLY)) == 1
    assert [r for r in responses if r[1] == EARLIER_REPLY] == [(EARLIER, EARLIER_REPLY)]
    reasoning = _sessions(checkpoint.events, "reasoning")
    assert len(reasoning) == len(set(reasoning)) == 2


# -- 4. what is not a prompt ----------------------------------------------------------------


def test_markers_are_notes_not_prompts(tmp_path: Path) -> None:
    """Interruptions, slash commands, their output, reminders and hook context are notes
    with a marker, live and imported; "What was asked" holds the two real prompts."""
    for checkpoint in (
        _imported(tmp_path / "a", "markers.jsonl", ROUND_TRIP["markers.jsonl"]),
        _live(tmp_path / "b", "markers.jsonl", ROUND_TRIP["markers.jsonl"]),
    ):
        events = list(checkpoint.events)
        assert _texts(events, "prompt") == [
            "Add a --verbose flag to cli.py",
            "Just edit cli.py directly, no need to run it",
        ]
        markers = Counter(e.payload["marker"] for e in events if "marker" in e.payload)
        assert markers == {
            "interrupt": 2,
            "command": 1,
            "command_output": 1,
            "meta": 1,
            "system_reminder": 1,
            "hook_context": 1,
        }
        assert _texts(events, "note", marker="hook_context") == [
            "Branch policy: never push to main directly."
        ]
        asked = json.dumps(bitloops._codec.unstructure(checkpoint.summary))
        assert "Request interrupted" not in asked and "command-name" not in asked


# -- 5. failed and rejected edits -----------------------------------------------------------


def test_failed_and_rejected_edits_change_no_file(tmp_path: Path) -> None:
    """A refused Edit and a rejected one are the call and an error result, both ways."""
    files = ROUND_TRIP["failed_edit.jsonl"]
    for checkpoint in (
        _imported(tmp_path / "a", "failed_edit.jsonl", files),
        _live(tmp_path / "b", "failed_edit.jsonl", files),
    ):
        assert _changes(checkpoint) == {("notes.md", "modified")}
        errors = [e.payload for e in checkpoint.events if e.kind == "tool_result"]
        assert [(p["tool_use_id"], p["is_error"]) for p in errors] == [
            ("toolu_01Fe1Edit", True),
            ("toolu_01Fe4Edit", True),
        ]
        calls = [e.payload["tool_use_id"] for e in checkpoint.events if e.kind == "tool_use"]
        assert calls == ["toolu_01Fe1Edit", "toolu_01Fe2Read", "toolu_01Fe3Edit", "toolu_01Fe4Edit"]


# -- 6. sessions recorded at another path ---------------------------------------------------


def test_a_transcript_from_another_checkout_maps_its_paths(tmp_path: Path) -> None:
    """A teammate's paths map through the session's cwd; what cannot is reported."""
    work = _repo(tmp_path / "work", {"lib/__init__.py": ""})
    path = _place("other_path.jsonl", work, tmp_path / "t")
    with bitloops.Repository.open(work) as opened:
        result = import_transcript(opened, "claude-code", path)
    assert result.unmapped == ("/home/teammate/.config/demo/editor.toml",)
    (work / "lib" / "new.py").write_text("VALUE = 2\n", "utf-8")
    checkpoint = commit_all(work, "new module")
    assert _changes(checkpoint) == {
        ("lib/new.py", "added"),
        ("README.md", "modified"),
        ("lib/new.py", "modified"),
    }


def test_stored_paths_are_relative_to_the_work_tree_and_home(tmp_path: Path) -> None:
    """No absolute work tree or home path reaches the folder, which stays the stored lines."""
    files = ROUND_TRIP["markers.jsonl"]
    for checkpoint, root in (
        (_live(tmp_path / "b", "markers.jsonl", files), tmp_path / "b" / "live"),
        (_imported(tmp_path / "a", "markers.jsonl", files), tmp_path / "a" / "imported"),
    ):
        folder = root / ".bitloops" / "checkpoints" / "v1" / checkpoint.commit_sha
        text = (folder / "transcript.jsonl").read_text("utf-8")
        assert str(root) not in text and os.environ["HOME"] not in text
        edit = next(
            e for e in checkpoint.events if e.payload.get("tool_use_id") == "toolu_01Mk3Edit"
        )
        assert edit.payload["input"]["file_path"] == "cli.py"
        read = next(
            e for e in checkpoint.events if e.payload.get("tool_use_id") == "toolu_01Mk3Read"
        )
        assert read.payload["input"]["file_path"] == "~/.config/demo/defaults.toml"
        with bitloops.Repository.open(root) as opened:
            assert opened.verify().ok
            stored = [str(r[0]) for r in opened.store.execute("SELECT line FROM checkpoint_events")]
        assert sorted(text.splitlines()) == sorted(stored)


def test_parity_of_the_two_write_paths_with_paths(tmp_path: Path) -> None:
    """The hook's fast path and the full path store the same relative payload."""
    work = _repo(tmp_path / "work")
    sid = "fast-path-1"
    common = {"session_id": sid, "cwd": str(work), "transcript_path": str(tmp_path / "t.jsonl")}
    _hook(work, {**common, "hook_event_name": "SessionStart"})
    call = {
        **common,
        "hook_event_name": "PostToolUse",
        "tool_name": "Read",
        "tool_input": {"file_path": f"{work}/README.md", "note": f"{os.environ['HOME']}/x"},
        "tool_use_id": "toolu_fast",
        "tool_response": {"file": {"filePath": f"{work}/README.md"}},
    }
    _hook(work, call)  # the fast path
    with bitloops.Repository.open(work) as opened:
        claude_code.handle({**call, "tool_use_id": "toolu_full"})  # the full path
        events = [e for e in opened.draft().events if e.kind == "tool_use"]
    payloads = [{k: v for k, v in e.payload.items() if k != "tool_use_id"} for e in events]
    assert payloads[0] == payloads[1]
    assert payloads[0]["input"] == {"file_path": "README.md", "note": "~/x"}


# What the history (not the line reader) records: the kinds whose model a single pass
# must get right from the first line (the first prompt comes before any reply).
HISTORY_KINDS = ("prompt", "tool_use", "tool_result", "file_change", "subagent")


@pytest.mark.parametrize(
    "name",
    ["transcript.jsonl", "subagents", "resumed.jsonl", "markers.jsonl", "failed_edit.jsonl",
     "other_path.jsonl", "plans.jsonl", "away_summary.jsonl", "no_trailing_newline.jsonl"],
)  # fmt: skip
def test_the_single_pass_import_records_what_two_passes_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """One read of each file (reader and history together) gives the same events as the
    reader's pass then the history's, models included; only their order may differ. (A
    session the single pass starts has its first model from the start, so the events
    before the first reply, which two passes left without one, name it too.)"""

    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commit_files(origin, {"README.md": "# demo\n"}, "initial commit")

    def imported(label: str) -> Counter[str]:
        work = tmp_path / label
        shutil.copytree(origin, work)  # the same commits: the same base_commit
        path = _place(name, work, tmp_path / f"{label}-fixtures")
        with bitloops.Repository.open(work) as repo:
            import_transcript(repo, "claude-code", path)
            lines = repo.store.execute("SELECT line FROM live_events")
        seen: Counter[str] = Counter()
        for (line,) in lines:
            event = json.loads(line)
            model = event["model"] if event["kind"] in HISTORY_KINDS else None
            seen[json.dumps([event["session_id"], event["kind"], model, event["payload"]],
                            sort_keys=True)] += 1  # fmt: skip
        return seen

    single = imported("single")
    monkeypatch.delattr(claude_code, "import_pass")
    assert imported("two") == single
