"""Git hooks: install them (``bitloops enable``), remove them, and run them.

Each installed hook is a small POSIX ``sh`` script, recognised by its second line
(:data:`MARKER`), that runs ``<python> -m bitloops hook <name> "$@"`` with the Python that
installed it, then the hook that was there before (moved aside to
``<name>.bitloops-chained``) with the same arguments and standard input. The chained
hook's exit status is the hook's; bitloops itself never fails a git command (fail open):
what goes wrong is appended to ``<git common dir>/bitloops/hooks.log``.

Only the standard library and :mod:`bitloops.git._git` are imported at module level; the
database loads only when a hook has something to do.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from bitloops.git._git import Git, RepoPaths, is_sha

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = [
    "CHAINED_SUFFIX",
    "HOOK_NAMES",
    "LOG_RELATIVE_PATH",
    "MARKER",
    "HookChange",
    "disable",
    "enable",
    "hook_script",
    "hooks_dir",
    "is_bitloops_hook",
    "pending_folders",
    "run_hook",
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
_REASONS = {"amend": "amend", "rebase": "rebase"}


@attrs.frozen
class HookChange:
    """What ``enable`` or ``disable`` did to one hook file."""

    name: str
    path: Path
    #: installed, chained, updated, unchanged, conflict (enable);
    #: removed, restored, not-installed, foreign (disable).
    action: str
    #: The hook moved aside (enable) or moved back (disable), if any.
    chained: Path | None = None

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
    py = shlex.quote(python or sys.executable)
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


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
_GITIGNORE = ".bitloops/.gitignore"
_EXCLUDE_GITIGNORE = "/" + _GITIGNORE


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


# -- running hooks --------------------------------------------------------------------------


def run_hook(name: str, args: Sequence[str], cwd: Path, stdin: IO[str], err: IO[str]) -> str | None:
    """Run the hook ``name``; never raises. None when it worked.

    A failure is appended to the hook log, one line goes to ``err``, and the log's
    path (or what happened to it) is returned.
    """
    paths: RepoPaths | None = None
    try:
        paths = Git.locate(cwd)
        if name not in ("pre-commit", "post-commit"):
            unstage_after_abort(paths)
        if name == "post-commit":
            _post_commit(paths)
        elif name == "post-rewrite":
            reason = _REASONS.get(args[0] if args else "", "rewrite")
            # A terminal is not git's list of rewrites: never wait on it.
            isatty = getattr(stdin, "isatty", None)
            text = "" if isatty is not None and isatty() else stdin.read()
            _post_rewrite(paths, reason, text)
        elif name == "pre-commit":
            _pre_commit(paths)
        elif name == "post-merge":
            _post_merge(paths, args)
        elif name == "pre-push":
            isatty = getattr(stdin, "isatty", None)
            text = "" if isatty is not None and isatty() else stdin.read()
            _pre_push(paths, args, text, err)
    except Exception:
        where = _log_failure(paths, name)
        try:
            if paths is None:
                err.write(traceback.format_exc())
            err.write(f"bitloops: the {name} hook failed (git is unaffected); see {where}\n")
        except (OSError, ValueError):
            pass
        return where
    return None


def _log_failure(paths: RepoPaths | None, name: str) -> str:
    if paths is None:
        return "the traceback above"
    from bitloops.capture._hooklog import (
        log_exception,  # redacted and bounded, as every hooks.log entry
    )

    return log_exception(paths.common_dir, f"{name} failed", toplevel=paths.toplevel)


def _rebasing(git_dir: Path) -> bool:
    return (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists()


def _cherry_pick_source(paths: RepoPaths, git: Git) -> str | None:
    """The commit being cherry-picked, when git still says so (see docs/git-hooks.md)."""
    head_file = paths.git_dir / "CHERRY_PICK_HEAD"
    try:
        sha = head_file.read_text(encoding="utf-8").strip()
    except OSError:
        sha = ""
    if is_sha(sha):
        return sha
    # `git cherry-pick -x` leaves a trailer, also after a conflict was resolved; but an
    # amend keeps the message, trailer included, and is no cherry-pick.
    from bitloops.git._locate import last_reflog_entry

    action = last_reflog_entry(os.fspath(paths.git_dir))
    if action is None:
        action = git.try_run("reflog", "-1", "--format=%gs", "HEAD") or ""
    if action.startswith("commit (amend)"):
        return None
    head = git.head()
    message = (git.message(head) if head else None) or ""
    prefix = "(cherry picked from commit "
    for line in reversed(message.splitlines()):
        line = line.strip()
        if line.startswith(prefix) and line.endswith(")"):
            candidate = line[len(prefix) : -1].strip()
            if is_sha(candidate):
                return candidate
    return None


def _post_commit(paths: RepoPaths) -> None:
    # The commit happened: what pre-commit staged is in it.
    (paths.git_dir / _STAGED_RECORD).unlink(missing_ok=True)
    stop = None
    if _rebasing(paths.git_dir):
        stop = _edit_stop(paths)
        if stop is None:
            return  # the rebase's own commits: post-rewrite links them
    from bitloops.repository import DB_RELATIVE_PATH, Repository

    if not (paths.common_dir / DB_RELATIVE_PATH).exists():
        return  # nothing was ever recorded here: no draft, no checkpoints
    with Repository.open(paths.toplevel) as repo:
        if stop is not None:
            # A commit the user made at an `edit` stop: its own reasoning (the draft),
            # never the edited commit's, which git's list of rewrites will claim for it.
            _remember_stop(paths, stop)
            _promote_head(paths, repo)
            return
        source = _cherry_pick_source(paths, repo.git)
        if source is not None:
            ids = repo.store.checkpoint_ids(commit_sha=source)
            if ids:
                head = repo.git.resolve_commit("HEAD")
                for cid in ids:
                    repo.link(head, cid, "cherry-pick")
                _write_links(paths, repo, {head: dict.fromkeys(ids, "cherry-pick")})
                return
        _promote_head(paths, repo)


# The commits made at `edit` stops of the rebase under way: {new sha: the commit stopped at}.
_STOPS_RECORD = "bitloops-rebase-stops.json"


def _edit_stop(paths: RepoPaths) -> str | None:
    """The commit an interactive rebase stopped at for ``edit`` when the commit just made
    is the user's own (``git commit`` at the stop), not the rebase's; None otherwise.

    git writes ``rebase-merge/amend`` (the stopped commit) only at an ``edit`` stop; the
    rebase's own commits say ``rebase`` in HEAD's reflog. An amend at the stop is a
    rewrite of the stopped commit, promoted like any amend.
    """
    try:
        stopped = (paths.git_dir / "rebase-merge" / "amend").read_text("utf-8").strip()
    except OSError:
        return None
    from bitloops.git._locate import last_reflog_entry

    action = last_reflog_entry(os.fspath(paths.git_dir)) or ""
    if not is_sha(stopped) or not action.startswith("commit"):
        return None
    return "" if action.startswith("commit (amend)") else stopped


def _remember_stop(paths: RepoPaths, stopped: str) -> None:
    """Note that HEAD is a new commit made at an ``edit`` stop (``stopped``: "" for an amend)."""
    if not stopped:
        return
    head = Git(paths.toplevel).head()
    if head is None:
        return
    record = paths.git_dir / _STOPS_RECORD
    stops = _read_stops(paths)
    stops[head] = stopped
    record.write_text(json.dumps(stops), encoding="utf-8")


def _read_stops(paths: RepoPaths) -> dict[str, str]:
    try:
        data = json.loads((paths.git_dir / _STOPS_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if is_sha(k) and isinstance(v, str) and is_sha(v)}


def _write_links(paths: RepoPaths, repo: Repository, linked: dict[str, dict[str, str]]) -> None:
    """Write a link file for each commit of ``linked`` ({commit: {checkpoint id: reason}}).

    Branch mode: ``.bitloops/checkpoints/v1/<commit>/link.json`` in the work tree, which
    the pre-commit hook commits with the folders it names (a folder the work tree lacks
    is written from the database first); ref mode: straight into the checkpoint ref.
    Checkpoints created for the commit itself need no link.
    """
    mode = repo.settings.checkpoint_files
    if mode not in ("branch", "ref"):
        return
    from bitloops.checkpoint._files import CHECKPOINTS_DIR, folder_of
    from bitloops.checkpoint._links import Link, put_links_in_ref, write_link_file

    root = paths.toplevel / CHECKPOINTS_DIR
    for commit, reasons in linked.items():
        links = []
        for cid, reason in reasons.items():
            found = repo.store.execute(
                "SELECT commit_sha, content_hash FROM checkpoints WHERE checkpoint_id = ?", (cid,)
            )
            if not found:
                continue
            sha, content_hash = str(found[0][0]), str(found[0][1])
            if sha == commit:
                continue
            folder = folder_of(paths.toplevel, sha, cid)
            if mode == "branch" and not (folder / "session.json").is_file():
                committed = f"HEAD:{CHECKPOINTS_DIR}/{sha}/session.json"
                if repo.git.try_run("cat-file", "-e", committed) is None:
                    # as promotion wrote it (its own commit only), so that the copies
                    # two branches commit are the same and merge cleanly
                    checkpoint = repo.checkpoint(cid)
                    own = attrs.evolve(checkpoint, commits=(sha,))
                    repo._write_folder(own, [], rewrite_missing=True)
            rel = folder.relative_to(root).as_posix()
            links.append(Link(cid, rel, content_hash, reason))
        if not links:
            continue
        if mode == "ref":
            put_links_in_ref(paths.toplevel, commit, links)
        else:
            from bitloops.settings import ensure_gitignore

            ensure_gitignore(paths.toplevel)  # as a folder written by a promotion
            write_link_file(root, commit, links)


def _promote_head(paths: RepoPaths, repo: Repository) -> None:
    """Promote the draft to HEAD; in ref mode, move the new folders to the checkpoint ref.

    The open sessions' transcripts are caught up first (bounded), so that a commit the
    agent makes mid-turn still gets the turn's reasoning.
    """
    from bitloops.agents._registry import catch_up_all

    catch_up_all(repo, budget_seconds=2.0)
    gitignore = paths.toplevel / ".bitloops" / ".gitignore"
    had_gitignore = os.path.lexists(gitignore)
    checkpoint = repo.promote("HEAD")
    if repo.settings.checkpoint_files == "ref":
        _move_folders_to_ref(paths, remove_gitignore=not had_gitignore)
    if repo.settings.distiller is not None:  # detached: the commit never waits for it
        from bitloops.checkpoint._distill import after_promotion

        after_promotion(paths, repo, checkpoint)


def _move_folders_to_ref(paths: RepoPaths, *, remove_gitignore: bool) -> None:
    """Commit each untracked checkpoint folder of the work tree to the ref, then delete it.

    What the promotion created in the work tree (the folders, and ``.bitloops/.gitignore``
    when it was not there before) is removed, so that nothing is left to commit.
    """
    import shutil

    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.git._ref import add_to_ref

    root = paths.toplevel / CHECKPOINTS_DIR
    if root.is_dir():
        tracked_out = Git(paths.toplevel).try_run("ls-files", "--", CHECKPOINTS_DIR) or ""
        tracked = {line.split("/")[3] for line in tracked_out.splitlines() if line.count("/") >= 4}
        for entry in sorted(os.listdir(root)):
            folder = root / entry
            if not is_sha(entry) or entry in tracked or not (folder / "session.json").is_file():
                continue
            add_to_ref(paths.toplevel, entry, folder)
            shutil.rmtree(folder)
    bitloops_dir = paths.toplevel / ".bitloops"
    if remove_gitignore:
        gitignore = bitloops_dir / ".gitignore"
        if gitignore.is_file() and not Git(paths.toplevel).try_run(
            "ls-files", "--", ".bitloops/.gitignore"
        ):
            gitignore.unlink()
    for empty in (root, root.parent, bitloops_dir):
        try:
            empty.rmdir()  # only when empty
        except OSError:
            continue


def _post_merge(paths: RepoPaths, args: Sequence[str]) -> None:
    """After a merge that made a merge commit, promote the draft to it (see docs/git-hooks.md).

    A fast-forward (HEAD is not a merge commit: the commits came from elsewhere) and a
    squash merge (argument ``1``: nothing is committed yet) promote nothing.
    """
    if args and args[0] == "1":
        return
    from bitloops.repository import DB_RELATIVE_PATH, Repository

    if not (paths.common_dir / DB_RELATIVE_PATH).exists():
        return
    git = Git(paths.toplevel)
    head = git.head()
    if head is None:
        return
    parents = git.parents(head)
    orig = (git.try_run("rev-parse", "--verify", "--quiet", "ORIG_HEAD^{commit}") or "").strip()
    if len(parents) < 2 or parents[0] != orig:
        return
    with Repository.open(paths.toplevel) as repo:
        _promote_head(paths, repo)


def _pre_push(paths: RepoPaths, args: Sequence[str], text: str, err: IO[str]) -> None:
    """Ref mode: push the checkpoint ref too. Branch mode: say when a folder is not pushed."""
    from bitloops.settings import load_settings

    mode = load_settings(paths.toplevel).checkpoint_files
    if mode == "ref":
        if args:
            from bitloops.git._ref import push_ref

            push_ref(paths.toplevel, args[0])
        return
    if mode != "branch":
        return
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    git = Git(paths.toplevel)
    seen = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not is_sha(parts[1]) or set(parts[1]) == {"0"}:
            continue
        sha = parts[1]
        if sha in seen:
            continue
        seen.add(sha)
        folder = paths.toplevel / CHECKPOINTS_DIR / sha
        if not (folder / "session.json").is_file() and not (folder / "link.json").is_file():
            continue
        if git.try_run("cat-file", "-e", f"{sha}:{CHECKPOINTS_DIR}/{sha}") is None:
            err.write(
                f"bitloops: the reasoning of {sha[:7]} is not in this push yet; it is "
                "committed with your next commit\n"
            )


def _post_rewrite(paths: RepoPaths, reason: str, text: str) -> None:
    pairs = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and is_sha(parts[0]) and is_sha(parts[1]):
            pairs.append((parts[0], parts[1]))
    if not pairs:
        return
    if reason == "amend" and _rebasing(paths.git_dir):
        # A fixup or squash (or an amend at an `edit` stop) inside a rebase: its commit
        # may be rewritten again; the rebase's own list, at its end, maps every original
        # commit to its final one. Linking now would leave links of dead commits behind.
        return
    from bitloops.repository import DB_RELATIVE_PATH, Repository

    if not (paths.common_dir / DB_RELATIVE_PATH).exists():
        return

    stops = _read_stops(paths) if reason == "rebase" else {}
    with Repository.open(paths.toplevel) as repo:
        linked: dict[str, dict[str, str]] = {}
        for old, new in pairs:
            # git lists a commit made at an `edit` stop as the rewrite of the commit
            # stopped at: that one (as rebased) is the rewrite, the new commit has its own.
            target = stops.get(new, new)
            if target == old:
                continue  # the stopped commit was not rewritten at all
            for cid in repo.store.checkpoint_ids(commit_sha=old):
                repo.link(target, cid, reason)
                linked.setdefault(target, {})[cid] = reason
        _write_links(paths, repo, linked)
        repo._sync_after_promotion()  # team setup: the new links go to the shared store
        if repo.settings.checkpoint_files == "branch":
            _drop_superseded_links(paths, [old for old, _ in pairs])
    if reason == "rebase":
        (paths.git_dir / _STOPS_RECORD).unlink(missing_ok=True)


def _drop_superseded_links(paths: RepoPaths, olds: Sequence[str]) -> None:
    """Delete the link files of rewritten commits that git never committed.

    The new commit's link file names every checkpoint the old one's did, so an old
    uncommitted one (an amend made with ``--no-verify``, amended again) would only be
    left behind, named after a commit no longer in any history; one whose commit a
    branch still holds stays.
    """
    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.checkpoint._links import LINK_FILE

    git = Git(paths.toplevel)
    for old in dict.fromkeys(olds):
        folder = paths.toplevel / CHECKPOINTS_DIR / old
        link = folder / LINK_FILE
        if not link.is_file():
            continue
        if git.try_run("ls-files", "--error-unmatch", "--", f"{CHECKPOINTS_DIR}/{old}") is not None:
            continue  # tracked: git's history keeps it; the index decides, not us
        if git.try_run("for-each-ref", "--count=1", "--contains", old, "refs/heads"):
            continue  # still on a branch (another one holds the old commit): still needed
        link.unlink()
        try:
            folder.rmdir()  # only when nothing else is in it
        except OSError:
            pass


def _normal_index(paths: RepoPaths) -> bool:
    """False when ``GIT_INDEX_FILE`` names a temporary index (``git commit <paths>``)."""
    value = os.environ.get("GIT_INDEX_FILE")
    if not value:
        return True
    index = Path(value)
    if not index.is_absolute():
        index = paths.toplevel / index
    index = index.resolve()
    git_dir = paths.git_dir.resolve()
    return index in (git_dir / "index", git_dir / "index.lock")


def pending_folders(toplevel: Path) -> list[str]:
    """SHAs whose folder is in the work tree, complete, and not yet in HEAD's tree.

    Complete: a checkpoint folder (``session.json``) or a link folder (``link.json``).
    Only commits in HEAD's history count, plus the folders their link files name (a
    rewritten commit's checkpoint, named after the commit it was made for): these are
    the folders the pre-commit hook stages into the next ordinary commit
    (``checkpoint_files`` = ``branch``).
    """
    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.checkpoint._links import LINK_FILE, link_targets

    folder = toplevel / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    git = Git(toplevel)
    if git.head() is None:
        return []
    out = git.try_run("ls-tree", "-d", "--name-only", f"HEAD:{CHECKPOINTS_DIR}") or ""
    committed = set(out.split())
    complete, links = set(), set()
    for entry in os.listdir(folder):
        if not is_sha(entry) or entry in committed:
            continue
        if (folder / entry / "session.json").is_file():  # a complete checkpoint folder
            complete.add(entry)
        if (folder / entry / LINK_FILE).is_file():
            links.add(entry)
    candidates = sorted(complete | links)
    if len(candidates) <= 8:  # the usual case: the last commit or two
        live = [
            sha
            for sha in candidates
            if git.try_run("merge-base", "--is-ancestor", sha, "HEAD") is not None
        ]
    else:
        # Many (hooks were off for a while): one walk of history beats a process per folder.
        ancestors = set((git.try_run("rev-list", "HEAD") or "").split())
        live = [sha for sha in candidates if sha in ancestors]
    # The folders a live commit's link file names go with it: after a rebase or an
    # amend they are named after commits no longer in HEAD's history (see
    # docs/git-hooks.md), and would otherwise be left behind, never committed.
    targets = {
        target
        for sha in live
        if sha in links
        for target in link_targets(folder / sha, sha)
        if target in complete
    }
    return sorted(set(live) | targets)


# What the pre-commit hook staged, and on which HEAD, until post-commit sees the commit.
_STAGED_RECORD = "bitloops-staged.json"


def _staged_record(paths: RepoPaths) -> tuple[str | None, list[str]]:
    try:
        data = json.loads((paths.git_dir / _STAGED_RECORD).read_text(encoding="utf-8"))
        return data.get("head"), [p for p in data.get("paths", []) if isinstance(p, str)]
    except (OSError, ValueError, AttributeError):
        return None, []


def unstage_after_abort(paths: RepoPaths) -> list[str]:
    """Unstage the folders a pre-commit staged for a commit that then aborted.

    A commit can still abort after pre-commit ran (an empty message, a failing
    commit-msg hook). post-commit clears the record of what was staged; a record
    still there while HEAD has not moved and no commit is in progress (no
    ``index.lock``) means the commit never happened, so those folders go back to being
    unstaged, as they were. Returns the paths unstaged. Run by the other hooks and by
    ``bitloops status``.
    """
    record = paths.git_dir / _STAGED_RECORD
    if not record.exists() or (paths.git_dir / "index.lock").exists():
        return []
    head, staged = _staged_record(paths)
    git = Git(paths.toplevel)
    if head == git.head() and staged:
        git.try_run("reset", "-q", "--", *staged)
    else:
        staged = []
    record.unlink(missing_ok=True)
    return staged


def _pre_commit(paths: RepoPaths) -> None:
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    folder = paths.toplevel / CHECKPOINTS_DIR
    if not folder.is_dir() or not _normal_index(paths):
        return
    from bitloops.settings import load_settings

    if load_settings(paths.toplevel).checkpoint_files != "branch":
        return
    git = Git(paths.toplevel)
    exclude_folders(paths.common_dir)  # a clone enabled by an older bitloops
    pending = [f"{CHECKPOINTS_DIR}/{sha}" for sha in pending_folders(paths.toplevel)]
    if not pending:
        return
    from bitloops.git._locate import sparse_checkout, tracked

    located = (str(paths.toplevel), str(paths.git_dir), str(paths.common_dir))
    if (paths.toplevel / _GITIGNORE).is_file():
        known = tracked(located, _GITIGNORE)
        if known is None:  # an index format only git reads
            known = git.try_run("ls-files", "--error-unmatch", "--", _GITIGNORE) is not None
        if not known:
            pending.append(_GITIGNORE)  # it keeps settings.local.json out: it travels too
    already = set((git.try_run("diff", "--cached", "--name-only", "--", *pending) or "").split())
    fresh = [
        p for p in pending if p not in already and not any(a.startswith(p + "/") for a in already)
    ]
    # Folders a previous, aborted attempt on this HEAD staged were not staged by the user.
    head = git.head()
    old_head, earlier = _staged_record(paths)
    if old_head == head:
        fresh = list(dict.fromkeys([*earlier, *fresh]))
    # -f: the folders are ignored until now (see exclude_folders); --sparse: a sparse
    # checkout without .bitloops/ still commits them.
    sparse = ["--sparse"] if sparse_checkout(located) else []
    git.run("add", "-f", *sparse, "--", *pending)
    (paths.git_dir / _STAGED_RECORD).write_text(
        json.dumps({"head": head, "paths": fresh}), encoding="utf-8"
    )
