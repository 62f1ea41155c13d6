"""git: one subprocess wrapper, locating a work tree from ``.git``, the git hooks and
the checkpoint ref. See ``docs/git-hooks.md``.
"""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.git._git import EMPTY_TREE, Git, RepoPaths, is_sha
    from bitloops.git._hooks import HOOK_NAMES, HookChange, disable, enable
    from bitloops.git._locate import Located, locate
    from bitloops.git._ref import CHECKPOINT_REF, add_to_ref, fetch_ref, list_ref, push_ref

__all__ = [
    "CHECKPOINT_REF",
    "EMPTY_TREE",
    "HOOK_NAMES",
    "Git",
    "HookChange",
    "Located",
    "RepoPaths",
    "add_to_ref",
    "disable",
    "enable",
    "fetch_ref",
    "is_sha",
    "list_ref",
    "locate",
    "push_ref",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_git": ("EMPTY_TREE", "Git", "RepoPaths", "is_sha"),
        "_locate": ("Located", "locate"),
        "_hooks": ("HOOK_NAMES", "HookChange", "disable", "enable"),
        "_ref": ("CHECKPOINT_REF", "add_to_ref", "fetch_ref", "list_ref", "push_ref"),
    },
)
