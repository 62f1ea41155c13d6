"""Capturing a session: every call writes one event durably before it returns."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from bitloops._codec import TOO_DEEP, plain_copy, prepare_payload
from bitloops.errors import InvalidPayload, SessionEnded, UnknownEventKind
from bitloops.model import EVENT_KINDS, FILE_CHANGES, Event, EventKind
from bitloops.store._live import checked_text, prepare

if TYPE_CHECKING:
    from bitloops.redact import Redactor
    from bitloops.store._sqlite import SQLiteStore

__all__ = ["Session", "checked_text", "counting", "prepare_payload"]

# Inside counting(): the events record returns read their payload from the stored text
# only when it is used (an import counts the events it recorded, and reads none back).
_COUNTING: ContextVar[bool] = ContextVar("bitloops_counting", default=False)


@contextlib.contextmanager
def counting() -> Iterator[None]:
    """Within it, the :class:`~bitloops.Event` s a :class:`Session` returns hold their
    payload as the stored JSON text, parsed when first read: for a whole file's import,
    which records the events and only counts what it was given back. What is stored
    is the same."""
    token = _COUNTING.set(True)
    try:
        yield
    finally:
        _COUNTING.reset(token)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPayload(f"{name} must be a string, not {type(value).__name__}")
    return value


@attrs.define(kw_only=True, eq=False)
class Session:
    """A live agent session. Each method commits one event and returns it as stored.

    Get one from :meth:`bitloops.Repository.start_session`; use it as a context
    manager to end it on exit. Methods raise :class:`bitloops.InvalidEvent` subclasses
    for bad input, having written nothing.
    """

    session_id: str
    agent: str
    model: str | None
    worktree: str
    _store: SQLiteStore = attrs.field(alias="store", repr=False)
    _redactor: Redactor = attrs.field(alias="redactor", repr=False)
    _max_bytes: int = attrs.field(alias="max_bytes", repr=False)
    _capture: bool = attrs.field(alias="capture", default=True, repr=False)
    #: Called with the session id once its session_end event is stored.
    _on_end: Callable[[str], None] | None = attrs.field(alias="on_end", default=None, repr=False)
    ended: bool = False

    def record(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        artefacts: tuple[str, ...] = (),
        ts: datetime | None = None,
    ) -> Event:
        """Record an event of any kind in :data:`bitloops.EVENT_KINDS`; the generic form.

        ``ts`` (an aware datetime) is when it happened, for events recorded after the
        fact (an import, a replay); by default the time of recording. A session's events
        are read in time order (seq breaks ties), so an earlier ``ts`` places it earlier.
        """
        if type(kind) is not str:
            kind = str(kind)  # an EventKind member
        if kind not in EVENT_KINDS:
            raise UnknownEventKind(
                f"unknown event kind {kind!r}; use one of {', '.join(sorted(EVENT_KINDS))}"
            )
        if self.ended:
            raise SessionEnded(
                f"session {self.session_id} has ended; resume it with "
                f"start_session(session_id={self.session_id!r})"
            )
        end = kind == "session_end"  # EventKind.SESSION_END, without the enum's lookup
        # The one write path's preparation (the hooks' light path uses it too), inlined
        # here rather than a method of its own: a frame fewer for every event.
        if payload is None:
            payload = {}
        stored, arts, same = prepare(
            payload,
            artefacts,
            redactor=self._redactor,
            max_bytes=self._max_bytes,
            worktree=self.worktree,
        )
        if ts is not None and ts.tzinfo is None:
            raise InvalidPayload("ts must be an aware datetime, e.g. datetime.now(UTC)")
        if not self._capture:
            event = _unsaved(self, kind, stored, arts, ts)
        else:
            # The returned payload is what the stored text parses to: when neither
            # redaction nor the path rewrite changed the text, a copy of the caller's
            # payload is that, and far cheaper than parsing it back. An import
            # (counting()) parses neither. Before the write: a payload nested deeper
            # than Python recurses (the C encoder of 3.12+ goes deeper) is refused whole.
            value: Mapping[str, Any] | None
            try:
                if _COUNTING.get():
                    value = _StoredPayload(stored)
                else:
                    value = plain_copy(payload) if same else None
                    if value is None:
                        value = json.loads(stored)
            except RecursionError:
                raise InvalidPayload(TOO_DEEP) from None
            seq, when, event_id = self._store.append_event(
                session_id=self.session_id,
                worktree=self.worktree,
                kind=kind,
                agent=self.agent,
                model=self.model,
                payload_json=stored,
                artefacts=arts,
                end=end,
                ts=ts,
            )
            event = _event(
                event_id, self.session_id, seq, when, kind, self.agent, self.model, value, arts
            )
        if end:
            self.ended = True
            if self._on_end is not None and self._capture:
                self._on_end(self.session_id)
        return event

    @property
    def max_payload_bytes(self) -> int:
        """The largest serialised payload this session accepts (``max_payload_bytes``)."""
        return self._max_bytes

    def set_model(self, model: str | None) -> None:
        """Change the model this session runs on, for its later events and its record.

        For agents that reveal the model after the session started (in a transcript).
        """
        if model is not None:
            model = self._redactor.redact(checked_text("model", model))
        if model != self.model and self._capture:
            self._store.set_session_model(self.session_id, model)
        self.model = model

    def prompt(self, text: str) -> Event:
        """What the user asked."""
        return self.record(EventKind.PROMPT, {"text": _text("text", text)})

    def response(self, text: str) -> Event:
        """What the agent answered."""
        return self.record(EventKind.RESPONSE, {"text": _text("text", text)})

    def reasoning(self, text: str) -> Event:
        """How the agent reasoned (its thinking)."""
        return self.record(EventKind.REASONING, {"text": _text("text", text)})

    def tool_use(
        self, name: str, input: Any, output: Any = None, *, tool_use_id: str | None = None
    ) -> Event:
        """A tool call with its input and, if known, its output, as one event.

        An output known only later can be added with :meth:`tool_result`, naming the
        same ``tool_use_id`` (or this event's ``event_id``).
        """
        payload: dict[str, Any] = {"name": _text("name", name), "input": input}
        if output is not None:
            payload["output"] = output
        if tool_use_id is not None:
            payload["tool_use_id"] = _text("tool_use_id", tool_use_id)
        return self.record(EventKind.TOOL_USE, payload)

    def tool_result(self, tool_use_id: str, output: Any, *, error: bool = False) -> Event:
        """The output of an earlier tool_use event."""
        payload = {"tool_use_id": _text("tool_use_id", tool_use_id), "output": output}
        if error:
            payload["is_error"] = True
        return self.record(EventKind.TOOL_RESULT, payload)

    def file_change(
        self, path: str, change: str = "modified", *, old_path: str | None = None
    ) -> Event:
        """A file the agent added, modified, deleted or renamed (``old_path`` for renames)."""
        _text("path", path)
        if change not in FILE_CHANGES:
            raise InvalidPayload(
                f"change must be one of {', '.join(sorted(FILE_CHANGES))}, not {change!r}"
            )
        payload: dict[str, Any] = {"path": path, "change": change}
        artefacts: tuple[str, ...] = (path,)
        if change == "renamed":
            if old_path is None:
                raise InvalidPayload("a renamed file needs old_path= (the path it had before)")
            payload["old_path"] = _text("old_path", old_path)
            artefacts = (path, old_path)
        elif old_path is not None:
            raise InvalidPayload("old_path= is only for change='renamed'")
        return self.record(EventKind.FILE_CHANGE, payload, artefacts=artefacts)

    def decision(
        self,
        text: str,
        rationale: str | None = None,
        *,
        applies_to: Sequence[str] = (),
        source: str = "agent",
    ) -> Event:
        """A choice the agent made, and why; ``applies_to`` names files or ``path::symbol`` s."""
        payload = _why(text, source, applies_to)
        if rationale is not None:
            payload["rationale"] = _text("rationale", rationale)
        return self.record(EventKind.DECISION, payload, artefacts=_paths(applies_to))

    def plan(
        self,
        text: str | None = None,
        *,
        items: Sequence[Mapping[str, Any] | str] | None = None,
        source: str = "agent",
    ) -> Event:
        """The agent's plan: prose, a step of it, or ``items`` with statuses.

        Each item is a string or ``{"text": ..., "status": "pending" | "in_progress" |
        "completed" | "cancelled"}``. A plan with items replaces the session's earlier
        one in the summary; a plan of text alone stands beside the others.
        """
        if text is None and not items:
            raise InvalidPayload("a plan needs text or items")
        payload: dict[str, Any] = {} if text is None else {"text": _text("text", text)}
        if items:
            payload["items"] = [_plan_item(item) for item in items]
        if source != "agent":
            payload["source"] = _checked_source(source)
        return self.record(EventKind.PLAN, payload)

    def constraint(
        self,
        text: str,
        *,
        stated_by: str | None = None,
        applies_to: Sequence[str] = (),
        source: str = "agent",
    ) -> Event:
        """A constraint the agent followed; ``stated_by`` is user, repository or agent."""
        payload = _why(text, source, applies_to)
        if stated_by is not None:
            if stated_by not in ("user", "repository", "agent"):
                raise InvalidPayload(
                    f"stated_by must be user, repository or agent, not {stated_by!r}"
                )
            payload["stated_by"] = stated_by
        return self.record(EventKind.CONSTRAINT, payload, artefacts=_paths(applies_to))

    def alternative(
        self,
        text: str,
        reason: str | None = None,
        *,
        applies_to: Sequence[str] = (),
        source: str = "agent",
    ) -> Event:
        """An approach considered and rejected, and why."""
        payload = _why(text, source, applies_to)
        if reason is not None:
            payload["reason"] = _text("reason", reason)
        return self.record(EventKind.ALTERNATIVE, payload, artefacts=_paths(applies_to))

    def note(self, text: str) -> Event:
        """Anything else worth keeping."""
        return self.record(EventKind.NOTE, {"text": _text("text", text)})

    def error(self, message: str) -> Event:
        """Something that went wrong in the session."""
        return self.record(EventKind.ERROR, {"message": _text("message", message)})

    def end(self, reason: str | None = None) -> Event | None:
        """End the session with a session_end event; ending twice does nothing."""
        if self.ended:
            return None
        payload = {} if reason is None else {"reason": _text("reason", reason)}
        return self.record(EventKind.SESSION_END, payload)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.ended:
            self.end(None if exc is None else f"error: {exc_type.__name__ if exc_type else exc}")


class _StoredPayload(Mapping[str, Any]):
    """An event's payload as its stored JSON text, parsed when first read (see
    :func:`counting`)."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _parsed(self) -> dict[str, Any]:
        if self._value is None:
            self._value = json.loads(self._text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        return repr(self._parsed())


def _event_builder() -> Callable[..., Event]:
    """What ``Event(event_id=..., ..., artefacts=...)`` builds, from positional arguments
    in field order, by the slots' own setters: the frozen class's ``__init__`` goes
    through ``object.__setattr__`` by name for each of its nine fields, and this runs
    for every recorded event. (``tests/test_record_fast_path.py`` checks the two agree.)"""
    names = tuple(f.name for f in attrs.fields(Event))
    if names != _EVENT_FIELDS:  # a new field must be set here too (not an assert: -O)
        raise RuntimeError(f"bitloops.model.Event's fields changed: {names}")
    new = Event.__new__
    (
        set_id, set_session, set_seq, set_ts, set_kind, set_agent, set_model, set_payload,
        set_artefacts,
    ) = (getattr(Event, name).__set__ for name in names)  # fmt: skip

    def build(
        event_id: str,
        session_id: str,
        seq: int,
        ts: datetime,
        kind: str,
        agent: str,
        model: str | None,
        payload: Mapping[str, Any],
        artefacts: tuple[str, ...],
    ) -> Event:
        event = new(Event)
        set_id(event, event_id)
        set_session(event, session_id)
        set_seq(event, seq)
        set_ts(event, ts)
        set_kind(event, kind)
        set_agent(event, agent)
        set_model(event, model)
        set_payload(event, payload)
        set_artefacts(event, artefacts)
        return event

    return build


_EVENT_FIELDS = (
    "event_id", "session_id", "seq", "ts", "kind", "agent", "model", "payload", "artefacts",
)  # fmt: skip
_event = _event_builder()


def _checked_source(source: str) -> str:
    if source not in ("agent", "llm"):
        raise InvalidPayload(f"a recorded why-record's source is agent or llm, not {source!r}")
    return source


def _why(text: str, source: str, applies_to: Sequence[str]) -> dict[str, Any]:
    """The common part of a decision, alternative or constraint payload."""
    payload: dict[str, Any] = {"text": _text("text", text)}
    if source != "agent":
        payload["source"] = _checked_source(source)
    if isinstance(applies_to, str):
        applies_to = [applies_to]
    names = [_text("applies_to", a).strip() for a in applies_to]
    if any(not n for n in names):
        raise InvalidPayload("applies_to names files or symbols; an empty name says nothing")
    if names:
        payload["applies_to"] = list(dict.fromkeys(names))
    return payload


def _paths(applies_to: Sequence[str]) -> tuple[str, ...]:
    """The files of ``applies_to`` (``path::symbol`` names their path), as artefacts."""
    if isinstance(applies_to, str):
        applies_to = [applies_to]
    return tuple(dict.fromkeys(a.split("::", 1)[0].strip() for a in applies_to if a.strip()))


def _plan_item(item: Mapping[str, Any] | str) -> dict[str, Any]:
    from bitloops.capture._plans import normalise_status

    if isinstance(item, str):
        return {"text": item, "status": "pending"}
    if not isinstance(item, Mapping):
        raise InvalidPayload("a plan item is a string or {'text': ..., 'status': ...}")
    text = item.get("text", item.get("content", item.get("step")))
    out = {
        "text": _text("a plan item's text", text),
        "status": normalise_status(item.get("status")),
    }
    if item.get("id") is not None:
        out["id"] = str(item["id"])
    return out


def _unsaved(
    session: Session, kind: str, text: str, arts: tuple[str, ...], ts: datetime | None
) -> Event:
    from datetime import UTC

    from bitloops._codec import new_id

    return Event(
        event_id=new_id(),
        session_id=session.session_id,
        seq=0,
        ts=datetime.now(UTC) if ts is None else ts,
        kind=kind,
        agent=session.agent,
        model=session.model,
        payload=json.loads(text),
        artefacts=arts,
    )
