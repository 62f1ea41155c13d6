"""A file's, symbol's or line's history: the checkpoints that touched it, newest first.

Read from the index by path (:mod:`.index`), which covers this clone's checkpoints and
its teammates'; renames are followed through the renames git recorded (``git log -M``,
scanned once per new tip) and those the checkpoints themselves list.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitloops._codec import parse_ts
from bitloops.checkpoint._sources import refresh
from bitloops.errors import AmbiguousCheckpoint, BitloopsError, CheckpointNotFound, UnknownRef
from bitloops.model import Checkpoint, ModelIdentity
from bitloops.store import _history as index
from bitloops.store._index import random_part

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints

__all__ = [
    "FileHistoryEntry",
    "PathRecord",
    "blame_commit",
    "checkpoint_ids_of_commits",
    "history",
    "load_checkpoint",
    "relative_path",
    "resolve_checkpoint_prefix",
    "retractions",
    "short_id",
]

#: Why a ``cp:`` prefix needs at least this many digits of the random part.
MIN_PREFIX = 8
_PREFIX = re.compile(r"cp:([0-9a-fA-F-]+)")
_FULL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_COMMITTED = "0" * 40


@attrs.frozen(kw_only=True)
class PathRecord:
    """A why-record that applies to a file: a decision, rejected alternative, constraint
    or plan item, quoted as recorded.

    ``detail`` is its rationale, rejection reason, who stated it, or a plan item's
    status; ``explicit`` is True when the record's ``applies_to`` names the file (or
    ``symbol`` of it), False when it applies because its checkpoint touched the file;
    ``retracted`` is the reason given when it was retracted, else None.
    """

    category: str
    text: str
    detail: str | None = None
    source: str = "agent"
    record_id: str = ""
    confidence: float = 1.0
    explicit: bool = False
    symbol: str | None = None
    retracted: str | None = None


@attrs.frozen(kw_only=True)
class FileHistoryEntry:
    """One checkpoint in a file's history, with what applies to the file.

    ``path`` is the file's name in that checkpoint (it differs before a rename);
    ``symbols`` the file's symbols it changed; ``origin`` where this clone read it
    (``local``, ``folder``, ``ref``, ``shared``) and ``location`` the folder, ref path
    or store. ``line`` is set by a ``line=`` query: the line's number in that commit.
    """

    checkpoint_id: str
    commit_sha: str
    commits: tuple[str, ...]
    created_at: datetime
    path: str
    change: str | None = None
    old_path: str | None = None
    symbols: tuple[str, ...] = ()
    branch: str | None = None
    agents: tuple[str, ...] = ()
    models: tuple[ModelIdentity, ...] = ()
    prompts: tuple[str, ...] = ()
    decisions: tuple[PathRecord, ...] = ()
    alternatives: tuple[PathRecord, ...] = ()
    constraints: tuple[PathRecord, ...] = ()
    plan_items: tuple[PathRecord, ...] = ()
    origin: str = "local"
    location: str | None = None
    content_hash: str = ""
    line: int | None = None

    @property
    def short_id(self) -> str:
        """The checkpoint as a ``cp:`` prefix (8 digits of its random part)."""
        return short_id(self.checkpoint_id)

    @property
    def records(self) -> tuple[PathRecord, ...]:
        """Every record, decisions first."""
        return (*self.decisions, *self.alternatives, *self.constraints, *self.plan_items)


def short_id(checkpoint_id: str) -> str:
    """``cp:`` and the first 8 digits of the id's random part (see :func:`random_part`)."""
    return "cp:" + random_part(checkpoint_id)[:MIN_PREFIX]


def retractions(repo: Checkpoints) -> dict[str, str]:
    """The retracted record ids and their reasons ({} before retractions exist)."""
    retracted = getattr(repo, "retracted", None)
    if not callable(retracted):
        return {}
    try:
        found = retracted()
    except BitloopsError:
        return {}
    return dict(found) if isinstance(found, Mapping) else {}


def relative_path(repo: Checkpoints, path: str | os.PathLike[str]) -> str:
    """``path`` relative to the work tree, with forward slashes.

    A relative path is read from the work tree's top; an absolute one must be inside it.
    """
    raw = os.fspath(path)
    p = Path(raw)
    if p.is_absolute():
        top = repo.toplevel.resolve()
        try:
            return p.resolve().relative_to(top).as_posix()
        except ValueError:
            raise UnknownRef(f"{raw} is outside the work tree {top}") from None
    return Path(os.path.normpath(raw)).as_posix()


def resolve_checkpoint_prefix(repo: Checkpoints, ref: str) -> str:
    """The full checkpoint id a ``cp:`` reference names.

    ``cp:`` is followed by a full id, or by at least :data:`MIN_PREFIX` hex digits of
    the id's random part (the digits after the 12 of its timestamp and the version digit
    ``7``), as ``bitloops log`` prints them. Raises :class:`AmbiguousCheckpoint` when
    it is too short or names several, :class:`~bitloops.UnknownRef` when none.
    """
    m = _PREFIX.fullmatch(ref.strip())
    if m is None:
        raise UnknownRef(f"{ref!r} is not a checkpoint reference; write cp: and hex digits")
    body = m.group(1).lower()
    refresh(repo)
    if _FULL_ID.fullmatch(body):
        if index.is_known(repo.store, body):
            return body
        raise UnknownRef(f"no checkpoint {body} in this clone; try `bitloops fetch`")
    digits = body.replace("-", "")
    if len(digits) < MIN_PREFIX:
        raise AmbiguousCheckpoint(
            f"{ref!r} is too short: give at least {MIN_PREFIX} hex digits of the checkpoint's "
            "random part (as `bitloops log` prints, e.g. cp:5f8a6b1c)"
        )
    ids = index.ids_with_prefix(repo.store, digits, limit=6)
    if not ids:
        raise UnknownRef(
            f"no checkpoint matches {ref!r}; check the id with `bitloops log PATH` or "
            "`bitloops rewind`, or run `bitloops fetch` for a teammate's"
        )
    if len(ids) > 1:
        names = ", ".join("cp:" + random_part(i)[: len(digits) + 4] for i in ids[:5])
        raise AmbiguousCheckpoint(
            f"{ref!r} is ambiguous: it matches {len(ids) if len(ids) < 6 else 'more than 5'} "
            f"checkpoints ({names}); give more digits"
        )
    return ids[0]


def load_checkpoint(repo: Checkpoints, checkpoint_id: str) -> Checkpoint:
    """The full checkpoint with this id, wherever this clone can read it."""
    if repo.store.has_checkpoint(checkpoint_id):
        return repo._load_checkpoint(checkpoint_id)
    found_at = index.indexed_source(repo.store, checkpoint_id)
    if found_at is not None:
        origin, location, sha = found_at
        try:
            if origin == "folder" and location:
                from bitloops.checkpoint._files import read_checkpoint_dir

                return read_checkpoint_dir(repo.toplevel / location)
            if origin == "shared":
                from bitloops.store._sqlite import CheckpointQuery

                found = repo._shared_checkpoints(CheckpointQuery(), checkpoint_id=checkpoint_id)
                if found:
                    return found[0]
            if sha is not None:
                for cp in repo._from_files(sha):
                    if cp.checkpoint_id == checkpoint_id:
                        return cp
        except BitloopsError:
            pass
    raise CheckpointNotFound(
        f"checkpoint {checkpoint_id} is indexed but cannot be read here (its folder, ref or "
        "shared store is gone); run `bitloops fetch` or check the shared store"
    )


def checkpoint_ids_of_commits(
    repo: Checkpoints, shas: Sequence[str], *, private: bool = True
) -> dict[str, list[str]]:
    """Each commit's checkpoints (local links and indexed ones), newest first;
    ``private=False`` leaves this clone's private checkpoints out (what others see)."""
    if not shas:
        return {}
    out: dict[str, list[str]] = {}
    for sha, cid in index.checkpoints_of_commits(repo.store, shas, private=private):
        out.setdefault(sha, []).append(cid)
    return out


def _names(repo: Checkpoints, path: str) -> list[str]:
    """``path`` and the names it had before renames (git's and the checkpoints'), newest first."""
    names = [path]
    for name in names:  # grows while it is walked
        if len(names) > 50:
            break
        for old in index.older_names(repo.store, name):
            if old not in names:
                names.append(old)
    return names


def blame_commit(repo: Checkpoints, path: str, line: int) -> tuple[str, str, int] | None:
    """The commit that last changed line ``line`` of ``path`` (work tree version), the
    file's name and the line's number in that commit; None for an uncommitted line.
    """
    out = repo.git.try_run("blame", "--porcelain", "-L", f"{line},{line}", "--", path)
    if out is None:
        raise UnknownRef(
            f"cannot blame {path}:{line}: git has no such line (the file has fewer lines, or "
            "is not tracked)"
        )
    first = out.split("\n", 1)[0].split()
    sha, number = first[0], int(first[1])
    name = path
    for row in out.splitlines()[1:]:
        if row.startswith("filename "):
            name = row[len("filename ") :]
            break
    return None if sha == _NOT_COMMITTED else (sha, name, number)


def _record(row: Sequence[Any], gone: Mapping[str, str]) -> PathRecord:
    category, text, detail, source, rid, confidence, explicit, symbol = row
    rid = str(rid)
    reason = gone.get(rid) or (gone.get(rid.split("#", 1)[0]) if "#" in rid else None)
    return PathRecord(
        category=str(category),
        text=str(text),
        detail=detail,
        source=str(source),
        record_id=rid,
        confidence=float(confidence),
        explicit=bool(explicit),
        symbol=symbol or None,
        retracted=reason,
    )


_CATEGORY_FIELDS = {
    "decision": "decisions",
    "alternative": "alternatives",
    "constraint": "constraints",
    "plan-item": "plan_items",
}


def history(
    repo: Checkpoints,
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    line: int | None = None,
    limit: int | None = None,
    retracted: bool = True,
    private: bool = True,
) -> list[FileHistoryEntry]:
    """The checkpoints that touched ``path`` (or its ``symbol``, or last changed its
    ``line``), newest first, with the why-records that apply to it.

    ``retracted=False`` leaves retracted records out instead of marking them;
    ``private=False`` leaves this clone's private checkpoints out (for another session).
    """
    rel = relative_path(repo, path)
    if line is not None and (isinstance(line, bool) or not isinstance(line, int) or line < 1):
        raise UnknownRef(f"line must be a positive line number, not {line!r}")
    refresh(repo)
    names = _names(repo, rel)
    rows = index.touching(repo.store, names, symbol, private=private)
    at_line: int | None = None
    if line is not None:
        found = blame_commit(repo, rel, line)
        if found is None:
            return []
        sha, name, at_line = found
        if name not in names:
            names.append(name)
            rows = index.touching(repo.store, names, symbol, private=private)
        wanted = set(checkpoint_ids_of_commits(repo, [sha], private=private).get(sha, ()))
        rows = [r for r in rows if r[0] in wanted]
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        return []
    ids = [str(r[0]) for r in rows]
    gone = retractions(repo)
    records: dict[str, list[PathRecord]] = {}
    seen: set[tuple[str, str, str]] = set()
    for cid, *rest in index.records_of(repo.store, names, ids):
        rec = _record(rest, gone)
        if symbol and rec.symbol not in (None, symbol):
            continue
        if rec.retracted and not retracted:
            continue
        key = (str(cid), rec.record_id or rec.text, rec.category)
        if key in seen:
            continue
        seen.add(key)
        records.setdefault(str(cid), []).append(rec)
    symbols: dict[str, list[str]] = {}
    for cid, name in index.symbols_of(repo.store, names, ids):
        symbols.setdefault(cid, []).append(name)
    links: dict[str, list[str]] = {}
    for cid, sha in index.linked_commits(repo.store, ids):
        links.setdefault(cid, []).append(sha)
    entries = []
    for row in rows:
        (cid, sha, created, origin, location, chash, branch, agents, models, prompts) = row[:10]
        hit_path, change, old_path = row[10:13]
        by_kind: dict[str, list[PathRecord]] = {}
        for rec in records.get(str(cid), ()):
            by_kind.setdefault(_CATEGORY_FIELDS.get(rec.category, "decisions"), []).append(rec)
        commits = [str(sha), *sorted(s for s in links.get(str(cid), ()) if s != sha)]
        entries.append(
            FileHistoryEntry(
                checkpoint_id=str(cid),
                commit_sha=str(sha),
                commits=tuple(commits),
                created_at=parse_ts(str(created)),
                path=str(hit_path),
                change=change,
                old_path=old_path,
                symbols=tuple(symbols.get(str(cid), ())),
                branch=branch,
                agents=tuple(json.loads(agents)),
                models=tuple(ModelIdentity(agent=str(a), model=m) for a, m in json.loads(models)),
                prompts=tuple(json.loads(prompts)),
                origin=str(origin),
                location=location,
                content_hash=str(chash),
                line=at_line,
                **{k: tuple(v) for k, v in by_kind.items()},
            )
        )
    return entries
