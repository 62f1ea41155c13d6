"""Tree-sitter symbols: real git diffs of JS, TS, Go, Rust and Java files."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_symbols import Repo

from bitloops.checkpoint import _symbols_treesitter as symbols_treesitter
from bitloops.checkpoint._symbols import SymbolExtractor, default_extractors, touched_symbols
from bitloops.checkpoint._symbols_treesitter import (
    LANGUAGES,
    TreeSitterSymbols,
    available_extractors,
)
from bitloops.model import Symbol

GRAMMARS = {
    "javascript": ["tree_sitter_javascript"],
    "typescript": ["tree_sitter_typescript"],
    "go": ["tree_sitter_go"],
    "rust": ["tree_sitter_rust"],
    "java": ["tree_sitter_java"],
}


def _importable(*modules: str) -> bool:
    """True when every module in ``modules`` imports."""
    try:
        for name in modules:
            __import__(name)
    except ImportError:
        return False
    return True


def needs(language: str) -> pytest.MarkDecorator:
    """Skip unless tree-sitter and ``language``'s grammar import (the ``symbols`` extra)."""
    modules = ["tree_sitter", *GRAMMARS[language]]
    return pytest.mark.skipif(
        not _importable(*modules),
        reason=f"{' and '.join(modules)} not installed: pip install 'bitloops[symbols]'",
    )


ALL_GRAMMARS = pytest.mark.skipif(
    not all(_importable("tree_sitter", *mods) for mods in GRAMMARS.values()),
    reason="tree-sitter grammars not installed: pip install 'bitloops[symbols]'",
)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A fresh, empty git repository."""
    return Repo(tmp_path / "repo")


def code(text: str) -> str:
    """``text`` dedented, without its first newline."""
    return textwrap.dedent(text).lstrip("\n")


def sym(path: str, name: str, kind: str, language: str) -> Symbol:
    """A Symbol, shorter."""
    return Symbol(path=path, name=name, kind=kind, language=language)


def edit(repo: Repo, path: str, before: str, after: str) -> tuple[Symbol, ...]:
    """Commit ``before`` then ``after`` at ``path``; the symbols the second commit touched."""
    repo.commit({path: before})
    repo.commit({path: after})
    return repo.symbols()


JS_V1 = code(
    """
    import { log } from "./log.js";

    export class Cart {
      constructor() {
        this.items = [];
      }

      add(item) {
        this.items.push(item);
      }
    }

    export function total(cart) {
      return cart.items.length;
    }
    """
)
JS_V2 = (
    JS_V1.replace("this.items.push(item);", "this.items.push({ ...item });")
    + "\n"
    + code(
        """
    export const clear = (cart) => {
      cart.items = [];
    };
    """
    )
)


@needs("javascript")
def test_javascript_method_changed_and_function_added(repo: Repo) -> None:
    """JS: an edited class method and a new arrow function, plus the module."""
    p = "web/cart.js"
    assert edit(repo, p, JS_V1, JS_V2) == (
        sym(p, "Cart.add", "method", "javascript"),
        sym(p, "clear", "function", "javascript"),
        sym(p, "web/cart", "module", "javascript"),
    )


TS_V1 = code(
    """
    export interface Shape {
      area(): number;
    }

    @sealed
    export class Circle implements Shape {
      constructor(private r: number) {}

      area(): number {
        return Math.PI * this.r * this.r;
      }
    }
    """
)
TS_V2 = TS_V1.replace("Math.PI * this.r * this.r", "Math.PI * this.r ** 2").replace(
    "  area(): number;\n", "  area(): number;\n  perimeter(): number;\n"
)


@needs("typescript")
def test_typescript_method_changed_and_interface_method_added(repo: Repo) -> None:
    """TS: an edited class method and a method added to an interface."""
    p = "src/shapes.ts"
    assert edit(repo, p, TS_V1, TS_V2) == (
        sym(p, "Circle.area", "method", "typescript"),
        sym(p, "Shape.perimeter", "method", "typescript"),
        sym(p, "src/shapes", "module", "typescript"),
    )


TSX_V1 = code(
    """
    import React from "react";

    type Props = { name: string };

    export function Hello({ name }: Props) {
      return <h1>Hello {name}</h1>;
    }

    export class Panel extends React.Component<Props> {
      render() {
        return <div>{this.props.name}</div>;
      }
    }
    """
)
TSX_V2 = TSX_V1.replace("<h1>Hello {name}</h1>", "<h1>Hi {name}!</h1>").replace(
    "  render() {", "  title(): string {\n    return this.props.name;\n  }\n\n  render() {"
)


@needs("typescript")
def test_tsx_function_changed_and_method_added(repo: Repo) -> None:
    """TSX (the tsx grammar): an edited component function and a new class method."""
    p = "ui/Hello.tsx"
    assert edit(repo, p, TSX_V1, TSX_V2) == (
        sym(p, "Hello", "function", "typescript"),
        sym(p, "Panel", "class", "typescript"),  # the blank line after title()
        sym(p, "Panel.title", "method", "typescript"),
        sym(p, "ui/Hello", "module", "typescript"),
    )


GO_V1 = code(
    """
    package stack

    type Stack[T any] struct {
    \titems []T
    }

    func (s *Stack[T]) Push(v T) {
    \ts.items = append(s.items, v)
    }

    func New[T any]() *Stack[T] {
    \treturn &Stack[T]{}
    }
    """
)
GO_V2 = (
    GO_V1.replace("append(s.items, v)", "append(s.items, v) // grow")
    + "\n"
    + code(
        """
    func (s Stack[T]) Len() int {
    \treturn len(s.items)
    }
    """
    )
)


@needs("go")
def test_go_method_changed_and_method_added(repo: Repo) -> None:
    """Go: methods are named Receiver.Method, pointer and generic receivers alike."""
    p = "pkg/stack/stack.go"
    assert edit(repo, p, GO_V1, GO_V2) == (
        sym(p, "Stack.Len", "method", "go"),
        sym(p, "Stack.Push", "method", "go"),
        sym(p, "pkg/stack/stack", "module", "go"),
    )


RUST_V1 = code(
    """
    use std::fmt;

    pub struct Point {
        x: i32,
        y: i32,
    }

    impl Point {
        pub fn norm(&self) -> i32 {
            self.x.abs() + self.y.abs()
        }
    }

    impl fmt::Display for Point {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "({}, {})", self.x, self.y)
        }
    }

    mod helpers {
        pub fn origin() -> (i32, i32) {
            (0, 0)
        }
    }
    """
)
RUST_V2 = RUST_V1.replace("self.x.abs() + self.y.abs()", "self.x.abs().max(self.y.abs())").replace(
    "    pub fn norm",
    "    pub fn flip(&self) -> Point {\n        Point { x: self.y, y: self.x }\n"
    "    }\n\n    pub fn norm",
)


@needs("rust")
def test_rust_impl_method_changed_and_added(repo: Repo) -> None:
    """Rust: methods of ``impl Type`` are named Type.method."""
    p = "src/point.rs"
    assert edit(repo, p, RUST_V1, RUST_V2) == (
        sym(p, "Point", "class", "rust"),  # the blank line after flip(), in the impl block
        sym(p, "Point.flip", "method", "rust"),
        sym(p, "Point.norm", "method", "rust"),
        sym(p, "src/point", "module", "rust"),
    )


@needs("rust")
def test_rust_trait_impl_inline_module_and_struct(repo: Repo) -> None:
    """Rust: trait impl methods, functions in ``mod`` blocks and struct fields."""
    p = "src/point.rs"
    after = (
        RUST_V1.replace("    y: i32,\n}", "    y: i32,\n    z: i32,\n}")
        .replace('"({}, {})"', '"<{}, {}>"')
        .replace("(0, 0)", "(0, 1)")
    )
    assert edit(repo, p, RUST_V1, after) == (
        sym(p, "Point", "class", "rust"),
        sym(p, "Point.fmt", "method", "rust"),
        sym(p, "helpers.origin", "function", "rust"),
        sym(p, "src/point", "module", "rust"),
    )


JAVA_V1 = code(
    """
    package com.example;

    public class Account {
        private long balance;

        @Override
        public String toString() {
            return "Account(" + balance + ")";
        }

        public void deposit(long amount) {
            balance += amount;
        }

        static class Audit {
            void record(String what) {
                System.out.println(what);
            }
        }
    }
    """
)
JAVA_V2 = JAVA_V1.replace(
    "balance += amount;", "balance = Math.addExact(balance, amount);"
).replace("        void record", "        Audit() {\n        }\n\n        void record")


@needs("java")
def test_java_method_changed_and_constructor_added(repo: Repo) -> None:
    """Java: an edited method and a constructor added to a nested class."""
    p = "src/main/java/com/example/Account.java"
    assert edit(repo, p, JAVA_V1, JAVA_V2) == (
        sym(p, "Account.Audit", "class", "java"),  # the blank line after the constructor
        sym(p, "Account.Audit.Audit", "method", "java"),
        sym(p, "Account.deposit", "method", "java"),
        sym(p, "src/main/java/com/example/Account", "module", "java"),
    )


@needs("java")
def test_java_removed_method_and_annotation(repo: Repo) -> None:
    """Java: a deleted method is found on the old side; an annotation line is its method's."""
    p = "Account.java"
    after = JAVA_V1.replace("    @Override\n", "    @Deprecated\n").replace(
        "    public void deposit(long amount) {\n        balance += amount;\n    }\n\n",
        "",
    )
    assert edit(repo, p, JAVA_V1, after) == (
        sym(p, "Account", "module", "java"),
        sym(p, "Account", "class", "java"),  # the blank line removed with deposit()
        sym(p, "Account.deposit", "method", "java"),
        sym(p, "Account.toString", "method", "java"),
    )


@ALL_GRAMMARS
def test_mixed_commit_with_python(repo: Repo) -> None:
    """One commit touching Python, Go and an unknown language reports each in order."""
    py_v1 = "def f():\n    return 1\n"
    repo.commit({"app.py": py_v1, "main.go": GO_V1, "notes.txt": "a\n"})
    repo.commit({"app.py": py_v1.replace("1", "2"), "main.go": GO_V2, "notes.txt": "b\n"})
    found = repo.symbols()
    assert [(s.path, s.name, s.language) for s in found] == [
        ("app.py", "app", "python"),
        ("app.py", "f", "python"),
        ("main.go", "Stack.Len", "go"),
        ("main.go", "Stack.Push", "go"),
        ("main.go", "main", "go"),
    ]


@ALL_GRAMMARS
def test_default_extractors_include_installed_languages() -> None:
    """With the extra installed, Python comes first, then every tree-sitter language."""
    found = default_extractors()
    assert [e.language for e in found] == ["python", *LANGUAGES]
    assert all(isinstance(e, SymbolExtractor) for e in found)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a.js", "javascript"),
        ("a.jsx", "javascript"),
        ("a.mjs", "javascript"),
        ("a.cjs", "javascript"),
        ("a.ts", "typescript"),
        ("a.d.ts", "typescript"),
        ("A.TSX", "typescript"),
        ("a.go", "go"),
        ("a.rs", "rust"),
        ("A.java", "java"),
        ("a.py", None),
        ("a.json", None),
        (".ts", None),
        ("go", None),
    ],
)
def test_handles_by_suffix(path: str, language: str | None) -> None:
    """Each extractor handles its own suffixes only, whether or not its grammar exists."""
    handling = [name for name in LANGUAGES if TreeSitterSymbols(name).handles(path)]
    assert handling == ([language] if language else [])


def test_unknown_language_is_rejected() -> None:
    """Asking for a language without a grammar table is a programming error."""
    with pytest.raises(ValueError, match="unknown language 'cobol'"):
        TreeSitterSymbols("cobol")


@needs("go")
def test_syntax_error_yields_only_module(repo: Repo) -> None:
    """A file that does not parse cleanly reports its module and nothing else."""
    p = "broken.go"
    before = "package x\n\nfunc f() int {\n\treturn 1\n"
    assert edit(repo, p, before, before.replace("1", "2")) == (sym(p, "broken", "module", "go"),)


@needs("typescript")
def test_d_ts_module_name_and_declarations(repo: Repo) -> None:
    """``.d.ts`` files drop the whole suffix; ``declare`` functions are functions."""
    p = "types/api.d.ts"
    before = "export declare function get(url: string): Promise<string>;\n"
    after = before.replace("url: string", "url: URL")
    assert edit(repo, p, before, after) == (
        sym(p, "get", "function", "typescript"),
        sym(p, "types/api", "module", "typescript"),
    )


@pytest.fixture
def without_tree_sitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import tree_sitter`` fail, as when the extra is not installed."""
    monkeypatch.setitem(sys.modules, "tree_sitter", None)
    monkeypatch.setattr(symbols_treesitter, "_LOADED", {})


@pytest.mark.usefixtures("without_tree_sitter")
def test_without_the_extra_only_python_has_symbols(repo: Repo) -> None:
    """Without tree-sitter the defaults are Python only; other files stay in the diff."""
    assert available_extractors() == ()
    assert [e.language for e in default_extractors()] == ["python"]
    repo.commit({"app.py": "A = 1\n", "main.go": GO_V1})
    repo.commit({"app.py": "A = 2\n", "main.go": GO_V2})
    assert [d.path for d in repo.diff()] == ["app.py", "main.go"]
    assert repo.symbols() == (Symbol(path="app.py", name="app", kind="module"),)


@pytest.mark.usefixtures("without_tree_sitter")
def test_without_the_extra_explicit_extractor_gives_module(repo: Repo) -> None:
    """An extractor whose grammar cannot be imported reports just the module."""
    repo.commit({"main.go": GO_V1})
    repo.commit({"main.go": GO_V2})
    found = touched_symbols(
        repo.diff(), repo.reader("HEAD"), repo.reader("HEAD^"), [TreeSitterSymbols("go")]
    )
    assert found == (sym("main.go", "main", "module", "go"),)


def test_grammar_import_failure_gives_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grammar whose import raises (not just ImportError) costs only the symbols."""

    def broken(name: str) -> object:
        raise RuntimeError(f"cannot load {name}")

    monkeypatch.setattr(symbols_treesitter, "_import", broken)
    monkeypatch.setattr(symbols_treesitter, "_LOADED", {})
    for name in LANGUAGES:
        extractor = TreeSitterSymbols(name)
        path = "f" + next(iter(LANGUAGES[name].suffixes))
        assert extractor.symbols(path, "x", frozenset({1})) == [sym(path, "f", "module", name)]


_LAZY_SCRIPT = """
import subprocess, sys
from pathlib import Path
import bitloops

root = Path(sys.argv[1])
def git(*args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
git("init", "-q")
git("config", "user.name", "T")
git("config", "user.email", "t@example.com")
(root / "README.md").write_text("x\\n")
git("add", "-A"); git("commit", "-q", "-m", "init")
repo = bitloops.Repository.open(root)
def commit(name, text):
    s = repo.start_session(agent="claude-code")
    s.prompt("change " + name)
    s.file_change(name, "modified")
    (root / name).write_text(text)
    git("add", "-A"); git("commit", "-q", "-m", name)
    cp = repo.promote("HEAD")
    return sorted((x.name, x.kind) for x in cp.symbols)
print(commit("app.py", "def f():\\n    return 1\\n"), "tree_sitter" in sys.modules)
print(commit("main.go", "package main\\n\\nfunc main() {}\\n"), "tree_sitter" in sys.modules)
repo.close()
"""


@needs("go")
def test_tree_sitter_is_imported_only_for_its_languages(tmp_path: Path) -> None:
    """Promoting a Python-only commit leaves tree_sitter unimported; a Go commit loads it."""
    repo = tmp_path / "lazy"
    repo.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _LAZY_SCRIPT, str(repo)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[('app', 'module'), ('f', 'function')] False",
        "[('main', 'function'), ('main', 'module')] True",
    ]


_ODD_SOURCES = st.one_of(
    st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]))),
    st.lists(
        st.sampled_from(
            ["class A {", "}", "fn f() {", "func (s *S) M() {", "impl X {", "\x00", "(", "\n"]
        )
    ).map("".join),
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(LANGUAGES)), _ODD_SOURCES, st.frozensets(st.integers(-5, 40), min_size=1)
)
def test_tree_sitter_symbols_never_raise(language: str, source: str, lines: frozenset[int]) -> None:
    """Any text and any line numbers give the module first, never an error."""
    path = "dir/file" + next(iter(LANGUAGES[language].suffixes))
    found = TreeSitterSymbols(language).symbols(path, source, lines)
    assert found[0] == sym(path, "dir/file", "module", language)
    assert all(s.path == path and s.language == language for s in found)


def test_grammar_packages_are_only_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """available_extractors finds grammars with find_spec, importing nothing."""
    looked: list[str] = []

    def find_spec(name: str) -> object:
        looked.append(name)
        return None if name == "tree_sitter_rust" else object()

    def no_import(name: str) -> object:
        raise AssertionError(f"imported {name}")

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(symbols_treesitter, "_import", no_import)
    assert [e.language for e in available_extractors()] == [
        "javascript",
        "typescript",
        "go",
        "java",
    ]
    assert "tree_sitter" in looked and "tree_sitter_rust" in looked
