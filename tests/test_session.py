"""Recording events into the live state."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.model import EventKind


def test_every_method_records_a_stored_event(repo: bitloops.Repository) -> None:
    """Each Session method commits one event and returns it exactly as stored."""
    s = repo.start_session(agent="my-agent", model="model-1")
    returned = [
        s.prompt("add retries"),
        s.response("done"),
        s.reasoning("the client fails on 503"),
        s.tool_use("bash", {"command": "pytest"}, output="1 passed"),
        s.tool_result("call-1", {"stdout": "ok"}),
        s.file_change("http.py", "modified"),
        s.file_change("new.py", "renamed", old_path="old.py"),
        s.decision("exponential backoff", rationale="rate limits"),
        s.plan("1. write test 2. implement"),
        s.constraint("no new dependencies"),
        s.alternative("fixed delay", reason="thundering herd"),
        s.record("note", {"text": "generic"}),
    ]
    draft = repo.draft()
    assert draft.events[1:] == tuple(returned)
    assert [e.seq for e in draft.events] == list(range(1, len(returned) + 2))
    assert draft.events[0].kind == "session_start"
    assert {e.agent for e in draft.events} == {"my-agent"}
    assert {e.model for e in draft.events} == {"model-1"}
    assert draft.files == ("http.py", "new.py")
    assert returned[6].artefacts == ("new.py", "old.py")


def test_context_manager_records_start_and_end(repo: bitloops.Repository) -> None:
    """A with-block records session_start and session_end and marks the session ended."""
    with repo.start_session(agent="a") as s:
        s.prompt("hi")
    kinds = [e.kind for e in repo.draft().events]
    assert kinds == ["session_start", "prompt", "session_end"]
    assert s.ended
    with pytest.raises(bitloops.SessionEnded):
        s.prompt("again")
    info = repo.draft().sessions[0]
    assert info.status == "ended" and info.ended_at is not None


def test_resume_by_id_continues_seq(repo: bitloops.Repository) -> None:
    """Resuming a session by id keeps its seq gap-free; an unseen id creates the session."""
    s = repo.start_session(agent="claude-code", session_id="abc-123")
    s.prompt("one")
    s.end()
    again = repo.start_session(agent="claude-code", session_id="abc-123")
    event = again.prompt("two")
    assert event.seq == 5
    assert repo.session("abc-123").prompt("three").seq == 6
    with pytest.raises(bitloops.SessionNotFound):
        repo.session("never-seen")


def test_seq_is_gap_free_across_promotion(repo: bitloops.Repository, git_repo: Path) -> None:
    """A session spanning two commits keeps counting from where it was."""
    from conftest import commit_files

    s = repo.start_session(agent="a")
    s.prompt("first")
    commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    assert s.prompt("second").seq == 3


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.record("telepathy", {}), bitloops.UnknownEventKind),
        (lambda s: s.record("note", {"x": object()}), bitloops.InvalidPayload),
        (lambda s: s.record("note", {"x": float("nan")}), bitloops.InvalidPayload),
        (lambda s: s.record("note", ["not", "a", "dict"]), bitloops.InvalidPayload),
        (lambda s: s.record("note", {"x": b"bytes"}), bitloops.InvalidPayload),
        (lambda s: s.prompt("bad \udcff surrogate"), bitloops.InvalidPayload),
        (lambda s: s.prompt(42), bitloops.InvalidPayload),
        (lambda s: s.file_change("a.py", "exploded"), bitloops.InvalidPayload),
        (lambda s: s.file_change("a.py", "renamed"), bitloops.InvalidPayload),
        (lambda s: s.record("note", {"x": "y" * 2_000_000}), bitloops.PayloadTooLarge),
    ],
)
def test_bad_input_raises_and_loses_nothing(
    repo: bitloops.Repository,
    call: Callable[[bitloops.Session], object],
    error: type[bitloops.BitloopsError],
) -> None:
    """Bad input raises a specific BitloopsError and the events before it stay intact."""
    s = repo.start_session(agent="a")
    s.prompt("kept")
    before = repo.draft().events
    with pytest.raises(error) as info:
        call(s)
    assert isinstance(info.value, bitloops.BitloopsError)
    assert len(str(info.value)) > 20
    assert repo.draft().events == before
    assert s.prompt("still works").seq == 3


def test_bad_agent_and_session_id_are_rejected(repo: bitloops.Repository) -> None:
    """start_session validates its arguments before writing anything."""
    for kwargs in ({"agent": ""}, {"agent": 3}, {"agent": "a", "session_id": ""}):
        with pytest.raises(bitloops.InvalidPayload):
            repo.start_session(**kwargs)
    assert repo.draft().events == ()


def test_payload_is_normalised_like_json(repo: bitloops.Repository) -> None:
    """Tuples become lists and the returned payload is what was stored."""
    s = repo.start_session(agent="a")
    event = s.record("note", {"items": (1, 2), "nested": {"b": 1, "a": None}})
    assert event.payload == {"items": [1, 2], "nested": {"a": None, "b": 1}}
    assert repo.draft().events[-1] == event


def test_durability_pragmas(repo: bitloops.Repository) -> None:
    """The default is WAL with synchronous=FULL; the database lives in the git common dir."""
    repo.start_session(agent="a")
    assert repo.db_path == repo.paths.common_dir / "bitloops" / "bitloops.db"
    conn = apsw.Connection(str(repo.db_path))
    assert conn.pragma("journal_mode") == "wal"
    assert repo.store._conn.pragma("synchronous") == 2  # FULL
    conn.close()


def test_durability_normal_from_settings(git_repo: Path) -> None:
    """settings.json may relax durability to NORMAL."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"durability": "normal"}')
    r = bitloops.Repository.open(git_repo)
    r.start_session(agent="a")
    assert r.store._conn.pragma("synchronous") == 1  # NORMAL
    r.close()


def test_capture_disabled_writes_nothing(git_repo: Path) -> None:
    """With capture off, calls validate and return events but store nothing."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"capture": false}')
    r = bitloops.Repository.open(git_repo)
    s = r.start_session(agent="a")
    event = s.prompt("hello")
    assert event.seq == 0
    assert r.draft().events == ()
    assert r.status().capture_enabled is False
    r.close()


def test_status_shows_sessions_agents_and_counts(repo: bitloops.Repository) -> None:
    """status() reports active sessions with start times, agents seen and counts."""
    a = repo.start_session(agent="claude-code", model="m")
    repo.start_session(agent="cursor").end()
    a.prompt("x")
    st = repo.status()
    assert st.capture_enabled and st.strategy == "manual_commit"
    assert st.agents == ("claude-code", "cursor")
    assert [s.session_id for s in st.active_sessions] == [a.session_id]
    assert st.active_sessions[0].started_at is not None
    assert st.checkpoint_count == 0
    assert st.draft_event_count == 4


def test_worktrees_share_the_database_but_not_the_draft(git_repo: Path, tmp_path: Path) -> None:
    """Two worktrees of one clone use one database file and keep separate drafts."""
    from conftest import git

    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "feature", str(other))
    main = bitloops.Repository.open(git_repo)
    feature = bitloops.Repository.open(other / "README.md")
    assert main.db_path == feature.db_path
    main.start_session(agent="a").prompt("main work")
    feature.start_session(agent="b").prompt("feature work")
    assert [e.payload.get("text") for e in main.draft().events][1:] == ["main work"]
    assert [e.payload.get("text") for e in feature.draft().events][1:] == ["feature work"]
    main.close()


def test_transcript_line_is_canonical_json(repo: bitloops.Repository) -> None:
    """The stored line of an event parses to the event's own fields."""
    s = repo.start_session(agent="a", model="m")
    event = s.prompt('héllo "quoted"\n')
    (line,) = [r[0] for r in repo.store.execute("SELECT line FROM live_events WHERE seq = 2")]
    data = json.loads(line)
    assert data["payload"] == {"text": 'héllo "quoted"\n'}
    assert data["event_id"] == event.event_id
    assert data["kind"] == EventKind.PROMPT


def test_seqs_stay_gap_free_across_a_rolled_back_caller_transaction(
    repo: bitloops.Repository,
) -> None:
    """Events recorded in a caller's transaction that rolls back leave no gap in seq."""
    s = repo.start_session(agent="a")
    with repo.store.transaction():
        assert [s.note(f"n{i}").seq for i in range(3)] == [2, 3, 4]

    def give_up() -> None:
        with repo.store.transaction():
            s.note("gone")
            s.note("gone too")
            raise RuntimeError("the caller gives up")

    with pytest.raises(RuntimeError):
        give_up()
    assert s.note("kept").seq == 5
    assert [e.seq for e in repo.draft().events] == [1, 2, 3, 4, 5]


def test_closing_one_repository_leaves_the_others_working(git_repo: Path) -> None:
    """Repositories share one connection per process; it closes with the last of them."""
    first = bitloops.Repository.open(git_repo)
    second = bitloops.Repository.open(git_repo)
    s = second.start_session(agent="a")
    first.start_session(agent="b")
    first.close()
    assert s.prompt("still recording").seq == 2
    second.close()
    third = bitloops.Repository.open(git_repo)
    assert len(third.draft().events) == 3
    third.close()


def test_record_session_end_ends_the_session(repo: bitloops.Repository) -> None:
    """The generic record('session_end') ends the session like end() does."""
    s = repo.start_session(agent="a")
    event = s.record("session_end", {"reason": "agent exited"})
    assert s.ended and type(event.kind) is str
    assert repo.store.sessions()[0].status == "ended"
    with pytest.raises(bitloops.SessionEnded):
        repo.session(s.session_id).prompt("late")
    resumed = repo.start_session(agent="a", session_id=s.session_id)
    assert resumed.prompt("resumed").seq == 4


def test_mixed_key_types_get_a_clear_message(repo: bitloops.Repository) -> None:
    """A payload with int and str keys says that keys must be strings."""
    s = repo.start_session(agent="a")
    with pytest.raises(bitloops.InvalidPayload, match="keys must all be strings"):
        s.record("note", {1: "a", "b": 2})  # type: ignore[dict-item]  # the wrong key is the test


def test_seq_stays_unique_when_a_session_moves_between_worktrees(
    git_repo: Path, tmp_path: Path
) -> None:
    """A session resumed in a second worktree never reuses a seq after a promotion."""
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "feature", str(other))
    main = bitloops.Repository.open(git_repo)
    feature = bitloops.Repository.open(other)
    s = main.start_session(agent="a", session_id="travelling")
    s.prompt("in main")
    t = feature.start_session(agent="a", session_id="travelling")
    t.prompt("in feature")
    commit_files(other, {"f.txt": "1"})
    assert feature.promote() is not None
    seqs = [main.session("travelling").prompt("back in main").seq]
    commit_files(git_repo, {"m.txt": "1"})
    first = main.promote()
    assert first is not None
    seqs += [e.seq for e in first.events] + [e.seq for e in feature.checkpoint("feature").events]
    assert sorted(seqs[1:]) == sorted(set(seqs[1:]))
    assert seqs[0] == 5
    main.close()
    feature.close()


def test_a_closed_or_inherited_connection_is_a_clear_error(git_repo: Path) -> None:
    """A session whose repository was closed raises a StoreError, not a driver error."""
    repo = bitloops.Repository.open(git_repo)
    s = repo.start_session(agent="a")
    repo.close()
    with pytest.raises(bitloops.StoreError, match="open the Repository again"):
        s.prompt("too late")


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.start_session(agent="a\udcff"),
        lambda r: r.start_session(agent="a", model="m\udcff"),
        lambda r: r.start_session(agent="a", session_id="s\udcff"),
        lambda r: r.start_session(agent="a").record("note", {}, artefacts=("p\udcff",)),
        lambda r: r.start_session(agent="a").record("note", {}, artefacts="abc"),
    ],
)
def test_bad_strings_anywhere_are_invalid_payloads(
    repo: bitloops.Repository, call: Callable[[bitloops.Repository], object]
) -> None:
    """Lone surrogates and a bare string for artefacts raise InvalidPayload, not driver errors."""
    with pytest.raises(bitloops.InvalidPayload):
        call(repo)


def test_deeply_nested_payload_is_an_invalid_payload(repo: bitloops.Repository) -> None:
    """A payload nested past the serialiser's limit is refused cleanly."""
    deep: dict[str, object] = {}
    for _ in range(5000):
        deep = {"x": deep}
    with pytest.raises(bitloops.InvalidPayload, match="nested too deeply"):
        repo.start_session(agent="a").record("note", deep)
