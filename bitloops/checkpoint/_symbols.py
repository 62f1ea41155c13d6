"""Which files and code symbols a commit touched, worked out from ``git diff`` output.

:func:`parse_diff` reads the output of::

    git diff -U0 -M --no-color --no-ext-diff --no-textconv \\
        --src-prefix=a/ --dst-prefix=b/ <parent-or-empty-tree> <commit>

into one :class:`FileDiff` per file. :func:`touched_symbols` then maps the changed
lines of each file onto the modules, classes, functions and methods that contain them,
using the first :class:`SymbolExtractor` that handles the file. Python is handled by
:class:`PythonSymbols`; JavaScript, TypeScript, Go, Rust and Java by
:mod:`bitloops.checkpoint._symbols_treesitter` when the optional ``symbols`` extra is installed
(see :func:`default_extractors`); other languages plug in through the ``extractors``
argument.

Nothing here raises on odd input: an unreadable diff yields fewer files, an
unparsable or failing file yields fewer symbols.

Work is bounded, so that a huge generated file cannot make a commit's hook run for
minutes or its checkpoint grow to hundreds of megabytes: a file over
:data:`MAX_FILE_BYTES` is not read (no symbols, no changed lines), at most
:data:`MAX_SOURCE_BYTES` of source is read per checkpoint, and at most
:data:`MAX_SYMBOLS_PER_FILE` and :data:`MAX_SYMBOLS` symbols are kept per file and per
checkpoint. What the bounds leave out is said in a note starting with :data:`SKIPPED`,
which promotion adds to the checkpoint's ``Summary.symbols``.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import attrs

from bitloops.model import Symbol

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_SOURCE_BYTES",
    "MAX_SYMBOLS",
    "MAX_SYMBOLS_PER_FILE",
    "SKIPPED",
    "FileDiff",
    "PythonSymbols",
    "SymbolExtractor",
    "default_extractors",
    "fit_limits",
    "parse_diff",
    "touched_symbols",
]

#: A file larger than this (bytes, either side of the diff) is not read: no symbols and
#: no changed lines, only a note. Source files are far smaller; generated ones are not.
MAX_FILE_BYTES = 1 << 20
#: The most source read for the symbols of one checkpoint, in bytes (both sides).
MAX_SOURCE_BYTES = 32 << 20
#: The most symbols kept for one file (its module first, then by name).
MAX_SYMBOLS_PER_FILE = 1_000
#: The most symbols kept for one checkpoint.
MAX_SYMBOLS = 10_000
#: How a note of what the bounds left out starts (in ``Summary.symbols``).
SKIPPED = "skipped: "


# bitloops' own checkpoint folders; their files are data, not code.
_OWN_DIR = ".bitloops"

_KIND_ORDER = {"module": 0, "class": 1, "function": 2, "method": 3}


@attrs.frozen(kw_only=True)
class FileDiff:
    """One file of a commit's diff, with the line numbers that changed on each side.

    ``path`` is the path after the commit (for a deletion, the path before it);
    ``old_path`` is set only for renames and copies. ``change`` is one of
    ``"added"``, ``"modified"``, ``"deleted"`` or ``"renamed"`` (a copy counts as
    added, with ``old_path`` naming its source). ``new_lines`` holds the 1-based
    numbers of lines added or changed in the new file, ``old_lines`` those removed
    or changed in the old file; both are empty for a binary file, a mode-only change
    or a rename without edits.
    """

    path: str
    old_path: str | None
    change: str
    new_lines: frozenset[int]
    old_lines: frozenset[int]
    binary: bool = False


# Digit runs are capped so that int() never meets a number past its length limit.
_HUNK = re.compile(r"@@ -(\d{1,18})(?:,(\d{1,18}))? \+(\d{1,18})(?:,(\d{1,18}))? @@")

_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "t": 0x09,
    "n": 0x0A,
    "v": 0x0B,
    "f": 0x0C,
    "r": 0x0D,
    '"': 0x22,
    "\\": 0x5C,
}
_OCTAL = frozenset("01234567")


def _char_bytes(ch: str) -> bytes:
    try:
        return ch.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"?"


def _take_quoted(text: str) -> tuple[str, str]:
    """Unquote the C-style quoted name at the start of ``text``; return it and the rest.

    Git writes the escaped bytes of the path, so the name is rebuilt as bytes and
    decoded as UTF-8, with undecodable bytes kept as surrogate escapes (as
    :func:`os.fsdecode` does).
    """
    out = bytearray()
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return bytes(out).decode("utf-8", "surrogateescape"), text[i + 1 :]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            digits = text[i + 1 : i + 4]
            if len(digits) == 3 and set(digits) <= _OCTAL and int(digits, 8) <= 0xFF:
                out.append(int(digits, 8))
                i += 4
                continue
        out += _char_bytes(ch)
        i += 1
    return bytes(out).decode("utf-8", "surrogateescape"), ""


def _name(text: str) -> str:
    """A path as git printed it, unquoted when quoted."""
    if text.startswith('"'):
        return _take_quoted(text)[0]
    return text


def _split_header(rest: str) -> tuple[str | None, str | None]:
    """The two names of a ``diff --git a/X b/Y`` line, without their prefixes.

    Unquoted names may contain spaces, which makes the line ambiguous in general;
    outside renames and copies both names are equal, which settles it.
    """
    if rest.startswith('"'):
        first, remainder = _take_quoted(rest)
        second = _name(remainder[1:]) if remainder.startswith(" ") else None
    elif '"' in rest:
        # An unquoted name never contains a quote, so the first quote opens the second.
        cut = rest.index('"')
        first, second = rest[: max(cut - 1, 0)], _take_quoted(rest[cut:])[0]
    else:
        half = (len(rest) - 5) // 2
        if (
            len(rest) >= 5
            and len(rest) % 2 == 1
            and rest.startswith("a/")
            and rest[2 + half : 5 + half] == " b/"
            and rest[2 : 2 + half] == rest[5 + half :]
        ):
            first = second = rest[2 : 2 + half]
            return first, second
        cut = rest.find(" b/")
        if cut < 0:
            return None, None
        first, second = rest[:cut], rest[cut + 1 :]
    return (
        first.removeprefix("a/"),
        second.removeprefix("b/") if second is not None else None,
    )


def _label_path(text: str, prefix: str) -> tuple[str | None, bool]:
    """The name on a ``---``/``+++`` line, and whether it is ``/dev/null``."""
    # Git appends a tab to an unquoted name that contains a space.
    text = text.removesuffix("\t")
    if text == "/dev/null":
        return None, True
    return _name(text).removeprefix(prefix), False


@attrs.define
class _Pending:
    """What has been read so far of one file's section of the diff."""

    header_old: str | None = None
    header_new: str | None = None
    minus: str | None = None
    plus: str | None = None
    minus_null: bool = False
    plus_null: bool = False
    rename_from: str | None = None
    rename_to: str | None = None
    copy_from: str | None = None
    copy_to: str | None = None
    new_file: bool = False
    deleted_file: bool = False
    binary: bool = False
    new_lines: set[int] = attrs.field(factory=set)
    old_lines: set[int] = attrs.field(factory=set)

    def read_header(self, line: str) -> None:
        """Take in one extended header line; lines it does not know are ignored."""
        if line.startswith("new file mode "):
            self.new_file = True
        elif line.startswith("deleted file mode "):
            self.deleted_file = True
        elif line.startswith("rename from "):
            self.rename_from = _name(line[len("rename from ") :])
        elif line.startswith("rename to "):
            self.rename_to = _name(line[len("rename to ") :])
        elif line.startswith("copy from "):
            self.copy_from = _name(line[len("copy from ") :])
        elif line.startswith("copy to "):
            self.copy_to = _name(line[len("copy to ") :])
        elif line.startswith("--- "):
            self.minus, self.minus_null = _label_path(line[4:], "a/")
        elif line.startswith("+++ "):
            self.plus, self.plus_null = _label_path(line[4:], "b/")
        elif line == "GIT binary patch" or (
            line.startswith("Binary files ") and line.endswith(" differ")
        ):
            self.binary = True

    def finish(self) -> FileDiff | None:
        """The file this section describes, or None when no path could be read."""
        old = self.rename_from or self.copy_from or self.minus or self.header_old
        new = self.rename_to or self.copy_to or self.plus or self.header_new
        old_path: str | None = None
        if self.deleted_file or self.plus_null:
            change, path = "deleted", old or new
        elif self.new_file or self.minus_null:
            change, path = "added", new or old
        elif self.rename_from is not None or self.rename_to is not None:
            change, path, old_path = "renamed", new or old, old
        elif self.copy_from is not None or self.copy_to is not None:
            change, path, old_path = "added", new or old, old
        else:
            change, path = "modified", new or old
        if not path:
            return None
        return FileDiff(
            path=path,
            old_path=old_path if old_path != path else None,
            change=change,
            new_lines=frozenset(self.new_lines),
            old_lines=frozenset(self.old_lines),
            binary=self.binary,
        )


def parse_diff(diff_text: str) -> list[FileDiff]:
    """Split ``git diff -U0 -M`` output (see the module docstring) into its files.

    Files come in the order of the diff. Sections that name no path, and any text
    before the first ``diff --git`` line, are skipped; malformed lines are ignored.
    Hunk lines are counted against their ``@@`` header, so a removed line that looks
    like a header (``--- x``) is still read as content. Never raises.
    """
    files: list[FileDiff] = []
    current: _Pending | None = None
    old_left = new_left = old_no = new_no = 0

    def close() -> None:
        if current is not None:
            done = current.finish()
            if done is not None:
                files.append(done)

    for raw in diff_text.split("\n"):
        if current is not None and (old_left or new_left):
            tag = raw[:1]
            if tag == "-" and old_left:
                current.old_lines.add(old_no)
                old_no, old_left = old_no + 1, old_left - 1
                continue
            if tag == "+" and new_left:
                current.new_lines.add(new_no)
                new_no, new_left = new_no + 1, new_left - 1
                continue
            if tag == " " and old_left and new_left:
                old_no, old_left = old_no + 1, old_left - 1
                new_no, new_left = new_no + 1, new_left - 1
                continue
            if tag == "\\":
                continue
            old_left = new_left = 0
        line = raw.removesuffix("\r")
        if line.startswith("diff --git "):
            close()
            current = _Pending()
            current.header_old, current.header_new = _split_header(line[len("diff --git ") :])
            continue
        if current is None or line.startswith("\\"):
            continue
        hunk = _HUNK.match(line)
        if hunk is not None:
            old_no, new_no = int(hunk[1]), int(hunk[3])
            old_left = int(hunk[2]) if hunk[2] is not None else 1
            new_left = int(hunk[4]) if hunk[4] is not None else 1
            continue
        current.read_header(line)
    close()
    return files


@runtime_checkable
class SymbolExtractor(Protocol):
    """**Protocol:** finds the symbols of one language that changed lines fall in.

    Any object with these members will do; inheriting from it is optional.
    ``symbols`` receives the file's text on one side of the diff and the 1-based
    line numbers that changed on that side, and returns the touched symbols,
    reported under ``path``.
    """

    language: str

    def handles(self, path: str) -> bool:
        """True when this extractor reads files at ``path``."""
        ...

    def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
        """The symbols of ``source`` that contain any of ``lines``."""
        ...


class _Span(NamedTuple):
    start: int
    end: int
    depth: int
    symbol: Symbol


def _module_name(path: str) -> str:
    """The dotted module name of a file: ``src/pkg/__init__.py`` gives ``pkg``."""
    parts = [part for part in path.split("/") if part and part != "."]
    if not parts:
        return path
    last = parts[-1]
    for suffix in (".py", ".pyi"):
        if last.lower().endswith(suffix) and len(last) > len(suffix):
            last = last[: -len(suffix)]
            break
    parts[-1] = last
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    if parts[0] == "src" and len(parts) > 1:
        parts.pop(0)
    return ".".join(parts)


def _parse(source: str) -> ast.Module:
    # Invalid escapes in old code warn while parsing; that is noise here, and under
    # -W error it would turn into a SyntaxError and hide the file's symbols.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def _definitions(tree: ast.Module, path: str, language: str) -> list[_Span]:
    """Every class and function of ``tree`` with its qualified name and line span."""
    spans: list[_Span] = []
    # (node, qualified name of the enclosing definition, depth, directly in a class)
    todo: list[tuple[ast.AST, str, int, bool]] = [(tree, "", 0, False)]
    while todo:
        node, prefix, depth, in_class = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                continue  # definitions are statements; expressions never hold one
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                todo.append((child, prefix, depth, in_class))
                continue
            name = f"{prefix}.{child.name}" if prefix else child.name
            is_class = isinstance(child, ast.ClassDef)
            kind = "class" if is_class else "method" if in_class else "function"
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            end = max(child.end_lineno or child.lineno, start)
            symbol = Symbol(path=path, name=name, kind=kind, language=language)
            spans.append(_Span(start, end, depth + 1, symbol))
            todo.append((child, name, depth + 1, is_class))
    return spans


def _innermost(spans: Iterable[_Span], lines: Iterable[int]) -> list[Symbol]:
    """For each line, the innermost span containing it (spans nest, never overlap)."""
    ordered = sorted(spans, key=lambda span: (span.start, span.depth))
    found: dict[Symbol, None] = {}
    open_spans: list[_Span] = []
    nxt = 0
    for line in sorted(lines):
        while nxt < len(ordered) and ordered[nxt].start <= line:
            span = ordered[nxt]
            nxt += 1
            while open_spans and open_spans[-1].end < span.start:
                open_spans.pop()
            open_spans.append(span)
        while open_spans and open_spans[-1].end < line:
            open_spans.pop()
        if open_spans:
            found.setdefault(open_spans[-1].symbol, None)
    return list(found)


class PythonSymbols:
    """Finds touched Python modules, classes, functions and methods with :mod:`ast`.

    A changed line touches the innermost function, method or class whose span (from
    its first decorator to its last line) contains it, so a class is listed only
    for lines of its own: its header, decorators, or body outside its methods. The
    module is listed whenever any line changed. Names are qualified (``Class.method``,
    ``outer.inner``, ``Outer.Inner``); the module's is its dotted path, without a
    leading ``src/`` folder. Source that does not parse yields just the module.
    """

    language = "python"

    def handles(self, path: str) -> bool:
        """True for ``.py`` and ``.pyi`` files."""
        return path.lower().endswith((".py", ".pyi"))

    def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
        """The module, plus each definition holding one of ``lines``; never raises."""
        if not lines:
            return []
        module = Symbol(path=path, name=_module_name(path), kind="module", language=self.language)
        try:
            spans = _definitions(_parse(source), path, self.language)
            return [module, *_innermost(spans, lines)]
        except Exception:
            # Syntax errors, null bytes, lone surrogates, nesting too deep: whatever
            # the parser rejects still tells us the module changed.
            return [module]


def default_extractors() -> tuple[SymbolExtractor, ...]:
    """The extractors :func:`touched_symbols` uses when given none, in order of priority.

    :class:`PythonSymbols`, then a :class:`~bitloops.checkpoint.TreeSitterSymbols`
    for each of JavaScript, TypeScript, Go, Rust and Java whose grammar is installed
    (the ``symbols`` extra). Only the packages' presence is checked here: tree-sitter
    itself is imported when a file of one of those languages is first read.
    """
    try:
        from bitloops.checkpoint._symbols_treesitter import available_extractors

        others: tuple[SymbolExtractor, ...] = available_extractors()
    except Exception:
        others = ()
    return (PythonSymbols(), *others)


def _own(path: str) -> bool:
    return path == _OWN_DIR or path.startswith(_OWN_DIR + "/")


def _side(
    extractors: Sequence[SymbolExtractor],
    source_path: str,
    report_path: str,
    read: Callable[[str], str | None],
    lines: frozenset[int],
) -> list[Symbol]:
    """Symbols of one side of a file's diff, or none when nothing handles or reads it."""
    if not lines or _own(source_path) or _own(report_path):
        return []
    extractor = next((e for e in extractors if e.handles(source_path)), None)
    if extractor is None:
        return []
    text = read(source_path)
    if text is None:
        return []
    return [s for s in extractor.symbols(report_path, text, lines) if isinstance(s, Symbol)]


def _sort_key(symbol: Symbol) -> tuple[str, str, int, str, str]:
    rank = _KIND_ORDER.get(symbol.kind, len(_KIND_ORDER))
    return (symbol.path, symbol.name, rank, symbol.kind, symbol.language)


def _mib(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} bytes"


def _some(paths: Sequence[str], shown: int = 5) -> str:
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def fit_limits(
    diffs: Sequence[FileDiff],
    sizes: Callable[[FileDiff], Sequence[int]],
    notes: list[str],
) -> list[FileDiff]:
    """The files of ``diffs`` whose symbols are worth reading, within the bounds.

    ``sizes(diff)`` gives the byte size of each side that would be read. A file with a
    side over :data:`MAX_FILE_BYTES` is left out with a note (promotion has git show
    such a file as binary, so it has no changed lines), as are, in one note, the files
    past :data:`MAX_SOURCE_BYTES` read in all; another binary file is left out
    silently. Notes are appended to ``notes``.
    """
    kept: list[FileDiff] = []
    past_budget: list[str] = []
    total = 0
    for diff in diffs:
        own = list(sizes(diff))
        largest = max(own, default=0)
        if largest > MAX_FILE_BYTES:
            notes.append(
                f"{SKIPPED}{diff.path} ({_mib(largest)}; files over {_mib(MAX_FILE_BYTES)} "
                "get no symbols and no changed lines)"
            )
        elif diff.binary:
            continue
        elif total + sum(own) > MAX_SOURCE_BYTES:
            past_budget.append(diff.path)
        else:
            total += sum(own)
            kept.append(diff)
    if past_budget:
        notes.append(
            f"{SKIPPED}the symbols of {_some(past_budget)} (at most "
            f"{_mib(MAX_SOURCE_BYTES)} of source is read per checkpoint)"
        )
    return kept


def _too_big(text: str) -> bool:
    # Characters first: no copy for a text that is plainly too long, or plainly not.
    if len(text) > MAX_FILE_BYTES:
        return True
    return len(text) * 4 > MAX_FILE_BYTES and (
        len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES
    )


def touched_symbols(
    diffs: Sequence[FileDiff],
    read_new: Callable[[str], str | None],
    read_old: Callable[[str], str | None],
    extractors: Sequence[SymbolExtractor] | None = None,
    *,
    notes: list[str] | None = None,
) -> tuple[Symbol, ...]:
    """The symbols whose lines ``diffs`` changed, sorted by path, then name.

    For each file, the first extractor that handles the path being read looks at the
    new side (``new_lines`` over ``read_new(path)``) and at the old side (``old_lines``
    over ``read_old(old_path or path)``), so a symbol whose lines were only removed, or
    that was deleted, is found too. Both sides are reported under the file's
    ``path``, so a renamed file's symbols appear once, under its new name. Binary
    files, files under ``.bitloops/`` and sides whose text the reader cannot supply
    (it returns None) are skipped. A reader or extractor that fails on one file
    costs that file its symbols and nothing else; this function never raises.

    The bounds hold here too: a side over :data:`MAX_FILE_BYTES` is not parsed, a
    file keeps at most :data:`MAX_SYMBOLS_PER_FILE` symbols (its module first), and
    once :data:`MAX_SYMBOLS` are found the remaining files are not read. Each time,
    a note saying what was left out is appended to ``notes``, when given.
    """
    chosen = default_extractors() if extractors is None else tuple(extractors)
    said = notes if notes is not None else []
    found: set[Symbol] = set()
    unread: list[str] = []

    def bounded(read: Callable[[str], str | None]) -> Callable[[str], str | None]:
        def reader(path: str) -> str | None:
            text = read(path)
            if text is not None and _too_big(text):
                note = f"{SKIPPED}{path} (over {_mib(MAX_FILE_BYTES)}: no symbols)"
                if note not in said:  # both sides of one file: one note
                    said.append(note)
                return None
            return text

        return reader

    new_read, old_read = bounded(read_new), bounded(read_old)

    for diff in diffs:
        try:
            if diff.binary:
                continue
            if len(found) >= MAX_SYMBOLS:
                sources = {diff.path, diff.old_path or diff.path}
                if any(e.handles(path) for e in chosen for path in sources):
                    unread.append(diff.path)
                continue
            own: set[Symbol] = set()
            if diff.change != "deleted":
                own.update(_side(chosen, diff.path, diff.path, new_read, diff.new_lines))
            if diff.change != "added":
                old_path = diff.old_path or diff.path
                own.update(_side(chosen, old_path, diff.path, old_read, diff.old_lines))
        except Exception:
            # One bad file (a failing reader or plug-in) must not cost the checkpoint
            # the symbols of every other file.
            continue
        ordered = sorted(own - found, key=lambda s: (s.kind != "module", _sort_key(s)))
        room = min(MAX_SYMBOLS_PER_FILE, MAX_SYMBOLS - len(found))
        if len(ordered) > room:
            limit = "per file" if room == MAX_SYMBOLS_PER_FILE else "per checkpoint"
            most = MAX_SYMBOLS_PER_FILE if room == MAX_SYMBOLS_PER_FILE else MAX_SYMBOLS
            said.append(
                f"{SKIPPED}{len(ordered) - room:,} more symbols of {diff.path} "
                f"(at most {most:,} are kept {limit})"
            )
        found.update(ordered[:room])
    if unread:
        said.append(
            f"{SKIPPED}the symbols of {_some(unread)} (at most {MAX_SYMBOLS:,} symbols "
            "are kept per checkpoint)"
        )
    return tuple(sorted(found, key=_sort_key))
