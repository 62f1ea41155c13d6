"""Promotion: the draft of a worktree becomes an immutable checkpoint of a commit.

The slow work (reading the draft, the commit's diff, symbols, summary, hashing) happens
before the write transaction; the transaction itself only moves rows and links the
commit, so the database's write lock is held for the move alone. If the draft changed
in between (another promotion took part of it), the work is redone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs

import bitloops._held as _held
from bitloops._codec import (
    canonical_dumps,
    checkpoint_header,
    content_hash,
    format_ts,
    new_id,
)
from bitloops.checkpoint import _symbols as _bounds  # its MAX_* constants, read when used
from bitloops.checkpoint._files import remember_header
from bitloops.checkpoint._private import draft_is_private, mark_checkpoint, private_ids
from bitloops.checkpoint._symbols import (
    FileDiff,
    default_extractors,
    fit_limits,
    parse_diff,
    touched_symbols,
)
from bitloops.checkpoint._transcript import Transcript, WindowedLines, payload_of
from bitloops.errors import GitError, StoreError
from bitloops.git._git import EMPTY_TREE
from bitloops.model import Checkpoint, EventKind, FileTouched, ModelIdentity, Symbol
from bitloops.store._commits import linked_newest_first
from bitloops.store._index import IndexRows, index_rows
from bitloops.store._sqlite import CheckpointRow, DraftRows

if TYPE_CHECKING:
    from bitloops.checkpoint._summary import Summarizer
    from bitloops.checkpoint._workspace import Checkpoints

__all__ = ["promote_commit", "promote_session"]

log = logging.getLogger("bitloops")

T = TypeVar("T")

_ATTEMPTS = 5
#: A draft whose lines add up to more bytes than this is never held whole: it is read
#: a window at a time, for the summary, the hash and the folder (a few bytes per event).
WINDOWED_OVER = 8 << 20
_OWN_FILES = ".bitloops/"


def promote_commit(
    repo: Checkpoints, sha: str, summarizer: Summarizer, *, until: str | None = None
) -> tuple[Checkpoint, Sequence[str]] | None:
    """Promote the draft of ``repo``'s worktree to a checkpoint of ``sha``.

    ``until`` (canonical timestamp text) bounds the draft: later events stay live.

    Returns the checkpoint and its stored event lines, the existing checkpoint (and no
    lines) when ``sha`` already has one, or None when the draft is empty.
    """
    store = repo.store
    committed: _Background[_CommitSide] | None = None
    for _ in range(_ATTEMPTS):
        existing = store.checkpoints_for_commits([sha])
        if sha in existing:
            return repo._load_checkpoint(existing[sha][0]), []
        if committed is None and store.has_draft(repo.worktree, until):
            # git's side (the diff, the blobs, their symbols) while the draft is read.
            committed = _Background(_commit_side, repo, sha, None)
        draft = store.draft_rows(repo.worktree, lines_up_to=WINDOWED_OVER, until=until)
        if not draft.event_count:
            # Another process may have promoted this very commit in between.
            existing = store.checkpoints_for_commits([sha])
            return (repo._load_checkpoint(existing[sha][0]), []) if sha in existing else None
        private = draft_is_private(repo, draft.session_ids)
        built = _build_or_none(repo, sha, draft, summarizer, private=private, committed=committed)
        if built is None:
            continue
        checkpoint, row, index = built
        if store.move_draft(
            worktree=repo.worktree,
            draft=draft,
            row=row,
            queue=repo.team and not private,
            index=index,
        ):
            if private:
                mark_checkpoint(repo, checkpoint.checkpoint_id)
            return _moved(repo, checkpoint, draft)
    raise StoreError(
        "the draft kept changing while it was being promoted (other promotions were running); "
        "run the promotion again"
    )


def promote_session(
    repo: Checkpoints, session_id: str, summarizer: Summarizer
) -> tuple[Checkpoint, Sequence[str]] | None:
    """The ``session`` strategy: one session's draft becomes a checkpoint.

    It is linked to every commit the worktree made since the session started (first
    parent line from its base commit to HEAD), or else to the commit it ended on, and
    its files and symbols cover that whole range. None when the session has no draft
    events or the branch has no commit yet.
    """
    store = repo.store
    head = repo.git.head()
    if head is None:
        return None
    found = store.sessions(session_ids=[session_id])
    base = found[0].base_commit if found else None
    if base == head:
        made: list[str] = []
    elif base is not None:
        out = repo.git.try_run("rev-list", "--first-parent", "--max-count=1000", f"{base}..{head}")
        made = out.split() if out else []
    else:  # started before the first commit: everything up to HEAD was made meanwhile
        made = [head, *repo.git.first_parent_chain(head, 999)]
    also = made[1:]
    diff_base = (base or EMPTY_TREE) if made else None
    committed: _Background[_CommitSide] | None = None
    for _ in range(_ATTEMPTS):
        if committed is None and store.has_draft(repo.worktree):
            committed = _Background(_commit_side, repo, head, diff_base)
        draft = store.draft_rows(repo.worktree, session_id, lines_up_to=WINDOWED_OVER)
        if not draft.event_count:
            return None
        private = draft_is_private(repo, draft.session_ids)
        built = _build_or_none(
            repo,
            head,
            draft,
            summarizer,
            private=private,
            diff_base=diff_base,
            also_links=also,
            committed=committed,
        )
        if built is None:
            continue
        checkpoint, row, index = built
        if store.move_draft(
            worktree=repo.worktree,
            draft=draft,
            row=row,
            also_links=also,
            queue=repo.team and not private,
            index=index,
        ):
            if private:
                mark_checkpoint(repo, checkpoint.checkpoint_id)
            return _moved(repo, checkpoint, draft)
    raise StoreError("the session's draft kept changing while it was being promoted; run it again")


def _lines(repo: Checkpoints, draft: DraftRows) -> Sequence[str]:
    """The draft's lines: as read, or read a window at a time for a big draft."""
    if draft.lines_left_out:
        return WindowedLines(draft.ids, repo.store.live_lines)
    return draft.lines


def _moved(
    repo: Checkpoints, checkpoint: Checkpoint, draft: DraftRows
) -> tuple[Checkpoint, Sequence[str]]:
    """The promoted checkpoint and its lines, once the move committed.

    A big draft's live rows are gone now: its transcript is read from the committed
    rows instead, a window at a time, as long as the repository is open.
    """
    if not draft.lines_left_out:
        return checkpoint, draft.lines
    store = repo.store
    lines = WindowedLines(store.event_ids(checkpoint.checkpoint_id), store.committed_lines)
    events = Transcript(lines, kinds=draft.kinds, session_ids=draft.line_sessions)
    return attrs.evolve(checkpoint, events=events), lines


def _build_or_none(
    repo: Checkpoints,
    sha: str,
    draft: DraftRows,
    summarizer: Summarizer,
    *,
    private: bool = False,
    diff_base: str | None = None,
    also_links: Sequence[str] = (),
    committed: _Background[_CommitSide] | None = None,
) -> tuple[Checkpoint, CheckpointRow, IndexRows] | None:
    """:func:`_build`, or None when a big draft's rows went away while it was read."""
    try:
        return _build(
            repo,
            sha,
            draft,
            summarizer,
            private=private,
            diff_base=diff_base,
            also_links=also_links,
            committed=committed,
        )
    except StoreError:
        if not draft.lines_left_out:
            raise
        # Read a window at a time, the draft can be promoted or purged by another
        # process meanwhile: read it again (move_draft would refuse it anyway).
        log.info("bitloops: the draft changed while it was read; reading it again")
        return None


# Model names that say no model was named ("unknown" from Cursor, Claude Code's
# "<synthetic>" for its own messages): not an identity of their own.
_NO_MODEL = frozenset({"unknown", "default", "<synthetic>", "none", "null"})


def model_identities(pairs: Iterable[tuple[str, str | None]]) -> tuple[ModelIdentity, ...]:
    """The distinct (agent, model) identities of a checkpoint, sorted.

    A placeholder name (``"unknown"``, ``"<synthetic>"``, ...) counts as no model, and
    an agent without a model is listed only when none of its events names one: its
    events before the model was known (a session's start) are the same agent and model.
    """
    known: set[tuple[str, str | None]] = set()
    for agent, model in pairs:
        real = model if model and model.strip().lower() not in _NO_MODEL else None
        known.add((agent, real))
    named = {agent for agent, model in known if model is not None}
    kept = {(agent, model) for agent, model in known if model is not None or agent not in named}
    return tuple(
        ModelIdentity(agent=agent, model=model)
        for agent, model in sorted(kept, key=lambda am: (am[0], am[1] is not None, am[1] or ""))
    )


def _build(
    repo: Checkpoints,
    sha: str,
    draft: DraftRows,
    summarizer: Summarizer,
    *,
    private: bool = False,
    diff_base: str | None = None,
    also_links: Sequence[str] = (),
    committed: _Background[_CommitSide] | None = None,
) -> tuple[Checkpoint, CheckpointRow, IndexRows]:
    """The checkpoint of ``draft`` for commit ``sha``, its row and its index rows.

    ``committed`` is git's side of it (:func:`_commit_side` of ``sha`` and
    ``diff_base``) already under way, if it is; ``private``, whether the draft makes a
    private checkpoint (:func:`draft_is_private`, asked once by the caller).
    """
    # The events stay as stored lines; only those a step needs are parsed.
    lines = _lines(repo, draft)
    events = Transcript(lines, kinds=draft.kinds, session_ids=draft.line_sessions)
    sessions = tuple(repo.store.draft_sessions(draft))
    # Only their payloads, parsed and let go (see summary.StructuredSummarizer).
    changes = (
        payload_of(lines[index])
        for index, kind in enumerate(draft.kinds)
        if kind == EventKind.FILE_CHANGE
    )
    side = committed.result() if committed is not None else _commit_side(repo, sha, diff_base)
    files, symbols, skipped = _files_and_symbols(repo, changes, side)
    models = model_identities([*draft.models, *((s.agent, s.model) for s in sessions)])
    summary = summarizer.summarize(
        events=events, sessions=sessions, files=files, symbols=symbols, models=models
    )
    if skipped:  # what the size bounds left out, whichever summariser ran
        summary = attrs.evolve(summary, symbols=(*summary.symbols, *skipped))
    if summary.text:  # a plugged-in summariser may have read more than the events
        summary = attrs.evolve(summary, text=repo.redactor.redact(summary.text))
    branch = repo.git.branch()
    shared = not private
    parent_id, parent_hash = _parent(repo, sha, shared=shared)
    checkpoint = Checkpoint(
        checkpoint_id=new_id(),
        commit_sha=sha,
        commits=(sha, *also_links),
        created_at=datetime.now(UTC),
        branch=None if branch is None else repo.redactor.redact(branch),
        strategy=repo.settings.strategy,
        sessions=sessions,
        events=events,
        summary=summary,
        files=files,
        symbols=symbols,
        models=models,
        parent_checkpoint_id=parent_id,
        parent_hash=parent_hash,
    )
    header_data = checkpoint_header(checkpoint)
    header = canonical_dumps(header_data)  # serialised once: hash and row
    digest = content_hash(header, lines)
    checkpoint = attrs.evolve(checkpoint, content_hash=digest)
    row = CheckpointRow(
        checkpoint_id=checkpoint.checkpoint_id,
        commit_sha=sha,
        created_at=format_ts(checkpoint.created_at),
        branch=checkpoint.branch,
        strategy=checkpoint.strategy,
        event_count=len(events),
        parent_checkpoint_id=parent_id,
        parent_hash=parent_hash,
        content_hash=digest,
        header=header,
        author=repo.git.author(sha),
    )
    # The checkpoint's rows of the index by path, built before the write transaction,
    # from the header as serialised (not parsed back: a big one is tens of megabytes).
    index = index_rows(
        header_data,
        checkpoint_id=row.checkpoint_id,
        commit_sha=row.commit_sha,
        created_at=row.created_at,
        content_hash=row.content_hash,
        commits=also_links,
    )
    # Kept for the folder written next, its texts begun in a thread, last: Python
    # threads take turns, and the texts are built for free only while the write
    # transaction waits on SQLite and the disk, which let go of the GIL. Not a big
    # draft's: its header's plain data (megabytes of small objects) would stay alive
    # through the move, when SQLite holds the header text twice; the folder builds it
    # again after the move (10 MiB less peak memory at 200k events).
    if shared and repo.settings.checkpoint_files != "none" and not draft.lines_left_out:
        remember_header(checkpoint, header_data, event_count=len(lines), prepare=True)
    return checkpoint, row, index


def _parent(repo: Checkpoints, sha: str, *, shared: bool = True) -> tuple[str | None, str | None]:
    """The nearest first-parent ancestor's checkpoint: ``(id, content_hash)``.

    A ``shared`` checkpoint skips private ancestors: a teammate never has them, so
    naming one would leave a link that cannot be followed and tell that it existed.
    """
    store = repo.store
    if store.count_checkpoints() == 0:
        return None, None
    # Usually the parent itself has one; widen the walk only when it does not.
    for limit in (16, 1024, 1 << 30):
        chain = repo.git.first_parent_chain(sha, limit)
        found = store.checkpoints_for_commits(chain)
        hidden = private_ids(repo, [cid for cid, _hash in found.values()]) if shared else set()
        for ancestor in chain:
            if ancestor not in found:
                continue
            if found[ancestor][0] not in hidden:
                return found[ancestor]
            # The newest is private; an older one of the same commit may be shared.
            for cid, chash in linked_newest_first(store, ancestor):
                if not private_ids(repo, [cid]):
                    return cid, chash
        if len(chain) < limit:
            break
    return None, None


def _relative(repo: Checkpoints, path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(repo.toplevel.resolve()).as_posix()
        except ValueError:
            return path
    return p.as_posix()


def _agent_files(repo: Checkpoints, payloads: Iterable[Any]) -> dict[str, FileTouched]:
    """The files the agents said they changed: each path's last file_change payload."""
    last: dict[str, tuple[str, Any]] = {}
    relative: dict[str, str] = {}  # agents touch the same few files again and again
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        path, change = payload.get("path"), payload.get("change", "modified")
        if not isinstance(path, str) or not isinstance(change, str):
            continue
        rel = relative.get(path) or relative.setdefault(path, _relative(repo, path))
        last[rel] = (change, payload.get("old_path"))
    return {
        rel: FileTouched(
            path=rel,
            change=change,
            old_path=_relative(repo, old) if isinstance(old, str) else None,
            in_commit=False,
            by_agent=True,
        )
        for rel, (change, old) in last.items()
    }


def _commit_diff(repo: Checkpoints, sha: str, base: str | None) -> str:
    """``git diff -U0`` of ``sha`` (see ``Git.commit_diff``), bounded per file.

    A file over ``symbols.MAX_FILE_BYTES`` is shown as binary: its lines are never sent.
    """
    if base is None:
        parents = repo.git.parents(sha)
        base = parents[0] if parents else EMPTY_TREE
    return repo.git.run(
        "-c", f"core.bigFileThreshold={_bounds.MAX_FILE_BYTES}",
        "diff", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv",
        "--src-prefix=a/", "--dst-prefix=b/", base, sha,
    )  # fmt: skip


def _blob_sizes(repo: Checkpoints, specs: list[str]) -> dict[str, int]:
    """The size in bytes of each ``rev:path`` blob, without reading it (0 for none)."""
    if not specs:
        return {}
    text = "".join(f"{spec}\n" for spec in specs)
    out = repo.git.run("cat-file", "--batch-check=%(objectsize)", input=text).split("\n")
    return {spec: int(n) if n.isdigit() else 0 for spec, n in zip(specs, out, strict=False)}


#: What git says a commit changed: its diffs (bitloops' own files left out), the
#: symbols they touch, and notes of what the symbol extractors' size bounds left out.
_CommitSide = tuple[list[FileDiff], tuple[Symbol, ...], tuple[str, ...]]


class _Background(Generic[T]):
    """``fn(*args)`` run in a thread from now on; :meth:`result` waits for it.

    For git's side of a promotion: its processes run while this one reads the draft
    (SQLite lets go of the GIL while it reads, and so does waiting for a process).
    """

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        # It works for this thread: the promotion locks this one holds count as its own
        # (a plugged-in symbol extractor reading through Repository must not wait for them).
        held = _held.of_this_thread()
        self._thread = threading.Thread(
            target=self._run, args=(fn, args, held), name="bitloops-promote-git", daemon=True
        )
        self._thread.start()

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...], held: tuple[str, ...]) -> None:
        try:
            with _held.holding(held):
                self._value = fn(*args)
        except BaseException as exc:  # raised again by result(), in the caller's thread
            self._error = exc

    def result(self) -> T:
        """What ``fn`` returned; what it raised is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast("T", self._value)


def _files_and_symbols(
    repo: Checkpoints, changes: Iterable[Any], side: _CommitSide
) -> tuple[tuple[FileTouched, ...], tuple[Symbol, ...], tuple[str, ...]]:
    """The files of a checkpoint (the commit's and the agents'), symbols and notes.

    ``changes`` are the payloads of the draft's file_change events, ``side`` what
    :func:`_commit_side` found.
    """
    by_agent = _agent_files(repo, changes)
    diffs, symbols, notes = side
    files: list[FileTouched] = []
    for d in diffs:
        files.append(
            FileTouched(
                path=d.path,
                change=d.change,
                old_path=d.old_path,
                in_commit=True,
                by_agent=d.path in by_agent,
            )
        )
        by_agent.pop(d.path, None)
    files.extend(by_agent.values())
    files.sort(key=lambda f: f.path)
    return tuple(files), symbols, notes


def _commit_side(repo: Checkpoints, sha: str, diff_base: str | None = None) -> _CommitSide:
    """What changed from ``diff_base`` (default: the first parent) to ``sha``.

    The diffs, symbols, and notes of what the symbol extractors' size bounds left out.
    """
    try:
        diffs = [
            d
            for d in parse_diff(_commit_diff(repo, sha, diff_base))
            if not d.path.startswith(_OWN_FILES)
        ]
    except GitError as exc:
        log.warning("bitloops: cannot read the diff of %s: %s", sha, exc)
        diffs = []
    extractors = default_extractors() if repo.symbol_extractors is None else repo.symbol_extractors
    # Binary ones too: a file over the size bound shows as binary, and is noted.
    wanted = [d for d in diffs if any(x.handles(d.path) for x in extractors)]
    if not wanted:
        return diffs, (), ()
    if diff_base is None:
        parents = repo.git.parents(sha)
        base = parents[0] if parents else None
    else:
        base = diff_base

    def sides(d: FileDiff) -> list[str]:
        new = [f"{sha}:{d.path}"] if d.change != "deleted" else []
        return new + ([f"{base}:{d.old_path or d.path}"] if base and d.change != "added" else [])

    notes: list[str] = []
    specs = [spec for d in wanted for spec in sides(d)]
    try:
        # Git shows a file over the bound as binary: sizes matter only when one is, or
        # when enough files changed to pass the bound per checkpoint.
        most = len(specs) * _bounds.MAX_FILE_BYTES
        if any(d.binary for d in wanted) or most > _bounds.MAX_SOURCE_BYTES:
            sizes = _blob_sizes(repo, specs)
            wanted = fit_limits(wanted, lambda d: [sizes.get(x, 0) for x in sides(d)], notes)
            specs = [spec for d in wanted for spec in sides(d)]
        blobs = repo.git.read_blobs(specs)
    except GitError as exc:
        log.warning("bitloops: cannot read the files of %s: %s", sha, exc)
        return diffs, (), ()
    symbols = touched_symbols(
        wanted,
        read_new=lambda path: blobs.get(f"{sha}:{path}"),
        read_old=lambda path: blobs.get(f"{base}:{path}") if base else None,
        extractors=extractors,
        notes=notes,
    )
    return diffs, tuple(symbols), tuple(notes)
