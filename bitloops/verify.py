"""Integrity: verify checkpoints against their hashes, chain and files; break-glass purge."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import attrs

from .checkpoint_files import (
    CHECKPOINTS_DIR,
    checkpoint_dir,
    dir_content_hash,
    read_checkpoint_dir,
    write_checkpoint_dir,
)
from .codec import content_hash, format_ts, new_id
from .errors import BitloopsError, PurgeError
from .model import Checkpoint

if TYPE_CHECKING:
    from .repository import Repository

__all__ = ["Problem", "PurgeReport", "VerifyReport", "purge", "verify"]

_TRIGGERS = frozenset(
    f"{table}_immutable_{op}"
    for table in ("checkpoints", "checkpoint_events", "commit_links", "purges")
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


def _purge_chain(rows: list[tuple[str, str]], start: str) -> list[str]:
    """Hashes a checkpoint legitimately had: the original, then each purge's result."""
    chain, current = [start], start
    for old, new in rows:
        if old == current:
            chain.append(new)
            current = new
    return chain


def verify(repo: Repository) -> VerifyReport:
    """Cross-check the database, the hash chain and the checkpoint folders on disk."""
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
    links = {
        (r[0], r[1]) for r in store.execute("SELECT commit_sha, checkpoint_id FROM commit_links")
    }
    changed = _changed_checkpoint_files(repo)
    for row in rows:
        problems.extend(_verify_one(repo, row, hashes, purges, links, changed))
    return VerifyReport(checked=len(rows), problems=tuple(problems))


def _verify_one(
    repo: Repository,
    row: tuple[Any, ...],
    hashes: dict[str, str],
    purges: dict[str, list[tuple[str, str]]],
    links: set[tuple[str, str]],
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
    if (sha, cid) not in links:
        report("link_missing", "the link to the commit it was created for is missing")
    folder = checkpoint_dir(repo.toplevel, sha)
    if not (folder / "session.json").exists():
        if repo.settings.checkpoint_files != "none" and not folder.exists():
            report(
                "files_missing",
                f"{folder} is not on disk; promote the commit again to rewrite it",
                "info",
            )
        return found
    try:
        on_disk = read_checkpoint_dir(folder)
        if on_disk.checkpoint_id != cid:
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
        elif sha in changed:
            if len(allowed) > 1 and disk_hash == allowed[-1]:
                report(
                    "purge_uncommitted",
                    f"{folder} was rewritten by a purge; commit it so the branch drops the secret",
                    "info",
                )
            else:
                report("files_changed", f"{folder} differs from the copy committed in git")
    except BitloopsError as exc:
        report("files_unreadable", str(exc))
    return found


def _changed_checkpoint_files(repo: Repository) -> set[str]:
    """SHAs whose committed checkpoint folder was modified in the work tree since."""
    out = repo.git.try_run("diff", "--name-only", "HEAD", "--", CHECKPOINTS_DIR) or ""
    return {p.split("/")[3] for p in out.splitlines() if p.count("/") >= 4}


def purge(
    repo: Repository, secret: str, *, reason: str, replacement: str = "[PURGED]"
) -> PurgeReport:
    """Replace ``secret`` in every committed checkpoint (and the draft), with an audit trail."""
    if not isinstance(secret, str) or len(secret) < 6:
        raise PurgeError("the secret to purge must be a string of at least 6 characters")
    if not isinstance(reason, str) or not reason.strip():
        raise PurgeError("say why in reason=, e.g. reason='AWS key pasted in a prompt'")
    if not isinstance(replacement, str) or secret in replacement:
        raise PurgeError("the replacement must be a string that does not contain the secret")
    needle = encode_basestring(secret)[1:-1]
    swap = encode_basestring(replacement)[1:-1]
    store = repo.store
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()
    now = format_ts(datetime.now(UTC))
    purge_ids: list[str] = []
    touched: list[str] = []
    total = 0
    token = new_id()
    with store.transaction() as conn:
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE instr(header, ?1) "
                "UNION SELECT DISTINCT checkpoint_id FROM checkpoint_events WHERE instr(line, ?1)",
                (needle,),
            )
        ]
        conn.execute("INSERT INTO break_glass (token) VALUES (?)", (token,))
        for cid in ids:
            count, old_hash, new_hash = _purge_checkpoint(conn, cid, needle, swap)
            pid = new_id()
            conn.execute(
                "INSERT INTO purges (purge_id, checkpoint_id, purged_at, reason, secret_sha256, "
                "replacement, occurrences, old_hash, new_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, cid, now, reason, fingerprint, replacement, count, old_hash, new_hash),
            )
            purge_ids.append(pid)
            touched.append(cid)
            total += count
        conn.execute("DELETE FROM break_glass WHERE token = ?", (token,))
        conn.execute(
            "UPDATE live_events SET line = replace(line, ?1, ?2) WHERE instr(line, ?1)",
            (needle, swap),
        )
        live_count = conn.changes()
        store.bump_generation(conn)
    for cid in touched:
        checkpoint = repo._load_checkpoint(cid)
        folder = checkpoint_dir(repo.toplevel, checkpoint.commit_sha)
        if (folder / "session.json").exists():
            _rewrite_folder(repo, checkpoint)
    return PurgeReport(
        purge_ids=tuple(purge_ids),
        checkpoint_ids=tuple(touched),
        occurrences=total,
        live_events=live_count,
    )


def _purge_checkpoint(conn: Any, cid: str, needle: str, swap: str) -> tuple[int, str, str]:
    """Replace ``needle`` in one checkpoint; ``(occurrences, hash before, hash after)``."""
    header_text, stored_hash = (
        str(v)
        for v in conn.execute(
            "SELECT header, content_hash FROM checkpoints WHERE checkpoint_id = ?", (cid,)
        ).fetchall()[0]
    )
    previous = conn.execute(
        "SELECT old_hash, new_hash FROM purges WHERE checkpoint_id = ? ORDER BY purged_at, rowid",
        (cid,),
    ).fetchall()
    old_hash = _purge_chain([(str(o), str(n)) for o, n in previous], stored_hash)[-1]
    count = header_text.count(needle)
    header_text = header_text.replace(needle, swap)
    conn.execute("UPDATE checkpoints SET header = ? WHERE checkpoint_id = ?", (header_text, cid))
    lines: list[str] = []
    for row_id, line in conn.execute(
        "SELECT id, line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
        (cid,),
    ).fetchall():
        if needle in line:
            count += line.count(needle)
            line = line.replace(needle, swap)
            conn.execute("UPDATE checkpoint_events SET line = ? WHERE id = ?", (line, row_id))
        lines.append(line)
    return count, old_hash, content_hash(json.loads(header_text), lines)


def _rewrite_folder(repo: Repository, checkpoint: Checkpoint) -> None:
    lines = [
        r[0]
        for r in repo.store.execute(
            "SELECT line FROM checkpoint_events WHERE checkpoint_id = ? ORDER BY id",
            (checkpoint.checkpoint_id,),
        )
    ]
    write_checkpoint_dir(repo.toplevel, checkpoint, lines)
