"""A transcript: the ordered events of a checkpoint, kept as their stored lines.

Promotion and lookups move whole transcripts of thousands of events; parsing every
line into an :class:`~bitloops.Event` up front would cost more than moving them. A
:class:`Transcript` holds the canonical JSON lines and parses an event the first time
it is read, so a checkpoint can be returned, hashed and written to disk without it.

A big transcript does not even hold its lines: :class:`WindowedLines` reads them from the
database a window at a time (promotion of hundreds of thousands of events in bounded
memory), and such a transcript keeps no parsed event either.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from bitloops._codec import event_from_line, event_of
from bitloops.model import Event

__all__ = ["Transcript", "WindowedLines", "line_data", "payload_of"]

#: How many lines a :class:`WindowedLines` reads at a time.
WINDOW = 2048


class WindowedLines(Sequence[str]):
    """Stored event lines, in order, read from the database a window at a time.

    ``ids`` are the rows' ids in transcript order and ``fetch`` reads the lines of some
    of them (in the order asked). Only the ids and the window last read are held, so a
    transcript of any length costs a few bytes per event; reading in order (what
    hashing, writing and summarising do) reads each row once.
    """

    __slots__ = ("_fetch", "_ids", "_start", "_window")

    def __init__(self, ids: Iterable[int], fetch: Callable[[Sequence[int]], list[str]]) -> None:
        self._ids = ids if isinstance(ids, array) else array("q", ids)
        self._fetch = fetch
        self._start = 0
        self._window: list[str] = []

    @property
    def ids(self) -> Sequence[int]:
        """The rows' ids, in transcript order."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self._ids)
        if not 0 <= index < len(self._ids):
            raise IndexError("line index out of range")
        offset = index - self._start
        if not 0 <= offset < len(self._window):
            start = index - index % WINDOW
            self._window = self._fetch(self._ids[start : start + WINDOW])
            self._start, offset = start, index - start
        return self._window[offset]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self._ids), WINDOW):
            # Not kept as the window: a reader iterating would otherwise evict the
            # window a random access of another reader had read.
            yield from self._fetch(self._ids[start : start + WINDOW])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WindowedLines({len(self)} lines)"


# The C scanner json's decoder runs (not in the stubs): a value and where it ends.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse(line: str) -> Event:
    """The event of a stored line: what :func:`bitloops._codec.event_from_line` returns.

    Promotion parses thousands (summary, extractor), so this is its hot path: the C
    scanner straight away (no whitespace checks around a line bitloops wrote itself)
    and no import per call. Anything unexpected goes to ``event_from_line``, which
    says what is wrong.
    """
    try:
        d, end = _scan(line, 0)
        if end == len(line):
            return event_of(d)
    except (StopIteration, ValueError, KeyError, TypeError):
        pass
    return event_from_line(line)


def line_data(line: str) -> dict[str, Any]:
    """A stored line's plain data (``json.loads``), by the C scanner when it can."""
    try:
        data, end = _scan(line, 0)
        if end == len(line) and type(data) is dict:
            return data
    except (StopIteration, ValueError):
        pass
    loaded: dict[str, Any] = json.loads(line)
    return loaded


_PAYLOAD_KEY = ',"payload":'


def payload_of(line: str) -> Any:
    """The payload of a stored line, parsed on its own (the rest of the line is not).

    Only strings come before it in a canonical line, and a string cannot hold
    ``,"payload":`` unescaped: its first occurrence is the key.
    """
    at = line.find(_PAYLOAD_KEY)
    if at >= 0:
        try:
            return _scan(line, at + len(_PAYLOAD_KEY))[0]
        except (StopIteration, ValueError):
            pass
    return json.loads(line).get("payload")


def _frozen(items: Sequence[str] | None) -> Sequence[str] | None:
    return tuple(items) if isinstance(items, list) else items


class Transcript(Sequence[Event]):
    """An immutable sequence of events backed by their canonical JSON lines.

    It compares equal to any sequence holding the same events (a tuple of
    :class:`~bitloops.Event` included). ``kinds`` and ``session_ids``, when given, must
    be those of the lines; they let callers count and filter without parsing.
    """

    __slots__ = ("_events", "_kinds", "_lines", "_session_ids")
    #: Tells the codec (:mod:`bitloops._codec`) to take :meth:`unstructure` as this
    #: sequence's JSON form.
    unstructures_events = True

    def __init__(
        self,
        lines: Iterable[str],
        *,
        kinds: Sequence[str] | None = None,
        session_ids: Sequence[str] | None = None,
    ) -> None:
        self._lines: Sequence[str] = lines if isinstance(lines, WindowedLines) else tuple(lines)
        # Events read from a windowed transcript are parsed each time, never kept: it is
        # windowed because holding all of it would cost too much memory.
        self._events: list[Event | None] | None = (
            None if isinstance(lines, WindowedLines) else [None] * len(self._lines)
        )
        # Lists are copied (a caller may change them); other sequences (tuples, a big
        # draft's compact ones) are kept as they are.
        self._kinds = _frozen(kinds)
        self._session_ids = _frozen(session_ids)

    @property
    def lines(self) -> Sequence[str]:
        """The events' canonical JSON, one string per event, as stored.

        A tuple, or a :class:`WindowedLines` for a transcript read a window at a time.
        """
        return self._lines

    @property
    def kinds(self) -> Sequence[str]:
        """The kind of each event, in order."""
        if self._kinds is None:
            self._kinds = tuple(e.kind for e in self)
        return self._kinds

    @property
    def session_ids(self) -> Sequence[str]:
        """The session id of each event, in order."""
        if self._session_ids is None:
            self._session_ids = tuple(e.session_id for e in self)
        return self._session_ids

    def of_kinds(self, kinds: Iterable[str]) -> Iterator[Event]:
        """The events of the given kinds, in order, parsing only those."""
        wanted = frozenset(kinds)
        for index, kind in enumerate(self.kinds):
            if kind in wanted:
                yield self[index]

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Event, ...]: ...

    def __getitem__(self, index: int | slice) -> Event | tuple[Event, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if self._events is None:
            return _parse(self._lines[index])
        event = self._events[index]
        if event is None:
            event = self._events[index] = _parse(self._lines[index])
        return event

    def __iter__(self) -> Iterator[Event]:
        if self._events is None:
            for line in self._lines:
                yield _parse(line)
            return
        for index in range(len(self._lines)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Transcript):
            # Canonical lines are equal exactly when the events are.
            if type(self._lines) is tuple and type(other._lines) is tuple:
                return self._lines == other._lines
            return len(self) == len(other) and all(
                a == b for a, b in zip(self._lines, other._lines, strict=True)
            )
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    # Unhashable, like the tuple of events it equals (their payloads are dicts).
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Transcript({len(self)} events)"

    def unstructure(self) -> list[Any]:
        """Plain data for each event, read straight from the lines."""
        return [json.loads(line) for line in self._lines]
