"""One converter, one canonical JSON, one hash: how bitloops turns objects into bytes.

Canonical JSON (what ``content_hash`` covers and what ``transcript.jsonl`` holds) is
``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`` encoded as UTF-8. Timestamps are UTC ISO 8601 with exactly six
fractional digits and a ``Z`` (``2026-11-25T14:30:00.123456Z``), so they sort as text.

The content hash of a checkpoint is SHA-256 over: the canonical JSON of its *header*
(every field except ``events``, ``commits`` and ``content_hash``), a newline, then each
event's canonical JSON followed by a newline, in transcript order. Commit links are
left out so that rewrites (amend, rebase) can add links without touching the hash.
"""

from __future__ import annotations

import os
import sys
import time

# collections.abc's Mapping, from the module Python loads at start-up (collections.abc
# would import collections: a cost for the agent hooks, which import this module).
from _collections_abc import Mapping

from bitloops._dt import UTC, datetime
from bitloops._jsonc import dumps, encode_basestring, loads, make_encoder, not_serializable
from bitloops.errors import InvalidPayload, PayloadTooLarge

# Spelled out rather than imported from typing: agent hooks import this module to write
# events, and attrs, the model classes, typing, json and re would cost them more than all
# the rest (see bitloops._jsonc).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, TypeVar

    import cattrs

    from bitloops.model import Checkpoint, Event
    from bitloops.redact import Redactor

    T = TypeVar("T")

__all__ = [
    "TOO_DEEP",
    "canonical_dumps",
    "checkpoint_header",
    "content_hash",
    "event_from_line",
    "event_line",
    "event_line_parts",
    "event_of",
    "format_ts",
    "line_batches",
    "line_models",
    "new_id",
    "parse_ts",
    "plain_copy",
    "prepare_payload",
    "prepared_payload",
    "relative_paths",
    "sha256_hex",
    "sha256_of",
    "structure",
    "unstructure",
]


def _dumps(value: Any) -> str:
    return dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# The same encoding, by one C encoder built once, for the recording hot path. Without the
# circular-reference markers (a dict shared by threads would be unsafe): a cycle ends in
# RecursionError, and _dumps then tells what it was.
def _slow_chunks(value: Any, level: int) -> tuple[str]:
    return (_dumps(value),)  # a Python without the C encoder


_fast_chunks: Callable[[Any, int], Sequence[str]] = (
    _slow_chunks
    if make_encoder is None
    else make_encoder(None, not_serializable, encode_basestring, None, ":", ",", True, False, False)
)


def _fast_dumps(value: Any) -> str:
    try:
        return "".join(_fast_chunks(value, 0))
    except RecursionError:
        return _dumps(value)  # raises ValueError for a cycle, RecursionError if deep


def canonical_dumps(value: Any) -> str:
    """Serialise ``value`` as canonical JSON text (see the module docstring)."""
    return _dumps(value)


#: What :class:`~bitloops.InvalidPayload` says of a payload nested past the recursion limit.
TOO_DEEP = "the payload is nested too deeply to serialise; flatten it or record an excerpt"


def prepare_payload(payload: Any, redactor: Redactor, max_bytes: int) -> str:
    """Validate, serialise and redact a payload; the canonical JSON text to store.

    Raises :class:`~bitloops.InvalidPayload` (not a JSON object, not serialisable, not
    UTF-8) and :class:`~bitloops.PayloadTooLarge` (over ``max_bytes`` once redacted).
    """
    return prepared_payload(payload, redactor, max_bytes)[0]


def prepared_payload(payload: Any, redactor: Redactor, max_bytes: int) -> tuple[str, bool]:
    """:func:`prepare_payload`, and whether redaction left the text as it was.

    When it did, ``json.loads`` of the text equals :func:`plain_copy` of ``payload``
    (if that succeeds), so the recording path need not parse what it just wrote.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise InvalidPayload(
            f"a payload must be a JSON object (a dict), not {type(payload).__name__}; "
            "wrap the value, e.g. {'value': ...}"
        )
    try:
        # _fast_dumps, inlined (this runs for every recorded event)
        try:
            serialised = "".join(_fast_chunks(payload, 0))
        except RecursionError:
            serialised = _dumps(payload)  # raises ValueError for a cycle
    except RecursionError:
        raise InvalidPayload(TOO_DEEP) from None
    except TypeError as exc:
        if "not supported between instances" in str(exc):
            raise InvalidPayload(
                "the payload's object keys must all be strings (keys of mixed types cannot "
                "be put in a canonical order); convert them with str()"
            ) from None
        raise InvalidPayload(
            f"the payload is not JSON-serialisable ({exc}); pass only dicts, lists, strings, "
            "numbers, booleans and None"
        ) from None
    except ValueError as exc:
        raise InvalidPayload(
            f"the payload is not JSON-serialisable ({exc}); pass only dicts, lists, strings, "
            "numbers, booleans and None (no NaN or infinity)"
        ) from None
    text = redactor.redact_json(serialised)
    if text.isascii():  # the usual case: its length is its size, no encoding needed
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidPayload(
                f"the payload holds text that is not valid UTF-8 ({exc.reason} at position "
                f"{exc.start}); decode bytes with errors='replace' before recording"
            ) from None
    if size > max_bytes:
        raise PayloadTooLarge(
            f"the payload is {size} bytes, over the limit of {max_bytes}; record a shorter "
            "excerpt, or raise max_payload_bytes in .bitloops/settings.json"
        )
    return text, text is serialised


def plain_copy(value: Any) -> dict[str, Any] | None:
    """What ``json.loads(canonical_dumps(value))`` gives, built without the text, or None.

    Only for the plain types whose round trip is exact (exactly ``dict`` with ``str``
    keys, ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``; keys in
    sorted order as the canonical text has them); anything else (a subclass, an enum, a
    number key) gives None and the caller parses. Copying is several times cheaper than
    parsing, and this runs for every recorded event.
    """
    # None passed up rather than an exception raised: a payload is copied by one call
    # for its top level and one per container in it, no handler set up for each.
    if type(value) is not dict:
        return None
    out: dict[str, Any] = {}
    for key in sorted(value):  # canonical_dumps already proved the keys comparable
        if type(key) is not str:
            return None
        item = value[key]
        tp = type(item)
        if tp is str or tp is int or tp is bool or tp is float or item is None:
            out[key] = item
        elif tp is dict:
            if (copied := plain_copy(item)) is None:
                return None
            out[key] = copied
        elif tp is list or tp is tuple:
            if (items := _plain_list(item)) is None:
                return None
            out[key] = items
        else:
            return None
    return out


def _plain_list(value: list[Any] | tuple[Any, ...]) -> list[Any] | None:
    out: list[Any] = []
    for item in value:
        tp = type(item)
        if tp is str or tp is int or tp is bool or tp is float or item is None:
            out.append(item)
        elif tp is dict:
            if (copied := plain_copy(item)) is None:
                return None
            out.append(copied)
        elif tp is list or tp is tuple:
            if (items := _plain_list(item)) is None:
                return None
            out.append(items)
        else:
            return None
    return out


def relative_paths(payload_json: str, top: str, home: str | None = None) -> str:
    """A prepared payload with the work tree's and the home directory's absolute paths cut.

    ``<top>/x`` becomes ``x`` (relative to the work tree, ``<top>`` itself ``.``) and the
    home directory (default: ``~`` of this process) becomes ``~``, wherever they stand in
    the payload's strings, as whole paths (not the tail of a longer one, such as
    ``/mnt<top>/x``), so committed transcripts carry no one's user name or checkout
    location. Applied when an event is stored, before its line is built (the line and
    the hash cover the result), by both write paths (:class:`~bitloops.Session` and the
    hooks' fast path).
    """
    last = _last_roots  # one tuple, read and replaced whole: threads see a matching pair
    if top is last[0] and home is None:  # a session passes the same work tree each time
        roots = last[1]
    else:
        roots = _roots(top, _home() if home is None else home)
        if home is None:
            _remember_roots(top, roots)
    for escaped, inside, itself in roots:
        if escaped in payload_json:
            payload_json = _cut(payload_json, escaped, inside, itself)
    return payload_json


_ROOTS: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {}
# The last work tree relative_paths met with the default home, and its roots: found by
# identity, without building a key and hashing two paths per event.
_last_roots: tuple[str | None, tuple[tuple[str, str, str], ...]] = (None, ())


def _remember_roots(top: str, roots: tuple[tuple[str, str, str], ...]) -> None:
    global _last_roots
    _last_roots = (top, roots)


def _roots(top: str, home: str) -> tuple[tuple[str, str, str], ...]:
    """The absolute roots to cut, as they appear in JSON text, with their replacements.

    Remembered: a session records every event with the same two.
    """
    found = _ROOTS.get((top, home))
    if found is not None:
        return found
    roots = []
    for root, inside, itself in ((top, "", "."), (home, "~/", "~")):
        root = root.rstrip("/")
        if root and root[0] == "/":
            roots.append((encode_basestring(root)[1:-1], inside, itself))
    if len(_ROOTS) >= 64:  # a long-lived process with many repositories
        _ROOTS.clear()
    found = _ROOTS[top, home] = tuple(roots)
    return found


_HOME: list[str] = []


def _home() -> str:
    if not _HOME:
        _HOME.append(os.path.expanduser("~"))
    return _HOME[0]


def _cut(text: str, root: str, inside: str, itself: str) -> str:
    """``text`` with each whole-path ``root/`` replaced by ``inside``, a bare ``root`` by
    ``itself`` (str.find, not a regular expression: this runs for every stored event)."""
    pieces: list[str] = []
    start = 0
    at = text.find(root)
    while at >= 0:
        end = at + len(root)
        before = text[at - 1] if at else '"'
        # A path starts after a quote, a space, punctuation or an escaped newline or tab.
        whole = not (before.isalnum() or before in "_.~/-") or text[at - 2 : at] in ("\\n", "\\t")
        after = text[end : end + 1]
        if whole and after == "/":
            pieces += (text[start:at], inside)
            start = end + 1
        elif whole and (after in ('"', "") or after.isspace()):
            pieces += (text[start:at], itself)
            start = end
        at = text.find(root, end)
    if not pieces:
        return text
    pieces.append(text[start:])
    return "".join(pieces)


def format_ts(ts: datetime) -> str:
    """Render an aware datetime as canonical UTC text."""
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    # isoformat is several times faster than strftime, and this runs per event; an
    # aware UTC time ends in "+00:00", which becomes the "Z".
    return ts.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(text: str) -> datetime:
    """Read canonical (or any ISO 8601) timestamp text as an aware UTC datetime."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8, lone surrogates kept) as hex digits."""
    return sha256_of(text.encode("utf-8", "surrogatepass"))


def sha256_of(data: bytes) -> str:
    """The SHA-256 of ``data`` as hex digits.

    From CPython's builtin module where it has one (``_sha2`` from 3.12, ``_sha256``
    before): hashlib loads OpenSSL, milliseconds the agent hooks need not pay.
    """
    global _sha256
    if _sha256 is None:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            try:
                from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
            except ImportError:  # a build without either
                from hashlib import sha256
        _sha256 = sha256
    digest: str = _sha256(data).hexdigest()
    return digest


_sha256: Any = None


def new_id(ms: int | None = None) -> str:
    """A UUIDv7 string: unique, and sorting by it sorts by creation time.

    ``ms`` is the creation time in milliseconds since the epoch, for a caller that has
    just read the clock (an event's time); by default now.
    """
    if ms is None:
        ms = time.time_ns() // 1_000_000
    while True:
        try:
            tail = _pool.pop()
            break
        except IndexError:  # other threads may empty a refill before this one pops
            _fill_pool()
    global _ms_prefix
    prefix = _ms_prefix  # one tuple, read and replaced whole: threads see a matching pair
    if prefix[0] != ms:  # events come many to a millisecond: its text is kept
        h = f"{ms:012x}"
        prefix = _ms_prefix = (ms, f"{h[:8]}-{h[8:]}-7")
    return prefix[1] + tail


# Random bits for ids, 400 ids' worth per os.urandom call: ids must be unique, not
# secret; a getrandom call per event costs, and `random` costs every hook its import.
# Each is kept as the id's text after the version digit (74 random bits: 3 hex, the
# variant's 2 bits and 14 more, 48 more), formatted in bulk: formatting an id one by one
# costs more than writing its event's line. list.pop and list.extend are atomic: two
# threads never take the same bits.
_POOL_IDS = 400
_pool: list[str] = []
_ms_prefix: tuple[int, str] = (-1, "")  # the last millisecond and its "tttttttt-tttt-7"
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # 0b10xx


def _fill_pool() -> None:
    h = os.urandom(_POOL_IDS * 10).hex()  # 20 hex digits per id, 74 bits of them used
    variant = _VARIANT
    # a list, not a generator: one extend, atomic, while other threads pop
    _pool.extend(
        [
            f"{h[i : i + 3]}-{variant[h[i + 3]]}{h[i + 4 : i + 7]}-{h[i + 7 : i + 19]}"
            for i in range(0, _POOL_IDS * 20, 20)
        ]
    )


def _seed_ids() -> None:
    """Drop the parent's unused random bits in a forked child, or it would repeat ids."""
    _pool.clear()


os.register_at_fork(after_in_child=_seed_ids)


def _converter() -> cattrs.Converter:
    if _CONVERTER:
        return _CONVERTER[0]
    _CONVERTER.append(_new_converter())
    return _CONVERTER[0]


_CONVERTER: list[cattrs.Converter] = []


def _new_converter() -> cattrs.Converter:
    # Built on first use: recording events and hook start-up never need cattrs, and
    # importing it costs more than the rest of bitloops together.
    from collections.abc import Sequence

    import cattrs

    from bitloops.model import Event

    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime, format_ts)
    conv.register_structure_hook(datetime, lambda value, _: parse_ts(value))

    # A sequence that knows its own form (the checkpoint's Transcript, backed by stored
    # lines) gives it through ``unstructure()``: read by duck typing, since the codec sits
    # below the checkpoint package and must not import it.
    def is_event_sequence(tp: Any) -> bool:
        return tp == Sequence[Event] or getattr(tp, "unstructures_events", False) is True

    def unstructure_events(events: Sequence[Event]) -> list[Any]:
        own = getattr(events, "unstructure", None)
        if own is not None and getattr(events, "unstructures_events", False) is True:
            return list(own())
        return [conv.unstructure(e, Event) for e in events]

    def structure_events(data: Any, _: Any) -> tuple[Event, ...]:
        return tuple(conv.structure(item, Event) for item in data)

    conv.register_unstructure_hook_func(is_event_sequence, unstructure_events)
    conv.register_structure_hook_func(is_event_sequence, structure_events)
    _read_older_summaries(conv)
    return conv


def _read_older_summaries(conv: cattrs.Converter) -> None:
    """Checkpoints made before why-records had sources kept constraints and plans as text."""
    import cattrs

    from bitloops.model import Constraint, Plan

    for cls, wrap in (
        (Constraint, lambda text: {"text": text}),
        (Plan, lambda text: {"tool": "record", "text": text, "source": "agent"}),
    ):
        plain = cattrs.gen.make_dict_structure_fn(cls, conv)

        def hook(value: Any, tp: Any, plain: Any = plain, wrap: Any = wrap) -> Any:
            return plain(wrap(value) if isinstance(value, str) else value, tp)

        conv.register_structure_hook(cls, hook)


def unstructure(obj: Any) -> Any:
    """Turn a model object into plain JSON-ready data.

    What cattrs would produce (``tests/test_codec.py`` checks they agree), by a walk of
    the attrs fields: a promotion unstructures its checkpoint in the git hook's process,
    where importing cattrs and generating its functions would cost more than the walk.
    """
    return _plain(obj)


_SCALARS = (str, int, float, bool, type(None))


# The field names of each attrs class met, or None for a type that is not one: a big
# checkpoint's header walks tens of thousands of why-records and their evidence.
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _plain(value: Any) -> Any:
    tp = type(value)
    if tp is str or tp is int or tp is float or tp is bool or value is None:
        return value
    try:
        names = _FIELD_NAMES[tp]
    except KeyError:
        fields = getattr(tp, "__attrs_attrs__", None)
        names = _FIELD_NAMES[tp] = None if fields is None else tuple(f.name for f in fields)
    if names is not None:
        out: dict[str, Any] = {}
        for name in names:
            item = getattr(value, name)
            it = type(item)
            # Most fields are text or numbers: kept without a call (a big header has
            # hundreds of thousands of them).
            if it is str or it is int or it is float or it is bool or item is None:
                out[name] = item
            elif it is tuple and all(type(x) is str for x in item):
                out[name] = list(item)  # applies_to, files, intent
            else:
                out[name] = _plain(item)
        return out
    if isinstance(value, _SCALARS):
        # An enum member only exists once enum is imported (the hooks never import it).
        enum = sys.modules.get("enum")
        return value.value if enum is not None and isinstance(value, enum.Enum) else value
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    unstructure_lines = getattr(value, "unstructure", None)  # a Transcript: from its lines
    if callable(unstructure_lines):
        return unstructure_lines()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def structure(data: Any, cls: type[T]) -> T:
    """Build a model object of type ``cls`` from plain data."""
    return _converter().structure(data, cls)


def event_line_parts(
    *,
    event_id: str,
    session_id: str,
    ts: str,
    kind: str,
    agent: str,
    model: str | None,
    payload_json: str,
    artefacts: tuple[str, ...] = (),
) -> tuple[str, str]:
    """The canonical JSON of an event, split around its ``seq`` value.

    ``prefix + str(seq) + suffix`` is the event's line, so the database can put in the
    seq it allocates. Built from parts, without re-serialising the payload: this is
    the recording hot path, and ``tests/test_codec.py`` proves it equals
    ``canonical_dumps(unstructure(event))``.
    """
    arts = "[" + ",".join(map(encode_basestring, artefacts)) + "]"
    mdl = "null" if model is None else encode_basestring(model)
    prefix = (
        f'{{"agent":{encode_basestring(agent)},"artefacts":{arts},'
        f'"event_id":{encode_basestring(event_id)},"kind":{encode_basestring(kind)},'
        f'"model":{mdl},"payload":{payload_json},"seq":'
    )
    suffix = f',"session_id":{encode_basestring(session_id)},"ts":{encode_basestring(ts)}}}'
    return prefix, suffix


def event_line(*, seq: int, **parts: Any) -> str:
    """The canonical JSON of an event; see :func:`event_line_parts` for the arguments."""
    prefix, suffix = event_line_parts(**parts)
    return f"{prefix}{seq}{suffix}"


def line_models(lines: Iterable[str]) -> list[tuple[str, str | None]]:
    """The distinct (agent, model) pairs of canonical event lines, without parsing them.

    In a canonical line ``agent`` comes first and ``model`` sits just before
    ``payload``; a bare ``,"model":`` cannot occur inside a JSON string (its quotes
    would be escaped), so plain searches find the two values.
    """
    seen: set[tuple[str, str]] = set()
    for line in lines:
        seen.add(
            (
                line[9 : line.index(',"artefacts":')],
                line[line.index(',"model":') + 9 : line.index(',"payload":')],
            )
        )
    pairs = {(loads(agent), loads(model)) for agent, model in seen}
    return sorted(pairs, key=lambda am: (am[0], am[1] is not None, am[1] or ""))


_decode = loads
#: :class:`~bitloops.model.Event`, once :func:`event_from_line` has imported it (the
#: model imports attrs, which the agent hooks that import this module do without).
_Event: type[Event] | None = None


def event_from_line(line: str) -> Event:
    """Rebuild an :class:`Event` from its stored canonical JSON line.

    A hot path (summaries and lookups parse thousands): it trusts the line's shape,
    which bitloops wrote itself, instead of validating through the converter;
    ``tests/test_codec.py`` proves both give equal events. Lines from outside (a
    folder on disk) go through :func:`structure`.
    """
    return event_of(_decode(line))


def event_of(d: dict[str, Any]) -> Event:
    """The :class:`Event` of a stored line's parsed object (see :func:`event_from_line`)."""
    global _Event
    event = _Event
    if event is None:  # imported once, not per call (a third of a call's time)
        from bitloops.model import Event

        event = _Event = Event
    return event(
        event_id=d["event_id"],
        session_id=d["session_id"],
        seq=d["seq"],
        ts=parse_ts(d["ts"]),
        kind=d["kind"],
        agent=d["agent"],
        model=d["model"],
        payload=d["payload"],
        artefacts=tuple(d["artefacts"]),
    )


def checkpoint_header(checkpoint: Checkpoint) -> dict[str, Any]:
    """The part of a checkpoint the content hash covers besides its events."""
    import attrs

    data: dict[str, Any] = unstructure(attrs.evolve(checkpoint, events=()))
    for key in ("events", "commits", "content_hash"):
        data.pop(key, None)
    return data


def content_hash(header: Mapping[str, Any] | str, event_lines: Iterable[str]) -> str:
    """SHA-256 (hex) of a checkpoint's canonical form; see the module docstring.

    ``header`` may be given as its canonical JSON text already (promotion stores it too).
    """
    import hashlib

    text = header if isinstance(header, str) else canonical_dumps(header)
    # Encoded a megabyte at a time (the same bytes: UTF-8 encodes each character on its
    # own): a big checkpoint's header is tens of megabytes.
    digest = hashlib.sha256()
    for start in range(0, len(text), 1 << 20):
        digest.update(text[start : start + (1 << 20)].encode())
    digest.update(b"\n")
    # A join and an update per batch of lines: far fewer calls than a pair per line, the
    # same bytes, and never a copy of the whole transcript in memory.
    for batch in line_batches(event_lines):
        digest.update(batch.encode())
    return digest.hexdigest()


def line_batches(lines: Iterable[str], size: int = 2048) -> Iterator[str]:
    """``lines``, each followed by a newline, joined in batches of ``size`` lines.

    What hashing and writing a transcript stream: the bytes of the whole, a bounded
    amount of it at a time.
    """
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            batch.append("")
            yield "\n".join(batch)
            batch.clear()
    if batch:
        batch.append("")
        yield "\n".join(batch)
