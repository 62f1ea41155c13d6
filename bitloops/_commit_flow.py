"""What bitloops does when git runs one of its hooks: the commit flow.

``pre-commit`` stages the checkpoint folders waiting for a commit, ``post-commit``
promotes the draft (or hands a big one to a detached worker, :mod:`bitloops._pending`),
``post-rewrite`` links rewritten commits to their checkpoints, ``post-merge`` reads what a
merge brought, and ``pre-push`` sends the checkpoint ref along. This needs capture (the
spool, transcripts to catch up) and checkpoint (promotion, folders, links), so it sits in
the façade's layer, above both (docs/architecture.md); installing the hooks is
:mod:`bitloops.git._hooks`'. Bitloops never fails a git command (fail open): what goes
wrong is appended to ``<git common dir>/bitloops/hooks.log``.

Only the standard library and :mod:`bitloops.git` are imported at module level; the
database loads only when a hook has something to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from bitloops._pending import WORKER_VARIABLE
from bitloops.git._git import Git, RepoPaths, is_sha
from bitloops.git._hooks import GITIGNORE, exclude_folders

# Not from typing, and attrs only where used: every commit's pre-commit hook that stages
# a folder imports this module, and those two would cost it more than the rest.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from datetime import datetime
    from typing import IO

    from bitloops.repository import Repository

__all__ = [
    "finish_pending",
    "pending_folders",
    "private_folders",
    "run_hook",
    "unstage_after_abort",
]

_REASONS = {"amend": "amend", "rebase": "rebase"}


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
        # Commits whose promotion was detached (bitloops/_pending.py) come first: the next
        # commit's folders, a push, the next promotion's parent all need them.
        worker = os.environ.pop(WORKER_VARIABLE, None) is not None
        # Not a rebase's own commits, though: they get no checkpoint (post-rewrite links
        # them, and waits for the workers then), and each of them waiting for a busy
        # worker would hold the rebase up once per pick.
        picking = name == "post-commit" and not worker and _rebase_pick(paths)
        if not picking:
            _promote_pending(paths, timeout=_PENDING_WAIT)
        if name == "post-commit" and worker:
            return None  # the worker promotes the pending commits only
        if name == "post-commit":
            if not picking:
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
                import traceback  # only here: every commit runs this module

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


def _rebase_pick(paths: RepoPaths) -> bool:
    """Whether the commit just made is a rebase's own (a pick, not the user's commit at
    an ``edit`` stop): post-rewrite links it to its checkpoints at the rebase's end."""
    if _rebasing(paths.git_dir) and _edit_stop(paths) is None:
        (paths.git_dir / _STAGED_RECORD).unlink(missing_ok=True)  # what it staged is in it
        return True
    return False


def _post_commit(paths: RepoPaths) -> None:
    """A commit that is not a rebase's own pick (:func:`_rebase_pick`): promote the
    draft into its checkpoint, or link a cherry-pick's."""
    # The commit happened: what pre-commit staged is in it.
    (paths.git_dir / _STAGED_RECORD).unlink(missing_ok=True)
    stop = _edit_stop(paths) if _rebasing(paths.git_dir) else None
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
    from bitloops.checkpoint._private import private_ids

    root = paths.toplevel / CHECKPOINTS_DIR
    kept = private_ids(repo, [cid for reasons in linked.values() for cid in reasons])
    for commit, reasons in linked.items():
        links = []
        for cid, reason in reasons.items():
            if cid in kept:
                continue  # a private checkpoint: not even its id travels
            found = repo.store.checkpoint_heads([cid]).get(cid)
            if found is None:
                continue
            sha, content_hash = found.commit_sha, found.content_hash
            if sha == commit:
                continue
            folder = folder_of(paths.toplevel, sha, cid)
            if mode == "branch" and not (folder / "session.json").is_file():
                committed = f"HEAD:{CHECKPOINTS_DIR}/{sha}/session.json"
                if repo.git.try_run("cat-file", "-e", committed) is None:
                    # as promotion wrote it (its own commit only), so that the copies
                    # two branches commit are the same and merge cleanly
                    import attrs

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


# How long a hook waits for another process's detached promotion before going on.
_PENDING_WAIT = 30.0


def finish_pending(cwd: Path, timeout: float = _PENDING_WAIT) -> None:
    """Wait for (or do) the promotions detached from commits of the work tree at ``cwd``.

    For commands that read checkpoints (``explain``): a commit just made may still be
    being promoted by its worker. Fails open like a hook: a failure is logged.
    """
    from bitloops._pending import has_pending

    if not has_pending(os.fspath(cwd)):
        return
    paths: RepoPaths | None = None
    try:
        paths = Git.locate(cwd)
        _promote_pending(paths, timeout=timeout)
    except Exception:
        _log_failure(paths, "waiting for a detached promotion")


def _promote_pending(paths: RepoPaths, *, timeout: float) -> None:
    """Promote the commits whose promotion was detached from them, oldest first.

    Each gets the draft up to its boundary. Run under the work tree's promotion lock:
    while a worker holds it this waits (up to ``timeout``, then goes on without). A
    commit whose promotion fails is logged and dropped from the records: its events
    stay in the draft and go to the next commit's checkpoint, as without the hooks.
    """
    from bitloops._pending import (
        done,
        is_pending,
        pending_promotions,
        pending_rewrites,
        promotion_lock,
    )

    git_dir = os.fspath(paths.git_dir)
    if not pending_promotions(git_dir) and not pending_rewrites(git_dir):
        return
    with promotion_lock(git_dir, timeout) as held:
        records = pending_promotions(git_dir) if held else []
        rewrites = pending_rewrites(git_dir) if held else []
        if not records and not rewrites:
            return
        from bitloops._codec import parse_ts
        from bitloops.repository import Repository

        with Repository.open(paths.toplevel) as repo:
            for record in records:
                try:
                    _promote_head(paths, repo, record.sha, parse_ts(record.until))
                except Exception:
                    _log_failure(paths, f"the detached promotion of {record.sha}")
                done(record)
            # Rewrites of those commits a hook could not wait for: linked now that their
            # checkpoints exist, in the order they were noted (a rewrite of a rewrite
            # after it). One whose commit is pending still (recorded meanwhile) waits for
            # that promotion, and so does any rewrite of its new commit.
            blocked: set[str] = set()
            for rewrite in pending_rewrites(git_dir):
                if rewrite.old in blocked or is_pending(git_dir, rewrite.old):
                    blocked.add(rewrite.new)
                    continue
                try:
                    _link_rewrites(paths, repo, [(rewrite.old, rewrite.new)], rewrite.reason)
                except Exception:
                    _log_failure(paths, f"linking {rewrite.new}, the rewrite of {rewrite.old}")
                done(rewrite)


def _promote_head(
    paths: RepoPaths, repo: Repository, ref: str = "HEAD", until: datetime | None = None
) -> None:
    """Promote the draft to ``ref`` (HEAD), up to the time ``until`` if given; in ref
    mode, move the new folders to the checkpoint ref.

    The open sessions' transcripts are caught up first (bounded), so that a commit the
    agent makes mid-turn still gets the turn's reasoning.
    """
    from bitloops.agents._registry import catch_up_all
    from bitloops.store._live import capped_clock

    if until is None:
        catch_up_all(repo, budget_seconds=2.0)
    else:  # a detached promotion: what the agent wrote before the commit belongs to it
        with capped_clock(until):
            catch_up_all(repo, budget_seconds=2.0)
    gitignore = paths.toplevel / ".bitloops" / ".gitignore"
    had_gitignore = os.path.lexists(gitignore)
    checkpoint = repo.promote(ref, until=until)
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

    from bitloops._workspace import DB_RELATIVE_PATH as db_path
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
            # A backstop: what is private goes nowhere (the database keeps it).
            hidden = private_folders(paths.common_dir / db_path, [folder])
            for part in sorted(hidden, key=lambda p: len(p.parts), reverse=True):
                shutil.rmtree(part)
            if folder.is_dir() and (folder / "session.json").is_file():
                add_to_ref(paths.toplevel, entry, folder)
            if folder.is_dir():
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
    _warn_private_in_push(paths, text, err)


def _warn_private_in_push(paths: RepoPaths, text: str, err: IO[str]) -> None:
    """Branch mode: say when a commit being pushed holds the folder of a checkpoint made
    private after that commit was made (the push is not stopped: hooks never block)."""
    from bitloops._workspace import DB_RELATIVE_PATH

    if not (paths.common_dir / DB_RELATIVE_PATH).exists():
        return
    from bitloops.checkpoint._private import held_by_push
    from bitloops.repository import Repository

    with Repository.open(paths.toplevel) as repo:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 4 or not is_sha(parts[1]) or set(parts[1]) == {"0"}:
                continue
            remote = None if set(parts[3]) == {"0"} else parts[3]
            for cid, commit in held_by_push(repo, parts[1], remote):
                err.write(
                    f"bitloops: commit {commit[:7]} in this push still holds the folder of "
                    f"checkpoint {cid}, which you made private; rewrite that commit "
                    "(git rebase -i) before pushing to keep it local\n"
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
    # git lists a commit made at an `edit` stop as the rewrite of the commit stopped at:
    # that one (as rebased) is the rewrite, the new commit has its own.
    pairs = [(old, stops.get(new, new)) for old, new in pairs]
    pairs = [(old, new) for old, new in pairs if new != old]  # the stopped commit itself
    from bitloops._pending import defer_rewrite, is_pending, pending_rewrites

    # A commit whose detached promotion is still under way (its worker outlasted the
    # wait) has no checkpoint yet, nor has one whose own rewrite waits for that: its
    # rewrite is linked once it has (_promote_pending).
    git_dir = os.fspath(paths.git_dir)
    waiting = {rewrite.new for rewrite in pending_rewrites(git_dir)}
    deferred = [(old, new) for old, new in pairs if old in waiting or is_pending(git_dir, old)]
    try:
        with Repository.open(paths.toplevel) as repo:
            _link_rewrites(paths, repo, [pair for pair in pairs if pair not in deferred], reason)
    finally:
        for old, new in deferred:
            try:
                defer_rewrite(git_dir, old, new, reason)
            except OSError:  # a full disk: the others are noted all the same
                _log_failure(paths, f"noting {new}, the rewrite of {old}")
    if reason == "rebase":
        (paths.git_dir / _STOPS_RECORD).unlink(missing_ok=True)


def _link_rewrites(
    paths: RepoPaths, repo: Repository, pairs: Sequence[tuple[str, str]], reason: str
) -> None:
    """Link each rewritten commit's new commit to the old one's checkpoints."""
    if not pairs:
        return
    linked: dict[str, dict[str, str]] = {}
    for old, new in pairs:
        for cid in repo.store.checkpoint_ids(commit_sha=old):
            repo.link(new, cid, reason)
            linked.setdefault(new, {})[cid] = reason
    _write_links(paths, repo, linked)
    repo._sync_after_promotion()  # team setup: the new links go to the shared store
    if repo.settings.checkpoint_files == "branch":
        _drop_superseded_links(paths, [old for old, _ in pairs])


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


def private_folders(db: Path, folders: Sequence[Path]) -> list[Path]:
    """Those of ``folders`` and their sub-folders whose ``session.json`` names a private
    checkpoint of the database ``db`` (see bitloops/checkpoint/_private.py)."""
    owners: dict[str, Path] = {}
    for folder in folders:
        for meta in [folder / "session.json", *folder.glob("*/session.json")]:
            try:
                cid = json.loads(meta.read_text(encoding="utf-8")).get("checkpoint_id")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(cid, str):
                owners[cid] = meta.parent
    if not owners:
        return []
    from bitloops.store._private import private_in_file

    return [owners[cid] for cid in sorted(private_in_file(str(db), list(owners)))]


def pending_folders(toplevel: Path) -> list[str]:
    """SHAs whose folder is in the work tree, complete, and not yet in HEAD's tree.

    Complete: a checkpoint folder (``session.json``) or a link folder (``link.json``).
    Only commits in HEAD's history count, plus the folders their link files name (a
    rewritten commit's checkpoint, named after the commit it was made for): these are
    the folders the pre-commit hook stages into the next ordinary commit
    (``checkpoint_files`` = ``branch``).
    """
    folder = toplevel / _FOLDERS
    if not folder.is_dir():
        return []
    git = Git(toplevel)
    head = git.head()
    if head is None:
        return []
    from bitloops.git._locate import locate, tree_dirs

    located = locate(os.fspath(toplevel))
    listed = None if located is None else tree_dirs(located, head, _FOLDERS)  # no process
    if listed is None:
        listed = (git.try_run("ls-tree", "-d", "--name-only", f"HEAD:{_FOLDERS}") or "").split()
    committed = set(listed)
    complete, links = set(), set()
    for entry in os.listdir(folder):
        if not is_sha(entry) or entry in committed:
            continue
        if (folder / entry / "session.json").is_file():  # a complete checkpoint folder
            complete.add(entry)
        if (folder / entry / _LINK_FILE).is_file():
            links.add(entry)
    if complete:
        # A backstop: a private checkpoint's folder is never written, but one written
        # before it was marked (or by an older bitloops) must not be committed.
        from bitloops._workspace import DB_RELATIVE_PATH

        db = Git.locate(toplevel).common_dir / DB_RELATIVE_PATH
        hidden = {p.name for p in private_folders(db, [folder / sha for sha in complete])}
        complete -= hidden
    candidates = sorted(complete | links)
    if len(candidates) <= 8:  # the usual case: the last commit or two
        live = [
            sha
            for sha in candidates
            # HEAD's own folder (the commit just before this one) needs no git to say so.
            if sha == head or git.try_run("merge-base", "--is-ancestor", sha, "HEAD") is not None
        ]
    else:
        # Many (hooks were off for a while): one walk of history beats a process per folder.
        ancestors = set((git.try_run("rev-list", "HEAD") or "").split())
        live = [sha for sha in candidates if sha in ancestors]
    # The folders a live commit's link file names go with it: after a rebase or an
    # amend they are named after commits no longer in HEAD's history (see
    # docs/git-hooks.md), and would otherwise be left behind, never committed.
    if not links:
        return sorted(live)
    from bitloops.checkpoint._links import link_targets

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


# bitloops.checkpoint._files.CHECKPOINTS_DIR, without importing the object model that
# module loads: staging the folders is on every commit's path (tests/test_pending.py).
_FOLDERS = ".bitloops/checkpoints/v1"
_LINK_FILE = "link.json"  # bitloops.checkpoint._links.LINK_FILE
# The temporary files of bitloops._fs.atomic_write (``.NAME.PID.RANDOM.tmp``), left in a
# folder by a process killed mid-write: never staged with it.
_NOT_TEMPORARY = f":(exclude,glob){_FOLDERS}/**/.*.tmp"


def _checkpoint_files(toplevel: Path) -> str:
    """The ``checkpoint_files`` setting, read without the settings model when it can be."""
    from bitloops.capture._direct import read_settings

    light = read_settings(os.fspath(toplevel))
    if light is not None:
        return str(light["checkpoint_files"])
    from bitloops.settings import load_settings  # it says what is wrong with them

    return load_settings(toplevel).checkpoint_files


def _pre_commit(paths: RepoPaths) -> None:
    folder = paths.toplevel / _FOLDERS
    if not folder.is_dir() or not _normal_index(paths):
        return
    if _checkpoint_files(paths.toplevel) != "branch":
        return
    git = Git(paths.toplevel)
    exclude_folders(paths.common_dir)  # a clone enabled by an older bitloops
    pending = [f"{_FOLDERS}/{sha}" for sha in pending_folders(paths.toplevel)]
    if not pending:
        return
    from bitloops.git._locate import sparse_checkout, tracked

    located = (str(paths.toplevel), str(paths.git_dir), str(paths.common_dir))
    if (paths.toplevel / GITIGNORE).is_file():
        known = tracked(located, GITIGNORE)
        if known is None:  # an index format only git reads
            known = git.try_run("ls-files", "--error-unmatch", "--", GITIGNORE) is not None
        if not known:
            pending.append(GITIGNORE)  # it keeps settings.local.json out: it travels too
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
    from bitloops._workspace import DB_RELATIVE_PATH

    db = paths.common_dir / DB_RELATIVE_PATH
    hidden = private_folders(db, [paths.toplevel / p for p in pending if p != GITIGNORE])
    skip = [f":(exclude){h.relative_to(paths.toplevel).as_posix()}" for h in hidden]
    git.run("add", "-f", *sparse, "--", *pending, _NOT_TEMPORARY, *skip)
    (paths.git_dir / _STAGED_RECORD).write_text(
        json.dumps({"head": head, "paths": fresh}), encoding="utf-8"
    )
