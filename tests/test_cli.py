"""The `bitloops` command line, run as a real process in real git repositories."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.__main__ import main
from bitloops.cli import _browser, _explain, _registry, _status, _style

CLIENT_V1 = "class Client:\n    def send(self):\n        return 1\n"
CLIENT_V2 = "class Client:\n    def send(self):\n        for _ in range(3):\n            return 1\n"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bitloops ARGS`` in ``cwd`` with an 80-column, colourless setup."""
    environ = {**os.environ, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def record(
    git_repo: Path,
    prompt: str = "Add retries to the HTTP client",
    *,
    agent: str = "claude-code",
    model: str | None = "claude-sonnet-4",
    client: str = CLIENT_V2,
) -> bitloops.Checkpoint:
    """Record a full session, commit ``client.py`` and promote: one new checkpoint."""
    with bitloops.Repository.open(git_repo) as repo:
        with repo.start_session(agent=agent, model=model) as s:
            s.prompt(prompt + "\nwith details on a second line")
            s.reasoning("Requests fail under load with 503s.")
            s.plan("Wrap send() in a retry loop")
            s.constraint("No new dependencies")
            s.alternative("Use the tenacity library", reason="adds a dependency")
            s.decision("Exponential backoff with jitter", rationale="avoids synchronised retries")
            s.tool_use("edit", {"path": "client.py"}, output="ok")
            s.file_change("client.py", "modified")
            s.file_change("NOTES.md", "added")
            s.response("Added retries with exponential backoff.")
        commit_files(git_repo, {"client.py": client}, prompt)
        cp = repo.promote()
    assert cp is not None
    return cp


@pytest.fixture
def recorded(git_repo: Path) -> bitloops.Checkpoint:
    """``git_repo`` with client.py committed, then one recorded and promoted change to it."""
    commit_files(git_repo, {"client.py": CLIENT_V1}, "add client")
    return record(git_repo)


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    """Assert the process printed one clean ``bitloops:`` error line, not a traceback."""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("bitloops: ")
    assert proc.stderr.count("\n") == 1


# -- status ------------------------------------------------------------------------------


def test_status_before_recording(git_repo: Path) -> None:
    """A fresh repository: no git hooks, no agents, no session, no checkpoints; and the
    status is read from files, creating nothing (no database, no bitloops folder)."""
    proc = run(git_repo, "status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Capture:     off: the git hooks are not installed here (run `bitloops enable`)",
        "Strategy:    manual_commit",
        "Agents:      none yet (run `bitloops enable --agent NAME`)",
        "Session:     none open",
        "Draft:       0 events not yet committed",
        "Checkpoints: 0 total (committed)",
    ]
    assert not (git_repo / ".git" / "bitloops").exists()
    data = json.loads(run(git_repo, "status", "--json").stdout)
    assert (data["git_hooks"], data["agents_enabled"], data["agents"]) == ([], [], [])


def test_status_before_any_database_says_what_waits_in_the_spool(git_repo: Path) -> None:
    """Hook events spooled while no database could be made are still said, and a lost
    database (its marker there, the file gone) is reported, not shown as a fresh start."""
    from bitloops.capture import _spool as spool
    from bitloops.repository import DB_MARKER_RELATIVE_PATH

    place = Path(spool.spool_path(git_repo / ".git"))
    place.parent.mkdir(parents=True, exist_ok=True)
    place.write_text('{"hook": "claude-code"}\n')
    proc = run(git_repo, "status")
    assert proc.returncode == 0, proc.stderr
    assert "Warnings:" in proc.stdout and "spool" in proc.stdout
    assert not (git_repo / ".git" / "bitloops" / "bitloops.db").exists()
    place.unlink()
    (git_repo / ".git" / DB_MARKER_RELATIVE_PATH).write_text("{}")
    proc = run(git_repo, "status")
    assert proc.returncode != 0 and "bitloops:" in proc.stderr


def test_status_follows_enable_and_disable(git_repo: Path) -> None:
    """After `enable --agent`: capture enabled, the agent enabled; after `disable`: off."""
    assert run(git_repo, "enable", "--agent", "claude-code").returncode == 0
    lines = run(git_repo, "status").stdout.splitlines()
    assert lines[0] == "Capture:     enabled (git hooks installed)"
    assert lines[2] == "Agents:      claude-code (enabled)"
    (git_repo / ".git" / "hooks" / "pre-push").unlink()
    lines = run(git_repo, "status").stdout.splitlines()
    missing = "Capture:     enabled; git hooks missing: pre-push (run `bitloops enable`)"
    assert lines[0] == missing
    assert run(git_repo, "disable").returncode == 0  # the git hooks; the agent's stay
    lines = run(git_repo, "status").stdout.splitlines()
    assert lines[0].startswith("Capture:     recording, but nothing is promoted")


def test_status_after_recording(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """An open session shows its state, age, agent, model and draft events; counts follow."""
    with bitloops.Repository.open(git_repo) as repo:
        s = repo.start_session(agent="cursor", model="gpt-5")
        s.prompt("Log each retry")
    proc = run(git_repo, "status")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2] == "Agents:      claude-code (recorded), cursor (recorded)"
    assert re.fullmatch(
        r"Session:     active \(started (just now|\ds ago)\): cursor, gpt-5, 2 draft events",
        lines[3],
    ), lines[3]
    assert "Draft:       2 events not yet committed" in lines
    assert lines[-1] == "Checkpoints: 1 total (committed)"
    assert "\x1b" not in proc.stdout


def test_status_json_shape(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """status --json has the documented keys and types."""
    with bitloops.Repository.open(git_repo) as repo:
        session = repo.start_session(agent="cursor")
    data = json.loads(run(git_repo, "status", "--json").stdout)
    assert list(data) == [
        "capture_enabled",
        "git_hooks",
        "strategy",
        "agents",
        "agents_enabled",
        "sessions",
        "private_sessions",
        "draft_event_count",
        "checkpoint_count",
        "committed_store",
        "unsent_count",
        "unsent_error",
        "warnings",
        "pending_folders",
    ]
    assert data["capture_enabled"] is True and data["checkpoint_count"] == 1
    assert data["agents"] == ["claude-code", "cursor"]
    [info] = data["sessions"]
    assert info["session_id"] == session.session_id and info["model"] is None
    assert info["status"] == "active" and info["event_count"] == 1
    assert info["started_at"].endswith("Z") and info["ended_at"] is None
    assert data["draft_event_count"] == 1 and data["warnings"] == []
    assert (data["committed_store"], data["unsent_count"], data["unsent_error"]) == (None, 0, None)


def test_status_shows_settings_warnings_and_disabled_capture(git_repo: Path) -> None:
    """Settings warnings are listed, and capture off reads 'disabled'."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"capture": false, "colour": "blue"}')
    proc = run(git_repo, "status")
    assert proc.returncode == 0, proc.stderr
    assert "Capture:     disabled" in proc.stdout
    assert re.search(r"^Warnings:    unknown key 'colour'", proc.stdout, re.M)
    assert json.loads(run(git_repo, "status", "--json").stdout)["warnings"] == [
        "unknown key 'colour' in .bitloops/settings.json (kept, not used by this version)"
    ]


def test_status_lines_render_idle_sessions() -> None:
    """An idle session shows when it started and when its last event was."""
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    idle = bitloops.SessionInfo(
        session_id="s1",
        agent="cursor",
        status="idle",
        started_at=now - timedelta(hours=3),
        last_event_at=now - timedelta(minutes=45),
        event_count=1,
    )
    status = bitloops.Status(
        capture_enabled=True,
        strategy="session",
        agents=("cursor",),
        active_sessions=(idle,),
        checkpoint_count=12,
        draft_event_count=1,
    )
    lines = _status.status_lines(status, ["a warning"], now=now)
    assert lines[3] == (
        "Session:     idle (started 3h ago, last event 45m ago): cursor, model unknown, "
        "1 draft event"
    )
    assert lines[-1] == "Warnings:    a warning"


def test_format_age_units() -> None:
    """Ages read like '2m ago', in the largest whole unit."""
    now = datetime(2026, 1, 5, tzinfo=UTC)
    ages = [0, 59, 60, 3599, 3600, 86400 * 2, 86400 * 400]
    assert [_style.format_age(now - timedelta(seconds=s), now) for s in ages] == [
        "just now",
        "59s ago",
        "1m ago",
        "59m ago",
        "1h ago",
        "2d ago",
        "1y ago",
    ]


# -- explain ---------------------------------------------------------------------------------


def test_explain_head(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """explain shows the reasoning: asked, outcome, decisions, rejected, files, symbols."""
    proc = run(git_repo, "explain")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == f"Commit:      {recorded.commit_sha[:12]} on main"
    assert lines[1] == f"Checkpoint:  {recorded.checkpoint_id}"
    assert re.fullmatch(
        r"Created:     \d{4}-\d\d-\d\d \d\d:\d\d UTC \((\d+[smh] ago|just now)\)", lines[2]
    )
    assert re.fullmatch(r"Agents:      claude-code \(claude-sonnet-4\): \d s, 12 events", lines[3])
    assert lines[5].startswith("Events:      12 (alternative 1, constraint 1,")
    for block in (
        "What was asked\n  - Add retries to the HTTP client\n    with details on a second line\n",
        "Outcome\n  - Added retries with exponential backoff.\n",
        "Decisions\n  - Exponential backoff with jitter\n"
        "    because avoids synchronised retries; [agent]\n",
        "Alternatives rejected\n  - Use the tenacity library\n"
        "    rejected: adds a dependency; [agent]\n",
        "Constraints followed\n  - No new dependencies\n    [agent]\n",
        "Plan\n  recorded by the agent\n    > Wrap send() in a retry loop\n",
        "Files\n  A NOTES.md   agent only\n  M client.py  in commit (agent)\n",
        "Symbols\n  client.py::Client.send (method)\n  client.py::client (module)\n",
    ):
        assert block in out
    assert "Transcript" not in out
    assert all(len(line) <= 80 for line in lines)


def test_explain_full_adds_the_transcript_cut_to_the_width(
    recorded: bitloops.Checkpoint, git_repo: Path
) -> None:
    """--full adds one line per event (time, agent, kind, payload), no wider than the terminal."""
    proc = run(git_repo, "explain", "--full", env={"COLUMNS": "72"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Transcript (12 events, "))
    transcript = lines[start + 1 :]
    assert len(transcript) == 12
    assert all(len(line) <= 72 for line in lines)
    kinds = [line.split()[2] for line in transcript]
    assert kinds == [e.kind for e in recorded.events]
    assert re.fullmatch(
        r"  \d\d:\d\d:\d\d  claude-code  prompt         Add retries.*…", transcript[1]
    )
    assert 'edit {"path": "client.py"} -> ok' in transcript[7]
    assert transcript[8].endswith("modified client.py")


def test_explain_by_ref_and_by_checkpoint_id(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """A SHA, a short SHA, a branch, a tag and the checkpoint id all name the same checkpoint."""
    expected = recorded.checkpoint_id
    git(git_repo, "tag", "v1")
    for ref in (recorded.commit_sha, recorded.commit_sha[:8], "main", "v1", expected):
        proc = run(git_repo, "explain", ref, "--json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["ref"] == ref
        assert [c["checkpoint_id"] for c in data["checkpoints"]] == [expected]
    text = run(git_repo, "explain", expected).stdout
    assert f"Checkpoint:  {expected}" in text and "What was asked" in text


def test_explain_json_shape(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """explain --json has the documented keys; --full adds the events."""
    [cp] = json.loads(run(git_repo, "explain", "--json").stdout)["checkpoints"]
    assert list(cp) == [
        "checkpoint_id",
        "commit_sha",
        "commits",
        "created_at",
        "branch",
        "strategy",
        "content_hash",
        "parent_checkpoint_id",
        "parent_hash",
        "summary",
        "files",
        "symbols",
        "models",
        "sessions",
        "event_count",
        "retractions",
        "distillation",
        "private",
    ]
    assert cp["distillation"] is None  # no distiller is configured
    assert cp["private"] is False
    assert cp["commit_sha"] == recorded.commit_sha and cp["commits"] == [recorded.commit_sha]
    assert cp["content_hash"] == recorded.content_hash and cp["event_count"] == 12
    summary = cp["summary"]
    decision, alternative = summary["decisions"][0], summary["alternatives"][0]
    assert len(summary["decisions"]) == len(summary["alternatives"]) == 1
    assert decision["text"] == "Exponential backoff with jitter"
    assert decision["rationale"] == "avoids synchronised retries"
    assert decision["source"] == "agent" and decision["confidence"] == 1.0
    assert decision["evidence"]["kind"] == "decision"
    assert decision["record_id"] == decision["evidence"]["event_id"]
    assert alternative["text"] == "Use the tenacity library"
    assert alternative["reason"] == "adds a dependency" and alternative["source"] == "agent"
    assert summary["event_counts"]["file_change"] == 2
    assert cp["files"] == [
        {
            "path": "NOTES.md",
            "change": "added",
            "old_path": None,
            "in_commit": False,
            "by_agent": True,
        },
        {
            "path": "client.py",
            "change": "modified",
            "old_path": None,
            "in_commit": True,
            "by_agent": True,
        },
    ]
    assert {
        "path": "client.py",
        "name": "Client.send",
        "kind": "method",
        "language": "python",
    } in cp["symbols"]
    assert cp["models"] == [{"agent": "claude-code", "model": "claude-sonnet-4"}]
    assert cp["sessions"][0]["status"] == "ended" and cp["sessions"][0]["event_count"] == 12
    [full] = json.loads(run(git_repo, "explain", "--json", "--full").stdout)["checkpoints"]
    assert len(full["events"]) == 12
    prompt = full["events"][1]
    assert set(prompt) == {
        "seq",
        "ts",
        "session_id",
        "event_id",
        "agent",
        "model",
        "kind",
        "payload",
        "artefacts",
    }
    assert prompt["kind"] == "prompt" and prompt["seq"] == 2
    assert prompt["payload"]["text"].startswith("Add retries")


def test_explain_shows_every_checkpoint_linked_newest_first(
    recorded: bitloops.Checkpoint, git_repo: Path
) -> None:
    """A commit linked to an older checkpoint as well shows both, newest first."""
    newer = record(git_repo, "Log each retry", agent="cursor", model="gpt-5", client=CLIENT_V1)
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.link("HEAD", recorded.checkpoint_id)
    proc = run(git_repo, "explain")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"2 checkpoints of {newer.commit_sha[:12]}, newest first"
    ids = [line.split()[1] for line in lines if line.startswith("Checkpoint:")]
    assert ids == [newer.checkpoint_id, recorded.checkpoint_id]
    assert f"Also linked: {newer.commit_sha[:12]}" in lines
    data = json.loads(run(git_repo, "explain", "--json").stdout)
    assert [c["checkpoint_id"] for c in data["checkpoints"]] == ids


def test_explain_commit_without_checkpoint_exits_1(git_repo: Path) -> None:
    """A commit made without a recorded session: a clear message and exit status 1."""
    proc = run(git_repo, "explain")
    assert proc.returncode == 1
    assert proc.stdout == ""
    no_traceback(proc)
    assert "has no checkpoint" in proc.stderr
    proc = run(git_repo, "explain", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"ref": "HEAD", "checkpoints": []}


def test_unknown_ref_exits_2(git_repo: Path) -> None:
    """A ref that is neither a commit nor a checkpoint id: exit 2, its name, no traceback."""
    proc = run(git_repo, "explain", "no-such-branch")
    assert proc.returncode == 2
    no_traceback(proc)
    assert "'no-such-branch'" in proc.stderr


# -- errors ----------------------------------------------------------------------------------


def test_not_a_git_repository_exits_2(tmp_path: Path) -> None:
    """Outside a git work tree every command says so and exits 2."""
    folder = tmp_path / "plain"
    folder.mkdir()
    for command in _registry.COMMANDS:
        proc = run(folder, command)
        assert proc.returncode == 2, command
        no_traceback(proc)
        assert "is not inside a git work tree" in proc.stderr


def test_corrupted_database_exits_2(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """A database file that is not SQLite: exit 2 with the library's advice, no traceback."""
    with bitloops.Repository.open(git_repo) as repo:
        db = repo.db_path
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database, just bytes " * 200)
    for command in ("status", "explain", "verify", "rewind"):
        proc = run(git_repo, command)
        assert proc.returncode == 2, command
        no_traceback(proc)
        assert "is damaged or not a SQLite database" in proc.stderr


def test_bad_settings_json_exits_2(git_repo: Path) -> None:
    """A settings file that is not JSON: exit 2 naming the file."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"strategy": ')
    proc = run(git_repo, "status")
    assert proc.returncode == 2
    no_traceback(proc)
    assert "settings.json is not valid JSON" in proc.stderr


def test_usage_errors_exit_2(git_repo: Path) -> None:
    """An unknown command or option, no command, or a bad --limit: exit 2."""
    assert run(git_repo, "frobnicate").returncode == 2
    assert run(git_repo, "status", "--frob").returncode == 2
    proc = run(git_repo)
    assert proc.returncode == 2 and "usage: bitloops" in proc.stderr
    proc = run(git_repo, "rewind", "--limit", "0")
    assert proc.returncode == 2
    no_traceback(proc)


# -- verify ------------------------------------------------------------------------------------


def test_verify_ok(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """Untouched history verifies: one final OK line, exit 0."""
    proc = run(git_repo, "verify")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1 checkpoint checked: 0 errors, 0 notes - OK\n"
    assert json.loads(run(git_repo, "verify", "--json").stdout) == {
        "ok": True,
        "checked": 1,
        "problems": [],
    }


def test_verify_after_tampering_exits_1(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """Dropping a trigger and editing a row: each problem on a line, FAILED, exit 1."""
    with bitloops.Repository.open(git_repo) as repo:
        db = repo.db_path
    conn = apsw.Connection(str(db))
    conn.execute("DROP TRIGGER checkpoint_events_immutable_update")
    conn.execute("UPDATE checkpoint_events SET line = replace(line, 'retries', 'nothing')")
    conn.close()
    proc = run(git_repo, "verify")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"error  triggers_missing +-  +immutability triggers removed: .+", lines[0])
    short = recorded.commit_sha[:12]
    assert any(
        re.fullmatch(rf"error  content_mismatch +{short}  the stored content .+", line)
        for line in lines
    )
    assert re.fullmatch(r"1 checkpoint checked: \d+ errors, \d+ notes? - FAILED", lines[-1])
    data = json.loads(run(git_repo, "verify", "--json").stdout)
    assert data["ok"] is False and data["checked"] == 1
    kinds = {p["kind"] for p in data["problems"]}
    assert {"triggers_missing", "content_mismatch"} <= kinds
    problem = next(p for p in data["problems"] if p["kind"] == "content_mismatch")
    assert problem["commit_sha"] == recorded.commit_sha and problem["severity"] == "error"


# -- rewind -------------------------------------------------------------------------------------


def test_rewind_lists_checkpoints_newest_first(
    recorded: bitloops.Checkpoint, git_repo: Path
) -> None:
    """Piped, rewind prints one line per checkpoint: short SHA, date, agents, first prompt line."""
    newer = record(git_repo, "Log each retry", agent="cursor", model="gpt-5", client=CLIENT_V1)
    proc = run(git_repo, "rewind")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.fullmatch(rf"{newer.commit_sha[:12]}  {date}  cursor       Log each retry", lines[0])
    assert re.fullmatch(
        rf"{recorded.commit_sha[:12]}  {date}  claude-code  Add retries to the HTTP client",
        lines[1],
    )
    [newest] = run(git_repo, "rewind", "--list", "-n", "1").stdout.splitlines()
    assert re.fullmatch(rf"{newer.commit_sha[:12]}  {date}  cursor  Log each retry", newest)
    data = json.loads(run(git_repo, "rewind", "--json").stdout)
    assert [c["commit_sha"] for c in data["checkpoints"]] == [
        newer.commit_sha,
        recorded.commit_sha,
    ]
    assert data["checkpoints"][1] == {
        "checkpoint_id": recorded.checkpoint_id,
        "commit_sha": recorded.commit_sha,
        "created_at": data["checkpoints"][1]["created_at"],
        "branch": "main",
        "agents": ["claude-code"],
        "headline": "Add retries to the HTTP client",
        "event_count": 12,
    }


def test_rewind_without_checkpoints_exits_1(git_repo: Path) -> None:
    """An empty history is 'nothing found'."""
    proc = run(git_repo, "rewind")
    assert proc.returncode == 1
    no_traceback(proc)
    proc = run(git_repo, "rewind", "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout) == {"checkpoints": []}


def test_rewind_browser_moves_opens_scrolls_and_goes_back(
    recorded: bitloops.Checkpoint, git_repo: Path
) -> None:
    """The browser's state, without curses: move, open, scroll, toggle transcript, back, quit."""
    newer = record(git_repo, "Log each retry", agent="cursor", model="gpt-5", client=CLIENT_V1)
    with bitloops.Repository.open(git_repo) as repo:
        browser = _browser.RewindBrowser(repo.checkpoints())
    height, width = 12, 70
    screen = browser.screen(height, width)
    assert len(screen) == height
    assert screen[0] == ("bitloops rewind: 2 checkpoints, newest first", "title")
    assert screen[1][0].startswith(newer.commit_sha[:12]) and screen[1][1] == "selected"
    assert screen[2][0].startswith(recorded.commit_sha[:12]) and screen[2][1] == "text"
    assert screen[-1][1] == "help" and "q quit" in screen[-1][0]
    browser.act("up", height, width)
    assert browser.selected == 0
    browser.act("down", height, width)
    browser.act("down", height, width)
    assert browser.selected == 1
    browser.act("open", height, width)
    detail = browser.detail(width)
    assert detail == _explain.explain_lines(recorded, width=width)[: len(detail)]
    screen = browser.screen(height, width)
    assert screen[0][0].startswith(f"checkpoint of {recorded.commit_sha[:12]}")
    assert [text for text, _ in screen[1:-1]] == detail[: height - 2]
    browser.act("end", height, width)
    assert browser.scroll == len(detail) - (height - 2)
    browser.act("page_down", height, width)
    assert browser.scroll == len(detail) - (height - 2)
    browser.act("transcript", height, width)
    assert any(line.startswith("Transcript (12 events") for line in browser.detail(width))
    browser.act("back", height, width)
    assert browser.opened is None and browser.selected == 1
    browser.act("quit", height, width)
    assert browser.done


def test_rewind_browser_keeps_the_selection_visible(
    recorded: bitloops.Checkpoint, git_repo: Path
) -> None:
    """In a terminal with room for one row, the list scrolls to follow the selection."""
    newer = record(git_repo, "Log each retry", client=CLIENT_V1)
    with bitloops.Repository.open(git_repo) as repo:
        browser = _browser.RewindBrowser(repo.checkpoints())
    browser.act("end", 3, 80)
    screen = browser.screen(3, 80)
    assert [kind for _, kind in screen] == ["title", "selected", "help"]
    assert screen[1][0].startswith(recorded.commit_sha[:12])
    browser.act("home", 3, 80)
    assert browser.screen(3, 80)[1][0].startswith(newer.commit_sha[:12])
    browser.selected = 1  # as if the terminal shrank after moving
    assert browser.screen(3, 80)[1][0].startswith(recorded.commit_sha[:12])


def _tmux_screen(tmux: list[str], want: Callable[[str], bool], what: str) -> str:
    """Poll the pane until ``want`` holds for its text; fail naming ``what`` after 15 s."""
    deadline = time.monotonic() + 15
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=False
        ).stdout
        if want(screen):
            return screen
        time.sleep(0.05)
    pytest.fail(f"the terminal never showed {what}; it showed:\n{screen}")


@pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed: the interactive rewind needs a real terminal to run in",
)
def test_rewind_interactive_in_a_real_terminal(
    recorded: bitloops.Checkpoint, git_repo: Path, tmp_path: Path
) -> None:
    """In a tmux terminal: list, open a checkpoint, go back, quit with q, terminal restored."""
    newer = record(git_repo, "Log each retry", agent="cursor", model="gpt-5", client=CLIENT_V1)
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    shell = f"{shlex.quote(sys.executable)} -m bitloops rewind; echo EXIT=$?; sleep 60"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLUMNS", "LINES")}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "40", "-c", str(git_repo), shell],
        env=env,
        check=True,
        timeout=30,
    )

    # Each wait is for the whole screen the step draws (a screen caught half drawn, its
    # header there and its rows not yet, made this test fail once in a dozen runs).
    def listed(s: str) -> bool:
        rows = s.splitlines()
        return (
            len(rows) > 2
            and rows[0] == "bitloops rewind: 2 checkpoints, newest first"
            and rows[1].startswith(newer.commit_sha[:12])
            and rows[1].endswith("Log each retry")
            and rows[2].startswith(recorded.commit_sha[:12])
            and "Enter open" in s
            and "checkpoint of" not in s
        )

    def opened(s: str) -> bool:
        return (
            s.startswith(f"checkpoint of {recorded.commit_sha[:12]}")
            and f"Checkpoint:  {recorded.checkpoint_id}" in s
            and "  - Exponential backoff with jitter" in s
            and "Esc/b back" in s
        )

    try:
        _tmux_screen(tmux, listed, "the list")
        subprocess.run([*tmux, "send-keys", "j", "Enter"], check=True)
        _tmux_screen(tmux, opened, "the opened checkpoint")
        subprocess.run([*tmux, "send-keys", "Escape"], check=True)
        _tmux_screen(tmux, listed, "the list again")

        subprocess.run([*tmux, "send-keys", "k", "Enter"], check=True)
        _tmux_screen(tmux, lambda s: newer.checkpoint_id in s, "the newer checkpoint")
        subprocess.run([*tmux, "send-keys", "b"], check=True)
        _tmux_screen(tmux, listed, "the list after b")

        subprocess.run([*tmux, "send-keys", "q"], check=True)
        screen = _tmux_screen(tmux, lambda s: "EXIT=" in s, "the shell after quitting")
        assert "EXIT=0" in screen
        assert "bitloops rewind:" not in screen  # the browser's screen is gone
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, check=False)


# -- global options, help, docs, in-process calls ------------------------------------------------


def test_dash_C_runs_as_if_started_there(recorded: bitloops.Checkpoint, git_repo: Path) -> None:
    """-C PATH (repeatable, relative to the one before) picks the repository; a bad one exits 2."""
    parent = git_repo.parent
    proc = run(parent, "-C", git_repo.name, "explain", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["checkpoints"][0]["checkpoint_id"] == recorded.checkpoint_id
    (git_repo / "src").mkdir()
    proc = run(parent, "-C", git_repo.name, "-C", "src", "rewind")
    assert proc.returncode == 0 and proc.stdout.startswith(recorded.commit_sha[:12])
    proc = run(parent, "-C", "missing", "status")
    assert proc.returncode == 2
    no_traceback(proc)
    assert "cannot change to 'missing'" in proc.stderr


@pytest.mark.parametrize("command", list(_registry.COMMANDS))
def test_help_for_each_command(git_repo: Path, command: str) -> None:
    """Every command has --help, which lists --json."""
    proc = run(git_repo, command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: bitloops {command}")
    assert "--json" in proc.stdout


def test_top_level_help_and_version(git_repo: Path) -> None:
    """--help lists every command; --version prints the version; python -m equals the script."""
    proc = run(git_repo, "--help")
    assert proc.returncode == 0
    for name, command in _registry.COMMANDS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(command.help)}$", proc.stdout, re.M)
    proc = run(git_repo, "--version")
    assert (proc.returncode, proc.stdout) == (0, f"bitloops {bitloops.__version__}\n")


def test_docs_cover_every_command_and_option() -> None:
    """docs/cli.md has a section per registered command naming each of its options."""
    text = DOCS.read_text(encoding="utf-8")
    sections = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^## bitloops (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    }
    parser = _registry.build_parser()
    subparsers = _registry.command_parsers(parser)
    assert set(subparsers) == set(_registry.COMMANDS)
    for name, sub in subparsers.items():
        assert name in sections, f"docs/cli.md has no '## bitloops {name}' section"
        body = sections[name]
        for heading in ("### Options", "### Exit status", "### JSON", "### Example"):
            assert heading in body, f"{name}: {heading} missing"
        for action in sub._actions:
            for option in action.option_strings or [str(action.metavar or action.dest)]:
                assert f"`{option}" in body, f"{name}: option {option} is not documented"
    global_options = text.split("## Global options", 1)[1].split("\n## ", 1)[0]
    for action in parser._actions:
        for option in action.option_strings:
            assert f"`{option}" in global_options, f"global option {option} is not documented"


def test_main_in_process(
    recorded: bitloops.Checkpoint,
    git_repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """main([...]) returns the exit status and writes to sys.stdout / sys.stderr."""
    monkeypatch.chdir(git_repo)
    assert main(["status"]) == 0
    assert "Checkpoints: 1 total (committed)" in capsys.readouterr().out
    assert main(["-C", str(git_repo), "rewind", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["checkpoints"][0]["checkpoint_id"] == recorded.checkpoint_id
    assert main(["explain", "HEAD~1"]) == 1
    assert "has no checkpoint" in capsys.readouterr().err
    assert main(["explain", "nope"]) == 2
    assert capsys.readouterr().err.startswith("bitloops: 'nope' is neither")
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"bitloops {bitloops.__version__}\n"


class _Terminal(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(
    recorded: bitloops.Checkpoint, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANSI colour on a TTY; none with NO_COLOR, when piped, or in --json."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(git_repo)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["status"]) == 0
    assert "\x1b[33moff: the git hooks are not installed" in terminal.getvalue()
    for args in (["status", "--json"], ["explain", "--json"], ["verify", "--json"]):
        terminal.seek(0)
        terminal.truncate()
        assert main(args) == 0
        assert "\x1b" not in terminal.getvalue()
        json.loads(terminal.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    terminal.seek(0)
    terminal.truncate()
    assert main(["explain"]) == 0
    assert "\x1b" not in terminal.getvalue() and "What was asked" in terminal.getvalue()
    assert not _style.Style.for_stream(io.StringIO(), {}).enabled
    assert _style.Style.for_stream(_Terminal(), {"NO_COLOR": ""}).enabled


def test_importing_main_is_cheap() -> None:
    """The console-script module loads neither the CLI nor the database driver up front."""
    code = (
        "import sys, bitloops.__main__ as m; "
        "print('bitloops.cli._main' in sys.modules, 'apsw' in sys.modules); "
        "m.main(['--version']); print('apsw' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert proc.stdout.splitlines() == ["False False", f"bitloops {bitloops.__version__}", "False"]


def test_a_command_loads_only_its_own_module(git_repo: Path) -> None:
    """`--help` imports no command module and `status` only its own: each command's
    module and parser are made when that command runs."""
    code = (
        "import contextlib, io, sys\n"
        "from bitloops.cli._main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        "print(sorted(m for m in sys.modules if m.startswith('bitloops.cli.')))\n"
    )
    frame = ["bitloops.cli._main", "bitloops.cli._registry", "bitloops.cli._style"]
    for args, own in (
        (["--help"], []),
        (["status"], ["bitloops.cli._json", "bitloops.cli._status"]),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=git_repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert proc.stdout.strip() == repr(sorted([*frame, *own])), args


def test_every_command_of_the_table_is_registered_by_its_module() -> None:
    """Each entry of COMMANDS names a module that registers it, with the same help."""
    for name, entry in _registry.COMMANDS.items():
        found = _registry.definition(name)
        assert found.run.__module__ == entry.module, name


def test_event_lines_render_each_kind(git_repo: Path) -> None:
    """Tool results, errors, renames and other kinds each get a readable one-line form."""
    with bitloops.Repository.open(git_repo) as repo:
        s = repo.start_session(agent="a")
        s.tool_result("call-1", {"lines": 3}, error=True)
        s.error("disk full")
        s.file_change("new.py", "renamed", old_path="old.py")
        s.record("compaction", {"tokens_before": 100})
        s.end("done")
        events = list(repo.draft().events)
    texts = [_explain.event_line(e, 200)[1] for e in events]
    assert texts[0].startswith("branch main, at ")
    assert texts[1:] == [
        'call-1 (error) -> {"lines": 3}',
        "disk full",
        "renamed old.py -> new.py",
        '{"tokens_before": 100}',
        "done",
    ]


def test_doctor_and_resume_from_the_command_line(git_repo: Path) -> None:
    """doctor reports and fixes a stuck session; resume switches branch and prints the command."""
    import json as _json
    import subprocess as sp

    r = bitloops.Repository.open(git_repo)
    git(git_repo, "checkout", "-q", "-b", "feature")
    s = r.start_session(agent="claude-code", session_id="sess-9")
    s.prompt("feature work")
    commit_files(git_repo, {"f.txt": "1"})
    r.promote()
    r.close()
    git(git_repo, "checkout", "-q", "main")

    def cli(*args: str) -> sp.CompletedProcess[str]:
        return sp.run(
            [sys.executable, "-m", "bitloops", *args], cwd=git_repo, capture_output=True, text=True
        )

    found = cli("doctor", "--stale-minutes", "0")
    assert found.returncode == 1 and "stuck_session" in found.stdout
    fixed = cli("doctor", "--fix", "--stale-minutes", "0", "--json")
    assert fixed.returncode == 0 and _json.loads(fixed.stdout)["ok"] is True
    resumed = cli("resume", "feature")
    assert resumed.returncode == 0, resumed.stderr
    assert "claude --resume sess-9" in resumed.stdout
    assert git(git_repo, "branch", "--show-current").strip() == "feature"
    missing = cli("resume", "no-such-branch")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_search_from_the_command_line(git_repo: Path) -> None:
    """search prints hits with their commit, exits 1 on no match and 2 on a bad query."""
    import json as _json
    import subprocess as sp

    r = bitloops.Repository.open(git_repo)
    r.start_session(agent="claude-code").decision("Use exponential backoff with jitter")
    sha = commit_files(git_repo, {"f.txt": "1"})
    r.promote()
    r.close()

    def cli(*args: str) -> sp.CompletedProcess[str]:
        return sp.run(
            [sys.executable, "-m", "bitloops", *args], cwd=git_repo, capture_output=True, text=True
        )

    found = cli("search", "backoff")
    assert found.returncode == 0 and sha[:12] in found.stdout and "[backoff]" in found.stdout
    data = _json.loads(cli("search", "jitter", "--json").stdout)
    assert data[0]["commit_sha"] == sha and data[0]["event"]["kind"] == "decision"
    assert cli("search", "tenacity").returncode == 1
    bad = cli("search", '"unbalanced')
    assert bad.returncode == 2 and bad.stderr.startswith("bitloops: ")


def test_progress_shows_only_on_a_terminal_after_a_second() -> None:
    """The progress line appears on a terminal once an operation passes one second."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    ctx = _registry.Context(Path("."), out=io.StringIO(), err=err)
    with ctx.progress("verify", "checkpoints") as tick:
        tick(1, 3)  # within the first second: silent
        time.sleep(1.05)
        tick(2, 3)
    assert err.getvalue() == "\rverify: 2/3 checkpoints\r\x1b[K"
    quiet = io.StringIO()  # not a terminal: never anything
    ctx = _registry.Context(Path("."), out=io.StringIO(), err=quiet)
    with ctx.progress("verify", "checkpoints") as tick:
        time.sleep(1.05)
        tick(1, 1)
    assert quiet.getvalue() == ""


def test_status_continuation_lines_have_no_label(git_repo: Path) -> None:
    """Two open sessions: the second line is indented under the first, without a colon."""
    with bitloops.Repository.open(git_repo) as r:
        r.start_session(agent="claude-code")
        r.start_session(agent="codex")
    out = run(git_repo, "status").stdout.splitlines()
    sessions = [line for line in out if "draft event" in line]
    assert len(sessions) == 2
    assert sessions[0].startswith("Session:") and sessions[1].startswith(" " * 13)
