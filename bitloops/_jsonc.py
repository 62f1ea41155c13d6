"""JSON text through CPython's C accelerator, without importing the ``json`` package.

An agent hook is a fresh process per event, and ``import json`` costs it more than a
millisecond, most of it ``re`` (``json.decoder`` compiles its whitespace regex), which
the hook otherwise does without (see :mod:`bitloops._rx`). The C scanner and encoder
that ``json`` itself drives do the same work here: :func:`loads` and :func:`dumps` give
exactly what ``json.loads`` and ``json.dumps`` give for the arguments they accept. Any
other case (an error to report, an indent, a ``cls``, an interpreter without ``_json``)
goes to the ``json`` package itself, imported then, so errors and edge cases stay
``json``'s own.
"""

from __future__ import annotations

TYPE_CHECKING = False  # spelled out: typing costs a hook more than this whole module

if TYPE_CHECKING:
    from collections.abc import Callable
    from json import JSONDecodeError as JSONDecodeError
    from typing import Any

__all__ = [
    "JSONDecodeError",
    "dumps",
    "encode_basestring",
    "loads",
    "make_encoder",
    "not_serializable",
    "parsed",
    "scan",
]

_INF = float("inf")
_CONSTANTS = {"-Infinity": -_INF, "Infinity": _INF, "NaN": _INF - _INF}
_SPACE = " \t\n\r"  # what json skips around a document


class _Settings:
    """What the C scanner reads from a decoder: those of ``json.loads`` with no options."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


encode_basestring: Callable[[str], str]
encode_basestring_ascii: Callable[[str], str]  # json's string encoder for ensure_ascii
#: The C encoder class (json's ``c_make_encoder``), or None without the accelerator.
make_encoder: Any
#: The C scanner of ``json.loads`` with no options: ``scan(text, index)`` is the value
#: starting at ``index`` and where it ends; StopIteration when there is none. For bad
#: JSON it raises json's JSONDecodeError, importing json to do so (Python 3.12+), or
#: SystemError while ``json.decoder`` is not imported (3.11 looks in ``sys.modules``).
scan: Callable[[str, int], tuple[Any, int]]
try:
    import _json as _accelerator
except ImportError:  # an interpreter without the accelerator: json's own, then
    import json as _json_package
    import json.encoder as _json_encoder

    encode_basestring = _json_encoder.encode_basestring
    encode_basestring_ascii = _json_encoder.encode_basestring_ascii
    make_encoder = None
    scan = _json_package.JSONDecoder().scan_once  # type: ignore[attr-defined]
else:
    _c: Any = _accelerator
    encode_basestring = _c.encode_basestring
    encode_basestring_ascii = _c.encode_basestring_ascii
    make_encoder = _c.make_encoder
    scan = _c.make_scanner(_Settings())


def _json() -> Any:
    import json

    return json


def __getattr__(name: str) -> Any:
    if name == "JSONDecodeError":  # read only when an ``except`` clause meets an error
        return _json().JSONDecodeError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Scanners with an ``object_pairs_hook``, by the hook (module-level functions: a few).
_PAIRS_SCANNERS: dict[Any, Callable[[str, int], tuple[Any, int]]] = {}


def _pairs_scanner(hook: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    try:
        found = _PAIRS_SCANNERS.get(hook)
    except TypeError:  # an unhashable hook: json's decoder, then
        return None
    if found is None and make_encoder is not None and len(_PAIRS_SCANNERS) < 16:
        settings = _Settings()
        settings.object_pairs_hook = hook  # type: ignore[assignment]
        found = _PAIRS_SCANNERS[hook] = _c.make_scanner(settings)
    return found


def loads(text: str | bytes | bytearray, **options: Any) -> Any:
    """``json.loads(text, **options)``; by the C scanner alone without options or with
    only ``object_pairs_hook``."""
    scanner: Any = scan
    if options:
        hook = options.get("object_pairs_hook")
        scanner = _pairs_scanner(hook) if len(options) == 1 and hook is not None else None
        if scanner is None:
            return _json().loads(text, **options)
    if not isinstance(text, str):
        # UTF-8 without a BOM (what json.detect_encoding calls utf-8); else json decides.
        plain = type(text) is bytes and len(text) >= 2 and text[1] != 0
        if not plain or text[0] in b"\x00\xef\xfe\xff":
            return _json().loads(text, **options)
        text = text.decode("utf-8", "surrogatepass")
    value = _scanned(text, scanner)
    if value is _NOT_JSON:  # no value, bad JSON, extra data: json says what is wrong
        return _json().loads(text, **options)
    return value


#: What :func:`parsed` needs at a text's end for the value that starts it.
_CLOSERS = {"{": "}", "[": "]", '"': '"'}


def parsed(text: str, missing: Any = None) -> Any:
    """``json.loads(text)`` of a text that may not be JSON at all; ``missing`` if not.

    Never imports json: tool output that only starts like JSON (``[main 1a2b3c] fix``)
    and a transcript's half-written last line are common, and reporting an error loads
    json (since Python 3.12 the C scanner loads it itself, so a text whose last
    character cannot close its first value is refused before it is scanned).
    """
    value = _scanned(text, scan)
    return missing if value is _NOT_JSON else value


_NOT_JSON = object()


def _scanned(text: str, scanner: Any) -> Any:
    """What ``json.loads(text)`` gives, by ``scanner`` alone; :data:`_NOT_JSON` where it
    fails (json's own white space around the value, nothing else after it)."""
    start = len(text) - len(text.lstrip(_SPACE))
    if start == len(text):
        return _NOT_JSON
    closer = _CLOSERS.get(text[start])
    if closer is not None:
        last = len(text) - 1
        while text[last] in _SPACE:  # (not rstrip: a copy of every transcript line)
            last -= 1
        if text[last] != closer:
            return _NOT_JSON
    try:
        value, end = scanner(text, start)
    except (StopIteration, ValueError, SystemError, RecursionError):
        return _NOT_JSON
    if end != len(text) and text[end:].lstrip(_SPACE):
        return _NOT_JSON
    return value


def not_serializable(value: Any) -> Any:
    """What json's encoder does with a value it cannot encode (its ``default``)."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps(
    value: Any,
    *,
    ensure_ascii: bool = True,
    allow_nan: bool = True,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
    **options: Any,
) -> str:
    """``json.dumps(value, ...)``; by the C encoder for the options named here."""
    if options or make_encoder is None:
        return str(
            _json().dumps(
                value,
                ensure_ascii=ensure_ascii,
                allow_nan=allow_nan,
                separators=separators,
                sort_keys=sort_keys,
                default=default,
                **options,
            )
        )
    item, key = separators if separators is not None else (", ", ": ")
    # As json.dumps does: a new encoder, with a fresh markers dict for its cycle check.
    encode = make_encoder(
        {},
        not_serializable if default is None else default,
        encode_basestring_ascii if ensure_ascii else encode_basestring,
        None,
        key,
        item,
        sort_keys,
        False,
        allow_nan,
    )
    return "".join(encode(value, 0))
