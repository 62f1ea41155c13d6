"""Real git repositories in temporary folders, with bitloops enabled when asked."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bitloops.errors import CheckpointNotFound, GitError
from bitloops.testing._environment import git_environment, isolation

if TYPE_CHECKING:
    from bitloops.model import Checkpoint
    from bitloops.repository import Repository

__all__ = [
    "TemporaryRepository",
    "commit_all",
    "create_repository",
    "enable",
    "git",
    "temporary_repository",
]

# Set in each repository's own config so commits work wherever the tests run: on a
# machine without a global identity, or one that signs every commit.
_LOCAL_CONFIG = (
    ("user.name", "Bitloops Test"),
    ("user.email", "test@example.invalid"),
    ("commit.gpgsign", "false"),
    ("tag.gpgsign", "false"),
)


def git(path: str | os.PathLike[str], *args: str, input: str | None = None) -> str:
    """Run the real ``git ARGS`` in ``path``; its standard output.

    Git runs without the variables that point it at one repository (``GIT_DIR`` and
    the others ``git rev-parse --local-env-vars`` lists), so that a test suite run from a
    git hook works on ``path``, never on the repository the hook is for. Raises
    :class:`~bitloops.GitError` (with git's message) when git fails.
    """
    proc = subprocess.run(
        ("git", *args),
        cwd=path,
        input=input,
        capture_output=True,
        text=True,
        check=False,
        env=git_environment(),
    )
    if proc.returncode != 0:
        raise GitError(
            f"git {' '.join(args)} failed in {os.fspath(path)}: {proc.stderr.strip()}; "
            "check that git is installed and the folder is a work tree"
        )
    return proc.stdout


def enable(path: str | os.PathLike[str], *, agents: Iterable[str] = ()) -> None:
    """What ``bitloops enable [--agent NAME]...`` does in the work tree holding ``path``.

    Installs bitloops' git hooks (so ``git commit`` promotes the draft to a checkpoint)
    and, for each agent named, the hook entries in that agent's file of the repository.
    The agents' personal MCP files (in the home folder) are left alone.
    """
    from bitloops.agents._config import enable_agents
    from bitloops.git._git import Git
    from bitloops.git._hooks import enable as enable_git_hooks

    with isolation(True, home=False):
        top = Git.locate(path).toplevel
        names = list(agents)
        if names:
            enable_agents(top, names, mcp=False)
        enable_git_hooks(top)


def commit_all(
    path: str | os.PathLike[str], message: str = "change", *, promote: bool = False
) -> Checkpoint:
    """Commit the whole work tree holding ``path``; the commit's checkpoint.

    Without ``promote`` the commit runs the git hooks, and the post-commit hook
    :func:`enable` installed must have made the checkpoint. With ``promote`` the hooks are
    skipped and the checkpoint is made here, by :meth:`bitloops.Repository.promote`.
    When the post-commit hook left a big draft's promotion to a worker process (see
    docs/git-hooks.md), this waits for it. Runs in an :func:`isolated_environment`
    without ``home``: the user's ``BITLOOPS_*`` settings do not apply.
    """
    from bitloops._commit_flow import finish_pending
    from bitloops.repository import Repository

    with isolation(True, home=False):
        git(path, "add", "-A")
        if promote:
            git(path, "-c", f"core.hooksPath={os.devnull}", "commit", "-q", "-m", message)
        else:
            git(path, "commit", "-q", "-m", message)
            finish_pending(Path(path))
        with Repository.open(path) as opened:
            checkpoint = opened.promote("HEAD") if promote else opened.checkpoint("HEAD")
    if checkpoint is None:  # promote() gives None when the draft is empty
        raise CheckpointNotFound(
            f"nothing was recorded in {os.fspath(path)} before this commit, so it has no "
            "checkpoint; record a session (or run a hook) first"
        )
    return checkpoint


@attrs.frozen
class TemporaryRepository:
    """A real git work tree for a test: its folder and what a test does there.

    Made by :func:`temporary_repository` or :func:`create_repository`.
    """

    #: The top of the work tree.
    path: Path

    def git(self, *args: str, input: str | None = None) -> str:
        """Run ``git ARGS`` here; its standard output (see :func:`git`)."""
        return git(self.path, *args, input=input)

    def write(self, files: Mapping[str, str | None]) -> None:
        """Write each file (a path relative to the top, POSIX separators) with its text;
        delete those given None."""
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")

    def commit(
        self,
        files: Mapping[str, str | None] | None = None,
        message: str = "change",
        *,
        hooks: bool = False,
    ) -> str:
        """Write ``files`` (see :meth:`write`), commit every change; the new commit's SHA.

        The git hooks are skipped unless ``hooks`` is true, so this commit makes no
        checkpoint even when bitloops is enabled (see :meth:`commit_all` for one that does).
        With ``hooks``, a promotion the post-commit hook detached is waited for.
        """
        if files:
            self.write(files)
        self.git("add", "-A")
        skip = () if hooks else ("-c", f"core.hooksPath={os.devnull}")
        self.git(*skip, "commit", "-q", "--allow-empty", "-m", message)
        if hooks:
            _finish_workers(self.path)
        return self.git("rev-parse", "HEAD").strip()

    def commit_all(self, message: str = "change", *, promote: bool = False) -> Checkpoint:
        """Commit the whole work tree; the commit's checkpoint (see :func:`commit_all`)."""
        return commit_all(self.path, message, promote=promote)

    def enable(self, *, agents: Iterable[str] = ()) -> None:
        """Install bitloops' git hooks, and the hooks of ``agents`` (see :func:`enable`)."""
        enable(self.path, agents=agents)

    def open(self) -> Repository:
        """A :class:`bitloops.Repository` on this work tree; close it (or use ``with``).

        It is opened without the user's ``BITLOOPS_*`` settings and git variables (see
        :func:`isolated_environment`); the git commands it runs later see the process's
        environment, isolated inside :func:`temporary_repository`.
        """
        from bitloops.repository import Repository

        with isolation(True, home=False):
            return Repository.open(self.path)


def create_repository(
    path: str | os.PathLike[str],
    *,
    files: Mapping[str, str | None] | None = None,
    enabled: bool = False,
    agents: Iterable[str] = (),
) -> TemporaryRepository:
    """Make a git work tree in ``path`` (created if missing) with one commit; it.

    For a pytest fixture, give it ``tmp_path``; the folder is not removed afterwards. The
    first commit holds ``files`` (default: a ``README.md``) on the branch ``main``. The
    repository's own config names a committer, turns commit signing off and keeps the
    hooks in its own git dir (``core.hooksPath``, an absolute path: a copy of the folder
    would share the original's hooks), and no template is copied in, so that
    commits work on any machine and a global ``core.hooksPath`` or ``init.templateDir``
    changes nothing. ``enabled`` installs bitloops' git hooks, and ``agents`` (which
    imply ``enabled``) the hooks of those agents (see :func:`enable`).
    """
    top = Path(path)
    top.mkdir(parents=True, exist_ok=True)
    with isolation(True, home=False):
        git(top, "init", "-q", "--template=")
        # Not `init -b`, which needs git 2.28.
        git(top, "symbolic-ref", "HEAD", "refs/heads/main")
        git_dir = Path(git(top, "rev-parse", "--absolute-git-dir").strip())
        for made in ("hooks", "info"):  # what git's own template has, without its samples
            (git_dir / made).mkdir(exist_ok=True)
        for key, value in (*_LOCAL_CONFIG, ("core.hooksPath", os.fspath(git_dir / "hooks"))):
            git(top, "config", key, value)
        created = TemporaryRepository(top.resolve())
        created.commit(files if files is not None else {"README.md": "# demo\n"}, "initial commit")
        names = list(agents)
        if enabled or names:
            created.enable(agents=names)
    return created


@contextmanager
def temporary_repository(
    *,
    files: Mapping[str, str | None] | None = None,
    enabled: bool = False,
    agents: Iterable[str] = (),
    isolated: bool = True,
) -> Iterator[TemporaryRepository]:
    """A git work tree in a new temporary folder, removed on exit; see
    :func:`create_repository` for the arguments.

    The ``with`` block runs in an :func:`isolated_environment` (its own ``HOME``, none
    of the user's ``BITLOOPS_*`` settings or git configuration) unless ``isolated`` is
    false. A promotion still running in a worker process is waited for before the
    folder goes.
    """
    with isolation(isolated, home=True):
        folder = tempfile.mkdtemp(prefix="bitloops-testing-")
        try:
            yield create_repository(
                Path(folder) / "work", files=files, enabled=enabled, agents=agents
            )
        finally:
            _finish_workers(Path(folder) / "work")
            shutil.rmtree(folder, ignore_errors=True)


def _finish_workers(top: Path) -> None:
    """Wait for the detached promotions of the work tree at ``top`` (none outlives it)."""
    if not top.is_dir():
        return
    from bitloops._commit_flow import finish_pending

    with isolation(True, home=False):
        finish_pending(top)
