"""The recording hot path (issue #12 item 4) gives what the slow, obvious code would."""

from __future__ import annotations

import enum
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bitloops
from bitloops import _codec as codec
from bitloops.checkpoint._files import indented_json
from bitloops.errors import InvalidPayload, StoreError
from bitloops.redact import default_redactor

text = st.text(max_size=20)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(text, children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=2)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(text, values, max_size=5)


class Colour(enum.StrEnum):
    """A str subclass: its JSON is its value, but it is not a plain str."""

    RED = "red"


@given(payloads)
def test_plain_copy_is_the_json_round_trip(payload: dict[str, Any]) -> None:
    """plain_copy gives exactly json.loads(canonical_dumps(x)) (types, key order), or None."""
    copied = codec.plain_copy(payload)
    if copied is not None:
        parsed = json.loads(codec.canonical_dumps(payload))
        assert repr(copied) == repr(parsed)


def test_plain_copy_declines_what_json_changes() -> None:
    """Number keys, enums and other subclasses are left to the parse."""
    assert codec.plain_copy({1: "a"}) is None
    assert codec.plain_copy({"a": Colour.RED}) is None
    assert codec.plain_copy({"a": [{"b": {2: 3}}]}) is None
    assert codec.plain_copy({"b": (1, 2), "a": None}) == {"a": None, "b": [1, 2]}


def _stored(repo: bitloops.Repository, event_id: str) -> str:
    rows = repo.store.execute("SELECT line FROM live_events WHERE line LIKE ?", (f"%{event_id}%",))
    assert len(rows) == 1
    return str(rows[0][0])


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "plain"},
        {"name": "bash", "input": {"command": "ls", "n": (1, 2.5, None)}, "ok": True},
        {"text": "the key is AKIAIOSFODNN7EXAMPLE, 5 passed"},  # redaction changes it
        {"password": "hunter2hunter2", "note": "5 passed"},
        {"value": Colour.RED, "n": {7: "seven"}},  # not plain: parsed back
        {"text": 'quotes " and \\ and \u00e9 \U0001f600'},
    ],
)
def test_returned_event_is_the_stored_line(repo: bitloops.Repository, payload: Any) -> None:
    """Whatever the payload, the returned Event is what its stored line reads back as."""
    session = repo.start_session(agent='ag"ent \u00e9', model="m\\1")
    event = session.record("tool_use", payload, artefacts=("src/a.py", 'b"c.py'))
    line = _stored(repo, event.event_id)
    assert line == codec.canonical_dumps(codec.unstructure(event))
    assert codec.event_from_line(line) == event
    assert repr(codec.event_from_line(line).payload) == repr(event.payload)


def test_returned_payload_has_relative_paths(repo: bitloops.Repository) -> None:
    """When the path rewrite changes the text, the returned payload shows the rewrite."""
    session = repo.start_session(agent="a")
    event = session.record("note", {"text": f"edited {repo.toplevel}/src/app.py"})
    assert event.payload == {"text": "edited src/app.py"}
    assert json.loads(_stored(repo, event.event_id))["payload"] == event.payload


def test_returned_payload_is_a_copy(repo: bitloops.Repository) -> None:
    """Changing the caller's dict afterwards does not change the returned event."""
    payload: dict[str, Any] = {"items": [1, 2], "meta": {"k": "v"}}
    event = repo.start_session(agent="a").record("note", payload)
    payload["items"].append(3)
    payload["meta"]["k"] = "changed"
    assert event.payload == {"items": [1, 2], "meta": {"k": "v"}}


def test_returned_event_is_built_as_its_class_builds_it() -> None:
    """The recording path's Event, set through its slots, equals the one Event() builds."""
    import attrs

    from bitloops.capture._session import _event
    from bitloops.model import Event

    when = datetime(2026, 1, 2, 3, 4, 5, 6, UTC)
    args: tuple[Any, ...] = ("id", "sid", 3, when, "note", "agent", None, {"a": [1]}, ("x",))
    built = _event(*args)
    names = [f.name for f in attrs.fields(Event)]
    fields: dict[str, Any] = dict(zip(names, args, strict=True))
    assert type(built) is Event and built == Event(**fields)
    assert [getattr(built, n) for n in names] == list(args)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.seq = 4  # type: ignore[misc]


def test_an_events_id_carries_its_time(repo: bitloops.Repository) -> None:
    """An event recorded without a time has an id whose millisecond is its time's (the
    clock is read once for both); one given a time has an id of when it was recorded."""
    import uuid

    session = repo.start_session(agent="a")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(20):
        event = session.note("x")
        assert uuid.UUID(event.event_id).int >> 80 == (event.ts - epoch) // timedelta(
            milliseconds=1
        )
    before = (datetime.now(UTC) - epoch) // timedelta(milliseconds=1)
    event = session.record("note", {}, ts=datetime(2020, 1, 1, tzinfo=UTC))
    assert uuid.UUID(event.event_id).int >> 80 >= before
    assert uuid.UUID(codec.new_id(1234)).int >> 80 == 1234


def test_relative_paths_of_work_trees_in_turn(tmp_path: Path) -> None:
    """The work tree's roots, remembered for the last one met, follow each call's own."""
    one, two = f"{tmp_path}/one", f"{tmp_path}/two"
    text = json.dumps({"a": f"{one}/x {two}/y {one}"})
    for top in (one, two, "".join(one), one, two, two):
        want = text.replace(f"{top}/", "").replace(top, ".")
        assert codec.relative_paths(text, top) == want
    assert codec.relative_paths(text, one, home=two) == json.dumps({"a": "x ~/y ."})


def test_circular_payload_is_refused_with_the_reason() -> None:
    """A payload that contains itself is InvalidPayload, naming the circular reference."""
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(InvalidPayload, match="Circular reference"):
        codec.prepare_payload(loop, default_redactor(), 1 << 20)


def test_password_gate_skips_passed_but_not_passwords() -> None:
    """'5 passed' is not a password cue; password= and passphrase: still are."""
    redactor = default_redactor()
    assert redactor.redact("===== 5 passed, 1 skipped in 0.4s =====") == (
        "===== 5 passed, 1 skipped in 0.4s ====="
    )
    assert "hunter2" not in redactor.redact("5 passed; password=hunter2xyz")
    assert "correct-horse" not in redactor.redact("passphrase: correct-horse-battery-9")


def test_format_ts_of_any_aware_time() -> None:
    """UTC and other zones render as the same canonical UTC text."""
    when = datetime(2026, 11, 25, 14, 30, 0, 5, tzinfo=UTC)
    assert codec.format_ts(when) == "2026-11-25T14:30:00.000005Z"
    there = when.astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    assert codec.format_ts(there) == "2026-11-25T14:30:00.000005Z"


def test_ids_differ_across_a_fork() -> None:
    """A forked child does not repeat its parent's ids (the generator is reseeded)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, "\n".join(codec.new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    mine = {codec.new_id() for _ in range(50)}
    with os.fdopen(read) as fh:
        theirs = set(fh.read().split("\n"))
    os.waitpid(pid, 0)
    assert len(theirs) == 50
    assert not mine & theirs


def test_store_refuses_use_in_a_forked_child(repo: bitloops.Repository) -> None:
    """A connection opened before a fork is not used by the child."""
    session = repo.start_session(agent="a")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            session.prompt("from the child")
            verdict = b"wrote"
        except StoreError:
            verdict = b"refused"
        os.write(write, verdict)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        verdict = fh.read()
    os.waitpid(pid, 0)
    assert verdict == b"refused"
    assert session.prompt("from the parent").seq == 2


@pytest.mark.parametrize("count", [0, 1, 2047, 2048, 2049, 5000])
def test_hash_and_transcript_stream_the_same_bytes(tmp_path: Path, count: int) -> None:
    """Batched hashing and writing give the bytes of the whole joined transcript."""
    lines = [json.dumps({"n": n, "t": "x" * (n % 7)}) for n in range(count)]
    whole = "".join(f"{line}\n" for line in lines)
    assert "".join(codec.line_batches(lines)) == whole
    header = {"a": 1}
    expected = hashlib.sha256(f"{codec.canonical_dumps(header)}\n{whole}".encode()).hexdigest()
    assert codec.content_hash(header, lines) == expected
    assert codec.content_hash(header, iter(lines)) == expected


@given(
    st.recursive(
        leaves | st.floats(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(text, children, max_size=4)
            | st.dictionaries(st.integers(), children, max_size=2)
        ),
        max_leaves=20,
    )
)
def test_indented_json_is_what_json_dumps_writes(value: Any) -> None:
    """session.json's fast writer gives json.dumps(indent=2, sort_keys=True) to the byte."""
    expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    assert indented_json(value) == expected


def test_remembered_seq_sees_another_writer(git_repo: Path) -> None:
    """After another connection writes to the session, even right after it starts, the
    next event still gets the next seq (the remembered one is looked up again)."""
    with bitloops.Repository.open(git_repo) as a, bitloops.Repository.open(git_repo) as b:
        mine = a.start_session(agent="a")  # seq 1; remembered without a lookup
        theirs = b.start_session(agent="a", session_id=mine.session_id)  # seq 2
        assert theirs.prompt("from b").seq == 3
        assert mine.prompt("from a").seq == 4
        assert theirs.prompt("from b again").seq == 5
        assert mine.prompt("from a again").seq == 6
        seqs = [e.seq for e in a.draft().events if e.session_id == mine.session_id]
        assert sorted(seqs) == [1, 2, 3, 4, 5, 6]
