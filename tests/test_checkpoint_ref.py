"""checkpoint_files = "ref", pre-push, fetch, post-merge and pending folders, with real git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import commit_files, git
from test_hooks import bitloops_cli, enable, record_and_commit

import bitloops
from bitloops._commit_flow import pending_folders
from bitloops.checkpoint._in_ref import read_from_ref
from bitloops.cli._status import status_json
from bitloops.git._ref import CHECKPOINT_REF, add_to_ref, list_ref


def ref_mode(repo: Path) -> None:
    """Commit ``.bitloops/settings.json`` choosing ref mode, and install the hooks."""
    commit_files(repo, {".bitloops/settings.json": '{"checkpoint_files": "ref"}\n'}, "ref mode")
    enable(repo)


def with_remote(repo: Path) -> Path:
    """A bare repository next to ``repo``, added as its ``origin``; its path."""
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def push(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``git push`` (hooks run)."""
    return subprocess.run(
        ("git", "push", "-q", *args), cwd=repo, capture_output=True, text=True, check=False
    )


def ref_files(repo: Path) -> list[str]:
    """Every path in the checkpoint ref's tree."""
    return git(repo, "ls-tree", "-r", "--name-only", CHECKPOINT_REF).split()


def test_ref_mode_commits_folder_to_ref_and_leaves_work_tree_clean(git_repo: Path) -> None:
    """A commit in ref mode puts the folder in the ref, not in the work tree or index."""
    ref_mode(git_repo)
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    files = ref_files(git_repo)
    assert {f"{sha}/session.json", f"{sha}/summary.md", f"{sha}/transcript.jsonl"} <= set(files)
    assert git(git_repo, "status", "--porcelain") == ""
    assert not (git_repo / ".bitloops/checkpoints").exists()
    with bitloops.Repository.open(git_repo) as r:
        assert read_from_ref(git_repo, sha) == r.checkpoint("HEAD")
    second = record_and_commit(git_repo, "b.py", "y = 2\n", "Add b")
    assert list_ref(git_repo) == sorted([sha, second])
    assert len(git(git_repo, "rev-list", CHECKPOINT_REF).split()) == 2
    assert git(git_repo, "status", "--porcelain") == ""
    assert ".bitloops/checkpoints" not in git(git_repo, "ls-tree", "-r", "--name-only", "HEAD")


def test_add_to_ref_is_idempotent(git_repo: Path, tmp_path: Path) -> None:
    """Adding the same folder twice makes no second commit."""
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "session.json").write_text("{}\n")
    sha = git(git_repo, "rev-parse", "HEAD").strip()
    first = add_to_ref(git_repo, sha, folder)
    assert add_to_ref(git_repo, sha, folder) == first
    assert list_ref(git_repo) == [sha]


def test_pre_push_pushes_ref_and_fetch_brings_it(git_repo: Path) -> None:
    """pre-push in ref mode pushes the ref; a clone gets the folders with bitloops fetch."""
    remote = with_remote(git_repo)
    ref_mode(git_repo)
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    proc = push(git_repo, "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert "bitloops" not in proc.stderr
    assert git(remote, "rev-parse", CHECKPOINT_REF) == git(git_repo, "rev-parse", CHECKPOINT_REF)
    clone = git_repo.parent / "clone"
    git(git_repo.parent, "clone", "-q", str(remote), str(clone))
    assert list_ref(clone) == []
    proc = bitloops_cli(clone, "fetch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1 checkpoint folder arrived from origin\n"
    assert list_ref(clone) == [sha]
    again = json.loads(bitloops_cli(clone, "fetch", "origin", "--json").stdout)
    assert again == {"remote": "origin", "ref": CHECKPOINT_REF, "found": True, "arrived": []}
    # the teammate can read it: explain finds the fetched checkpoint without a database row
    explained = bitloops_cli(clone, "explain", sha)
    assert explained.returncode == 0 and "Add a" in explained.stdout


def test_fetch_merges_when_both_sides_added_folders(git_repo: Path, tmp_path: Path) -> None:
    """Folders added on both sides are all in the ref after fetch, via a two-parent commit."""
    remote = with_remote(git_repo)
    git(git_repo, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    ref_mode(git_repo)
    ours = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    assert push(git_repo, "origin", "main").returncode == 0
    ref_mode(clone)
    theirs = record_and_commit(clone, "b.py", "y = 2\n", "Add b")
    assert list_ref(clone) == [theirs]
    proc = bitloops_cli(clone, "fetch", "origin")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 checkpoint folder arrived")
    assert list_ref(clone) == sorted([ours, theirs])
    parents = git(clone, "rev-list", "--parents", "-n", "1", CHECKPOINT_REF).split()
    assert len(parents) == 3
    assert bitloops_cli(git_repo, "fetch", str(tmp_path / "nowhere.git")).returncode == 2


def test_fetch_without_remote_ref_exits_1(git_repo: Path) -> None:
    """fetch from a remote that has no checkpoint ref reports it and exits 1."""
    with_remote(git_repo)
    git(git_repo, "push", "-q", "origin", "main")
    proc = bitloops_cli(git_repo, "fetch")
    assert proc.returncode == 1
    assert "has no refs/bitloops/checkpoints/v1" in proc.stderr


def test_fetch_from_a_missing_remote_says_so_in_one_line(git_repo: Path, tmp_path: Path) -> None:
    """git's several lines of advice become one message: the cause, and what to check."""
    git(git_repo, "remote", "add", "origin", str(tmp_path / "gone.git"))
    proc = bitloops_cli(git_repo, "fetch")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "does not appear to be a git repository" in proc.stderr
    assert "fatal:" not in proc.stderr and "git remote -v" in proc.stderr


def test_pre_push_in_branch_mode_tells_about_pending_folder(git_repo: Path) -> None:
    """pre-push in branch mode says the tip's reasoning waits for the next commit."""
    with_remote(git_repo)
    enable(git_repo)
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    proc = push(git_repo, "origin", "main")
    assert proc.returncode == 0
    assert f"bitloops: the reasoning of {sha[:7]} is not in this push yet" in proc.stderr
    assert "refs/bitloops" not in git(git_repo, "ls-remote", "origin")
    commit_files(git_repo, {"c.py": "z = 3\n"}, "Add c")  # --no-verify: stage by hand
    proc = push(git_repo, "origin", "main")
    assert proc.returncode == 0 and proc.stderr == ""


def test_post_merge_promotes_to_merge_commit_but_not_fast_forward(git_repo: Path) -> None:
    """git merge --no-ff gets a checkpoint from the draft; a fast-forward merge does not."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    commit_files(git_repo, {"s.py": "s = 1\n"}, "side work")
    git(git_repo, "checkout", "-q", "main")
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code") as s:
        s.prompt("merge side")
    git(git_repo, "merge", "-q", "--ff-only", "side")
    with bitloops.Repository.open(git_repo) as r:
        assert not r.checkpoints(commit="HEAD")
        assert r.status().draft_event_count > 0
    git(git_repo, "checkout", "-q", "-b", "other", "HEAD~1")
    commit_files(git_repo, {"o.py": "o = 1\n"}, "other work")  # post-commit takes the draft
    git(git_repo, "checkout", "-q", "main")
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code") as s:
        s.prompt("merge other")
    git(git_repo, "merge", "-q", "--no-ff", "-m", "Merge other", "other")
    head = git(git_repo, "rev-parse", "HEAD").strip()
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint("HEAD").commit_sha == head
        assert r.status().draft_event_count == 0


def test_status_lists_pending_folders(git_repo: Path) -> None:
    """status shows the folders the next commit carries; they are gone after it."""
    enable(git_repo)
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    proc = bitloops_cli(git_repo, "status")
    assert "Pending:     1 folder (committed with your next commit)" in proc.stdout
    assert f"             {sha[:12]}" in proc.stdout.splitlines()
    with bitloops.Repository.open(git_repo) as r:
        data = status_json(r.status(), pending_folders=pending_folders(git_repo))
    assert data["pending_folders"] == [sha]
    (git_repo / "b.py").write_text("y = 2\n")
    git(git_repo, "add", "b.py")
    assert git(git_repo, "commit", "-q", "-m", "Add b") == ""
    assert "Pending" not in bitloops_cli(git_repo, "status").stdout


def test_pre_push_merges_a_diverged_remote_ref(git_repo: Path, tmp_path: Path) -> None:
    """When the remote's ref moved on, pre-push fetches, merges, and pushes the union."""
    remote = with_remote(git_repo)
    git(git_repo, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    ref_mode(git_repo)
    ours = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    assert push(git_repo, "origin", "main").returncode == 0
    ref_mode(clone)
    theirs = record_and_commit(clone, "b.py", "y = 2\n", "Add b")
    proc = push(clone, "origin", "HEAD:side")
    assert proc.returncode == 0, proc.stderr
    assert "bitloops" not in proc.stderr
    tip = git(remote, "rev-parse", CHECKPOINT_REF).strip()
    assert tip == git(clone, "rev-parse", CHECKPOINT_REF).strip()
    assert git(remote, "ls-tree", "--name-only", tip).split() == sorted([ours, theirs])


def test_chained_pre_push_gets_stdin_and_keeps_its_status(git_repo: Path) -> None:
    """A user's pre-push still reads git's lines, and its failure still stops the push."""
    with_remote(git_repo)
    hook = git_repo / ".git/hooks/pre-push"
    hook.write_text('#!/bin/sh\necho "$1" >> ../push.log\ncat >> ../push.log\nexit 1\n')
    hook.chmod(0o755)
    enable(git_repo)
    proc = push(git_repo, "origin", "main")
    assert proc.returncode != 0
    head = git(git_repo, "rev-parse", "HEAD").strip()
    log = (git_repo.parent / "push.log").read_text()
    assert log.startswith("origin\nrefs/heads/main " + head)
    assert "refs/heads/main" not in git(git_repo, "ls-remote", "origin")


def test_verify_and_purge_work_on_the_ref(git_repo: Path) -> None:
    """In ref mode verify checks the ref's folders, and a purge rewrites them there."""
    ref_mode(git_repo)
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "my pin is 48151623")
    with bitloops.Repository.open(git_repo) as r:
        report = r.verify()
        assert report.ok and report.problems == ()
        r.purge("48151623", reason="pin")
        assert r.verify().ok
        assert {p.kind for p in r.verify().problems} == {"purged"}
        assert "48151623" not in git(git_repo, "show", f"{CHECKPOINT_REF}:{sha}/transcript.jsonl")
        # a forged transcript in the ref is caught
        folder = git_repo.parent / "forged"
        folder.mkdir()
        for name in ("session.json", "summary.md", "transcript.jsonl"):
            text = git(git_repo, "show", f"{CHECKPOINT_REF}:{sha}/{name}")
            (folder / name).write_text(text.replace("[PURGED]", "something else"))
        add_to_ref(git_repo, sha, folder)
        assert "files_mismatch" in {p.kind for p in r.verify().problems}


def test_ref_mode_keeps_every_checkpoint_of_a_commit_without_lag(git_repo: Path) -> None:
    """Two sessions ending on one commit: both in the ref at once, nothing in the work tree."""
    commit_files(
        git_repo,
        {".bitloops/settings.json": '{"checkpoint_files": "ref", "strategy": "session"}\n'},
        "ref + session",
    )
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as r:
        a = r.start_session(agent="claude-code")
        b = r.start_session(agent="cursor")
        a.prompt("one")
        b.prompt("two")
        a.end()
        b.end()
        made = r.checkpoints(commit="HEAD")
    assert len(made) == 2
    sha = made[0].commit_sha
    files = ref_files(git_repo)
    assert f"{sha}/session.json" in files
    nested = [f for f in files if f.count("/") == 2]
    assert len(nested) == 3  # the second checkpoint's three files in <sha>/<id>/
    assert git(git_repo, "status", "--porcelain") == ""  # no lag, nothing to commit by mistake
    with bitloops.Repository.open(git_repo) as r:
        assert r.verify().ok


def test_a_failed_fetch_or_push_is_told_by_its_cause() -> None:
    """ssh's words before git's `fatal:`, a remote's refusal and its hook's message."""
    from bitloops.git._ref import _first_problem

    advice = "\nPlease make sure you have the correct access rights\nand the repository exists.\n"
    ssh = "ssh: Could not resolve hostname nowhere: Name or service not known\n"
    assert _first_problem(
        ssh + "fatal: Could not read from remote repository.\n" + advice, 128
    ) == (
        "ssh: Could not resolve hostname nowhere: Name or service not known"
        " (Could not read from remote repository.)"
    )
    refused = (
        "remote: no pushes on fridays\nTo ../bare\n ! [remote rejected] main -> main "
        "(pre-receive hook declined)\nerror: failed to push some refs to '../bare'\n"
    )
    assert _first_problem(refused, 1) == (
        "[remote rejected] main -> main (pre-receive hook declined); no pushes on fridays"
    )
    assert _first_problem("", 128) == "git exited with status 128"
