"""Files written whole or not at all, and bounded waits for advisory file locks.

Standard library only (plus :mod:`bitloops.errors`): the agent hooks import this module.

**Atomic writes.** :func:`atomic_write` gives one guarantee wherever it is used: a reader,
and the file after the writing process is killed, sees either the old content or the new
content in full, never a mix and never the temporary file. The temporary file lives in the
target's own folder (a rename never crosses file systems), is named ``.NAME.PID.RANDOM.tmp``
(hidden, so folder listings skip it) and is removed when anything fails; only a process
killed mid-write leaves it behind, never in the target's place. An existing file keeps
its permission bits unless ``mode`` says otherwise.

Durability is the one choice a caller makes, with ``fsync``. By default the file's data
is synced before the rename and its folder after it, so that once :func:`atomic_write`
returns the new content survives a power loss too: agents' config files, git hooks, link
files, the spool, the database marker, the last good settings. ``fsync=False`` skips both
syncs (milliseconds each) for files that can be made again and are written often: the
caches and read positions hooks rewrite (transcript state), checkpoint folders (the
database holds them; ``bitloops doctor --fix`` rewrites a torn one) and exports. After a
power loss such a file may hold its previous content, or, on file systems that do not
order data before a rename, nothing: its readers treat an unreadable cache or state as
absent, and ``verify`` reports a torn checkpoint folder.

**Locks.** :func:`try_lock` and :func:`locked` take an exclusive ``flock`` of a lock file
within a deadline, polling rather than blocking, so that a hook never waits past its
budget. Where ``fcntl`` does not exist (not POSIX) there are no advisory locks, and both
succeed without locking.
"""

from __future__ import annotations

import os
import stat
import time

from bitloops.errors import LockTimeout

TYPE_CHECKING = False  # not from typing: the hooks' light path never imports it
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

__all__ = ["POLL_SECONDS", "atomic_write", "locked", "try_lock", "unlock"]

#: How often a lock wait tries again, in seconds: short, as hooks' waits are short.
POLL_SECONDS = 0.002


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str | Iterable[bytes | str],
    *,
    fsync: bool = True,
    mode: int | None = None,
    encoding: str = "utf-8",
) -> None:
    """Replace ``path``'s content by ``data`` through a rename in the same folder.

    ``data`` may also be an iterable of pieces, written one after another so that a large
    file need not be joined in memory first; text is encoded with ``encoding`` and written
    as is (no newline translation). ``mode`` sets the permission bits; without it an
    existing file keeps its own and a new one gets ``0o666`` less the umask, as ``open``
    gives. ``fsync`` is described in the module docstring. The folder must exist. Raises
    :class:`OSError` as writing would, leaving the target as it was.
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    keep = mode
    if keep is None:
        try:
            keep = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            keep = None
        except OSError:
            keep = None  # os.replace says what is wrong with the target, if anything
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            if keep is not None:
                os.fchmod(fh.fileno(), keep)  # exactly these bits, whatever the umask
            if isinstance(data, bytes | str):
                data = (data,)
            for piece in data:
                fh.write(piece.encode(encoding) if isinstance(piece, str) else piece)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        _sync_folder(folder or ".")


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync a folder; the data itself is synced
    finally:
        os.close(fd)


def try_lock(path: str | os.PathLike[str], wait: float, *, mode: int = 0o600) -> int | None:
    """An exclusive ``flock`` of ``path`` taken within ``wait`` seconds.

    Returns the open descriptor that holds it (give it to :func:`unlock`), or None when
    another process kept the lock for the whole wait. The file (and its folder) is created
    with ``mode`` if missing. Raises :class:`OSError` when the file cannot be opened or
    locked.
    """
    target = os.fspath(path)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_CREAT, mode)
    try:
        import fcntl  # only when a lock is wanted: most hooks never take one
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks
        return fd
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(POLL_SECONDS)
        except OSError:
            os.close(fd)
            raise


def unlock(fd: int) -> None:
    """Release a lock :func:`try_lock` took, and close its descriptor."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        os.close(fd)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class locked:  # lower case: it is used like a function, ``with locked(path, wait):``
    """Hold an exclusive ``flock`` of ``path`` for the ``with`` block.

    Waits at most ``wait`` seconds for another process to let go, then raises
    :class:`~bitloops.errors.LockTimeout`, naming ``what`` the lock guards (by default
    the lock file). Raises :class:`OSError` when the file cannot be opened or locked.
    (A class rather than a ``contextlib`` generator: the hooks do not import contextlib.)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        wait: float,
        *,
        mode: int = 0o600,
        what: str | None = None,
    ) -> None:
        self._path = path
        self._wait = wait
        self._mode = mode
        self._what = what
        self._fd: int | None = None

    def __enter__(self) -> None:
        fd = try_lock(self._path, self._wait, mode=self._mode)
        if fd is None:
            guarded = self._what or os.fspath(self._path)
            raise LockTimeout(
                f"{guarded} stayed locked by another process for {self._wait:g}s; "
                "try again once it has finished"
            )
        self._fd = fd

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            unlock(fd)
