"""Keeping a session or checkpoint local (issue #14 item 5), with real git and hooks.

A private session still promotes and reads in its own clone, but nothing of it travels:
no folder on the branch, no entry in the checkpoint ref, nothing in the team store, not
in `review` or exports. Chosen before (the setting, BITLOOPS_PRIVATE, `record private`)
or afterwards until it is pushed. Checked from a teammate's clone of a bare remote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_files, git
from pg_helpers import PgSchema
from test_hooks import bitloops_cli, enable, git_commit, record_and_commit

import bitloops
from bitloops.capture import _direct as direct
from bitloops.errors import SettingsError
from bitloops.settings import load_settings

FOLDERS = ".bitloops/checkpoints/v1"


def ref_mode(repo: Path) -> None:
    """Commit settings choosing the checkpoint ref, and install the hooks."""
    commit_files(repo, {".bitloops/settings.json": '{"checkpoint_files": "ref"}\n'}, "ref mode")
    enable(repo)


def with_remote(repo: Path) -> Path:
    """A bare repository next to ``repo``, added as its ``origin``; its path."""
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def push(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``git push`` (its pre-push hook pushes the checkpoint ref in ref mode)."""
    return subprocess.run(
        ("git", "push", "-q", *args), cwd=repo, capture_output=True, text=True, check=False
    )


def ref_files(repo: Path) -> list[str]:
    """Every path in the checkpoint ref's tree (none when there is no ref)."""
    proc = subprocess.run(
        ("git", "ls-tree", "-r", "--name-only", "refs/bitloops/checkpoints/v1"),
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.split() if proc.returncode == 0 else []


def _clone(origin: Path, name: str) -> Path:
    clone = origin.parent / name
    git(origin.parent, "clone", "-q", "-b", "main", str(origin), str(clone))
    return clone


def _local_settings(repo: Path, values: dict[str, object]) -> None:
    path = repo / ".bitloops" / "settings.local.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values) + "\n", encoding="utf-8")


def _hook(repo: Path, payload: dict[str, object], **env: str) -> None:
    """One real Claude Code hook process, with ``env`` added to its environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "claude-code"],
        cwd=repo,
        input=json.dumps({**payload, "cwd": str(repo)}).encode(),
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr


def _change_and_commit(repo: Path, name: str, message: str) -> str:
    """Edit ``name`` and ``git commit`` it with the hooks; the new SHA."""
    (repo / name).write_text(f"# {message}\n", encoding="utf-8")
    git(repo, "add", "--", name)
    proc = git_commit(repo, "-m", message)
    assert proc.returncode == 0, proc.stderr
    return git(repo, "rev-parse", "HEAD").strip()


def _committed_paths(repo: Path, rev: str = "HEAD") -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", rev).split()


def _teammate_sees_nothing_of(mate: Path, sha: str, words: str) -> None:
    explain = bitloops_cli(mate, "explain", sha)
    assert explain.returncode == 1, explain.stdout
    assert words not in bitloops_cli(mate, "search", words).stdout
    assert sha[:12] not in bitloops_cli(mate, "rewind").stdout
    assert not any(sha in p for p in _committed_paths(mate))


def test_the_setting_keeps_sessions_local_in_branch_mode(git_repo: Path) -> None:
    """`"private": true`: the checkpoints promote and read here, get no folder, and a
    teammate's clone sees nothing of them; verify and status are content with that."""
    remote = with_remote(git_repo)
    enable(git_repo)
    _local_settings(git_repo, {"private": True})
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add the zebra cache")
    second = record_and_commit(git_repo, "b.py", "b = 1\n", "Tune the zebra cache")
    assert not (git_repo / FOLDERS).exists()
    assert git(git_repo, "status", "--porcelain") == ""  # nothing waits to be committed
    assert not any(p.startswith(".bitloops/checkpoints") for p in _committed_paths(git_repo))
    explain = bitloops_cli(git_repo, "explain", first)
    assert explain.returncode == 0 and "Private:" in explain.stdout
    [described] = json.loads(bitloops_cli(git_repo, "explain", first, "--json").stdout)[
        "checkpoints"
    ]
    assert described["private"] is True
    assert first[:12] in bitloops_cli(git_repo, "search", "zebra").stdout
    assert bitloops_cli(git_repo, "verify").returncode == 0
    assert git(git_repo, "push", "-q", "origin", "main") == ""
    mate = _clone(remote, "mate")
    for sha in (first, second):
        _teammate_sees_nothing_of(mate, sha, "zebra")


def test_the_environment_variable_through_a_real_agent_hook_in_ref_mode(git_repo: Path) -> None:
    """BITLOOPS_PRIVATE=1 in the agent's environment, read when its hook starts the session:
    its checkpoint stays out of the pushed checkpoint ref, while a shared one travels."""
    remote = with_remote(git_repo)
    ref_mode(git_repo)
    _hook(
        git_repo,
        {"hook_event_name": "UserPromptSubmit", "prompt": "the walrus plan", "session_id": "s-1"},
        BITLOOPS_PRIVATE="1",
    )
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.status().private_sessions == ("s-1",)
    status = bitloops_cli(git_repo, "status")
    assert "private (kept in this clone)" in status.stdout
    _hook(git_repo, {"hook_event_name": "SessionEnd", "session_id": "s-1"})
    private = _change_and_commit(git_repo, "a.py", "walrus")
    shared = record_and_commit(git_repo, "b.py", "b = 1\n", "Add the otter index")
    assert private not in "".join(ref_files(git_repo))
    assert any(p.startswith(shared) for p in ref_files(git_repo))
    assert push(git_repo, "origin", "main").returncode == 0
    mate = _clone(remote, "mate")
    assert bitloops_cli(mate, "fetch").returncode == 0
    assert bitloops_cli(mate, "explain", shared).returncode == 0
    _teammate_sees_nothing_of(mate, private, "walrus")


def test_record_private_marks_the_open_session_before_the_commit(git_repo: Path) -> None:
    """`bitloops record private` marks the open session: its commit gets no folder, the
    next commit stages nothing of it."""
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        session = repo.start_session("claude-code", "m1", session_id="s-open")
        session.prompt("the heron migration")
    marked = bitloops_cli(git_repo, "record", "private", "--json")
    assert marked.returncode == 0, marked.stderr
    assert json.loads(marked.stdout) == {
        "kind": "private",
        "session_id": "s-open",
        "checkpoint_ids": [],
        "removed": [],
        "notes": [],
    }
    private = _change_and_commit(git_repo, "a.py", "heron")
    shared = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    assert not (git_repo / FOLDERS / private).exists()
    assert (git_repo / FOLDERS / shared / "session.json").is_file()
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.checkpoint(private).commit_sha == private  # still reads here


def test_a_checkpoint_made_private_afterwards_loses_its_unpushed_folder(git_repo: Path) -> None:
    """`record private --checkpoint SHA` after the commit: the folder leaves the work tree,
    the next commit does not carry it, and the teammate never sees it."""
    remote = with_remote(git_repo)
    enable(git_repo)
    sha = record_and_commit(git_repo, "a.py", "a = 1\n", "Add the ibis parser")
    assert (git_repo / FOLDERS / sha / "session.json").is_file()
    done = bitloops_cli(git_repo, "record", "private", "--checkpoint", sha)
    assert done.returncode == 0, done.stderr
    assert "is private" in done.stdout and "taken back" in done.stdout
    assert not (git_repo / FOLDERS / sha).exists()
    later = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    assert not any(sha in p for p in _committed_paths(git_repo))
    git(git_repo, "push", "-q", "origin", "main")
    mate = _clone(remote, "mate")
    _teammate_sees_nothing_of(mate, sha, "ibis")
    assert later  # its own folder follows with the next commit, as always


def test_a_session_made_private_afterwards_takes_its_checkpoints_along(git_repo: Path) -> None:
    """`record private --session ID`: every checkpoint holding its events turns private;
    a folder already committed (not pushed) is taken out of the index and named, and
    pre-push warns about the commit that still holds it."""
    with_remote(git_repo)
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        s = repo.start_session("claude-code", "m1", session_id="s-late")
        s.prompt("the crane refactor")
    first = _change_and_commit(git_repo, "a.py", "crane")
    second = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")  # carries first's folder
    assert f"{FOLDERS}/{first}/session.json" in _committed_paths(git_repo)
    done = bitloops_cli(git_repo, "record", "private", "--session", "s-late", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    with bitloops.Repository.open(git_repo) as repo:
        assert data["checkpoint_ids"] == [repo.checkpoint(first).checkpoint_id]
    assert data["removed"] == [f"{FOLDERS}/{first}/"]
    assert data["notes"] and second[:12] in data["notes"][0]
    staged = git(git_repo, "diff", "--cached", "--name-only").split()
    assert f"{FOLDERS}/{first}/session.json" in staged  # the removal, for the next commit
    record_and_commit(git_repo, "c.py", "c = 1\n", "Add c")
    assert f"{FOLDERS}/{first}/session.json" not in _committed_paths(git_repo)
    pushed = push(git_repo, "origin", "main")
    assert pushed.returncode == 0  # never blocked, but told
    assert f"commit {second[:7]} in this push still holds the folder" in pushed.stderr


def test_marking_after_the_push_is_refused_in_branch_mode(git_repo: Path) -> None:
    """Once a pushed commit holds the folder, `record private` refuses and marks nothing."""
    with_remote(git_repo)
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    git(git_repo, "push", "-q", "origin", "main")
    refused = bitloops_cli(git_repo, "record", "private", first)
    assert refused.returncode != 0
    assert "cannot be kept local" in refused.stderr and "pushed" in refused.stderr
    assert (git_repo / FOLDERS / first / "session.json").is_file()
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.store.execute("SELECT count(*) FROM private_marks") == [(0,)]


def test_ref_mode_takes_back_an_unpushed_entry_and_refuses_a_pushed_one(git_repo: Path) -> None:
    """Ref mode: before the push the entry leaves every unpushed commit of the ref; after
    the push, marking is refused."""
    remote = with_remote(git_repo)
    ref_mode(git_repo)
    pushed = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert push(git_repo, "origin", "main").returncode == 0
    local = record_and_commit(git_repo, "b.py", "b = 1\n", "Add the kiwi store")
    newer = record_and_commit(git_repo, "c.py", "c = 1\n", "Add c")
    done = bitloops_cli(git_repo, "record", "private", "--checkpoint", local)
    assert done.returncode == 0, done.stderr
    history = git(git_repo, "log", "--format=%H", "refs/bitloops/checkpoints/v1").split()
    for commit in history:
        assert not any(local in p for p in _committed_paths(git_repo, commit))
    assert any(p.startswith(newer) for p in ref_files(git_repo))
    refused = bitloops_cli(git_repo, "record", "private", "--checkpoint", pushed)
    assert refused.returncode != 0 and "pushed to origin" in refused.stderr
    assert push(git_repo, "origin", "main").returncode == 0
    mate = _clone(remote, "mate")
    assert bitloops_cli(mate, "fetch").returncode == 0
    assert bitloops_cli(mate, "explain", newer).returncode == 0
    _teammate_sees_nothing_of(mate, local, "kiwi")


def test_a_checkpoint_mixing_private_and_shared_sessions_stays_local(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One private session in a commit's draft keeps the whole checkpoint local."""
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("claude-code", "m1").prompt("shared work")
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("codex", "m2").prompt("private work")
    monkeypatch.delenv("BITLOOPS_PRIVATE")
    sha = _change_and_commit(git_repo, "a.py", "both")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    assert not any(sha in p for p in _committed_paths(git_repo))
    with bitloops.Repository.open(git_repo) as repo:
        assert len(repo.checkpoint(sha).sessions) == 2


def test_review_and_exports_leave_private_checkpoints_out(git_repo: Path, tmp_path: Path) -> None:
    """`review`, `export --html` (pages and file histories) and `export --agent-trace`."""
    enable(git_repo)
    base = git(git_repo, "rev-parse", "HEAD").strip()
    shared = record_and_commit(git_repo, "a.py", "a = 1\n", "Add the lynx router")
    _local_settings(git_repo, {"private": True})
    private = record_and_commit(git_repo, "a.py", "a = 2\n", "Tune the puffin router")
    (git_repo / ".bitloops" / "settings.local.json").unlink()
    data = json.loads(bitloops_cli(git_repo, "review", f"{base}..HEAD", "--format", "json").stdout)
    by_commit = {c["commit_sha"]: c["checkpoints"] for c in data["commits"]}
    assert by_commit[shared] and by_commit[private] == []
    out = tmp_path / "site"
    exported = bitloops_cli(git_repo, "export", f"{base}..HEAD", "--html", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    pages = "".join(p.read_text() for p in out.rglob("*.html"))
    assert "lynx" in pages and "puffin" not in pages
    trace = bitloops_cli(git_repo, "export", private, "--agent-trace")
    assert trace.returncode != 0 and "private" in trace.stderr
    alone = bitloops_cli(git_repo, "export", private, "--html", "-o", str(tmp_path / "x"))
    assert alone.returncode != 0 and "private" in alone.stderr


def test_the_team_store_gets_nothing_private(git_repo: Path, pg: PgSchema) -> None:
    """Team setup: a private checkpoint is never queued, `sync --all` leaves it out, and
    one sent already cannot be made private."""
    enable(git_repo)
    _local_settings(git_repo, {"committed_store": pg.url, "private": True})
    private = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.status().unsent_count == 0  # never queued
    _local_settings(git_repo, {"committed_store": pg.url})
    shared = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    assert pg.count("checkpoints") == 1
    assert bitloops_cli(git_repo, "sync", "--all").returncode == 0
    assert pg.count("checkpoints") == 1
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.status().unsent_count == 0
        cid = repo.checkpoint(private).checkpoint_id
        sent = repo.checkpoint(shared).checkpoint_id
    found = pg.admin.execute(f"SELECT checkpoint_id FROM {pg.name}.checkpoints").fetchall()
    assert found == [(sent,)] and cid != sent
    refused = bitloops_cli(git_repo, "record", "private", "--checkpoint", shared)
    assert refused.returncode != 0 and "shared store" in refused.stderr


def test_record_private_without_an_open_session_says_how_to_choose_beforehand(
    git_repo: Path,
) -> None:
    """No open session: the message names the setting and the environment variable."""
    commit_files(git_repo, {"a.py": "1\n"}, "a")
    proc = bitloops_cli(git_repo, "record", "private")
    assert proc.returncode != 0
    assert "BITLOOPS_PRIVATE=1" in proc.stderr and '"private": true' in proc.stderr
    mixed = bitloops_cli(git_repo, "record", "private", "--session", "x", "--checkpoint", "y")
    assert mixed.returncode != 0 and "name one" in mixed.stderr


@pytest.mark.parametrize(
    ("files", "env", "expected"),
    [
        ({}, {}, False),
        ({".bitloops/settings.json": {"private": True}}, {}, True),
        ({".bitloops/settings.local.json": {"private": "yes"}}, {}, True),
        ({".bitloops/settings.json": {"private": True}}, {"BITLOOPS_PRIVATE": "0"}, False),
        ({}, {"BITLOOPS_PRIVATE": "1"}, True),
    ],
)
def test_the_light_path_reads_private_as_the_settings_do(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, object],
    env: dict[str, str],
    expected: bool,
) -> None:
    """`read_settings` (the hooks' fast path) and `load_settings` agree on `private`."""
    for rel, data in files.items():
        (git_repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / rel).write_text(json.dumps(data))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lean = direct.read_settings(str(git_repo))
    assert lean is not None and lean["private"] is expected
    assert load_settings(git_repo).private is expected


def test_a_bad_private_value_is_refused_by_both_paths(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BITLOOPS_PRIVATE=maybe: the settings say what is wrong, the light path defers."""
    monkeypatch.setenv("BITLOOPS_PRIVATE", "maybe")
    assert direct.read_settings(str(git_repo)) is None
    with pytest.raises(SettingsError, match="BITLOOPS_PRIVATE"):
        load_settings(git_repo)


def test_the_python_api_keeps_a_live_session_local(git_repo: Path) -> None:
    """`Repository.keep_local()`: a session with no checkpoint yet is marked; an unknown
    id says so."""
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("codex", "m1", session_id="s-api").prompt("the mole sketch")
        kept = repo.keep_local(session_id="s-api")
        assert (kept.session_id, kept.checkpoint_ids, kept.removed) == ("s-api", (), ())
        assert repo.status().private_sessions == ("s-api",)
        with pytest.raises(bitloops.SessionNotFound):
            repo.keep_local(session_id="nope")
        commit_files(git_repo, {"a.py": "1\n"}, "a")
        made = repo.promote()
        assert made is not None and not (git_repo / FOLDERS).exists()
        assert "mole" in repo.search("mole")[0].snippet


def test_the_session_strategy_shares_the_other_sessions(git_repo: Path) -> None:
    """Under `session`, each session is its own checkpoint: only the private one stays."""
    commit_files(git_repo, {".bitloops/settings.json": '{"strategy": "session"}\n'}, "strategy")
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        shared = repo.start_session("claude-code", "m1")
        shared.prompt("the shared part")
        hidden = repo.start_session("codex", "m2")
        hidden.prompt("the hidden part")
        repo.keep_local(session_id=hidden.session_id)
        commit_files(git_repo, {"a.py": "1\n"}, "a")
        shared.end()
        hidden.end()
        made = {cp.sessions[0].session_id: cp for cp in repo.checkpoints()}
    written = [
        json.loads(p.read_text())["checkpoint_id"]
        for p in (git_repo / FOLDERS).rglob("session.json")
    ]
    assert written == [made[shared.session_id].checkpoint_id]
    assert made[hidden.session_id].checkpoint_id not in written


@pytest.mark.parametrize("mode", ["branch", "ref"])
def test_keep_local_finds_the_folder_when_the_first_checkpoint_is_private(
    git_repo: Path, mode: str
) -> None:
    """Under `session`, a private first checkpoint leaves `<sha>/` to the shared one:
    keeping the private one local again leaves that folder alone; keeping the shared one
    local takes back `<sha>/`, not a sub-folder that was never written."""
    settings = {"strategy": "session", "checkpoint_files": mode}
    commit_files(git_repo, {".bitloops/settings.json": json.dumps(settings)}, "strategy")
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        hidden = repo.start_session("codex", "m2")
        hidden.prompt("the hidden part")
        shared = repo.start_session("claude-code", "m1")
        shared.prompt("the shared part")
        repo.keep_local(session_id=hidden.session_id)
        commit_files(git_repo, {"a.py": "1\n"}, "a")
        hidden.end()  # promoted first, but private: it writes nothing
        shared.end()  # so this one owns <sha>/
        made = {cp.sessions[0].session_id: cp.checkpoint_id for cp in repo.checkpoints()}
    sha = git(git_repo, "rev-parse", "HEAD").strip()

    def listing() -> list[str]:
        if mode == "ref":
            return ref_files(git_repo)
        return [
            str(p.relative_to(git_repo / FOLDERS)) for p in (git_repo / FOLDERS).rglob("*.json")
        ]

    assert f"{sha}/session.json" in listing()
    with bitloops.Repository.open(git_repo) as repo:
        again = repo.keep_local(session_id=hidden.session_id)
        assert again.removed == ()
        assert f"{sha}/session.json" in listing()
        kept = repo.keep_local(checkpoint_id=made[shared.session_id])
    assert [r.rstrip("/").rsplit("/", 1)[-1].removeprefix("ref:") for r in kept.removed] == [sha]
    assert not [p for p in listing() if p.startswith(sha)]


def test_a_purge_in_ref_mode_writes_no_private_checkpoint_into_the_ref(git_repo: Path) -> None:
    """Purging a secret from a private checkpoint rewrites nothing into the checkpoint ref,
    even when a shared checkpoint of the same commit is there."""
    settings = {"strategy": "session", "checkpoint_files": "ref"}
    commit_files(git_repo, {".bitloops/settings.json": json.dumps(settings)}, "strategy")
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        shared = repo.start_session("claude-code", "m1")
        shared.prompt("the shared part")
        hidden = repo.start_session("codex", "m2")
        hidden.prompt("the hidden part with hunter2secret")
        repo.keep_local(session_id=hidden.session_id)
        commit_files(git_repo, {"a.py": "1\n"}, "a")
        shared.end()
        hidden.end()
        before = ref_files(git_repo)
        report = repo.purge("hunter2secret", reason="pasted")
        assert report.checkpoint_ids  # the private checkpoint held it
    assert ref_files(git_repo) == before
    grep = subprocess.run(
        ("git", "grep", "-c", "hidden part", "refs/bitloops/checkpoints/v1"),
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert grep.stdout == ""


def test_shared_checkpoints_name_no_private_parent_and_a_mate_verifies_them(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared checkpoint's parent skips private ones; one that named a checkpoint made
    private afterwards verifies in a teammate's clone with a note, not an error."""
    remote = with_remote(git_repo)
    ref_mode(git_repo)
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    hidden = record_and_commit(git_repo, "a.py", "a = 1\n", "Add the walrus")
    monkeypatch.delenv("BITLOOPS_PRIVATE")
    first = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    later = record_and_commit(git_repo, "c.py", "c = 1\n", "Add c")
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.checkpoint(first).parent_checkpoint_id is None
        assert repo.checkpoint(later).parent_checkpoint_id == repo.checkpoint(first).checkpoint_id
        repo.keep_local(checkpoint_id=repo.checkpoint(first).checkpoint_id)
    assert bitloops_cli(git_repo, "verify").returncode == 0
    assert push(git_repo, "origin", "main").returncode == 0
    mate = _clone(remote, "mate")
    assert bitloops_cli(mate, "fetch").returncode == 0
    assert bitloops_cli(mate, "explain", later).returncode == 0
    verified = bitloops_cli(mate, "verify")
    assert verified.returncode == 0, verified.stdout
    assert "parent_absent" in verified.stdout and "chain_broken" not in verified.stdout
    _teammate_sees_nothing_of(mate, hidden, "walrus")


def test_resuming_a_pushed_session_with_private_on_leaves_its_past_shared(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BITLOOPS_PRIVATE marks new sessions only: resuming one whose checkpoint was pushed
    does not make that checkpoint private behind the teammates' backs."""
    remote = with_remote(git_repo)
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("claude-code", "m1", session_id="S").prompt("the public heron")
    first = _change_and_commit(git_repo, "a.py", "a")
    _change_and_commit(git_repo, "b.py", "b")  # commits the folder of `a`
    assert push(git_repo, "origin", "main").returncode == 0
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    with bitloops.Repository.open(git_repo) as repo:
        repo.start_session("claude-code", "m1", session_id="S").prompt("resumed")
        repo.start_session("codex", "m2", session_id="N").prompt("brand new")
        assert repo.status().private_sessions == ("N",)
    explained = bitloops_cli(git_repo, "explain", first)
    assert "Private" not in explained.stdout
    mate = _clone(remote, "mate")
    assert "heron" in bitloops_cli(mate, "explain", first).stdout


@pytest.mark.parametrize("mode", ["branch", "ref"])
def test_keep_local_takes_back_the_link_files_naming_it(git_repo: Path, mode: str) -> None:
    """After an amend, the new commit's link file names the checkpoint: keeping it local
    removes that entry too (work tree and index, or the ref), so nothing pushed names it;
    a teammate's clone (ref mode) sees nothing of it."""
    remote = with_remote(git_repo)
    if mode == "ref":
        ref_mode(git_repo)
    else:
        enable(git_repo)
    with (
        bitloops.Repository.open(git_repo) as repo,
        repo.start_session("claude-code", "m1", session_id="S") as session,
    ):
        session.prompt("the secret lynx plan")
    first = _change_and_commit(git_repo, "a.py", "a")
    assert git_commit(git_repo, "--amend", "-m", "a2").returncode == 0
    amended = git(git_repo, "rev-parse", "HEAD").strip()
    with bitloops.Repository.open(git_repo) as repo:
        cid = repo.checkpoint(first).checkpoint_id
        kept = repo.keep_local(checkpoint_id=cid)
    assert any(r.endswith(f"{amended}/link.json") for r in kept.removed), kept
    _change_and_commit(git_repo, "b.py", "b")
    for rev in ("HEAD", "refs/bitloops/checkpoints/v1"):
        shown = subprocess.run(
            ("git", "grep", "-c", "-F", cid, rev), cwd=git_repo, capture_output=True, text=True
        )
        assert shown.stdout == "", shown.stdout
    if mode == "branch":
        # The amend committed the folder itself: the note says to rewrite that commit.
        assert any(amended[:12] in note for note in kept.notes), kept.notes
        return
    assert push(git_repo, "origin", "main").returncode == 0
    mate = _clone(remote, "mate")
    assert bitloops_cli(mate, "fetch").returncode == 0
    _teammate_sees_nothing_of(mate, amended, "lynx")


def test_agents_of_shared_sessions_are_not_told_private_reasoning(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MCP read tools and context injection leave private checkpoints out unless the
    calling session is private; this clone's own history still shows them."""
    from bitloops.context import answers
    from bitloops.context._inject import file_text

    enable(git_repo)
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    with (
        bitloops.Repository.open(git_repo) as repo,
        repo.start_session("claude-code", "m1") as session,
    ):
        session.prompt("the private plan")
        session.file_change("a.py", "added")
        session.decision("use the walrus cache", applies_to=["a.py"])
    monkeypatch.delenv("BITLOOPS_PRIVATE")
    sha = _change_and_commit(git_repo, "a.py", "a")
    with bitloops.Repository.open(git_repo) as repo:
        shared = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
        cid = repo.checkpoint(sha).checkpoint_id
        assert repo.history("a.py")[0].checkpoint_id == cid  # read here, as promised
        assert repo.store.execute(
            "SELECT private FROM indexed_checkpoints WHERE checkpoint_id = ?", (cid,)
        ) == [(1,)]
        assert "walrus" not in answers.why(repo, "a.py")
        assert "walrus" not in answers.file_history(repo, "a.py")
        assert "walrus" not in answers.checkpoint(repo, sha)
        assert "walrus" in answers.why(repo, "a.py", private=True)
        assert "nothing recorded matches" in answers.search(repo, "walrus")
        assert "nothing recorded matches" not in answers.search(repo, "walrus", private=True)
        db = str(repo.db_path)
        common = git(git_repo, "rev-parse", "--git-common-dir").strip()
        injected = file_text(db, str(git_repo), str(git_repo / common), ["a.py"])
        assert injected is None or "walrus" not in injected
        mine = file_text(db, str(git_repo), str(git_repo / common), ["a.py"], private=True)
        assert mine is not None and "walrus" in mine
        # A checkpoint made private afterwards is flagged too.
        repo.keep_local(checkpoint_id=repo.checkpoint(shared).checkpoint_id)
        assert repo.store.execute("SELECT count(*) FROM indexed_checkpoints WHERE private = 1") == [
            (2,)
        ]


def test_an_html_export_shows_no_private_agent_or_model_in_blame(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file page of a static export blames the private commit's lines without naming
    its agent, model or checkpoint; the shared commit's stay."""
    enable(git_repo)
    base = git(git_repo, "rev-parse", "HEAD").strip()
    with (
        bitloops.Repository.open(git_repo) as repo,
        repo.start_session("claude-code", "public-model") as session,
    ):
        session.prompt("lynx")
        session.file_change("a.py", "added")
    commit_files(git_repo, {"a.py": "a = 1\n"}, "pub")
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    with (
        bitloops.Repository.open(git_repo) as repo,
        repo.start_session("codex", "secret-model-x") as session,
    ):
        session.prompt("puffin")
        session.file_change("a.py", "modified")
    monkeypatch.delenv("BITLOOPS_PRIVATE")
    commit_files(git_repo, {"a.py": "a = 1\nb = 2\n"}, "priv")
    out = tmp_path / "site"
    done = bitloops_cli(git_repo, "export", f"{base}..HEAD", "--html", "-o", str(out))
    assert done.returncode == 0, done.stderr
    pages = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "public-model" in pages
    assert "secret-model-x" not in pages and "codex" not in pages and "puffin" not in pages


def test_keep_local_asks_the_team_store_after_unqueueing(git_repo: Path, pg: PgSchema) -> None:
    """A checkpoint a sync sent while it was still queued (the race with keep_local) is
    refused after unqueueing, and the new marks are given back."""
    enable(git_repo)
    _local_settings(git_repo, {"committed_store": pg.url})
    sha = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert bitloops_cli(git_repo, "sync").returncode == 0
    with bitloops.Repository.open(git_repo) as repo:
        cid = repo.checkpoint(sha).checkpoint_id
        repo.store.queue_all()  # queued again, as if the sync had not recorded the send
        with pytest.raises(bitloops.AlreadyShared, match="shared store"):
            repo.keep_local(checkpoint_id=cid)
        assert repo.store.execute("SELECT count(*) FROM private_marks") == [(0,)]
        assert repo.status().private_sessions == ()


def test_the_ref_is_not_rewritten_past_a_remote_it_has_diverged_from(git_repo: Path) -> None:
    """A remote whose checkpoint ref is not in this clone's history: keep_local refuses,
    says to fetch, leaves the ref as it was and marks nothing."""
    with_remote(git_repo)
    ref_mode(git_repo)
    record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert push(git_repo, "origin", "main").returncode == 0
    local = record_and_commit(git_repo, "b.py", "b = 1\n", "Add the emu store")
    other = git_repo.parent / "other.git"
    git(git_repo.parent, "init", "-q", "--bare", str(other))
    git(git_repo, "remote", "add", "other", str(other))
    empty = git(git_repo, "hash-object", "-t", "tree", "-w", "/dev/null").strip()
    stray = git(git_repo, "commit-tree", empty, "-m", "elsewhere").strip()
    git(git_repo, "push", "-q", "--no-verify", "other", f"{stray}:refs/bitloops/checkpoints/v1")
    before = git(git_repo, "rev-parse", "refs/bitloops/checkpoints/v1").strip()
    with bitloops.Repository.open(git_repo) as repo:
        with pytest.raises(bitloops.AlreadyShared, match="diverged"):
            repo.keep_local(checkpoint_id=repo.checkpoint(local).checkpoint_id)
        assert repo.store.execute("SELECT count(*) FROM private_marks") == [(0,)]
    assert git(git_repo, "rev-parse", "refs/bitloops/checkpoints/v1").strip() == before


def test_the_pre_commit_hook_never_stages_a_private_folder(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backstop: a private checkpoint's folder found in the work tree (written before it
    was marked, or by an older bitloops) is not staged by the pre-commit hook."""
    from bitloops.checkpoint import write_checkpoint_dir

    enable(git_repo)
    monkeypatch.setenv("BITLOOPS_PRIVATE", "1")
    hidden = record_and_commit(git_repo, "a.py", "a = 1\n", "Add the okapi")
    monkeypatch.delenv("BITLOOPS_PRIVATE")
    with bitloops.Repository.open(git_repo) as repo:
        write_checkpoint_dir(git_repo, repo.checkpoint(hidden))
    assert (git_repo / FOLDERS / hidden / "session.json").is_file()
    shared = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    _change_and_commit(git_repo, "c.py", "c")
    committed = _committed_paths(git_repo)
    assert not any(hidden in p for p in committed)
    assert any(f"{FOLDERS}/{shared}/session.json" == p for p in committed)
