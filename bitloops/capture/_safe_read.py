"""Opening and reading the files a hook payload names, within bounds.

A hook payload names files that bitloops reads (an agent's transcript), in the hook and
again in every post-commit catch-up. A broken or hostile payload can name ``/dev/zero``,
a FIFO (whose plain ``open`` blocks until a writer comes), a terminal, or a sparse file
of gigabytes with no newline in it. So every such file is opened here:

- :func:`open_regular` opens with ``O_NONBLOCK`` (a FIFO cannot block the open) and keeps
  only regular files (``fstat`` and ``S_ISREG``); anything else raises
  :class:`UnreadableFile` (an :class:`OSError`, so callers that skip unreadable files
  skip these too);
- :func:`read_file` reads a whole file with a byte bound and a time bound;
- :func:`skip_line` moves past an over-long line in chunks, within a byte and time bound,
  so that a reading state can go on from where it stopped.

Only the standard library is used (hooks import this), with :mod:`bitloops.errors`.
"""

from __future__ import annotations

import os
import stat
import time

from bitloops.errors import BitloopsError

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import IO

__all__ = [
    "CHUNK_BYTES",
    "MAX_LINE_BYTES",
    "UnreadableFile",
    "open_regular",
    "read_file",
    "skip_line",
]

#: The longest transcript line read whole; a longer one is skipped (and said so).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: How much a bounded read takes at a time, between looks at the clock.
CHUNK_BYTES = 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(BitloopsError, OSError):
    """A file bitloops will not read: not a regular file, over its bound, or too slow."""


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for binary reading, when it is a regular file.

    Raises :class:`UnreadableFile` for anything else (a FIFO, a device, a directory) and
    :class:`OSError` when it cannot be opened (a path holding a NUL counts as such).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError as exc:  # an embedded NUL
        raise UnreadableFile(f"cannot open {path!r}: {exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(
                f"{os.fspath(path)!r} is {_kind(mode)}, not a regular file; bitloops reads "
                "only regular files there (check the path the agent sent)"
            )
        os.set_blocking(fd, True)  # a regular file never blocks anyway; reads stay plain
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_file(
    path: str | os.PathLike[str], max_bytes: int, *, max_seconds: float | None = None
) -> bytes:
    """The bytes of the regular file at ``path``, read within ``max_bytes`` and ``max_seconds``.

    Raises :class:`UnreadableFile` when it is no regular file, holds more than
    ``max_bytes``, or takes longer than ``max_seconds``; :class:`OSError` when it cannot
    be read.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise UnreadableFile(f"{os.fspath(path)!r} holds {size} bytes, over {max_bytes}")
        parts: list[bytes] = []
        got = 0
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise UnreadableFile(f"reading {os.fspath(path)!r} took over {max_seconds} s")
            chunk = fh.read(min(CHUNK_BYTES, max_bytes + 1 - got))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            got += len(chunk)
            if got > max_bytes:  # it grew while read
                raise UnreadableFile(f"{os.fspath(path)!r} grew over {max_bytes} bytes")


def skip_line(fh: IO[bytes], *, max_bytes: int, deadline: float) -> tuple[int, bool]:
    """Read past the rest of the current line: ``(bytes passed, newline found)``.

    Stops after ``max_bytes``, at ``deadline`` (a :func:`time.monotonic` time), or at the
    end of the file; the bytes passed include the newline when it was found. The file's
    position is left just after what was passed.
    """
    passed = 0
    while passed < max_bytes and time.monotonic() <= deadline:
        chunk = fh.read(min(CHUNK_BYTES, max_bytes - passed))
        if not chunk:
            break
        end = chunk.find(b"\n")
        if end >= 0:
            passed += end + 1
            fh.seek(end + 1 - len(chunk), os.SEEK_CUR)
            return passed, True
        passed += len(chunk)
    return passed, False
