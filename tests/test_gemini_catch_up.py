"""Gemini CLI's catch-up reader, made cheaper per line (issue #12 item 2), keeps its results.

A session file whose
messages change model is recorded with each message's model, on the light path as on
the full; an ``AfterAgent`` without its final text records what the file brought, and
one after ``SessionEnd`` still resumes the session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import light_path as lp
import pytest

import bitloops
from bitloops.agents import gemini
from bitloops.testing import create_repository

SID = "gm-catch-up"


def _message(n: int, model: str | None) -> str:
    line: dict[str, Any] = {
        "id": f"g-{n}",
        "timestamp": f"2026-06-01T10:00:{n:02d}.000Z",
        "type": "gemini",
        "content": f"Done with step {n}.",
        "thoughts": [{"subject": "Thinking", "description": f"step {n}: check"}],
        "tokens": {"input": 100, "output": 20, "total": 120},
    }
    if model is not None:
        line["model"] = model
    return json.dumps(line) + "\n"


def _payload(repo: Path, path: Path, name: str, **extra: Any) -> dict[str, Any]:
    return {"hook_event_name": name, "session_id": SID, "cwd": str(repo),
            "transcript_path": str(path), "timestamp": "2026-06-01T10:00:01.000Z",
            **extra}  # fmt: skip


def _stored(repo: Path) -> list[str]:
    """Every live event line, ids and times masked (and the twins' first commits)."""
    return [
        re.sub(r'"base_commit":"[0-9a-f]+"', '"base_commit":"X"', lp.masked(line, seq=False))
        for _, line in lp.rows(repo, starts=True)
    ]


def _deliver(repo: Path, payload: dict[str, Any], *, light: bool) -> None:
    """The payload through the light path (which must take it), or the full one."""
    if light:
        assert gemini._fast(lp.located(repo), payload)
    else:
        gemini.handle(payload)


@pytest.mark.parametrize("light", [True, False], ids=["light", "full"])
def test_each_message_is_recorded_with_its_own_model(tmp_path: Path, light: bool) -> None:
    """Messages on one model, then another, one naming none, then the first again: each
    event carries the model its message named (or the one before), as does the session."""
    repo = create_repository(tmp_path / "work").path
    path = tmp_path / "session.jsonl"
    path.write_text("", encoding="utf-8")
    gemini.handle({**_payload(repo, path, "SessionStart"), "source": "startup"})
    models = ["gemini-2.5-pro", "gemini-2.5-pro", "gemini-2.5-flash", None, "gemini-2.5-pro"]
    path.write_text("".join(_message(n, m) for n, m in enumerate(models)), encoding="utf-8")
    _deliver(repo, _payload(repo, path, "AfterAgent"), light=light)
    events = [json.loads(line) for _, line in lp.rows(repo, starts=False)]
    want = ["gemini-2.5-pro", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash"]
    want.append("gemini-2.5-pro")
    by_message = {e["payload"]["message_id"]: e for e in events if e["kind"] == "response"}
    assert [by_message[f"g-{n}"]["payload"]["model"] for n in range(5)] == want
    assert [by_message[f"g-{n}"]["model"] for n in range(5)] == want
    assert [e["kind"] for e in events].count("reasoning") == 5
    assert [e["kind"] for e in events].count("note") == 5  # the token usage of each
    with bitloops.Repository.open(repo) as r:
        assert r.store.sessions(session_ids=[SID])[0].model == "gemini-2.5-pro"


def test_a_model_switching_file_stores_alike_on_both_paths(tmp_path: Path) -> None:
    """The same session file, read in two catch-ups with and without a final text: the
    light path stores the full path's lines, byte for byte."""
    twins = create_repository(tmp_path / "light").path, create_repository(tmp_path / "full").path
    models = ["gemini-2.5-pro", "gemini-2.5-flash", None, "gemini-2.5-pro"]
    for repo in twins:
        path = tmp_path / f"{repo.name}.jsonl"
        path.write_text("", encoding="utf-8")
        gemini.handle({**_payload(repo, path, "SessionStart"), "source": "startup"})
        light = repo is twins[0]
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(_message(n, m) for n, m in enumerate(models))
        _deliver(repo, _payload(repo, path, "AfterAgent"), light=light)
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(_message(n, m) for n, m in enumerate(models, start=10))
        stop = _payload(repo, path, "AfterAgent", prompt_response="Done with step 13.")
        _deliver(repo, stop, light=light)
        again = _payload(repo, path, "AfterAgent", prompt_response="A new text.")
        _deliver(repo, again, light=light)
    assert _stored(twins[0]) == _stored(twins[1])
    texts = [json.loads(line)["payload"].get("text") for line in _stored(twins[0])]
    assert texts.count("Done with step 13.") == 1  # the file brought it: the hook's is dropped
    assert texts.count("A new text.") == 1


@pytest.mark.parametrize("light", [True, False], ids=["light", "full"])
def test_an_after_agent_without_its_text_records_the_file_and_resumes(
    tmp_path: Path, light: bool
) -> None:
    """AfterAgent with no final text (or a blank one) records what the file brought; after
    SessionEnd it resumes the session first, as with a text."""
    repo = create_repository(tmp_path / "work").path
    path = tmp_path / "session.jsonl"
    path.write_text("", encoding="utf-8")
    gemini.handle({**_payload(repo, path, "SessionStart"), "source": "startup"})
    path.write_text(_message(1, "gemini-2.5-pro"), encoding="utf-8")
    _deliver(repo, _payload(repo, path, "AfterAgent", prompt_response="  "), light=light)
    gemini.handle(_payload(repo, path, "SessionEnd", reason="exit"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(_message(2, "gemini-2.5-pro"))
    gemini.handle(_payload(repo, path, "AfterAgent"))  # resuming is the full path's
    kinds = [json.loads(line)["kind"] for _, line in lp.rows(repo, starts=True)]
    assert kinds == [
        "session_start", "reasoning", "response", "note", "session_end",
        "session_start", "reasoning", "response", "note",
    ]  # fmt: skip
    with bitloops.Repository.open(repo) as r:
        assert r.store.sessions(session_ids=[SID])[0].status == "active"
