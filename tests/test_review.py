"""bitloops review BASE..HEAD: a pull request's reasoning, in Markdown or JSON, within 60,000."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import commit_files, git

import bitloops
from bitloops.context._review import MAX_CHARS, render_markdown, review


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bitloops ARGS`` in ``repo``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )


def three_commits(repo: bitloops.Repository, git_repo: Path) -> tuple[str, list[str]]:
    """Base, then an agent commit, a hand-made one and another agent commit."""
    base = git(git_repo, "rev-parse", "HEAD").strip()
    with repo.start_session(agent="claude-code", model="claude-opus-4") as s:
        s.prompt("Make login safer")
        s.decision("Hash with bcrypt", rationale="slow on purpose", applies_to=["auth.py"])
        s.alternative("Plain SHA-256", reason="too fast")
        s.constraint("Keep the API stable", stated_by="user")
    first = commit_files(git_repo, {"auth.py": "def login():\n    pass\n"}, "Add login")
    repo.promote()
    second = commit_files(git_repo, {"notes.md": "by hand\n"}, "Notes")
    with repo.start_session(agent="codex", model="gpt-5-codex") as s:
        s.prompt("Add <b>logout</b> | and `audit`")
        s.decision("Audit to a file", applies_to=["audit.py"])
    third = commit_files(git_repo, {"audit.py": "def logout():\n    pass\n"}, "Add logout")
    repo.promote()
    return base, [first, second, third]


def test_review_of_three_commits(repo: bitloops.Repository, git_repo: Path) -> None:
    """Markdown and JSON list each commit's prompt, records, files, agents and folder."""
    base, shas = three_commits(repo, git_repo)
    proc = cli(git_repo, "review", f"{base}..HEAD")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert md.index(shas[0][:12]) < md.index(shas[1][:12]) < md.index(shas[2][:12])
    assert "Make login safer" in md and "Hash with bcrypt" in md and "slow on purpose" in md
    assert "Plain SHA-256" in md and "Keep the API stable" in md
    assert "No checkpoint" in md  # the hand-made commit
    assert "claude-code (claude-opus-4)" in md and "codex (gpt-5-codex)" in md
    assert f".bitloops/checkpoints/v1/{shas[0]}/" in md
    assert "<details>" in md and "`auth.py`" in md
    assert "<b>" not in md and "&lt;b&gt;logout&lt;/b&gt;" in md  # quoted, not rendered
    assert len(md) <= MAX_CHARS
    data = json.loads(cli(git_repo, "review", f"{base}..HEAD", "--format", "json").stdout)
    assert [c["commit_sha"] for c in data["commits"]] == shas
    [cp] = data["commits"][0]["checkpoints"]
    assert cp["decisions"][0]["source"] == "agent" and cp["decisions"][0]["applies_to"] == [
        "auth.py"
    ]
    assert cp["alternatives"][0]["reason"] == "too fast"
    assert cp["constraints"][0]["stated_by"] == "user"
    assert cp["files"][0]["path"] == "auth.py"
    assert data["commits"][1]["checkpoints"] == []
    assert json.loads(cli(git_repo, "review", f"{base}..HEAD", "--json").stdout) == data


def test_review_fits_a_pr_comment(repo: bitloops.Repository, git_repo: Path) -> None:
    """A huge range is cut to at most 60,000 characters and says by which rule."""
    base, _ = three_commits(repo, git_repo)
    data = review(repo, f"{base}..HEAD")
    [cp] = data["commits"][0]["checkpoints"]
    cp["prompts"] = ["word " * 5000] * 3
    cp["decisions"] = cp["decisions"] * 400
    data["commits"] = data["commits"] * 60
    md = render_markdown(data)
    assert len(md) <= MAX_CHARS
    assert "Cut to fit 60,000 characters" in md and "--format json" in md.splitlines()[-1]
    small = render_markdown(review(repo, f"{base}..HEAD"))
    assert "Cut to fit" not in small


def test_retracted_records_are_left_out(repo: bitloops.Repository, git_repo: Path) -> None:
    """A retracted record is left out and counted."""
    base, shas = three_commits(repo, git_repo)
    record_id = repo.checkpoint(shas[0]).summary.decisions[0].record_id
    if hasattr(repo, "retract"):
        repo.retract(record_id, because="wrong")
        md = render_markdown(review(repo, f"{base}..HEAD"))
        assert "Hash with bcrypt" not in md and "1 retracted record(s) left out" in md


def test_review_needs_a_range(git_repo: Path) -> None:
    """A single ref is a usage error that says how to write a range."""
    proc = cli(git_repo, "review", "HEAD")
    assert proc.returncode == 2 and "BASE..HEAD" in proc.stderr
