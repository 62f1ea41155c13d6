"""Promotion: the draft of a worktree becomes an immutable checkpoint of a commit.

The slow work (reading the draft, the commit's diff, symbols, summary, hashing) happens
before the write transaction; the transaction itself only moves rows and links the
commit, so the database's write lock is held for the move alone. If the draft changed
in between (another promotion took part of it), the work is redone.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bitloops._codec import (
    canonical_dumps,
    checkpoint_header,
    content_hash,
    event_from_line,
    format_ts,
    new_id,
)
from bitloops.checkpoint import _symbols as _bounds  # its MAX_* constants, read when used
from bitloops.checkpoint._symbols import (
    FileDiff,
    default_extractors,
    fit_limits,
    parse_diff,
    touched_symbols,
)
from bitloops.checkpoint._transcript import Transcript
from bitloops.context.index import IndexRows, index_rows
from bitloops.errors import GitError, StoreError
from bitloops.git._git import EMPTY_TREE
from bitloops.model import Checkpoint, Event, EventKind, FileTouched, ModelIdentity, Symbol
from bitloops.store.sqlite import CheckpointRow, DraftRows

if TYPE_CHECKING:
    from bitloops.checkpoint._summary import Summarizer
    from bitloops.repository import Repository

__all__ = ["promote_commit", "promote_session"]

log = logging.getLogger("bitloops")

_ATTEMPTS = 5
_OWN_FILES = ".bitloops/"


def promote_commit(
    repo: Repository, sha: str, summarizer: Summarizer
) -> tuple[Checkpoint, list[str]] | None:
    """Promote the draft of ``repo``'s worktree to a checkpoint of ``sha``.

    Returns the checkpoint and its stored event lines, the existing checkpoint (and no
    lines) when ``sha`` already has one, or None when the draft is empty.
    """
    store = repo.store
    for _ in range(_ATTEMPTS):
        existing = store.checkpoints_for_commits([sha])
        if sha in existing:
            return repo._load_checkpoint(existing[sha][0]), []
        draft = store.draft_rows(repo.worktree)
        if not draft.lines:
            # Another process may have promoted this very commit in between.
            existing = store.checkpoints_for_commits([sha])
            return (repo._load_checkpoint(existing[sha][0]), []) if sha in existing else None
        checkpoint, row = _build(repo, sha, draft, summarizer)
        index = _index(row)
        if store.move_draft(
            worktree=repo.worktree, draft=draft, row=row, queue=repo.team, index=index
        ):
            return checkpoint, draft.lines
    raise StoreError(
        "the draft kept changing while it was being promoted (other promotions were running); "
        "run the promotion again"
    )


def promote_session(
    repo: Repository, session_id: str, summarizer: Summarizer
) -> tuple[Checkpoint, list[str]] | None:
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
    for _ in range(_ATTEMPTS):
        draft = store.draft_rows(repo.worktree, session_id)
        if not draft.lines:
            return None
        checkpoint, row = _build(
            repo,
            head,
            draft,
            summarizer,
            diff_base=(base or EMPTY_TREE) if made else None,
            also_links=also,
        )
        index = _index(row, also)
        if store.move_draft(
            worktree=repo.worktree,
            draft=draft,
            row=row,
            also_links=also,
            queue=repo.team,
            index=index,
        ):
            return checkpoint, draft.lines
    raise StoreError("the session's draft kept changing while it was being promoted; run it again")


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
    repo: Repository,
    sha: str,
    draft: DraftRows,
    summarizer: Summarizer,
    *,
    diff_base: str | None = None,
    also_links: Sequence[str] = (),
) -> tuple[Checkpoint, CheckpointRow]:
    # The events stay as stored lines; only those a step needs are parsed.
    events = Transcript(draft.lines, kinds=draft.kinds, session_ids=draft.line_sessions)
    counts = Counter(draft.line_sessions)
    sessions = tuple(
        attrs.evolve(info, event_count=counts.get(info.session_id, 0))
        for info in repo.store.sessions(session_ids=draft.session_ids)
    )
    # Parsed and let go, not kept by the transcript (see summary.StructuredSummarizer).
    changes = [
        event_from_line(line)
        for line, kind in zip(draft.lines, draft.kinds, strict=True)
        if kind == EventKind.FILE_CHANGE
    ]
    files, symbols, skipped = _files_and_symbols(repo, sha, changes, diff_base)
    models = model_identities([*draft.models, *((s.agent, s.model) for s in sessions)])
    summary = summarizer.summarize(
        events=events, sessions=sessions, files=files, symbols=symbols, models=models
    )
    if skipped:  # what the size bounds left out, whichever summariser ran
        summary = attrs.evolve(summary, symbols=(*summary.symbols, *skipped))
    if summary.text:  # a plugged-in summariser may have read more than the events
        summary = attrs.evolve(summary, text=repo.redactor.redact(summary.text))
    branch = repo.git.branch()
    parent_id, parent_hash = _parent(repo, sha)
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
    header = canonical_dumps(checkpoint_header(checkpoint))  # serialised once: hash and row
    digest = content_hash(header, draft.lines)
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
    return checkpoint, row


def _index(row: CheckpointRow, also_links: Sequence[str] = ()) -> IndexRows:
    """The checkpoint's rows of the index by path, built before the write transaction."""
    return index_rows(
        json.loads(row.header),
        checkpoint_id=row.checkpoint_id,
        commit_sha=row.commit_sha,
        created_at=row.created_at,
        content_hash=row.content_hash,
        commits=also_links,
    )


def _parent(repo: Repository, sha: str) -> tuple[str | None, str | None]:
    """The nearest first-parent ancestor's checkpoint: ``(id, content_hash)``."""
    store = repo.store
    if store.count_checkpoints() == 0:
        return None, None
    # Usually the parent itself has one; widen the walk only when it does not.
    for limit in (16, 1024, 1 << 30):
        chain = repo.git.first_parent_chain(sha, limit)
        found = store.checkpoints_for_commits(chain)
        for ancestor in chain:
            if ancestor in found:
                return found[ancestor]
        if len(chain) < limit:
            break
    return None, None


def _relative(repo: Repository, path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(repo.toplevel.resolve()).as_posix()
        except ValueError:
            return path
    return p.as_posix()


def _agent_files(repo: Repository, events: Sequence[Event]) -> dict[str, FileTouched]:
    found: dict[str, FileTouched] = {}
    relative: dict[str, str] = {}  # agents touch the same few files again and again
    for event in events:
        if event.kind != EventKind.FILE_CHANGE:
            continue
        path, change = event.payload.get("path"), event.payload.get("change", "modified")
        if not isinstance(path, str) or not isinstance(change, str):
            continue
        old = event.payload.get("old_path")
        rel = relative.get(path) or relative.setdefault(path, _relative(repo, path))
        found[rel] = FileTouched(
            path=rel,
            change=change,
            old_path=_relative(repo, old) if isinstance(old, str) else None,
            in_commit=False,
            by_agent=True,
        )
    return found


def _commit_diff(repo: Repository, sha: str, base: str | None) -> str:
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


def _blob_sizes(repo: Repository, specs: list[str]) -> dict[str, int]:
    """The size in bytes of each ``rev:path`` blob, without reading it (0 for none)."""
    if not specs:
        return {}
    text = "".join(f"{spec}\n" for spec in specs)
    out = repo.git.run("cat-file", "--batch-check=%(objectsize)", input=text).split("\n")
    return {spec: int(n) if n.isdigit() else 0 for spec, n in zip(specs, out, strict=False)}


def _files_and_symbols(
    repo: Repository, sha: str, events: Sequence[Event], diff_base: str | None = None
) -> tuple[tuple[FileTouched, ...], tuple[Symbol, ...], tuple[str, ...]]:
    """What changed from ``diff_base`` (default: the first parent) to ``sha``.

    Files, symbols, and notes of what the symbol extractors' size bounds left out.
    """
    by_agent = _agent_files(repo, events)
    try:
        diffs = [
            d
            for d in parse_diff(_commit_diff(repo, sha, diff_base))
            if not d.path.startswith(_OWN_FILES)
        ]
    except GitError as exc:
        log.warning("bitloops: cannot read the diff of %s: %s", sha, exc)
        diffs = []
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

    extractors = default_extractors() if repo.symbol_extractors is None else repo.symbol_extractors
    # Binary ones too: a file over the size bound shows as binary, and is noted.
    wanted = [d for d in diffs if any(x.handles(d.path) for x in extractors)]
    if not wanted:
        return tuple(files), (), ()
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
        return tuple(files), (), ()
    symbols = touched_symbols(
        wanted,
        read_new=lambda path: blobs.get(f"{sha}:{path}"),
        read_old=lambda path: blobs.get(f"{base}:{path}") if base else None,
        extractors=extractors,
        notes=notes,
    )
    return tuple(files), tuple(symbols), tuple(notes)
