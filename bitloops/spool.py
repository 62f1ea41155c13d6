"""The hook spool: what agent hooks could not record because the database stayed busy.

An agent hook waits for the database's write lock for a bounded time only
(``hook_busy_timeout_ms``). Past it, the hook appends its payload, already redacted, to
``<git common dir>/bitloops/spool.jsonl`` and exits; the next hook (and every promotion)
replays the spooled entries in order before it records anything of its own, so nothing
is lost and the order is kept.

Concurrency:

- Appends are single ``write`` calls on an ``O_APPEND`` file descriptor, made under an
  exclusive ``flock`` of ``spool.lock``. A line cut short by a crash is ended with a
  newline by the next append, so it spoils only itself; a drainer quarantines it.
- One process drains at a time, holding ``spool.drain.lock`` for the whole drain. It
  replays the first entry, then removes exactly that line (under the append lock, by
  writing the rest to a new file renamed over the old one), then goes on. Appends made
  meanwhile are kept. A crash between replaying an entry and removing it replays that
  entry again; that window is the only way an entry can be recorded twice.

Every wait here is bounded. Only the standard library is used: hooks import this.
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["SPOOL_RELATIVE_PATH", "append", "drain", "flock_within", "pending", "spool_path"]

#: Where the spool is, relative to the git common directory (shared by worktrees).
SPOOL_RELATIVE_PATH = "bitloops/spool.jsonl"
_APPEND_LOCK = "bitloops/spool.lock"
_DRAIN_LOCK = "bitloops/spool.drain.lock"
# How often a bounded lock wait looks again.
_POLL_SECONDS = 0.002


def spool_path(common_dir: str | os.PathLike[str]) -> str:
    """The spool file of the repository whose git common directory is given."""
    return os.path.join(common_dir, SPOOL_RELATIVE_PATH)


def pending(common_dir: str | os.PathLike[str]) -> bool:
    """True when the spool holds anything (one ``stat``, no lock)."""
    try:
        return os.stat(spool_path(common_dir)).st_size > 0
    except OSError:
        return False


def flock_within(path: str, wait: float, *, mode: int = 0o600) -> int | None:
    """An exclusive ``flock`` of ``path`` (created with ``mode``) within ``wait`` seconds:
    its descriptor, or None when it stayed taken. Raises :class:`OSError` when the file
    cannot be opened or locked. The hooks' one bounded lock wait."""
    import fcntl  # only when there is a spool to touch; most hooks just check it is empty

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(_POLL_SECONDS)
        except OSError:
            os.close(fd)
            raise


def _unlock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def append(
    common_dir: str | os.PathLike[str], entry: dict[str, Any], *, durable: bool, wait: float
) -> bool:
    """Append one entry (a JSON object, redacted by the caller); False if the lock stayed taken.

    ``durable`` syncs the file (and, for a new file, its folder) before returning, as the
    ``full`` durability setting asks of every recorded event.
    """
    # ASCII only, so that a lone surrogate in a payload cannot make the line unwritable.
    data = (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode("ascii")
    lock = flock_within(os.path.join(common_dir, _APPEND_LOCK), wait)
    if lock is None:
        return False
    try:
        path = spool_path(common_dir)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # end a line a crashed append left unfinished
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
                if not size:
                    _sync_folder(os.path.dirname(path))
        finally:
            os.close(fd)
    finally:
        _unlock(lock)
    return True


def _sync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(common_dir: str | os.PathLike[str], wait: float) -> bytes | None:
    """The spool's first line (with its newline, if it has one), or None when it is empty."""
    lock = flock_within(os.path.join(common_dir, _APPEND_LOCK), wait)
    if lock is None:
        raise TimeoutError("the spool stayed locked")
    try:
        try:
            with open(spool_path(common_dir), "rb") as fh:
                line = fh.readline()
        except FileNotFoundError:
            return None
        return line or None
    finally:
        _unlock(lock)


def _remove_first(common_dir: str | os.PathLike[str], line: bytes, wait: float) -> None:
    """Remove ``line`` from the start of the spool, keeping everything appended after it."""
    lock = flock_within(os.path.join(common_dir, _APPEND_LOCK), wait)
    if lock is None:
        raise TimeoutError("the spool stayed locked")
    try:
        path = spool_path(common_dir)
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.startswith(line):  # only a drainer removes, and it holds the drain lock
            raise RuntimeError(f"{path} changed under its drain lock")
        rest = data[len(line) :]
        if not rest:
            os.unlink(path)
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            out.write(rest)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        _unlock(lock)


def drain(
    common_dir: str | os.PathLike[str],
    replay: Callable[[dict[str, Any]], None],
    bad: Callable[[bytes, str], None],
    *,
    wait: float,
    budget: float,
) -> bool:
    """Replay the spooled entries in order; True when the spool was left empty.

    ``replay`` records one entry; an exception from it (the database busy again) stops
    the drain with that entry still first in line, and propagates. ``bad`` gets a line
    that is not a JSON object (a torn line) with the reason, and the line is dropped.
    Returns False, replaying nothing, when another process holds the drain lock past
    ``wait`` seconds, and also when entries remain after ``budget`` seconds.
    """
    if not pending(common_dir):
        return True
    lock = flock_within(os.path.join(common_dir, _DRAIN_LOCK), wait)
    if lock is None:
        return False
    try:
        deadline = time.monotonic() + budget
        while True:
            line = _first_line(common_dir, wait)
            if line is None:
                return True
            if time.monotonic() > deadline:
                return False
            entry: Any = None
            try:
                entry = json.loads(line)
            except ValueError:
                pass
            if not line.strip():
                pass  # the newline that ended a torn line
            elif not line.endswith(b"\n") or not isinstance(entry, dict):
                bad(
                    line.rstrip(b"\n"),
                    "a spool line that is not a whole JSON object (a torn write?)",
                )
            else:
                replay(entry)
            _remove_first(common_dir, line, wait)
    finally:
        _unlock(lock)
