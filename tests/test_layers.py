"""The packages' layers: no module imports a higher layer (docs/architecture.md).

Every import counts: at module level, inside a function and under ``TYPE_CHECKING``,
since a function-level import is how an import circle is held open. A lower layer that
needs something of a higher one takes it as a Protocol (``bitloops._workspace``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import bitloops

PACKAGE = Path(bitloops.__file__).parent

#: Lowest first; a module may import its own layer and those below it. Keep in step with
#: the map in docs/architecture.md.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "core",
        (
            "errors",
            "model",
            "redact",
            "settings",
            "_codec",
            "_lazy",
            "_aliases",
            "_fs",
            "_frozen",
            "_setting_values",
            "_launch",
            "_held",
            "_dt",
            "_jsonc",
            "_rx",
            "schemas",
        ),
    ),
    ("git", ("git",)),
    ("store", ("store",)),
    ("workspace", ("_workspace",)),
    ("capture", ("capture",)),
    ("agents", ("agents",)),
    ("checkpoint", ("checkpoint",)),
    ("façade", ("repository", "_commit_flow", "_pending")),
    (
        "views",
        (
            "context",
            "web",
            "cli",
            "mcp_server",
            "doctor",
            "agent_trace",
            "testing",
            "__main__",
            "__init__",
        ),
    ),
)
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}

#: Imports that go up on purpose, each with why. Keep this short; each entry is a debt.
ALLOWED: dict[tuple[str, str], str] = {
    ("capture/_runner.py", "bitloops.repository"): (
        "an agent hook's entry: a hook process starts in the runner (``handle(payload)``, "
        "the full path of ``run_hook``) and opens the façade there, as the command line does"
    ),
}


def _part(module: str) -> str | None:
    """The top-level part of bitloops a module belongs to (``capture`` for
    ``bitloops.capture._spool``, ``__init__`` for ``bitloops`` itself)."""
    names = module.split(".")
    if names[0] != "bitloops":
        return None
    return names[1] if len(names) > 1 else "__init__"


def _package_of(path: Path) -> str:
    """The dotted package a module under bitloops/ resolves relative imports in."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1])


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports (relative ones resolved in ``package``), with its
    line: at module level, in functions and under TYPE_CHECKING alike."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            # ``from bitloops import _rx`` imports the module bitloops._rx, not the package's
            # names: count the module when the name is one.
            where = PACKAGE.parent.joinpath(*module.split("."))
            subs = [a.name for a in node.names if (where / f"{a.name}.py").exists()]
            found += [(node.lineno, f"{module}.{name}") for name in subs]
            if len(subs) < len(node.names):
                found.append((node.lineno, module))
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.parts[0].removesuffix(".py") if rel.parts else "__init__"
        assert me in RANK, f"bitloops/{rel} is in no layer: add its package to LAYERS"
        for line, module in _imports(path, _package_of(path)):
            part = _part(module)
            if part is None or part not in RANK or RANK[part] <= RANK[me]:
                continue
            if (str(rel), module) in ALLOWED:
                continue
            problems.append(
                f"bitloops/{rel}:{line} ({LAYERS[RANK[me]][0]}) imports {module} "
                f"({LAYERS[RANK[part]][0]})"
            )
    return problems


def test_no_package_imports_a_higher_layer() -> None:
    """Data and imports flow one way: agents and capture, store, checkpoint, then views."""
    assert _violations() == []


def test_every_allowed_exception_is_still_needed() -> None:
    """An entry of ALLOWED whose import went away is removed, so the list only shrinks."""
    present = {
        (str(path.relative_to(PACKAGE)), module)
        for path in PACKAGE.rglob("*.py")
        for _, module in _imports(path, _package_of(path))
    }
    assert [key for key in ALLOWED if key not in present] == []


def test_the_checker_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    """Imports inside functions, under TYPE_CHECKING and relative ones are all seen."""
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from bitloops.repository import Repository\n"
        "def f():\n"
        "    import bitloops.cli\n"
        "    from ..checkpoint import _files\n",
        encoding="utf-8",
    )
    names = {module for _, module in _imports(source, "bitloops.capture")}
    assert {"bitloops.repository", "bitloops.cli", "bitloops.checkpoint._files"} <= names


def test_the_map_in_the_docs_names_every_layer() -> None:
    """docs/architecture.md shows each layer and its packages."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, parts in LAYERS:
        assert name in text
        for part in parts:
            if part not in {"__init__", "__main__", "_lazy", "_aliases", "schemas"}:
                assert part.strip("_") in text, part


# -- all SQL in store/ ---------------------------------------------------------------------

#: An SQL statement, or a piece of one, in a string: keywords in capitals, as bitloops
#: writes them (so prose such as "select a file from the list" is not one).
_SQL = re.compile(
    r"\bSELECT\b.+?\bFROM\b|\bSELECT\s+(?:EXISTS|count|coalesce|max|min|1)\b"
    r"|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|DROP|ALTER)\s+(?:TEMP\s+|VIRTUAL\s+|UNIQUE\s+)?"
    r"(?:TABLE|INDEX|VIEW|TRIGGER|SCHEMA)\b"
    r"|\bPRAGMA\s+\w|^\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE)\b",
    re.DOTALL,
)

#: Modules outside store/ that hold SQL on purpose, each with why. Keep this short; each
#: entry is a debt.
SQL_ALLOWED: dict[str, str] = {
    "doctor.py": (
        "a hint for the user: the query to list the quarantine in the sqlite3 shell, which "
        "bitloops prints and never runs"
    ),
}


def _sql_strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of ``path`` that hold SQL, with their line: every string
    (also the pieces of an f-string and implicitly joined ones) but those standing alone
    as a statement (docstrings), which are never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    alone = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in alone
        and _SQL.search(node.value)
    )


def _sql_outside_store() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "store":
            continue
        lines = [line for line, _ in _sql_strings(path)]
        if lines:
            found[rel.as_posix()] = lines
    return found


def test_all_sql_is_in_store() -> None:
    """SQL statements live in bitloops/store/ only: other packages call its functions."""
    found = _sql_outside_store()
    assert {
        f"bitloops/{rel}": lines for rel, lines in found.items() if rel not in SQL_ALLOWED
    } == {}


def test_every_sql_exception_is_still_needed() -> None:
    """An entry of SQL_ALLOWED whose SQL moved to store/ is removed, so the list only shrinks."""
    assert sorted(set(SQL_ALLOWED) - set(_sql_outside_store())) == []


def test_the_sql_checker_sees_statements_and_not_prose(tmp_path: Path) -> None:
    """Statements, pieces of f-strings and joined strings are seen; docstrings and prose
    that only sound like SQL are not; and the store's own modules are full of SQL."""
    source = tmp_path / "sample.py"
    source.write_text(
        '"""SELECT x FROM t in a docstring is not run."""\n'
        "def f(conn, table):\n"
        '    """DELETE FROM t, in a docstring."""\n'
        '    conn.execute(f"DELETE FROM {table} WHERE id = ?", (1,))\n'
        '    conn.execute("SELECT a, b "\n'
        '                 "FROM t")\n'
        '    conn.execute("PRAGMA user_version")\n'
        '    conn.execute("BEGIN IMMEDIATE")\n'
        '    return ["Select a file from the list", "Update the settings", "COMMITTED"]\n',
        encoding="utf-8",
    )
    assert [line for line, _ in _sql_strings(source)] == [4, 5, 7, 8]
    assert len(_sql_strings(PACKAGE / "store" / "_sqlite.py")) > 20


def test_the_hooks_reads_stay_light(tmp_path: Path) -> None:
    """store/_hook_reads runs in hook processes: its reads load neither the store object,
    the object model, attrs nor typing."""
    db = tmp_path / "empty.db"
    db.write_bytes(b"")  # an empty database: schema version 0
    script = (
        "import sys\n"
        "from bitloops.store import _hook_reads as r\n"
        "conn = r.connect(sys.argv[1])\n"
        "print(r.file_records(conn, ['a.py'], 5, private=False), r.session_private(conn, 's'))\n"
        "heavy = ('attr', 'attrs', 'typing', 'bitloops.model', 'bitloops.store._sqlite')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[] False", "[]"]
