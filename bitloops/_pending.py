"""Promotions detached from ``git commit``: the draft's boundary is fixed at commit time.

Promoting a big draft takes longer than the commit itself, and ``git commit`` waits for
its post-commit hook. So when the draft holds at least :data:`DETACH_AT` events, the
post-commit hook only writes a *pending record* (the commit, and the time that bounds
its draft: the events recorded up to the commit) to ``<git dir>/bitloops-pending/``,
starts a worker process and returns. The worker promotes each pending commit, oldest
first, with only the events up to its boundary, under a lock file; the events recorded
after the commit stay in the draft for the next one.

Whatever needs the checkpoint waits for it: the next commit's pre-commit hook (it stages
the folder), pre-push, ``explain`` and any other hook that runs the full path take the
lock, and promote what a crashed worker left. See docs/git-hooks.md.

The detaching side runs in the hook process before the object model is imported: the
standard library, apsw, :mod:`bitloops.capture._direct` and :mod:`bitloops.store._hook_reads`
only.
"""

from __future__ import annotations

import os
import sys
import time

import bitloops._held as _held

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

__all__ = [
    "DETACH_AT",
    "PENDING_DIR",
    "WORKER_VARIABLE",
    "PendingPromotion",
    "PendingRewrite",
    "defer_rewrite",
    "detach_post_commit",
    "has_pending",
    "is_pending",
    "pending_promotions",
    "pending_rewrites",
    "promotion_lock",
]

#: The draft size (events) from which the post-commit hook promotes in a worker.
DETACH_AT = 500
#: The folder of pending records, in the work tree's git dir.
PENDING_DIR = "bitloops-pending"
#: Set in the worker's environment: its post-commit hook promotes the pending records only.
WORKER_VARIABLE = "BITLOOPS_PROMOTION_WORKER"
_LOCK = ".lock"
# A rewrite (amend, rebase) of a pending commit, linked once that commit is promoted.
_REWRITE = "rewrite-"
# Kept in step with bitloops.repository.DB_RELATIVE_PATH (tests/test_pending.py checks).
_DB = "bitloops/bitloops.db"
_STAGED = "bitloops-staged.json"  # bitloops.git._hooks._STAGED_RECORD


class PendingPromotion:
    """One commit waiting for its promotion: its SHA and the boundary of its draft."""

    __slots__ = ("path", "sha", "until")

    def __init__(self, path: str, sha: str, until: str) -> None:
        self.path = path
        self.sha = sha
        #: Canonical UTC timestamp text: the events recorded up to it are the commit's.
        self.until = until


class PendingRewrite:
    """A rewrite of a commit whose promotion was pending when git reported it: the new
    commit is linked to the old one's checkpoints once they exist."""

    __slots__ = ("new", "old", "path", "reason")

    def __init__(self, path: str, old: str, new: str, reason: str) -> None:
        self.path = path
        self.old = old
        self.new = new
        self.reason = reason


def is_pending(git_dir: str, sha: str) -> bool:
    """Whether commit ``sha`` has a pending record (its promotion is not finished)."""
    return os.path.exists(os.path.join(git_dir, PENDING_DIR, f"{sha}.json"))


def defer_rewrite(git_dir: str, old: str, new: str, reason: str) -> None:
    """Note that ``new`` rewrites ``old`` (``reason``: amend, rebase), for whoever promotes
    ``old`` (:func:`bitloops._commit_flow._promote_pending`) to link."""
    import json

    from bitloops._fs import atomic_write

    text = json.dumps({"old": old, "new": new, "reason": reason})
    # Named by when it was noted: rewrites of rewrites are linked in that order.
    name = f"{_REWRITE}{time.time_ns():020d}-{old}-{new}.json"
    atomic_write(os.path.join(git_dir, PENDING_DIR, name), text + "\n")


def pending_rewrites(git_dir: str) -> list[PendingRewrite]:
    """The rewrites waiting for their old commit's promotion, in the order they were
    noted (unreadable ones dropped)."""
    folder = os.path.join(git_dir, PENDING_DIR)
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith(_REWRITE))
    except OSError:
        return []
    import json

    found = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            old, new, reason = data["old"], data["new"], data["reason"]
            if not all(isinstance(v, str) for v in (old, new, reason)):
                raise ValueError("not a rewrite record")
        except FileNotFoundError:
            continue  # linked meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            _remove(path)
            continue
        found.append(PendingRewrite(path, old, new, reason))
    return found


def _now_ts() -> str:
    # The text bitloops._codec.format_ts gives (tests/test_pending.py checks). Imported
    # here: the hooks with nothing to do load this module too.
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def detach_post_commit(cwd: str) -> bool:
    """In the post-commit hook: record the commit as pending and start a worker.

    True when it did (the hook is done); False when the hook must run as usual: a small
    draft, the ``session`` strategy, a rebase or cherry-pick, the worker itself, an
    unusual repository, or anything this cannot tell for certain.
    """
    if os.environ.get(WORKER_VARIABLE) or os.name == "nt":  # (no flock there)
        return False
    try:
        from bitloops.capture._direct import locate, read_settings
        from bitloops.git._locate import read_head

        located = locate(cwd)
        if located is None:
            return False
        top, git_dir, common = located
        if any(
            os.path.lexists(os.path.join(git_dir, marker))
            for marker in ("rebase-merge", "rebase-apply", "CHERRY_PICK_HEAD")
        ):
            return False
        settings = read_settings(top)
        if settings is None or settings["strategy"] != "manual_commit":
            return False
        db = os.path.join(common, _DB)
        if not os.path.lexists(db):
            return False
        head = read_head(located)
        if head is None or head[1] is None or not _ordinary_commit(located, head[1]):
            return False
        until = _now_ts()
        from bitloops.store._hook_reads import connect, draft_size

        conn = connect(db)
        try:
            count = draft_size(conn, top)
        finally:
            conn.close()
        if count < DETACH_AT:
            return False
        folder = os.path.join(git_dir, PENDING_DIR)
        os.makedirs(folder, exist_ok=True)
        record = os.path.join(folder, f"{head[1]}.json")
        from bitloops._fs import atomic_write

        # Synced: a record lost to a power cut would be a commit never promoted.
        atomic_write(record, f'{{"sha": "{head[1]}", "until": "{until}"}}\n')  # plain ASCII
        # The commit happened: what pre-commit staged is in it (as _hooks._post_commit).
        try:
            os.unlink(os.path.join(git_dir, _STAGED))
        except FileNotFoundError:
            pass
        _start_worker(top)
        return True
    except Exception:  # the full path runs instead, and reports what is wrong
        return False


def _ordinary_commit(located: tuple[str, str, str], sha: str) -> bool:
    """Whether ``sha`` is a commit the full path would promote (not a cherry-pick to
    link, see ``_hooks._cherry_pick_source``), as far as the files tell; False if unsure."""
    from bitloops.git._locate import last_reflog_entry

    action = last_reflog_entry(located[1]) or ""
    if not action.startswith(
        ("commit:", "commit (initial):", "commit (amend):", "commit (merge):")
    ):
        return False  # a cherry-pick, a revert, anything else: the full path decides
    if action.startswith("commit (amend):"):
        return True
    # A commit concluding `git cherry-pick -x` after a conflict says so in its message.
    import zlib

    try:
        with open(os.path.join(located[2], "objects", sha[:2], sha[2:]), "rb") as fh:
            body = zlib.decompress(fh.read())
    except (OSError, zlib.error):
        return False  # packed already, or unreadable: the full path decides
    return b"(cherry picked from commit " not in body


def _start_worker(top: str) -> None:
    env = dict(os.environ)
    env[WORKER_VARIABLE] = "1"
    null = os.devnull
    # posix_spawn, not subprocess (whose import alone costs the hook milliseconds); its
    # own session, so that git, a terminal's Ctrl-C or a closed terminal leaves it be.
    # Python's own descriptors are not inherited (PEP 446); the standard ones go to null.
    os.posix_spawn(
        sys.executable,
        [sys.executable, "-P", "-m", "bitloops", "hook", "post-commit"],  # _launch.SAFE_PATH
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
        ],
        setsid=True,
    )


def has_pending(cwd: str) -> bool:
    """Whether the work tree around ``cwd`` has a commit waiting for its promotion."""
    try:
        from bitloops.git._locate import locate

        located = locate(cwd)
        if located is None:
            return False
        if _held.holds(located[1]):
            return False  # this thread is the one promoting them (bitloops._held)
        names = os.listdir(os.path.join(located[1], PENDING_DIR))
    except OSError:
        return False
    return any(name.endswith(".json") for name in names)


def pending_promotions(git_dir: str) -> list[PendingPromotion]:
    """The pending records of a work tree, oldest first (unreadable ones are dropped)."""
    folder = os.path.join(git_dir, PENDING_DIR)
    try:
        names = [
            n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(_REWRITE)
        ]
    except OSError:
        return []
    import json

    found: list[tuple[float, PendingPromotion]] = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            when = os.stat(path).st_mtime
            sha, until = data["sha"], data["until"]
            if not isinstance(sha, str) or not isinstance(until, str):
                raise ValueError("not a pending record")
        except FileNotFoundError:
            continue  # promoted meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            # Torn or foreign: the commit is left to the next promotion, as without hooks.
            _remove(path)
            continue
        found.append((when, PendingPromotion(path, sha, until)))
    found.sort(key=lambda pair: (pair[0], pair[1].until))
    return [record for _, record in found]


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def promotion_lock(git_dir: str, timeout: float) -> AbstractContextManager[bool]:
    """Hold the work tree's promotion lock while inside; yields False if it timed out.

    Only one process promotes pending records at a time; a waiter gives up after
    ``timeout`` seconds (a hook must never hang git) and goes on without the lock.
    """
    from contextlib import contextmanager

    @contextmanager
    def held() -> Iterator[bool]:
        folder = os.path.join(git_dir, PENDING_DIR)
        try:
            import fcntl
        except ImportError:  # no flock (Windows): promotions are not detached there
            yield True
            return
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, _LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.02)
            try:
                with _held.holding([git_dir]):
                    yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    return held()


def done(record: PendingPromotion | PendingRewrite) -> None:
    """Forget a pending record once its commit is promoted (a rewrite's, once linked)."""
    _remove(record.path)
