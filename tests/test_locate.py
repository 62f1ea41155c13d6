"""Reading HEAD, refs and the reflog from the files: the same answers git gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_files, git

from bitloops.git._git import Git
from bitloops.git._locate import (
    commit_message,
    last_reflog_entry,
    locate,
    read_head,
    tracked,
    tree_dirs,
)


def _git_says(repo: Path) -> tuple[str | None, str | None]:
    branch = Git(repo).try_run("symbolic-ref", "--quiet", "--short", "HEAD")
    head = Git(repo).try_run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return (branch.strip() if branch else None), (head.strip() if head else None)


def _read(repo: Path) -> tuple[str | None, str | None] | None:
    found = locate(str(repo))
    assert found is not None
    return read_head(found)


def test_a_branch_loose_packed_nested_and_detached(git_repo: Path) -> None:
    """Loose and packed refs, a branch name with a slash, a detached HEAD: as git says."""
    assert _read(git_repo) == _git_says(git_repo)
    git(git_repo, "checkout", "-q", "-b", "feature/retry")
    commit_files(git_repo, {"a.txt": "a"})
    assert _read(git_repo) == _git_says(git_repo) == ("feature/retry", Git(git_repo).head())
    git(git_repo, "pack-refs", "--all")
    assert not (git_repo / ".git" / "refs" / "heads" / "feature" / "retry").exists()
    assert _read(git_repo) == _git_says(git_repo)
    git(git_repo, "checkout", "-q", "--detach")
    assert _read(git_repo) == _git_says(git_repo)
    assert Git(git_repo).branch() is None


def test_an_unborn_branch_and_a_linked_worktree(tmp_path: Path, git_repo: Path) -> None:
    """No commit yet: a branch and no SHA. A linked worktree reads its own HEAD."""
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    assert _read(empty) == ("trunk", None) == _git_says(empty)
    assert Git(empty).head() is None
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "side", str(other))
    commit_files(other, {"b.txt": "b"})
    assert _read(other) == _git_says(other)
    assert _read(git_repo) == _git_says(git_repo)
    assert Git(other).resolve_commit("HEAD") != Git(git_repo).resolve_commit("HEAD")


def test_the_reflog_entry_and_commit_details(git_repo: Path) -> None:
    """The newest reflog entry as `git reflog -1 --format=%gs`; parents, author, message."""
    commit_files(git_repo, {"c.txt": "c"}, "add c\n\nwith a body")
    found = locate(str(git_repo))
    assert found is not None
    assert last_reflog_entry(found[1]) == git(git_repo, "reflog", "-1", "--format=%gs").strip()
    git(git_repo, "commit", "-q", "--amend", "--no-edit")
    assert (last_reflog_entry(found[1]) or "").startswith("commit (amend)")
    g = Git(git_repo)
    head = g.head()
    assert head is not None  # the same SHA when amended within the same second
    assert g.parents(head) == git(git_repo, "rev-list", "--parents", "-n", "1", head).split()[1:]
    assert g.author(head) == git(git_repo, "log", "-1", "--format=%an <%ae>", head).strip()
    assert g.message(head) == git(git_repo, "log", "-1", "--format=%B", head)


def test_tracked_says_what_git_ls_files_says(git_repo: Path) -> None:
    """Tracked, untracked, intent-to-add (index version 3), nested, non-ASCII, prefixes."""
    commit_files(git_repo, {"src/app.py": "x", "src/app.py.bak/n.txt": "y", "é/ü.txt": "z"})
    (git_repo / "new.py").write_text("n")
    (git_repo / "later.py").write_text("l")
    git(git_repo, "add", "-N", "later.py")  # intent to add: an extended entry
    found = locate(str(git_repo))
    assert found is not None
    for rel in ("src/app.py", "app.py", "src/app.py.bak/n.txt", "é/ü.txt", "new.py",
                "later.py", "README.md", "EADME.md", "src/app.p"):  # fmt: skip
        says = Git(git_repo).try_run("ls-files", "--error-unmatch", "--", rel) is not None
        assert tracked(found, rel) is says, rel


def test_tracked_leaves_the_unusual_to_git(tmp_path: Path, git_repo: Path) -> None:
    """Index version 4 and a sparse checkout: None (git decides). No index yet: False."""
    git(git_repo, "update-index", "--index-version", "4")
    found = locate(str(git_repo))
    assert found is not None
    assert tracked(found, "README.md") is None
    git(git_repo, "update-index", "--index-version", "2")
    assert tracked(found, "README.md") is True
    git(git_repo, "config", "core.sparseCheckout", "true")
    assert tracked(found, "README.md") is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    found = locate(str(empty))
    assert found is not None
    assert tracked(found, "a.txt") is False


def test_tracked_is_not_fooled_by_a_longer_path_ending_the_same(git_repo: Path) -> None:
    """A path whose length byte happens to equal the byte before it elsewhere (47 is '/'):
    only a whole entry counts, as git says."""
    rel = "src/" + "a" * 40 + ".py"  # 47 characters
    assert len(rel) == 47
    commit_files(git_repo, {f"app/{rel}": "x"})
    found = locate(str(git_repo))
    assert found is not None
    assert tracked(found, rel) is False
    assert tracked(found, f"app/{rel}") is True


def test_loose_trees_and_messages_read_as_git_lists_them(git_repo: Path) -> None:
    """``tree_dirs`` lists a path's directories as ``git ls-tree -d --name-only`` does and
    ``commit_message`` gives ``git log -1 --format=%B``, from loose objects; a packed or
    replaced object, or a path that is not a directory there, is left to git (None)."""
    folders = ".bitloops/checkpoints/v1"
    files = {f"{folders}/{c * 40}/session.json": "{}" for c in "ab"}
    head = commit_files(git_repo, {**files, f"{folders}/notes.txt": "x", "sub/é.txt": "y"},
                        "add folders\n\n(cherry picked from commit " + "c" * 40 + ")")  # fmt: skip
    found = locate(str(git_repo))
    assert found is not None
    for path in (folders, ".bitloops", "sub"):
        listed = git(git_repo, "ls-tree", "-d", "--name-only", f"HEAD:{path}").split()
        assert tree_dirs(found, head, path) == listed, path
    assert tree_dirs(found, head, f"{folders}/notes.txt") is None
    assert tree_dirs(found, head, "missing/path") is None
    assert commit_message(found, head) == git(git_repo, "log", "-1", "--format=%B").encode()[:-1]
    other = commit_files(git_repo, {"c.txt": "c"})
    git(git_repo, "replace", "--graft", other)  # as if it had no parent
    assert tree_dirs(found, other, folders) is None  # git reads the replacement, not this
    assert commit_message(found, other) is None
    git(git_repo, "replace", "-d", other)
    git(git_repo, "gc", "-q")
    assert commit_message(found, other) is None  # packed: git reads it
    assert tree_dirs(found, other, folders) is None


def test_the_git_records_copy_and_pickle(tmp_path: Path) -> None:
    """``RepoPaths``, ``Git`` and ``HookChange`` copy, deep-copy and pickle by value, as
    the attrs classes they replaced did."""
    import copy
    import pickle

    from bitloops.git import HookChange
    from bitloops.git._git import Git, RepoPaths

    records = [
        RepoPaths(toplevel=tmp_path, git_dir=tmp_path / ".git", common_dir=tmp_path / ".git"),
        Git(tmp_path),
        HookChange("pre-commit", tmp_path / "pre-commit", "installed"),
    ]
    for record in records:
        for again in (copy.copy(record), copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
            assert again == record and type(again) is type(record)


def test_loose_trees_list_submodules_and_leave_unknown_modes_to_git(git_repo: Path) -> None:
    """A submodule entry (mode 160000) is listed, as ``ls-tree -d`` lists it, and cannot
    be entered; a tree whose entries have a mode this reader does not know is git's."""
    import zlib

    blob = git(git_repo, "hash-object", "-w", "--stdin", input="").strip()
    git(git_repo, "update-index", "--add", "--cacheinfo", f"160000,{blob},sub/mod")
    head = commit_files(git_repo, {"sub/aa/f.txt": "x"})
    found = locate(str(git_repo))
    assert found is not None
    listed = git(git_repo, "ls-tree", "-d", "--name-only", "HEAD:sub").split()
    assert sorted(tree_dirs(found, head, "sub") or []) == sorted(listed) == ["aa", "mod"]
    assert tree_dirs(found, head, "sub/mod") is None
    # A tree object with an odd mode, written loose by hand: the reader gives way.
    inner = git(git_repo, "mktree", input=f"100644 blob {blob}\tf\n").strip()
    odd = git(git_repo, "mktree", input=f"040000 tree {inner}\tsub\n").strip()
    path = git_repo / ".git" / "objects" / inner[:2] / inner[2:]
    body = zlib.decompress(path.read_bytes()).replace(b"100644 f", b"100600 f")
    path.chmod(0o644)
    path.write_bytes(zlib.compress(body))
    commit = git(git_repo, "commit-tree", odd, "-m", "odd").strip()
    assert tree_dirs(found, commit, "sub") is None


def test_git_dir_as_a_linked_worktrees_hooks_have_it(
    tmp_path: Path, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GIT_DIR`` naming the git dir found, run from the work tree's top (as git runs a
    linked worktree's hooks), is read from the files; any other ``GIT_DIR`` is git's."""
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "side", str(other))
    expected = locate(str(other))
    assert expected is not None
    monkeypatch.chdir(other)
    monkeypatch.setenv("GIT_DIR", expected[1])
    assert locate(str(other)) == expected
    monkeypatch.setenv("GIT_DIR", str(git_repo / ".git"))  # another repository's
    assert locate(str(other)) is None
    monkeypatch.setenv("GIT_DIR", expected[1])
    monkeypatch.chdir(git_repo)  # git would take this directory for the work tree
    assert locate(str(other)) is None
    monkeypatch.chdir(other)
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert locate(str(other)) is None
