"""Secrets never reach disk: the corpus of fake secrets goes in, none comes out anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
from conftest import commit_files, git
from secrets_corpus import SECRETS

import bitloops
from bitloops.checkpoint._files import CHECKPOINTS_DIR


def _files_written(repo: bitloops.Repository) -> list[Path]:
    """Every file bitloops could have written: the database (and its WAL) and .bitloops/."""
    found = [p for p in repo.db_path.parent.iterdir() if p.is_file()]
    found += [p for p in (repo.toplevel / ".bitloops").rglob("*") if p.is_file()]
    return found


def test_corpus_is_large_enough() -> None:
    """The corpus holds at least 30 fake secrets from many families."""
    assert len(SECRETS) >= 30
    assert len({s.family for s in SECRETS}) >= 10


def test_no_secret_of_the_corpus_is_written_anywhere(git_repo: Path) -> None:
    """Each secret, recorded through every kind of call, is absent from every byte written."""
    repo = bitloops.Repository.open(git_repo)
    s = repo.start_session(agent="claude-code", model="m")
    for i, fake in enumerate(SECRETS):
        text = fake.text
        match i % 7:
            case 0:
                s.prompt(text)
            case 1:
                s.reasoning(text)
            case 2:
                s.tool_use("Bash", {"command": text}, output={"stdout": text, "stderr": ""})
            case 3:
                s.decision(text, rationale=text)
            case 4:
                s.alternative(text, reason=text)
            case 5:
                s.record("note", {"nested": [{"config": text}], text[:40]: "key"})
            case _:
                s.response(text)
    commit_files(git_repo, {"app.py": "x = 1\n"})
    checkpoint = repo.promote()
    assert checkpoint is not None
    # and some still in the live draft, after the promotion
    for fake in SECRETS[:10]:
        s.prompt(f"again: {fake.text}")
    repo.close()
    written = {p: p.read_bytes() for p in _files_written(repo)}
    assert any(p.name == "transcript.jsonl" for p in written)
    assert any(p.name.startswith("bitloops.db") for p in written)
    leaks = []
    for fake in SECRETS:
        forms = {fake.secret.encode(), json.dumps(fake.secret)[1:-1].encode()}
        for path, data in written.items():
            if any(form in data for form in forms):
                leaks.append(f"{fake.family}: {path.name}")
    assert leaks == []
    reopened = bitloops.Repository.open(git_repo)
    assert "[REDACTED:" in json.dumps(reopened.checkpoint("HEAD").events[1].payload)
    reopened.close()


def test_agent_and_model_names_are_redacted(repo: bitloops.Repository) -> None:
    """A credential passed as an agent or model name is redacted like any payload."""
    token = "ghp_" + "FAKE0123456789abcdefABCDEF0123456789ab"
    s = repo.start_session(agent=f"bot-{token}", model=token)
    assert token not in s.agent and token not in (s.model or "")
    assert token not in repo.db_path.read_bytes().decode("utf-8", "replace")


def test_branch_names_are_redacted(git_repo: Path) -> None:
    """A credential in the branch name does not reach the sessions table."""
    token = "glpat-" + "FAKEexample1234567890"
    git(git_repo, "checkout", "-q", "-b", f"fix-{token}")
    repo = bitloops.Repository.open(git_repo)
    repo.start_session(agent="a").prompt("x")
    assert token not in str(repo.draft().sessions[0].branch)
    assert token not in repo.db_path.read_bytes().decode("utf-8", "replace")
    repo.close()


def test_the_checkpoint_branch_is_redacted(git_repo: Path) -> None:
    """A token in the branch name stays out of the checkpoint, its row and its files."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    git(git_repo, "checkout", "-q", "-b", f"fix/{token}")
    repo = bitloops.Repository.open(git_repo)
    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote()
    assert cp is not None and token not in str(cp.branch)
    for path in (git_repo / CHECKPOINTS_DIR / sha).iterdir():
        assert token not in path.read_text()
    repo.close()
    assert token.encode() not in repo.db_path.read_bytes()


def test_summary_text_from_a_summariser_is_redacted(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Prose from a plugged-in summariser passes through redaction too."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"

    class Leaky:
        def summarize(self, **kw: Any) -> bitloops.Summary:
            base = bitloops.StructuredSummarizer().summarize(**kw)
            return attrs.evolve(base, text=f"used token {token}")

    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote(summarizer=Leaky())
    assert cp is not None and token not in str(cp.summary.text)


def test_a_secret_cut_by_an_excerpt_is_redacted_whole(repo: bitloops.Repository) -> None:
    """A too-large tool output is cut to an excerpt; a token straddling the cut is redacted
    before the cut (a half token would match no pattern), on both write paths."""
    from bitloops.capture._runner import fit_payload, record_fitting

    token = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3kL5"
    with repo.start_session("claude-code", "m1") as session:
        limit = max(256, session.max_payload_bytes // 4)
        output = "x" * (limit - 21) + " " + token + "\n" + "y" * session.max_payload_bytes
        payload = {"tool": "Bash", "input": {"command": "env"}, "output": output}
        record_fitting(session, "tool_use", dict(payload))
        _, line = fit_payload(dict(payload), repo.redactor, session.max_payload_bytes)
    stored = "\n".join(r[0] for r in repo.store.execute("SELECT line FROM live_events"))
    for text in (stored, line):
        assert "output_truncated" in text
        assert token[:20] not in text
