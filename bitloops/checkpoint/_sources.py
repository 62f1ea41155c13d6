"""Keeping the index by path complete: this clone's checkpoints and its teammates'.

:func:`refresh` adds what the index lacks, cheaply when nothing changed (a few reads of
small files and one query): local checkpoints promoted before schema version 5 (or
re-indexed after a purge), committed folders that arrived with a branch, folders on the
checkpoint ref after ``bitloops fetch``, the link files of rewritten commits (read when
HEAD or the ref moves), the team's shared store (at most once a minute per Repository),
and the renames git made in commits (scanned once per new tip).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitloops.errors import BitloopsError
from bitloops.store import _sources as index
from bitloops.store._index import IndexRows, index_rows

if TYPE_CHECKING:
    from bitloops.checkpoint._workspace import Checkpoints

__all__ = ["rebuild", "refresh"]

log = logging.getLogger("bitloops")

_FOLDERS = ".bitloops/checkpoints/v1"
_REF = "refs/bitloops/checkpoints/v1"
_SHARED_EVERY = 60.0
_BATCH = 500
# Keys of session.json that are not part of the hashed header.
_EXTRA = ("format", "commits", "content_hash", "event_count")


def _indexed(repo: Checkpoints, metas: list[tuple[str, Any]]) -> set[str]:
    """Those of the checkpoints ``metas`` (``session.json`` contents) name that are indexed."""
    ids = [str(m.get("checkpoint_id")) for _, m in metas if isinstance(m, dict)]
    return index.indexed_ids(repo.store, ids)


def refresh(repo: Checkpoints, *, shared: bool = True) -> None:
    """Bring the index up to date with every source this clone can read."""
    _local(repo)
    _folders(repo)
    _ref(repo)
    _links(repo)
    _renames(repo)
    if shared:
        _shared(repo)


def rebuild(repo: Checkpoints) -> None:
    """Empty the index and build it again from every source (it is derived data)."""
    index.clear_index(repo.store)
    repo._context_shared_at = 0.0  # type: ignore[attr-defined]
    refresh(repo)


def _local(repo: Checkpoints) -> None:
    """Index this clone's checkpoints the index lacks (rowid order: promotion order)."""
    mark = int(index.meta_value(repo.store, "context_local_upto") or 0)
    top = index.last_local_rowid(repo.store)
    if top is None or top <= mark:
        return
    while True:
        found = index.unindexed_local(repo.store, mark, _BATCH)
        rows = [
            index_rows(
                json.loads(header),
                checkpoint_id=cid,
                commit_sha=sha,
                created_at=created,
                content_hash=chash,
                commits=json.loads(links),
            )
            for _, cid, sha, created, chash, header, links in found
        ]
        upto = int(found[-1][0]) if len(found) == _BATCH else top
        index.write_index(repo.store, rows, meta={"context_local_upto": str(upto)})
        mark = upto
        if len(found) < _BATCH:
            return


def _path_commit(key: str) -> str | None:
    """The commit a folder is named after: ``…/v1/<sha>[/<checkpoint id>]`` or ``<sha>[/…]``."""
    parts = key.strip("/").split("/")
    if key.startswith(_FOLDERS):
        parts = parts[3:]
    sha = parts[0] if parts else ""
    return sha if len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha) else None


def _from_meta(repo: Checkpoints, meta: Any, origin: str, location: str) -> IndexRows | None:
    if not isinstance(meta, dict):
        return None
    cid, created = meta.get("checkpoint_id"), meta.get("created_at")
    # The commit comes from where git keeps the folder, never from what the folder says:
    # its "commits" are not hashed, and anyone can write a consistent hash.
    sha = _path_commit(location.split(":", 1)[-1] if origin == "ref" else location)
    if sha is None or not all(isinstance(v, str) for v in (cid, created)):
        return None
    header = {k: v for k, v in meta.items() if k not in _EXTRA}
    commits = [sha]
    return index_rows(
        header,
        checkpoint_id=str(cid),
        commit_sha=str(sha),
        created_at=str(created),
        content_hash=str(meta.get("content_hash") or ""),
        commits=commits,
        origin=origin,
        location=location,
        redact=repo.redactor.redact,
    )


def _folders(repo: Checkpoints) -> None:
    """Index committed folders (``.bitloops/checkpoints/v1/<sha>/``) not read yet."""
    root = repo.toplevel / _FOLDERS
    try:
        st = root.stat()
    except OSError:
        return
    mark = f"{st.st_mtime_ns}:{st.st_ino}"
    if index.meta_value(repo.store, "context_folders_mark") == mark:
        return
    # Only folders git tracks in HEAD are a teammate's: an untracked one may be anything.
    listing = _git(repo, "ls-files", "-z", "--", f"{_FOLDERS}/")
    tracked = {
        name.split("/")[3]
        for name in (listing or b"").decode("utf-8", "replace").split("\0")
        if name.endswith("/session.json") and name.count("/") >= 4
    }
    _forget_gone_folders(repo, tracked)
    seen = index.sources_read(repo.store, "folder")
    found: list[tuple[str, Any]] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name in seen or entry.name not in tracked or not entry.is_dir():
                continue
            found += _read_folder(Path(entry.path), f"{_FOLDERS}/{entry.name}")
    metas = [(key, meta) for key, meta in found]
    known = _indexed(repo, metas)
    rows = []
    for key, meta in metas:
        if isinstance(meta, dict) and meta.get("checkpoint_id") in known:
            continue
        item = _from_meta(repo, meta, "folder", key + "/")
        if item is not None:
            rows.append(item)
            known.add(item.checkpoint_id)
    sources = [("folder", key.split("/")[-1]) for key, _ in metas if key.count("/") == 3]
    index.write_index(repo.store, rows, sources=sources, meta={"context_folders_mark": mark})


def _forget_gone_folders(repo: Checkpoints, tracked: set[str]) -> None:
    """Drop the index rows of folders that left the work tree or are no longer tracked."""
    gone = [
        (cid, loc.strip("/").split("/")[3])
        for cid, loc in index.folder_entries(repo.store)
        if _path_commit(loc) not in tracked or not (repo.toplevel / loc / "session.json").is_file()
    ]
    if gone:
        index.forget_folders(repo.store, gone)


def _read_folder(folder: Path, key: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    try:
        out.append((key, json.loads((folder / "session.json").read_text(encoding="utf-8"))))
    except (OSError, ValueError):
        return out
    try:
        subs = sorted(p for p in folder.iterdir() if (p / "session.json").is_file())
    except OSError:
        subs = []
    for sub in subs:
        try:
            out.append((f"{key}/{sub.name}", json.loads((sub / "session.json").read_text("utf-8"))))
        except (OSError, ValueError):
            continue
    return out


def read_ref(common_dir: Path, ref: str) -> str | None:
    """The SHA a ref names, read from the files (loose, then packed) without running git."""
    try:
        text = (common_dir / ref).read_text(encoding="ascii").strip()
        if text and not text.startswith("ref:"):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    try:
        with open(common_dir / "packed-refs", encoding="utf-8") as fh:
            for line in fh:
                sha, _, name = line.strip().partition(" ")
                if name == ref:
                    return sha
    except OSError:
        pass
    return None


def _git(repo: Checkpoints, *args: str, input: bytes | None = None) -> bytes | None:
    try:
        proc = subprocess.run(
            ("git", "-c", "core.quotepath=false", *args),
            cwd=repo.toplevel,
            input=input,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _ref(repo: Checkpoints) -> None:
    """Index the folders on the checkpoint ref (ours, or fetched) not read yet."""
    tip = read_ref(repo.paths.common_dir, _REF)
    if tip is None and (repo.paths.common_dir / "reftable").exists():  # no ref files to read
        out = _git(repo, "rev-parse", "--verify", "--quiet", f"{_REF}^{{commit}}")
        tip = out.decode().strip() if out else None
    if tip is None or index.meta_value(repo.store, "context_ref_tip") == tip:
        return
    listing = _git(repo, "ls-tree", "-r", "--name-only", tip)
    if listing is None:
        return
    seen = index.sources_read(repo.store, "ref")
    keys = [
        name[: -len("/session.json")]
        for name in listing.decode("utf-8", "replace").splitlines()
        if name.endswith("/session.json")
    ]
    wanted = [k for k in keys if k not in seen]
    metas: list[tuple[str, Any]] = []
    if wanted:
        from bitloops.errors import GitError

        try:
            found = repo.git.blob_bytes([f"{tip}:{k}/session.json" for k in wanted])
        except GitError:
            found = {}
        for key in wanted:
            body = found.get(f"{tip}:{key}/session.json")
            try:
                if body is not None:
                    metas.append((key, json.loads(body)))
            except ValueError:
                continue
    known = _indexed(repo, metas)
    rows = []
    for key, meta in metas:
        if isinstance(meta, dict) and meta.get("checkpoint_id") in known:
            continue
        item = _from_meta(repo, meta, "ref", f"{_REF}:{key}/")
        if item is not None:
            rows.append(item)
            known.add(item.checkpoint_id)
    sources = [("ref", k) for k in wanted]
    index.write_index(repo.store, rows, sources=sources, meta={"context_ref_tip": tip})


def _links(repo: Checkpoints) -> None:
    """Add the commits committed link files name (rewritten commits) to what they link to.

    Read again when HEAD or the checkpoint ref moves; each link is verified (its folder
    committed, its content hash recomputed, see :mod:`bitloops.checkpoint._links`) once.
    """
    tip = read_ref(repo.paths.common_dir, _REF) or ""
    mark = f"{_head(repo) or ''}:{tip}"
    if index.meta_value(repo.store, "context_links_mark") == mark:
        return
    if not tip and not (repo.toplevel / _FOLDERS).is_dir():
        pairs: list[tuple[str, str]] = []  # no committed folder to read: spare git the asking
    else:
        from bitloops.checkpoint._links import committed_links

        known = index.indexed_links(repo.store)
        pairs = [p for p in committed_links(repo.toplevel, skip=known) if p not in known]
    indexed = index.indexed_ids(repo.store, sorted({cid for _, cid in pairs}))
    rows = [(sha, cid) for sha, cid in pairs if cid in indexed]
    index.write_index(repo.store, commits=rows, meta={"context_links_mark": mark})


def _head(repo: Checkpoints) -> str | None:
    try:
        text = (repo.paths.git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if text.startswith("ref:"):
        return read_ref(repo.paths.common_dir, text[4:].strip())
    return text or None


def _renames(repo: Checkpoints) -> None:
    """Record the renames of the commits reachable from HEAD not scanned yet."""
    head = _head(repo)
    if head is None or index.meta_value(repo.store, "context_renames_tip") == head:
        return
    tips = index.sources_read(repo.store, "git-tip")
    revs = "".join([f"{head}\n", *(f"^{t}\n" for t in sorted(tips))]).encode()
    out = _git(
        repo, "log", "-M", "--diff-filter=R", "--name-status", "--format=%x00%H", "--stdin",
        input=revs,
    )  # fmt: skip
    renames: list[tuple[str, str, str]] = []
    sha = ""
    for line in (out or b"").decode("utf-8", "replace").splitlines():
        if line.startswith("\0"):
            sha = line[1:]
        elif line.startswith("R") and line.count("\t") == 2:
            _, old, new = line.split("\t")
            renames.append((new, old, sha))
    index.write_index(
        repo.store,
        renames=renames,
        sources=[("git-tip", head)],
        meta={"context_renames_tip": head},
    )


def _shared(repo: Checkpoints) -> None:
    """Index the shared store's checkpoints the index lacks (once a minute at most)."""
    if repo.settings.committed_store is None:
        return
    last = getattr(repo, "_context_shared_at", 0.0)
    if time.monotonic() - last < _SHARED_EVERY and last:
        return
    repo._context_shared_at = time.monotonic()  # type: ignore[attr-defined]
    shared = repo.shared_store
    if shared is None:
        return
    try:
        ids = shared.checkpoint_ids()
        missing = sorted(set(ids) - index.indexed_ids(repo.store, ids))
        rows = []
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start : start + _BATCH]
            links = shared.commit_links(chunk)
            for cid, sha, created, _pid, _ph, chash, header, _n in shared.headers(chunk):
                rows.append(
                    index_rows(
                        json.loads(header),
                        checkpoint_id=str(cid),
                        commit_sha=str(sha),
                        created_at=str(created),
                        content_hash=str(chash),
                        commits=links.get(str(cid), ()),
                        origin="shared",
                        location=shared.display_url,
                        redact=repo.redactor.redact,
                    )
                )
    except BitloopsError as exc:
        log.warning("bitloops: the shared store could not be read for the index: %s", exc)
        return
    if rows:
        index.write_index(repo.store, rows)
