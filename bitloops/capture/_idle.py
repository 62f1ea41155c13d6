"""Whether a git hook has nothing to do, told without git's help or the object model.

Every ``git commit`` runs the pre-commit and post-commit hooks. Most commits of a
session-less repository, and every commit between two agent sessions, give them nothing
to do: no draft to promote, no checkpoint folder to stage. Finding that out through the
full path (the CLI, ``git rev-parse``, the Repository) costs more than the commit itself,
so ``python -m bitloops hook NAME`` asks :func:`nothing_to_do` first, which reads a few
files and, at most, runs one small query and one git command. Anything it cannot tell
for certain (an unusual repository, settings the full path would reject, a team store,
a spool, a rebase, a cherry-pick) makes it answer False, and the full path decides.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["nothing_to_do"]

# Kept in step with bitloops.repository.DB_RELATIVE_PATH, bitloops.git._hooks._STAGED_RECORD
# and bitloops.checkpoint._files.CHECKPOINTS_DIR
# (tests/test_idle_hooks.py checks each): importing those modules is what this avoids.
_DB = "bitloops/bitloops.db"
_STAGED = "bitloops-staged.json"
_FOLDERS = ".bitloops/checkpoints/v1"

# The agents whose open sessions a promotion catches up (bitloops.agents._registry.AGENTS).
_AGENTS = frozenset({"claude-code", "codex", "gemini", "cursor", "copilot", "opencode"})


def nothing_to_do(name: str, args: Sequence[str], cwd: str | None = None) -> bool:
    """True when the git hook ``name`` would change nothing; False when unsure.

    ``cwd`` is where git runs the hook (default: the working directory).
    """
    if args or name not in ("pre-commit", "post-commit"):
        return False
    try:
        from bitloops.capture._direct import locate, read_settings

        located = locate(os.getcwd() if cwd is None else cwd)
        if located is None:
            return False
        top, git_dir, common = located
        if os.path.lexists(os.path.join(git_dir, _STAGED)):
            return False  # post-commit clears it; the other hooks may unstage it
        settings = read_settings(top)
        if settings is None or settings["committed_store"] is not None:
            return False  # a team store may have checkpoints queued to send
        if name == "pre-commit":
            return _no_folders_to_stage(located, settings)
        if settings["checkpoint_files"] == "ref" and _folders(top):
            return False  # post-commit moves the work tree's folders to the ref
        return _no_draft(top, git_dir, common, settings["strategy"] == "session")
    except Exception:  # whatever went wrong, the full path finds it again and reports it
        return False


def _no_folders_to_stage(located: tuple[str, str, str], settings: dict[str, object]) -> bool:
    """pre-commit: no checkpoint folder in the work tree that HEAD's tree lacks."""
    if settings["checkpoint_files"] != "branch":
        return True
    entries = _folders(located[0])
    if not entries:
        return True
    from bitloops.git._locate import read_head, tree_dirs

    head = read_head(located)
    listed = None if head is None or head[1] is None else tree_dirs(located, head[1], _FOLDERS)
    if listed is None:  # not read from the files: git says
        import subprocess

        done = subprocess.run(
            ["git", "ls-tree", "-d", "--name-only", f"HEAD:{_FOLDERS}"],
            cwd=located[0],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            return False  # no HEAD yet, or no folders in it: the full path looks closer
        listed = done.stdout.decode("utf-8", "replace").split()
    committed = set(listed)
    return all(entry in committed for entry in entries)


def _folders(top: str) -> list[str]:
    """The checkpoint folders in the work tree (named by a full SHA)."""
    try:
        names = os.listdir(os.path.join(top, _FOLDERS))
    except FileNotFoundError:
        return []
    return [e for e in names if len(e) == 40 and all(c in "0123456789abcdef" for c in e)]


def _no_draft(top: str, git_dir: str, common: str, by_session: bool) -> bool:
    """post-commit: no draft, no spool, nothing a cherry-pick links, and no open session
    whose transcript has grown since it was last read."""
    if any(
        os.path.lexists(os.path.join(git_dir, marker))
        for marker in ("rebase-merge", "rebase-apply", "CHERRY_PICK_HEAD")
    ):
        return False
    from bitloops.capture._spool import pending  # stdlib only: here and in the cache folder

    if pending(common):
        return False
    db = os.path.join(common, _DB)
    if not os.path.lexists(db):
        return True  # nothing was ever recorded here
    from bitloops.store._hook_reads import connect, idle_state

    conn = connect(db)
    try:
        draft, checkpoints, open_sessions = idle_state(conn, top)
    finally:
        conn.close()
    if draft or (open_sessions and by_session):
        return False  # (the session strategy ends idle sessions at a commit)
    if not all(_read_to_end(common, str(sid)) for sid, agent in open_sessions if agent in _AGENTS):
        return False
    # A cherry-pick links the picked commit's checkpoint (bitloops.git._hooks._cherry_pick_source).
    return not checkpoints or not _cherry_picked((top, git_dir, common))


def _read_to_end(common: str, session_id: str) -> bool:
    """Whether the session's transcript was read to its end (its state file says how far).

    Unsure (no state, a replaced file, a Claude Code session with subagents' files) is
    False: the catch-up decides.
    """
    from bitloops.capture._direct import read_state

    state = read_state(common, session_id)
    if state is None:
        return False
    try:
        path = state["transcript_path"]
        if not isinstance(path, str) or os.path.isdir(os.path.splitext(path)[0]):
            return False
        info = os.stat(path)
    except (OSError, KeyError):
        return False
    return bool(info.st_size == state.get("offset") and info.st_ino == state.get("inode"))


def _cherry_picked(located: tuple[str, str, str]) -> bool:
    """Whether HEAD may be a cherry-pick: its reflog entry, or the ``-x`` trailer, says so."""
    from bitloops.git._locate import commit_message, last_reflog_entry, read_head

    action = last_reflog_entry(located[1])
    if action is None or action.startswith("cherry-pick"):
        return True
    head = read_head(located)
    message = None if head is None or head[1] is None else commit_message(located, head[1])
    if message is None:  # not read from the files: git says
        import subprocess

        done = subprocess.run(
            ["git", "log", "-1", "--format=%B", "HEAD"],
            cwd=located[0],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            return True
        message = done.stdout
    return b"(cherry picked from commit " in message
