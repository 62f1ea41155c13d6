"""Garbage into `bitloops hook NAME`, for every agent: exit 0, quarantine, nothing else.

"Nothing written" means, after any number of garbage payloads: no session and no live
event in the database, no transcript state file, no spool; the quarantine holds exactly
one row per payload; the hook returned normally (as the CLI would exit 0) and wrote no
traceback. A payload that is valid JSON of the wrong shape (an array, a number, an
object whose ids are not strings, a Claude Code event name that is no event) counts as
garbage too: it must not start a session.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitloops
from bitloops.agents._registry import AGENTS, run_agent_hook

# Every id and event key the agents read, so that none finds a usable value.
_ID_KEYS = (
    "session_id", "sessionId", "conversation_id", "hook_event_name", "hookEventName",
    "event", "type", "sessionID",
)  # fmt: skip
_MAX_PAYLOAD = 4096

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_not_a_string = st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=3)


@st.composite
def _wrong_types(draw: st.DrawFn) -> bytes:
    """An object whose id and event fields are all there, none of them a string."""
    obj: dict[str, object] = {key: draw(_not_a_string) for key in _ID_KEYS}
    obj["prompt"] = draw(_json)
    obj["tool_input"] = draw(_json)
    if draw(st.booleans()):  # and a field far over max_payload_bytes
        obj["tool_response"] = "h" * draw(st.integers(_MAX_PAYLOAD, 8 * _MAX_PAYLOAD))
    return json.dumps(obj).encode()


@st.composite
def _truncated(draw: st.DrawFn) -> bytes:
    """A real payload cut short."""
    text = json.dumps(
        {"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": draw(st.text())}
    ).encode()
    return text[: draw(st.integers(0, len(text) - 1))]


@st.composite
def _invalid_utf8(draw: st.DrawFn) -> bytes:
    """A real payload with a byte sequence that is not UTF-8 inside."""
    head = b'{"hook_event_name": "UserPromptSubmit", "session_id": "s-1", "prompt": "'
    return (
        head + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"])) + b'"}'
    )


_not_objects = _json.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode())
_random_bytes = st.binary(max_size=200).filter(lambda b: not b.strip().startswith(b"{"))
GARBAGE = st.one_of(_wrong_types(), _truncated(), _invalid_utf8(), _not_objects, _random_bytes)


def _state(repo: Path) -> tuple[int, int, int, bool, bool]:
    with bitloops.Repository.open(repo) as r:
        ((sessions, events, quarantined),) = r.store.execute(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM live_events), "
            "(SELECT count(*) FROM quarantine)"
        )
    common = repo / ".git" / "bitloops"
    states = (common / "transcripts").exists() and any((common / "transcripts").glob("*.json"))
    return sessions, events, quarantined, states, (common / "spool.jsonl").exists()


@pytest.fixture
def small_repo(git_repo: Path) -> Path:
    """A repository with a small max_payload_bytes, so that huge fields are quick to make."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        json.dumps({"max_payload_bytes": _MAX_PAYLOAD})
    )
    return git_repo


def _feed(repo: Path, name: str, raw: bytes) -> None:
    err = io.StringIO()
    where = run_agent_hook(name, io.BytesIO(raw), repo, err)
    assert where is not None  # a failure, reported as such
    assert "Traceback" not in err.getvalue() and err.getvalue().count("\n") == 1


@pytest.mark.parametrize("name", sorted(AGENTS))
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=GARBAGE)
def test_garbage_is_quarantined_and_nothing_else(small_repo: Path, name: str, raw: bytes) -> None:
    """Each garbage payload adds one quarantine row and writes nothing else."""
    before = _state(small_repo)[2] if (small_repo / ".git" / "bitloops").exists() else 0
    _feed(small_repo, name, raw)
    sessions, events, quarantined, states, spooled = _state(small_repo)
    assert (sessions, events, states, spooled) == (0, 0, False, False)
    assert quarantined == before + 1


@given(
    event=st.text(max_size=30).filter(
        lambda t: not (t[:1].isupper() and t.isascii() and t.isalpha() and 2 <= len(t) <= 64)
    )
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_unknown_claude_code_events_are_quarantined(small_repo: Path, event: str) -> None:
    """A hook_event_name that is no Claude Code event name starts no session."""
    raw = json.dumps({"hook_event_name": event, "session_id": "s-1", "cwd": str(small_repo)})
    _feed(small_repo, "claude-code", raw.encode())
    assert _state(small_repo)[:2] == (0, 0)


@pytest.mark.parametrize(
    "field", ["prompt", "tool_name", "session_id", "last_assistant_message", "agent_type"]
)
def test_huge_fields_start_no_session(small_repo: Path, field: str) -> None:
    """A field over max_payload_bytes: quarantined before any session starts."""
    events = {
        "prompt": "UserPromptSubmit",
        "tool_name": "PostToolUse",
        "session_id": "UserPromptSubmit",
        "last_assistant_message": "Stop",
        "agent_type": "SubagentStart",
    }
    payload = {"hook_event_name": events[field], "session_id": "s-1", "prompt": "hi"}
    payload[field] = "x" * (_MAX_PAYLOAD * 2)
    _feed(small_repo, "claude-code", json.dumps(payload).encode())
    sessions, events_count, quarantined, _, _ = _state(small_repo)
    assert (sessions, events_count, quarantined) == (0, 0, 1)


# A prompt of each agent whose hook format the tests know, with valid ids.
PROMPTS = {
    "claude-code": {"hook_event_name": "UserPromptSubmit", "session_id": "s-1"},
    "codex": {"hook_event_name": "UserPromptSubmit", "session_id": "s-1"},
    "gemini": {"hook_event_name": "BeforeAgent", "session_id": "s-1"},
    "cursor": {"hook_event_name": "beforeSubmitPrompt", "conversation_id": "s-1"},
    "copilot": {"hookEventName": "userPromptSubmitted", "sessionId": "s-1"},
}


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_a_huge_prompt_starts_no_session(small_repo: Path, name: str) -> None:
    """A prompt over max_payload_bytes with valid ids: quarantined, and no session started."""
    text = "p" * (_MAX_PAYLOAD * 2)
    if name == "opencode":  # the plugin's envelope around OpenCode's own event
        part = {"sessionID": "ses_1", "id": "prt_1", "messageID": "msg_1", "type": "text"}
        payload: dict[str, object] = {
            "bitloops_opencode": 1,
            "hook": "event",
            "cwd": str(small_repo),
            "worktree": str(small_repo),
            "role": "user",
            "event": {
                "type": "message.part.updated",
                "properties": {"part": {**part, "text": text}},
            },
        }
    else:
        payload = {**PROMPTS[name], "prompt": text, "cwd": str(small_repo)}
    _feed(small_repo, name, json.dumps(payload).encode())
    sessions, events, quarantined, _, _ = _state(small_repo)
    assert (sessions, events, quarantined) == (0, 0, 1)


def test_an_oversized_payload_is_kept_cut(
    small_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the hook's read limit: quarantined with an excerpt and the reason, not parsed."""
    from bitloops.capture import _runner as base

    monkeypatch.setattr(base, "MAX_HOOK_BYTES", 1000)
    _feed(small_repo, "claude-code", b'{"prompt": "' + b"y" * 5000 + b'"}')
    with bitloops.Repository.open(small_repo) as r:
        ((_, _, agent, source, reason, payload),) = r.store.quarantined()
    assert (agent, source) == ("claude-code", "hook") and "over 1000 bytes" in reason
    assert len(payload) <= 1001


def test_quarantined_text_is_redacted_and_kept_when_not_utf8(small_repo: Path) -> None:
    """Secrets are redacted before the quarantine write; bad bytes are kept as escapes."""
    secret = "AKIA" + "Q3EXAMPLE7KEY2ZZ"
    _feed(small_repo, "codex", f'{{"prompt": "{secret}", "x": "'.encode() + b'\xff"}')
    with bitloops.Repository.open(small_repo) as r:
        ((_, _, _, _, reason, payload),) = r.store.quarantined()
    assert secret not in payload and "[REDACTED:aws-access-key]" in payload
    assert "\\xff" in payload and "UTF-8" in reason
    db = (small_repo / ".git" / "bitloops" / "bitloops.db").read_bytes()
    assert secret.encode() not in db


def test_doctor_reports_the_quarantine(small_repo: Path) -> None:
    """`bitloops doctor` counts the quarantine and says how to look at it and clear it."""
    from bitloops.doctor import diagnose

    _feed(small_repo, "gemini", b"[1, 2]")
    with bitloops.Repository.open(small_repo) as r:
        (finding,) = [f for f in diagnose(r).findings if f.check == "quarantine"]
        assert finding.severity == "warning" and "1 hook payload" in finding.message
        assert "SELECT" in finding.message and "clear_quarantine" in finding.message
        assert r.store.clear_quarantine() == 1
        assert not [f for f in diagnose(r).findings if f.check == "quarantine"]


GARBAGE_SAMPLES = {
    "random-bytes": bytes(range(256)),
    "truncated": b'{"hook_event_name": "PostToolUse", "session_id": "s-1", "tool_na',
    "not-an-object": b'"just a string"',
    "wrong-types": json.dumps({k: [1] for k in _ID_KEYS}).encode(),
    "huge": json.dumps({"hook_event_name": 7, "prompt": "z" * 200_000}).encode(),
}


@pytest.mark.parametrize("sample", sorted(GARBAGE_SAMPLES))
def test_garbage_through_the_real_command(small_repo: Path, sample: str) -> None:
    """`python -m bitloops hook NAME` on garbage: exit 0, no stdout, no traceback, quarantined."""
    for name in sorted(AGENTS):
        proc = subprocess.run(
            [sys.executable, "-m", "bitloops", "hook", name],
            cwd=small_repo,
            input=GARBAGE_SAMPLES[sample],
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert (proc.returncode, proc.stdout) == (0, b"")
        assert b"Traceback" not in proc.stderr
    sessions, events, quarantined, _, _ = _state(small_repo)
    assert (sessions, events, quarantined) == (0, 0, len(AGENTS))


@pytest.mark.parametrize("name", ["claude-code", "codex", "copilot"])
def test_a_nul_in_a_transcript_path_is_quarantined(small_repo: Path, name: str) -> None:
    """A path holding NUL cannot be opened: the payload is quarantined, not lost."""
    stop = {
        "claude-code": {"hook_event_name": "Stop", "session_id": "s-1"},
        "codex": {"hook_event_name": "Stop", "session_id": "s-1"},
        "copilot": {"hookEventName": "agentStop", "sessionId": "s-1"},
    }[name]
    payload = {**stop, "transcript_path": "/tmp/a\x00b.jsonl", "cwd": str(small_repo)}
    _feed(small_repo, name, json.dumps(payload).encode())
    sessions, events, quarantined, _, _ = _state(small_repo)
    assert (sessions, events, quarantined) == (0, 0, 1)
