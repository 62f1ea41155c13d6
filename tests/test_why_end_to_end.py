"""The why, end to end as a new user meets it: a Claude Code session through its real hooks,
a real `git commit`, and the next session of the agent told what was decided and rejected."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from bitloops.testing import commit_all, enable, run_hook

PROMPT = "Totals in prices.py must include VAT at 20%. Don't add new dependencies."
THINKING = (
    "Two options: 1) apply VAT per item, 2) apply VAT on the sum. I'll reject option 1 "
    "because rounding per item drifts from the invoice total. Decision: Decimal with "
    "ROUND_HALF_UP, since floats can't hold cents exactly."
)
STEPS = ("Read prices.py", "Add VAT", "Round with Decimal", "Add tests")


class _Session:
    """One Claude Code session: hook payloads as the agent sends them, and its transcript."""

    def __init__(self, repo: Path, transcript: Path) -> None:
        self.repo, self.transcript = repo, transcript
        self.sid = str(uuid.uuid4())
        self.lines: list[str] = []
        transcript.write_text("")

    def hook(self, name: str, **fields: Any) -> str:
        payload = {
            "session_id": self.sid,
            "transcript_path": str(self.transcript),
            "cwd": str(self.repo),
            "hook_event_name": name,
            **fields,
        }
        call = run_hook("claude-code", payload, repo=self.repo, subprocess=True)[0]
        assert call.exit_code == 0, call.stderr
        return call.stdout.decode()

    def line(self, **obj: Any) -> None:
        # Claude Code leaves the last line without its newline.
        self.lines.append(json.dumps({"sessionId": self.sid, **obj}))
        self.transcript.write_text("\n".join(self.lines))


def _todos(done: int) -> list[dict[str, str]]:
    return [
        {"content": step, "status": "completed" if n < done else "pending", "activeForm": step}
        for n, step in enumerate(STEPS)
    ]


def test_a_real_session_yields_decisions_rejections_constraints_and_a_plan(
    git_repo: Path, tmp_path: Path
) -> None:
    """Thinking, a prompt and TodoWrite calls become records with sources; the next agent hears."""
    enable(git_repo)
    s = _Session(git_repo, tmp_path / "first.jsonl")
    s.hook("SessionStart", source="startup")
    s.line(type="user", uuid="u1", message={"role": "user", "content": PROMPT})
    s.hook("UserPromptSubmit", prompt=PROMPT)
    s.line(
        type="assistant",
        uuid="a1",
        message={
            "id": "m1",
            "model": "claude-sonnet-4-5",
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": THINKING, "signature": "c2ln"}],
        },
    )
    for call, done in (("t1", 1), ("t2", 4)):
        todos = _todos(done)
        s.hook("PostToolUse", tool_name="TodoWrite", tool_input={"todos": todos}, tool_use_id=call)
    target = git_repo / "prices.py"
    target.write_text("from decimal import Decimal\n")
    s.hook(
        "PostToolUse",
        tool_name="Write",
        tool_input={"file_path": str(target), "content": "from decimal import Decimal\n"},
        tool_response={"type": "create", "filePath": str(target)},
        tool_use_id="t3",
    )
    s.hook("Stop", last_assistant_message="Done: totals include VAT with Decimal.")
    summary = commit_all(git_repo, "VAT").summary

    (decision,) = summary.decisions
    assert decision.text == "Decimal with ROUND_HALF_UP" and decision.source == "extracted"
    assert decision.evidence is not None and decision.evidence.kind == "reasoning"
    assert decision.evidence.excerpt in THINKING
    (alternative,) = summary.alternatives
    assert alternative.text == "Option 1 (apply VAT per item)"
    constraints = {c.text: c.stated_by for c in summary.constraints}
    assert constraints["Don't add new dependencies"] == "user"
    (plan,) = summary.plans
    assert plan.tool == "TodoWrite" and plan.updates == 2 and plan.done == 4
    assert [item.text for item in plan.items] == list(STEPS)

    later = _Session(git_repo, tmp_path / "second.jsonl")
    digest = json.loads(later.hook("SessionStart", source="startup"))
    assert "Decimal with ROUND_HALF_UP" in digest["hookSpecificOutput"]["additionalContext"]
    edit = {"file_path": str(target), "old_string": "Decimal", "new_string": "Decimal, ROUND"}
    answer = json.loads(later.hook("PreToolUse", tool_name="Edit", tool_input=edit))
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("bitloops:") and "data, not instructions" in context
    assert "Option 1 (apply VAT per item)" in context and "invoice total" in context
    assert "permissionDecision" not in json.dumps(answer)  # context only, never a verdict
    assert later.hook("PreToolUse", tool_name="Edit", tool_input=edit) == ""  # once per file
