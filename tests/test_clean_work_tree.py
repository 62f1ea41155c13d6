"""The work tree after commits in branch mode: `git status` clean, nothing swept elsewhere.

A checkpoint folder is written after its commit and waits for the next one; meanwhile git
ignores it (the clone's info/exclude), the pre-commit hook adds it with `git add -f`.
"""

from __future__ import annotations

from pathlib import Path

from conftest import git
from test_hooks import bitloops_cli, enable, git_commit, record_and_commit

FOLDERS = ".bitloops/checkpoints/v1"


def test_git_status_is_clean_after_every_commit(git_repo: Path) -> None:
    """Each commit with reasoning leaves nothing untracked; the next one carries the folder
    and .bitloops/.gitignore; a teammate's clone then has both."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    assert git(git_repo, "status", "--porcelain") == ""
    assert (git_repo / FOLDERS / first / "session.json").is_file()
    second = record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    assert git(git_repo, "status", "--porcelain") == ""
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert f"{FOLDERS}/{first}/session.json" in tree
    assert ".bitloops/.gitignore" in tree
    assert f"{FOLDERS}/{second}/session.json" not in tree  # it follows in the next commit
    status = bitloops_cli(git_repo, "status")
    assert "Pending:     1 folder" in status.stdout and second[:12] in status.stdout


def test_git_add_all_on_another_branch_sweeps_no_folder(git_repo: Path) -> None:
    """A feature branch's pending folder stays out of a `git add -A` commit on main."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "feature")
    feature = record_and_commit(git_repo, "f.py", "f = 1\n", "Add f")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "m.txt").write_text("m\n")
    git(git_repo, "add", "-A")
    assert git_commit(git_repo, "-m", "on main").returncode == 0
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert not any(feature in path for path in tree)
    assert (git_repo / FOLDERS / feature / "session.json").is_file()  # still waiting


def test_a_sparse_checkout_without_bitloops_commits_the_folders(git_repo: Path) -> None:
    """The pre-commit hook adds the folders outside the sparse cone instead of failing."""
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("x = 0\n")
    git(git_repo, "add", "src")
    git(git_repo, "commit", "-q", "-m", "src")
    git(git_repo, "sparse-checkout", "set", "--cone", "src")
    enable(git_repo)
    first = record_and_commit(git_repo, "src/a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "src/b.py", "b = 1\n", "Add b")  # no hook failure
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert f"{FOLDERS}/{first}/session.json" in tree
    assert not (git_repo / ".git" / "bitloops" / "hooks.log").exists()


def test_disable_stops_ignoring_the_folders(git_repo: Path) -> None:
    """`disable` takes its lines out of info/exclude (and `enable` puts them back once)."""
    enable(git_repo)
    enable(git_repo)
    exclude = git_repo / ".git" / "info" / "exclude"
    assert exclude.read_text().count("/.bitloops/checkpoints/v1/*/") == 1
    assert bitloops_cli(git_repo, "disable").returncode == 0
    assert "bitloops" not in exclude.read_text()


def test_disable_takes_out_our_lines_also_when_some_are_gone(git_repo: Path) -> None:
    """Only bitloops' lines go, whichever of them are left; the user's own rules stay."""
    exclude = git_repo / ".git" / "info" / "exclude"
    exclude.write_text("*.log\n/.bitloops/checkpoints/v1/*/\n")
    assert bitloops_cli(git_repo, "disable").returncode == 0
    assert exclude.read_text() == "*.log\n"


def test_the_gitignore_is_committed_with_an_index_only_git_reads(git_repo: Path) -> None:
    """Index version 4 (what feature.manyFiles sets): git says whether .gitignore is new."""
    git(git_repo, "update-index", "--index-version", "4")
    enable(git_repo)
    record_and_commit(git_repo, "a.py", "a = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "b = 1\n", "Add b")
    tree = git(git_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert ".bitloops/.gitignore" in tree
    assert git(git_repo, "status", "--porcelain") == ""


def test_in_ref_mode_the_gitignore_is_not_hidden(git_repo: Path) -> None:
    """No pre-commit hook adds .bitloops/.gitignore in ref mode: git must show it to you."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"checkpoint_files": "ref"}\n')
    enable(git_repo)
    assert "/.bitloops/.gitignore" not in (git_repo / ".git" / "info" / "exclude").read_text()
