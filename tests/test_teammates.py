"""A teammate's clone, which made no checkpoint, reads every committed one everywhere.

Real git: a repository with the hooks, a bare remote, a fresh clone. The clone's
`rewind`, `search`, `status` and the Python API find the checkpoints that committed
folders (branch mode) or the fetched checkpoint ref (ref mode) hold, each verified
against its content hash; an uncommitted or altered folder is not taken.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git
from test_checkpoint_ref import push, ref_mode, with_remote
from test_hooks import bitloops_cli, enable, record_and_commit

import bitloops

FOLDERS = ".bitloops/checkpoints/v1"


def _clone(origin: Path, name: str) -> Path:
    clone = origin.parent / name
    git(origin.parent, "clone", "-q", "-b", "main", str(origin), str(clone))
    return clone


def test_a_clone_lists_searches_and_counts_the_committed_checkpoints(git_repo: Path) -> None:
    """Branch mode: the folders arrive with the branch; rewind, search, status and the API
    show them (the tip's folder follows in the next commit, as pre-push says)."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add retries with backoff")
    second = record_and_commit(git_repo, "b.py", "b = 1\n", "Log each retry")
    mate = _clone(git_repo, "mate")
    status = bitloops_cli(mate, "status")
    assert status.returncode == 0 and "Checkpoints: 1 total" in status.stdout
    rewind = bitloops_cli(mate, "rewind")
    assert rewind.returncode == 0 and rewind.stdout.startswith(first[:12])
    assert second[:12] not in rewind.stdout  # its folder is not committed yet
    search = bitloops_cli(mate, "search", "backoff")
    assert search.returncode == 0 and first[:12] in search.stdout
    with bitloops.Repository.open(mate) as repo:
        assert [cp.commit_sha for cp in repo.checkpoints()] == [first]
        assert repo.search("backoff")[0].commit_sha == first
        assert repo.adopt_committed() == 0  # nothing moved: nothing read again
    # The next commit upstream carries the second folder; a pull brings it.
    record_and_commit(git_repo, "c.py", "c = 1\n", "Add c")
    git(mate, "pull", "-q", "--no-rebase")
    rewind = bitloops_cli(mate, "rewind")
    assert rewind.stdout.splitlines()[0].startswith(second[:12])


def test_an_altered_or_uncommitted_folder_is_not_taken(git_repo: Path) -> None:
    """A committed folder whose files no longer hash to its content hash, and a folder
    only in the work tree, stay out of the clone's database."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")  # carries a's folder
    meta_path = git_repo / FOLDERS / first / "session.json"
    meta = json.loads(meta_path.read_text())
    meta["summary"]["intent"] = ["CRAFTED"]
    meta_path.write_text(json.dumps(meta))
    git(git_repo, "add", "-f", str(meta_path))
    git(git_repo, "commit", "-q", "--no-verify", "-m", "alter the folder")
    mate = _clone(git_repo, "mate")
    loose = mate / FOLDERS / ("f" * 40)
    loose.mkdir(parents=True)
    (loose / "session.json").write_text(meta_path.read_text())
    with bitloops.Repository.open(mate) as repo:
        assert repo.adopt_committed() == 0
        assert repo.checkpoints() == []
    assert "CRAFTED" not in bitloops_cli(mate, "rewind").stdout


def test_ref_mode_says_to_fetch_then_reads_the_fetched_ref(git_repo: Path) -> None:
    """Ref mode: before `bitloops fetch` the clone is told to fetch; after, it lists."""
    with_remote(git_repo)
    ref_mode(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add retries with backoff")
    assert push(git_repo, "origin", "main").returncode == 0  # pre-push pushes the ref too
    mate = _clone(git_repo.parent / "remote.git", "mate")
    explain = bitloops_cli(mate, "explain", first)
    assert explain.returncode == 1 and "bitloops fetch" in explain.stderr
    assert bitloops_cli(mate, "fetch").returncode == 0
    rewind = bitloops_cli(mate, "rewind")
    assert rewind.returncode == 0 and rewind.stdout.startswith(first[:12])
    assert first[:12] in bitloops_cli(mate, "search", "backoff").stdout
    assert "Checkpoints: 1 total" in bitloops_cli(mate, "status").stdout


def test_a_folder_naming_an_option_as_its_commit_is_refused(git_repo: Path) -> None:
    """A committed folder whose header is consistent (its hash recomputed) but names
    `--output=FILE` as its commit is not taken: it would reach git as an option."""
    from bitloops._codec import content_hash

    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")  # carries a's folder
    folder = git_repo / FOLDERS / first
    meta = json.loads((folder / "session.json").read_text())
    target = git_repo.parent / "written-by-git"
    meta["commit_sha"] = f"--output={target}"
    meta["checkpoint_id"] = "01a2ffff-0000-7000-8000-000000000001"
    lines = (folder / "transcript.jsonl").read_text().splitlines()
    header = {k: v for k, v in meta.items()
              if k not in ("format", "commits", "content_hash", "event_count")}  # fmt: skip
    meta["content_hash"] = content_hash(header, lines)
    (folder / "session.json").write_text(json.dumps(meta))
    git(git_repo, "add", "-f", str(folder / "session.json"))
    git(git_repo, "commit", "-q", "--no-verify", "-m", "a hostile header")
    mate = _clone(git_repo, "mate")
    with bitloops.Repository.open(mate) as repo:
        assert repo.adopt_committed() == 0
    assert bitloops_cli(mate, "rewind").returncode in (0, 1)
    assert not target.exists()
