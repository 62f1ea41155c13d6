"""Round trips through the converter, the hot-path event line, and the files on disk."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import bitloops
from bitloops import _codec as codec
from bitloops.checkpoint._files import dir_content_hash, write_checkpoint_dir
from bitloops.checkpoint._transcript import Transcript
from bitloops.model import (
    EVENT_KINDS,
    Alternative,
    Checkpoint,
    Constraint,
    Decision,
    Event,
    Evidence,
    FileTouched,
    ModelIdentity,
    Plan,
    PlanItem,
    SessionInfo,
    Summary,
    Symbol,
)

text = st.text(max_size=30)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(text, json_values, max_size=5)
sha = st.text("0123456789abcdef", min_size=40, max_size=40)

events = st.builds(
    Event,
    event_id=st.uuids().map(str),
    session_id=text,
    seq=st.integers(1, 10**9),
    ts=times,
    kind=st.sampled_from(sorted(EVENT_KINDS)),
    agent=text,
    model=st.none() | text,
    payload=payloads,
    artefacts=st.lists(text, max_size=3).map(tuple),
)
sessions = st.builds(
    SessionInfo,
    session_id=text,
    agent=text,
    model=st.none() | text,
    status=st.sampled_from(["active", "ended"]),
    started_at=times,
    ended_at=st.none() | times,
    last_event_at=st.none() | times,
    branch=st.none() | text,
    base_commit=st.none() | sha,
    event_count=st.integers(0, 1000),
)
evidence = st.none() | st.builds(
    Evidence,
    event_id=st.none() | st.uuids().map(str),
    seq=st.none() | st.integers(1, 10_000),
    kind=st.none() | st.sampled_from(["prompt", "reasoning", "tool_use"]),
    excerpt=text,
)
why = {
    "source": st.sampled_from(["agent", "plan-tool", "extracted", "llm"]),
    "applies_to": st.lists(text, max_size=2).map(tuple),
    "evidence": evidence,
    "confidence": st.floats(0, 1),
    "record_id": text,
}
plans = st.builds(
    Plan,
    tool=st.sampled_from(["TodoWrite", "update_plan", "ExitPlanMode", "record"]),
    items=st.lists(
        st.builds(
            PlanItem,
            text=text,
            status=st.sampled_from(["completed", "in_progress", "pending", "cancelled"]),
            item_id=st.none() | text,
        ),
        max_size=3,
    ).map(tuple),
    text=st.none() | text,
    agent_id=st.none() | text,
    updates=st.integers(1, 50),
    evidence=evidence,
)
summaries = st.builds(
    Summary,
    intent=st.lists(text, max_size=3).map(tuple),
    outcome=st.lists(text, max_size=2).map(tuple),
    decisions=st.lists(
        st.builds(Decision, text=text, rationale=st.none() | text, **why), max_size=2
    ).map(tuple),
    alternatives=st.lists(
        st.builds(Alternative, text=text, reason=st.none() | text, **why), max_size=2
    ).map(tuple),
    constraints=st.lists(
        st.builds(Constraint, text=text, stated_by=st.sampled_from([None, "user", "agent"]), **why),
        max_size=2,
    ).map(tuple),
    plans=st.lists(plans, max_size=2).map(tuple),
    started_at=st.none() | times,
    duration_seconds=st.floats(0, 1e6),
    event_counts=st.dictionaries(st.sampled_from(sorted(EVENT_KINDS)), st.integers(0, 99)),
    text=st.none() | text,
)
checkpoints = st.builds(
    Checkpoint,
    checkpoint_id=st.uuids().map(str),
    commit_sha=sha,
    commits=st.lists(sha, min_size=1, max_size=3).map(tuple),
    created_at=times,
    branch=st.none() | text,
    sessions=st.lists(sessions, max_size=2).map(tuple),
    events=st.lists(events, max_size=5).map(tuple),
    summary=summaries,
    files=st.lists(
        st.builds(FileTouched, path=text, change=st.sampled_from(["added", "modified"])), max_size=2
    ).map(tuple),
    symbols=st.lists(
        st.builds(Symbol, path=text, name=text, kind=st.just("function")), max_size=2
    ).map(tuple),
    models=st.lists(st.builds(ModelIdentity, agent=text, model=st.none() | text), max_size=2).map(
        tuple
    ),
    parent_hash=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    content_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
)


def _json_roundtrip(value: Any) -> Any:
    return json.loads(codec.canonical_dumps(value))


@given(events)
def test_event_roundtrips_through_the_converter(event: Event) -> None:
    """structure(unstructure(event)) == event, also through canonical JSON text."""
    assert codec.structure(codec.unstructure(event), Event) == event
    assert codec.structure(_json_roundtrip(codec.unstructure(event)), Event) == event


@given(events)
def test_hot_path_line_equals_the_converter(event: Event) -> None:
    """The recording hot path writes exactly what the converter would, and reads back equal."""
    line = codec.event_line(
        event_id=event.event_id,
        session_id=event.session_id,
        seq=event.seq,
        ts=codec.format_ts(event.ts),
        kind=event.kind,
        agent=event.agent,
        model=event.model,
        payload_json=codec.canonical_dumps(event.payload),
        artefacts=event.artefacts,
    )
    assert line == codec.canonical_dumps(codec.unstructure(event))
    assert codec.event_from_line(line) == event
    assert codec.event_from_line(line) == codec.structure(json.loads(line), Event)


@given(st.lists(events, max_size=6))
def test_line_models_reads_agent_and_model_without_parsing(evs: list[Event]) -> None:
    """line_models finds the same (agent, model) pairs a full parse would."""
    lines = [codec.canonical_dumps(codec.unstructure(e)) for e in evs]
    expected = sorted(
        {(e.agent, e.model) for e in evs}, key=lambda am: (am[0], am[1] is not None, am[1] or "")
    )
    assert codec.line_models(lines) == expected


def test_transcript_is_lazy_and_equal_to_its_events() -> None:
    """A Transcript parses on access and equals the tuple of the same events."""
    from bitloops.checkpoint._transcript import Transcript

    evs = [
        Event(
            event_id=f"id-{i}",
            session_id="s",
            seq=i,
            ts=datetime(2026, 1, 1, tzinfo=UTC),
            kind="note",
            agent="a",
            payload={"i": i},
        )
        for i in range(1, 4)
    ]
    lines = [codec.canonical_dumps(codec.unstructure(e)) for e in evs]
    t = Transcript(lines)
    assert t == tuple(evs) and tuple(evs) == t and t == Transcript(lines)
    assert t[1:] == tuple(evs[1:]) and len(t) == 3 and list(t.of_kinds(["note"])) == evs
    assert t.kinds == ("note",) * 3 and t.session_ids == ("s",) * 3
    assert t != Transcript(lines[:2])
    assert codec.unstructure(t) == [codec.unstructure(e) for e in evs]


@given(checkpoints)
def test_checkpoint_roundtrips_through_the_converter(cp: Checkpoint) -> None:
    """Checkpoints survive unstructure/structure and a trip through JSON text."""
    assert codec.structure(codec.unstructure(cp), Checkpoint) == cp
    assert codec.structure(_json_roundtrip(codec.unstructure(cp)), Checkpoint) == cp


@given(checkpoints)
def test_unstructure_is_what_cattrs_produces(cp: Checkpoint) -> None:
    """The hand walk of the fields gives cattrs' data, so the content hash is unchanged."""
    ours = codec.unstructure(cp)
    theirs = codec._converter().unstructure(cp)
    assert ours == theirs
    assert codec.canonical_dumps(ours) == codec.canonical_dumps(theirs)
    lazy = Transcript([codec.canonical_dumps(codec.unstructure(e)) for e in cp.events])
    assert codec.unstructure(lazy) == codec._converter().unstructure(tuple(cp.events))


@settings(max_examples=40, deadline=None)
@given(checkpoints)
def test_checkpoint_roundtrips_through_its_folder(cp: Checkpoint) -> None:
    """write_checkpoint_dir then read_checkpoint_dir gives an equal checkpoint and hash."""
    header = codec.checkpoint_header(cp)
    lines = [codec.canonical_dumps(codec.unstructure(e)) for e in cp.events]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_checkpoint_dir(Path(tmp), cp)
        assert bitloops.read_checkpoint_dir(folder) == cp
        assert dir_content_hash(folder) == codec.content_hash(header, lines)


def test_content_hash_ignores_commit_links() -> None:
    """Adding commit links (after a rewrite) does not change the content hash."""
    cp = Checkpoint(
        checkpoint_id="c", commit_sha="a" * 40, commits=("a" * 40,), created_at=datetime.now(UTC)
    )
    relinked = Checkpoint(
        checkpoint_id="c",
        commit_sha="a" * 40,
        commits=("a" * 40, "b" * 40),
        created_at=cp.created_at,
    )
    assert codec.content_hash(codec.checkpoint_header(cp), []) == codec.content_hash(
        codec.checkpoint_header(relinked), []
    )


def test_timestamps_are_fixed_width_utc() -> None:
    """Timestamps render with six fractional digits and Z, so text order is time order."""
    ts = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    assert codec.format_ts(ts) == "2026-11-25T14:30:00.000000Z"
    assert codec.parse_ts("2026-11-25T14:30:00.000000Z") == ts


def test_ids_are_uuid7_and_time_ordered() -> None:
    """new_id gives version-7 UUIDs that sort by creation time."""
    import uuid

    before = time.time_ns() // 1_000_000
    ids = [codec.new_id() for _ in range(2000)]  # more than one pool of random bits
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(str(u) == i for u, i in zip(parsed, ids, strict=True))  # lower-case, dashed
    assert len(set(ids)) == 2000
    stamps = [u.int >> 80 for u in parsed]  # the 48-bit millisecond prefix
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after


def test_event_times_render_as_format_ts_does() -> None:
    """The recording path's clock (its second's text kept) gives format_ts's text of the
    time it returns, across second boundaries."""
    from bitloops.store._live import _now

    seconds: set[str] = set()
    deadline = time.monotonic() + 1.5
    while len(seconds) < 2 and time.monotonic() < deadline:
        when, text = _now()
        assert when.tzinfo is UTC and codec.format_ts(when) == text
        seconds.add(text[:19])
        time.sleep(0.01)
    assert len(seconds) >= 2


def test_an_id_is_drawn_even_when_other_threads_empty_the_refill(monkeypatch: Any) -> None:
    """Between a thread's refill of the random pool and its own draw, other threads may
    take every id of the refill: the thread refills again instead of failing."""
    fill = codec._fill_pool
    emptied: list[int] = []

    def fill_then_drained() -> None:
        fill()
        if not emptied:  # the first refill goes to other threads
            emptied.append(len(codec._pool))
            codec._pool.clear()

    monkeypatch.setattr(codec, "_fill_pool", fill_then_drained)
    codec._pool.clear()
    assert len(codec.new_id()) == 36
    assert emptied and emptied[0] > 0


def test_ids_stay_unique_across_threads_and_forks() -> None:
    """Threads never share the random bits of an id, and a forked child draws its own."""
    import os
    import threading

    seen: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(codec.new_id() for _ in range(10_000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in seen]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch mid-refill of the pool: none may fail
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    ids = [i for out in seen for i in out]
    assert len(set(ids)) == len(ids) == 80_000
    codec.new_id()  # the parent holds unused bits a child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ",".join(codec.new_id() for _ in range(10)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    child = os.read(read, 10_000).decode().split(",")
    os.close(read)
    parent = [codec.new_id() for _ in range(10)]
    assert {i[15:] for i in child}.isdisjoint(i[15:] for i in parent)


def test_sha256_hex_is_sha256_without_hashlib() -> None:
    """The builtin digest the hooks use equals hashlib's, lone surrogates included, and
    loads neither hashlib nor OpenSSL (on 3.11's ``_sha256`` and 3.12's ``_sha2`` alike)."""
    import hashlib
    import subprocess

    for text in ("", "session-1", "é\udc80"):
        expected = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        assert codec.sha256_hex(text) == expected
    probe = "import sys; from bitloops._codec import sha256_hex; sha256_hex('x'); "
    probe += "print('hashlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_event_times_keep_their_leading_zeros(monkeypatch: Any) -> None:
    """The recording path's clock renders each microsecond (a fraction with leading zeros,
    none, the last of a second) as format_ts does, with the datetime it returns."""
    import bitloops.store._live as live

    base = 1_795_000_000  # a whole second, in seconds since the epoch
    for micros in (0, 1, 7, 40, 999, 1_000, 65_432, 100_000, 999_999):
        ns = (base * 1_000_000 + micros) * 1000 + 123  # nanoseconds below a microsecond drop
        monkeypatch.setattr(live, "_time_ns", lambda ns=ns: ns)
        when, text = live._now()
        assert when == datetime.fromtimestamp(base, UTC).replace(microsecond=micros)
        assert codec.format_ts(when) == text and text.endswith(f".{micros:06d}Z")
