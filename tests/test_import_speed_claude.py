"""The Claude Code reader's fast paths for an import (issue 11 item 10) keep its results.

The line parser refuses and accepts what ``json_object`` does; an earlier session's
recorded line ids are held in bounded memory and exactly; an import's reading state
keeps the newest line keys, as reading line by line did.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bitloops
from bitloops.agents import claude_code
from bitloops.capture import _transcript_state as ts
from bitloops.capture._importing import KeySet, import_transcript
from bitloops.capture._runner import json_object
from bitloops.testing import create_repository

LINES = [
    b'{"type": "user", "uuid": "u1"}\n',
    b'{"type":"user","uuid":"u1"}',
    b'{"a": 1}\r\n',
    b'{"a": 1}  \t \n',
    b'  {"a": 1}\n',
    b"\n",
    b"",
    b"{}\n",
    b"{} {}\n",
    b'{"a": 1} x\n',
    b'{"a": 1}}\n',
    b"[1, 2]\n",
    b'"text"\n',
    b"12\n",
    b'{"a": NaN}\n',
    b'{"a": "\\ud800"}\n',
    b'{"a": "\xff"}\n',
    b'\xef\xbb\xbf{"a": 1}\n',
    b'{"a": "x\ny"}\n',
    b'{"a": ',
    b"{" * 100_000 + b"}" * 100_000 + b"\n",
    b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    b'{"a": 1, "a": 2}\n',
    '{"é": "ü"}\n'.encode(),
]


def _as_json_loads(raw: bytes) -> dict[str, object] | None:
    """What a line holds by ``json.loads`` of its UTF-8: the object, else None."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


@pytest.mark.parametrize("raw", LINES, ids=range(len(LINES)))
def test_the_line_parser_agrees_with_json_loads(raw: bytes) -> None:
    """json_object's C-scanner path (every agent's transcript lines) accepts and refuses
    what json.loads does, in a process where json is loaded and (below) one where not."""
    got = json_object(raw)
    want = _as_json_loads(raw)
    assert repr(got) == repr(want)  # (NaN is not equal to itself)
    assert type(got) is type(want)


def test_the_line_parser_refuses_bad_lines_without_json_loaded() -> None:
    """Half-written last lines are refused without json loaded (the hooks never import it),
    and a malformed closed line is refused too (3.11's scanner says SystemError then)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bitloops.capture._runner import json_object\n"
        "half = [json_object(raw) for raw in (b'{\"a\": ', b'{\"a\": 1}\\n', b'{\"a\": [1, 2')]\n"
        "print(half, 'json.decoder' in sys.modules, json_object(b'{\"a\" 1}'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[None, {'a': 1}, None] False None\n"


def test_an_earlier_sessions_line_ids_are_held_exactly_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More ids than the key set keeps in memory: the older ones go to its scratch file,
    and every one is still found (live and committed alike), and no other."""
    monkeypatch.setattr(KeySet, "WINDOW", 50)
    work = create_repository(tmp_path / "work").path
    with bitloops.Repository.open(work) as repo:
        session = repo.start_session("claude-code", session_id="earlier")
        with repo.store.transaction():
            for i in range(400):
                session.record("note", {"text": f"n{i}", "transcript_uuid": f"u-{i}"})
            session.record("note", {"text": "not an id", "transcript_uuid": {"u-x": 1}})
            session.record("note", {"text": "no id"})
        state = ts.TranscriptState(session_id="earlier", seen=["from-state"])
        ts.save(repo.paths.common_dir, state)
        held = claude_code._held_uuids(repo, "earlier")
        assert len(held._new) + len(held._old) <= 2 * 50  # the rest in the scratch file
        assert all(f"u-{i}" in held for i in range(400))
        assert "from-state" in held
        assert "u-400" not in held and '{"u-x":1}' not in held and "u-x" not in held
        held.add("u-new")
        assert "u-new" in held


def _transcript(path: Path, cwd: Path, lines: int) -> list[str]:
    """A plain transcript of ``lines`` lines (prompts and replies); their uuids."""
    uuids = []
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(lines):
            uuid = f"line-{i:05d}"
            uuids.append(uuid)
            if i % 2 == 0:
                message: dict[str, object] = {"role": "user", "content": f"question {i}"}
            else:
                message = {"id": f"msg_{i}", "type": "message", "role": "assistant",
                           "model": "claude-opus-4-5", "content": [{"type": "text",
                           "text": f"answer {i}"}]}  # fmt: skip
            obj = {"type": message["role"], "uuid": uuid, "sessionId": "s-keys",
                   "cwd": str(cwd), "timestamp": f"2026-06-01T10:{i // 60 % 60:02d}:"
                   f"{i % 60:02d}.000Z", "message": message}  # fmt: skip
            fh.write(json.dumps(obj) + "\n")
    return uuids


def test_an_import_keeps_the_newest_line_keys_in_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys go into the reading state at the end of the read: the newest ones a state
    keeps, in file order, as when each line put its key there; a second import adds
    nothing."""
    monkeypatch.setattr(ts, "_MAX_SEEN", 40)
    work = create_repository(tmp_path / "work").path
    path = tmp_path / "s-keys.jsonl"
    uuids = _transcript(path, work, 300)
    with bitloops.Repository.open(work) as repo:
        first = import_transcript(repo, "claude-code", path)
        state = ts.load(repo.paths.common_dir, "s-keys")
        assert state.seen == uuids[-40:]
        assert state.offset == path.stat().st_size
        again = import_transcript(repo, "claude-code", path)
    assert first.events_added > 0 and again.events_added == 0
