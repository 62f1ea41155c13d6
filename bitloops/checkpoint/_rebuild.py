"""A lost database: telling it from a fresh clone, and rebuilding what the folders hold.

The database is created once per clone and a marker file in the git directory says so
(:data:`bitloops.repository.DB_MARKER_RELATIVE_PATH`). A teammate's fresh clone has the
checkpoint folders and no marker; a clone whose database became empty or went missing
has the marker. For the second, ``bitloops doctor --fix`` runs :func:`rebuild`: every
checkpoint folder this clone can see (the work tree, the local branches' trees, the
checkpoint ref) whose files hash to their recorded content hash goes back into a new
database, with its links (those the folder lists, and the committed link files of
rewritten commits) and index rows. The draft had no copy anywhere: it is lost.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitloops._codec import canonical_dumps, content_hash, format_ts
from bitloops.checkpoint._files import CHECKPOINTS_DIR
from bitloops.errors import StoreError
from bitloops.git._git import is_sha

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints

__all__ = ["RebuildReport", "adopt_committed", "database_lost", "rebuild"]

_EXTRA_KEYS = ("format", "commits", "content_hash", "event_count")
# A checkpoint id: a UUID's text.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@attrs.frozen(kw_only=True)
class RebuildReport:
    """What :func:`rebuild` did."""

    #: Checkpoints put back into the new database.
    restored: int
    #: Folders left out, each with why (damaged, or not hashing to their content hash).
    skipped: tuple[str, ...] = ()
    #: Where the empty database file was moved (kept, never deleted), if there was one.
    moved_aside: str | None = None


def _marker(repo: Checkpoints) -> Path:
    from bitloops._workspace import DB_MARKER_RELATIVE_PATH

    return repo.paths.common_dir / DB_MARKER_RELATIVE_PATH


def database_lost(repo: Checkpoints) -> str | None:
    """Why this clone's database counts as lost, or None when it does not.

    Lost: the marker says a database was created, and the file is now missing, empty
    (0 bytes, no log), or an SQLite file with no tables at all.
    """
    from bitloops.store._sqlite import is_empty_database

    marker, path = _marker(repo), repo.db_path
    if not marker.exists():
        return None
    if is_empty_database(path):
        state = "missing" if not path.exists() else "empty (0 bytes)"
    else:
        from bitloops.store._integrity import table_count

        # None: damaged, not empty, which the database check says.
        if table_count(path) != 0:
            return None
        state = "an empty SQLite file"
    return (
        f"{path} is {state}, but a bitloops database was created there ({marker} says so): "
        "its checkpoints and draft are gone"
    )


def rebuild(repo: Checkpoints) -> RebuildReport:
    """Start a new database and put back every checkpoint a folder still holds.

    The empty file (with its ``-wal`` and ``-shm``) is moved aside, not deleted; the old
    marker too. Folders are read from the work tree, then the local branches' trees,
    then the checkpoint ref; a checkpoint found twice is taken once.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved: str | None = None
    path = repo.db_path
    repo.close()
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            aside = part.with_name(f"{part.name}.lost-{stamp}")
            os.replace(part, aside)
            if not suffix:
                moved = str(aside)
    marker = _marker(repo)
    if marker.exists():
        os.replace(marker, marker.with_name(f"{marker.name}.lost-{stamp}"))
    store = repo.store  # a new database, with a new marker
    restored = 0
    skipped: list[str] = []
    seen: set[str] = set()
    refused: dict[str, str] = {}
    copies = sorted(_copies(repo), key=lambda c: str(c[1].get("created_at", "")))
    for where, meta, lines in copies:
        cid = meta.get("checkpoint_id")
        if not isinstance(cid, str) or cid in seen:
            continue
        try:
            _restore(repo, meta, lines)
        except (ValueError, KeyError, TypeError, StoreError) as exc:
            refused.setdefault(cid, f"{where}: {exc}")
            continue
        seen.add(cid)
        restored += 1
    _restore_link_files(repo, seen)
    for cid, why in refused.items():
        if cid in seen:
            # A purge rewrites the work-tree copy (which then no longer hashes to the
            # recorded hash) and leaves the original in git: that is what came back.
            why += "; another copy (from git) was restored: purge again if it held a secret"
        skipped.append(why)
    store.catch_up_index()
    return RebuildReport(restored=restored, skipped=tuple(skipped), moved_aside=moved)


def _restore_link_files(repo: Checkpoints, restored: set[str]) -> None:
    """The links rewrites left as committed link files (amend, rebase, cherry-pick)."""
    from bitloops.checkpoint._links import committed_links
    from bitloops.errors import BitloopsError

    try:
        pairs = committed_links(repo.toplevel)
    except (OSError, BitloopsError):
        return
    store = repo.store
    with store.transaction():
        for commit, cid in pairs:
            if cid in restored:
                store.add_link(commit, cid, "rebuilt")


def _copies(repo: Checkpoints) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """Every checkpoint folder in reach: ``(where, session.json, transcript lines)``."""
    root = repo.toplevel / CHECKPOINTS_DIR
    for folder in _folders(root):
        try:
            meta = json.loads((folder / "session.json").read_text(encoding="utf-8"))
            text = (folder / "transcript.jsonl").read_bytes().decode("utf-8")
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict):
            yield str(folder), meta, _lines(text)
    yield from _committed_copies(repo, _branch_refs(repo))


def _branch_refs(repo: Checkpoints) -> list[str]:
    """The local branches and the checkpoint ref: where committed folders are."""
    from bitloops.git._ref import CHECKPOINT_REF

    refs = (repo.git.try_run("for-each-ref", "--format=%(refname)", "refs/heads") or "").split()
    return [*refs, CHECKPOINT_REF]


def _committed_copies(
    repo: Checkpoints, refs: list[str], wanted: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """The folders committed in ``refs`` (branches' trees, and the checkpoint ref: ref
    mode, or a teammate's fetched), read without a checkout; ``wanted``, given a folder's
    path in its tree (``<sha>/`` or ``<sha>/<checkpoint>/``), picks the ones read."""
    from bitloops.git._ref import CHECKPOINT_REF

    for ref in refs:
        prefix = "" if ref == CHECKPOINT_REF else f"{CHECKPOINTS_DIR}/"
        listing = repo.git.try_run("ls-tree", "-r", "--name-only", ref, "--", prefix or ".")
        metas = [p for p in (listing or "").splitlines() if p.endswith("/session.json")]
        metas = [p for p in metas if p.startswith(prefix)]
        if wanted is not None:
            metas = [p for p in metas if wanted(p[len(prefix) : -len("session.json")])]
        specs = [
            f"{ref}:{p}" for m in metas for p in (m, m[: -len("session.json")] + "transcript.jsonl")
        ]
        blobs = repo.git.read_blobs(specs)
        for meta_path in metas:
            base = meta_path[: -len("session.json")]
            meta_blob = blobs.get(f"{ref}:{meta_path}")
            text_blob = blobs.get(f"{ref}:{base}transcript.jsonl")
            if meta_blob is None or text_blob is None:
                continue
            try:
                found = json.loads(meta_blob)
            except ValueError:
                continue
            # The folder is named after its commit: a header naming another is not it.
            if (
                isinstance(found, dict)
                and found.get("commit_sha") == base[len(prefix) :].split("/", 1)[0]
            ):
                yield f"{ref}:{base}", found, _lines(text_blob)


# The database's meta key remembering the refs' tips adopt_committed last read.
_ADOPTED_KEY = "adopted_tips"


def adopt_committed(repo: Checkpoints) -> int:
    """Put into this database the checkpoints that committed folders hold and it lacks:
    a teammate's, arrived with a branch (its folders) or by ``bitloops fetch`` (the ref).

    Each is verified against its content hash first, as :func:`rebuild` does; folders only
    in the work tree are never taken (anyone can write one; a commit vouches for it). Run
    by the read commands and API calls that list or count checkpoints, so a clone that
    made none still finds them all. Cheap when no branch or ref moved since the last call
    (their tips are remembered); returns how many checkpoints were added.
    """
    import hashlib

    from bitloops.git._ref import CHECKPOINT_REF

    listed = repo.git.try_run(
        "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", CHECKPOINT_REF
    )
    if listed is None:
        return 0
    refs = [line.split(" ", 1)[1] for line in listed.splitlines() if " " in line]
    signature = hashlib.sha256(listed.encode()).hexdigest()
    store = repo.store
    if store.meta_value(_ADOPTED_KEY) == signature:
        return 0
    commits = store.checkpoint_commits()
    known = set(commits.values())
    ids = set(commits)

    def unknown(folder: str) -> bool:  # <sha>/ or <sha>/<checkpoint id>/
        parts = folder.split("/")
        return parts[1] not in ids if len(parts) > 2 else parts[0] not in known

    added = 0
    for _, meta, lines in _committed_copies(repo, refs, unknown):
        cid = meta.get("checkpoint_id")
        if not isinstance(cid, str) or cid in ids:
            continue
        try:
            _restore(repo, meta, lines)
        except (ValueError, KeyError, TypeError, StoreError):
            # A folder that does not verify, or whose fields the tables refuse (a
            # consistent hash proves only consistency): not taken, its insert undone.
            continue
        ids.add(cid)
        added += 1
    if added:
        _restore_link_files(repo, ids)
        store.catch_up_index()
    store.set_meta_value(_ADOPTED_KEY, signature)
    return added


def _folders(root: Path) -> Iterator[Path]:
    try:
        tops = sorted(os.listdir(root))
    except OSError:
        return
    for name in tops:
        folder = root / name
        if (folder / "session.json").is_file():
            yield folder
            try:
                subs = sorted(os.listdir(folder))
            except OSError:
                continue
            for sub in subs:
                if (folder / sub / "session.json").is_file():
                    yield folder / sub


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _restore(repo: Checkpoints, meta: dict[str, Any], lines: list[str]) -> None:
    """Insert one checkpoint read from a folder; ValueError when its files do not verify."""
    from bitloops.store._index import index_rows
    from bitloops.store._rows import CheckpointRow, EndedSession

    header = {k: v for k, v in meta.items() if k not in _EXTRA_KEYS}
    # A folder is data anyone could have committed: a commit that is not a SHA (an
    # option-shaped one would reach git as an option) or an id that is not one is refused.
    if not is_sha(str(header["commit_sha"])) or not _ID.fullmatch(str(header["checkpoint_id"])):
        raise ValueError("its commit SHA or checkpoint id is not one")
    stored = meta["content_hash"]
    if content_hash(header, lines) != stored:
        raise ValueError("its files do not hash to its content hash (purged, or changed)")
    events = [json.loads(line) for line in lines]
    sha = str(header["commit_sha"])
    cid = str(header["checkpoint_id"])
    created = str(header["created_at"])
    strategy = str(header["strategy"])
    row = CheckpointRow(
        checkpoint_id=cid,
        commit_sha=sha,
        created_at=created,
        branch=header.get("branch"),
        strategy=strategy,
        event_count=len(lines),
        parent_checkpoint_id=header.get("parent_checkpoint_id"),
        parent_hash=header.get("parent_hash"),
        content_hash=stored,
        header=canonical_dumps(header),
        author=repo.git.author(sha) if repo.git.try_run("cat-file", "-e", sha) else None,
    )
    others = [str(c) for c in meta.get("commits") or () if c != sha]
    now = format_ts(datetime.now(UTC))
    sessions = [
        # Ended, with its counter where the checkpoint left it: an agent that goes on
        # recording into it continues the seq instead of starting again at 1.
        EndedSession(
            session_id=session["session_id"],
            agent=session["agent"],
            model=session.get("model"),
            worktree=repo.worktree,
            branch=session.get("branch"),
            base_commit=session.get("base_commit"),
            started_at=session["started_at"],
            ended_at=session.get("ended_at") or now,
            last_event_at=session.get("last_event_at"),
            last_seq=max(
                (e["seq"] for e in events if e["session_id"] == session["session_id"]),
                default=0,
            ),
        )
        for session in header.get("sessions") or ()
    ]
    repo.store.restore_checkpoint(
        row=row,
        events=[
            (e["session_id"], e["seq"], e["ts"], e["kind"], line)
            for e, line in zip(events, lines, strict=True)
        ],
        # The original reasons of further links are not in the folder: a session's
        # range under the session strategy, else a rewrite.
        links=[(other, "session" if strategy == "session" else "rebuilt") for other in others],
        sessions=sessions,
        index=index_rows(
            header,
            checkpoint_id=cid,
            commit_sha=sha,
            created_at=created,
            content_hash=stored,
            commits=others,
        ),
    )
