"""Keeping reasoning local: private sessions and checkpoints.

A private checkpoint is promoted like any other and reads in this clone (``explain``,
``search``, ``rewind``, the history features), but it never travels: it gets no folder in
``.bitloops/checkpoints/v1``, no entry in the checkpoint ref, no link file, is not sent
to the shared store, and ``review`` and ``export`` leave it out.

A checkpoint is private when it is marked itself or when it holds events of a session
marked private: one private session makes its whole checkpoint local (the simplest rule
that cannot leak: the folder, its content hash and the chain are never split).

Marks are made before a session records (the ``private`` setting or ``BITLOOPS_PRIVATE``,
read when the session starts; ``bitloops record private`` on the open session) or
afterwards, by :func:`keep_local`, as long as nothing of it has left this clone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bitloops.errors import (
    AlreadyShared,
    CheckpointNotFound,
    GitError,
    SessionNotFound,
)
from bitloops.store import _commits as commits
from bitloops.store import _private as marks

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints
    from bitloops.model import Checkpoint

__all__ = [
    "AlreadyShared",
    "KeptLocal",
    "Marks",
    "draft_is_private",
    "held_by_push",
    "is_private",
    "keep_local",
    "private_ids",
    "read_marks",
]

# The checkpoint ref, as bitloops/git/_ref.py names it (not imported: it loads subprocess
# helpers the readers here do not need).
_REF = "refs/bitloops/checkpoints/v1"
_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class Marks:
    """The ids marked private in this clone."""

    sessions: frozenset[str] = frozenset()
    checkpoints: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class KeptLocal:
    """What :func:`keep_local` did."""

    #: The session marked, or None when a checkpoint was named.
    session_id: str | None
    #: The checkpoints now private (a session's: every one holding its events).
    checkpoint_ids: tuple[str, ...]
    #: Folders and ref entries taken back (paths relative to the work tree, or ``ref:``).
    removed: tuple[str, ...] = ()
    #: Things the user must still do (a local commit that holds a folder).
    notes: tuple[str, ...] = ()


def read_marks(repo: Checkpoints) -> Marks:
    """Every private mark of ``repo``'s clone (a handful of rows)."""
    return Marks(
        sessions=frozenset(marks.marked(repo.store, "session")),
        checkpoints=frozenset(marks.marked(repo.store, "checkpoint")),
    )


def is_private(checkpoint: Checkpoint, found: Marks) -> bool:
    """True when ``checkpoint`` stays local: marked, or holding a private session's events."""
    if checkpoint.checkpoint_id in found.checkpoints:
        return True
    return any(info.session_id in found.sessions for info in checkpoint.sessions)


def private_ids(repo: Checkpoints, checkpoint_ids: Sequence[str]) -> set[str]:
    """Those of ``checkpoint_ids`` (local ones) that are private."""
    if not checkpoint_ids:
        return set()
    return marks.private_checkpoints(repo.store, checkpoint_ids)


def draft_is_private(repo: Checkpoints, session_ids: Sequence[str]) -> bool:
    """True when a draft holding events of ``session_ids`` makes a private checkpoint."""
    return bool(marks.sessions_marked(repo.store, session_ids))


def mark_session(repo: Checkpoints, session_id: str) -> None:
    """Mark a session private before (or as) it records: nothing of it has left yet."""
    marks.mark(repo.store, "session", [session_id])


def may_mark_on_start(repo: Checkpoints, session_id: str) -> bool:
    """True when the ``private`` setting may mark ``session_id`` as it (re)starts: no
    checkpoint holds its events yet. A resumed session's past checkpoints may have been
    pushed or sent; marking it would make them private here while the others have them
    (:func:`keep_local` checks that first)."""
    return not marks.checkpoints_of_sessions(repo.store, [session_id])


def mark_checkpoint(repo: Checkpoints, checkpoint_id: str) -> None:
    """Record that a checkpoint just promoted from a private session's draft is private."""
    marks.mark(repo.store, "checkpoint", [checkpoint_id])


# -- afterwards ----------------------------------------------------------------------------


def keep_local(
    repo: Checkpoints, *, session_id: str | None = None, checkpoint_id: str | None = None
) -> KeptLocal:
    """Mark a session (and every checkpoint holding its events) or one checkpoint private,
    and take back what was written for sharing and has not left this clone.

    Refused with :class:`AlreadyShared`, marking nothing, when any of those checkpoints
    (or a link file naming it) is in a pushed commit (branch mode), in the pushed
    checkpoint ref, or in the shared store, or when that cannot be told for sure (a
    remote does not answer, its ref has commits this clone lacks or has diverged, it
    moved during the rewrite). Otherwise its folder and the link entries naming it leave
    the work tree and the index (the next commit drops them; a local commit that holds
    one already is named in :attr:`KeptLocal.notes`), its ref entry and link entries are
    removed from every commit of the ref not yet pushed, and it leaves the outbox.
    """
    if (session_id is None) == (checkpoint_id is None):
        raise ValueError("name a session or a checkpoint")
    if session_id is not None:
        if not repo.store.sessions(session_ids=[session_id]):
            raise SessionNotFound(
                f"no session {session_id!r} in this clone; `bitloops status` lists the open ones"
            )
        cids = marks.checkpoints_of_sessions(repo.store, [session_id])
    else:
        assert checkpoint_id is not None
        if not repo.store.has_checkpoint(checkpoint_id):
            raise CheckpointNotFound(
                f"checkpoint {checkpoint_id} was not made in this clone, so it is not yours "
                "to keep local; only a checkpoint this clone created can be made private"
            )
        cids = [checkpoint_id]
    where = {cid: _folder(repo, cid) for cid in cids}
    for cid, (sha, rel) in where.items():
        problem = _shared(repo, cid, sha, rel)
        if problem is not None:
            what = f"session {session_id}" if session_id else f"checkpoint {cid}"
            raise AlreadyShared(
                f"{what} cannot be kept local: {problem}. What was pushed or sent stays "
                "with the others; mark new sessions private before they record (the "
                "`private` setting, BITLOOPS_PRIVATE=1 or `bitloops record private`)"
            )
    before = read_marks(repo)
    if session_id is not None:
        marks.mark(repo.store, "session", [session_id])
    marks.mark(repo.store, "checkpoint", cids)
    queued = marks.queued(repo.store, cids)
    marks.unqueue(repo.store, cids)
    if repo.team:
        # A sync running meanwhile may have sent one before the mark (it checks again
        # right before each send): ask the store now, and give the new marks back if so.
        shared = repo.shared_store
        assert shared is not None
        sent = [cid for cid in cids if shared.has_checkpoint(cid)]
        if sent:
            _give_back(repo, before, session_id, cids, queued)
            what = f"session {session_id}" if session_id else f"checkpoint {sent[0]}"
            raise AlreadyShared(
                f"{what} cannot be kept local: a `bitloops sync` sent checkpoint {sent[0]} "
                "to the shared store while it was being marked; what was sent stays shared"
            )
    removed: list[str] = []
    notes: list[str] = []
    # The ref first: it is the step that can still be refused (a remote moved), and then
    # nothing else has changed. Also an entry only in older commits of the ref: pushing
    # the ref would send those.
    ref_paths = [
        (cid, rel) for cid, (_sha, rel) in where.items() if _in_ref(repo, rel, history=True)
    ]
    ref_links = _links_in_ref(repo, _REF, cids)
    if ref_paths or ref_links:
        try:
            _drop_from_ref(repo, ref_paths, set(cids))
        except AlreadyShared:
            _give_back(repo, before, session_id, cids, queued)
            raise
        removed += [f"ref:{rel}" for _cid, rel in ref_paths]
        removed += [f"ref:{name}" for name in ref_links]
    for cid, (_sha, rel) in where.items():
        removed += _take_back_folder(repo, cid, rel, notes)
    removed += _take_back_links(repo, set(cids), notes)
    return KeptLocal(
        session_id=session_id,
        checkpoint_ids=tuple(cids),
        removed=tuple(removed),
        notes=tuple(notes),
    )


def _give_back(
    repo: Checkpoints,
    before: Marks,
    session_id: str | None,
    cids: Sequence[str],
    queued: Sequence[str],
) -> None:
    """Take back the marks :func:`keep_local` added (those not in ``before``) and put
    ``queued`` back in the outbox when it is refused after marking: what left stays
    shared, and the rest is as it was."""
    if session_id is not None and session_id not in before.sessions:
        marks.unmark(repo.store, "session", [session_id])
    marks.unmark(repo.store, "checkpoint", [c for c in cids if c not in before.checkpoints])
    marks.requeue(repo.store, [c for c in queued if not private_ids(repo, [c])])


def held_by_push(repo: Checkpoints, local: str, remote: str | None) -> list[tuple[str, str]]:
    """Private checkpoints whose folder a commit being pushed still holds (committed before
    the checkpoint was made private): ``(checkpoint id, commit)`` pairs, for pre-push to
    warn about. ``remote`` is the remote's tip (None for a new branch)."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    exclude = [f"^{remote}"] if remote else []
    out = repo.git.try_run(
        "log", "--format=@%H", "--name-only", "--max-count=1000", local, *exclude,
        "--not", "--remotes", "--", CHECKPOINTS_DIR,
    )  # fmt: skip
    # One git call for the whole push: which folders' session.json each pushed commit
    # touched (newest first); most pushes touch none of a private checkpoint's.
    touched: dict[str, list[str]] = {}
    commit = ""
    for line in (out or "").splitlines():
        if line.startswith("@"):
            commit = line[1:]
        elif line.startswith(f"{CHECKPOINTS_DIR}/") and line.endswith("/session.json"):
            rel = line[len(CHECKPOINTS_DIR) + 1 : -len("/session.json")]
            touched.setdefault(rel, []).append(commit)
    if not touched:
        return []
    shas = sorted({rel.split("/")[0] for rel in touched})
    cids = [cid for sha in shas for cid in commits.checkpoints_of_commit(repo.store, sha)]
    found = []
    for cid in sorted(private_ids(repo, cids)):
        rel = _folder(repo, cid)[1]
        path = f"{CHECKPOINTS_DIR}/{rel}/session.json"
        # The commit that adds it holds it; a later one that removes it does not.
        for commit in touched.get(rel, ()):
            if repo.git.try_run("cat-file", "-e", f"{commit}:{path}") is not None:
                found.append((cid, commit))
                break
    return found


def _folder(repo: Checkpoints, cid: str) -> tuple[str, str]:
    """The commit a checkpoint was created for, and its folder's path below the folders' root.

    The first checkpoint *written* for a commit has the commit's folder, a later one a
    sub-folder named after its id (as :func:`bitloops.checkpoint._files.folder_of` places
    them). A private checkpoint is never written, so the first one created need not own
    ``<sha>/``: the owner is read from ``<sha>/session.json`` wherever it is (work tree,
    index, HEAD, the ref, the history), and the first created only decides when no copy
    is found.
    """
    sha = commits.commit_of(repo.store, cid)
    owners = _owners(repo, sha)
    if owners:
        return sha, sha if cid in owners else f"{sha}/{cid}"
    rel = sha if commits.first_of_commit(repo.store, sha) == cid else f"{sha}/{cid}"
    return sha, rel


def _owner(text: str | None) -> str | None:
    """The ``checkpoint_id`` a session.json's text names (None: absent or unreadable)."""
    import json

    if not text:
        return None
    try:
        value = json.loads(text).get("checkpoint_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _owners(repo: Checkpoints, rel: str) -> set[str]:
    """The checkpoint ids that ``<rel>/session.json`` names anywhere in this clone: the work
    tree, the index, HEAD, the checkpoint ref and the commits that touched it."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    path = f"{CHECKPOINTS_DIR}/{rel}/session.json"
    texts: list[str | None] = []
    try:
        texts.append((repo.toplevel / path).read_text(encoding="utf-8"))
    except OSError:
        pass
    git = repo.git
    texts.append(git.try_run("cat-file", "blob", f":{path}"))
    texts.append(git.try_run("cat-file", "blob", f"HEAD:{path}"))
    texts.append(git.try_run("cat-file", "blob", f"{_REF}:{rel}/session.json"))
    touched = git.try_run("log", "--all", "--format=%H", "--max-count=20", "--", path) or ""
    texts += [git.try_run("cat-file", "blob", f"{c}:{path}") for c in touched.split()]
    if git.try_run("rev-parse", "--verify", "--quiet", f"{_REF}^{{commit}}") is not None:
        in_ref = git.try_run(
            "log", "--format=%H", "--max-count=20", _REF, "--", f"{rel}/session.json"
        )
        texts += [
            git.try_run("cat-file", "blob", f"{c}:{rel}/session.json")
            for c in (in_ref or "").split()
        ]
    return {owner for owner in map(_owner, texts) if owner is not None}


def _shared(repo: Checkpoints, cid: str, sha: str, rel: str) -> str | None:
    """Why checkpoint ``cid`` has already left this clone, or None when it has not."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    git = repo.git
    path = f"{CHECKPOINTS_DIR}/{rel}/session.json"
    pushed = git.try_run("rev-list", "-1", "--remotes", "--", path)
    if pushed is None:
        raise GitError("git cannot list the pushed commits (`git rev-list --remotes`)")
    if pushed.strip():
        return (
            f"its folder {CHECKPOINTS_DIR}/{rel}/ is in commit {pushed.strip()[:12]}, which "
            "a remote has (it was pushed)"
        )
    links = f"{CHECKPOINTS_DIR}/*/link.json"
    linked = git.try_run("log", "--remotes", "-1", "--format=%H", f"-G{cid}", "--", links)
    if linked and linked.strip():
        return (
            f"a link file naming it is in commit {linked.strip()[:12]}, which a remote has "
            "(it was pushed)"
        )
    in_ref = _in_ref(repo, rel, history=True)
    ref_linked = bool(_ref_log(repo, _REF, cid))
    if in_ref or ref_linked:
        for remote, tip in _remote_tips(repo, cid):
            if in_ref and git.try_run("rev-list", "-1", tip, "--", f"{rel}/session.json"):
                return f"it is in the checkpoint ref pushed to {remote}"
            if ref_linked and _ref_log(repo, tip, cid):
                return f"a link naming it is in the checkpoint ref pushed to {remote}"
    if repo.team and not marks.queued(repo.store, [cid]):
        shared = repo.shared_store
        assert shared is not None
        if shared.has_checkpoint(cid):
            return "it was sent to the shared store (`bitloops sync`)"
    return None


def _ref_log(repo: Checkpoints, tip: str, cid: str) -> str:
    """The newest commit of the ref's history at ``tip`` whose link files' changes
    mention ``cid`` ("" when none, or no such ref)."""
    if repo.git.try_run("rev-parse", "--verify", "--quiet", f"{tip}^{{commit}}") is None:
        return ""
    out = repo.git.try_run("log", tip, "-1", "--format=%H", f"-G{cid}", "--", "*/link.json")
    return (out or "").strip()


def _remote_tips(repo: Checkpoints, cid: str) -> list[tuple[str, str]]:
    """Each remote's checkpoint ref tip, as ``(remote, tip)``; :class:`AlreadyShared` when
    a remote cannot be asked or has commits this clone lacks (it cannot tell, so it
    refuses rather than guess)."""
    git = repo.git
    tips = []
    for remote in (git.try_run("remote") or "").split():
        out = git.try_run("ls-remote", "--refs", "--", remote, _REF)
        if out is None:
            raise AlreadyShared(
                f"cannot tell whether checkpoint {cid} left with the checkpoint ref: "
                f"`git ls-remote {remote}` failed; try again when {remote} answers"
            )
        tip = out.split()[0] if out.split() else None
        if tip is None:
            continue
        if git.try_run("cat-file", "-e", f"{tip}^{{commit}}") is None:
            raise AlreadyShared(
                f"{remote}'s checkpoint ref has commits this clone lacks, so it cannot "
                f"tell whether checkpoint {cid} was pushed; run `bitloops fetch` first"
            )
        tips.append((remote, tip))
    return tips


def _owns(cid: str, rel: str, session_json: str | None) -> bool:
    """True when the folder ``rel`` whose session.json reads ``session_json`` is ``cid``'s:
    a sub-folder is named after its checkpoint; a commit's folder must name it, since
    another checkpoint of the commit may own it."""
    return rel.endswith(f"/{cid}") or _owner(session_json) == cid


def _take_back_folder(repo: Checkpoints, cid: str, rel: str, notes: list[str]) -> list[str]:
    """Remove checkpoint ``cid``'s folder's own files (not another checkpoint's sub-folder,
    nor a folder another checkpoint owns) from the work tree and the index; note a local
    commit that still holds them."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR

    folder = repo.toplevel / CHECKPOINTS_DIR / rel
    prefix = f"{CHECKPOINTS_DIR}/{rel}/"
    tracked = [
        line
        for line in (repo.git.try_run("ls-files", "--", prefix) or "").splitlines()
        if line.startswith(prefix) and "/" not in line[len(prefix) :]
    ]
    if tracked and _owns(cid, rel, repo.git.try_run("cat-file", "blob", f":{prefix}session.json")):
        repo.git.run("rm", "--cached", "--quiet", "--ignore-unmatch", "--", *tracked)
    else:
        tracked = []
    try:
        on_disk: str | None = (folder / "session.json").read_text(encoding="utf-8")
    except OSError:
        on_disk = None
    removed = False
    if folder.is_dir() and _owns(cid, rel, on_disk):
        for entry in folder.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
                removed = True
        try:
            folder.rmdir()  # only when no other checkpoint's sub-folder is left in it
        except OSError:
            pass
    held = (
        repo.git.try_run("rev-list", "-1", "--all", "--", f"{prefix}session.json") or ""
    ).strip()
    if held:
        notes.append(
            f"commit {held[:12]} (not pushed) still holds {prefix}: the next commit removes "
            "it, but pushing that commit would send it; rewrite it first (`git commit "
            "--amend` when it is HEAD, else `git rebase -i`)"
        )
    return [prefix] if removed or tracked else []


def _link_files_naming(repo: Checkpoints, tree: str, cids: Sequence[str], prefix: str) -> list[str]:
    """The link files under ``prefix`` in ``tree`` (a commit) whose text names one of
    ``cids`` (one ``git grep``; the caller parses them before changing anything)."""
    if not cids:
        return []
    args = [arg for cid in cids for arg in ("-e", cid)]
    out = repo.git.try_run(
        "grep", "-l", "-F", *args, tree, "--", f"{prefix}*/link.json"
    )  # fmt: skip
    return [line.split(":", 1)[1] for line in (out or "").splitlines() if ":" in line]


def _links_in_ref(repo: Checkpoints, tip: str, cids: Sequence[str]) -> list[str]:
    """The ref's link files (``<commit>/link.json``) at ``tip`` naming one of ``cids``."""
    if repo.git.try_run("rev-parse", "--verify", "--quiet", f"{tip}^{{commit}}") is None:
        return []
    return _link_files_naming(repo, tip, cids, "")


def _take_back_links(repo: Checkpoints, cids: set[str], notes: list[str]) -> list[str]:
    """Remove the entries naming ``cids`` from the work tree's link files (and the index's
    copies); note a local commit that still holds one."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.checkpoint._links import LINK_FILE, drop_links

    root = repo.toplevel / CHECKPOINTS_DIR
    changed: list[str] = []
    for path in sorted(root.glob(f"*/{LINK_FILE}")) if root.is_dir() else []:
        commit = path.parent.name
        try:
            dropped, text = drop_links(path.read_bytes(), commit, cids)
        except OSError:
            continue
        if not dropped:
            continue
        rel = f"{CHECKPOINTS_DIR}/{commit}/{LINK_FILE}"
        if text is None:
            path.unlink()
            try:
                path.parent.rmdir()
            except OSError:
                pass
        else:
            from bitloops._fs import atomic_write

            atomic_write(path, text)
        if repo.git.try_run("ls-files", "--error-unmatch", "--", rel) is not None:
            if text is None:
                repo.git.run("rm", "--cached", "--quiet", "--", rel)
            else:
                repo.git.run("add", "--", rel)
        changed.append(rel)
    # A local commit may hold a link entry (the work tree's is gone): the commits whose
    # link files' changes mention the id, then whether one holds it (few calls).
    touched = [
        commit
        for cid in sorted(cids)
        for commit in (
            repo.git.try_run(
                "log", "--all", "--not", "--remotes", "--format=%H", "--max-count=5",
                f"-G{cid}", "--", f"{CHECKPOINTS_DIR}/*/{LINK_FILE}",
            ) or ""
        ).split()
    ]  # fmt: skip
    for commit in dict.fromkeys(touched):
        held = _link_files_naming(repo, commit, sorted(cids), f"{CHECKPOINTS_DIR}/")
        if held:
            notes.append(
                f"commit {commit[:12]} (not pushed) still holds a link to it in "
                f"{', '.join(held)}: the next commit removes it, but pushing that commit "
                "would send it; rewrite it first (`git commit --amend` when it is HEAD, "
                "else `git rebase -i`)"
            )
            break
    return changed


def _in_ref(repo: Checkpoints, rel: str, *, history: bool = False) -> bool:
    """True when the checkpoint ref's tip (or, with ``history``, any of its commits) has
    the folder ``rel``."""
    if repo.git.try_run("rev-parse", "--verify", "--quiet", f"{_REF}^{{commit}}") is None:
        return False
    if not history:
        return repo.git.try_run("cat-file", "-e", f"{_REF}:{rel}/session.json") is not None
    out = repo.git.try_run("rev-list", "-1", _REF, "--", f"{rel}/session.json")
    return bool(out and out.strip())


def _ls_remote_tips(repo: Checkpoints) -> dict[str, str]:
    """Each remote's tip of the checkpoint ref (remotes without it left out);
    :class:`AlreadyShared` when one cannot be asked: it cannot tell what was pushed."""
    tips: dict[str, str] = {}
    for remote in (repo.git.try_run("remote") or "").split():
        out = repo.git.try_run("ls-remote", "--refs", "--", remote, _REF)
        if out is None:
            raise AlreadyShared(
                f"cannot tell what of the checkpoint ref was pushed: `git ls-remote {remote}` "
                f"failed; try again when {remote} answers"
            )
        if out.split():
            tips[remote] = out.split()[0]
    return tips


def _pushed_base(repo: Checkpoints) -> tuple[str | None, dict[str, str]]:
    """The newest tip of the ref that the remotes hold (None: never pushed), and every
    remote's tip as read.

    Only remotes the ref was pushed to count (those that have it). Refused with
    :class:`AlreadyShared` rather than guessing, which could drop a remote's history
    from the rewritten ref: a tip this clone lacks, one that is not in this clone's
    ref (diverged), or tips of remotes that are not in one line.
    """
    git = repo.git
    tips = _ls_remote_tips(repo)
    for remote, tip in tips.items():
        if git.try_run("cat-file", "-e", f"{tip}^{{commit}}") is None:
            raise AlreadyShared(
                f"{remote}'s checkpoint ref has commits this clone lacks; run `bitloops "
                "fetch` first, then keep it local again"
            )
        if git.try_run("merge-base", "--is-ancestor", tip, _REF) is None:
            raise AlreadyShared(
                f"{remote}'s checkpoint ref and this clone's have diverged; run `bitloops "
                "fetch` (it merges them) first, then keep it local again"
            )
    found = set(tips.values())
    for tip in found:  # the one every other pushed tip is an ancestor of
        if all(git.try_run("merge-base", "--is-ancestor", t, tip) is not None for t in found):
            return tip, tips
    if found:
        raise AlreadyShared(
            f"the remotes' checkpoint refs ({', '.join(sorted(tips))}) are not in one line; "
            "push this clone's ref to each of them first, then keep it local again"
        )
    return None, tips


def _drop_from_ref(
    repo: Checkpoints, rels: Sequence[tuple[str, str]], cids: AbstractSet[str] = frozenset()
) -> None:
    """Rewrite the ref's commits not yet pushed as one commit without the folders ``rels``
    (``(checkpoint id, folder)`` pairs; a folder another checkpoint now owns stays) and
    without the link entries naming ``cids``.

    Removing them in a new commit on top would still push the older commits that hold
    them; so the new tip's parent is the tip a remote has (or none), with the tree of
    today's tip minus those files.
    """
    import tempfile

    base, seen = _pushed_base(repo)
    for _ in range(5):
        old = repo.git.run("rev-parse", "--verify", f"{_REF}^{{commit}}").strip()
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
            _git(repo.toplevel, env, "read-tree", old)
            listed = _git(repo.toplevel, env, "ls-files").splitlines()
            owned = [
                rel
                for cid, rel in rels
                if _owns(
                    cid, rel, repo.git.try_run("cat-file", "blob", f"{old}:{rel}/session.json")
                )
            ]
            doomed = [
                name
                for rel in owned
                for name in listed
                if name.startswith(f"{rel}/") and "/" not in name[len(rel) + 1 :]
            ]
            if doomed:
                _git(repo.toplevel, env, "rm", "--cached", "--quiet", "--", *doomed)
            _drop_ref_links(repo, env, old, [n for n in listed if n.endswith("/link.json")], cids)
            tree = _git(repo.toplevel, env, "write-tree").strip()
        parents = ["-p", base] if base else []
        new = repo.git.run(
            "commit-tree", tree, *parents, "-m", "bitloops: keep checkpoints local"
        ).strip()
        if repo.git.try_run("update-ref", "-m", "bitloops: keep local", _REF, new, old) is None:
            continue
        # A push (another process's pre-push) between reading the remotes and the update
        # may have sent the old commits, or the new tip may no longer follow what a
        # remote has: put the ref back and say so rather than leave a rewritten history.
        now = _ls_remote_tips(repo)
        if now != seen:
            repo.git.try_run("update-ref", "-m", "bitloops: keep local undone", _REF, old, new)
            moved = sorted(r for r in {*now, *seen} if now.get(r) != seen.get(r))
            raise AlreadyShared(
                f"the checkpoint ref was pushed to {', '.join(moved)} while it was being "
                "rewritten, so what it held may have left this clone; the ref is as it was; "
                "run `bitloops fetch` and try again"
            )
        return
    raise GitError(f"{_REF} kept changing while a checkpoint was taken out of it; try again")


def _drop_ref_links(
    repo: Checkpoints, env: dict[str, str], tip: str, names: Sequence[str], cids: AbstractSet[str]
) -> None:
    """In the index ``env`` names (read from ``tip``), rewrite the link files ``names``
    without the entries naming ``cids`` (removed when none is left)."""
    from bitloops.checkpoint._links import drop_links

    if not cids or not names:
        return
    blobs = repo.git.blob_bytes([f"{tip}:{name}" for name in names])
    for name in names:
        data = blobs.get(f"{tip}:{name}")
        if data is None:
            continue
        dropped, text = drop_links(data, name.split("/")[0], cids)
        if not dropped:
            continue
        if text is None:
            _git(repo.toplevel, env, "rm", "--cached", "--quiet", "--", name)
        else:
            oid = repo.git.run("hash-object", "-w", "--stdin", input=text).strip()
            _git(repo.toplevel, env, "update-index", "--cacheinfo", f"100644,{oid},{name}")


def _git(toplevel: Path, env: dict[str, str], *args: str) -> str:
    """Run git with its own index file (``env``); :class:`GitError` when it fails."""
    import subprocess

    try:
        proc = subprocess.run(
            ("git", "-c", "core.quotepath=false", *args),
            cwd=toplevel,
            env=env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"`git {' '.join(args)}` could not run: {exc}") from exc
    if proc.returncode != 0:
        raise GitError(f"`git {' '.join(args)}` failed in {toplevel}: {proc.stderr.strip()}")
    return proc.stdout
