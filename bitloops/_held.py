"""The promotion locks this process holds, by thread (see :mod:`bitloops._pending`).

What a thread reads while it promotes must not wait for the lock it holds (``flock``
blocks a second descriptor of the same process), nor must the threads it runs that
promotion's work in (git's side, with a plugged-in symbol extractor that may read
through :class:`~bitloops.Repository`). Another thread of the process (a web request)
must still wait. Standard library only: the git hooks import it.
"""

from __future__ import annotations

import _thread
from collections.abc import Iterable

__all__ = ["holding", "holds", "of_this_thread"]

# (git dir, thread id) of each lock held; set.add and discard are atomic.
_HELD: set[tuple[str, int]] = set()


def holds(git_dir: str) -> bool:
    """Whether this thread holds (or works for the holder of) ``git_dir``'s lock."""
    return (git_dir, _thread.get_ident()) in _HELD


def of_this_thread() -> tuple[str, ...]:
    """The git dirs whose promotion lock this thread holds, to hand to a helper thread."""
    me = _thread.get_ident()
    return tuple(git_dir for git_dir, ident in list(_HELD) if ident == me)


class holding:
    """Within it, this thread counts as holding the locks of ``git_dirs``.

    For the thread that took the lock, and for the threads it starts to promote under
    it. Only what it added is taken back on the way out.
    """

    def __init__(self, git_dirs: Iterable[str]) -> None:
        self._git_dirs = tuple(git_dirs)
        self._added: list[tuple[str, int]] = []

    def __enter__(self) -> None:
        me = _thread.get_ident()
        for git_dir in self._git_dirs:
            key = (git_dir, me)
            if key not in _HELD:
                _HELD.add(key)
                self._added.append(key)

    def __exit__(self, *exc: object) -> None:
        for key in self._added:
            _HELD.discard(key)
        self._added.clear()
