"""Finding the work tree around a directory from its ``.git``, without running git.

Every agent hook and git hook starts by locating the repository; ``git rev-parse`` costs a
process each time. :func:`locate` reads ``.git`` itself for the common layouts (a plain
checkout, a linked worktree through its ``gitdir``/``commondir`` files) and returns None
for anything unusual (``GIT_*`` variables, submodules, ``core.worktree``, a bare
repository, another owner, a file system boundary), where git must decide:
:meth:`bitloops.gitutil.Git.locate` then asks it. Only the standard library is used.
"""

from __future__ import annotations

import os
import stat

__all__ = ["Located", "locate"]

_GIT_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)

#: (work tree top, git dir, git common dir), as ``git rev-parse`` would say.
Located = tuple[str, str, str]


def locate(place: str) -> Located | None:
    """The work tree containing ``place``, read from ``.git``; None when git must decide."""
    if any(name in os.environ for name in _GIT_VARIABLES):
        return None
    try:
        here = os.path.realpath(os.path.expanduser(place))
        if not os.path.isdir(here):
            here = os.path.dirname(here)
        device = os.stat(here).st_dev
        while True:
            dotgit = os.path.join(here, ".git")
            try:
                info = os.lstat(dotgit)
            except FileNotFoundError:
                parent = os.path.dirname(here)
                if parent == here or os.stat(parent).st_dev != device:
                    return None
                here = parent
                continue
            return _read_dotgit(here, dotgit, info)
    except (OSError, ValueError):
        return None


def _read_dotgit(top: str, dotgit: str, info: os.stat_result) -> Located | None:
    if info.st_uid != os.getuid():
        return None  # git's safe.directory rules apply; let git answer
    if stat.S_ISDIR(info.st_mode):
        git_dir = common = dotgit
        if os.path.exists(os.path.join(git_dir, "commondir")):
            return None
    elif stat.S_ISREG(info.st_mode):
        with open(dotgit, encoding="utf-8") as fh:
            text = fh.read().strip()
        if not text.startswith("gitdir: "):
            return None
        git_dir = os.path.realpath(os.path.join(top, text[len("gitdir: ") :]))
        try:
            with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
                common = os.path.realpath(os.path.join(git_dir, fh.read().strip()))
        except FileNotFoundError:
            return None  # a submodule or a separate git dir: core.worktree may apply
        if os.path.exists(os.path.join(git_dir, "config.worktree")):
            return None
    else:
        return None
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        return None
    if not os.path.isdir(os.path.join(common, "objects")):
        return None
    with open(os.path.join(common, "config"), "rb") as fh:
        config = fh.read().lower()
    if b"worktree" in config or b"bare" in config.replace(b"bare = false", b""):
        return None
    return top, git_dir, common
