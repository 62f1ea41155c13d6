"""The index of committed checkpoints by path and symbol (schema version 5): derived data.

Five tables, all rebuilt from the checkpoints they describe, so none is protected by
immutability triggers (see ``docs/storage.md``):

- ``indexed_checkpoints``: one row per checkpoint known to this clone, whoever made it
  (``origin``: ``local``, ``folder``, ``ref`` or ``shared``), with what a reader shows
  first: agents, models, prompts, the content hash;
- ``indexed_commits``: the commits each one is linked to;
- ``checkpoint_paths``: ``(path, symbol)`` per file and symbol each checkpoint touched
  (``symbol`` is ``''`` for the file itself), with the change and the old path of a rename;
- ``path_records``: the why-records (``decision``, ``alternative``, ``constraint``,
  ``plan-item``) that apply to each path: those whose ``applies_to`` names it
  (``explicit`` 1), else every record of a checkpoint that touched the file (0);
- ``indexed_sources``: which committed folders, ref entries and git history were read.

Only the standard library and apsw are used here (and only ``json`` at import time), so
a light process such as an agent hook can run :data:`WHY_FOR_PATH_SQL` directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import apsw

__all__ = [
    "INDEX_SQL",
    "PATHS_FOR_SQL",
    "WHY_FOR_PATH_SQL",
    "IndexRows",
    "delete_checkpoint",
    "index_rows",
    "insert_rows",
    "random_part",
]

INDEX_SQL = """
-- The index by path and symbol (schema version 5): derived data, rebuilt at will, so
-- no immutability trigger protects these tables.
CREATE TABLE IF NOT EXISTS indexed_checkpoints (
    checkpoint_id TEXT PRIMARY KEY,
    commit_sha    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    -- local | folder | ref | shared: where this clone read it
    origin        TEXT NOT NULL,
    -- the folder (relative to the work tree), ref path or store it was read from
    location      TEXT,
    content_hash  TEXT NOT NULL,
    branch        TEXT,
    agents        TEXT NOT NULL,  -- JSON array of agent names
    models        TEXT NOT NULL,  -- JSON array of [agent, model]
    prompts       TEXT NOT NULL,  -- JSON array: what was asked, clipped
    -- the hex digits after the 12 of the timestamp and the version digit: cp:<prefix>
    random_part   TEXT NOT NULL,
    private       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX IF NOT EXISTS indexed_checkpoints_random ON indexed_checkpoints (random_part);

CREATE TABLE IF NOT EXISTS indexed_commits (
    commit_sha    TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    PRIMARY KEY (commit_sha, checkpoint_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS indexed_commits_checkpoint ON indexed_commits (checkpoint_id);

CREATE TABLE IF NOT EXISTS checkpoint_paths (
    path          TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    commit_sha    TEXT NOT NULL,
    change        TEXT,
    old_path      TEXT,
    kind          TEXT,
    PRIMARY KEY (path, symbol, created_at, checkpoint_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS checkpoint_paths_checkpoint ON checkpoint_paths (checkpoint_id);

CREATE TABLE IF NOT EXISTS path_records (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    category      TEXT NOT NULL,
    text          TEXT NOT NULL,
    detail        TEXT,
    source        TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    confidence    REAL NOT NULL,
    explicit      INTEGER NOT NULL,
    session_id    TEXT,
    checkpoint_id TEXT NOT NULL,
    commit_sha    TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS path_records_path ON path_records (path, created_at DESC);
CREATE INDEX IF NOT EXISTS path_records_checkpoint ON path_records (checkpoint_id);

-- Renames git made in commits, found by scanning history once per new tip.
CREATE TABLE IF NOT EXISTS git_renames (
    new_path   TEXT NOT NULL,
    old_path   TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    PRIMARY KEY (new_path, old_path, commit_sha)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS indexed_sources (
    origin TEXT NOT NULL,
    key    TEXT NOT NULL,
    PRIMARY KEY (origin, key)
) STRICT, WITHOUT ROWID;

-- A break-glass purge rewrites a checkpoint's header: forget what was indexed of it
-- (the old text may hold the secret); the next read indexes it again.
DROP TRIGGER IF EXISTS checkpoints_reindex;
CREATE TRIGGER checkpoints_reindex AFTER UPDATE ON checkpoints
BEGIN
    DELETE FROM path_records WHERE checkpoint_id = old.checkpoint_id;
    DELETE FROM checkpoint_paths WHERE checkpoint_id = old.checkpoint_id;
    DELETE FROM indexed_commits WHERE checkpoint_id = old.checkpoint_id;
    DELETE FROM indexed_checkpoints WHERE checkpoint_id = old.checkpoint_id;
    DELETE FROM meta WHERE key = 'context_local_upto';
END;
"""

#: The why-records recorded for one file (``?1``), optionally one symbol of it
#: (``?2``, or NULL), newest first, at most ``?3``: one indexed query. Retracted
#: records and private checkpoints are left out. Columns: category, text, detail,
#: source, record_id, confidence, explicit, symbol, checkpoint_id, commit_sha,
#: created_at, origin, content_hash. A record naming both the file and one of its
#: symbols comes once per name: keep the first row of each record_id.
WHY_FOR_PATH_SQL = """
SELECT r.category, r.text, r.detail, r.source, r.record_id, r.confidence, r.explicit,
       r.symbol, r.checkpoint_id, r.commit_sha, r.created_at, c.origin, c.content_hash
FROM path_records r JOIN indexed_checkpoints c USING (checkpoint_id)
WHERE r.path = ?1 AND (?2 IS NULL OR r.symbol IN ('', ?2)) AND c.private = 0
  AND NOT EXISTS (SELECT 1 FROM annotations a
                  WHERE a.kind = 'retraction' AND a.record_id = r.record_id)
ORDER BY r.created_at DESC, r.checkpoint_id DESC, r.explicit DESC, r.id
LIMIT ?3
"""

#: The checkpoints that touched one of the paths in the JSON array ``?1`` (symbol
#: ``?2``, or ``''`` for the file) or that hold a why-record about them, newest first;
#: private checkpoints only when ``?3`` is 1 (this clone's own reads).
PATHS_FOR_SQL = """
WITH wanted(path) AS (SELECT value FROM json_each(?1)),
hits(checkpoint_id, path, change, old_path) AS (
    SELECT p.checkpoint_id, p.path, p.change, p.old_path FROM checkpoint_paths p
    JOIN wanted w ON p.path = w.path WHERE p.symbol = ?2
    UNION
    SELECT r.checkpoint_id, r.path, NULL, NULL FROM path_records r
    JOIN wanted w ON r.path = w.path WHERE r.explicit = 1 AND (?2 = '' OR r.symbol = ?2)
)
SELECT c.checkpoint_id, c.commit_sha, c.created_at, c.origin, c.location, c.content_hash,
       c.branch, c.agents, c.models, c.prompts, h.path, max(h.change), max(h.old_path)
FROM hits h JOIN indexed_checkpoints c USING (checkpoint_id)
WHERE (c.private = 0 OR ?3 = 1)
GROUP BY c.checkpoint_id
ORDER BY c.created_at DESC, c.checkpoint_id DESC
"""

_PROMPT_CHARS = 500
_PROMPTS = 5


def random_part(checkpoint_id: str) -> str:
    """The random part of a UUIDv7 checkpoint id, which ``cp:`` prefixes match.

    The id's 32 hex digits without dashes, less the first 12 (the millisecond
    timestamp, shared by ids made close together) and the 13th (the version, always
    ``7``): 19 digits. ``0190a1b2-c3d4-7e5f-8a6b-1c2d3e4f5a6b`` -> ``e5f8a6b1c2d3e4f5a6b``.
    """
    digits = checkpoint_id.replace("-", "").lower()
    return digits[13:]


class IndexRows:
    """What the index holds of one checkpoint, as rows ready to insert."""

    __slots__ = ("checkpoint", "commits", "paths", "records")

    def __init__(
        self,
        checkpoint: tuple[Any, ...],
        commits: list[tuple[str, str]],
        paths: list[tuple[Any, ...]],
        records: list[tuple[Any, ...]],
    ) -> None:
        self.checkpoint = checkpoint
        self.commits = commits
        self.paths = paths
        self.records = records

    @property
    def checkpoint_id(self) -> str:
        """The checkpoint these rows describe."""
        return str(self.checkpoint[0])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split_target(target: str) -> tuple[str, str]:
    """``path::symbol`` -> (path, symbol); a plain path -> (path, '')."""
    path, sep, symbol = target.partition("::")
    return (path, symbol) if sep else (target, "")


def _records(summary: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any], str, str]]:
    """Every why-record of a summary: (category, record, text, detail)."""
    for key, category, why in (
        ("decisions", "decision", "rationale"),
        ("alternatives", "alternative", "reason"),
        ("constraints", "constraint", "stated_by"),
    ):
        for record in summary.get(key) or ():
            if isinstance(record, Mapping) and _str(record.get("text")):
                yield category, record, str(record["text"]), _str(record.get(why)) or ""
    for plan in summary.get("plans") or ():
        if not isinstance(plan, Mapping):
            continue
        for number, item in enumerate(plan.get("items") or (), 1):
            if isinstance(item, Mapping) and _str(item.get("text")):
                # Items have no record id of their own: the plan's, numbered.
                base = _str(plan.get("record_id")) or ""
                item_record = {**plan, "record_id": f"{base}#{number}" if base else ""}
                status = _str(item.get("status")) or "pending"
                yield "plan-item", item_record, str(item["text"]), status


def index_rows(
    header: Mapping[str, Any],
    *,
    checkpoint_id: str,
    commit_sha: str,
    created_at: str,
    content_hash: str,
    commits: Sequence[str] = (),
    origin: str = "local",
    location: str | None = None,
    redact: Any = None,
) -> IndexRows:
    """The index rows of one checkpoint, from its header (``session.json`` without the
    extra keys, or the ``header`` column). ``redact`` (a ``str -> str``) is applied to
    every text taken from a checkpoint this clone did not make.
    """
    clean = redact if redact is not None else (lambda text: text)
    summary = header.get("summary") if isinstance(header.get("summary"), Mapping) else {}
    assert isinstance(summary, Mapping)
    sessions = [s for s in header.get("sessions") or () if isinstance(s, Mapping)]
    private_sessions = {str(s.get("session_id")) for s in sessions if s.get("private") is True}
    private = header.get("private") is True or bool(private_sessions)
    agents = list(summary.get("agents") or ()) or sorted(
        {str(s.get("agent")) for s in sessions if _str(s.get("agent"))}
    )
    models = [
        [m.get("agent"), m.get("model")]
        for m in header.get("models") or ()
        if isinstance(m, Mapping) and _str(m.get("agent"))
    ]
    prompts = [
        clean(_clip(p, _PROMPT_CHARS))
        for p in list(summary.get("intent") or ())[:_PROMPTS]
        if _str(p)
    ]
    checkpoint = (
        checkpoint_id,
        commit_sha,
        created_at,
        origin,
        location,
        content_hash,
        _str(header.get("branch")),
        json.dumps(agents, ensure_ascii=False),
        json.dumps(models, ensure_ascii=False),
        json.dumps(prompts, ensure_ascii=False),
        random_part(checkpoint_id),
        int(private),
    )
    linked = list(dict.fromkeys([commit_sha, *commits]))
    commit_rows = [(sha, checkpoint_id) for sha in linked]

    paths: dict[tuple[str, str], tuple[Any, ...]] = {}
    touched: list[str] = []
    for f in header.get("files") or ():
        if not isinstance(f, Mapping) or not _str(f.get("path")):
            continue
        path = str(f["path"])
        touched.append(path)
        paths[(path, "")] = (
            path, "", created_at, checkpoint_id, commit_sha,
            _str(f.get("change")), _str(f.get("old_path")), None,
        )  # fmt: skip
    for path in summary.get("files") or ():  # older checkpoints may have only these
        if _str(path) and (path, "") not in paths:
            touched.append(path)
            paths[(path, "")] = (path, "", created_at, checkpoint_id, commit_sha, None, None, None)
    for sym in header.get("symbols") or ():
        if isinstance(sym, Mapping) and _str(sym.get("path")) and _str(sym.get("name")):
            key = (str(sym["path"]), str(sym["name"]))
            paths[key] = (
                *key,
                created_at,
                checkpoint_id,
                commit_sha,
                None,
                None,
                _str(sym.get("kind")),
            )

    records: list[tuple[Any, ...]] = []
    seen: set[tuple[str, str, str, str]] = set()
    # What a record without targets of its own applies to: every file the checkpoint
    # touched (thousands of records, a handful of files: built once).
    untargeted = [(path, "") for path in dict.fromkeys(touched)]
    for category, record, text, detail in _records(summary):
        evidence = record.get("evidence")
        session_id = _str(evidence.get("session_id")) if isinstance(evidence, Mapping) else None
        if session_id is None:
            session_id = _str(record.get("session_id"))
        if session_id in private_sessions:
            continue
        targets = [_split_target(t) for t in record.get("applies_to") or () if _str(t)]
        explicit = bool(targets)
        if not explicit:
            targets = untargeted
        record_id = _str(record.get("record_id")) or ""
        confidence = record.get("confidence")
        row: tuple[str, str | None, str, float] | None = None  # its texts, made once
        for path, symbol in targets:
            seen_key = (record_id or text, category, path, symbol)
            if seen_key in seen:
                continue
            seen.add(seen_key)
            if row is None:
                row = (
                    clean(text),
                    clean(detail) if detail else None,
                    _str(record.get("source")) or "agent",
                    float(confidence) if isinstance(confidence, int | float) else 1.0,
                )
            row_text, row_detail, source, weight = row
            records.append(
                (
                    path,
                    symbol,
                    category,
                    row_text,
                    row_detail,
                    source,
                    record_id,
                    weight,
                    int(explicit),
                    session_id,
                    checkpoint_id,
                    commit_sha,
                    created_at,
                )
            )
    return IndexRows(checkpoint, commit_rows, list(paths.values()), records)


def insert_rows(conn: apsw.Connection, rows: IndexRows) -> None:
    """Write one checkpoint's index rows (inside the caller's transaction), replacing any."""
    delete_checkpoint(conn, rows.checkpoint_id)
    conn.execute(
        "INSERT INTO indexed_checkpoints (checkpoint_id, commit_sha, created_at, origin, "
        "location, content_hash, branch, agents, models, prompts, random_part, private) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows.checkpoint,
    )
    conn.executemany("INSERT OR IGNORE INTO indexed_commits VALUES (?, ?)", rows.commits)
    if rows.paths:
        conn.executemany(
            "INSERT OR IGNORE INTO checkpoint_paths (path, symbol, created_at, checkpoint_id, "
            "commit_sha, change, old_path, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows.paths,
        )
    if rows.records:
        conn.executemany(
            "INSERT INTO path_records (path, symbol, category, text, detail, source, record_id, "
            "confidence, explicit, session_id, checkpoint_id, commit_sha, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows.records,
        )
    from bitloops.store._private import flag_indexed

    # The marks are local (not in the header the rows come from): a re-index keeps them.
    flag_indexed(conn, [rows.checkpoint_id])


def delete_checkpoint(conn: apsw.Connection, checkpoint_id: str) -> None:
    """Forget what the index holds of one checkpoint (inside a transaction)."""
    for table in ("path_records", "checkpoint_paths", "indexed_commits", "indexed_checkpoints"):
        conn.execute(f"DELETE FROM {table} WHERE checkpoint_id = ?", (checkpoint_id,))


def migrate(conn: apsw.Connection) -> None:
    """Schema version 5: the index tables; local checkpoints are indexed on first read."""
    conn.execute(INDEX_SQL)
