"""The environment the helpers run in: away from the user's own repository, settings,
git configuration and home folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext

__all__ = ["git_environment", "isolated_environment", "isolation"]

# What `git rev-parse --local-env-vars` says on git 2.39, for when git cannot be asked.
_KNOWN_LOCAL = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)
# The folders agents (and bitloops' spool) use under the home folder, each overridable.
_HOME_VARIABLES = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_DIR",
    "COPILOT_HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
)

_local_git: tuple[str, ...] | None = None
# What the isolated environments currently entered cover: "light" (the user's bitloops
# variables and repository), "home" (also their home folder and git configuration).
_active: list[str] = []


def _local_git_variables() -> tuple[str, ...]:
    """The variables that point git at one repository (``git rev-parse --local-env-vars``)."""
    global _local_git
    if _local_git is None:
        try:
            out = subprocess.run(
                ("git", "rev-parse", "--local-env-vars"),
                capture_output=True,
                text=True,
                check=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            ).stdout
            _local_git = tuple(dict.fromkeys([*out.split(), *_KNOWN_LOCAL]))
        except (OSError, subprocess.CalledProcessError):
            _local_git = _KNOWN_LOCAL
    return _local_git


def git_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without the variables that point git at one
    repository: a test suite run from a git hook has ``GIT_DIR`` and others set, which
    would send every git command to the user's repository."""
    local = set(_local_git_variables())
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in local}


def _without_user_settings(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the repository-local git variables and the user's ``BITLOOPS_*``
    settings (a committed store, a capture switch, a strategy)."""
    return {k: v for k, v in git_environment(env).items() if not k.startswith("BITLOOPS_")}


@contextmanager
def isolated_environment(*, home: bool = True) -> Iterator[None]:
    """Run the ``with`` block in an environment of its own; the old one is put back after.

    Inside, ``os.environ`` has none of the user's ``BITLOOPS_*`` settings (so a test's
    checkpoints never reach the team's committed store, and ``BITLOOPS_CAPTURE=0`` or
    another strategy cannot change what a test sees) and none of the variables that point
    git at one repository (``git rev-parse --local-env-vars``: ``GIT_DIR``, ``GIT_INDEX_FILE``
    and others, set while a git hook runs a test suite). With ``home`` (the default),
    ``HOME`` is also a new empty folder (removed after), the agents' folder variables
    (``CLAUDE_CONFIG_DIR``, ``CODEX_HOME``, ...) and ``XDG_*_HOME`` are unset, and git
    reads neither the system's nor the user's configuration: the hooks never touch the
    user's agents' files or bitloops cache, and a global ``core.hooksPath`` or commit
    signing does not apply. Python still finds packages installed with ``pip --user``.

    The helpers that make repositories and stores run their block in one, and
    :func:`~bitloops.testing.run_hook` and :func:`~bitloops.testing.commit_all` run in one
    without ``home``. Inside an isolated environment another one changes only what the
    outer one left, so what a test sets inside the block stays set. It changes
    ``os.environ``: run such tests one at a time, not in threads, and set variables inside
    the block through ``os.environ`` or a helper's ``env`` rather than pytest's
    ``monkeypatch`` (whose undoing, after the block, would bring the block's values back).
    """
    wanted = "home" if home else "light"
    if "home" in _active or wanted in _active:
        _active.append(wanted)
        try:
            yield
        finally:
            _active.pop()
        return
    saved = dict(os.environ)
    folder: str | None = None
    light_done = "light" in _active
    try:
        fresh = dict(os.environ) if light_done else _without_user_settings(os.environ)
        if home:
            import site

            user_base = site.getuserbase()  # found from the real home: keep it
            folder = tempfile.mkdtemp(prefix="bitloops-testing-home-")
            for name in _HOME_VARIABLES:
                fresh.pop(name, None)
            fresh["HOME"] = folder
            if "USERPROFILE" in fresh:  # Windows' home
                fresh["USERPROFILE"] = folder
            fresh.setdefault("PYTHONUSERBASE", user_base)
            fresh["GIT_CONFIG_NOSYSTEM"] = "1"
            fresh["GIT_CONFIG_GLOBAL"] = os.devnull
        os.environ.clear()
        os.environ.update(fresh)
        _active.append(wanted)
        try:
            yield
        finally:
            _active.pop()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def isolation(isolated: bool, *, home: bool) -> AbstractContextManager[None]:
    """:func:`isolated_environment` when ``isolated``, else nothing."""
    return isolated_environment(home=home) if isolated else nullcontext()
