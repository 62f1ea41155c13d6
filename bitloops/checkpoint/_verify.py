"""Integrity: verify checkpoints against their hashes, chain, links and files; break-glass purge.

What :func:`verify` can prove, and what it cannot, is written down in docs/storage.md
("What verify proves"). The witnesses it trusts, strongest first: git's copy of a
committed folder (content-addressed, and pushed elsewhere), the hash chain, the
folder in the work tree, and the database's own hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from bitloops._codec import (
    _fast_dumps,
    canonical_dumps,
    content_hash,
    event_from_line,
    format_ts,
    new_id,
    parse_ts,
    structure,
)
from bitloops.checkpoint._files import (
    CHECKPOINTS_DIR,
    FORMAT,
    folder_of,
    write_checkpoint_dir,
)
from bitloops.errors import BitloopsError, CheckpointFilesError, PurgeError, StoreError
from bitloops.git._git import is_sha
from bitloops.model import Checkpoint
from bitloops.store._rows import LinkRecord, PurgeStep

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    from bitloops.checkpoint._workspace import Checkpoints
    from bitloops.store._integrity import BreakGlass
    from bitloops.store._postgres import PostgresStore
    from bitloops.store._sqlite import SQLiteStore

__all__ = ["Problem", "PurgeReport", "VerifyReport", "purge", "verify", "verify_shared"]

# The tables whose triggers keep committed data immutable; a trigger on one of them
# that a current schema does not have is as suspect as a missing one.
_PROTECTED = ("checkpoints", "checkpoint_events", "commit_links", "purges", "annotations")
#: How far a commit's time may lag the checkpoint it is linked to (clocks, git's whole
#: seconds) before the link counts as pointing an older commit at newer reasoning.
_CLOCK_SLACK_S = 10.0
# Keys of session.json that are not part of the hashed header (as checkpoint_files').
_EXTRA_KEYS = ("format", "commits", "content_hash", "event_count")
_FILES = ("session.json", "transcript.jsonl")


@attrs.frozen(kw_only=True)
class Problem:
    """One finding of :func:`verify`. ``severity`` is ``error`` or ``info``."""

    kind: str
    message: str
    checkpoint_id: str | None = None
    commit_sha: str | None = None
    severity: str = "error"
    #: Which store it was found in: ``local`` or ``shared`` (the team's PostgreSQL).
    store: str = "local"


@attrs.frozen(kw_only=True)
class VerifyReport:
    """What :meth:`bitloops.Repository.verify` found."""

    checked: int
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (purges, being audited, are not wrong)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def purged(self) -> tuple[str, ...]:
        """Ids of checkpoints changed by an audited purge."""
        return tuple(p.checkpoint_id or "" for p in self.problems if p.kind == "purged")


@attrs.frozen(kw_only=True)
class PurgeReport:
    """What :meth:`bitloops.Repository.purge` changed."""

    purge_ids: tuple[str, ...]
    checkpoint_ids: tuple[str, ...]
    occurrences: int
    live_events: int
    #: True when the database was rebuilt and its log emptied, so no free page or log
    #: frame still holds the old text; False if another process kept a read open.
    erased: bool = True


def _purge_chain(rows: Sequence[tuple[str, str]], start: str) -> list[str]:
    """Hashes a checkpoint legitimately had: the original, then each purge's result."""
    chain, current = [start], start
    for old, new in rows:
        if old == current:
            chain.append(new)
            current = new
    return chain


class _Events(NamedTuple):
    """A checkpoint's stored events: how many, and their lines joined as hashed."""

    total: int
    text: str

    @property
    def lines(self) -> list[str]:
        """The lines (a line never holds a raw newline: canonical JSON escapes it)."""
        return self.text.split("\n")[:-1]


class _Owned(NamedTuple):
    """A checkpoint as the link checks see it."""

    checkpoint_id: str
    sha: str
    created_at: str
    strategy: str | None
    header: str


@attrs.frozen(kw_only=True)
class _Copy:
    """A copy of a checkpoint folder: its header, its hash and its transcript text."""

    where: str
    meta: dict[str, Any]
    digest: str
    transcript: bytes

    @property
    def lines(self) -> list[str]:
        """The transcript's lines (decoded only when a purge needs them)."""
        return self.transcript.decode("utf-8", "replace").split("\n")[:-1]


# -- the database as a whole ------------------------------------------------------------


def _schema_problems(store: SQLiteStore) -> list[Problem]:
    """Triggers missing, replaced (same name, other body) or added on committed tables."""
    from bitloops.store._integrity import expected_schema_objects

    expected = expected_schema_objects()
    actual = store.schema_objects()
    found: list[Problem] = []
    missing = sorted(n for n in expected if n not in actual)
    if missing:
        found.append(
            Problem(
                kind="triggers_missing",
                message=f"immutability triggers removed: {', '.join(missing)}",
            )
        )
    altered = sorted(n for n in expected if n in actual and actual[n] != expected[n])
    added = sorted(
        n
        for n, (kind, table, _sql) in actual.items()
        if n not in expected and kind == "trigger" and table in (*_PROTECTED, "break_glass")
    )
    if altered or added:
        parts = [f"replaced by a different definition: {', '.join(altered)}"] if altered else []
        parts += [f"not created by bitloops: {', '.join(added)}"] if added else []
        found.append(
            Problem(
                kind="triggers_altered",
                message="the schema that keeps checkpoints immutable was changed ("
                + "; ".join(parts)
                + "); committed rows may have been edited past it",
            )
        )
    return found


def _integrity(store: SQLiteStore) -> list[Problem]:
    """SQLite's own check of every page (``quick_check``): damage anywhere is an error."""
    try:
        results = store.quick_check(5)
    except StoreError as exc:
        results = [str(exc)]
    if results == ["ok"]:
        return []
    return [
        Problem(
            kind="database_damaged",
            message=f"{store.path} fails SQLite's quick_check ({'; '.join(results)}); restore "
            "it from a backup, or copy it aside and salvage rows with sqlite3's .recover "
            "(`bitloops doctor --fix` rebuilds the committed state from the folders)",
        )
    ]


# -- git as a witness ---------------------------------------------------------------------


def _git_bytes(repo: Checkpoints, args: Sequence[str], stdin: bytes) -> bytes:
    try:
        proc = subprocess.run(
            ("git", *args), cwd=repo.toplevel, input=stdin, capture_output=True, timeout=600,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return proc.stdout if proc.returncode == 0 else b""


def _commit_presence(repo: Checkpoints, shas: Iterable[str]) -> set[str]:
    """The SHAs this clone has a commit object for (one ``cat-file --batch-check``)."""
    wanted = sorted(set(shas))
    out = _git_bytes(
        repo,
        ("cat-file", "--batch-check=%(objectname) %(objecttype)"),
        "".join(f"{s}\n" for s in wanted).encode(),
    )
    return {
        parts[0].decode()
        for parts in (line.split() for line in out.splitlines())
        if len(parts) == 2 and parts[1] == b"commit"
    }


def _git_state(repo: Checkpoints) -> tuple[set[str], set[str]]:
    """Commits whose folder the work tree changed since ``HEAD``, and those ``HEAD`` holds."""
    if repo.settings.checkpoint_files == "ref" or repo.git.head() is None:
        return set(), set()
    changed = _changed_checkpoint_files(repo)
    out = repo.git.try_run("ls-tree", "-d", "--name-only", f"HEAD:{CHECKPOINTS_DIR}") or ""
    return changed, set(out.split())


def _rewrites_in_history(repo: Checkpoints) -> dict[str, list[tuple[str, str]]]:
    """Checkpoint files git's history holds in more than one version.

    Maps each ``session.json`` or ``transcript.jsonl`` (relative to the checkpoints
    folder) with two or more distinct contents in the history of ``HEAD`` (or of the
    checkpoint ref) to its ``(commit, blob)`` versions, newest first. A folder is
    written once; only a purge rewrites it (or a rewrite's link, ``session.json``'s
    list of commits, when a deleted folder is written again).
    """
    from bitloops.git._ref import CHECKPOINT_REF, ref_tip

    if repo.settings.checkpoint_files == "ref":
        if ref_tip(repo.toplevel) is None:
            return {}
        rev, prefix = CHECKPOINT_REF, ""
    elif repo.git.head() is None:
        return {}
    else:
        rev, prefix = "HEAD", f"{CHECKPOINTS_DIR}/"
    out = repo.git.try_run(
        "log", "--raw", "--no-renames", "--no-abbrev", "--diff-filter=AM", "--format=%x00%H",
        rev, "--", prefix or ".",
    )  # fmt: skip
    versions: dict[str, list[tuple[str, str]]] = {}
    commit = ""
    for line in (out or "").splitlines():
        if line.startswith("\0"):
            commit = line[1:]
            continue
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 5 and path.endswith(_FILES):
            seen = versions.setdefault(path[len(prefix) :], [])
            if all(blob != parts[3] for _c, blob in seen):
                seen.append((commit, parts[3]))
    return {path: seen for path, seen in versions.items() if len(seen) > 1}


def _history_problems(
    repo: Checkpoints,
    rewrites: dict[str, list[tuple[str, str]]],
    rows: Sequence[tuple[Any, ...]],
    purges: dict[str, list[PurgeStep]],
) -> list[Problem]:
    """A checkpoint whose committed folder git shows changed later, with no purge to say why."""
    if not rewrites:
        return []
    by_path: dict[str, tuple[str, str]] = {}  # folder (sha or sha/id) -> (id, sha)
    for r in sorted(rows, key=lambda r: str(r[7]), reverse=True):
        by_path[str(r[1])] = (str(r[0]), str(r[1]))  # the first made holds <sha>/
        by_path[f"{r[1]}/{r[0]}"] = (str(r[0]), str(r[1]))
    metas = [
        blob
        for path, seen in rewrites.items()
        if path.endswith("session.json")
        for _c, blob in seen
    ]
    texts = repo.git.read_blobs(metas)
    found: list[Problem] = []
    for path, seen in sorted(rewrites.items()):
        folder, _, name = path.rpartition("/")
        owner = by_path.get(folder)
        if owner is None:
            continue  # not a checkpoint of this database (not_in_database says so)
        cid, sha = owner
        if purges.get(cid):
            continue  # a purge rewrites the folder; the purge checks judge it
        if name == "session.json":
            headers = [_header_of(texts.get(blob)) for _c, blob in seen]
            if headers[0] is not None and all(h == headers[0] for h in headers):
                continue  # only the list of linked commits differs (a rewrite's link)
        found.append(
            Problem(
                kind="history_rewritten",
                message=f"git's history holds {len(seen)} different versions of {path} (the "
                f"latest from commit {seen[0][0][:12]}): the checkpoint was changed after git "
                "committed its folder",
                checkpoint_id=cid,
                commit_sha=sha,
            )
        )
    return found


def _header_of(text: str | None) -> dict[str, Any] | None:
    try:
        meta = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return {k: v for k, v in meta.items() if k not in _EXTRA_KEYS}


def _commit_objects(repo: Checkpoints, shas: Iterable[str]) -> dict[str, bytes | None]:
    """The raw commit object of each SHA, or None for one this clone does not have."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    out = _git_bytes(repo, ("cat-file", "--batch"), "".join(f"{s}\n" for s in wanted).encode())
    found: dict[str, bytes | None] = {}
    pos = 0
    for sha in wanted:
        end = out.find(b"\n", pos)
        if end < 0:
            found[sha] = None
            continue
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3:
            found[sha] = None
            continue
        size = int(header[2])
        found[sha] = out[pos : pos + size] if header[1] == b"commit" else None
        pos += size + 1
    return found


def _committer_time(commit: bytes) -> float | None:
    for line in commit.split(b"\n"):
        if not line:
            break
        if line.startswith(b"committer "):
            try:
                return float(line.rsplit(b" ", 2)[-2])
            except (ValueError, IndexError):
                return None
    return None


def _session_start(header_text: str) -> float | None:
    """When the earliest session a checkpoint's (hashed) header records started."""
    try:
        sessions = json.loads(header_text).get("sessions") or []
        starts = [parse_ts(s["started_at"]).timestamp() for s in sessions]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return min(starts, default=None)


def _is_ancestor(repo: Checkpoints, older: str, newer: str) -> bool:
    return (
        repo.git.try_run("merge-base", "--is-ancestor", older, newer) is not None and older != newer
    )


_decode_json = json.JSONDecoder().decode


def _parse_copy(where: str, meta_text: bytes | None, transcript: bytes | None) -> _Copy | None:
    """A folder's copy from its two files' bytes; None when it is not a checkpoint folder."""
    if meta_text is None or transcript is None:
        return None
    try:
        # What json.loads does with bytes, less its encoding detection (hot: once a folder).
        meta = _decode_json(meta_text.decode())
    except ValueError:  # not UTF-8, or a BOM: json.loads says what it makes of them
        try:
            meta = json.loads(meta_text)
        except ValueError:
            return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    if transcript and not transcript.endswith(b"\n"):
        transcript += b"\n"  # as the reader takes it: the last line needs no newline
    header = {k: v for k, v in meta.items() if k not in _EXTRA_KEYS}
    # The file's bytes are the hashed lines (each ends in a newline): hashed as they are,
    # not split, decoded and joined again. The header by canonical_dumps' own C encoder,
    # built once (parsed JSON holds no cycle for its markers to catch).
    digest = hashlib.sha256(_fast_dumps(header).encode())
    digest.update(b"\n")
    digest.update(transcript)
    return _Copy(where=where, meta=meta, digest=digest.hexdigest(), transcript=transcript)


def _read_folder(folder: str) -> _Copy:
    """The copy in a folder on disk: read once, hashed once (no object model built)."""
    try:
        with open(f"{folder}/session.json", "rb") as fh:
            meta_text = fh.read()
        with open(f"{folder}/transcript.jsonl", "rb") as fh:
            transcript = fh.read()
    except FileNotFoundError as exc:
        raise CheckpointFilesError(
            f"{folder} is not a complete checkpoint folder ({Path(exc.filename).name} is "
            "missing); restore it from git, or run `bitloops doctor --fix` to rewrite it "
            "from the database"
        ) from exc
    except OSError as exc:
        raise CheckpointFilesError(f"cannot read checkpoint folder {folder}: {exc}") from exc
    # Not decoded: bytes that are not UTF-8 cannot hash to the stored (UTF-8) lines.
    copy = _parse_copy(folder, meta_text, transcript)
    if copy is None:
        raise CheckpointFilesError(
            f"{folder}/session.json is not a {FORMAT} file; restore it from git"
        )
    return copy


# -- purges ---------------------------------------------------------------------------


def _json_text(text: str) -> str:
    return encode_basestring(text)[1:-1]  # how a string looks inside JSON text


def _explains(old: str, new: str, purge: PurgeStep) -> bool:
    """True when ``new`` is ``old`` with one secret (of the purge's SHA-256) replaced."""
    needle = _json_text(purge.replacement)
    parts = new.split(needle)
    gaps = len(parts) - 1
    rest = len(old) - sum(len(p) for p in parts)
    if gaps < 1 or rest <= 0 or rest % gaps:
        return False
    start = len(parts[0])
    secret = old[start : start + rest // gaps]
    if secret.join(parts) != old:
        return False
    try:
        plain = json.loads(f'"{secret}"')
    except ValueError:
        return False
    return isinstance(plain, str) and hashlib.sha256(plain.encode()).hexdigest() == (
        purge.secret_sha256
    )


def _purge_evidence(
    before: _Copy, header_text: str, lines: Sequence[str], steps: Sequence[PurgeStep]
) -> str | None:
    """Why an older copy and the database's content disagree with the purges between them.

    None when every changed line (and the header) is the older copy's with the secret
    of one of ``steps`` replaced. With several steps a line may carry more than one
    secret, which this cannot untangle: those are let pass (``None``), not accused.
    """
    if any(not step.replacement for step in steps):
        return None  # removed without a trace: nothing to find the secret's place by
    old_lines = before.lines
    old_header = canonical_dumps({k: v for k, v in before.meta.items() if k not in _EXTRA_KEYS})
    if len(old_lines) != len(lines):
        return f"it has {len(lines)} events where {before.where} has {len(old_lines)}"
    pairs = [(old_header, header_text), *zip(old_lines, lines, strict=True)]
    for index, (old, new) in enumerate(pairs):
        if old == new or any(_explains(old, new, step) for step in steps):
            continue
        if len(steps) > 1:
            return None
        where = "its header" if index == 0 else f"event {index}"
        return f"{where} differs from {before.where} in more than the purged secret"
    return None


def _purge_counts(header_text: str, lines: Sequence[str], steps: Sequence[PurgeStep]) -> str | None:
    """A purge claims more replacements than the content holds: its record was made up."""
    claimed: dict[str, int] = {}
    for step in steps:
        claimed[step.replacement] = claimed.get(step.replacement, 0) + step.occurrences
    for replacement, count in claimed.items():
        if not replacement:
            continue  # an empty replacement leaves nothing to count
        needle = _json_text(replacement)
        held = header_text.count(needle) + sum(line.count(needle) for line in lines)
        if held < count:
            return (
                f"its purge records claim {count} replacement(s) by {replacement!r}, but the "
                f"content holds {held}"
            )
    return None


# -- verify ---------------------------------------------------------------------------


def verify(repo: Checkpoints, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Cross-check the database, the hash chain, the commit links and the folders.

    ``progress``, if given, is called with (checkpoints done, total) as it goes.
    """
    from concurrent.futures import ThreadPoolExecutor

    store = repo.store
    # git works in processes of its own while SQLite (which lets go of the GIL) and
    # the folders are read here: the two overlap on a machine with two cores.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bitloops-verify") as pool:
        git_state = pool.submit(_git_state, repo)
        history = pool.submit(_rewrites_in_history, repo)
        problems = _integrity(store)
        try:
            checked = _verify_store(repo, store, problems, progress, pool, git_state, history)
        except StoreError as exc:  # damaged pages the quick check did not reach
            problems.append(Problem(kind="database_damaged", message=str(exc)))
            return VerifyReport(checked=0, problems=tuple(problems))
    return VerifyReport(checked=checked, problems=tuple(problems))


def _verify_store(
    repo: Checkpoints,
    store: SQLiteStore,
    problems: list[Problem],
    progress: Callable[[int, int], None] | None,
    pool: Executor,
    git_state: Future[tuple[set[str], set[str]]],
    history: Future[dict[str, list[tuple[str, str]]]],
) -> int:
    problems.extend(_schema_problems(store))
    if store.break_glass_open():
        problems.append(
            Problem(
                kind="break_glass_open", message="the break_glass table holds a row outside a purge"
            )
        )
    with store.verification() as snapshot:
        rows: list[tuple[Any, ...]] = list(snapshot.checkpoints)
        purges: dict[str, list[PurgeStep]] = {}
        for step in snapshot.purges:
            purges.setdefault(step.checkpoint_id, []).append(step)
        links = snapshot.links
        present = pool.submit(
            _commit_presence, repo, [*(str(r[1]) for r in rows), *(k.commit_sha for k in links)]
        )
        link_files = pool.submit(_link_files, repo.toplevel)  # git only: while rows are read
        # One pass over every event, one string per checkpoint (its lines as hashed),
        # in the order of the rows above.
        events = snapshot.events
        pending: tuple[Any, ...] | None = next(events, None)
        hashes = {r[0]: r[2] for r in rows}
        linked: dict[str, set[str]] = {}
        for link in links:
            linked.setdefault(link.commit_sha, set()).add(link.checkpoint_id)
        with contextlib.ExitStack() as stack:
            files = _Files(repo, stack, git_state)
            for done, row in enumerate(rows, 1):
                cid = row[0]
                while pending is not None and pending[0] < cid:
                    pending = next(events, None)  # events of no checkpoint: FK says none
                lines = _Events(0, "")
                if pending is not None and pending[0] == cid:
                    lines = _Events(int(pending[1]), str(pending[2]))
                    pending = next(events, None)
                problems.extend(
                    _verify_one(repo, files, row, lines, hashes, purges.get(cid, []), linked)
                )
                if progress is not None:
                    progress(done, len(rows))
            problems.extend(files.witnessed(rows, purges))
            problems.extend(_history_problems(repo, history.result(), rows, purges))
            problems.extend(_unknown_folders(files.top, {r[1] for r in rows}, linked))
            problems.extend(link_files.result())
    owned = [_Owned(str(r[0]), str(r[1]), str(r[7]), r[8], str(r[6])) for r in rows]
    problems.extend(_link_problems(repo, owned, links, present.result()))
    from bitloops.checkpoint._annotations import verify_rows

    for annotation_id, problem in verify_rows(store):
        problems.append(
            Problem(kind="annotation_mismatch", message=f"annotation {annotation_id}: {problem}")
        )
    if repo.shared_store is not None:
        problems.extend(verify_shared(repo.shared_store, {r[0]: r[2] for r in rows}, repo))
    return len(rows)


class _Files:
    """Where the folders are checked, and git's copies of the committed ones."""

    def __init__(
        self,
        repo: Checkpoints,
        stack: contextlib.ExitStack,
        git_state: Future[tuple[set[str], set[str]]],
    ) -> None:
        self.repo = repo
        self.mode = repo.settings.checkpoint_files
        #: Commits whose folder is in HEAD's tree (git's copy, the witness).
        self.committed: set[str] = set()
        self.changed: set[str] = set()
        #: Checkpoints to check against git's copy: ``(row, their events)``.
        self.to_witness: list[tuple[tuple[Any, ...], _Events]] = []
        if self.mode == "ref":
            # The folders are committed under the checkpoint ref, not in the work tree:
            # check the ref's copy (git content-addresses it) exactly the same way.
            from bitloops.git._ref import export_ref

            self.top = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bitloops-")))
            self.root = str(self.top / CHECKPOINTS_DIR)
            export_ref(repo.toplevel, self.top / CHECKPOINTS_DIR)
            return
        self.top = repo.toplevel
        self.root = str(self.top / CHECKPOINTS_DIR)
        self.changed, self.committed = git_state.result()

    def witness(self, row: tuple[Any, ...], lines: _Events) -> None:
        """Check this checkpoint against git's copy too (its work-tree folder differs)."""
        if row[1] in self.committed:
            self.to_witness.append((row, lines))

    def witnessed(
        self, rows: Sequence[tuple[Any, ...]], purges: dict[str, list[PurgeStep]]
    ) -> list[Problem]:
        """Compare each checkpoint queued by :meth:`witness` with git's copy in HEAD."""
        if not self.to_witness:
            return []
        specs: list[str] = []
        for row, _lines in self.to_witness:
            cid, sha = row[0], row[1]
            for rel in (f"{sha}", f"{sha}/{cid}"):
                specs += [f"HEAD:{CHECKPOINTS_DIR}/{rel}/session.json"]
                specs += [f"HEAD:{CHECKPOINTS_DIR}/{rel}/transcript.jsonl"]
        blobs = self.repo.git.read_blobs(specs)
        found: list[Problem] = []
        for row, lines in self.to_witness:
            cid, sha, stored_hash = row[0], row[1], row[2]
            copy = None
            for rel in (f"{sha}", f"{sha}/{cid}"):
                base = f"HEAD:{CHECKPOINTS_DIR}/{rel}"
                meta, transcript = (blobs.get(f"{base}/{n}") for n in _FILES)
                candidate = _parse_copy(
                    f"git's copy ({base})",
                    None if meta is None else meta.encode(),
                    None if transcript is None else transcript.encode(),
                )
                if candidate is not None and candidate.meta.get("checkpoint_id") == cid:
                    copy = candidate
                    break
            if copy is None:
                continue
            steps = purges.get(cid, [])
            chain = _purge_chain([(p.old_hash, p.new_hash) for p in steps], stored_hash)

            def report(kind: str, message: str, cid: str = cid, sha: str = sha) -> None:
                found.append(Problem(kind=kind, message=message, checkpoint_id=cid, commit_sha=sha))

            if copy.digest not in chain or copy.meta.get("content_hash") != stored_hash:
                report(
                    "files_mismatch",
                    f"{copy.where} does not match the database: the checkpoint was changed "
                    "after git committed its folder",
                )
                continue
            later = steps[chain.index(copy.digest) :]
            if later:
                header_text = str(row[6])
                why = _purge_evidence(copy, header_text, lines.lines, later)
                if why is not None:
                    report(
                        "purge_forged",
                        f"its purge record does not explain the change from {copy.where}: {why}",
                    )
        return found


def _verify_one(
    repo: Checkpoints,
    files: _Files,
    row: tuple[Any, ...],
    lines: _Events,
    hashes: dict[str, str],
    steps: list[PurgeStep],
    linked: dict[str, set[str]],
) -> list[Problem]:
    cid, sha, stored_hash, parent_id, parent_hash, count, header_text = row[:7]
    found: list[Problem] = []

    def report(kind: str, message: str, severity: str = "error") -> None:
        found.append(
            Problem(
                kind=kind, message=message, checkpoint_id=cid, commit_sha=sha, severity=severity
            )
        )

    allowed = _purge_chain([(p.old_hash, p.new_hash) for p in steps], stored_hash)
    # The stored header is canonical JSON as promotion wrote it: hash its text as it is,
    # and parse and serialise it again only when that does not give a hash it had.
    actual = hashlib.sha256(f"{header_text}\n{lines.text}".encode()).hexdigest()
    folder = f"{files.root}/{sha}" if is_sha(sha) else ""  # strings, not Paths: hot loop
    first: _Copy | BitloopsError | None = None  # the commit's folder, read once
    if folder:
        try:
            first = _read_folder(folder)
        except BitloopsError as exc:
            # Asked only now: most folders are there, and a stat each cost milliseconds.
            first = exc if os.path.isdir(folder) else None
    header: Any
    if isinstance(first, _Copy) and first.digest == actual and actual in allowed:
        header = first.meta  # the same hash: the same canonical header as the row's
    else:
        try:
            header = json.loads(header_text)
        except ValueError:
            report("content_mismatch", "the stored header is not valid JSON")
            return found
        if not isinstance(header, dict):
            report("content_mismatch", "the stored header is not a JSON object")
            return found
        if actual not in allowed:
            actual = content_hash(header, lines.lines)
    if actual != stored_hash:
        if actual in allowed:
            # A purge also counts what it replaced in the branch column (outside the hash).
            text = f"{header_text}\n{row[9] or ''}"
            forged = _purge_counts(text, lines.lines, steps[: allowed.index(actual)])
            if forged is not None:
                report("purge_forged", f"the content does not match its content hash, and {forged}")
            else:
                report("purged", f"changed by {len(allowed) - 1} audited purge(s)", "info")
        else:
            report("content_mismatch", "the stored content does not match its content hash")
    identity = (header.get("checkpoint_id"), header.get("commit_sha"), header.get("parent_hash"))
    if identity != (cid, sha, parent_hash) or count != lines.total:
        report("row_mismatch", "the checkpoint's columns disagree with its hashed content")
    if parent_id is not None and parent_id not in hashes:
        # Not made or adopted here (a teammate's, or one its author kept local): nothing
        # to compare; its hash is still sealed in this checkpoint's header.
        report(
            "parent_absent",
            f"parent checkpoint {parent_id} is not in this clone, so the chain is not checked",
            "info",
        )
    elif parent_id is not None and hashes[parent_id] != parent_hash:
        report("chain_broken", f"parent checkpoint {parent_id} does not have the recorded hash")
    if cid not in linked.get(sha, ()):
        report("link_missing", "the link to the commit it was created for is missing")
    if not folder:
        report("row_mismatch", f"its commit_sha {sha!r} is not a commit SHA")
        return found
    modified = sha in files.changed
    if first is None:
        files.witness(row, lines)
        if repo.settings.checkpoint_files != "none" and not _kept_local(repo, cid):
            if sha in files.committed:
                message = (
                    f"{folder} is not in the work tree, though git has it; restore it with "
                    f"`git checkout -- {CHECKPOINTS_DIR}/{sha}`"
                )
            else:
                message = (
                    f"{folder} is not on disk; `bitloops doctor --fix` rewrites it from the "
                    "database"
                )
            report("files_missing", message, "info")
        return found
    if modified:
        files.witness(row, lines)
    if isinstance(first, BitloopsError):
        report("files_unreadable", str(first))
        return found
    on_disk = first
    if on_disk.meta.get("checkpoint_id") != cid:
        # The folder of a commit holds the checkpoint created for it first; another
        # checkpoint linked to the same commit lives in <sha>/<its id>/. A folder naming
        # a checkpoint the database does not link to this commit is forged.
        other = on_disk.meta.get("checkpoint_id")
        if other not in linked.get(sha, ()):
            report(
                "files_mismatch",
                f"{folder} names checkpoint {other}, which the database does not link to this "
                "commit",
            )
            return found
        folder = str(folder_of(files.top, sha, cid))
        if not os.path.exists(f"{folder}/session.json"):
            return found  # written only under the session strategy, or not on disk here
        try:
            on_disk = _read_folder(folder)
        except BitloopsError as exc:
            report("files_unreadable", str(exc))
            return found
        if on_disk.meta.get("checkpoint_id") != cid:
            report(
                "files_mismatch", f"{folder} names checkpoint {on_disk.meta.get('checkpoint_id')}"
            )
            return found
    disk_hash = on_disk.digest
    if on_disk.meta.get("content_hash") != stored_hash or disk_hash not in allowed:
        report("files_mismatch", f"the files in {folder} do not match the database")
    elif disk_hash != allowed[-1]:
        later = steps[allowed.index(disk_hash) :]
        why = _purge_evidence(on_disk, str(header_text), lines.lines, later)
        if why is not None:
            report(
                "purge_forged",
                f"its purge record does not explain the change from {folder}: {why}",
            )
        else:
            report(
                "purge_not_applied",
                f"{folder} still holds content a purge removed; delete the folder and promote "
                "the commit again to rewrite it",
            )
    elif modified:
        if len(allowed) > 1:
            report(
                "purge_uncommitted",
                f"{folder} was rewritten by a purge; commit it so the branch drops the secret",
                "info",
            )
        else:
            report("files_changed", f"{folder} differs from the copy committed in git")
    return found


def _kept_local(repo: Checkpoints, cid: str) -> bool:
    """A private checkpoint has no folder by design (see bitloops/checkpoint/_private.py)."""
    from bitloops.checkpoint._private import private_ids

    return bool(private_ids(repo, [cid]))


def _strategy(header_text: str) -> str | None:
    try:
        value = json.loads(header_text).get("strategy")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _link_problems(
    repo: Checkpoints,
    rows: Sequence[_Owned],
    links: Sequence[LinkRecord],
    present: set[str] | None = None,
    *,
    gone: bool = True,
) -> list[Problem]:
    """Links that cannot be true, and checkpoints whose commits are all gone.

    A checkpoint's own link (``created``) names its commit. Any other link says a
    commit carries reasoning made for another one: a rewrite of it (amend, rebase,
    cherry-pick, ``bitloops link``), made after the checkpoint existed, or under the
    ``session`` strategy a commit made during the session. A link from a commit older
    than the checkpoint, or from an ancestor of the checkpoint's own commit, is neither.
    """
    by_id = {r.checkpoint_id: r for r in rows}
    if present is None:
        present = _commit_presence(repo, [*(r.sha for r in rows), *(k.commit_sha for k in links)])
    # Only a link to a commit other than the checkpoint's own needs the commit's time.
    objects = _commit_objects(
        repo,
        [
            k.commit_sha
            for k in links
            if k.commit_sha in present
            and k.checkpoint_id in by_id
            and by_id[k.checkpoint_id].sha != k.commit_sha
        ],
    )
    found: list[Problem] = []
    own_first: dict[str, str] = {}  # commit -> created_at of the first checkpoint made for it
    for r in rows:
        if r.sha not in own_first or r.created_at < own_first[r.sha]:
            own_first[r.sha] = r.created_at
    commits_of: dict[str, set[str]] = {}
    for link in links:
        commits_of.setdefault(link.checkpoint_id, set()).add(link.commit_sha)
        row = by_id.get(link.checkpoint_id)
        if row is None:
            continue
        cid, own_sha, created_at, strategy = (
            row.checkpoint_id,
            row.sha,
            row.created_at,
            row.strategy,
        )

        def report(message: str, link: LinkRecord = link, cid: str = cid) -> None:
            found.append(
                Problem(
                    kind="link_forged",
                    message=f"commit {link.commit_sha[:12]} is linked to checkpoint {cid} "
                    f"(reason {link.reason!r}), but {message}",
                    checkpoint_id=cid,
                    commit_sha=link.commit_sha,
                )
            )

        if link.commit_sha == own_sha:
            continue
        if link.reason == "created":
            report(f"that checkpoint was created for commit {own_sha[:12]}")
            continue
        commit = objects.get(link.commit_sha)
        if commit is None:
            continue  # not in this clone: nothing to check it against
        when = _committer_time(commit)
        created = parse_ts(created_at).timestamp()
        if link.reason == "session":
            if link.linked_at != created_at or not (
                link.commit_sha == own_sha or _is_ancestor(repo, link.commit_sha, own_sha)
            ):
                report("it is not a commit of the session's range, linked with the checkpoint")
                continue
            start = _session_start(row.header)
            if when is not None and start is not None and when + _CLOCK_SLACK_S < start:
                report("the commit is older than the session the checkpoint records")
            elif strategy != "session" and own_first.get(link.commit_sha, created_at) < created_at:
                report("that commit had a checkpoint of its own before this one was made")
            continue
        if own_first.get(link.commit_sha, created_at) < created_at:
            report("that commit had a checkpoint of its own before this one was made")
        elif when is not None and when + _CLOCK_SLACK_S < created:
            report("the commit is older than the checkpoint, so it is not a rewrite of its commit")
        elif _is_ancestor(repo, link.commit_sha, own_sha):
            report(f"it is an ancestor of {own_sha[:12]}, so it is not a rewrite of it")
    for r in rows if gone else ():
        cid, own_sha = r.checkpoint_id, r.sha
        shas = commits_of.get(cid, set()) | {own_sha}
        if not shas & present:
            found.append(
                Problem(
                    kind="commits_gone",
                    message=f"none of the commits checkpoint {cid} is linked to ("
                    f"{', '.join(sorted(s[:12] for s in shas))}) is in this clone any more "
                    "(history rewritten and garbage-collected?): its reasoning is kept, but "
                    "no commit leads to it; `repo.link(commit, checkpoint_id)` attaches it "
                    "to the commit that replaced it",
                    checkpoint_id=cid,
                    commit_sha=own_sha,
                    severity="info",
                )
            )
    return found


def verify_shared(
    shared: PostgresStore, local: dict[str, str], repo: Checkpoints | None = None
) -> list[Problem]:
    """Check the team's shared store: triggers, every checkpoint's hash, chain and links.

    ``local`` maps this clone's checkpoint ids to their content hashes: a checkpoint
    already sent (not waiting in the outbox) must be there with the same hash.
    """
    found: list[Problem] = []

    def report(kind: str, message: str, cid: str | None = None, sha: str | None = None) -> None:
        found.append(
            Problem(kind=kind, message=message, checkpoint_id=cid, commit_sha=sha, store="shared")
        )

    try:
        disabled = shared.trigger_problems()
        altered = shared.trigger_changes()
        rows = shared.headers()
        purges = shared.purge_records()
        links = shared.link_rows()
    except BitloopsError as exc:
        found.append(
            Problem(
                kind="shared_unreachable",
                message=f"the shared store was not checked: {exc}",
                severity="info",
                store="shared",
            )
        )
        return found
    if disabled:
        report("triggers_missing", f"immutability triggers missing or disabled: {disabled}")
    if altered:
        report(
            "triggers_altered",
            "the schema that keeps checkpoints immutable was changed (replaced: "
            f"{', '.join(altered)}); committed rows may have been edited past it",
        )
    hashes = {r[0]: r[5] for r in rows}
    for cid, sha, _created, parent_id, parent_hash, stored_hash, header_text, count in rows:
        data = shared.checkpoint_data(cid)
        if data is None:
            continue
        _row, lines, commits = data
        try:
            header = json.loads(header_text)
            actual = content_hash(header, lines)
        except ValueError:
            report("content_mismatch", "the stored header is not valid JSON", cid, sha)
            continue
        allowed = _purge_chain(purges.get(cid, []), stored_hash)
        if actual != stored_hash and actual not in allowed:
            report(
                "content_mismatch", "the stored content does not match its content hash", cid, sha
            )
        identity = (
            header.get("checkpoint_id"),
            header.get("commit_sha"),
            header.get("parent_hash"),
        )
        if identity != (cid, sha, parent_hash) or count != len(lines):
            report(
                "row_mismatch",
                "the checkpoint's columns disagree with its hashed content",
                cid,
                sha,
            )
        if parent_id is not None and parent_id in hashes and hashes[parent_id] != parent_hash:
            report(
                "chain_broken",
                f"parent checkpoint {parent_id} does not have the recorded hash",
                cid,
                sha,
            )
        if sha not in commits:
            report("link_missing", "the link to the commit it was created for is missing", cid, sha)
        if cid in local and local[cid] != stored_hash:
            report(
                "files_mismatch", "it differs from this clone's copy of the checkpoint", cid, sha
            )
    if repo is not None:
        # The insert-only role may add links (rewrites need them), so a made-up one is
        # told from a true one the same way as locally: by the commits in this clone.
        owned = [
            _Owned(cid, sha, created, _strategy(header_text), header_text)
            for cid, sha, created, _p, _ph, _h, header_text, _n in rows
        ]
        for problem in _link_problems(repo, owned, links, gone=False):
            found.append(attrs.evolve(problem, store="shared"))
        waiting = {row[0] for row in repo.store.outbox()}
        for cid in sorted(set(local) - set(hashes) - waiting):
            if repo.store.purge_rows(cid):
                continue
            report(
                "shared_missing",
                "sent earlier, but the shared store does not hold it; run `bitloops sync --all`",
                cid,
            )
    return found


def _link_files(toplevel: Path) -> list[Problem]:
    """A committed link file (a rewritten commit's pointer to its checkpoint) that does
    not verify claims reasoning for a commit that nothing proves: an error."""
    from bitloops.checkpoint._links import broken_links

    return [
        Problem(kind="link_broken", message=what, commit_sha=commit)
        for commit, what in broken_links(toplevel)
    ]


def _unknown_folders(top: Path, own: set[str], linked: dict[str, set[str]]) -> list[Problem]:
    # A folder whose commit has no checkpoint here: a teammate's, or one deleted from
    # the database around its triggers. Only the database can tell, so it is reported.
    # A folder holding only a link file is a rewritten commit's pointer (_link_files).
    from bitloops.checkpoint._links import LINK_FILE

    root = f"{top}/{CHECKPOINTS_DIR}"  # strings, not Paths: one per folder
    try:
        names = sorted(
            name
            for name in os.listdir(root)
            if not os.path.isfile(f"{root}/{name}/{LINK_FILE}")
            or os.path.isfile(f"{root}/{name}/session.json")
        )
    except OSError:
        names = []
    return [
        Problem(
            kind="not_in_database",
            message=f"{name} has a checkpoint folder but no checkpoint in this database "
            "(a teammate's, or deleted from it)",
            commit_sha=name,
            severity="info",
        )
        for name in names
        if name not in own and name not in linked
    ]


def _changed_checkpoint_files(repo: Checkpoints) -> set[str]:
    """SHAs whose committed checkpoint folder was modified in the work tree since, or
    whose files git was told not to look at (``--skip-worktree``, ``--assume-unchanged``:
    a way to hide an edit from ``git diff``), so that git's copy is compared."""
    out = repo.git.try_run("diff", "--name-only", "HEAD", "--", CHECKPOINTS_DIR) or ""
    changed = {p.split("/")[3] for p in out.splitlines() if p.count("/") >= 4}
    # `ls-files -v`: "S" marks skip-worktree, a lowercase tag assume-unchanged.
    flagged = repo.git.try_run("ls-files", "-v", "--", CHECKPOINTS_DIR) or ""
    for line in flagged.splitlines():
        tag, _, path = line.partition(" ")
        if (tag == "S" or tag.islower()) and path.count("/") >= 4:
            changed.add(path.split("/")[3])
    return changed


def purge(
    repo: Checkpoints, secret: str, *, reason: str, replacement: str = "[PURGED]"
) -> PurgeReport:
    """Replace ``secret`` in every committed checkpoint (and the draft), with an audit trail.

    Only free text is touched (payloads, artefacts, agent, model and branch names, summary
    texts), never ids, hashes or timestamps, so the checkpoint stays readable; the result
    is checked before it is committed. Afterwards the database is rebuilt (``VACUUM``) and
    its write-ahead log emptied, so the old text does not linger in free pages.
    """
    if not isinstance(secret, str) or len(secret) < 6:
        raise PurgeError("the secret to purge must be a string of at least 6 characters")
    if not isinstance(reason, str) or not reason.strip():
        raise PurgeError("say why in reason=, e.g. reason='AWS key pasted in a prompt'")
    if not isinstance(replacement, str) or secret in replacement:
        raise PurgeError("the replacement must be a string that does not contain the secret")
    needle = encode_basestring(secret)[1:-1]  # how the secret looks inside JSON text
    store = repo.store
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()
    now = format_ts(datetime.now(UTC))
    swap = _Swap(secret, replacement)
    purge_ids: list[str] = []
    touched: list[str] = []
    with store.break_glass() as glass:
        ids = glass.checkpoints_holding(needle, secret)
        with glass.unlocked():
            for cid in ids:
                before = swap.count
                old_hash, new_hash = _purge_checkpoint(glass, cid, needle, swap)
                pid = new_id()
                glass.add_purge(
                    purge_id=pid,
                    checkpoint_id=cid,
                    purged_at=now,
                    reason=reason,
                    secret_sha256=fingerprint,
                    replacement=replacement,
                    occurrences=swap.count - before,
                    old_hash=old_hash,
                    new_hash=new_hash,
                )
                purge_ids.append(pid)
                touched.append(cid)
        live_count = 0
        for row_id, line in glass.live_lines_holding(needle):
            glass.set_live_line(row_id, swap.event_line(line))
            live_count += 1
        glass.replace_in_sessions(secret, replacement)
    erased = store.compact()
    for cid in touched:
        _rewrite_folder(repo, repo._load_checkpoint(cid))
    return PurgeReport(
        purge_ids=tuple(purge_ids),
        checkpoint_ids=tuple(touched),
        occurrences=swap.count,
        live_events=live_count,
        erased=erased,
    )


# Header fields that are identities, hashes, times or enumerations: never free text.
_STRUCTURAL = frozenset(
    {
        "checkpoint_id", "commit_sha", "created_at", "parent_hash", "parent_checkpoint_id",
        "session_id", "started_at", "ended_at", "last_event_at", "base_commit", "status",
        "strategy", "change", "kind", "language", "event_counts",
    }
)  # fmt: skip


class _Swap:
    """Replaces a secret inside the free text of stored JSON, counting what it replaced."""

    def __init__(self, secret: str, replacement: str) -> None:
        self.secret = secret
        self.replacement = replacement
        self.count = 0

    def text(self, value: str) -> str:
        found = value.count(self.secret)
        if not found:
            return value
        self.count += found
        return value.replace(self.secret, self.replacement)

    def free(self, value: Any) -> Any:
        """Every string in ``value``, dict keys included (a payload is all free text)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.free(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.free(v) for k, v in value.items()}
        return value

    def header(self, value: Any, key: str | None = None) -> Any:
        """Strings of a checkpoint header, skipping its structural fields."""
        if key in _STRUCTURAL:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.header(v, key) for v in value]
        if isinstance(value, dict):
            return {k: self.header(v, k) for k, v in value.items()}
        return value

    def event_line(self, line: str) -> str:
        data = json.loads(line)
        for key in ("payload", "artefacts"):
            data[key] = self.free(data[key])
        for key in ("agent", "model"):
            if isinstance(data[key], str):
                data[key] = self.text(data[key])
        return canonical_dumps(data)


def _purge_checkpoint(glass: BreakGlass, cid: str, needle: str, swap: _Swap) -> tuple[str, str]:
    """Scrub one checkpoint in place; ``(hash before, hash after)``."""
    header_text, stored_hash, branch = glass.checkpoint(cid)
    old_hash = _purge_chain(glass.purge_hashes(cid), stored_hash)[-1]
    header = swap.header(json.loads(header_text))
    lines: list[str] = []
    for row_id, line in glass.event_lines(cid):
        if needle in line:
            line = swap.event_line(line)
            glass.set_event_line(row_id, line)
        lines.append(line)
    try:  # never commit a checkpoint that no longer reads back
        structure({**header, "commits": [], "content_hash": stored_hash}, Checkpoint)
        for line in lines:
            event_from_line(line)
    except Exception as exc:  # cattrs raises a family of errors; all mean "unreadable"
        raise PurgeError(
            f"purging would leave checkpoint {cid} unreadable ({exc}); nothing was changed"
        ) from exc
    glass.set_header(cid, canonical_dumps(header), None if branch is None else swap.text(branch))
    return old_hash, content_hash(header, lines)


def _rewrite_folder(repo: Checkpoints, checkpoint: Checkpoint) -> None:
    """Rewrite a purged checkpoint's folder where it is: the work tree, or the ref."""
    from bitloops.checkpoint._private import is_private, read_marks

    if is_private(checkpoint, read_marks(repo)):
        # Kept in this clone: it has no folder to rewrite, and writing one would share it
        # (the ref's <sha>/ may be another checkpoint's of the same commit).
        return
    data = repo.store.checkpoint_data(checkpoint.checkpoint_id)
    lines = data[1] if data is not None else []
    sha = checkpoint.commit_sha
    folder = folder_of(repo.toplevel, sha, checkpoint.checkpoint_id)
    if (folder / "session.json").exists():
        write_checkpoint_dir(repo.toplevel, checkpoint, lines)
    if repo.settings.checkpoint_files == "ref":
        from bitloops.checkpoint._in_ref import put_checkpoint
        from bitloops.git._ref import list_ref

        if sha in list_ref(repo.toplevel):
            put_checkpoint(repo.toplevel, checkpoint, lines)
