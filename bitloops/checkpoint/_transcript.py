"""A transcript: the ordered events of a checkpoint, kept as their stored lines.

Promotion and lookups move whole transcripts of thousands of events; parsing every
line into an :class:`~bitloops.Event` up front would cost more than moving them. A
:class:`Transcript` holds the canonical JSON lines and parses an event the first time
it is read, so a checkpoint can be returned, hashed and written to disk without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from bitloops.model import Event

__all__ = ["Transcript"]


def _parse(line: str) -> Event:
    from bitloops._codec import event_from_line

    return event_from_line(line)


class Transcript(Sequence[Event]):
    """An immutable sequence of events backed by their canonical JSON lines.

    It compares equal to any sequence holding the same events (a tuple of
    :class:`~bitloops.Event` included). ``kinds`` and ``session_ids``, when given, must
    be those of the lines; they let callers count and filter without parsing.
    """

    __slots__ = ("_events", "_kinds", "_lines", "_session_ids")

    def __init__(
        self,
        lines: Iterable[str],
        *,
        kinds: Sequence[str] | None = None,
        session_ids: Sequence[str] | None = None,
    ) -> None:
        self._lines = tuple(lines)
        self._events: list[Event | None] = [None] * len(self._lines)
        self._kinds = tuple(kinds) if kinds is not None else None
        self._session_ids = tuple(session_ids) if session_ids is not None else None

    @property
    def lines(self) -> tuple[str, ...]:
        """The events' canonical JSON, one string per event, as stored."""
        return self._lines

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each event, in order."""
        if self._kinds is None:
            self._kinds = tuple(e.kind for e in self)
        return self._kinds

    @property
    def session_ids(self) -> tuple[str, ...]:
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
        event = self._events[index]
        if event is None:
            event = self._events[index] = _parse(self._lines[index])
        return event

    def __iter__(self) -> Iterator[Event]:
        for index in range(len(self._lines)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Transcript):
            # Canonical lines are equal exactly when the events are.
            return self._lines == other._lines
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
