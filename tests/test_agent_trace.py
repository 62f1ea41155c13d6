"""``bitloops export --agent-trace``: an Agent Trace record (RFC 0.1.0) of a commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_files

import bitloops
from bitloops.agent_trace import VENDOR_KEY, agent_trace

jsonschema = pytest.importorskip("jsonschema")

# The RFC's shape, written down in our own words: a record names the format version, its
# own id, when, the revision (git) and the tool; per file, conversations, each with one
# contributor (human, ai, mixed or unknown; a model id for ai) and its line ranges
# (1-based, inclusive, an optional content hash); anything else under metadata, vendor
# keys spelled as reverse domain names.
RANGE = {
    "type": "object",
    "required": ["start_line", "end_line"],
    "properties": {
        "start_line": {"type": "integer", "minimum": 1},
        "end_line": {"type": "integer", "minimum": 1},
        "content_hash": {"type": "string"},
    },
}
AGENT_TRACE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "id", "timestamp", "files"],
    "properties": {
        "version": {"const": "0.1.0"},
        "id": {"type": "string", "format": "uuid"},
        "timestamp": {"type": "string", "format": "date-time"},
        "vcs": {
            "type": "object",
            "required": ["type", "revision"],
            "properties": {"type": {"const": "git"}, "revision": {"type": "string"}},
        },
        "tool": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "conversations"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "conversations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["contributor", "ranges"],
                            "properties": {
                                "url": {"type": "string", "format": "uri"},
                                "contributor": {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {
                                        "type": {"enum": ["human", "ai", "mixed", "unknown"]},
                                        "model_id": {"type": "string"},
                                    },
                                },
                                "ranges": {"type": "array", "items": RANGE, "minItems": 1},
                            },
                        },
                    },
                },
            },
        },
        "metadata": {
            "type": "object",
            "propertyNames": {"pattern": r"^[a-z0-9-]+(\.[a-z0-9-]+)+$"},
        },
    },
}

V1 = "class Client:\n    def send(self):\n        return 1\n"
AGENT_PART = "for _ in range(3):\n            return 1"
V2 = (
    "class Client:\n    def send(self):\n        for _ in range(3):\n            return 1\n"
    "    # checked by hand before the release\n"
)


def make_commit(git_repo: Path) -> tuple[str, bitloops.Checkpoint]:
    """A commit where the agent's Edit wrote two lines of client.py and a person one more,
    and a person wrote NOTES.md; its checkpoint."""
    commit_files(git_repo, {"client.py": V1}, "add client")
    with bitloops.Repository.open(git_repo) as repo:
        with repo.start_session(agent="claude-code", model="claude-opus-4") as s:
            s.prompt("Retry send() three times")
            s.tool_use(
                "Edit",
                {"file_path": "client.py", "old_string": "return 1", "new_string": AGENT_PART},
            )
            s.file_change("client.py", "modified")
        sha = commit_files(git_repo, {"client.py": V2, "NOTES.md": "Retries: 3.\n"}, "retry")
        cp = repo.promote()
    assert cp is not None
    return sha, cp


def test_mixed_agent_and_human_lines(git_repo: Path) -> None:
    """The agent's lines are ai with the model; the person's line and file are human."""
    sha, cp = make_commit(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        record = agent_trace(repo, "HEAD")
    jsonschema.Draft202012Validator(
        AGENT_TRACE_SCHEMA, format_checker=jsonschema.FormatChecker()
    ).validate(record)
    assert record["vcs"] == {"type": "git", "revision": sha}
    assert record["tool"]["name"] == "bitloops"
    files = {f["path"]: f["conversations"] for f in record["files"]}
    assert files["client.py"] == [
        {
            "contributor": {"type": "ai", "model_id": "claude-opus-4"},
            "ranges": [{"start_line": 3, "end_line": 4}],
        },
        {"contributor": {"type": "human"}, "ranges": [{"start_line": 5, "end_line": 5}]},
    ]
    assert files["NOTES.md"] == [
        {"contributor": {"type": "human"}, "ranges": [{"start_line": 1, "end_line": 1}]}
    ]
    ours = record["metadata"][VENDOR_KEY]
    assert ours["checkpoint_ids"] == [cp.checkpoint_id]
    assert ours["lines"] == {"ai": 2, "human": 2, "unknown": 0}
    assert ours["ai_ranges"] == [
        {"path": "client.py", "start_line": 3, "end_line": 4, "agent": "claude-code",
         "model": "claude-opus-4", "checkpoint_id": cp.checkpoint_id}
    ]  # fmt: skip


def test_same_attribution_as_blame(git_repo: Path) -> None:
    """Every line the record gives to the agent, `blame` gives to the agent too."""
    make_commit(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        record = agent_trace(repo)
        from bitloops.context._blame import blame

        by_blame = {b.number: b.written_by for b in blame(repo, "client.py")}
    conversations = next(f for f in record["files"] if f["path"] == "client.py")["conversations"]
    for conv in conversations:
        expected = {"ai": "agent", "human": "human"}[conv["contributor"]["type"]]
        for r in conv["ranges"]:
            for line in range(r["start_line"], r["end_line"] + 1):
                assert by_blame[line] == expected, line


def test_command_line(git_repo: Path, tmp_path: Path) -> None:
    """Printed by default, written with -o; a commit without a checkpoint fails clearly."""
    make_commit(git_repo)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bitloops", "export", "--agent-trace", *args],
            cwd=git_repo, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    proc = run("HEAD")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["version"] == "0.1.0"
    out = tmp_path / "trace" / "head.json"
    proc = run("HEAD", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["file"] == str(out)
    assert json.loads(out.read_text(encoding="utf-8")) == printed  # same id: deterministic
    proc = run("HEAD~1")
    assert proc.returncode == 1
    assert "has no checkpoint" in proc.stderr
    both = subprocess.run(
        [sys.executable, "-m", "bitloops", "export", "--agent-trace", "--html", "HEAD"],
        cwd=git_repo, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_an_added_line_reading_plus_plus_is_not_a_file_header() -> None:
    """In a -U0 diff an added line "++ b" shows as "+++ b": a line of the file, not a
    new file's header (which follows a "--- " line)."""
    from bitloops.agent_trace import _added_lines

    diff = "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -0,0 +1,3 @@\n+a\n+++ b\n+c\n"
    assert _added_lines(diff) == {"x.c": [(1, "a"), (2, "++ b"), (3, "c")]}
