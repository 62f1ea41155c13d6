"""``hooks.log``: the one writer of the log where hooks say what went wrong.

Hooks never fail the agent or git, so what goes wrong is written down here instead:
``<git common dir>/bitloops/hooks.log``. A traceback quotes the values it was handling
(a payload's ``cwd``, a transcript line), so every entry goes through the redactor
first, and the log stays small whatever a payload holds:

- each line of an entry is cut to :data:`MAX_LINE_CHARS` and each entry to
  :data:`MAX_ENTRY_CHARS` (its first and last lines kept: where it began, what raised);
- past :data:`MAX_LOG_BYTES` the log is moved to ``hooks.log.1`` (replacing the older
  one) and a new one begun.

The redactor is the caller's (the repository's settings); without one, the last
settings that parsed (:func:`bitloops.capture._spool.last_settings`) or the built-in rules.
Only the standard library is imported here; the redactor loads when an entry is written.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime

TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.redact import Redactor

__all__ = [
    "LOG_RELATIVE_PATH",
    "MAX_ENTRY_CHARS",
    "MAX_LINE_CHARS",
    "MAX_LOG_BYTES",
    "log_exception",
    "write",
]

#: The hook log, relative to the git common directory.
LOG_RELATIVE_PATH = "bitloops/hooks.log"
#: Past this size the log is rotated to ``hooks.log.1``.
MAX_LOG_BYTES = 1024 * 1024
#: One entry (a note, or a traceback) is cut to this many characters.
MAX_ENTRY_CHARS = 8 * 1024
#: Each line of an entry is cut to this many characters.
MAX_LINE_CHARS = 1024
# What is redacted of a line at most: a value cut here is cut again, shorter, after.
_REDACT_CHARS = 8 * 1024


def _redactor(common_dir: str | os.PathLike[str], toplevel: str | None = None) -> Redactor:
    """The redactor of the work tree's current settings when they parse (``toplevel``);
    else of the last settings that parsed; else the built-in rules."""
    from bitloops.redact import Redactor, default_redactor

    if toplevel is not None:
        from bitloops.capture import _direct as direct

        settings = direct.read_settings(toplevel)
        if settings is not None:
            return direct.redactor(settings)
    from bitloops.capture._spool import last_settings

    patterns = last_settings(common_dir).get("redact", ())
    return Redactor(patterns) if patterns else default_redactor()


def _bounded(text: str, redactor: Redactor) -> str:
    """``text`` redacted and cut to the entry bounds, at line boundaries."""
    lines = []
    # Cut each line before redacting (a 5 MB value costs seconds to redact), redact the
    # whole (rules that span lines, a PEM block, see them all), cut again shorter: a
    # secret split by the first cut lies past the second.
    shortened = "\n".join(line[:_REDACT_CHARS] for line in text.splitlines())
    for line in redactor.redact(shortened).splitlines():
        if len(line) > MAX_LINE_CHARS:
            line = f"{line[:MAX_LINE_CHARS]}[... {len(line) - MAX_LINE_CHARS} characters cut]"
        lines.append(line)
    size = sum(len(line) + 1 for line in lines)
    if size > MAX_ENTRY_CHARS:
        head: list[str] = []
        tail: list[str] = []
        room = MAX_ENTRY_CHARS // 2
        for line in lines:
            if room < len(line) + 1:
                break
            head.append(line)
            room -= len(line) + 1
        room = MAX_ENTRY_CHARS // 2
        for line in reversed(lines[len(head) :]):
            if room < len(line) + 1:
                break
            tail.append(line)
            room -= len(line) + 1
        cut = len(lines) - len(head) - len(tail)
        lines = [*head, f"[... {cut} lines cut]", *reversed(tail)]
    return "\n".join(lines)


def write(
    common_dir: str | os.PathLike[str],
    text: str,
    *,
    redactor: Redactor | None = None,
    log_path: str = LOG_RELATIVE_PATH,
    toplevel: str | os.PathLike[str] | None = None,
) -> str:
    """Append one entry (a time, then ``text``) to the hook log, redacted and bounded.

    ``log_path`` (relative to the git common directory) names another log kept the same
    way (the detached distiller's). Without ``redactor``, the settings of ``toplevel``
    (the work tree) redact, when given and they parse. Returns the log's path, or what
    happened to it when it could not be written. Never raises.
    """
    log = os.path.join(common_dir, log_path)
    try:
        top = None if toplevel is None else os.fspath(toplevel)
        entry = _bounded(text, redactor if redactor is not None else _redactor(common_dir, top))
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        data = f"{stamp} {entry}\n".encode("utf-8", "backslashreplace")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        try:
            if os.stat(log).st_size + len(data) > MAX_LOG_BYTES:
                os.replace(log, log + ".1")
        except FileNotFoundError:
            pass
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)  # one write: concurrent hooks' entries do not interleave
        finally:
            os.close(fd)
    except Exception:  # a full disk, a read-only folder, a redactor that failed
        return "(the hook log could not be written)"
    return log


def log_exception(
    common_dir: str | os.PathLike[str],
    what: str,
    *,
    redactor: Redactor | None = None,
    toplevel: str | os.PathLike[str] | None = None,
) -> str:
    """:func:`write` ``what`` and the traceback of the exception being handled."""
    text = f"{what}\n{traceback.format_exc()}"
    return write(common_dir, text, redactor=redactor, toplevel=toplevel)
