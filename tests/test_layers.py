"""The packages' layers: no module imports a higher layer (docs/architecture.md).

Every import counts: at module level, inside a function and under ``TYPE_CHECKING``,
since a function-level import is how an import circle is held open. A lower layer that
needs something of a higher one takes it as a Protocol (``bitloops._workspace``).
"""

from __future__ import annotations

import ast
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
            "_setting_values",
            "_launch",
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
    assert {"bitloops.repository", "bitloops.cli", "bitloops.checkpoint"} <= names


def test_the_map_in_the_docs_names_every_layer() -> None:
    """docs/architecture.md shows each layer and its packages."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, parts in LAYERS:
        assert name in text
        for part in parts:
            if part not in {"__init__", "__main__", "_lazy", "_aliases", "schemas"}:
                assert part.strip("_") in text, part
