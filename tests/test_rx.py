"""bitloops._rx: regex programs kept beside the bytecode give the very patterns re builds."""

from __future__ import annotations

import marshal
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bitloops import _rx, redact

#: Patterns of every shape the engine compiles differently: groups, names, flags,
#: lookarounds, possessives, bytes, the redaction's big alternation.
SHAPES: list[tuple[str | bytes, int]] = [
    (r"(?P<a>x)|(?P<b>y)", _rx.IGNORECASE),
    (r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$", _rx.MULTILINE),
    (r"<user_query>(.*?)</user_query>", _rx.DOTALL),
    (r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?P<call>[(\[])?", _rx.ASCII),
    (rb"Ua{0,4}+[Ud][aUd]*+(?<=[aUd]{16})", 0),
    (r"(?<!^)(?=[A-Z])", 0),
    (r"A[A-Za-z0-9_-]{34}(?![A-Za-z0-9_-])(?<=[0-9]:.{35})", 0),
    (redact._token_pattern(), 0),
    (r"", 0),
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache under ``tmp_path`` (bytecode writing on), forgotten afterwards."""
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pyc"))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(_rx, "_programs", None)
    monkeypatch.setattr(_rx, "_compiled", {})
    path = _rx.cache_path()
    assert path is not None and path.startswith(str(tmp_path))
    return Path(path)


def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new process: nothing read, nothing compiled."""
    monkeypatch.setattr(_rx, "_programs", None)
    monkeypatch.setattr(_rx, "_compiled", {})


@pytest.mark.parametrize(("pattern", "flags"), SHAPES)
def test_a_kept_program_builds_the_pattern_re_builds(
    pattern: str | bytes, flags: int, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled, kept, read back in a 'new process': equal to re.compile's pattern (same
    code, flags and groups), and it matches alike."""
    first = _rx.compile(pattern, flags)
    assert first == re.compile(pattern, flags)
    assert cache.exists()
    _forget(monkeypatch)
    again = _rx.compile(pattern, flags)
    assert again is not first
    want = re.compile(pattern, flags)
    assert (again, again.groupindex, again.groups, again.flags) == (
        want,
        want.groupindex,
        want.groups,
        want.flags,
    )
    sample = (
        "Update File: a.py\nx Y sk-ant-api03-" + "Ab1" * 10
        if isinstance(pattern, str)
        else b"UaaaaUdaaaaaaaaaaaaaa"
    )
    assert [m.span() for m in again.finditer(sample)] == [m.span() for m in want.finditer(sample)]  # type: ignore[arg-type]


def test_a_damaged_or_foreign_cache_counts_as_empty(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Garbage, another interpreter's stamp, a wrong shape, a checksum that does not
    match: ignored and rewritten."""

    def file(stamp: tuple[int, ...], programs: Any, check: str | None = None) -> bytes:
        body = marshal.dumps(programs)
        return marshal.dumps((stamp, check or _rx._checksum(body), body))

    bad: dict[Any, Any] = {("a+", 0): ("a+", 32, [1, 2, 3], 0, {}, (None,))}
    _rx.compile("a+")
    good = _rx._read(str(cache))
    for content in (
        b"\x00garbage",
        file((0, 0, 0), {("x", 0): ("x", 0, [], 0, {}, ())}),
        file(_rx._STAMP, ["not", "a", "dict"]),
        file(_rx._STAMP, bad),  # a program the engine refuses
        file(_rx._STAMP, good, check="0" * 64),  # a good program, a damaged file
    ):
        cache.write_bytes(content)
        _forget(monkeypatch)
        rx = _rx.compile("a+")
        assert rx == re.compile("a+") and rx.fullmatch("aaa")
    _forget(monkeypatch)
    assert ("a+", 0) in _rx._read(str(cache))  # the last compile wrote a good program


def test_a_program_the_engine_refuses_is_built_anew(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept program the engine rejects (a damaged code list) is rebuilt by re."""
    _rx.compile(r"\d+x")
    programs = _rx._read(str(cache))
    pattern, flags, code, *rest = programs[(r"\d+x", 0)]
    programs[(r"\d+x", 0)] = (pattern, flags, [999_999, *code], *rest)
    body = marshal.dumps(programs)
    cache.write_bytes(marshal.dumps((_rx._STAMP, _rx._checksum(body), body)))
    _forget(monkeypatch)
    assert _rx.compile(r"\d+x").fullmatch("12x")


def test_nothing_is_written_when_bytecode_is_not(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sys.dont_write_bytecode`` (PYTHONDONTWRITEBYTECODE) holds for the cache too."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert _rx.compile("b+").fullmatch("bb")
    assert not cache.exists()


def test_an_unwritable_place_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install (here: the cache's folder is a file) compiles each time."""
    (tmp_path / "pyc").write_text("a file where the folder would be")
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pyc"))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    _forget(monkeypatch)
    assert _rx.compile("c+").fullmatch("cc")
    assert [p.name for p in tmp_path.iterdir()] == ["pyc"]


def test_the_cache_keeps_the_newest_programs(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most _KEEP programs: the user's old patterns go first."""
    monkeypatch.setattr(_rx, "_KEEP", 3)
    for n in range(5):
        _rx.compile(f"x{{{n + 1}}}")
    assert list(_rx._read(str(cache))) == [(f"x{{{n}}}", 0) for n in (3, 4, 5)]


def test_other_processes_programs_stay(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes compiling different patterns: the file keeps both."""
    _rx.compile("one")
    _forget(monkeypatch)
    monkeypatch.setattr(_rx, "_programs", {})  # this process read the file before it had "one"
    _rx.compile("two")
    assert set(_rx._read(str(cache))) == {("one", 0), ("two", 0)}


def test_redaction_in_a_warm_process_imports_no_re(tmp_path: Path) -> None:
    """A process after the first redacts the same, without importing re at all."""
    texts = [
        "token: ghp_" + "A1b2C3d4" * 5,
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY0",
        "postgres://bob:Sup3r-Secret@db.example.com/app",
        "the password is hunter2!",
        "run pytest -q in /Users/alice/Projects/SessionStore",
        '{"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz012345"}',
    ]
    code = (
        "import sys\n"
        "from bitloops.redact import default_redactor\n"
        "found = [[tuple(f) for f in default_redactor().findings(t)] for t in sys.argv[1:]]\n"
        "print(repr(found), 're' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pyc")
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, *texts],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for _ in range(2)
    ]
    (*cold, cold_re), (*warm, warm_re) = runs
    assert warm == cold
    assert "'aws-secret-key'" in " ".join(cold) and "'url-password'" in " ".join(cold)
    assert (cold_re, warm_re) == ("True", "False")


def test_a_users_patterns_never_reach_the_cache(cache: Path) -> None:
    """A redaction pattern from the settings may spell out what it hides: compiled with
    keep=False, it is matched as usual and not written to the shared file."""
    r = redact.Redactor(["hunter2-[0-9]+"])
    assert r.redact("pw hunter2-42") == "pw [REDACTED:custom]"
    _rx.compile("ours+")
    kept = _rx._read(str(cache))
    assert ("ours+", 0) in kept and not any("hunter2" in str(k) for k in kept)


def test_the_file_is_named_for_the_exact_interpreter() -> None:
    """Two builds of one minor version (a shared editable tree) keep a file each."""
    path = _rx.cache_path()
    assert path is not None and f"-{sys.hexversion:x}." in path
