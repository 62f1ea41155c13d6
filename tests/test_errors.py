"""Bad input gets a specific, actionable error and loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.checkpoint._files import checkpoint_dir
from bitloops.settings import load_settings
from bitloops.store._postgres import PostgresStore


def test_not_a_git_repository(tmp_path: Path) -> None:
    """Opening a folder outside any work tree raises NotAGitRepository."""
    with pytest.raises(bitloops.NotAGitRepository, match="git init"):
        bitloops.Repository.open(tmp_path)
    with pytest.raises(bitloops.NotAGitRepository):
        bitloops.Repository.open(tmp_path / "missing")


def test_corrupted_database_file(git_repo: Path) -> None:
    """A database file full of junk raises DatabaseCorrupt and is left as it was."""
    repo = bitloops.Repository.open(git_repo)
    repo.db_path.parent.mkdir(parents=True)
    junk = b"this is not a database" * 100
    repo.db_path.write_bytes(junk)
    with pytest.raises(bitloops.DatabaseCorrupt, match="move it aside"):
        repo.start_session(agent="a")
    assert repo.db_path.read_bytes() == junk


def test_foreign_database_file(git_repo: Path) -> None:
    """A SQLite file created by something else raises ForeignDatabase, untouched."""
    repo = bitloops.Repository.open(git_repo)
    repo.db_path.parent.mkdir(parents=True)
    conn = apsw.Connection(str(repo.db_path))
    conn.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY); INSERT INTO customers VALUES (1)"
    )
    conn.close()
    with pytest.raises(bitloops.ForeignDatabase):
        repo.start_session(agent="a")
    conn = apsw.Connection(str(repo.db_path))
    assert conn.execute("SELECT count(*) FROM customers").get == 1
    conn.close()


def test_schema_newer_than_the_library(repo: bitloops.Repository) -> None:
    """A database from a newer bitloops raises SchemaTooNew rather than guessing."""
    repo.start_session(agent="a").prompt("kept")
    repo.close()
    conn = apsw.Connection(str(repo.db_path))
    conn.pragma("user_version", 99)
    conn.close()
    with pytest.raises(bitloops.SchemaTooNew, match="upgrade bitloops"):
        bitloops.Repository.open(repo.toplevel).draft()
    conn = apsw.Connection(str(repo.db_path))
    conn.pragma("user_version", 1)
    conn.close()
    again = bitloops.Repository.open(repo.toplevel)
    assert [e.kind for e in again.draft().events] == ["session_start", "prompt"]
    again.close()


def test_settings_with_bad_json(git_repo: Path) -> None:
    """A settings file that is not JSON raises SettingsError naming the file and line."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"strategy": "manual_commit",\n}')
    with pytest.raises(bitloops.SettingsError, match=r"settings.json is not valid JSON \(line 2"):
        bitloops.Repository.open(git_repo)


@pytest.mark.parametrize(
    "text",
    [
        '{"strategy": "sometimes"}',
        '{"durability": "yolo"}',
        '{"max_payload_bytes": -1}',
        "[1]",
        '{"redact": {"extra_patterns": ["("]}}',
    ],
)
def test_settings_with_bad_values(git_repo: Path, text: str) -> None:
    """A known key with an unusable value raises SettingsError."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(text)
    with pytest.raises(bitloops.SettingsError):
        bitloops.Repository.open(git_repo)


def test_unknown_settings_keys_are_kept_and_reported(git_repo: Path) -> None:
    """Unknown keys survive in Settings.extra and are reported in warnings."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        '{"strategy": "session", "future_option": {"x": 1}}'
    )
    (git_repo / ".bitloops" / "settings.local.json").write_text('{"durability": "normal"}')
    settings = load_settings(git_repo, environ={"BITLOOPS_IDLE_MINUTES": "5"})
    bitloops.Repository.open(git_repo)
    assert "settings.local.json" in (git_repo / ".bitloops" / ".gitignore").read_text()
    assert git(git_repo, "check-ignore", ".bitloops/settings.local.json").strip()
    assert settings.strategy == "session"
    assert settings.durability == "normal"
    assert settings.idle_minutes == 5
    assert settings.extra == {"future_option": {"x": 1}}
    assert "future_option" in settings.warnings[0]


def test_environment_overrides_files(git_repo: Path) -> None:
    """BITLOOPS_* variables win over both files; a bad one is a SettingsError."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"durability": "full"}')
    assert load_settings(git_repo, environ={"BITLOOPS_DURABILITY": "normal"}).durability == "normal"
    with pytest.raises(bitloops.SettingsError, match="BITLOOPS_CAPTURE"):
        load_settings(git_repo, environ={"BITLOOPS_CAPTURE": "maybe"})


@pytest.mark.parametrize("bad", ["../../etc", "HEAD", "a" * 39, "G" * 40, "abc/../" + "a" * 33])
def test_commit_shas_are_validated_before_becoming_paths(tmp_path: Path, bad: str) -> None:
    """Only a full hex SHA can name a checkpoint folder."""
    with pytest.raises(bitloops.CheckpointFilesError):
        checkpoint_dir(tmp_path, bad)


def test_read_checkpoint_dir_errors(tmp_path: Path) -> None:
    """A missing or malformed folder raises CheckpointFilesError."""
    with pytest.raises(bitloops.CheckpointFilesError, match="missing"):
        bitloops.read_checkpoint_dir(tmp_path)
    (tmp_path / "session.json").write_text('{"format": "something else"}')
    (tmp_path / "transcript.jsonl").write_text("")
    with pytest.raises(bitloops.CheckpointFilesError, match="not a"):
        bitloops.read_checkpoint_dir(tmp_path)
    (tmp_path / "session.json").write_text('{"format": "bitloops.checkpoint/v1"}')
    with pytest.raises(bitloops.CheckpointFilesError, match="malformed"):
        bitloops.read_checkpoint_dir(tmp_path)


def test_database_busy_is_reported_not_hung(git_repo: Path) -> None:
    """A lock held past the busy timeout raises DatabaseBusy; nothing is half-written."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"busy_timeout_ms": 50}')
    repo = bitloops.Repository.open(git_repo)
    s = repo.start_session(agent="a")
    blocker = apsw.Connection(str(repo.db_path))
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(bitloops.DatabaseBusy, match="busy_timeout_ms"):
        s.prompt("blocked")
    blocker.execute("ROLLBACK")
    blocker.close()
    assert s.prompt("after").seq == 2
    commit_files(git_repo, {"x": "1"})
    cp = repo.promote()
    assert cp is not None and [e.seq for e in cp.events] == [1, 2]
    repo.close()


def test_every_error_derives_from_the_root() -> None:
    """Every exported exception class is a BitloopsError."""
    errors = [getattr(bitloops, n) for n in bitloops.__all__ if n.endswith(("Error", "Found"))]
    errors += [bitloops.NotAGitRepository, bitloops.DatabaseCorrupt, bitloops.SessionEnded]
    assert all(issubclass(e, bitloops.BitloopsError) for e in errors)


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
