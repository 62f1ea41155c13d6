"""git: one subprocess wrapper, locating a work tree from ``.git``, the git hooks and
the checkpoint ref. See ``docs/git-hooks.md``.
"""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.git._git import EMPTY_TREE, Git, RepoPaths, is_sha
    from bitloops.git._hooks import HOOK_NAMES, HookChange, disable, enable, run_hook
    from bitloops.git._locate import Located, locate
    from bitloops.git._ref import CHECKPOINT_REF, fetch_ref, push_ref

__all__ = [
    "CHECKPOINT_REF",
    "EMPTY_TREE",
    "HOOK_NAMES",
    "Git",
    "HookChange",
    "Located",
    "RepoPaths",
    "disable",
    "enable",
    "fetch_ref",
    "is_sha",
    "locate",
    "push_ref",
    "run_hook",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_git": ("EMPTY_TREE", "Git", "RepoPaths", "is_sha"),
        "_locate": ("Located", "locate"),
        "_hooks": ("HOOK_NAMES", "HookChange", "disable", "enable", "run_hook"),
        "_ref": ("CHECKPOINT_REF", "fetch_ref", "push_ref"),
    },
)
