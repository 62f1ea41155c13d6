"""`bitloops record`: why-records from scripts and agents without MCP, in real repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from secrets_corpus import SECRETS

import bitloops
from bitloops.testing import commit_all, enable

AWS_KEY = next(s.secret for s in SECRETS if s.family == "aws-access-key")


def agents(records: Any) -> list[Any]:
    """The records the agent made itself (source agent), not those bitloops inferred."""
    return [r for r in records if r.source == "agent"]


def run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bitloops ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def record(cwd: Path, *args: str, stdin: str | None = None) -> dict[str, Any]:
    """``bitloops record ARGS --json`` that must succeed; its JSON output."""
    proc = run(cwd, "record", *args, "--json", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_records_go_into_the_open_session_and_the_checkpoint(git_repo: Path) -> None:
    """Each kind lands in the agent's open session and, after a real commit, its checkpoint."""
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        session = repo.start_session("codex", "gpt-5")
        session.prompt("Totals must include VAT")
    decision = record(
        git_repo,
        "decision",
        "Decimal with ROUND_HALF_UP",
        "--because",
        "floats cannot hold cents",
        "--applies-to",
        "prices.py::total",
        "--applies-to",
        "prices.py",
        "--agent",
        "codex",
    )
    assert decision["session_id"] == session.session_id
    assert decision["agent"] == "codex"
    # Without --agent: the most recently active open session, whatever its agent.
    alternative = record(git_repo, "alternative", "Floats", "--because", "rounding drift")
    constraint = record(git_repo, "constraint", "No new dependencies", "--stated-by", "user")
    plan = record(git_repo, "plan", "-", stdin="1. test 2. code 3. docs\n")
    assert {r["session_id"] for r in (alternative, constraint, plan)} == {session.session_id}

    (git_repo / "prices.py").write_text("def total(items):\n    return sum(items)\n")
    cp = commit_all(git_repo, "Decimal totals")
    (d,) = agents(cp.summary.decisions)
    assert (d.text, d.rationale, d.source, d.record_id) == (
        "Decimal with ROUND_HALF_UP",
        "floats cannot hold cents",
        "agent",
        decision["record_id"],
    )
    assert tuple(d.applies_to) == ("prices.py::total", "prices.py")
    (a,) = agents(cp.summary.alternatives)
    assert (a.text, a.reason) == ("Floats", "rounding drift")
    (k,) = agents(cp.summary.constraints)
    assert (k.text, k.stated_by) == ("No new dependencies", "user")
    (p,) = agents(cp.summary.plans)
    assert p.text == "1. test 2. code 3. docs"


def test_a_new_session_when_none_is_open(git_repo: Path) -> None:
    """No open session: --agent starts one of that agent, and without it one of bitloops-cli."""
    first = record(git_repo, "decision", "Keep it small", "--agent", "gemini")
    again = record(git_repo, "constraint", "Python 3.11", "--agent", "gemini")
    assert first["agent"] == "gemini" and again["session_id"] == first["session_id"]
    with bitloops.Repository.open(git_repo) as repo:
        repo.session(first["session_id"]).end()
    other = record(git_repo, "decision", "Use argparse")
    assert other["agent"] == "bitloops-cli"
    assert other["session_id"] != first["session_id"]
    proc = run(git_repo, "record", "decision", "Plain text out")
    assert proc.returncode == 0
    assert proc.stdout.startswith("decision ") and "recorded in session" in proc.stdout


def test_retract_marks_a_record_wrong(git_repo: Path) -> None:
    """`record retract ID --because WHY` appends a retraction by the user; unknown ids fail."""
    rid = record(git_repo, "decision", "Cache totals globally")["record_id"]
    out = record(git_repo, "retract", rid, "--because", "globals break the tests")
    assert out["record_id"] == rid and out["reason"] == "globals break the tests"
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.retracted() == {rid: "globals break the tests"}
        (note,) = repo.annotations(kind="retraction")
    assert note.body == {"by": "user"}
    proc = run(git_repo, "record", "retract", "0190-no-such-record", "--because", "x")
    assert proc.returncode == 2
    assert "no why-record" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["constraint", "x", "--because", "y"], "--because is for decision, alternative"),
        (["plan", "x", "--because", "y"], "--because is for decision, alternative"),
        (["decision", "x", "--stated-by", "user"], "--stated-by is for constraints"),
        (["plan", "x", "--applies-to", "a.py"], "--applies-to is for decision"),
        (["retract", "some-id"], "--because WHY"),
        (["retract", "some-id", "--because", "x", "--agent", "codex"], "an id and --because"),
        (["decision", "x", "--applies-to", ""], "applies_to"),
        (["decision", "x\udc80"], "not valid UTF-8"),
    ],
)
def test_bad_usage_is_exit_2_with_one_line(git_repo: Path, args: list[str], message: str) -> None:
    """Options that do not fit the kind are refused with a clear line; nothing is recorded."""
    proc = run(git_repo, "record", *args)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (git_repo / ".git" / "bitloops" / "bitloops.db").exists() or _no_records(git_repo)


def _no_records(repo_path: Path) -> bool:
    with bitloops.Repository.open(repo_path) as repo:
        kinds = {e.kind for e in repo.draft().events}
    return not kinds & {"decision", "alternative", "constraint", "plan"}


def test_outside_a_repository(tmp_path: Path) -> None:
    """Outside a git work tree: exit 2 and a message saying so."""
    proc = run(tmp_path, "record", "decision", "x")
    assert proc.returncode == 2
    assert "git" in proc.stderr and "Traceback" not in proc.stderr


def test_a_secret_in_the_reason_is_redacted(git_repo: Path) -> None:
    """An AWS key given with --because never reaches the database."""
    record(git_repo, "decision", "Use the environment", "--because", f"key was {AWS_KEY}")
    with bitloops.Repository.open(git_repo) as repo:
        (event,) = [e for e in repo.draft().events if e.kind == "decision"]
        assert AWS_KEY not in json.dumps(event.payload)
    # Read once the connection is closed (its -shm file goes with it).
    files = [p for p in (git_repo / ".git" / "bitloops").iterdir() if p.is_file()]
    assert any(p.name == "bitloops.db" for p in files)
    for path in files:
        assert AWS_KEY.encode() not in path.read_bytes(), path


def test_agent_session_is_the_most_recently_active_open_one(git_repo: Path) -> None:
    """Repository.agent_session: the open session of that agent with the latest event wins."""
    with bitloops.Repository.open(git_repo) as repo:
        older = repo.start_session("claude-code")
        newer = repo.start_session("claude-code")
        newer.prompt("started later")
        older.prompt("but this one was active last")
        repo.start_session("codex").prompt("another agent, even later")
        assert repo.agent_session("claude-code").session_id == older.session_id
        older.end()
        assert repo.agent_session("claude-code").session_id == newer.session_id
        newer.end()
        fresh = repo.agent_session("claude-code")
        assert fresh.session_id not in (older.session_id, newer.session_id)
        assert fresh.agent == "claude-code"
        with pytest.raises(bitloops.InvalidPayload):
            repo.agent_session("  ")


def test_an_unknown_agent_or_empty_text_is_refused(git_repo: Path) -> None:
    """--agent must name a known agent and the text must say something; nothing is written."""
    for args in (("decision", "x", "--agent", "../../evil"), ("decision", "  "), ("plan", "")):
        proc = subprocess.run(
            [sys.executable, "-m", "bitloops", "record", *args],
            cwd=git_repo,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "unknown agent" in proc.stderr or "is empty" in proc.stderr
    assert not (git_repo / ".git" / "bitloops").exists()
