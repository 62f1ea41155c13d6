"""bitloops blame: agent, human or unknown per line, from the agent's recorded edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import commit_files, git

import bitloops
from bitloops.capture._runner import fit_payload
from bitloops.context._blame import BlameLine, blame

V1_AGENT = (
    "import hmac\n\n\ndef check(user, password):\n    return hmac.compare_digest(user, password)\n"
)


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bitloops ARGS`` in ``repo``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )


def by_text(lines: list[BlameLine]) -> dict[str, str]:
    """Each non-blank line's text -> who wrote it."""
    return {x.text: x.written_by for x in lines if x.text.strip()}


def test_blame_across_two_commits_and_a_rename(repo: bitloops.Repository, git_repo: Path) -> None:
    """Agent Write and Edit lines are agent's, hand-made ones human, after a rename too."""
    path = git_repo / "auth.py"
    with repo.start_session(agent="claude-code", model="claude-opus-4") as s:
        s.prompt("Write a constant-time check")
        s.record(
            "tool_use",
            {"name": "Write", "input": {"file_path": str(path), "content": V1_AGENT}},
        )
        s.file_change("auth.py", "added")
    # The developer adds a line by hand before committing.
    first = commit_files(git_repo, {"auth.py": V1_AGENT + "\n\nTIMEOUT = 30  # by hand\n"})
    repo.promote()
    with repo.start_session(agent="claude-code", model="claude-opus-4") as s:
        s.prompt("Reject empty passwords")
        s.record(
            "tool_use",
            {
                "name": "Edit",
                "input": {
                    "file_path": str(path),
                    "old_string": "    return hmac.compare_digest(user, password)",
                    "new_string": "    if not password:\n        return False\n"
                    "    return hmac.compare_digest(user, password)",
                },
            },
        )
        s.file_change("auth.py", "modified")
    text = (
        path.read_text()
        .replace("    if", "    if")
        .replace(
            "    return hmac.compare_digest(user, password)",
            "    if not password:\n        return False\n"
            "    return hmac.compare_digest(user, password)",
        )
    )
    text = text.replace("TIMEOUT = 30  # by hand", "TIMEOUT = 60  # by hand, again")
    second = commit_files(git_repo, {"auth.py": text})
    repo.promote()
    git(git_repo, "mv", "auth.py", "login.py")
    third = commit_files(git_repo, {"login.py": text + "RETRIES = 3\n"}, "rename, by hand")
    lines = blame(repo, "login.py")
    who = by_text(lines)
    assert who["import hmac"] == "agent"
    assert who["def check(user, password):"] == "agent"
    assert who["    return hmac.compare_digest(user, password)"] == "agent"
    assert who["    if not password:"] == "agent"
    assert who["        return False"] == "agent"
    assert who["TIMEOUT = 60  # by hand, again"] == "human"
    assert who["RETRIES = 3"] == "human"
    rows = {x.text: x for x in lines}
    assert rows["import hmac"].commit_sha == first
    assert rows["import hmac"].original_path == "auth.py"
    assert rows["import hmac"].prompt == "Write a constant-time check"
    assert rows["    if not password:"].commit_sha == second
    assert rows["    if not password:"].prompt == "Reject empty passwords"
    assert rows["    if not password:"].model == "claude-opus-4"
    assert rows["RETRIES = 3"].commit_sha == third and rows["RETRIES = 3"].checkpoint_id is None
    data = json.loads(cli(git_repo, "blame", "login.py", "--json").stdout)
    assert {x["text"]: x["written_by"] for x in data["lines"]}["import hmac"] == "agent"
    proc = cli(git_repo, "blame", "login.py")
    assert proc.returncode == 0 and "agent" in proc.stdout and "human" in proc.stdout
    assert "Reject empty passwords" in proc.stdout


def test_cut_redacted_and_shell_edits_are_unknown(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Lines of cut or redacted Write payloads, or written through a shell, are never human."""
    big = "".join(f"LINE_{i} = {i}\n" for i in range(400))
    secret = 'TOKEN = "ghp_Zx9Qm2Lk7Rt5Vb3Nc8Hd4Jf6Gs1Pw0Ey2Ua7"\n'
    with repo.start_session(agent="claude-code") as s:
        s.prompt("Generate the tables")
        payload = {
            "name": "Write",
            "input": {"file_path": str(git_repo / "big.py"), "content": big},
        }
        cut, _ = fit_payload(payload, repo.redactor, 4096)  # as the hooks record it
        assert cut.get("input_truncated")
        s.record("tool_use", cut)
        s.record(
            "tool_use",
            {"name": "Write", "input": {"file_path": str(git_repo / "conf.py"), "content": secret}},
        )
    commit_files(git_repo, {"big.py": big, "conf.py": secret})
    repo.promote()
    assert {x.written_by for x in blame(repo, "big.py")} == {"unknown"}
    assert by_text(blame(repo, "conf.py"))[secret.strip()] == "unknown"
    with repo.start_session(agent="codex") as s:
        s.prompt("Sed the file")
        s.record(
            "tool_use", {"name": "shell", "input": {"command": ["sed", "-i", "s/1/2/", "x.py"]}}
        )
    commit_files(git_repo, {"x.py": "x = 2\n"})
    repo.promote()
    assert [x.written_by for x in blame(repo, "x.py")] == ["unknown"]


def test_the_claude_code_hook_payloads_count(git_repo: Path) -> None:
    """Write recorded through the Claude Code PostToolUse hook makes its lines the agent's."""
    path = git_repo / "hooked.py"
    content = "def hooked():\n    return 42\n"
    base = {"session_id": "sess-1", "transcript_path": "", "cwd": str(git_repo)}
    events = [
        {**base, "hook_event_name": "SessionStart", "source": "startup", "model": "claude-opus-4"},
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": "Add hooked()"},
        {
            **base,
            "hook_event_name": "PostToolUse",
            "tool_name": "Write",
            "tool_input": {"file_path": str(path), "content": content},
            "tool_use_id": "toolu_01",
            "tool_response": {"type": "create", "filePath": str(path)},
        },
    ]
    for event in events:
        proc = subprocess.run(
            [sys.executable, "-m", "bitloops", "hook", "claude-code"],
            cwd=git_repo,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    path.write_text(content + "# reviewed\n")
    commit_files(git_repo, {"hooked.py": content + "# reviewed\n"})
    with bitloops.Repository.open(git_repo) as r:
        assert r.promote() is not None
        who = by_text(blame(r, "hooked.py"))
    assert who == {"def hooked():": "agent", "    return 42": "agent", "# reviewed": "human"}
