"""Reasoning that survives amend, rebase, cherry-pick and merge, read from a fresh clone.

Real git, a bare remote and a clone that never recorded anything: every commit with
reasoning (but the branch tip in branch mode, whose folder follows in the next commit) is
explained from what was pushed, through link files for the rewritten commits.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import commit_files, git
from test_hooks import bitloops_cli, enable, git_commit, record_and_commit

import bitloops
from bitloops.checkpoint._links import (
    LINK_FILE,
    Link,
    broken_links,
    link_document,
    linked_checkpoints,
    parse_links,
    write_link_file,
)

FOLDERS = ".bitloops/checkpoints/v1"


def remote_for(repo: Path) -> Path:
    """A bare repository next to ``repo``, added as its ``origin``."""
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def record(repo: Path, prompt: str) -> None:
    """Record a short session (a draft) in ``repo``."""
    with bitloops.Repository.open(repo) as r, r.start_session("claude-code", "m1") as s:
        s.prompt(prompt)
        s.response("done")


def ids_of(repo: Path, ref: str) -> set[str]:
    """The checkpoint ids ``bitloops explain REF --json`` shows in ``repo`` (CLI, real process)."""
    proc = bitloops_cli(repo, "explain", ref, "--json")
    if proc.returncode != 0:
        return set()
    return {cp["checkpoint_id"] for cp in json.loads(proc.stdout)["checkpoints"]}


def rebase(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``git rebase -i ARGS`` with ``script`` (sed) as the sequence editor."""
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": f"sed -i {script}", "GIT_EDITOR": "true"}
    return subprocess.run(
        ("git", "rebase", "-q", "-i", *args),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def checkpoint_ids(repo: Path, ref: str) -> set[str]:
    """What the local database links to ``ref``."""
    with bitloops.Repository.open(repo) as r:
        return {cp.checkpoint_id for cp in r.checkpoints(commit=ref)}


def history(repo: Path, mode: str) -> dict[str, set[str]]:
    """Amend, rebase (edit stop, fixup, force), cherry-pick and merge; {sha: checkpoint ids}
    that a clone must find, from the local database, for every commit with reasoning."""
    if mode == "ref":
        commit_files(repo, {".bitloops/settings.json": '{"checkpoint_files": "ref"}\n'}, "ref")
    enable(repo)
    git(repo, "checkout", "-q", "-b", "side")
    picked = record_and_commit(repo, "s.py", "s = 1\n", "Add s")
    record_and_commit(repo, "s2.py", "s = 2\n", "Add s2")  # carries s.py's folder
    git(repo, "checkout", "-q", "main")
    # amend, without a new session: the folder of the dead SHA goes with the link
    record_and_commit(repo, "a.py", "a = 1\n", "Add a")
    (repo / "a.py").write_text("a = 2\n")
    assert git_commit(repo, "-a", "--amend", "--no-edit").returncode == 0
    for name in "bcde":
        record_and_commit(repo, f"{name}.py", f"{name} = 1\n", f"Add {name}")
    # edit "Add b", fix "Add d" up into "Add c", and rewrite every commit (--force-rebase)
    script = "-e 's/^pick \\(.* Add b\\)$/edit \\1/' -e 's/^pick \\(.* Add d\\)$/fixup \\1/'"
    proc = rebase(repo, script, "--force-rebase", "HEAD~4")
    assert proc.returncode == 0, proc.stderr
    record(repo, "work at the edit stop")
    (repo / "n.py").write_text("n = 1\n")
    git(repo, "add", "n.py")
    assert git_commit(repo, "-m", "New at the stop").returncode == 0
    proc = subprocess.run(
        ("git", "-c", "core.editor=true", "rebase", "--continue"),
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    git(repo, "cherry-pick", picked)
    git(repo, "checkout", "-q", "-b", "topic")
    record_and_commit(repo, "t.py", "t = 1\n", "Add t")
    git(repo, "checkout", "-q", "main")
    record(repo, "merge topic")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    record_and_commit(repo, "z.py", "z = 1\n", "Add z")  # carries what is pending
    shas = git(repo, "rev-list", "HEAD").split()
    expected = {sha: checkpoint_ids(repo, sha) for sha in shas}
    return {sha: ids for sha, ids in expected.items() if ids}


def subjects(repo: Path) -> dict[str, str]:
    """{subject: sha} of HEAD's history."""
    out = git(repo, "log", "--format=%H %s").splitlines()
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out}


@pytest.mark.slow
def test_a_fresh_clone_explains_every_rewritten_commit_branch_mode(git_repo: Path) -> None:
    """Branch mode: after amend, rebase, cherry-pick and merge, a clone explains each commit
    with reasoning but the tip; rewritten commits carry link files, never a second copy."""
    remote = remote_for(git_repo)
    expected = history(git_repo, "branch")
    by_subject = subjects(git_repo)
    local = {s: checkpoint_ids(git_repo, sha) for s, sha in by_subject.items()}
    # the commit made at the edit stop has its own checkpoint, not "Add b"'s
    assert local["New at the stop"] and local["New at the stop"].isdisjoint(local["Add b"])
    assert local["Add c"] >= checkpoint_ids(git_repo, by_subject["Add c"])
    assert len(local["Add c"]) == 2  # c and the fixed-up d
    assert local["Add s"] and local["Merge topic"] and local["Add t"]
    # nothing is left behind: only the tips' folders wait (ignored: `git status` is clean)
    assert git(git_repo, "status", "--porcelain") == ""
    waiting = git(
        git_repo, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", FOLDERS
    ).split()
    tips = [by_subject["Add z"], git(git_repo, "rev-parse", "side").strip()]
    assert sorted(waiting) == sorted(f"{FOLDERS}/{sha}/" for sha in tips)
    # a rewritten commit has a link file, and no copy of the checkpoint
    amended = by_subject["Add a"]
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD", f"{FOLDERS}/{amended}").split()
    assert tree == [f"{FOLDERS}/{amended}/{LINK_FILE}"]
    git(git_repo, "push", "-q", "origin", "main")
    clone = git_repo.parent / "clone"
    git(git_repo.parent, "clone", "-q", "-b", "main", str(remote), str(clone))
    tip = by_subject["Add z"]
    for sha, ids in expected.items():
        if sha != tip:
            assert ids_of(clone, sha) == ids, git(git_repo, "log", "-1", "--format=%s", sha)
    text = bitloops_cli(clone, "explain", amended).stdout
    assert "Checkpoint" in text and amended[:12] in text
    # the context features know the rewritten commits too (the index reads the links)
    with bitloops.Repository.open(clone) as r:
        (entry,) = r.history("b.py")
        assert by_subject["Add b"] in entry.commits
        assert entry.checkpoint_id in local["Add b"]


@pytest.mark.slow
def test_a_fresh_clone_explains_every_rewritten_commit_ref_mode(git_repo: Path) -> None:
    """Ref mode: the links go straight to the checkpoint ref; after `bitloops fetch` a clone
    explains every commit with reasoning, the tip included."""
    remote = remote_for(git_repo)
    expected = history(git_repo, "ref")
    assert git(git_repo, "status", "--porcelain") == ""
    assert not (git_repo / FOLDERS).exists()
    amended = subjects(git_repo)["Add a"]
    ref = "refs/bitloops/checkpoints/v1"
    assert git(git_repo, "ls-tree", "-r", "--name-only", ref, amended).split() == [
        f"{amended}/{LINK_FILE}"
    ]
    git(git_repo, "push", "-q", "origin", "main")
    clone = git_repo.parent / "clone"
    git(git_repo.parent, "clone", "-q", "-b", "main", str(remote), str(clone))
    assert bitloops_cli(clone, "fetch").returncode == 0
    for sha, ids in expected.items():
        assert ids_of(clone, sha) == ids, git(git_repo, "log", "-1", "--format=%s", sha)


def test_a_link_to_a_changed_or_uncommitted_folder_is_not_trusted(git_repo: Path) -> None:
    """A link counts only when its folder is committed and recomputes to the linked hash."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert git_commit(git_repo, "--amend", "-m", "Add a!").returncode == 0
    amended = git(git_repo, "rev-parse", "HEAD").strip()
    with bitloops.Repository.open(git_repo) as r:
        (checkpoint,) = r.checkpoints(commit=amended)
    link_path = git_repo / FOLDERS / amended / LINK_FILE
    links = parse_links(link_path.read_bytes(), amended)
    assert links == [Link(checkpoint.checkpoint_id, first, checkpoint.content_hash, "amend")]
    assert parse_links(link_path.read_bytes(), first) == []  # another commit's file
    forged = json.loads(link_path.read_text())
    forged["links"][0]["reason"] = "manual"
    assert parse_links(json.dumps(forged), amended) == []  # its own hash no longer matches
    # only what is committed counts: the link waits for the next commit
    assert linked_checkpoints(git_repo, amended) == []
    b = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    with bitloops.Repository.open(git_repo) as r:
        from_files = r._from_files(amended)  # what a clone without the database reads
    assert [cp.checkpoint_id for cp in from_files] == [checkpoint.checkpoint_id]
    assert amended in from_files[0].commits
    assert broken_links(git_repo) == []
    # a link to a folder only in the work tree (b's waits for the next commit)
    with bitloops.Repository.open(git_repo) as r:
        (own,) = r.checkpoints(commit=b)
    other = git(git_repo, "commit-tree", "-m", "x", f"{b}^{{tree}}").strip()
    write_link_file(git_repo / FOLDERS, other, [Link(own.checkpoint_id, b, own.content_hash, "x")])
    # a link whose hash the folder does not recompute to
    bad = link_document(amended, [Link(checkpoint.checkpoint_id, first, "0" * 64, "amend")])
    link_path.write_text(json.dumps(bad))
    git(git_repo, "add", "-f", str(link_path), f"{FOLDERS}/{other}")
    git(git_repo, "commit", "-q", "--no-verify", "-m", "forge the links")
    assert linked_checkpoints(git_repo, amended) == linked_checkpoints(git_repo, other) == []
    problems = dict(broken_links(git_repo))
    assert "content hash differs" in problems[amended]
    assert "not committed" in problems[other]


def test_a_commit_at_an_edit_stop_gets_its_own_checkpoint(git_repo: Path) -> None:
    """`git commit` at an `edit` stop promotes the draft to that commit; the edited commit
    keeps its own checkpoint (as rebased), and neither shows the other's reasoning."""
    enable(git_repo)
    edited = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    before = checkpoint_ids(git_repo, edited)
    proc = rebase(git_repo, "-e '1 s/^pick/edit/'", "HEAD~2")
    assert proc.returncode == 0, proc.stderr
    record(git_repo, "made at the stop")
    (git_repo / "n.py").write_text("n = 1\n")
    git(git_repo, "add", "n.py")
    assert git_commit(git_repo, "-m", "New").returncode == 0
    git(git_repo, "-c", "core.editor=true", "rebase", "--continue")
    by_subject = subjects(git_repo)
    assert by_subject["Add a"] == edited  # not rewritten: no link at all
    assert checkpoint_ids(git_repo, edited) == before
    new = checkpoint_ids(git_repo, by_subject["New"])
    assert len(new) == 1 and new.isdisjoint(before)
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint(by_subject["New"]).commit_sha == by_subject["New"]


def test_squash_and_repeated_amends_leave_nothing_behind(git_repo: Path) -> None:
    """Two amends without hooks and a squash: each final commit has one link file naming
    every checkpoint it carries, and no folder of a dead commit is left uncommitted."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    for message in ("Add a!", "Add a!!"):
        assert git_commit(git_repo, "--no-verify", "--amend", "-m", message).returncode == 0
    amended = git(git_repo, "rev-parse", "HEAD").strip()
    b = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    c = record_and_commit(git_repo, "c.py", "c = 1\n", "Add c")
    proc = rebase(git_repo, "-e '2 s/^pick/squash/'", "HEAD~2")
    assert proc.returncode == 0, proc.stderr
    squashed = git(git_repo, "rev-parse", "HEAD").strip()
    tip = record_and_commit(git_repo, "z.py", "z = 1\n", "Add z")
    waiting = git(
        git_repo, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", FOLDERS
    ).split()
    assert waiting == [f"{FOLDERS}/{tip}/"]
    tree = set(git(git_repo, "ls-tree", "-r", "--name-only", "HEAD", FOLDERS).split())
    for sha in (first, b, c):
        assert f"{FOLDERS}/{sha}/session.json" in tree
    for sha in (amended, squashed):
        assert f"{FOLDERS}/{sha}/{LINK_FILE}" in tree
        assert f"{FOLDERS}/{sha}/session.json" not in tree
    links = parse_links((git_repo / FOLDERS / squashed / LINK_FILE).read_bytes(), squashed)
    assert sorted(link.folder for link in links) == sorted([b, c])
    assert {link.reason for link in links} == {"rebase"}
    assert len(list((git_repo / FOLDERS).iterdir())) == len({p.split("/")[3] for p in tree}) + 1


def test_link_paths_are_in_step_with_the_folders_and_the_ref() -> None:
    """checkpoint_links keeps its own copies of the folder path and the ref (a light import)."""
    from bitloops.checkpoint import _links as checkpoint_links
    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.git._ref import CHECKPOINT_REF

    assert checkpoint_links._FOLDERS == CHECKPOINTS_DIR
    assert checkpoint_links._REF == CHECKPOINT_REF


def test_a_cherry_picked_folder_merges_cleanly_with_its_branch(git_repo: Path) -> None:
    """The picked commit's folder, written again for the link, is the copy its own branch
    committed: merging that branch later conflicts on nothing."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    picked = record_and_commit(git_repo, "s.py", "s = 1\n", "Add s")
    record_and_commit(git_repo, "s2.py", "s = 2\n", "Add s2")  # carries s.py's folder
    git(git_repo, "checkout", "-q", "main")
    assert not (git_repo / FOLDERS / picked).exists()  # committed on side only
    commit_files(git_repo, {"main.txt": "m\n"}, "on main")  # else the pick could be `picked`
    git(git_repo, "cherry-pick", picked)
    copy = git(git_repo, "rev-parse", "HEAD").strip()
    record_and_commit(git_repo, "m.py", "m = 1\n", "Add m")  # carries the link and the folder
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD", FOLDERS).split()
    assert f"{FOLDERS}/{picked}/session.json" in tree
    assert f"{FOLDERS}/{copy}/{LINK_FILE}" in tree
    for name in ("session.json", "summary.md", "transcript.jsonl"):
        path = f"{FOLDERS}/{picked}/{name}"
        assert git(git_repo, "rev-parse", f"HEAD:{path}") == git(
            git_repo, "rev-parse", f"side:{path}"
        )
    git(git_repo, "merge", "-q", "--no-edit", "side")
    assert git(git_repo, "status", "--porcelain") == ""


def test_verify_reports_a_forged_link(git_repo: Path) -> None:
    """A committed link whose folder does not recompute to its hash fails `verify`."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert git_commit(git_repo, "--amend", "-m", "Add a!").returncode == 0
    amended = git(git_repo, "rev-parse", "HEAD").strip()
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")  # carries the link
    with bitloops.Repository.open(git_repo) as r:
        assert not [p for p in r.verify().problems if p.kind == "link_broken"]
        (checkpoint,) = r.checkpoints(commit=amended)
    link_path = git_repo / FOLDERS / amended / LINK_FILE
    bad = link_document(amended, [Link(checkpoint.checkpoint_id, first, "0" * 64, "amend")])
    link_path.write_text(json.dumps(bad))
    git(git_repo, "add", "-f", str(link_path))
    git(git_repo, "commit", "-q", "--no-verify", "-m", "forge the link")
    with bitloops.Repository.open(git_repo) as r:
        report = r.verify()
    assert [p.commit_sha for p in report.problems if p.kind == "link_broken"] == [amended]
    assert not report.ok
