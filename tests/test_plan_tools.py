"""Plans from each agent's own plan tool (issue 9, item 1): Claude Code TodoWrite, ExitPlanMode
and TaskCreate/TaskUpdate, Codex update_plan, Gemini CLI write_todos, Cursor TodoWrite (with
merge), Copilot CLI update_todo and OpenCode todowrite; through the hooks and through import,
read from the checkpoint of a real commit: the latest state with statuses, not one per call."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import FIXTURES, fill

from bitloops.testing import assert_silent, commit_all, enable, run_hook

STEPS = ["Write vat() in src/tax.py", "Use vat() in the invoice totals", "Add tests for vat()"]
CODEX_SID = "0199c8e5-3b4c-7d5e-9f6a-7b8c9d0e1f2a"
COPILOT_SID = "6f2e1d0c-8b7a-4f5e-9d3c-2b1a0f9e8d7c"
OPENCODE_SID = "ses_5b2c3d4e5f6aOCp"


def _where(agent: str, tmp: Path) -> Path:
    """Where the agent keeps the session's transcript (its name is part of the format)."""
    places = {
        "claude_code": tmp / "projects" / "-work" / "cc-plans-1.jsonl",
        "codex": tmp / "sessions" / f"rollout-2026-06-06T11-00-00-{CODEX_SID}.jsonl",
        "gemini": tmp / "chats" / "session-2026-06-06T12-00-gmplans1.jsonl",
        "cursor": tmp / "agent-transcripts" / "cur-plans-1" / "cur-plans-1.jsonl",
        "copilot": tmp / "session-state" / COPILOT_SID / "events.jsonl",
        "opencode": tmp / "export.json",
    }
    path = places[agent]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _lines(agent: str, name: str, repo: Path, transcript: Path) -> list[dict[str, Any]]:
    text = fill((FIXTURES / agent / name).read_text("utf-8"), repo, transcript)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _transcript(agent: str, repo: Path, tmp: Path) -> Path:
    """The agent's plans fixture, written where the agent writes it."""
    dest = _where(agent, tmp)
    if agent == "opencode":
        dest.write_text(json.dumps(_export(_lines(agent, "plans_hooks.jsonl", repo, dest))))
    else:
        dest.write_text(fill((FIXTURES / agent / "plans.jsonl").read_text("utf-8"), repo, dest))
    return dest


def _export(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """What `opencode export` writes for the session the plugin payloads describe."""
    info: dict[str, Any] = {}
    messages: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        kind, props = payload["event"]["type"], payload["event"]["properties"]
        if kind == "session.created":
            info = props["info"]
        elif kind == "message.updated":
            messages.setdefault(props["info"]["id"], {"parts": {}})["info"] = props["info"]
        elif kind == "message.part.updated":
            part = props["part"]
            messages[part["messageID"]]["parts"][part["id"]] = part
    return {
        "info": info,
        "messages": [
            {"info": m["info"], "parts": list(m["parts"].values())} for m in messages.values()
        ],
    }


def _hooks(agent: str, repo: Path, tmp: Path) -> None:
    """The agent's plan-tool session through `bitloops hook AGENT`, as the agent runs it."""
    transcript = _transcript(agent, repo, tmp)
    command = {"claude_code": "claude-code"}.get(agent, agent)
    env = {"COPILOT_HOME": str(tmp)} if agent == "copilot" else {}
    for line in _lines(agent, "plans_hooks.jsonl", repo, transcript):
        # Copilot's lines are {"hook": event, "payload": ...}: its entries name the event.
        payload = (line["hook"], line["payload"]) if agent == "copilot" else line
        assert_silent(run_hook(command, payload, repo=repo, subprocess=True, env=env))


def _import(agent: str, repo: Path, tmp: Path) -> None:
    """`bitloops import AGENT FILE` of the agent's plan-tool session."""
    transcript = _transcript(agent, repo, tmp)
    name = {"claude_code": "claude-code"}.get(agent, agent)
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "import", name, str(transcript)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def _plans(agent: str, how: Callable[[str, Path, Path], None], repo: Path, tmp: Path) -> Any:
    enable(repo)
    how(agent, repo, tmp)
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    checkpoint = commit_all(repo, "vat")
    return [p for p in checkpoint.summary.plans if p.source == "plan-tool"]


def _state(plan: Any) -> list[tuple[str, str]]:
    return [(item.text, item.status) for item in plan.items]


WAYS = {"hooks": _hooks, "import": _import}
DONE = [(step, "completed") for step in STEPS]


@pytest.mark.parametrize("way", sorted(WAYS))
def test_claude_code_todo_write_exit_plan_mode_and_tasks(
    git_repo: Path, tmp_path: Path, way: str
) -> None:
    """TodoWrite (3 calls) is one list; ExitPlanMode's text a plan; TaskCreate/Update a list."""
    plans = _plans("claude_code", WAYS[way], git_repo, tmp_path)
    by_tool = {p.tool: p for p in plans}
    # In the order first seen; a task list is named TaskCreate whatever its last call.
    assert [p.tool for p in plans] == ["ExitPlanMode", "TodoWrite", "TaskCreate"]
    todo = by_tool["TodoWrite"]
    assert _state(todo) == [
        (STEPS[0], "completed"),
        (STEPS[1], "completed"),
        (STEPS[2], "in_progress"),
    ]
    assert todo.updates == 3 and todo.session_id == "cc-plans-1"
    prose = by_tool["ExitPlanMode"]
    assert prose.text is not None and prose.text.startswith("## VAT")
    assert [i.status for i in prose.items] == ["pending"] * 3
    tasks = by_tool["TaskCreate"]
    assert _state(tasks) == [("Run the whole test suite", "completed")]
    assert tasks.updates == 3


@pytest.mark.parametrize("way", sorted(WAYS))
def test_codex_update_plan(git_repo: Path, tmp_path: Path, way: str) -> None:
    """update_plan's arguments (a JSON string) are decoded: one plan, its last statuses."""
    (plan,) = _plans("codex", WAYS[way], git_repo, tmp_path)
    assert plan.tool == "update_plan" and plan.session_id == CODEX_SID
    assert _state(plan) == DONE and plan.updates == 3


@pytest.mark.parametrize("way", sorted(WAYS))
def test_gemini_write_todos(git_repo: Path, tmp_path: Path, way: str) -> None:
    """write_todos (AfterTool hooks, or the session file's toolCalls): one plan, cancelled kept."""
    (plan,) = _plans("gemini", WAYS[way], git_repo, tmp_path)
    assert plan.tool == "write_todos" and plan.session_id == "gm-plans-1"
    assert _state(plan) == [*DONE[:2], (STEPS[2], "cancelled")] and plan.updates == 3


@pytest.mark.parametrize("way", sorted(WAYS))
def test_cursor_todo_write_with_merge(git_repo: Path, tmp_path: Path, way: str) -> None:
    """Cursor's TodoWrite with merge: true changes only the todos it names, by id."""
    (plan,) = _plans("cursor", WAYS[way], git_repo, tmp_path)
    assert plan.tool == "TodoWrite" and plan.session_id == "cur-plans-1"
    assert _state(plan) == [*DONE, ("Update the changelog", "pending")]
    assert [i.item_id for i in plan.items] == ["t1", "t2", "t3", "t4"] and plan.updates == 3


@pytest.mark.parametrize("way", sorted(WAYS))
def test_copilot_update_todo_checklist(git_repo: Path, tmp_path: Path, way: str) -> None:
    """update_todo's markdown checklist is read into items with statuses."""
    (plan,) = _plans("copilot", WAYS[way], git_repo, tmp_path)
    assert plan.tool == "update_todo" and plan.session_id == COPILOT_SID
    assert _state(plan) == DONE and plan.updates == 3


@pytest.mark.parametrize("way", sorted(WAYS))
def test_opencode_todowrite(git_repo: Path, tmp_path: Path, way: str) -> None:
    """todowrite through the plugin, or from an `opencode export`: one plan."""
    (plan,) = _plans("opencode", WAYS[way], git_repo, tmp_path)
    assert plan.tool == "todowrite" and plan.session_id == OPENCODE_SID
    assert _state(plan) == DONE and plan.updates == 3


def test_the_summary_shows_the_latest_plan_once(git_repo: Path, tmp_path: Path) -> None:
    """summary.md has the Codex plan once, with its final statuses."""
    from bitloops.checkpoint._summary import render_markdown

    enable(git_repo)
    _import("codex", git_repo, tmp_path)
    (git_repo / "x.txt").write_text("x\n")
    text = render_markdown(commit_all(git_repo, "vat"))
    assert text.count(STEPS[0]) == 1, text
