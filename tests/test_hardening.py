"""Hostile input (issue 15): ids that would leave their folder, huge files, bad URLs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from agent_fixtures import run_hook
from conftest import commit_files, git

import bitloops
from bitloops.agents._resume import resume
from bitloops.checkpoint import _symbols as symbols
from bitloops.checkpoint._files import checkpoint_dir
from bitloops.store.postgres import PostgresStore

# -- 7: a session id from a hook payload never becomes a path outside the agent's folder


def test_resume_refuses_a_session_id_that_climbs_out(git_repo: Path, tmp_path: Path) -> None:
    """A hook-recorded id of ``../../../../PWNED_x``: InvalidSessionId, nothing written."""
    sid = "../../../../PWNED_x"
    for payload in (
        {"hook_event_name": "SessionStart", "session_id": sid, "cwd": str(git_repo)},
        {"hook_event_name": "UserPromptSubmit", "session_id": sid, "prompt": "hello"},
    ):
        proc = run_hook(
            "claude-code", json.dumps({"cwd": str(git_repo), **payload}).encode(), git_repo
        )
        assert proc.returncode == 0, proc.stderr
    git(git_repo, "checkout", "-q", "-b", "elsewhere")
    home = tmp_path / "deep" / "er" / "home"
    before = sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts)
    with bitloops.Repository.open(git_repo) as repo:
        assert [s.session_id for s in repo.store.sessions()] == [sid]
        with pytest.raises(bitloops.BitloopsError, match="cannot name a transcript file"):
            resume(repo, "main", home=home, environ={})
    assert sorted(p for p in tmp_path.rglob("*") if ".git" not in p.parts) == before
    assert git(git_repo, "branch", "--show-current").strip() == "elsewhere"  # no checkout


# -- 8: a huge generated source file costs a commit neither minutes nor megabytes


def test_a_huge_python_file_gets_no_symbols_and_a_note(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A 1.6 MiB .py file: no symbols, no diff lines read, a note in the summary; others kept."""
    huge = "".join(f"def generated_{i}():\n    return {i}\n" for i in range(50_000))
    assert len(huge) > 1 << 20  # symbols.MAX_FILE_BYTES
    with repo.start_session(agent="a") as s:
        s.prompt("regenerate the tables")
    commit_files(git_repo, {"gen/tables.py": huge, "app.py": "def main():\n    pass\n"})
    started = time.monotonic()
    cp = repo.promote()
    assert time.monotonic() - started < 20
    assert cp is not None
    assert {(x.path, x.name) for x in cp.symbols} == {("app.py", "app"), ("app.py", "main")}
    assert {f.path for f in cp.files} == {"app.py", "gen/tables.py"}
    notes = [x for x in cp.summary.symbols if x.startswith("skipped: ")]
    assert len(notes) == 1 and "gen/tables.py" in notes[0] and "1.0 MiB" in notes[0]
    summary_md = (checkpoint_dir(git_repo, cp.commit_sha) / "summary.md").read_text()
    assert f"- {notes[0]}" in summary_md
    assert repo.checkpoint(cp.commit_sha).summary.symbols == cp.summary.symbols  # reads back


def test_symbols_are_bounded_per_file_and_per_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-file and per-checkpoint bounds symbols are dropped, and counted in notes."""
    monkeypatch.setattr(symbols, "MAX_SYMBOLS_PER_FILE", 5)
    monkeypatch.setattr(symbols, "MAX_SYMBOLS", 8)
    source = "".join(f"def f{i}():\n    pass\n" for i in range(10))
    lines = frozenset(range(1, 21))
    diffs = [
        symbols.FileDiff(
            path=f"m{n}.py", old_path=None, change="added", new_lines=lines, old_lines=frozenset()
        )
        for n in range(3)
    ]
    notes: list[str] = []
    found = symbols.touched_symbols(diffs, lambda p: source, lambda p: None, notes=notes)
    assert len(found) == 8
    assert {s.name for s in found if s.kind == "module"} == {"m0", "m1"}
    assert notes == [
        "skipped: 6 more symbols of m0.py (at most 5 are kept per file)",
        "skipped: 8 more symbols of m1.py (at most 8 are kept per checkpoint)",
        "skipped: the symbols of m2.py (at most 8 symbols are kept per checkpoint)",
    ]


def test_promotion_reads_a_bounded_amount_of_source(
    repo: bitloops.Repository, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_SOURCE_BYTES of source the files are not read, and the summary says which."""
    monkeypatch.setattr(symbols, "MAX_SOURCE_BYTES", 100)
    with repo.start_session(agent="a") as s:
        s.prompt("three modules")
    body = "def f():\n    return 'a fairly long line of text'\n"  # 48 bytes
    commit_files(git_repo, {"a.py": body, "b.py": body, "c.py": body})
    cp = repo.promote()
    assert cp is not None
    assert {x.path for x in cp.symbols} == {"a.py", "b.py"}
    assert cp.summary.symbols[-1] == (
        "skipped: the symbols of c.py (at most 100 bytes of source is read per checkpoint)"
    )


# -- 10: a PostgreSQL URL that can never work is a SettingsError, not "unreachable"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://me@127.0.0.1:99999/db", "port '99999'"),
        ("postgresql://me@127.0.0.1:0/db", "port '0'"),
        ("postgresql://me@h1:5432,h2:70000/db", "port '70000'"),
        ("postgresql://me@[::1]:123456/db", "port '123456'"),
        ("postgresql://me@[::1/db", "IPv6"),
        ("postgresql://me@/db?port=99999", "port '99999'"),
        ("postgresql://me@h/db?sslmode=sometimes", "sslmode"),
        ("postgresql://me@h/db?connect_timeout=soon", "connect_timeout"),
    ],
)
def test_a_postgres_url_that_cannot_work_is_a_settings_error(
    git_repo: Path, url: str, problem: str
) -> None:
    """Out-of-range ports and bad option values raise SettingsError, without connecting."""
    local = git_repo / ".bitloops" / "settings.local.json"
    local.parent.mkdir()
    local.write_text(json.dumps({"committed_store": url.replace("me@", "me:s3cret@")}))
    with pytest.raises(bitloops.SettingsError, match=problem) as caught:
        bitloops.Repository.open(git_repo)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(bitloops.SettingsError, match=problem):
        PostgresStore(url).connect()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://me@127.0.0.1:5432/db",
        "postgresql://me@h1:5432,h2/db?sslmode=require&connect_timeout=3",
        "postgresql://me@[::1]:65535/db",
        "postgresql:///db?host=/var/run/postgresql&port=5433",
    ],
)
def test_a_usable_postgres_url_is_accepted(git_repo: Path, url: str) -> None:
    """Good URLs (several hosts, IPv6, a socket folder) still open."""
    local = git_repo / ".bitloops" / "settings.local.json"
    local.parent.mkdir()
    local.write_text(json.dumps({"committed_store": url}))
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.settings.committed_store == url
