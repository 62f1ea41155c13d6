"""The team setup against the real PostgreSQL server: offline-first, exactly once, teammates.

Faults are real: an unreachable server is a port nothing listens on, and a connection
killed mid-promotion is ``pg_terminate_backend`` run from another connection while the
promotion waits on a lock the test holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from conftest import commit_files, git, run_together
from pg_helpers import PgSchema, with_schema

import bitloops
import bitloops.store._postgres as postgres
from bitloops.store._postgres import PostgresStore

# Nothing listens here: connecting is refused at once, as with a stopped server.
_DOWN = "postgresql://postgres@127.0.0.1:1/test"


def _session_and_commit(repo: bitloops.Repository, name: str, words: str = "retries") -> str:
    s = repo.start_session(agent="claude-code", model="opus-4")
    s.prompt(f"Add {words} to {name}")
    s.decision(f"Use exponential backoff in {name}", rationale="bursts are rate-limited")
    return commit_files(repo.toplevel, {name: f"# {words}\n"}, f"add {name}")


def _open(top: Path, url: str) -> bitloops.Repository:
    settings = top / ".bitloops" / "settings.local.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"committed_store": url}) + "\n", encoding="utf-8")
    return bitloops.Repository.open(top)


def _cli(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=top,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_server_down_then_back_every_checkpoint_arrives_once(git_repo: Path, pg: PgSchema) -> None:
    """Promotions succeed offline and queue; the next promotion sends them all, once."""
    with _open(git_repo, _DOWN) as repo:
        made = []
        for n in range(3):
            _session_and_commit(repo, f"f{n}.py")
            checkpoint = repo.promote()
            assert checkpoint is not None
            made.append(checkpoint.checkpoint_id)
        status = repo.status()
        assert status.unsent_count == 3
        assert status.unsent_error is not None and "cannot reach" in status.unsent_error
        assert "127.0.0.1:1" in (status.committed_store or "")
    out = _cli(git_repo, "status")
    assert "3 checkpoints waiting to be sent" in out.stdout, out.stdout + out.stderr
    out = _cli(git_repo, "doctor", "--json")
    assert "outbox" in out.stdout, out.stdout
    with _open(git_repo, pg.url) as repo:
        _session_and_commit(repo, "f3.py")
        latest = repo.promote()  # sends what waited, then its own
        assert latest is not None
        assert repo.status().unsent_count == 0
        assert repo.sync().ok  # nothing left, nothing sent twice
    assert pg.count("checkpoints") == 4
    stored = pg.admin.execute(
        f"SELECT checkpoint_id, event_count FROM {pg.name}.checkpoints ORDER BY created_at"
    ).fetchall()
    assert [r[0] for r in stored] == [*made, latest.checkpoint_id]
    events = pg.count("checkpoint_events")
    assert events == sum(r[1] for r in stored)


def test_connection_killed_mid_promotion_then_recovery(git_repo: Path, pg: PgSchema) -> None:
    """pg_terminate_backend in the middle of the send: nothing half-stored, then exactly once."""
    pg.migrate()
    with _open(git_repo, _DOWN) as repo:
        _session_and_commit(repo, "a.py")
        made = repo.promote()
        assert made is not None and repo.status().unsent_count == 1
    blocker = psycopg.connect(pg.url)  # holds a lock the send will wait for
    blocker.execute(f"LOCK TABLE {pg.name}.checkpoint_events IN ACCESS EXCLUSIVE MODE")
    results: list[bitloops.checkpoint._sync.SyncReport] = []
    with _open(git_repo, pg.url) as repo:
        worker = threading.Thread(target=lambda: results.append(repo.sync()))
        worker.start()
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and time.monotonic() < deadline:
            row = pg.admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'bitloops' "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            pid = row[0] if row else None
            time.sleep(0.05)
        assert pid is not None, "the send never reached the locked table"
        pg.admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        worker.join(30)
        blocker.rollback()
        blocker.close()
        assert results and results[0].waiting == 1
        assert "cannot reach" in (results[0].error or "")
        assert pg.count("checkpoints") == 0  # the killed transaction left nothing behind
        again = repo.sync()  # reconnects by itself
        assert (again.sent, again.waiting) == (1, 0)
        assert repo.sync().sent == 0
    assert pg.count("checkpoints") == 1
    assert pg.count("checkpoint_events") == len(made.events)


def test_crash_between_sending_and_recording_the_send(git_repo: Path, pg: PgSchema) -> None:
    """A send that landed but was not recorded locally is recognised, not stored twice."""
    with _open(git_repo, _DOWN) as repo:
        _session_and_commit(repo, "a.py")
        made = repo.promote()
        assert made is not None
        row, events, links = repo.store.checkpoint_rows(made.checkpoint_id)
    with PostgresStore(pg.url) as shared:
        assert shared.put_checkpoint(row, events, links) is True  # then "crash"
    with _open(git_repo, pg.url) as repo:
        report = repo.sync()
        assert (report.sent, report.already_there, report.waiting) == (0, 1, 0)
    assert pg.count("checkpoints") == 1
    assert pg.count("checkpoint_events") == len(events)


_SYNC = """
import sys, time
import bitloops
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
with bitloops.Repository.open(sys.argv[1]) as repo:
    report = repo.sync()
    print(report.sent, report.already_there, report.waiting)
"""


def test_two_processes_syncing_one_outbox_store_each_checkpoint_once(
    git_repo: Path, pg: PgSchema
) -> None:
    """Two `sync`s of the same outbox at the same moment: every checkpoint stored once."""
    pg.migrate()
    with _open(git_repo, _DOWN) as repo:
        for n in range(6):
            _session_and_commit(repo, f"f{n}.py")
            assert repo.promote() is not None
    _open(git_repo, pg.url).close()
    totals = [0, 0]
    for out in run_together(_SYNC, [[str(git_repo)]] * 2):
        sent, already, waiting = map(int, out.split())
        totals[0] += sent
        totals[1] += already
        assert waiting == 0
    assert totals[0] == 6  # each stored by exactly one of them
    assert pg.count("checkpoints") == 6


_PROMOTER = """
import sys, time, subprocess
from pathlib import Path
import bitloops
top = Path(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
with bitloops.Repository.open(top) as repo:
    for n in range(4):
        s = repo.start_session(agent="codex", model="gpt-5-codex")
        s.prompt(f"change {n} in {top.name}")
        (top / f"g{n}.py").write_text(str(n))
        subprocess.run(["git", "add", "-A"], cwd=top, check=True)
        subprocess.run(["git", "commit", "-q", "--no-verify", "-m", f"g{n}"], cwd=top, check=True)
        assert repo.promote() is not None
    print(repo.status().unsent_count)
"""


def test_two_clones_promote_into_one_database_at_once(tmp_path: Path, pg: PgSchema) -> None:
    """Two clones promoting at the same time (their first connections migrate too)."""
    clones = []
    for name in ("alice", "bob"):
        top = tmp_path / name
        top.mkdir()
        git(top, "init", "-q", "-b", "main")
        commit_files(top, {"README.md": name}, "initial")
        _open(top, pg.url).close()
        clones.append(top)
    outputs = run_together(_PROMOTER, [[str(top)] for top in clones], timeout=180)
    assert [out.strip() for out in outputs] == ["0", "0"]
    assert pg.count("checkpoints") == 8
    assert pg.count("bitloops_meta") == 2  # the schema was created once


def test_a_teammates_checkpoint_is_found_in_the_shared_store(tmp_path: Path, pg: PgSchema) -> None:
    """Bob's clone finds Alice's checkpoint (API and `explain`) though it has no folder."""
    alice = tmp_path / "alice"
    alice.mkdir()
    git(alice, "init", "-q", "-b", "main")
    commit_files(alice, {"README.md": "team"}, "initial")
    (alice / ".bitloops").mkdir(exist_ok=True)
    (alice / ".bitloops" / "settings.json").write_text('{"checkpoint_files": "none"}\n')
    git(alice, "add", ".bitloops/settings.json")
    git(alice, "commit", "-q", "-m", "settings")
    with _open(alice, pg.url) as repo:
        sha = _session_and_commit(repo, "client.py", words="jitter")
        made = repo.promote()
        assert made is not None
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(alice), str(bob))
    with _open(bob, pg.url) as repo:
        assert repo.store.count_checkpoints() == 0
        found = repo.checkpoint(sha)
        assert found.checkpoint_id == made.checkpoint_id
        assert found.content_hash == made.content_hash
        assert repo.checkpoint(made.checkpoint_id).commit_sha == sha
        assert [c.checkpoint_id for c in repo.checkpoints(agent="claude-code")] == [
            made.checkpoint_id
        ]
        assert {h.checkpoint_id for h in repo.search("jitter")} == {made.checkpoint_id}
    out = _cli(bob, "explain", sha[:12])
    assert out.returncode == 0, out.stderr
    assert "jitter" in out.stdout


def test_reads_fall_back_to_local_when_the_server_is_away(git_repo: Path) -> None:
    """An unreachable shared store never breaks reading what this clone has."""
    with _open(git_repo, _DOWN) as repo:
        sha = _session_and_commit(repo, "a.py")
        made = repo.promote()
        assert made is not None
        assert repo.checkpoint(sha).checkpoint_id == made.checkpoint_id
        assert [c.checkpoint_id for c in repo.checkpoints()] == [made.checkpoint_id]
        assert len(repo.search("retries")) == 1
        report = repo.verify()
        assert report.ok
        assert [p.kind for p in report.problems if p.store == "shared"] == ["shared_unreachable"]


def test_sync_command_reports_and_exits_by_what_is_left(git_repo: Path, pg: PgSchema) -> None:
    """`bitloops sync`: exit 1 with the reason while the server is away, 0 once all is sent."""
    with _open(git_repo, _DOWN) as repo:
        _session_and_commit(repo, "a.py")
        assert repo.promote() is not None
    out = _cli(git_repo, "sync")
    assert out.returncode == 1
    assert "1 checkpoint still waiting" in out.stderr and "cannot reach" in out.stderr
    _open(git_repo, pg.url).close()
    out = _cli(git_repo, "sync", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sent"] == 1
    out = _cli(git_repo, "sync", "--all")
    assert out.returncode == 0 and "1 already there" in out.stdout


def test_sync_command_checks_the_setup_even_with_nothing_waiting(
    git_repo: Path, pg_url: str
) -> None:
    """A wrong database name is an error (exit 2) at once, not "0 checkpoints sent"."""
    _open(git_repo, pg_url.rsplit("/", 1)[0] + "/no_such_bitloops_db").close()
    out = _cli(git_repo, "sync")
    assert out.returncode == 2 and "no such database" in out.stderr
    _open(git_repo, _DOWN).close()
    out = _cli(git_repo, "sync", "--json")
    assert out.returncode == 1 and "cannot reach" in json.loads(out.stdout)["error"]


def test_joining_a_team_later_sends_earlier_checkpoints(git_repo: Path, pg: PgSchema) -> None:
    """`sync --all` queues checkpoints made before committed_store was set."""
    with bitloops.Repository.open(git_repo) as repo:
        _session_and_commit(repo, "a.py")
        assert repo.promote() is not None
        assert repo.store.outbox() == []  # not a team yet: nothing queued
    with _open(git_repo, pg.url) as repo:
        assert repo.sync(queue_all=True).sent == 1
    assert pg.count("checkpoints") == 1


# -- clear errors ------------------------------------------------------------------------------


def test_error_for_a_url_that_is_not_postgres(git_repo: Path) -> None:
    settings = git_repo / ".bitloops" / "settings.local.json"
    settings.parent.mkdir()
    settings.write_text('{"committed_store": "mysql://db/x"}')
    with pytest.raises(bitloops.SettingsError, match="PostgreSQL URL"):
        bitloops.Repository.open(git_repo)


def test_error_for_a_url_that_does_not_parse() -> None:
    with pytest.raises(bitloops.SettingsError, match="not a usable PostgreSQL URL"):
        PostgresStore("postgresql://127.0.0.1/db?no_such_option=1").connect()


def test_error_for_unknown_credentials(pg_url: str) -> None:
    url = with_schema(pg_url, "public", user="no_such_bitloops_role")
    with pytest.raises(bitloops.SharedStoreError, match="refused the credentials") as caught:
        PostgresStore(url).connect()
    assert "pgpass" in str(caught.value)


def test_error_for_a_missing_database(pg_url: str) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/no_such_bitloops_db"
    with pytest.raises(bitloops.SharedStoreError, match="no such database"):
        PostgresStore(url).connect()


def test_error_for_an_unreachable_server() -> None:
    with pytest.raises(bitloops.SharedStoreUnavailable, match="cannot reach"):
        PostgresStore(_DOWN).connect()


def test_error_for_an_unsupported_server_version(
    pg: PgSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server older than the minimum is refused before anything is created."""
    monkeypatch.setattr(postgres, "MIN_SERVER_VERSION", 10_000_000)
    with pytest.raises(bitloops.UnsupportedServer, match="needs 13 or newer"):
        PostgresStore(pg.url).connect()
    row = pg.admin.execute(f"SELECT to_regclass('{pg.name}.checkpoints')").fetchone()
    assert row == (None,)


def test_error_for_a_schema_newer_than_the_client(pg: PgSchema) -> None:
    pg.migrate()
    pg.admin.execute(
        f"UPDATE {pg.name}.bitloops_meta SET value = '99' WHERE key = 'schema_version'"
    )
    with pytest.raises(bitloops.SchemaTooNew, match=r"version 99.*upgrade bitloops"):
        PostgresStore(pg.url).connect()


def test_error_when_the_writer_role_meets_an_unmigrated_schema(pg: PgSchema) -> None:
    """A least-privilege role cannot create the tables: it is told who must."""
    role = f"{pg.name}_early"
    pg.admin.execute(f"CREATE ROLE {role} LOGIN")
    pg.roles.append(role)
    pg.admin.execute(f"GRANT USAGE ON SCHEMA {pg.name} TO {role}")
    url = with_schema(pg.server_url, pg.name, user=role)
    with pytest.raises(bitloops.SharedStoreError, match="owner"):
        PostgresStore(url).connect()


def test_password_in_committed_settings_is_warned_about(git_repo: Path) -> None:
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        '{"committed_store": "postgresql://team:s3cret@db.example/bitloops"}'
    )
    with bitloops.Repository.open(git_repo) as repo:
        assert any("password" in w for w in repo.settings.warnings)
        assert repo.shared_store is not None
        assert "s3cret" not in repo.shared_store.display_url


_CONNECT = """
import sys, time
from bitloops.store._postgres import PostgresStore
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
store = PostgresStore(sys.argv[1])
store.connect()
print(store.count_checkpoints())
"""


def test_concurrent_first_connections_migrate_once(pg: PgSchema) -> None:
    """Four clients meeting an empty schema at once: one creates it, all succeed."""
    outputs = run_together(_CONNECT, [[pg.url]] * 4)
    assert [out.strip() for out in outputs] == ["0"] * 4
    version = pg.admin.execute(
        f"SELECT value FROM {pg.name}.bitloops_meta WHERE key = 'schema_version'"
    ).fetchone()
    assert version == (str(postgres.SCHEMA_VERSION),)


def test_git_hooks_send_the_checkpoint_and_an_amends_link(git_repo: Path, pg: PgSchema) -> None:
    """With the git hooks: `git commit` sends the checkpoint, `--amend` sends the new link."""
    from test_hooks import enable, git_commit, record_and_commit

    (git_repo / ".bitloops").mkdir(exist_ok=True)
    (git_repo / ".bitloops" / "settings.local.json").write_text(
        json.dumps({"committed_store": pg.url})
    )
    enable(git_repo)
    old = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    assert pg.count("checkpoints") == 1
    assert git_commit(git_repo, "--amend", "-m", "Add a (reworded)").returncode == 0
    new = git(git_repo, "rev-parse", "HEAD").strip()
    links = pg.admin.execute(
        f"SELECT commit_sha, reason FROM {pg.name}.commit_links ORDER BY linked_at"
    ).fetchall()
    assert links == [(old, "created"), (new, "amend")]
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.status().unsent_count == 0


def test_a_purge_before_sending_travels_with_the_checkpoint(tmp_path: Path, pg: PgSchema) -> None:
    """The purge's audit record is sent too, so nobody's verify calls it tampering."""
    top = tmp_path / "alice"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    commit_files(top, {"README.md": "x"}, "initial")
    with _open(top, _DOWN) as repo:
        s = repo.start_session(agent="claude-code")
        s.prompt("the staging token is hunter2-staging, keep it handy")
        commit_files(top, {"a.py": "1\n"}, "a")
        made = repo.promote()
        assert made is not None
        assert repo.purge("hunter2-staging", reason="leaked").checkpoint_ids == (
            made.checkpoint_id,
        )
    with _open(top, pg.url) as repo:
        assert repo.sync().sent == 1
        assert repo.verify().ok
    assert pg.count("purges") == 1
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(top), str(bob))
    with _open(bob, pg.url) as repo:
        report = repo.verify()
        assert report.ok, report.problems
        text = " ".join(str(e.payload) for e in repo.checkpoint(made.commit_sha).events)
        assert "hunter2-staging" not in text and "[PURGED]" in text


def test_a_commit_not_fetched_here_is_found_by_its_sha(tmp_path: Path, pg: PgSchema) -> None:
    """Bob asks about Alice's new commit by (short) SHA before fetching it."""
    alice = tmp_path / "alice"
    alice.mkdir()
    git(alice, "init", "-q", "-b", "main")
    commit_files(alice, {"README.md": "x"}, "initial")
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(alice), str(bob))
    with _open(alice, pg.url) as repo:
        sha = _session_and_commit(repo, "a.py", words="unfetched")
        made = repo.promote()
        assert made is not None
    with _open(bob, pg.url) as repo:
        assert repo.checkpoint(sha).checkpoint_id == made.checkpoint_id
        assert repo.checkpoint(sha[:10]).checkpoint_id == made.checkpoint_id
        assert [c.checkpoint_id for c in repo.checkpoints(commit=sha[:8])] == [made.checkpoint_id]
        with pytest.raises(bitloops.UnknownRef):
            repo.checkpoint("0000000")
    out = _cli(bob, "explain", sha[:12])
    assert out.returncode == 0, out.stderr
    assert "unfetched" in out.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:notaport/test",
        "postgresql://postgres@127.0.0.1:5432/test?sslmode=bogus",
        "postgresql:///test?service=no_such_bitloops_service",
    ],
)
def test_configuration_mistakes_are_settings_errors_not_outages(url: str) -> None:
    """A URL that can never work is not queued as if the server were down."""
    with pytest.raises(bitloops.SettingsError):
        PostgresStore(url).connect()


def test_a_password_in_the_query_string_is_hidden_and_warned_about(git_repo: Path) -> None:
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text(
        '{"committed_store": "postgresql://team@db.example/bitloops?password=s3cret&sslmode=require"}'
    )
    with bitloops.Repository.open(git_repo) as repo:
        assert any("password" in w for w in repo.settings.warnings)
        assert repo.shared_store is not None
        shown = repo.shared_store.display_url
        assert "s3cret" not in shown and "sslmode=require" in shown


def test_a_silent_server_is_not_waited_for_on_every_commit(git_repo: Path) -> None:
    """A server that accepts but never answers: the wait is bounded by the connect
    timeout, and the next promotions within a minute do not wait again."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts; nobody ever speaks
    port = silent.getsockname()[1]
    try:
        with _open(git_repo, f"postgresql://postgres@127.0.0.1:{port}/test") as repo:
            _session_and_commit(repo, "a.py")
            assert repo.promote() is not None
            (queued,) = repo.store.outbox()
            assert queued[2] == 1 and "timeout" in (queued[3] or "")
            _session_and_commit(repo, "b.py")
            assert repo.promote() is not None
            attempts = sorted(row[2] for row in repo.store.outbox())
            assert attempts == [0, 1]  # the second promotion did not try
            report = repo.sync()  # an explicit sync always tries
            assert report.waiting == 2 and "timeout" in (report.error or "")
    finally:
        silent.close()
