"""Integrity: verify checkpoints against their hashes, chain and files; break-glass purge."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .checkpoint_files import (
    CHECKPOINTS_DIR,
    checkpoint_dir,
    dir_content_hash,
    folder_of,
    read_checkpoint_dir,
    write_checkpoint_dir,
)
from .codec import canonical_dumps, content_hash, event_from_line, format_ts, new_id, structure
from .errors import BitloopsError, PurgeError
from .model import Checkpoint

if TYPE_CHECKING:
    from .repository import Repository
    from .store.postgres import PostgresStore

__all__ = ["Problem", "PurgeReport", "VerifyReport", "purge", "verify", "verify_shared"]

_TRIGGERS = frozenset(
    f"{table}_immutable_{op}"
    for table in ("checkpoints", "checkpoint_events", "commit_links", "purges", "annotations")
    for op in ("update", "delete")
)


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


def _purge_chain(rows: list[tuple[str, str]], start: str) -> list[str]:
    """Hashes a checkpoint legitimately had: the original, then each purge's result."""
    chain, current = [start], start
    for old, new in rows:
        if old == current:
            chain.append(new)
            current = new
    return chain


def verify(repo: Repository, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Cross-check the database, the hash chain and the checkpoint folders on disk.

    ``progress``, if given, is called with (checkpoints done, total) as it goes.
    """
    store = repo.store
    problems: list[Problem] = []
    triggers = {
        r[0] for r in store.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
    }
    missing = sorted(_TRIGGERS - triggers)
    if missing:
        problems.append(
            Problem(
                kind="triggers_missing",
                message=f"immutability triggers removed: {', '.join(missing)}",
            )
        )
    if store.execute("SELECT 1 FROM break_glass LIMIT 1"):
        problems.append(
            Problem(
                kind="break_glass_open", message="the break_glass table holds a row outside a purge"
            )
        )
    rows = store.execute(
        "SELECT checkpoint_id, commit_sha, content_hash, parent_checkpoint_id, parent_hash, "
        "event_count, header FROM checkpoints ORDER BY created_at, checkpoint_id"
    )
    hashes = {r[0]: r[2] for r in rows}
    purges: dict[str, list[tuple[str, str]]] = {}
    for cid, old, new in store.execute(
        "SELECT checkpoint_id, old_hash, new_hash FROM purges ORDER BY purged_at, rowid"
    ):
        purges.setdefault(cid, []).append((old, new))
    linked: dict[str, set[str]] = {}
    for sha, cid in store.execute("SELECT commit_sha, checkpoint_id FROM commit_links"):
        linked.setdefault(sha, set()).add(cid)
    with contextlib.ExitStack() as stack:
        if repo.settings.checkpoint_files == "ref":
            # The folders are committed under the checkpoint ref, not in the work tree:
            # check the ref's copy (git content-addresses it) exactly the same way.
            from .checkpoint_ref import export_ref

            top = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bitloops-")))
            export_ref(repo.toplevel, top / CHECKPOINTS_DIR)
            changed: set[str] = set()
        else:
            top = repo.toplevel
            changed = _changed_checkpoint_files(repo)
        for done, row in enumerate(rows, 1):
            problems.extend(_verify_one(repo, top, row, hashes, purges, linked, changed))
            if progress is not None:
                progress(done, len(rows))
        problems.extend(_unknown_folders(top, {r[1] for r in rows}, linked))
    from .annotations import verify_rows

    for annotation_id, problem in verify_rows(store):
        problems.append(
            Problem(kind="annotation_mismatch", message=f"annotation {annotation_id}: {problem}")
        )
    if repo.shared_store is not None:
        problems.extend(verify_shared(repo.shared_store, {r[0]: r[2] for r in rows}, repo))
    return VerifyReport(checked=len(rows), problems=tuple(problems))


def verify_shared(
    shared: PostgresStore, local: dict[str, str], repo: Repository | None = None
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
        rows = shared.headers()
        purges = shared.purge_records()
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
        waiting = {row[0] for row in repo.store.outbox()}
        for cid in sorted(set(local) - set(hashes) - waiting):
            if repo.store.execute("SELECT 1 FROM purges WHERE checkpoint_id = ?", (cid,)):
                continue
            report(
                "shared_missing",
                "sent earlier, but the shared store does not hold it; run `bitloops sync --all`",
                cid,
            )
    return found


def _unknown_folders(top: Path, own: set[str], linked: dict[str, set[str]]) -> list[Problem]:
    # A folder whose commit has no checkpoint here: a teammate's, or one deleted from
    # the database around its triggers. Only the database can tell, so it is reported.
    root = top / CHECKPOINTS_DIR
    return [
        Problem(
            kind="not_in_database",
            message=f"{folder.name} has a checkpoint folder but no checkpoint in this database "
            "(a teammate's, or deleted from it)",
            commit_sha=folder.name,
            severity="info",
        )
        for folder in (sorted(root.iterdir()) if root.is_dir() else [])
        if folder.name not in own and folder.name not in linked
    ]


def _verify_one(
    repo: Repository,
    top: Path,
    row: tuple[Any, ...],
    hashes: dict[str, str],
    purges: dict[str, list[tuple[str, str]]],
    linked: dict[str, set[str]],
    changed: set[str],
) -> list[Problem]:
    cid, sha, stored_hash, parent_id, parent_hash, count, header_text = row
    found: list[Problem] = []

    def report(kind: str, message: str, severity: str = "error") -> None:
        found.append(
            Problem(
                kind=kind, message=message, checkpoint_id=cid, commit_sha=sha, severity=severity
            )
        )

    lines = [
        str(r[0])
        for r in repo.store.execute(
            "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id", (cid,)
        )
    ]
    try:
        header = json.loads(header_text)
        actual = content_hash(header, lines)
    except ValueError:
        report("content_mismatch", "the stored header is not valid JSON")
        return found
    allowed = _purge_chain(purges.get(cid, []), stored_hash)
    if actual != stored_hash:
        if actual in allowed:
            report("purged", f"changed by {len(allowed) - 1} audited purge(s)", "info")
        else:
            report("content_mismatch", "the stored content does not match its content hash")
    identity = (header.get("checkpoint_id"), header.get("commit_sha"), header.get("parent_hash"))
    if identity != (cid, sha, parent_hash) or count != len(lines):
        report("row_mismatch", "the checkpoint's columns disagree with its hashed content")
    if parent_id is not None and hashes.get(parent_id) != parent_hash:
        report("chain_broken", f"parent checkpoint {parent_id} does not have the recorded hash")
    if cid not in linked.get(sha, ()):
        report("link_missing", "the link to the commit it was created for is missing")
    try:
        folder = checkpoint_dir(top, sha)
    except BitloopsError:
        report("row_mismatch", f"its commit_sha {sha!r} is not a commit SHA")
        return found
    modified = sha in changed
    if not folder.exists():
        if repo.settings.checkpoint_files != "none":
            report(
                "files_missing",
                f"{folder} is not on disk; promote the commit again to rewrite it",
                "info",
            )
        return found
    try:
        on_disk = read_checkpoint_dir(folder)
    except BitloopsError as exc:
        report("files_unreadable", str(exc))
        return found
    if on_disk.checkpoint_id != cid:
        # The folder of a commit holds the checkpoint created for it first; another
        # checkpoint linked to the same commit lives in <sha>/<its id>/. A folder naming
        # a checkpoint the database does not link to this commit is forged.
        if on_disk.checkpoint_id not in linked.get(sha, ()):
            report(
                "files_mismatch",
                f"{folder} names checkpoint {on_disk.checkpoint_id}, which the database does "
                "not link to this commit",
            )
            return found
        folder = folder_of(top, sha, cid)
        if not (folder / "session.json").exists():
            return found  # written only under the session strategy, or not on disk here
        try:
            on_disk = read_checkpoint_dir(folder)
        except BitloopsError as exc:
            report("files_unreadable", str(exc))
            return found
        if on_disk.checkpoint_id != cid:
            report("files_mismatch", f"{folder} names checkpoint {on_disk.checkpoint_id}")
            return found
    disk_hash = dir_content_hash(folder)
    if on_disk.content_hash != stored_hash or disk_hash not in allowed:
        report("files_mismatch", f"the files in {folder} do not match the database")
    elif disk_hash != allowed[-1]:
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


def _changed_checkpoint_files(repo: Repository) -> set[str]:
    """SHAs whose committed checkpoint folder was modified in the work tree since."""
    out = repo.git.try_run("diff", "--name-only", "HEAD", "--", CHECKPOINTS_DIR) or ""
    return {p.split("/")[3] for p in out.splitlines() if p.count("/") >= 4}


def purge(
    repo: Repository, secret: str, *, reason: str, replacement: str = "[PURGED]"
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
    token = new_id()
    with store.secure_delete(), store.transaction() as conn:
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT checkpoint_id FROM checkpoints "
                "WHERE instr(header, ?1) OR instr(branch, ?2) "
                "UNION SELECT DISTINCT checkpoint_id FROM checkpoint_events WHERE instr(line, ?1)",
                (needle, secret),
            )
        ]
        conn.execute("INSERT INTO break_glass (token) VALUES (?)", (token,))
        for cid in ids:
            before = swap.count
            old_hash, new_hash = _purge_checkpoint(conn, cid, needle, swap)
            pid = new_id()
            conn.execute(
                "INSERT INTO purges (purge_id, checkpoint_id, purged_at, reason, secret_sha256, "
                "replacement, occurrences, old_hash, new_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, cid, now, reason, fingerprint, replacement, swap.count - before, old_hash,
                 new_hash),
            )  # fmt: skip
            purge_ids.append(pid)
            touched.append(cid)
        conn.execute("DELETE FROM break_glass WHERE token = ?", (token,))
        live_count = 0
        for row_id, line in conn.execute(
            "SELECT id, line FROM live_events WHERE instr(line, ?)", (needle,)
        ).fetchall():
            conn.execute(
                "UPDATE live_events SET line = ? WHERE id = ?", (swap.event_line(str(line)), row_id)
            )
            live_count += 1
        for column in ("agent", "model", "branch"):
            conn.execute(
                f"UPDATE sessions SET {column} = replace({column}, ?1, ?2) "
                f"WHERE instr({column}, ?1)",
                (secret, replacement),
            )
        store.bump_generation(conn)
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


def _purge_checkpoint(conn: Any, cid: str, needle: str, swap: _Swap) -> tuple[str, str]:
    """Scrub one checkpoint in place; ``(hash before, hash after)``."""
    header_text, stored_hash, branch = conn.execute(
        "SELECT header, content_hash, branch FROM checkpoints WHERE checkpoint_id = ?", (cid,)
    ).fetchall()[0]
    previous = conn.execute(
        "SELECT old_hash, new_hash FROM purges WHERE checkpoint_id = ? ORDER BY purged_at, rowid",
        (cid,),
    ).fetchall()
    old_hash = _purge_chain([(str(o), str(n)) for o, n in previous], str(stored_hash))[-1]
    header = swap.header(json.loads(header_text))
    lines: list[str] = []
    for row_id, line in conn.execute(
        "SELECT id, line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id", (cid,)
    ).fetchall():
        if needle in line:
            line = swap.event_line(line)
            conn.execute("UPDATE checkpoint_events SET line = ? WHERE id = ?", (line, row_id))
        lines.append(line)
    try:  # never commit a checkpoint that no longer reads back
        structure({**header, "commits": [], "content_hash": stored_hash}, Checkpoint)
        for line in lines:
            event_from_line(line)
    except Exception as exc:  # cattrs raises a family of errors; all mean "unreadable"
        raise PurgeError(
            f"purging would leave checkpoint {cid} unreadable ({exc}); nothing was changed"
        ) from exc
    conn.execute(
        "UPDATE checkpoints SET header = ?, branch = ? WHERE checkpoint_id = ?",
        (canonical_dumps(header), None if branch is None else swap.text(str(branch)), cid),
    )
    return old_hash, content_hash(header, lines)


def _rewrite_folder(repo: Repository, checkpoint: Checkpoint) -> None:
    """Rewrite a purged checkpoint's folder where it is: the work tree, or the ref."""
    lines = [
        r[0]
        for r in repo.store.execute(
            "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
            (checkpoint.checkpoint_id,),
        )
    ]
    sha = checkpoint.commit_sha
    folder = folder_of(repo.toplevel, sha, checkpoint.checkpoint_id)
    if (folder / "session.json").exists():
        write_checkpoint_dir(repo.toplevel, checkpoint, lines)
    if repo.settings.checkpoint_files == "ref":
        from .checkpoint_ref import list_ref, put_checkpoint

        if sha in list_ref(repo.toplevel):
            put_checkpoint(repo.toplevel, checkpoint, lines)
