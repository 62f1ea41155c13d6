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

When the database cannot be opened at all (settings that do not parse, a damaged or
unwritable file, a full disk), hooks spool too (see :func:`append_anywhere`): under the
git common directory, or, when that is not writable, in the user's bitloops cache folder
(``$XDG_CACHE_HOME/bitloops`` or ``~/.cache/bitloops``, one folder per repository, see
:func:`fallback_dir`). Entries are redacted with the last settings that parsed, kept by
:func:`remember_settings` (never a less redacted set than the user asked for), or the
built-in rules. :func:`pending` and the drain see both places.

Every wait here is bounded. Only the standard library (through :mod:`bitloops._fs`) is
used: hooks import this.
"""

from __future__ import annotations

import os
import time

from bitloops import _jsonc
from bitloops._fs import atomic_write, try_lock, unlock

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "LAST_SETTINGS_RELATIVE_PATH",
    "SPOOL_RELATIVE_PATH",
    "append",
    "append_anywhere",
    "cache_root",
    "drain",
    "fallback_dir",
    "last_settings",
    "notices",
    "pending",
    "places",
    "remember_settings",
    "spool_path",
]

#: Where the spool is, relative to the git common directory (shared by worktrees).
SPOOL_RELATIVE_PATH = "bitloops/spool.jsonl"
_APPEND_LOCK = "bitloops/spool.lock"
_DRAIN_LOCK = "bitloops/spool.drain.lock"
# The least a drain waits for the append lock (held for microseconds by each append),
# however little its caller has left: a replayed entry must be removed.
_APPEND_LOCK_FLOOR = 1.0


def spool_path(common_dir: str | os.PathLike[str]) -> str:
    """The spool file of the repository whose git common directory is given."""
    return os.path.join(common_dir, SPOOL_RELATIVE_PATH)


#: The copy of the last settings that parsed, relative to the git common directory.
LAST_SETTINGS_RELATIVE_PATH = "bitloops/settings.last-good.json"


def cache_root() -> str:
    """The user's bitloops cache folder: ``$XDG_CACHE_HOME/bitloops`` or ``~/.cache/bitloops``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bitloops")


def fallback_dir(common_dir: str | os.PathLike[str]) -> str:
    """Where the spool of this repository goes when its git directory is not writable.

    A folder of :func:`cache_root` named after the git common directory's real path,
    laid out like a git common directory (its spool is ``<it>/bitloops/spool.jsonl``).
    """
    real = os.path.realpath(os.fspath(common_dir)).encode("utf-8", "surrogateescape")
    from bitloops._codec import sha256_of  # the builtin SHA-256: hashlib loads OpenSSL

    return os.path.join(cache_root(), "spool", sha256_of(real)[:32])


def places(common_dir: str | os.PathLike[str]) -> list[str]:
    """The folders whose spool holds entries of this repository, in replay order."""
    return [os.fspath(common_dir), fallback_dir(common_dir)]


def _has_entries(folder: str | os.PathLike[str]) -> bool:
    try:
        return os.stat(spool_path(folder)).st_size > 0
    except OSError:
        return False


def pending(common_dir: str | os.PathLike[str]) -> bool:
    """True when the spool holds anything, here or in :func:`fallback_dir` (``stat`` only)."""
    return any(_has_entries(folder) for folder in places(common_dir))


def notices(common_dir: str | os.PathLike[str]) -> list[str]:
    """One line per spool holding entries of this repository, for ``bitloops status``."""
    out = []
    for folder in places(common_dir):
        path = spool_path(folder)
        try:
            with open(path, "rb") as fh:
                count = sum(1 for line in fh if line.strip())
        except OSError:
            continue
        if count:
            where = (
                "" if folder == os.fspath(common_dir) else " (the git directory was not writable)"
            )
            out.append(
                f"{count} hook event(s) wait in {path}{where}: the next hook records them, "
                "or `bitloops doctor --fix` (if hooks cannot open the database, see hooks.log)"
            )
    return out


def append_anywhere(
    common_dir: str | os.PathLike[str], entry: dict[str, Any], *, wait: float
) -> str | None:
    """Append ``entry`` (redacted by the caller), durably, where it can be: the spool of
    the git common directory, else that of :func:`fallback_dir`. The spool file it went
    to, or None when the lock stayed taken in both or neither could be written."""
    for folder in places(common_dir):
        try:
            if append(folder, entry, durable=True, wait=wait):
                if folder != os.fspath(common_dir):
                    _name_repository(folder, common_dir)
                return spool_path(folder)
        except OSError:
            continue  # read-only, no permission, a full disk: the next place
    return None


def _name_repository(folder: str, common_dir: str | os.PathLike[str]) -> None:
    """Say, beside a fallback spool, which repository it belongs to (for a person)."""
    path = os.path.join(folder, "repository.txt")
    try:
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(os.path.realpath(os.fspath(common_dir)) + "\n")
    except OSError:
        pass


def remember_settings(common_dir: str | os.PathLike[str], values: dict[str, Any]) -> None:
    """Keep ``values`` (the settings that parsed, as ``redact`` patterns, ``durability``
    and ``max_payload_bytes``) as the last good ones, when they changed; best effort.

    Only what redacting and spooling need is kept: never a store URL (it may hold a
    password).
    """
    kept = {
        "redact": list(values.get("redact", ())),
        "durability": values.get("durability", "full"),
        "max_payload_bytes": values.get("max_payload_bytes"),
    }
    data = _jsonc.dumps(kept, sort_keys=True).encode("ascii")
    path = os.path.join(common_dir, LAST_SETTINGS_RELATIVE_PATH)
    try:
        with open(path, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return
    except OSError:
        pass
    try:
        atomic_write(path, data)
    except OSError:
        pass


def last_settings(common_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The last good settings :func:`remember_settings` kept (``redact`` is a tuple);
    empty when there are none (the built-in rules apply then)."""
    try:
        with open(os.path.join(common_dir, LAST_SETTINGS_RELATIVE_PATH), "rb") as fh:
            data = _jsonc.loads(fh.read(1 << 20))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    patterns = data.get("redact")
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        patterns = []
    return {**data, "redact": tuple(patterns)}


def append(
    common_dir: str | os.PathLike[str], entry: dict[str, Any], *, durable: bool, wait: float
) -> bool:
    """Append one entry (a JSON object, redacted by the caller); False if the lock stayed taken.

    ``durable`` syncs the file (and, for a new file, its folder) before returning, as the
    ``full`` durability setting asks of every recorded event.
    """
    # ASCII only, so that a lone surrogate in a payload cannot make the line unwritable.
    data = (_jsonc.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode("ascii")
    lock = try_lock(os.path.join(common_dir, _APPEND_LOCK), wait)
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
        unlock(lock)
    return True


def _sync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(common_dir: str | os.PathLike[str], wait: float) -> bytes | None:
    """The spool's first line (with its newline, if it has one), or None when it is empty."""
    lock = try_lock(os.path.join(common_dir, _APPEND_LOCK), wait)
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
        unlock(lock)


def _remove_first(common_dir: str | os.PathLike[str], line: bytes, wait: float) -> None:
    """Remove ``line`` from the start of the spool, keeping everything appended after it."""
    lock = try_lock(os.path.join(common_dir, _APPEND_LOCK), wait)
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
        atomic_write(path, rest)
    finally:
        unlock(lock)


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
    if not _has_entries(common_dir):
        return True
    lock = try_lock(os.path.join(common_dir, _DRAIN_LOCK), wait)
    if lock is None:
        return False
    try:
        deadline = time.monotonic() + budget
        while True:
            line = _first_line(common_dir, max(wait, _APPEND_LOCK_FLOOR))
            if line is None:
                return True
            if time.monotonic() > deadline:
                return False
            entry: Any = None
            try:
                entry = _jsonc.loads(line)
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
            # Not removing a replayed entry would replay it twice: this wait is not cut
            # short by a hook's deadline (appends hold the lock for microseconds).
            _remove_first(common_dir, line, max(wait, _APPEND_LOCK_FLOOR))
    finally:
        unlock(lock)
