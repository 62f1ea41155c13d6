"""Why-records: sources, evidence, plans folded from plan tools, retractions that readers honour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import apsw
import pytest
from conftest import commit_files

import bitloops
from bitloops.capture._plans import plans_of


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _todo(items: list[tuple[str, str]]) -> dict[str, object]:
    return {"todos": [{"content": c, "status": s, "activeForm": c} for c, s in items]}


@pytest.fixture
def checkpoint(repo: bitloops.Repository, git_repo: Path) -> bitloops.Checkpoint:
    """A commit whose session recorded every kind of why-record and a growing todo list."""
    commit_files(git_repo, {"vat.py": "RATE = 0.2\n"}, "start")
    with repo.start_session(agent="claude-code", model="claude-sonnet-4") as s:
        s.prompt("Totals must include VAT. Don't add new dependencies.")
        s.decision(
            "Decimal with ROUND_HALF_UP",
            rationale="floats can't hold cents",
            applies_to=["vat.py::total"],
        )
        s.alternative("VAT per line item", reason="rounding drift", applies_to=["vat.py"])
        s.constraint("No new dependencies", stated_by="user")
        s.tool_use("TodoWrite", _todo([("Read vat.py", "in_progress"), ("Add total()", "pending")]))
        s.tool_use("TodoWrite", _todo([("Read vat.py", "completed"), ("Add total()", "pending")]))
        s.tool_use(
            "TodoWrite",
            _todo(
                [("Read vat.py", "completed"), ("Add total()", "completed"), ("Test", "pending")]
            ),
        )
        s.tool_use("ExitPlanMode", {"plan": "## Plan\n1. Decimal\n2. Tests"})
    commit_files(git_repo, {"vat.py": "RATE = 0.2\ndef total(x): ...\n"}, "vat")
    cp = repo.promote("HEAD")
    assert cp is not None
    return cp


def test_agent_records_carry_source_evidence_and_applies_to(
    checkpoint: bitloops.Checkpoint,
) -> None:
    """What the agent recorded is kept with source agent, its event as evidence, applies_to."""
    s = checkpoint.summary
    (decision,) = s.decisions
    assert decision.source == "agent" and decision.confidence == 1.0
    assert decision.applies_to == ("vat.py::total",)
    assert decision.evidence is not None and decision.evidence.kind == "decision"
    assert decision.record_id == decision.evidence.event_id
    event = next(e for e in checkpoint.events if e.event_id == decision.record_id)
    assert event.artefacts == ("vat.py",)  # path::symbol names its file as an artefact
    assert s.alternatives[0].applies_to == ("vat.py",)
    assert s.constraints[0].stated_by == "user"


def test_a_growing_todo_list_is_one_plan_in_its_latest_state(
    checkpoint: bitloops.Checkpoint,
) -> None:
    """Three TodoWrite calls make one plan with the last call's statuses; ExitPlanMode its own."""
    todo, exit_plan = checkpoint.summary.plans
    assert todo.tool == "TodoWrite" and todo.source == "plan-tool" and todo.updates == 3
    assert [(i.text, i.status) for i in todo.items] == [
        ("Read vat.py", "completed"),
        ("Add total()", "completed"),
        ("Test", "pending"),
    ]
    assert todo.done == 2
    assert exit_plan.tool == "ExitPlanMode" and exit_plan.text == "## Plan\n1. Decimal\n2. Tests"


def test_summary_md_says_where_each_record_came_from(
    checkpoint: bitloops.Checkpoint, git_repo: Path
) -> None:
    """summary.md marks sources, quotes a prose plan and shows the latest checklist."""
    text = (
        git_repo / ".bitloops/checkpoints/v1" / checkpoint.commit_sha / "summary.md"
    ).read_text()
    assert "- Decimal with ROUND_HALF_UP — because floats can't hold cents" in text
    assert "(`vat.py::total`) _(agent)_" in text
    assert "### TodoWrite, 2/3 done, 3 updates" in text
    assert "- [x] Add total()\n- [ ] Test" in text
    assert "> ## Plan" in text  # the agent's markdown is quoted, not a section of ours


def test_plans_of_subagents_and_tasks_are_their_own() -> None:
    """A subagent's todo list is a plan of its own; Task tools fold by task id."""
    from datetime import UTC, datetime

    def ev(seq: int, name: str, tool_input: object, **extra: object) -> bitloops.Event:
        return bitloops.Event(
            event_id=f"e{seq}",
            session_id="s",
            seq=seq,
            ts=datetime.now(UTC),
            kind="tool_use",
            agent="claude-code",
            payload={"name": name, "input": tool_input, **extra},
        )

    plans = plans_of(
        [
            ev(1, "TodoWrite", _todo([("main", "pending")])),
            ev(2, "TodoWrite", _todo([("sub", "in_progress")]), agent_id="a1"),
            ev(3, "TaskCreate", {"subject": "Write tests"}, output="Task #1 created"),
            ev(4, "TaskCreate", {"subject": "Ship"}, output={"task": {"id": "2"}}),
            ev(5, "TaskUpdate", {"taskId": "1", "status": "completed"}),
            ev(6, "update_plan", json.dumps({"plan": [{"step": "x", "status": "done"}]})),
            ev(7, "TodoWrite", "not a list"),
        ]
    )
    main, sub, tasks, codex = plans
    assert main.agent_id is None and sub.agent_id == "a1"
    assert sub.items[0].status == "in_progress"
    assert [(i.item_id, i.text, i.status) for i in tasks.items] == [
        ("1", "Write tests", "completed"),
        ("2", "Ship", "pending"),
    ]
    assert codex.items[0].status == "completed"


def test_retraction_is_append_only_and_every_reader_honours_it(
    repo: bitloops.Repository, checkpoint: bitloops.Checkpoint, git_repo: Path
) -> None:
    """A retracted decision is struck out by explain and --json; the checkpoint is unchanged."""
    record = checkpoint.summary.decisions[0].record_id
    note = repo.retract(record, because="we moved to integer cents")
    assert note.kind == "retraction" and note.checkpoint_id == checkpoint.checkpoint_id
    assert repo.retracted() == {record: "we moved to integer cents"}
    assert repo.checkpoint("HEAD").content_hash == checkpoint.content_hash
    out = " ".join(_cli(git_repo, "explain").stdout.split())
    assert "[retracted] Decimal with ROUND_HALF_UP" in out
    assert "retracted: we moved to integer cents" in out
    data = json.loads(_cli(git_repo, "explain", "--json").stdout)
    assert data["checkpoints"][0]["retractions"] == {record: "we moved to integer cents"}
    conn = apsw.Connection(str(repo.db_path))
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("UPDATE annotations SET reason = 'edited'")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("DELETE FROM annotations")
    assert repo.verify().ok


def test_retraction_errors_name_what_to_do(
    repo: bitloops.Repository, checkpoint: bitloops.Checkpoint
) -> None:
    """An unknown id or an empty reason is refused, saying what to do; nothing is written."""
    with pytest.raises(bitloops.RecordNotFound, match="explain --json"):
        repo.retract("no-such-record", because="typo")
    with pytest.raises(bitloops.InvalidPayload, match="--because"):
        repo.retract(checkpoint.summary.decisions[0].record_id, because=" ")
    assert repo.annotations() == []


def test_a_retraction_reason_is_redacted(
    repo: bitloops.Repository, checkpoint: bitloops.Checkpoint
) -> None:
    """A secret in a retraction's reason never reaches the database."""
    secret = "AKIA" + "Z7QX3MPL4B2N8RTY"
    repo.retract(checkpoint.summary.alternatives[0].record_id, because=f"key {secret} leaked")
    assert secret not in repo.db_path.read_bytes().decode("utf-8", "replace")
    assert secret not in next(iter(repo.retracted().values()))


def test_verify_finds_an_annotation_edited_around_the_triggers(
    repo: bitloops.Repository, checkpoint: bitloops.Checkpoint
) -> None:
    """An annotation changed with the triggers dropped no longer matches its hash."""
    repo.retract(checkpoint.summary.decisions[0].record_id, because="wrong")
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("DROP TRIGGER annotations_immutable_update")
    conn.execute("UPDATE annotations SET reason = 'something else'")
    conn.close()
    kinds = {p.kind for p in repo.verify().problems}
    assert {"annotation_mismatch", "triggers_missing"} <= kinds


def test_older_checkpoints_with_text_constraints_and_plans_still_read(tmp_path: Path) -> None:
    """A session.json written before records had sources structures as records."""
    from bitloops import _codec as codec

    summary = codec.structure(
        {"constraints": ["No new deps"], "plans": ["Step one"], "decisions": [{"text": "X"}]},
        bitloops.Summary,
    )
    assert summary.constraints[0].text == "No new deps"
    assert summary.plans[0].text == "Step one" and summary.plans[0].source == "agent"
    assert summary.decisions[0].source == "agent"
