"""Promotion's fast paths give what the plain ones gave: the draft read by id when it is in
transcript order (sorted by SQLite when not), the sessions' counters and times taken from
the draft's last rows, and the extractor's gate on a line it has not parsed."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from conftest import commit_files

import bitloops
from bitloops._codec import canonical_dumps, event_from_line, event_line, format_ts
from bitloops.checkpoint import _extract, _promote, _transcript
from bitloops.checkpoint._files import dir_content_hash, write_checkpoint_dir
from bitloops.store import _sqlite

_ORDER = "ORDER BY ts, session_id, seq"


@pytest.fixture(params=["whole", "windowed"])
def small_batches(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The draft read in batches of 3 rows; held whole, or read a window of 2 at a time."""
    monkeypatch.setattr(_sqlite, "_DRAFT_BATCH", 3)
    if request.param == "windowed":
        monkeypatch.setattr(_promote, "WINDOWED_OVER", 0)
        monkeypatch.setattr(_transcript, "WINDOW", 2)
    return str(request.param)


def _record(repo: bitloops.Repository, *, late_at: int | None) -> list[bitloops.Session]:
    """Two sessions' events; with ``late_at``, three more recorded with earlier times
    (a catch-up), the first of them after ``late_at`` events."""
    a = repo.start_session("claude-code", "m1")
    b = repo.start_session("codex", "m2")
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(8):
        (a if i % 2 else b).prompt(f"step {i}: we should use a queue instead of polling")
        (b if i % 2 else a).response("Done.")
        if late_at is not None and i == late_at:
            for k in range(3):
                a.record("reasoning", {"text": f"earlier {k}"}, ts=start + timedelta(seconds=k))
    return [a, b]


def _live_in_order(repo: bitloops.Repository) -> list[str]:
    return [str(r[0]) for r in repo.store.execute(f"SELECT line FROM live_events {_ORDER}")]


@pytest.mark.parametrize("late_at", [None, 0, 4, 7])
def test_the_draft_is_read_in_transcript_order(
    git_repo: Path, small_batches: str, late_at: int | None
) -> None:
    """In id order or not (late rows in the first batch, a middle one, the last), the
    draft is what sorting by time, session and seq gives, and so is the checkpoint."""
    with bitloops.Repository.open(git_repo) as repo:
        _record(repo, late_at=late_at)
        expected = _live_in_order(repo)
        draft = repo.store.draft_rows(
            repo.worktree, lines_up_to=0 if small_batches == "windowed" else None
        )
        assert draft.event_count == len(expected)
        assert list(repo.store.live_lines(draft.ids)) == expected
        ordered_ids = list(draft.ids) == sorted(draft.ids)
        assert ordered_ids == (late_at is None)
        sha = commit_files(git_repo, {"app.py": "def run():\n    return 1\n"})
        checkpoint = repo.promote(sha)
        assert checkpoint is not None
        assert list(checkpoint.events.lines) == expected  # type: ignore[attr-defined]
        stored = repo.store.execute(
            "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
            (checkpoint.checkpoint_id,),
        )
        assert [str(r[0]) for r in stored] == expected
        folder = git_repo / ".bitloops" / "checkpoints" / "v1" / sha
        assert dir_content_hash(folder) == checkpoint.content_hash
        assert repo.verify().ok


def test_the_folder_is_what_the_stored_checkpoint_writes(
    git_repo: Path, tmp_path: Path, small_batches: str
) -> None:
    """Its texts built from the header kept by promotion (a draft held whole), or built
    again after the move (a big one), the folder's bytes are those the stored checkpoint
    writes on its own (``doctor --fix``), and verify reads them as the database's."""
    with bitloops.Repository.open(git_repo) as repo:
        _record(repo, late_at=None)
        repo.start_session("claude-code", "m1").decision("use a queue", rationale="fewer calls")
        sha = commit_files(git_repo, {"app.py": "def run():\n    return 1\n"})
        checkpoint = repo.promote(sha)
        assert checkpoint is not None
        folder = git_repo / ".bitloops" / "checkpoints" / "v1" / sha
        again = write_checkpoint_dir(tmp_path, repo._load_checkpoint(checkpoint.checkpoint_id))
        names = ("session.json", "summary.md", "transcript.jsonl")
        assert [(folder / n).read_bytes() for n in names] == [
            (again / n).read_bytes() for n in names
        ]
        assert repo.verify().ok


def _counters(repo: bitloops.Repository) -> dict[str, tuple[int, str | None]]:
    rows = repo.store.execute("SELECT session_id, last_seq, last_event_at FROM sessions")
    return {str(sid): (int(seq), last) for sid, seq, last in rows}


@pytest.mark.parametrize("late_at", [None, 3])
@pytest.mark.parametrize("bounded", [False, True])
def test_promotion_advances_the_sessions_counters_as_the_moved_rows_say(
    git_repo: Path, late_at: int | None, bounded: bool
) -> None:
    """Each session's last seq and last event time become those of its moved rows, the
    sessions whose rows all move (read from their last rows) as those that keep some
    live (``until``: the rows after it stay)."""
    with bitloops.Repository.open(git_repo) as repo:
        _record(repo, late_at=late_at)
        rows = repo.store.execute(f"SELECT session_id, seq, ts FROM live_events {_ORDER}")
        until = None
        if bounded:  # the last four events stay live
            until = datetime.fromisoformat(str(rows[-5][2]).replace("Z", "+00:00"))
            rows = rows[:-4]
        expected = {
            str(sid): (
                max(int(r[1]) for r in rows if r[0] == sid),
                max(str(r[2]) for r in rows if r[0] == sid),
            )
            for sid in {r[0] for r in rows}
        }
        draft = repo.store.draft_rows(
            repo.worktree, until=None if until is None else format_ts(until)
        )
        before = {s.session_id: s for s in repo.store.sessions(session_ids=draft.session_ids)}
        counts = {sid: list(draft.line_sessions).count(sid) for sid in before}
        # The draft's sessions as sessions() tells them, with their counts in the draft.
        assert repo.store.draft_sessions(draft) == [
            attrs.evolve(before[sid], event_count=counts[sid])
            for sid in sorted(before, key=lambda s: (before[s].started_at, s))
        ]
        sha = commit_files(git_repo, {"app.py": "def run():\n    return 1\n"})
        assert repo.promote(sha, until=until) is not None
        assert _counters(repo) == expected
        # seq goes on from there (a resumed session records its session_start first).
        sid = next(iter(expected))
        info = repo.store.sessions(session_ids=[sid])[0]
        live = [
            int(r[0])
            for r in repo.store.execute("SELECT seq FROM live_events WHERE session_id = ?", (sid,))
        ]
        event = repo.start_session(info.agent, info.model, session_id=sid)
        first = repo.store.execute(
            "SELECT min(seq) FROM live_events WHERE session_id = ? AND kind = 'session_start' "
            "AND seq > ?",
            (sid, max([expected[sid][0], *live])),
        )[0][0]
        assert first == max([expected[sid][0], *live]) + 1
        event.end()


def _line(payload: dict[str, object], kind: str = "reasoning", agent: str = "bench") -> str:
    return event_line(
        seq=3,
        event_id="01a23c20-6f66-71fa-beb2-053970e2cb5f",
        session_id="s",
        ts="2026-01-01T00:00:00.000000Z",
        kind=kind,
        agent=agent,
        model="claude-sonnet-4",
        payload_json=canonical_dumps(payload),
    )


_PIECES = [
    "don't",
    "must",
    "never",
    "I'll",
    "use",
    "we",
    "the",
    "\t",
    "\n",
    "\r",
    "\x1b",
    "\x00",
    "\\",
    '"',
    "\\n",
    "\\t",
    "\\u0041",
    "\u2019",
    "é",
    "日本",
    " ",
    ",",
    ".",
    "'",
    "cursor",
    "x",
    "seq",
    '","seq":1',
    "payload",
    "instead",
    "of",
    "Let's",
]


def test_the_line_gate_lets_through_every_text_the_text_gate_does() -> None:
    """The gate read from the stored line (payload only, escapes as spaces) is never
    stricter than the same gate on the text itself, whatever the text holds."""
    rng = random.Random(12)
    for _ in range(4000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 12)))
        payload: dict[str, object] = {"text": text}
        if rng.random() < 0.3:
            payload["rationale"] = rng.choice(_PIECES)
        line = _line(payload, agent=rng.choice(["bench", "claude-code"]))
        assert json.loads(line)["payload"]["text"] == text
        if _extract._may_hold_records(text):
            assert _extract._line_may_hold_records(line), text
    # The agent's name is no longer a reason: "claude" is a rule-file word.
    assert not _extract._line_may_hold_records(_line({"text": "Done."}, agent="claude-code"))


def test_the_fast_parsers_read_what_json_reads() -> None:
    """Events, payloads and line data from the C scanner equal the plain readers'."""
    payloads: list[dict[str, object]] = [
        {"text": 'a\nb"c'},
        {},
        {"x": [1, 2.5, None, True]},
        {"payload": {"seq": 1}},
    ]
    for payload in payloads:
        line = _line(payload)
        assert _transcript._parse(line) == event_from_line(line)
        assert _transcript.payload_of(line) == json.loads(line)["payload"]
        assert _transcript.line_data(line) == json.loads(line)
    with pytest.raises(ValueError):
        _transcript._parse(_line({"a": 1}) + " trailing")


@pytest.mark.parametrize("first", ["a", "b"])
def test_events_of_one_time_are_ordered_by_session_then_seq(git_repo: Path, first: str) -> None:
    """Events recorded with the same time in two sessions: by session id, then seq,
    whichever session recorded first."""
    with bitloops.Repository.open(git_repo) as repo:
        a = repo.start_session("claude-code", session_id="a-session")
        b = repo.start_session("codex", session_id="b-session")
        when = datetime.now(UTC) + timedelta(seconds=1)
        order = [a, b] if first == "a" else [b, a]
        for s in order:
            for k in range(2):
                s.record("reasoning", {"text": f"{s.session_id} {k}"}, ts=when)
        expected = _live_in_order(repo)
        draft = repo.store.draft_rows(repo.worktree)
        assert list(draft.lines) == expected
        assert (list(draft.ids) == sorted(draft.ids)) == (first == "a")
