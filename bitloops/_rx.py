"""Regular expressions compiled once per interpreter, kept beside bitloops' bytecode.

An agent hook is a fresh process per event. ``import re`` costs it several milliseconds
(``enum`` and the pattern compiler, written in Python), and compiling the redaction's
token rules several more: together more than everything else the hook does. A compiled
pattern is a program for the C engine (``_sre``); :func:`compile` keeps each program it
has built in a file next to this module's bytecode (where ``.pyc`` files go, under
``sys.pycache_prefix`` when set, and not written when ``sys.dont_write_bytecode`` is), so
later processes hand it straight to the engine without importing ``re`` at all.

A program is kept only when the engine, given it, builds a pattern equal to what
``re.compile`` builds (same flags, same code, same groups); the file is keyed by the
interpreter's version and the engine's magic number and carries its programs' SHA-256,
and anything unreadable or changed counts as empty. So the cache can make a pattern
faster, never different.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the C engine behind re, untyped
import marshal
import os
import sys
from _thread import get_ident

TYPE_CHECKING = False  # spelled out: typing costs a hook more than this whole module

if TYPE_CHECKING:
    import re
    from typing import Any

__all__ = ["ASCII", "DOTALL", "IGNORECASE", "MULTILINE", "cache_path", "compile"]

#: ``re``'s flag values (fixed in ``re._constants``), so callers need not import ``re``.
IGNORECASE, MULTILINE, DOTALL, ASCII = 2, 8, 16, 256

#: Which interpreter and engine a cache file was written by.
_STAMP = (sys.hexversion, _sre.MAGIC, _sre.CODESIZE)
#: At most this many programs are kept (the oldest go first): bitloops has about 70,
#: the rest are older versions' patterns (users' own are never kept).
_KEEP = 256

Key = tuple["str | bytes", int]

_programs: dict[Key, tuple[Any, ...]] | None = None  # read from the file on first use
_compiled: dict[Key, re.Pattern[Any]] = {}


def compile(pattern: str | bytes, flags: int = 0, *, keep: bool = True) -> re.Pattern[Any]:
    """``re.compile(pattern, flags)``, from the cache when it holds the program.

    ``keep=False`` for a pattern that must not reach the cache file (a user's redaction
    pattern may spell out what it hides): compiled by ``re`` in each process.
    """
    key = (pattern, flags)
    rx = _compiled.get(key)
    if rx is not None:
        return rx
    programs = _programs if _programs is not None else _load()
    args = programs.get(key)
    if args is not None:
        try:
            rx = _sre.compile(*args)
        except Exception:  # a program this engine refuses: built anew below
            rx = None
    if rx is None:
        rx, args = _build(pattern, flags) if keep else (_re_compile(pattern, flags), None)
        if args is not None:
            _keep(key, args)
    _compiled[key] = rx
    return rx


def _re_compile(pattern: str | bytes, flags: int) -> re.Pattern[Any]:
    import re

    return re.compile(pattern, flags)


def _build(pattern: str | bytes, flags: int) -> tuple[re.Pattern[Any], tuple[Any, ...] | None]:
    """The pattern ``re.compile`` builds, and its program when the engine reproduces it."""
    import re
    from re import _compiler, _parser  # type: ignore[attr-defined]

    rx = re.compile(pattern, flags)
    try:
        parsed = _parser.parse(pattern, flags)
        state = parsed.state
        names: list[str | None] = [None] * state.groups
        for name, index in state.groupdict.items():
            names[index] = name
        args = (
            pattern,
            flags | state.flags,
            [int(op) for op in _compiler._code(parsed, flags)],  # named constants: ints
            state.groups - 1,
            dict(state.groupdict),
            tuple(names),
        )
        again = _sre.compile(*args)
    except Exception:  # the compiler's insides changed: no cache for this pattern
        return rx, None
    same = again == rx and again.groupindex == rx.groupindex and again.groups == rx.groups
    return rx, args if same else None


def cache_path() -> str | None:
    """The cache file, where this module's bytecode would go; None if there is none."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    # The exact version in the name: two builds of one minor version sharing a tree (an
    # editable install) would each find the other's file foreign and empty it.
    name = f"_rx.{tag}-{sys.hexversion:x}.programs"
    prefix = sys.pycache_prefix
    if prefix:
        return os.path.join(prefix, here.lstrip(os.sep), name)
    return os.path.join(here, "__pycache__", name)


def _read(path: str | None) -> dict[Key, tuple[Any, ...]]:
    """The programs in the cache file; empty when it is missing, foreign or damaged."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            stamp, check, body = marshal.loads(fh.read())
        if stamp != _STAMP or check != _checksum(body):
            return {}
        programs = marshal.loads(body)
    except Exception:  # any unreadable file is an empty cache
        return {}
    return programs if type(programs) is dict else {}


def _checksum(body: bytes) -> str:
    """The programs' SHA-256: a damaged file (a flipped bit that still unmarshals into
    a program) must not change what redaction matches."""
    from bitloops._codec import sha256_of  # the builtin SHA-256 the hooks load anyway

    return sha256_of(body)


def _load() -> dict[Key, tuple[Any, ...]]:
    global _programs
    _programs = _read(cache_path())
    return _programs


def _keep(key: Key, args: tuple[Any, ...]) -> None:
    """Add a program to the cache and the file (best effort, as for bytecode)."""
    programs = _programs if _programs is not None else _load()
    programs[key] = args
    path = cache_path()
    if path is None or sys.dont_write_bytecode:
        return
    merged = _read(path)  # other processes' programs stay; this one goes last (newest)
    merged.pop(key, None)
    merged[key] = args
    for old in list(merged)[: max(0, len(merged) - _KEEP)]:
        del merged[old]
    tmp = f"{path}.{os.getpid()}-{get_ident()}.tmp"  # each thread its own
    try:
        body = marshal.dumps(merged)
        data = marshal.dumps((_STAMP, _checksum(body), body))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except (OSError, ValueError):  # a read-only install: compile each time, as without it
        try:
            os.unlink(tmp)
        except OSError:
            pass
