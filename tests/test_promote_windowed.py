"""Promotion of a draft too big to hold: lines read a window at a time, same bytes stored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import commit_files

import bitloops
from bitloops.checkpoint import _promote, _transcript
from bitloops.checkpoint._files import dir_content_hash
from bitloops.checkpoint._transcript import Transcript, WindowedLines


def fill(repo: bitloops.Repository) -> None:
    """A draft with every kind the promotion reads: prompts, reasoning, decisions, files."""
    s = repo.start_session("claude-code", "m1")
    for i in range(12):
        s.prompt(f"step {i}: we should use a queue instead of polling")
        s.reasoning("Polling wastes requests, so use a queue.")
        s.decision(f"queue {i}", rationale="fewer requests")
        s.file_change("app.py", "modified")
        s.response("Done.")
    s.end()


@pytest.fixture
def windowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every draft is windowed, in windows of 3 lines."""
    monkeypatch.setattr(_promote, "WINDOWED_OVER", 0)
    monkeypatch.setattr(_transcript, "WINDOW", 3)


def test_windowed_promotion_stores_what_an_eager_one_would(git_repo: Path, windowed: None) -> None:
    """The checkpoint, its hash and its folder match the stored rows read whole."""
    with bitloops.Repository.open(git_repo) as repo:
        fill(repo)
        sha = commit_files(git_repo, {"app.py": "def run():\n    return 1\n"})
        checkpoint = repo.promote(sha)
        assert checkpoint is not None
        assert isinstance(checkpoint.events, Transcript)
        assert isinstance(checkpoint.events.lines, WindowedLines)
        loaded = repo._load_checkpoint(checkpoint.checkpoint_id)  # read whole
        assert isinstance(loaded.events, Transcript)
        assert checkpoint == loaded
        assert list(checkpoint.events.lines) == list(loaded.events.lines)
        assert checkpoint.events[-1] == loaded.events[-1]
        assert [e.kind for e in checkpoint.events] == list(checkpoint.events.kinds)
        assert checkpoint.summary.decisions == loaded.summary.decisions
        assert len(checkpoint.summary.intent) == 12
        folder = git_repo / ".bitloops" / "checkpoints" / "v1" / sha
        assert dir_content_hash(folder) == checkpoint.content_hash
        text = (folder / "transcript.jsonl").read_text(encoding="utf-8")
        assert text == "".join(f"{line}\n" for line in loaded.events.lines)
        assert repo.verify().ok
        assert repo.store.draft_count(repo.worktree) == 0


def test_windowed_lines_read_any_index() -> None:
    """Random, negative and sliced access give the rows' lines, in the ids' order."""

    def fetch(ids: Sequence[int]) -> list[str]:
        return [f"line {i}" for i in ids]

    lines = WindowedLines(range(10, 0, -1), fetch)
    assert len(lines) == 10
    assert lines[0] == "line 10" and lines[-1] == "line 1" and lines[4] == "line 6"
    assert lines[2:5] == ["line 8", "line 7", "line 6"]
    assert list(lines) == [f"line {i}" for i in range(10, 0, -1)]
    assert lines == [f"line {i}" for i in range(10, 0, -1)]
    with pytest.raises(IndexError):
        lines[10]
