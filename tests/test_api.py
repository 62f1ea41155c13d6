"""The public surface: exported names, laziness of `import bitloops`, the entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bitloops


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, then the rest), every name resolves, dir() agrees."""

    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert bitloops.__all__ == sorted(bitloops.__all__, key=order)
    for name in bitloops.__all__:
        assert getattr(bitloops, name) is not None, name
    assert dir(bitloops) == sorted(bitloops.__all__)
    assert set(bitloops.__all__) >= {
        "Repository",
        "Session",
        "DraftCommit",
        "Checkpoint",
        "Event",
        "BitloopsError",
        "read_checkpoint_dir",
    }


def test_public_names_have_docstrings() -> None:
    """Every exported class and function says what it is for."""
    for name in bitloops.__all__:
        value = getattr(bitloops, name)
        if isinstance(value, type) or callable(value):
            assert value.__doc__, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A misspelt name fails like any module attribute."""
    with pytest.raises(AttributeError, match="Repositroy"):
        bitloops.Repositroy  # noqa: B018


def test_import_is_light() -> None:
    """`import bitloops` loads no database driver, not even apsw, and no attrs/cattrs."""
    code = (
        "import sys, bitloops; "
        "names = ('apsw', 'psycopg', 'sqlite3', 'attrs', 'cattrs'); "
        "print(sorted(m for m in names if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_using_the_repository_imports_no_other_driver() -> None:
    """Recording loads apsw but never psycopg or the stdlib sqlite3."""
    code = (
        "import sys, tempfile, subprocess, bitloops\n"
        "d = tempfile.mkdtemp()\n"
        "subprocess.run(['git', 'init', '-q', d], check=True)\n"
        "r = bitloops.Repository.open(d)\n"
        "r.start_session(agent='a').prompt('x')\n"
        "print(sorted(m for m in ('apsw', 'psycopg', 'sqlite3') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['apsw']"


def test_module_entry_point_answers_version() -> None:
    """`python -m bitloops --version` prints the version."""
    out = subprocess.run(
        [sys.executable, "-m", "bitloops", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"bitloops {bitloops.__version__}"
