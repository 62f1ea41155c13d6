"""Capture fidelity (issue 11, items 7-9): what real transcripts of Cursor, Gemini CLI, Copilot
CLI, Codex and Claude Code carry, kept through import and through the hooks, in the checkpoint
of a real commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import FIXTURES, fill, group_by_kind, run_hook, write_transcript
from conftest import commit_files

import bitloops
from bitloops.agents import copilot
from bitloops.checkpoint._promote import model_identities
from bitloops.testing import assert_silent, commit_all, enable

CURSOR_SID = "cur-fid-1"


def _bitloops(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``bitloops`` command as a user runs it in ``repo``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _hooks(agent: str, repo: Path, payloads: list[dict[str, Any]], **env: str) -> None:
    """Each payload through ``bitloops hook AGENT``, as the agent runs it."""
    full = {**os.environ, **env}
    for payload in payloads:
        assert_silent(run_hook(agent, json.dumps(payload).encode(), repo, full))


def _notes(checkpoint: bitloops.Checkpoint) -> list[Mapping[str, Any]]:
    return [e.payload for e in checkpoint.events if e.kind == "note"]


# -- item 7: Cursor ---------------------------------------------------------------------------


def _cursor_repo(git_repo: Path) -> None:
    """The work tree before the Cursor session, then what its tools did to it."""
    commit_files(git_repo, {"src/prices.py": "def gross(amount):\n    return amount\n"})
    (git_repo / "src" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    (git_repo / "src" / "prices.py").write_text(
        "def gross(amount):\n    return amount + vat(amount)\n"
    )
    (git_repo / "README.md").write_text("# demo\n\nPrices include VAT.\n")


def _cursor_transcript(git_repo: Path, folder: Path, name: str = CURSOR_SID) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_transcript("cursor", "fidelity.jsonl", git_repo, folder / f"{name}.jsonl")


def test_cursor_import_keeps_the_transcript_order_and_its_file_changes(
    git_repo: Path, tmp_path: Path
) -> None:
    """Import: transcript order, no [REDACTED] replies, Write's `path` and StrReplace changes."""
    enable(git_repo)
    _cursor_repo(git_repo)
    folder = tmp_path / "projects" / "work" / "agent-transcripts" / CURSOR_SID
    transcript = _cursor_transcript(git_repo, folder)
    proc = _bitloops(git_repo, "import", "cursor", str(transcript))
    assert proc.returncode == 0, proc.stderr
    again = _bitloops(git_repo, "import", "cursor", str(transcript), "--json")
    assert json.loads(again.stdout)["events_added"] == 0
    checkpoint = commit_all(git_repo, "vat")
    events = [e for e in checkpoint.events if e.session_id == CURSOR_SID]
    assert [e.kind for e in events] == [
        "session_start",
        "prompt",
        "response",
        "tool_use",
        "file_change",
        "tool_use",
        "file_change",
        "response",
        "prompt",
        "reasoning",
        "tool_use",
        "file_change",
        "response",
        "session_end",
    ]
    by_kind = group_by_kind(events)
    assert [e.payload["text"] for e in by_kind["prompt"]] == [
        "Add a vat() helper in src/tax.py and use it in src/prices.py",
        "Also note it in the README",
    ]
    replies = [e.payload["text"] for e in by_kind["response"]]
    assert replies == [
        "I'll write the helper first.",
        "prices.py now adds VAT.",
        "Done: vat() in src/tax.py, used by src/prices.py, noted in the README.",
    ]
    assert [e.payload["text"] for e in by_kind["reasoning"]] == [
        "One line in the README is enough."
    ]
    changes = [(e.payload["path"], e.payload["change"]) for e in by_kind["file_change"]]
    assert changes == [
        ("src/tax.py", "added"),
        ("src/prices.py", "modified"),
        ("README.md", "modified"),
    ]
    assert {f.path for f in checkpoint.files if f.by_agent} == {
        "src/tax.py",
        "src/prices.py",
        "README.md",
    }
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_cursor_transcript_outside_agent_transcripts_is_named_by_session_id(
    git_repo: Path, tmp_path: Path
) -> None:
    """A moved transcript needs --session-id; a wrong id for a named file is refused."""
    enable(git_repo)
    _cursor_repo(git_repo)
    moved = _cursor_transcript(git_repo, tmp_path / "backup", "chat-export")
    proc = _bitloops(git_repo, "import", "cursor", str(moved))
    assert proc.returncode == 2 and "not a cursor transcript" in proc.stderr
    proc = _bitloops(git_repo, "import", "cursor", str(moved), "--session-id", "cur-moved-7")
    assert proc.returncode == 0, proc.stderr
    assert "cursor session cur-moved-7" in proc.stdout
    named = _cursor_transcript(
        git_repo, tmp_path / "agent-transcripts" / "cur-named-2", "cur-named-2"
    )
    proc = _bitloops(git_repo, "import", "cursor", str(named), "--session-id", "other")
    assert proc.returncode == 2 and "names its own session cur-named-2" in proc.stderr
    checkpoint = commit_all(git_repo, "vat")
    assert [s.session_id for s in checkpoint.sessions] == ["cur-moved-7"]
    assert len([e for e in checkpoint.events if e.kind == "file_change"]) == 3


@pytest.mark.parametrize(
    ("agent", "fixture"),
    [
        ("claude_code", "transcript.jsonl"),
        ("codex", "rollout.jsonl"),
        ("gemini", "session.jsonl"),
        ("copilot", "events.jsonl"),
    ],
)
def test_cursor_import_refuses_another_agents_file(
    repo: bitloops.Repository, tmp_path: Path, agent: str, fixture: str
) -> None:
    """Another agent's transcript is not a Cursor one, even in an agent-transcripts folder."""
    from bitloops.capture._importing import import_transcript

    folder = tmp_path / "agent-transcripts" / "x-1"
    folder.mkdir(parents=True)
    path = write_transcript(agent, fixture, Path(repo.toplevel), folder / "x-1.jsonl")
    with pytest.raises(bitloops.TranscriptError, match="not a cursor transcript"):
        import_transcript(repo, "cursor", path)
    with pytest.raises(bitloops.TranscriptError, match="not a cursor transcript"):
        import_transcript(repo, "cursor", path, session_id="x-2")
    assert repo.draft().empty


def test_cursor_live_capture_reads_prompts_and_tools_when_no_hook_does(
    git_repo: Path, tmp_path: Path
) -> None:
    """Only the stop hook registered: the transcript brings prompts, tools and file changes."""
    enable(git_repo)
    _cursor_repo(git_repo)
    folder = tmp_path / "projects" / "work" / "agent-transcripts" / CURSOR_SID
    transcript = _cursor_transcript(git_repo, folder)
    base = {
        "conversation_id": CURSOR_SID,
        "model": "claude-4.5-sonnet",
        "workspace_roots": [str(git_repo)],
        "transcript_path": str(transcript),
    }
    _hooks("cursor", git_repo, [{**base, "hook_event_name": "stop", "status": "completed"}])
    checkpoint = commit_all(git_repo, "vat")
    kinds = [e.kind for e in checkpoint.events]
    assert kinds.count("prompt") == 2 and kinds.count("tool_use") == 3
    assert kinds.count("file_change") == 3
    assert {e.model for e in checkpoint.events if e.kind != "session_start"} == {
        "claude-4.5-sonnet"
    }


def test_a_cursor_session_the_hooks_captured_imports_nothing_twice(
    git_repo: Path, tmp_path: Path
) -> None:
    """Live capture then import: no second prompt, tool call or file change."""
    from test_cursor import SID, run_session

    enable(git_repo)
    transcript = tmp_path / "projects" / "work" / "agent-transcripts" / SID / f"{SID}.jsonl"
    transcript.parent.mkdir(parents=True)
    run_session(git_repo, transcript)
    proc = _bitloops(git_repo, "import", "cursor", str(transcript), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["events_added"] == 0


# -- item 8: model identities -------------------------------------------------------------


def test_cursor_unknown_model_and_a_bare_session_end_leave_no_trace(
    git_repo: Path, tmp_path: Path
) -> None:
    """Hooks: "unknown" is no model, [REDACTED] no reply, a bare sessionEnd no session."""
    enable(git_repo)
    text = (FIXTURES / "cursor" / "fidelity_hooks.jsonl").read_text("utf-8")
    payloads = [json.loads(line) for line in fill(text, git_repo, tmp_path).splitlines()]
    _hooks("cursor", git_repo, payloads, CURSOR_HOME=str(tmp_path / "cursor-home"))
    (git_repo / "prices.py").write_text("def gross_total(x):\n    return x\n")
    checkpoint = commit_all(git_repo, "rename")
    assert [s.session_id for s in checkpoint.sessions] == ["cur-unknown-1"]
    assert checkpoint.models == (bitloops.ModelIdentity(agent="cursor", model="gpt-5"),)
    assert "unknown" not in {e.model for e in checkpoint.events}
    assert [s.model for s in checkpoint.sessions] == ["gpt-5"]
    # [REDACTED] from the hooks is no reply and no thinking
    replies = [e.payload["text"] for e in checkpoint.events if e.kind == "response"]
    assert replies == ["Renamed it in src/prices.py."]
    assert [e for e in checkpoint.events if e.kind == "reasoning"] == []


def test_gemini_and_copilot_bare_session_ends_make_no_session(
    git_repo: Path, tmp_path: Path
) -> None:
    """A SessionEnd / sessionEnd of a session never seen, without its file: no session."""
    enable(git_repo)
    gone = str(tmp_path / "missing.jsonl")
    _hooks(
        "gemini",
        git_repo,
        [
            {
                "hook_event_name": "SessionEnd",
                "session_id": "gm-bare-1",
                "transcript_path": gone,
                "cwd": str(git_repo),
                "timestamp": "2026-06-07T10:00:00.000Z",
                "reason": "exit",
            }
        ],
    )
    bare = {"sessionId": "cp-bare-1", "cwd": str(git_repo), "timestamp": 1780833600000}
    env = {"COPILOT_HOME": str(tmp_path), copilot.EVENT_ENV: "sessionEnd"}
    _hooks("copilot", git_repo, [{**bare, "reason": "complete"}], **env)
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.draft().empty


def test_an_agent_whose_model_came_later_is_one_identity(git_repo: Path, tmp_path: Path) -> None:
    """Gemini CLI names its model only after the session started: one identity, not two."""
    enable(git_repo)
    transcript = write_transcript(
        "gemini", "session.jsonl", git_repo, tmp_path / "session-2026-06-01-gmsessio.jsonl"
    )
    text = (FIXTURES / "gemini" / "hooks.jsonl").read_text("utf-8")
    payloads = [json.loads(line) for line in fill(text, git_repo, transcript).splitlines()]
    _hooks("gemini", git_repo, payloads)
    (git_repo / "notes.txt").write_text("x\n")
    checkpoint = commit_all(git_repo, "greet")
    assert None in {e.model for e in checkpoint.events}  # the start came before the model
    assert checkpoint.models == (bitloops.ModelIdentity(agent="gemini", model="gemini-2.5-pro"),)
    proc = _bitloops(git_repo, "explain", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert "model unknown" not in proc.stdout


def test_model_identities_drop_placeholders_and_modelless_twins() -> None:
    """(agent, None) goes when the agent has a model; placeholders are no model."""
    pairs = [
        ("claude-code", None),
        ("claude-code", "claude-opus-4-5"),
        ("claude-code", "<synthetic>"),
        ("cursor", "unknown"),
        ("my-agent", None),
        ("codex", "default"),
        ("codex", "gpt-5-codex"),
    ]
    assert [(m.agent, m.model) for m in model_identities(pairs)] == [
        ("claude-code", "claude-opus-4-5"),
        ("codex", "gpt-5-codex"),
        ("cursor", None),
        ("my-agent", None),
    ]


# -- item 9: records that carry meaning -----------------------------------------------------

RECAP = "Made the retry delay configurable through the settings; tests still to run."


def _claude_recap(git_repo: Path, tmp_path: Path) -> Path:
    return write_transcript(
        "claude_code", "away_summary.jsonl", git_repo, tmp_path / "cc-recap-1.jsonl"
    )


def test_claude_code_away_summary_is_a_note_on_import(git_repo: Path, tmp_path: Path) -> None:
    """`bitloops import claude-code`: the away_summary recap is a note with its text."""
    enable(git_repo)
    transcript = _claude_recap(git_repo, tmp_path)
    proc = _bitloops(git_repo, "import", "claude-code", str(transcript))
    assert proc.returncode == 0, proc.stderr
    (git_repo / "settings.py").write_text("RETRY_DELAY = 2\n")
    checkpoint = commit_all(git_repo, "retry")
    recaps = [n for n in _notes(checkpoint) if n.get("recap") == "away_summary"]
    assert [n["text"] for n in recaps] == [RECAP]
    assert recaps[0]["transcript_ts"] == "2026-06-02T09:03:10.000Z"


def test_claude_code_away_summary_is_a_note_through_the_hooks(
    git_repo: Path, tmp_path: Path
) -> None:
    """The Stop hook reads the transcript: the recap is a note, once."""
    enable(git_repo)
    transcript = _claude_recap(git_repo, tmp_path)
    base = {"session_id": "cc-recap-1", "transcript_path": str(transcript), "cwd": str(git_repo)}
    _hooks(
        "claude-code",
        git_repo,
        [
            {**base, "hook_event_name": "SessionStart", "source": "startup"},
            {
                **base,
                "hook_event_name": "UserPromptSubmit",
                "prompt": "Make the retry delay configurable",
            },
            {**base, "hook_event_name": "Stop", "stop_hook_active": False},
            {**base, "hook_event_name": "Stop", "stop_hook_active": False},
        ],
    )
    (git_repo / "settings.py").write_text("RETRY_DELAY = 2\n")
    checkpoint = commit_all(git_repo, "retry")
    assert [n["text"] for n in _notes(checkpoint) if n.get("recap")] == [RECAP]


def _gemini_cancelled(checkpoint: bitloops.Checkpoint) -> None:
    notes = [n for n in _notes(checkpoint) if n.get("cancelled")]
    assert [n["text"] for n in notes] == [
        "cancelled tool call: run_shell_command",
        "cancelled tool call: write_file",
        "the user cancelled the request",
    ]
    assert notes[0]["input"] == {"command": "rm -rf build"}
    assert notes[0]["tool_use_id"] == "run_shell_command-1"
    # The calls never ran: no tool_use, no file change for docs/index.md.
    assert [e for e in checkpoint.events if e.kind in ("tool_use", "file_change")] == []


def test_gemini_cancelled_requests_are_notes_on_import(git_repo: Path, tmp_path: Path) -> None:
    """`bitloops import gemini`: cancelled tool calls and the cancelled request are notes."""
    enable(git_repo)
    session = write_transcript(
        "gemini", "cancelled.jsonl", git_repo, tmp_path / "session-2026-06-03-gmcancel.jsonl"
    )
    proc = _bitloops(git_repo, "import", "gemini", str(session))
    assert proc.returncode == 0, proc.stderr
    (git_repo / "x.txt").write_text("x\n")
    _gemini_cancelled(commit_all(git_repo, "docs"))


def test_gemini_cancelled_requests_are_notes_through_the_hooks(
    git_repo: Path, tmp_path: Path
) -> None:
    """AfterAgent reads the session file: the same notes, recorded once."""
    enable(git_repo)
    session = write_transcript(
        "gemini", "cancelled.jsonl", git_repo, tmp_path / "session-2026-06-03-gmcancel.jsonl"
    )
    base = {"session_id": "gm-cancel-1", "transcript_path": str(session), "cwd": str(git_repo)}
    prompt = "Delete the old build folder and regenerate docs"
    _hooks(
        "gemini",
        git_repo,
        [
            {**base, "hook_event_name": "SessionStart", "source": "startup"},
            {**base, "hook_event_name": "BeforeAgent", "prompt": prompt},
            {**base, "hook_event_name": "AfterAgent", "prompt": prompt, "prompt_response": ""},
            {**base, "hook_event_name": "SessionEnd", "reason": "exit"},
        ],
    )
    (git_repo / "x.txt").write_text("x\n")
    _gemini_cancelled(commit_all(git_repo, "docs"))


COPILOT_SID = "5e1d0c9b-7a6f-4e3d-8c2b-1a0f9e8d7c6b"


def _copilot_events(git_repo: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "session-state" / COPILOT_SID
    folder.mkdir(parents=True)
    return write_transcript("copilot", "endings.jsonl", git_repo, folder / "events.jsonl")


def _copilot_endings(checkpoint: bitloops.Checkpoint, git_repo: Path) -> None:
    notes = [n for n in _notes(checkpoint) if n.get("copilot_event")]
    assert [n["text"] for n in notes] == [
        "task complete: Bumped the version to 1.2.0 in pyproject.toml.",
        "Copilot CLI shut down (routine)",
    ]
    assert notes[0]["success"] is True
    (changed,) = notes[1]["codeChanges"]["filesModified"]  # stored relative or absolute
    assert changed in ("pyproject.toml", str(git_repo / "pyproject.toml"))
    assert "modelMetrics" not in notes[1]


def test_copilot_task_complete_and_shutdown_are_notes_on_import(
    git_repo: Path, tmp_path: Path
) -> None:
    """`bitloops import copilot`: session.task_complete and session.shutdown are notes."""
    enable(git_repo)
    events_file = _copilot_events(git_repo, tmp_path)
    proc = _bitloops(git_repo, "import", "copilot", str(events_file))
    assert proc.returncode == 0, proc.stderr
    (git_repo / "pyproject.toml").write_text('version = "1.2.0"\n')
    _copilot_endings(commit_all(git_repo, "bump"), git_repo)


def test_copilot_task_complete_and_shutdown_are_notes_through_the_hooks(
    git_repo: Path, tmp_path: Path
) -> None:
    """agentStop and sessionEnd read the events file: the same notes, once."""
    enable(git_repo)
    events_file = _copilot_events(git_repo, tmp_path)
    base = {"sessionId": COPILOT_SID, "cwd": str(git_repo), "transcriptPath": str(events_file)}
    env = {"COPILOT_HOME": str(tmp_path)}
    for event, extra in [
        ("sessionStart", {"source": "new", "timestamp": 1780556400000}),
        (
            "userPromptSubmitted",
            {"prompt": "Bump the version to 1.2.0", "timestamp": 1780556401000},
        ),
        ("agentStop", {"stopReason": "end_turn", "timestamp": 1780556404000}),
        ("sessionEnd", {"reason": "complete", "timestamp": 1780556409000}),
    ]:
        _hooks("copilot", git_repo, [{**base, **extra}], **env, **{copilot.EVENT_ENV: event})
    (git_repo / "pyproject.toml").write_text('version = "1.2.0"\n')
    _copilot_endings(commit_all(git_repo, "bump"), git_repo)


CODEX_SID = "0199b7d4-2a3b-7c4d-8e5f-6a7b8c9d0e1f"
CIPHER = "gAAAAABpZ0x1c2VydmVyLXNpZGUtZW5jcnlwdGVkLXJlYXNvbmluZy1ibG9iLTAwMQ=="


def _codex_encrypted(checkpoint: bitloops.Checkpoint) -> None:
    from bitloops.checkpoint._summary import render_markdown

    notes = [n for n in _notes(checkpoint) if n.get("reasoning") == "encrypted"]
    assert [n["text"] for n in notes] == ["the model reasoned (encrypted, not readable)"]
    assert notes[0]["transcript_ts"] == "2026-06-05T06:00:05.000Z"
    assert [e for e in checkpoint.events if e.kind == "reasoning"] == []
    text = render_markdown(checkpoint)
    assert CIPHER not in text and CIPHER not in json.dumps([e.payload for e in checkpoint.events])
    assert all(line.strip() not in ("-", "*", ">", "“”") for line in text.splitlines())


def test_codex_encrypted_reasoning_is_noted_on_import(git_repo: Path, tmp_path: Path) -> None:
    """`bitloops import codex`: reasoning with only encrypted content says it happened."""
    enable(git_repo)
    rollout = write_transcript(
        "codex",
        "encrypted.jsonl",
        git_repo,
        tmp_path / f"rollout-2026-06-05T06-00-00-{CODEX_SID}.jsonl",
    )
    proc = _bitloops(git_repo, "import", "codex", str(rollout))
    assert proc.returncode == 0, proc.stderr
    (git_repo / "cache.py").write_text("KEY = 'path'\n")
    _codex_encrypted(commit_all(git_repo, "cache"))


def test_codex_encrypted_reasoning_is_noted_through_the_hooks(
    git_repo: Path, tmp_path: Path
) -> None:
    """The Stop hook reads the rollout: one note that the model reasoned."""
    enable(git_repo)
    rollout = write_transcript(
        "codex",
        "encrypted.jsonl",
        git_repo,
        tmp_path / f"rollout-2026-06-05T06-00-00-{CODEX_SID}.jsonl",
    )
    base = {
        "session_id": CODEX_SID,
        "transcript_path": str(rollout),
        "cwd": str(git_repo),
        "model": "gpt-5-codex",
        "turn_id": "turn-1",
    }
    answer = "The cache key includes a timestamp, so no two requests share it."
    _hooks(
        "codex",
        git_repo,
        [
            {**base, "hook_event_name": "SessionStart", "source": "startup"},
            {
                **base,
                "hook_event_name": "UserPromptSubmit",
                "prompt": "Why does the cache miss on every request?",
            },
            {
                **base,
                "hook_event_name": "Stop",
                "stop_hook_active": False,
                "last_assistant_message": answer,
            },
        ],
    )
    (git_repo / "cache.py").write_text("KEY = 'path'\n")
    _codex_encrypted(commit_all(git_repo, "cache"))
