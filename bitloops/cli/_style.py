"""How the command line's text looks: ANSI colour, ages and dates, wrapping, labelled rows.

Every helper returns plain strings, so a screen is tested as a list of lines. Only the
standard library is imported at module level (see :mod:`bitloops.cli._registry`).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

__all__ = [
    "LABEL",
    "PLAIN",
    "Style",
    "clip",
    "compact",
    "date",
    "duration",
    "flat",
    "format_age",
    "iso",
    "label",
    "pack",
    "plural",
    "wrap",
]

#: The width of the label column: "Checkpoints: " is the longest label of the status view.
LABEL = 13


class Style:
    """ANSI colour for terminal output; every method returns its text unchanged when off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: IO[str], environ: Mapping[str, str] | None = None) -> Style:
        """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
        env = os.environ if environ is None else environ
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()) and not env.get("NO_COLOR"))

    def _code(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        """Headings."""
        return self._code("1", text)

    def dim(self, text: str) -> str:
        """Secondary details: times, ids, "none recorded"."""
        return self._code("2", text)

    def green(self, text: str) -> str:
        """Good news: enabled, active, verified."""
        return self._code("32", text)

    def yellow(self, text: str) -> str:
        """Attention: idle sessions, warnings, notes."""
        return self._code("33", text)

    def red(self, text: str) -> str:
        """Failures."""
        return self._code("31", text)

    def cyan(self, text: str) -> str:
        """Commit SHAs."""
        return self._code("36", text)


#: No colour: what the renderers use unless told otherwise.
PLAIN = Style(False)


def format_age(ts: datetime, now: datetime | None = None) -> str:
    """How long ago ``ts`` was, the way people say it: ``"2m ago"``, ``"3d ago"``."""
    seconds = int(((now or datetime.now(UTC)) - ts).total_seconds())
    if seconds < 1:
        return "just now"
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def date(ts: datetime) -> str:
    """``ts`` to the minute, in UTC: ``2026-01-31 09:15 UTC``."""
    return f"{ts.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso(ts: datetime | None) -> str | None:
    """``ts`` as the JSON outputs and ``session.json`` write it (None stays None)."""
    from bitloops._codec import format_ts

    return None if ts is None else format_ts(ts)


def duration(seconds: float) -> str:
    """A length of time as the summaries give it: ``4m 12s``."""
    from bitloops.checkpoint._summary import format_duration

    return format_duration(seconds)


def plural(count: int, word: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def flat(text: str) -> str:
    """``text`` on one line, runs of whitespace made one space."""
    return " ".join(text.split())


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, a cut marked with ``…``."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped to ``width``, paragraphs kept, the first line led by ``first``."""
    room = max(20, width - max(len(first), len(rest)))
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        for line in textwrap.wrap(paragraph, room, break_on_hyphens=False) or [""]:
            out.append((first + line).rstrip())
            first = rest
    return out


def pack(items: Sequence[str], width: int, first: str, rest: str) -> list[str]:
    """``items`` joined by commas, wrapped between items only."""
    out: list[str] = []
    line = first
    for index, item in enumerate(items):
        piece = item if index == len(items) - 1 else item + ","
        if line not in (first, rest) and len(line) + 1 + len(piece) > width:
            out.append(line)
            line = rest
        line += piece if line in (first, rest) else " " + piece
    return [*out, line]


def label(name: str, value: str) -> str:
    """One row of a labelled view: ``Strategy:    manual-commit``."""
    # An empty name continues the row above: no colon of its own.
    return f"{name + ':' if name else '':<{LABEL}}{value}"


def compact(value: Any) -> str:
    """A payload value on one line: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
