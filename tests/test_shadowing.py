"""A project's own ``json.py``, ``re.py`` or ``typing.py`` does not break bitloops' hooks.

Hooks run in the work tree, where ``python -m`` would put the project's modules ahead of
the standard library; every process bitloops starts runs its interpreter with ``-P``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_hooks import enable, git_commit

import bitloops
from bitloops._launch import SAFE_PATH
from bitloops.agents._config import AGENT_CONFIGS

SHADOWS = ("json.py", "re.py", "typing.py")


def _shadow(repo: Path) -> None:
    for name in SHADOWS:
        (repo / name).write_text("raise SystemExit('shadowed the standard library')\n")


def test_the_git_hooks_promote_with_standard_library_names_in_the_work_tree(
    git_repo: Path,
) -> None:
    """pre-commit and post-commit run, and the commit gets its checkpoint."""
    enable(git_repo)
    _shadow(git_repo)
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code", "m1") as s:
        s.prompt("add a module")
        s.file_change("json.py", "added")
    subprocess.run(["git", "add", *SHADOWS], cwd=git_repo, check=True)
    proc = git_commit(git_repo, "-m", "shadow")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint("HEAD").summary.intent
    hooks = git_repo / ".git" / "hooks"
    assert f" {SAFE_PATH} -m bitloops hook post-commit" in (hooks / "post-commit").read_text()


@pytest.mark.parametrize("agent", sorted(AGENT_CONFIGS))
def test_installed_agent_hook_commands_keep_the_work_tree_off_sys_path(
    git_repo: Path, agent: str
) -> None:
    """Where an agent's installed command names the interpreter, it passes -P."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "enable", "--agent", agent],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    written = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(git_repo.rglob("*"))
        if path.is_file() and ".git" not in path.parts
    )
    assert "-m bitloops" not in written.replace(f"{SAFE_PATH} -m bitloops", ""), written
    assert '"-m", "bitloops"' not in written.replace(f'"{SAFE_PATH}", "-m", "bitloops"', "")


def test_doctor_updates_git_hooks_written_without_the_option(git_repo: Path) -> None:
    """A hook of bitloops 0.1 (no -P) is reported as older, and `doctor --fix` updates it."""
    enable(git_repo)
    hook = git_repo / ".git" / "hooks" / "post-commit"
    hook.write_text(hook.read_text().replace(f" {SAFE_PATH} -m bitloops", " -m bitloops"))

    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bitloops", "doctor", *args],
            cwd=git_repo,
            capture_output=True,
            text=True,
            check=False,
        )

    assert "post-commit was written by an older bitloops" in doctor().stdout
    doctor("--fix")
    assert f" {SAFE_PATH} -m bitloops hook post-commit" in hook.read_text()
    assert "older bitloops" not in doctor().stdout


def test_doctor_updates_agent_hook_commands_written_without_the_option(git_repo: Path) -> None:
    """Claude Code entries of bitloops 0.1 (no -P) are reported, and `doctor --fix` updates them."""
    run = [sys.executable, "-m", "bitloops"]
    subprocess.run([*run, "enable", "--agent", "claude-code"], cwd=git_repo, check=True)
    settings = git_repo / ".claude" / "settings.local.json"
    settings.write_text(settings.read_text().replace(f" {SAFE_PATH} -m bitloops", " -m bitloops"))

    def doctor(*args: str) -> str:
        proc = subprocess.run(
            [*run, "doctor", *args], cwd=git_repo, capture_output=True, text=True, check=False
        )
        return proc.stdout

    assert "Claude Code's hooks run Python without -P" in doctor()
    doctor("--fix")
    assert " -m bitloops hook" not in settings.read_text().replace(f" {SAFE_PATH} -m", "")
    assert "without -P" not in doctor()
