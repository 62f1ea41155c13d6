"""The public surface: which modules are public, what each exports, and what the docs use.

Implementation modules are private (``_name.py``); public names are re-exported by the
packages. The docs import only public names, and the module paths of bitloops 0.1 still
import, with a DeprecationWarning, for one release.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

import bitloops
from bitloops._aliases import MOVED

PACKAGE = Path(bitloops.__file__).parent
ROOT = PACKAGE.parent

#: Every module a user may import by name. A new public module is a decision: add it here.
PUBLIC_MODULES = (
    "bitloops",
    "bitloops.agent_trace",
    "bitloops.agents",
    "bitloops.agents.claude_code",
    "bitloops.agents.codex",
    "bitloops.agents.copilot",
    "bitloops.agents.cursor",
    "bitloops.agents.gemini",
    "bitloops.agents.opencode",
    "bitloops.capture",
    "bitloops.checkpoint",
    "bitloops.cli",
    "bitloops.context",
    "bitloops.context.answers",
    "bitloops.doctor",
    "bitloops.errors",
    "bitloops.git",
    "bitloops.mcp_server",
    "bitloops.model",
    "bitloops.redact",
    "bitloops.repository",
    "bitloops.schemas",
    "bitloops.settings",
    "bitloops.store",
    "bitloops.testing",
    "bitloops.web",
)


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split(".")[1:])


def test_every_module_is_private_or_listed_as_public() -> None:
    """A module whose path has no ``_`` part is on the public list (or the debt list)."""
    public = [n for n in _module_names() if not _is_private(n)]
    assert sorted(set(public) - set(PUBLIC_MODULES)) == []
    assert sorted(set(PUBLIC_MODULES) - set(public)) == []


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_each_public_module_declares_what_it_exports(name: str) -> None:
    """``__all__`` exists, lists public names only, and each of them resolves."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple) and exported, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for attr in exported:
        assert not attr.startswith("_") or attr == "__version__", f"{name} exports {attr}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = getattr(module, attr)
        if callable(value) and not isinstance(value, ModuleType):
            assert getattr(value, "__doc__", None), f"{name}.{attr} has no docstring"


def test_the_package_names_every_public_subpackage_in_dir() -> None:
    """``dir()`` of a lazily exporting package shows what it exports."""
    for name in ("bitloops", "bitloops.agents", "bitloops.capture", "bitloops.checkpoint"):
        module = importlib.import_module(name)
        assert set(module.__all__) <= set(dir(module)), name


# -- the docs use public names -------------------------------------------------------------

# Names in the docs that are not Python: files, formats, SQL objects.
_NOT_PYTHON = re.compile(
    r"^bitloops\.(db|js|json|link|jsonl|log|commit_links|purges|event_search|search_indexed"
    r"|bitloops_meta|checkpoints|checkpoint_events|annotations|outbox)(\.|$)"
)
_DOTTED = re.compile(r"`(bitloops(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_FROM = re.compile(r"^\s*from (bitloops[\w.]*) import \(?([\w, ]+)", re.MULTILINE)


def _documented_names() -> set[tuple[str, str]]:
    """(file, dotted name) for each bitloops name the docs, README and examples use."""
    found: set[tuple[str, str]] = set()
    files = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    files += sorted((ROOT / "examples").glob("*.py"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in _DOTTED.finditer(text):
            found.add((path.name, match.group(1)))
        for match in _FROM.finditer(text):
            for attr in match.group(2).replace(" ", "").split(","):
                if attr:
                    found.add((path.name, f"{match.group(1)}.{attr}"))
    return {(f, n) for f, n in found if not _NOT_PYTHON.match(n)}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            value = getattr(value, attr)
        return value
    raise ImportError(dotted)


def test_the_docs_use_only_public_names() -> None:
    """Each name the docs use resolves, through no private module and no deprecated path."""
    problems = []
    for file, dotted in sorted(_documented_names()):
        if _is_private(dotted.removesuffix(".__all__")):
            problems.append(f"{file}: {dotted} is private")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                _resolve(dotted)
        except (ImportError, AttributeError, DeprecationWarning) as exc:
            problems.append(f"{file}: {dotted}: {type(exc).__name__}: {exc}")
    assert problems == []


# -- the old paths -------------------------------------------------------------------------

_PROBE = """
import importlib, json, sys, warnings
import bitloops
from bitloops._aliases import MOVED, SPLIT, _public_place
out = {}
for old, new in MOVED.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    out[old] = {
        "warned": any(issubclass(w.category, DeprecationWarning)
                      and _public_place(new) in str(w.message) for w in caught),
        "same": module is target or all(
            getattr(module, n) is getattr(target, n) for n in getattr(target, "__all__", ())
        ) and all(hasattr(module, n) for n in SPLIT.get(old, ())),
    }
print(json.dumps(out))
"""


def test_every_old_module_path_still_imports_with_a_deprecation_warning() -> None:
    """Each path of bitloops 0.1 loads the module it moved to, after a DeprecationWarning."""
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == set(MOVED)
    assert [old for old, r in result.items() if not (r["warned"] and r["same"])] == []


def test_the_warning_names_a_public_place() -> None:
    """The deprecation message sends users to a package, never to a private module."""
    from bitloops._aliases import _public_place

    assert _public_place("bitloops.capture._importing") == "bitloops.capture"
    assert _public_place("bitloops.agents.claude_code") == "bitloops.agents.claude_code"
    assert _public_place("bitloops._codec") == "bitloops"


def test_old_names_listed_in_the_changelog() -> None:
    """CHANGELOG.md lists every deprecated module path."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert [old for old in MOVED if f"`{old}`" not in text] == []


def test_new_code_uses_no_old_path() -> None:
    """Our own code, tests, benchmarks and examples import the new paths only."""
    old = re.compile(
        r"(?:from|import) (" + "|".join(re.escape(o) for o in sorted(MOVED, key=len)[::-1]) + r")\b"
    )
    hits = []
    for folder in ("bitloops", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name in {"_aliases.py", "test_public_api.py"}:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if old.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert hits == []


def test_the_former_cli_module_names_still_resolve_with_a_warning() -> None:
    """What bitloops 0.1's ``bitloops.cli`` exported reads, after a DeprecationWarning."""
    import bitloops.cli as cli

    for name in cli._FORMER:
        with pytest.warns(DeprecationWarning, match=f"bitloops.cli.{name} is internal"):
            assert getattr(cli, name) is not None


def test_an_old_path_leaves_the_new_module_reloadable_and_star_imports_complete() -> None:
    """Importing through an old path keeps the new module's own spec (so it reloads as
    itself), and ``from old import *`` brings the names that left it too."""
    probe = (
        "import importlib, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import bitloops.summary\n"
        "import bitloops.checkpoint._summary as new\n"
        "assert new.__spec__.name == 'bitloops.checkpoint._summary', new.__spec__.name\n"
        "importlib.reload(new)\n"
        "from bitloops.hooks import *\n"
        "assert run_hook.__module__ == 'bitloops._commit_flow'\n"
        "assert callable(enable)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_folder_of_an_old_path_does_not_hide_its_alias(tmp_path: Path) -> None:
    """A leftover ``bitloops/integrations/`` (a checkout updated in place) would load as an
    empty namespace package if the alias finder came after the path finder."""
    copy = tmp_path / "bitloops"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "integrations" / "__pycache__").mkdir(parents=True)
    probe = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import bitloops.integrations as old\n"
        "assert old.AGENTS['claude-code']\n"
    )
    proc = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
