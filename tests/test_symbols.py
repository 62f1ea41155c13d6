"""Touched symbols: diffs come from the real git binary in throwaway repos."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitloops.checkpoint import _symbols
from bitloops.checkpoint._symbols import (
    FileDiff,
    PythonSymbols,
    SymbolExtractor,
    default_extractors,
    parse_diff,
    touched_symbols,
)
from bitloops.model import Symbol

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
DIFF = [
    "diff",
    "-U0",
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
]
# Keep the host's git configuration (signing, external diff drivers...) out of the tests.
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

Files = Mapping[str, str | bytes | None]


class Repo:
    """A temporary git repository with helpers to commit files and diff commits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.git("init", "-q")
        self.git("config", "user.name", "Test Author")
        self.git("config", "user.email", "author@example.com")

    def git(self, *args: str, quotepath: bool = False) -> bytes:
        """Run git in the repository and return its stdout."""
        config = [] if quotepath else ["-c", "core.quotepath=false"]
        done = subprocess.run(
            ["git", *config, "-C", str(self.root), *args],
            capture_output=True,
            check=True,
            env=GIT_ENV,
        )
        return done.stdout

    def commit(self, files: Files, message: str = "change") -> str:
        """Write (or, for None, delete) ``files``, commit everything, return the sha."""
        for name, content in files.items():
            target = self.root / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_bytes(content.encode("utf-8"))
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").decode().strip()

    def diff_text(
        self, commit: str = "HEAD", parent: str | None = None, *, quotepath: bool = False
    ) -> str:
        """The raw output of the diff command bitloops runs for ``commit``."""
        base = parent if parent is not None else f"{commit}^"
        out = self.git(*DIFF, base, commit, quotepath=quotepath)
        return out.decode("utf-8", "surrogateescape")

    def diff(self, commit: str = "HEAD", parent: str | None = None) -> list[FileDiff]:
        """``commit``'s diff against ``parent`` (default: its first parent), parsed."""
        return parse_diff(self.diff_text(commit, parent))

    def reader(self, rev: str, calls: list[str] | None = None) -> Callable[[str], str | None]:
        """A reader of file texts at ``rev``, recording the paths asked for in ``calls``."""

        def read(path: str) -> str | None:
            if calls is not None:
                calls.append(path)
            try:
                blob = self.git("cat-file", "blob", f"{rev}:{path}")
            except subprocess.CalledProcessError:
                return None
            return blob.decode("utf-8", "surrogateescape")

        return read

    def symbols(self, commit: str = "HEAD", parent: str | None = None) -> tuple[Symbol, ...]:
        """The symbols ``commit`` touched, read from git like bitloops does."""
        base = parent if parent is not None else f"{commit}^"
        return touched_symbols(self.diff(commit, parent), self.reader(commit), self.reader(base))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A fresh, empty git repository."""
    return Repo(tmp_path / "repo")


def kinds(symbols: tuple[Symbol, ...]) -> set[tuple[str, str]]:
    """The (kind, name) pairs of ``symbols``."""
    return {(s.kind, s.name) for s in symbols}


def only(diffs: list[FileDiff]) -> FileDiff:
    """The single file of a diff."""
    assert len(diffs) == 1, diffs
    return diffs[0]


GREETER = """\
class Greeter:
    greeting = "hello"

    def greet(self, name):
        text = f"{self.greeting}, {name}"
        return text

    def other(self):
        return 1


def helper():
    return 2
"""


def test_modified_method_lists_method_and_module_only(repo: Repo) -> None:
    """A line changed inside a method touches ``Class.method`` and the module, not the class."""
    repo.commit({"app.py": GREETER})
    repo.commit({"app.py": GREETER.replace("return text", "return text.upper()")})
    assert only(repo.diff()).change == "modified"
    assert repo.symbols() == (
        Symbol(path="app.py", name="Greeter.greet", kind="method"),
        Symbol(path="app.py", name="app", kind="module"),
    )


def test_class_body_outside_methods_lists_class(repo: Repo) -> None:
    """A class attribute change touches the class itself."""
    repo.commit({"app.py": GREETER})
    repo.commit({"app.py": GREETER.replace('"hello"', '"hi"')})
    assert kinds(repo.symbols()) == {("module", "app"), ("class", "Greeter")}


def test_new_function_is_listed(repo: Repo) -> None:
    """An added function is listed; untouched neighbours are not."""
    repo.commit({"app.py": GREETER})
    repo.commit({"app.py": GREETER + "\n\ndef added(x):\n    return x * 2\n"})
    assert kinds(repo.symbols()) == {("module", "app"), ("function", "added")}


def test_deleted_function_is_found_on_old_side(repo: Repo) -> None:
    """A function that was removed is found in the parent's text."""
    repo.commit({"app.py": GREETER})
    repo.commit({"app.py": GREETER.split("\n\ndef helper")[0] + "\n"})
    diff = only(repo.diff())
    assert not diff.new_lines
    assert diff.old_lines
    assert kinds(repo.symbols()) == {("module", "app"), ("function", "helper")}


def test_pure_line_removal_in_method_is_found(repo: Repo) -> None:
    """Removing one line of a method (a ``+N,0`` hunk) still touches that method."""
    repo.commit({"app.py": GREETER})
    repo.commit({"app.py": GREETER.replace('        text = f"{self.greeting}, {name}"\n', "")})
    diff = only(repo.diff())
    assert diff.new_lines == frozenset()
    assert diff.old_lines == {5}
    assert kinds(repo.symbols()) == {("module", "app"), ("method", "Greeter.greet")}


def test_decorator_only_change_touches_decorated_definitions(repo: Repo) -> None:
    """A changed decorator line belongs to the function or method it decorates."""
    before = (
        "import functools\n\n\n"
        "@functools.lru_cache(maxsize=1)\n"
        "def cached():\n"
        "    return 1\n\n\n"
        "class Box:\n"
        "    @staticmethod\n"
        "    def make():\n"
        "        return Box()\n"
    )
    repo.commit({"deco.py": before})
    after = before.replace("maxsize=1", "maxsize=2").replace("@staticmethod", "@classmethod")
    repo.commit({"deco.py": after})
    assert kinds(repo.symbols()) == {
        ("module", "deco"),
        ("function", "cached"),
        ("method", "Box.make"),
    }


def test_nested_definitions_get_qualified_names(repo: Repo) -> None:
    """Nested functions and classes are named ``outer.inner`` and ``Outer.Inner.method``."""
    before = (
        "def outer():\n"
        "    def inner():\n"
        "        return 1\n"
        "    return inner\n\n\n"
        "class Outer:\n"
        "    class Inner:\n"
        "        def method(self):\n"
        "            return 2\n\n\n"
        "def factory():\n"
        "    class Local:\n"
        "        async def run(self):\n"
        "            return 3\n"
        "    return Local\n"
    )
    repo.commit({"nest.py": before})
    after = before.replace("return 1", "return 10").replace("return 2", "return 20")
    repo.commit({"nest.py": after.replace("return 3", "return 30")})
    assert kinds(repo.symbols()) == {
        ("module", "nest"),
        ("function", "outer.inner"),
        ("method", "Outer.Inner.method"),
        ("method", "factory.Local.run"),
    }


def test_rename_with_change(repo: Repo) -> None:
    """A renamed and edited file reports its symbols once, under the new path."""
    repo.commit({"old_name.py": GREETER})
    repo.git("mv", "old_name.py", "new_name.py")
    repo.commit({"new_name.py": GREETER.replace("return 2", "return 3")})
    diff = only(repo.diff())
    assert (diff.change, diff.path, diff.old_path) == ("renamed", "new_name.py", "old_name.py")
    assert diff.new_lines == diff.old_lines == {13}
    assert repo.symbols() == (
        Symbol(path="new_name.py", name="helper", kind="function"),
        Symbol(path="new_name.py", name="new_name", kind="module"),
    )


def test_rename_without_change(repo: Repo) -> None:
    """A pure rename has no changed lines and so touches no symbols."""
    repo.commit({"pkg/a.py": GREETER})
    repo.git("mv", "pkg/a.py", "pkg/b.py")
    repo.commit({})
    assert "similarity index 100%" in repo.diff_text()
    assert repo.diff() == [
        FileDiff(
            path="pkg/b.py",
            old_path="pkg/a.py",
            change="renamed",
            new_lines=frozenset(),
            old_lines=frozenset(),
        )
    ]
    assert repo.symbols() == ()


def test_root_commit_against_empty_tree(repo: Repo) -> None:
    """A root commit diffed against the empty tree adds every file and all its symbols."""
    root = repo.commit({"app.py": GREETER, "src/pkg/__init__.py": "X = 1\n"})
    diffs = parse_diff(repo.diff_text(root, EMPTY_TREE))
    assert [(d.path, d.change, d.old_path) for d in diffs] == [
        ("app.py", "added", None),
        ("src/pkg/__init__.py", "added", None),
    ]
    assert diffs[0].new_lines == frozenset(range(1, 14))
    assert diffs[0].old_lines == frozenset()
    old_calls: list[str] = []
    found = touched_symbols(diffs, repo.reader(root), repo.reader(EMPTY_TREE, old_calls))
    assert old_calls == []
    assert [(s.path, s.kind, s.name) for s in found] == [
        ("app.py", "class", "Greeter"),
        ("app.py", "method", "Greeter.greet"),
        ("app.py", "method", "Greeter.other"),
        ("app.py", "module", "app"),
        ("app.py", "function", "helper"),
        ("src/pkg/__init__.py", "module", "pkg"),
    ]


def test_deleted_file_lists_old_symbols_under_old_path(repo: Repo) -> None:
    """A deleted file's symbols come from the parent, under the path it had."""
    repo.commit({"gone.py": GREETER, "keep.txt": "x\n"})
    repo.commit({"gone.py": None})
    diff = only(repo.diff())
    assert (diff.path, diff.old_path, diff.change) == ("gone.py", None, "deleted")
    assert diff.old_lines == frozenset(range(1, 14))
    new_calls: list[str] = []
    found = touched_symbols([diff], repo.reader("HEAD", new_calls), repo.reader("HEAD^"))
    assert new_calls == []
    assert {s.path for s in found} == {"gone.py"}
    assert ("function", "helper") in kinds(found)


def test_binary_file_is_listed_without_symbols(repo: Repo) -> None:
    """Binary files are flagged and never read, even with a Python suffix."""
    repo.commit({"blob.py": b"\x00\x01\x02", "image.png": b"\x89PNG\x00\x00"})
    repo.commit({"blob.py": b"\x00\x01\x03", "image.png": b"\x89PNG\x00\x01"})
    assert "Binary files a/blob.py and b/blob.py differ" in repo.diff_text()
    diffs = repo.diff()
    assert [(d.path, d.binary, d.new_lines, d.old_lines) for d in diffs] == [
        ("blob.py", True, frozenset(), frozenset()),
        ("image.png", True, frozenset(), frozenset()),
    ]
    calls: list[str] = []
    assert touched_symbols(diffs, repo.reader("HEAD", calls), repo.reader("HEAD^", calls)) == ()
    assert calls == []


def test_paths_with_space_and_non_ascii_name(repo: Repo) -> None:
    """Paths with spaces and non-ASCII letters survive parsing and name their modules."""
    repo.commit({"my module.py": "A = 1\n", "café/naïve.py": "def f():\n    return 1\n"})
    repo.commit({"my module.py": "A = 2\n", "café/naïve.py": "def f():\n    return 2\n"})
    text = repo.diff_text()
    assert "+++ b/my module.py\t" in text  # git marks names with spaces with a tab
    assert [(d.path, d.change) for d in parse_diff(text)] == [
        ("café/naïve.py", "modified"),
        ("my module.py", "modified"),
    ]
    assert kinds(repo.symbols()) == {
        ("module", "café.naïve"),
        ("function", "f"),
        ("module", "my module"),
    }


def test_c_quoted_paths_are_unquoted(repo: Repo) -> None:
    """Git's C-style quoted names (octal bytes, tab, quote, backslash) are decoded."""
    names = ["spé cial\tname.py", 'quo"te.py', "back\\slash.py", "naïve.py"]
    repo.commit(dict.fromkeys(names, "A = 1\n"))
    repo.commit(dict.fromkeys(names, "A = 2\n"))
    quoted = repo.diff_text(quotepath=True)
    assert '"a/sp\\303\\251 cial\\tname.py"' in quoted
    assert sorted(d.path for d in parse_diff(quoted)) == sorted(names)
    assert sorted(d.path for d in repo.diff()) == sorted(names)


def test_renamed_quoted_paths(repo: Repo) -> None:
    """A rename between an unquoted and a quoted name keeps both paths."""
    repo.commit({"plain.py": GREETER})
    repo.git("mv", "plain.py", "tab\there.py")
    repo.commit({})
    diff = only(parse_diff(repo.diff_text(quotepath=True)))
    assert (diff.path, diff.old_path, diff.change) == ("tab\there.py", "plain.py", "renamed")


def test_empty_new_file_with_space_takes_path_from_header(repo: Repo) -> None:
    """An empty new file has no ---/+++ lines; its spaced name comes from the header."""
    repo.commit({"keep.txt": "x\n"})
    repo.commit({"an empty file.py": ""})
    assert only(repo.diff()) == FileDiff(
        path="an empty file.py",
        old_path=None,
        change="added",
        new_lines=frozenset(),
        old_lines=frozenset(),
    )
    assert repo.symbols() == ()


def test_mode_only_change(repo: Repo) -> None:
    """A chmod is a modification with no changed lines and no symbols."""
    repo.commit({"tool.py": GREETER})
    (repo.root / "tool.py").chmod(0o755)
    repo.commit({})
    assert "new mode 100755" in repo.diff_text()
    diff = only(repo.diff())
    assert (diff.path, diff.change, diff.new_lines, diff.old_lines) == (
        "tool.py",
        "modified",
        frozenset(),
        frozenset(),
    )
    assert repo.symbols() == ()


def test_hunk_counts_omitted_and_zero(repo: Repo) -> None:
    """``@@ -3 +3 @@``, ``-5,2 +4,0`` and ``-10,0 +9,2`` hunks give the exact lines."""
    old = [f"line{i}" for i in range(1, 11)]
    new = [*old[:2], "changed3", old[3], *old[6:], "added1", "added2"]
    repo.commit({"data.txt": "\n".join(old) + "\n"})
    repo.commit({"data.txt": "\n".join(new) + "\n"})
    text = repo.diff_text()
    for header in ("@@ -3 +3 @@", "@@ -5,2 +4,0 @@", "@@ -10,0 +9,2 @@"):
        assert header in text
    diff = only(parse_diff(text))
    assert diff.old_lines == {3, 5, 6}
    assert diff.new_lines == {3, 9, 10}


def test_no_newline_at_end_of_file(repo: Repo) -> None:
    """``\\ No newline at end of file`` markers do not disturb the hunk."""
    repo.commit({"app.py": "def f():\n    return 1", "z.txt": "a\n"})
    repo.commit({"app.py": "def f():\n    return 2", "z.txt": "b\n"})
    text = repo.diff_text()
    assert text.count("\\ No newline at end of file") == 2
    diffs = parse_diff(text)
    assert [(d.path, d.old_lines, d.new_lines) for d in diffs] == [
        ("app.py", frozenset({2}), frozenset({2})),
        ("z.txt", frozenset({1}), frozenset({1})),
    ]
    assert kinds(repo.symbols()) == {("module", "app"), ("function", "f")}


def test_removed_lines_that_look_like_headers(repo: Repo) -> None:
    """Removed ``-- x`` and added ``++ y`` lines are content, not ---/+++ headers."""
    repo.commit({"q.sql": "-- a comment\nselect 1;\n", "after.txt": "x\n"})
    repo.commit({"q.sql": "++ b/other\nselect 1;\n", "after.txt": "y\n"})
    text = repo.diff_text()
    assert "\n--- a comment\n" in text and "\n+++ b/other\n" in text
    assert [(d.path, d.old_lines, d.new_lines) for d in parse_diff(text)] == [
        ("after.txt", frozenset({1}), frozenset({1})),
        ("q.sql", frozenset({1}), frozenset({1})),
    ]


def test_syntax_error_yields_only_module(repo: Repo) -> None:
    """A file that does not parse still reports its module, and nothing else."""
    repo.commit({"broken.py": "def f(:\n    return 1\n"})
    repo.commit({"broken.py": "def f(:\n    return 2\n"})
    assert repo.symbols() == (Symbol(path="broken.py", name="broken", kind="module"),)


def test_unparsable_sources_yield_module() -> None:
    """Null bytes, undecodable bytes and deep nesting give the module, never an error."""
    extractor = PythonSymbols()
    for source in ("x = 1\x00\n", "x = '\udcff'\n", "(" * 5000 + ")" * 5000, "\udcff"):
        assert extractor.symbols("m.py", source, frozenset({1})) == [
            Symbol(path="m.py", name="m", kind="module")
        ]


def test_module_level_change_only(repo: Repo) -> None:
    """A change outside every definition touches just the module."""
    repo.commit({"src/pkg/mod.py": "LIMIT = 1\n\n\n" + GREETER})
    repo.commit({"src/pkg/mod.py": "LIMIT = 2\n\n\n" + GREETER})
    assert repo.symbols() == (Symbol(path="src/pkg/mod.py", name="pkg.mod", kind="module"),)


def test_non_python_file_has_no_symbols(repo: Repo) -> None:
    """A non-Python file is in the parsed diff but yields no symbols."""
    repo.commit({"README.md": "# Title\n\ndef not_code():\n"})
    repo.commit({"README.md": "# Other title\n\ndef not_code():\n"})
    diff = only(repo.diff())
    assert (diff.path, diff.change, diff.new_lines) == ("README.md", "modified", frozenset({1}))
    assert repo.symbols() == ()


def test_bitloops_folder_is_skipped(repo: Repo) -> None:
    """Files under ``.bitloops/`` are listed in the diff but never read for symbols."""
    repo.commit({".bitloops/checkpoints/cp.py": "A = 1\n", "app.py": "A = 1\n"})
    repo.commit({".bitloops/checkpoints/cp.py": "A = 2\n", "app.py": "A = 2\n"})
    assert len(repo.diff()) == 2
    assert repo.symbols() == (Symbol(path="app.py", name="app", kind="module"),)


def test_failures_stay_in_their_file(repo: Repo) -> None:
    """A failing extractor or reader costs only its own file's symbols."""
    repo.commit({"bad.py": GREETER, "good.py": GREETER, "missing.py": GREETER})
    edited = GREETER.replace("return 1", "return 5")
    repo.commit({"bad.py": edited, "good.py": edited, "missing.py": edited})
    diffs = repo.diff()

    class Picky(PythonSymbols):
        def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
            if path == "bad.py":
                raise RuntimeError("extractor bug")
            return super().symbols(path, source, lines)

    new, old = repo.reader("HEAD"), repo.reader("HEAD^")

    def read_new(path: str) -> str | None:
        return None if path == "missing.py" else new(path)

    found = touched_symbols(diffs, read_new, old, [Picky()])
    assert {s.path for s in found} == {"good.py", "missing.py"}
    assert kinds(tuple(s for s in found if s.path == "good.py")) == {
        ("module", "good"),
        ("method", "Greeter.other"),
    }

    def explode(path: str) -> str | None:
        raise OSError(path)

    assert touched_symbols(diffs, explode, explode) == ()


def test_first_handling_extractor_wins(repo: Repo) -> None:
    """Extractors are plain objects matching the protocol, tried in order."""

    class Markdown:
        language = "markdown"

        def handles(self, path: str) -> bool:
            return path.endswith(".md")

        def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
            heading = source.splitlines()[0].lstrip("# ")
            return [Symbol(path=path, name=heading, kind="module", language=self.language)]

    class Never:
        language = "never"

        def handles(self, path: str) -> bool:
            return True

        def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
            raise AssertionError("should not run")

    assert isinstance(Markdown(), SymbolExtractor)
    assert default_extractors()[0].language == "python"
    repo.commit({"doc.md": "# Guide\nold\n", "app.py": "A = 1\n"})
    repo.commit({"doc.md": "# Guide\nnew\n", "app.py": "A = 2\n"})
    extractors = [Markdown(), *default_extractors(), Never()]
    found = touched_symbols(repo.diff(), repo.reader("HEAD"), repo.reader("HEAD^"), extractors)
    assert found == (
        Symbol(path="app.py", name="app", kind="module"),
        Symbol(path="doc.md", name="Guide", kind="module", language="markdown"),
    )


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("app.py", "app"),
        ("pkg/__init__.py", "pkg"),
        ("src/pkg/__init__.py", "pkg"),
        ("src/pkg/mod.py", "pkg.mod"),
        ("lib/src/mod.py", "lib.src.mod"),
        ("src.py", "src"),
        ("stubs/mod.pyi", "stubs.mod"),
        ("__init__.py", "__init__"),
    ],
)
def test_module_names(path: str, module: str) -> None:
    """Module names are dotted paths, without ``__init__`` or a leading ``src/``."""
    assert PythonSymbols().symbols(path, "", frozenset({1}))[0].name == module


_DIFF_LINES = st.sampled_from(
    [
        "diff --git a/x.py b/x.py",
        "diff --git a/a b c b/a b c",
        'diff --git "a/\\303\\251\\t" "b/\\',
        'diff --git a/x "b/\\777',
        "diff --git ",
        "--- a/x.py\t",
        "+++ /dev/null",
        "--- /dev/null",
        '+++ "b/unterminated',
        "@@ -1,2 +3 @@",
        "@@ -0,0 +1,3 @@ def f():",
        "@@ -1 +1,99999999999999999999 @@",
        "-",
        "+",
        " ",
        "\\ No newline at end of file",
        "rename from x.py",
        "rename to ",
        "copy from a",
        "copy to b",
        "new file mode 100644",
        "deleted file mode 100644",
        "Binary files a/x and b/x differ",
        "GIT binary patch",
        "",
    ]
)
_ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(_ANY_CHAR),
        st.lists(st.one_of(_DIFF_LINES, st.text(_ANY_CHAR, max_size=12)), max_size=40).map(
            "\n".join
        ),
    )
)
def test_parse_diff_never_raises(text: str) -> None:
    """parse_diff returns well-formed FileDiffs for any text, however malformed."""
    for diff in parse_diff(text):
        assert isinstance(diff, FileDiff)
        assert diff.path
        assert diff.change in {"added", "modified", "deleted", "renamed"}
        assert all(isinstance(n, int) for n in diff.new_lines | diff.old_lines)


@settings(max_examples=200, deadline=None)
@given(st.text(_ANY_CHAR), st.frozensets(st.integers(-5, 50), min_size=1))
def test_python_symbols_never_raise(source: str, lines: frozenset[int]) -> None:
    """PythonSymbols lists the module first for any source text and lines."""
    found = PythonSymbols().symbols("pkg/m.py", source, lines)
    assert found[0] == Symbol(path="pkg/m.py", name="pkg.m", kind="module")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(_DIFF_LINES, st.text(_ANY_CHAR, max_size=12)), max_size=40).map("\n".join),
    st.text(_ANY_CHAR),
)
def test_touched_symbols_never_raise(diff_text: str, source: str) -> None:
    """touched_symbols returns unique symbols sorted by path and name for any input."""
    found = touched_symbols(parse_diff(diff_text), lambda _: source, lambda _: source)
    assert len(set(found)) == len(found)
    keys = [(s.path, s.name) for s in found]
    assert keys == sorted(keys)


def test_symbols_are_bounded_per_file_and_per_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-file and per-checkpoint bounds symbols are dropped, and counted in notes."""
    monkeypatch.setattr(_symbols, "MAX_SYMBOLS_PER_FILE", 5)
    monkeypatch.setattr(_symbols, "MAX_SYMBOLS", 8)
    source = "".join(f"def f{i}():\n    pass\n" for i in range(10))
    lines = frozenset(range(1, 21))
    diffs = [
        _symbols.FileDiff(
            path=f"m{n}.py", old_path=None, change="added", new_lines=lines, old_lines=frozenset()
        )
        for n in range(3)
    ]
    notes: list[str] = []
    found = _symbols.touched_symbols(diffs, lambda p: source, lambda p: None, notes=notes)
    assert len(found) == 8
    assert {s.name for s in found if s.kind == "module"} == {"m0", "m1"}
    assert notes == [
        "skipped: 6 more symbols of m0.py (at most 5 are kept per file)",
        "skipped: 8 more symbols of m1.py (at most 8 are kept per checkpoint)",
        "skipped: the symbols of m2.py (at most 8 symbols are kept per checkpoint)",
    ]
