"""Touched symbols of JavaScript, TypeScript, Go, Rust and Java files, with tree-sitter.

:class:`TreeSitterSymbols` is a :class:`~bitloops.checkpoint._symbols.SymbolExtractor` for one
language. It needs the optional ``symbols`` extra (``pip install 'bitloops[symbols]'``),
which brings ``tree-sitter`` and one grammar package per language. Nothing from
tree-sitter is imported until a file of that language is read: importing this module,
or listing the extractors with :func:`available_extractors`, only checks that the
packages are installed.

The semantics are those of :class:`~bitloops.checkpoint._symbols.PythonSymbols`: a changed line
touches the innermost named definition that contains it, names are qualified
(``Class.method``, ``Outer.Inner``, ``outer.inner``), and the file itself is reported
as a ``module`` whenever any line changed. Kinds are ``module``, ``class`` (classes,
structs, interfaces, traits, enums, records, type declarations and Rust ``impl``
blocks), ``function`` and ``method``. A file that does not parse cleanly, or a
grammar that cannot be loaded, yields just the module; nothing here raises.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from bitloops.checkpoint._symbols import _innermost, _Span
from bitloops.model import Symbol

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["LANGUAGES", "TreeSitterSymbols", "available_extractors"]


class _Grammar(NamedTuple):
    """Where a grammar lives: its package and the function returning its language."""

    module: str
    function: str


# What a definition node is: a type-like container, something callable, or a module.
_TYPE, _CALLABLE, _MODULE = "class", "callable", "module"


class _Def(NamedTuple):
    """A definition found at one node: its category and (unqualified) name."""

    category: str
    name: str
    # Methods whose name already says where they belong (Go's ``Receiver.Method``).
    absolute: bool = False


_Classifier = Callable[["Node"], "_Def | None"]


def _text(node: Node | None) -> str | None:
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.decode("utf-8", "replace").split())
    return text or None


def _field_text(node: Node, field: str) -> str | None:
    return _text(node.child_by_field_name(field))


# --- JavaScript and TypeScript ---------------------------------------------------------

_JS_TYPES = frozenset(
    {
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "enum_declaration",
        "type_alias_declaration",
    }
)
_JS_CALLABLES = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_signature",
        "method_definition",
        "method_signature",
        "abstract_method_signature",
    }
)
_JS_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_JS_CLASS_VALUES = frozenset({"class"})


def _javascript(node: Node) -> _Def | None:
    kind = node.type
    if kind in _JS_TYPES:
        name = _field_text(node, "name")
        return _Def(_TYPE, name) if name else None
    if kind in _JS_CALLABLES:
        name = _field_text(node, "name")
        return _Def(_CALLABLE, name) if name else None
    if kind in ("variable_declarator", "field_definition", "public_field_definition"):
        # ``const f = () => {}``, ``handle = () => {}`` in a class, ``let C = class {}``.
        target = node.child_by_field_name("name") or node.child_by_field_name("property")
        value = node.child_by_field_name("value")
        if target is None or value is None:
            return None
        if target.type not in ("identifier", "property_identifier", "private_property_identifier"):
            return None
        name = _text(target)
        if not name:
            return None
        if value.type in _JS_FUNCTION_VALUES:
            return _Def(_CALLABLE, name)
        if value.type in _JS_CLASS_VALUES:
            return _Def(_TYPE, name)
        return None
    if kind in ("internal_module", "module"):
        # ``namespace N {}`` and ``declare module "x" {}``.
        name = _field_text(node, "name")
        if not name or node.child_by_field_name("body") is None:
            return None
        return _Def(_MODULE, name.strip("\"'`"))
    return None


# --- Go --------------------------------------------------------------------------------


def _go_type_name(node: Node | None) -> str | None:
    """The base name of a receiver type: ``*Stack[T]`` gives ``Stack``."""
    while node is not None:
        if node.type in ("type_identifier", "identifier"):
            return _text(node)
        if node.type in ("pointer_type", "parenthesized_type"):
            node = next((c for c in node.named_children if c.type != "comment"), None)
        elif node.type == "generic_type":
            node = node.child_by_field_name("type")
        elif node.type == "qualified_type":
            node = node.child_by_field_name("name")
        else:
            return _text(node)
    return None


def _go(node: Node) -> _Def | None:
    kind = node.type
    if kind == "function_declaration":
        name = _field_text(node, "name")
        return _Def(_CALLABLE, name) if name else None
    if kind == "method_declaration":
        name = _field_text(node, "name")
        if not name:
            return None
        receiver = node.child_by_field_name("receiver")
        children = receiver.named_children if receiver is not None else []
        params = [c for c in children if c.type == "parameter_declaration"]
        owner = _go_type_name(params[0].child_by_field_name("type")) if params else None
        return _Def(_CALLABLE, f"{owner}.{name}" if owner else name, absolute=bool(owner))
    if kind in ("type_spec", "type_alias"):
        name = _field_text(node, "name")
        return _Def(_TYPE, name) if name else None
    if kind in ("method_elem", "method_spec"):
        name = _field_text(node, "name")
        return _Def(_CALLABLE, name) if name else None
    return None


# --- Rust ------------------------------------------------------------------------------

_RUST_TYPES = frozenset({"struct_item", "enum_item", "union_item", "trait_item", "type_item"})


def _rust_type_name(node: Node | None) -> str | None:
    """The base name of an ``impl`` target: ``Vec<T>`` gives ``Vec``, ``a::B`` ``B``."""
    while node is not None:
        if node.type in ("type_identifier", "primitive_type", "identifier"):
            return _text(node)
        if node.type == "generic_type":
            node = node.child_by_field_name("type")
        elif node.type == "scoped_type_identifier":
            node = node.child_by_field_name("name")
        elif node.type in ("reference_type", "pointer_type"):
            node = node.child_by_field_name("type")
        else:
            return _text(node)
    return None


def _rust(node: Node) -> _Def | None:
    kind = node.type
    if kind in ("function_item", "function_signature_item"):
        name = _field_text(node, "name")
        return _Def(_CALLABLE, name) if name else None
    if kind in _RUST_TYPES:
        name = _field_text(node, "name")
        return _Def(_TYPE, name) if name else None
    if kind == "impl_item":
        name = _rust_type_name(node.child_by_field_name("type"))
        return _Def(_TYPE, name) if name else None
    if kind == "mod_item":
        name = _field_text(node, "name")
        if not name or node.child_by_field_name("body") is None:
            return None
        return _Def(_MODULE, name)
    return None


# --- Java ------------------------------------------------------------------------------

_JAVA_TYPES = frozenset(
    {
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
    }
)
_JAVA_CALLABLES = frozenset(
    {
        "method_declaration",
        "constructor_declaration",
        "compact_constructor_declaration",
        "annotation_type_element_declaration",
    }
)


def _java(node: Node) -> _Def | None:
    if node.type in _JAVA_TYPES:
        name = _field_text(node, "name")
        return _Def(_TYPE, name) if name else None
    if node.type in _JAVA_CALLABLES:
        name = _field_text(node, "name")
        return _Def(_CALLABLE, name) if name else None
    return None


# --- The languages ---------------------------------------------------------------------


class _Language(NamedTuple):
    """One language: its file suffixes, each with its grammar, and its classifier."""

    suffixes: dict[str, _Grammar]
    classify: _Classifier


_JS = _Grammar("tree_sitter_javascript", "language")
_TS = _Grammar("tree_sitter_typescript", "language_typescript")
_TSX = _Grammar("tree_sitter_typescript", "language_tsx")

#: The languages :class:`TreeSitterSymbols` knows, by name.
LANGUAGES: dict[str, _Language] = {
    "javascript": _Language(dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), _JS), _javascript),
    "typescript": _Language(
        {".ts": _TS, ".mts": _TS, ".cts": _TS, ".d.ts": _TS, ".tsx": _TSX}, _javascript
    ),
    "go": _Language({".go": _Grammar("tree_sitter_go", "language")}, _go),
    "rust": _Language({".rs": _Grammar("tree_sitter_rust", "language")}, _rust),
    "java": _Language({".java": _Grammar("tree_sitter_java", "language")}, _java),
}

# Loaded grammars (tree_sitter.Language objects); failures are not remembered.
_LOADED: dict[_Grammar, Any] = {}


def _import(name: str) -> Any:
    """Import a module by name; the one place this module imports tree-sitter."""
    return importlib.import_module(name)


def _installed(name: str) -> bool:
    """True when the top-level package ``name`` can be found, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _load(grammar: _Grammar) -> Any:
    """The ``tree_sitter.Language`` of ``grammar``, or None when it cannot be loaded."""
    loaded = _LOADED.get(grammar)
    if loaded is not None:
        return loaded
    try:
        tree_sitter = _import("tree_sitter")
        language = tree_sitter.Language(getattr(_import(grammar.module), grammar.function)())
    except Exception:
        return None
    _LOADED[grammar] = language
    return language


def _encode(source: str) -> bytes:
    try:
        return source.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Surrogates that stand for no byte; replacing them keeps every line in place.
        return source.encode("utf-8", "replace")


def _definitions(root: Node, path: str, language: str, classify: _Classifier) -> list[_Span]:
    """Every named definition under ``root`` with its qualified name and line span."""
    spans: list[_Span] = []
    # (node, qualified name of the enclosing definition, its category, depth)
    todo: list[tuple[Node, str, str, int]] = [(root, "", "", 0)]
    while todo:
        node, prefix, outer, depth = todo.pop()
        for child in node.named_children:
            found = classify(child)
            if found is None:
                todo.append((child, prefix, outer, depth))
                continue
            qualify = prefix and not found.absolute
            name = f"{prefix}.{found.name}" if qualify else found.name
            if found.category == _CALLABLE:
                kind = "method" if outer == _TYPE or found.absolute else "function"
            else:
                kind = found.category
            symbol = Symbol(path=path, name=name, kind=kind, language=language)
            start, end = _lines(child)
            spans.append(_Span(start, end, depth + 1, symbol))
            todo.append((child, name, found.category, depth + 1))
    return spans


_WRAPPERS = frozenset(
    {"export_statement", "lexical_declaration", "variable_declaration", "type_declaration"}
)


def _lines(node: Node) -> tuple[int, int]:
    """The 1-based first and last line of a definition, with its decorators and wrapper.

    A lone definition inside ``export``, ``const`` or Go's ``type`` starts where that
    wrapper does, and decorators written just before it (TypeScript class members)
    count as its own lines.
    """
    first = node
    while first.parent is not None and first.parent.type in _WRAPPERS:
        if len(first.parent.named_children) > 1 and first.parent.type != "export_statement":
            break
        first = first.parent
    start = first.start_point.row
    sibling = first.prev_named_sibling
    while sibling is not None and sibling.type == "decorator":
        start = sibling.start_point.row
        sibling = sibling.prev_named_sibling
    end_row, end_col = node.end_point.row, node.end_point.column
    end = end_row if end_col == 0 and end_row > node.start_point.row else end_row + 1
    return start + 1, max(end, start + 1)


def _module_name(path: str, suffix: str) -> str:
    """The file's path without its language suffix: ``src/app.ts`` gives ``src/app``."""
    stripped = path[: -len(suffix)] if path.lower().endswith(suffix) else path
    return stripped.removeprefix("./") or path


class TreeSitterSymbols:
    """Finds the touched symbols of one language's files with a tree-sitter grammar.

    ``language`` is one of the keys of :data:`LANGUAGES` (``javascript``,
    ``typescript``, ``go``, ``rust``, ``java``). The grammar is loaded the first time a
    file is read; if it cannot be (the ``symbols`` extra is not installed), or the file
    has syntax errors, only the module is reported. The module's name is the file's
    path without its suffix.
    """

    def __init__(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; known: {sorted(LANGUAGES)}")
        self.language = language
        self._spec = LANGUAGES[language]
        # Longest first, so that ``.d.ts`` wins over ``.ts``.
        self._suffixes = sorted(self._spec.suffixes, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"TreeSitterSymbols({self.language!r})"

    def _suffix(self, path: str) -> str | None:
        lower = path.lower()
        return next((s for s in self._suffixes if lower.endswith(s) and len(lower) > len(s)), None)

    def handles(self, path: str) -> bool:
        """True for the file suffixes of this language (``.ts`` and ``.tsx`` for TS...)."""
        return self._suffix(path) is not None

    def available(self) -> bool:
        """True when tree-sitter and this language's grammars are installed (not imported)."""
        modules = {"tree_sitter", *(g.module for g in self._spec.suffixes.values())}
        return all(_installed(name) for name in sorted(modules))

    def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
        """The module, plus each definition holding one of ``lines``; never raises."""
        if not lines:
            return []
        suffix = self._suffix(path) or ""
        name = _module_name(path, suffix)
        module = Symbol(path=path, name=name, kind="module", language=self.language)
        try:
            grammar = self._spec.suffixes.get(suffix)
            language = _load(grammar) if grammar is not None else None
            if language is None:
                return [module]
            tree = _import("tree_sitter").Parser(language).parse(_encode(source))
            root: Node = tree.root_node
            if root.has_error:
                return [module]
            spans = _definitions(root, path, self.language, self._spec.classify)
            return [module, *_innermost(spans, lines)]
        except Exception:
            return [module]


def available_extractors() -> tuple[TreeSitterSymbols, ...]:
    """An extractor for each language whose grammar is installed, without importing it."""
    found = (TreeSitterSymbols(name) for name in LANGUAGES)
    return tuple(extractor for extractor in found if extractor.available())
