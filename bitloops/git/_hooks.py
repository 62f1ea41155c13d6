"""Git hooks: install them (``bitloops enable``) and remove them.

What each hook does when git runs it is the façade's (:mod:`bitloops._commit_flow`): it
promotes, stages folders and writes links, which need capture and checkpoint. Each
installed hook is a small POSIX ``sh`` script, recognised by its second line
(:data:`MARKER`), that runs ``<python> -m bitloops hook <name> "$@"`` with the Python that
installed it, then the hook that was there before (moved aside to
``<name>.bitloops-chained``) with the same arguments and standard input. The chained
hook's exit status is the hook's; bitloops itself never fails a git command (fail open):
what goes wrong is appended to ``<git common dir>/bitloops/hooks.log``.

Only the standard library and :mod:`bitloops.git._git` are imported at module level (no
attrs, no typing: the hooks import this module).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from bitloops._frozen import Frozen
from bitloops._fs import atomic_write
from bitloops._launch import bitloops_argv
from bitloops.git._git import Git

TYPE_CHECKING = False  # not from typing: the git hooks import this module

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CHAINED_SUFFIX",
    "GITIGNORE",
    "HOOK_NAMES",
    "LOG_RELATIVE_PATH",
    "MARKER",
    "HookChange",
    "disable",
    "enable",
    "exclude_folders",
    "hook_script",
    "hooks_dir",
    "is_bitloops_hook",
]

#: The hooks ``bitloops enable`` installs, in order.
HOOK_NAMES = ("post-commit", "post-rewrite", "pre-commit", "post-merge", "pre-push")
#: The line that marks a hook file as installed by bitloops.
MARKER = "# installed by bitloops"
#: The suffix of the hook that was in place before, kept and run after ours.
CHAINED_SUFFIX = ".bitloops-chained"
#: The hook log, relative to the git common directory.
LOG_RELATIVE_PATH = "bitloops/hooks.log"
# Hooks whose standard input carries data (both ours and the chained hook need it).
_STDIN_HOOKS = frozenset({"post-rewrite", "pre-push"})


class HookChange(Frozen):
    """What ``enable`` or ``disable`` did to one hook file (a frozen record, as attrs
    would make it, without importing attrs in the hooks)."""

    __slots__ = ("name", "path", "action", "chained")  # noqa: RUF023 (the repr's order)
    name: str
    path: Path
    #: installed, chained, updated, unchanged, conflict (enable);
    #: removed, restored, not-installed, foreign (disable).
    action: str
    #: The hook moved aside (enable) or moved back (disable), if any.
    chained: Path | None

    def __init__(self, name: str, path: Path, action: str, chained: Path | None = None) -> None:
        self._fill(locals())

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` shape of one change."""
        return {
            "hook": self.name,
            "path": str(self.path),
            "action": self.action,
            "chained": None if self.chained is None else str(self.chained),
        }


def hooks_dir(cwd: Path) -> Path:
    """The hooks directory git uses in ``cwd`` (``core.hooksPath`` respected), absolute."""
    out = Git(cwd).run("rev-parse", "--git-path", "hooks").strip()
    path = Path(out)
    return path if path.is_absolute() else (cwd / path).resolve()


def hook_script(name: str, python: str | None = None) -> str:
    """The text of the hook ``name`` that runs ``python -m bitloops hook name``."""
    # -P: a work tree's own json.py or re.py must not stand in for the standard library's
    py = " ".join(shlex.quote(word) for word in bitloops_argv(python=python)[:2])
    lines = [
        "#!/bin/sh",
        MARKER,
        f"# Runs `bitloops hook {name}`, then the {name} hook that was here before, if any",
        f"# (kept as {name}{CHAINED_SUFFIX}). `bitloops disable` puts that one back.",
        f'chained="$(dirname "$0")/{name}{CHAINED_SUFFIX}"',
        "run_chained() {",
        '    [ -f "$chained" ] && [ -x "$chained" ] || return 0',
        '    first_line=""',
        "    source_it='bitloops_chained=$1; shift; . \"$bitloops_chained\"'",
        '    IFS= read -r first_line < "$chained" || :',
        "    # Shell hooks are sourced so that they still see $0 as this hook's name",
        "    # (Husky and others dispatch on it); anything else is executed as it is.",
        '    case "$first_line" in',
        '        \'#!/bin/sh\'|\'#!/usr/bin/env sh\') sh -c "$source_it" "$0" "$chained" "$@" ;;',
        '        \'#!/bin/bash\'|\'#!/usr/bin/env bash\') bash -c "$source_it" "$0" "$chained" '
        '"$@" ;;',
        '        *) "$chained" "$@" ;;',
        "    esac",
        "}",
    ]
    if name in _STDIN_HOOKS:
        lines += [
            'input=$(mktemp "${TMPDIR:-/tmp}/bitloops-hook.XXXXXX" 2>/dev/null) || input=""',
            'if [ -n "$input" ]; then',
            "    trap 'rm -f \"$input\"' EXIT",
            '    cat > "$input"',
            f'    {py} -m bitloops hook {name} "$@" < "$input" || :',
            '    run_chained "$@" < "$input"',
            "else",
            '    run_chained "$@"',
            "fi",
        ]
    elif name == "pre-commit":
        # The user's pre-commit (a linter, say) decides first: when it refuses the
        # commit, bitloops stages nothing, so nothing is left staged behind.
        lines += [
            'run_chained "$@" || exit $?',
            f'{py} -m bitloops hook {name} "$@" < /dev/null || :',
        ]
    else:
        lines += [
            f'{py} -m bitloops hook {name} "$@" < /dev/null || :',
            'run_chained "$@"',
        ]
    return "\n".join(lines) + "\n"


def is_bitloops_hook(path: Path) -> bool:
    """True when ``path`` is a hook file that bitloops installed."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return MARKER.encode() in head.splitlines()[:3]


def _write_hook(path: Path, text: str) -> None:
    atomic_write(path, text, mode=0o755)


def enable(cwd: Path, python: str | None = None) -> list[HookChange]:
    """Install the hooks of :data:`HOOK_NAMES` in the hooks directory of ``cwd``'s repository.

    An existing hook that is not ours is moved aside and chained; running this again
    changes nothing (an installed hook pointing at another Python is rewritten).
    """
    folder = hooks_dir(cwd)
    folder.mkdir(parents=True, exist_ok=True)
    changes = []
    for name in HOOK_NAMES:
        path = folder / name
        chained = folder / f"{name}{CHAINED_SUFFIX}"
        text = hook_script(name, python)
        kept = chained if os.path.lexists(chained) else None
        if is_bitloops_hook(path):
            if path.read_text(encoding="utf-8") == text and os.access(path, os.X_OK):
                changes.append(HookChange(name, path, "unchanged", kept))
            else:
                _write_hook(path, text)
                changes.append(HookChange(name, path, "updated", kept))
        elif os.path.lexists(path):
            if kept is not None:
                # Someone replaced our hook while an older one is still kept: moving this
                # one aside would lose that one.
                changes.append(HookChange(name, path, "conflict", kept))
                continue
            os.replace(path, chained)
            _write_hook(path, text)
            changes.append(HookChange(name, path, "chained", chained))
        else:
            _write_hook(path, text)
            changes.append(HookChange(name, path, "installed", kept))
    from bitloops.settings import load_settings

    paths = Git.locate(cwd)
    branch_mode = load_settings(paths.toplevel).checkpoint_files == "branch"
    exclude_folders(paths.common_dir, gitignore=branch_mode)
    return changes


def disable(cwd: Path) -> list[HookChange]:
    """Remove the hooks bitloops installed, putting back the hooks they chained to."""
    folder = hooks_dir(cwd)
    changes = []
    for name in HOOK_NAMES:
        path = folder / name
        chained = folder / f"{name}{CHAINED_SUFFIX}"
        if is_bitloops_hook(path):
            if os.path.lexists(chained):
                os.replace(chained, path)
                changes.append(HookChange(name, path, "restored", chained))
            else:
                path.unlink()
                changes.append(HookChange(name, path, "removed"))
        elif os.path.lexists(path):
            changes.append(HookChange(name, path, "foreign"))
        else:
            changes.append(HookChange(name, path, "not-installed"))
    exclude_folders(Git.locate(cwd).common_dir, remove=True)
    return changes


# Where git's own, uncommitted ignore rules are (shared by every work tree of the clone).
_EXCLUDE_FILE = "info/exclude"
_EXCLUDE_HEADER = "# bitloops: checkpoint folders wait here until the pre-commit hook adds them"
_EXCLUDE_FOLDERS = "/.bitloops/checkpoints/v1/*/"
#: The ignore file of the checkpoint folders, relative to the work tree.
GITIGNORE = ".bitloops/.gitignore"
_EXCLUDE_GITIGNORE = "/" + GITIGNORE


def exclude_folders(common_dir: Path, *, gitignore: bool = True, remove: bool = False) -> None:
    """Have git ignore checkpoint folders not yet committed (``remove``: no longer).

    A promotion writes the folder of a commit after that commit, so it waits in the work
    tree for the next one: ignored, ``git status`` stays clean and ``git add -A`` (on this
    branch or another) never sweeps it into a commit; the pre-commit hook adds the
    folders of the commits in HEAD's history with ``git add -f``. With ``gitignore``
    (branch mode, where that hook runs) ``.bitloops/.gitignore`` is ignored too until the
    hook adds it with the first folder; in the other modes it is left for you to commit.
    Kept in the clone's ``info/exclude``, not a committed file: only bitloops' hooks need
    it. Best effort; written atomically (the file holds your own rules too).
    """
    path = common_dir / _EXCLUDE_FILE
    ours = (_EXCLUDE_HEADER, _EXCLUDE_FOLDERS, _EXCLUDE_GITIGNORE)
    wanted = [] if remove else [_EXCLUDE_HEADER, _EXCLUDE_FOLDERS]
    if gitignore and not remove:
        wanted.append(_EXCLUDE_GITIGNORE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError):
        return
    lines = text.splitlines()
    kept = [line for line in lines if line not in ours]
    if [line for line in lines if line in ours] == wanted:
        return
    new = "\n".join([*kept, *wanted]) + ("\n" if kept or wanted else "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, new)
    except OSError:
        pass
