"""Schema migrations: an ordered list of steps from an empty file to :data:`SCHEMA_VERSION`.

Step 1 is the base schema (``sqlite_schema.sql``); every later step upgrades the
schema of the version before it. :meth:`SQLiteStore._migrate
<bitloops.store._sqlite.SQLiteStore._migrate>` runs the steps a database lacks inside
one ``BEGIN IMMEDIATE`` transaction, setting ``pragma user_version`` after each, so a
database is always at one version or the next and never half-way between.

Steps are written to be safe to run again on a database that already has what they
create (a file whose ``user_version`` was lowered by hand): step 2 drops and recreates
the objects it owns and rebuilds the index from ``checkpoint_events``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import apsw
import attrs

from bitloops._codec import format_ts

__all__ = ["CATCH_UP_SQL", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "upgrade"]

APPLICATION = "bitloops"

#: The full-text index of committed events (an FTS5 table keyed by ``checkpoint_events.id``).
FTS_TABLE = "checkpoint_events_fts"


@attrs.frozen
class Migration:
    """One step: what it does, and the function that does it inside the transaction."""

    version: int
    description: str
    apply: Callable[[apsw.Connection], None]


def _package_text(name: str) -> str:
    """The text of a file shipped beside this module, by the module's own loader (a
    folder or a zip alike): importlib.resources would import tempfile, shutil and more
    into the first process that creates a database (an agent's first hook)."""
    loader: Any = __spec__.loader
    data: bytes = loader.get_data(os.path.join(os.path.dirname(__file__), name))
    return data.decode("utf-8")


def _base_schema(conn: apsw.Connection) -> None:
    """Version 1: the tables, indexes and immutability triggers, and the ``meta`` rows."""
    conn.execute(_package_text("sqlite_schema.sql"))
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('application', ?), ('created_at', ?)",
        (APPLICATION, format_ts(datetime.now(UTC))),
    )


def _searchable(row: str) -> str:
    """SQL for the indexed columns (text, kind, agent, model) of a ``checkpoint_events`` row.

    ``row`` is the row's prefix: ``""`` or ``"new."``. The text is every string value in
    the payload (not its keys), in document order, joined with spaces.
    """
    line = f"{row}line"
    return (
        f"(SELECT group_concat(value, ' ') FROM json_tree({line}, '$.payload') "
        f"WHERE type = 'text'), {row}kind, json_extract({line}, '$.agent'), "
        f"json_extract({line}, '$.model')"
    )


# An FTS5 table with its own copy of the text, not an external-content or contentless
# one: the text is derived from the JSON line (json_tree), which FTS5 cannot evaluate
# through a content view from inside its own calls, and snippet() needs the text.
_FTS_SQL = f"""
DROP TRIGGER IF EXISTS checkpoint_events_fts_insert;
DROP TRIGGER IF EXISTS checkpoint_events_fts_update;
DROP TABLE IF EXISTS {FTS_TABLE};

CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5 (
    text, kind, agent, model,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- A purge must leave no trace of the old text in the index, not even in segments
-- awaiting a merge.
INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rank) VALUES ('secure-delete', 1);

-- The index is filled outside promotion (SQLiteStore.catch_up_index, before every
-- search) so that promotion holds the write lock only to move rows; meta's
-- fts_indexed_upto is the highest checkpoint_events.id indexed so far. Only a
-- break-glass purge can update a committed event (the immutability triggers refuse
-- everything else): it rewrites `line`, and an indexed row is re-indexed at once.
CREATE TRIGGER checkpoint_events_fts_update AFTER UPDATE ON checkpoint_events
WHEN old.id <= coalesce(
    (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_indexed_upto'), 0)
BEGIN
    DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
    INSERT INTO {FTS_TABLE} (rowid, text, kind, agent, model)
    VALUES (new.id, {_searchable("new.")});
END;

DELETE FROM meta WHERE key = 'fts_indexed_upto';
"""

#: Index the committed events not indexed yet, and move the mark (inside a transaction).
CATCH_UP_SQL = f"""
INSERT INTO {FTS_TABLE} (rowid, text, kind, agent, model)
SELECT id, {_searchable("")} FROM checkpoint_events
WHERE id > coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_indexed_upto'), 0)
ORDER BY id;
INSERT INTO meta (key, value)
SELECT 'fts_indexed_upto', CAST(max(id) AS TEXT) FROM checkpoint_events HAVING max(id) IS NOT NULL
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
"""


def _full_text_search(conn: apsw.Connection) -> None:
    """Version 2: the full-text index of committed events, its purge trigger, a backfill."""
    conn.execute(_FTS_SQL)
    conn.execute(CATCH_UP_SQL)


_TEAM_AND_QUARANTINE_SQL = """
-- Checkpoints waiting to be sent to the shared committed store (team setup). A row is
-- written in the promotion's own transaction and removed once the shared store holds
-- the checkpoint and every link it had when it was sent; a later link queues it again.
CREATE TABLE IF NOT EXISTS outbox (
    checkpoint_id   TEXT PRIMARY KEY REFERENCES checkpoints (checkpoint_id),
    queued_at       TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    last_error      TEXT
) STRICT;

-- Who made the commit a checkpoint was created for ("Name <email>"), for team
-- queries. Not part of the hashed header: it describes the commit, not the work.
ALTER TABLE checkpoints ADD COLUMN author TEXT;

-- Agent hook input that could not be recorded (malformed or unknown), kept redacted
-- so that no input is lost; `bitloops doctor` shows it.
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    agent       TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    payload     TEXT NOT NULL
) STRICT;
"""


def _team_and_quarantine(conn: apsw.Connection) -> None:
    """Version 3: the outbox to a shared store, checkpoint authors, the hook quarantine."""
    has_author = any(row[1] == "author" for row in conn.execute("PRAGMA table_info(checkpoints)"))
    sql = _TEAM_AND_QUARANTINE_SQL
    if has_author:  # a re-run on a file whose user_version was lowered by hand
        sql = sql.replace("ALTER TABLE checkpoints ADD COLUMN author TEXT;", "")
    conn.execute(sql)


_ANNOTATIONS_SQL = """
-- Append-only notes on why-records and checkpoints, outside the checkpoints' content
-- hashes: retractions of a wrong record, the LLM distiller's results. Each row carries
-- the SHA-256 of its own canonical form (annotation_hash), which verify checks.
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id   TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    record_id       TEXT,
    checkpoint_id   TEXT,
    reason          TEXT,
    body            TEXT NOT NULL,
    annotation_hash TEXT NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS annotations_record ON annotations (record_id);
CREATE INDEX IF NOT EXISTS annotations_checkpoint ON annotations (checkpoint_id, kind);

DROP TRIGGER IF EXISTS annotations_immutable_update;
DROP TRIGGER IF EXISTS annotations_immutable_delete;

CREATE TRIGGER annotations_immutable_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'bitloops: annotations are append-only'); END;

CREATE TRIGGER annotations_immutable_delete BEFORE DELETE ON annotations
BEGIN SELECT RAISE(ABORT, 'bitloops: annotations are append-only'); END;
"""


def _annotations(conn: apsw.Connection) -> None:
    """Version 4: append-only annotations (retractions, distillations)."""
    conn.execute(_ANNOTATIONS_SQL)


def _path_index(conn: apsw.Connection) -> None:
    """Version 5: the index by path and symbol (bitloops/store/_index.py), derived data."""
    from bitloops.store._index import migrate

    migrate(conn)


def _private_marks(conn: apsw.Connection) -> None:
    """Version 6: the sessions and checkpoints kept in this clone (bitloops/store/_private.py)."""
    from bitloops.store._private import migrate

    migrate(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "base schema", _base_schema),
    Migration(2, "full-text search over committed events", _full_text_search),
    Migration(3, "team outbox, checkpoint authors, hook quarantine", _team_and_quarantine),
    Migration(4, "append-only annotations: retractions and distillations", _annotations),
    Migration(5, "index of checkpoints by path and symbol (derived)", _path_index),
    Migration(6, "private marks: sessions and checkpoints kept in this clone", _private_marks),
)

#: The version this code creates and understands (``pragma user_version``).
SCHEMA_VERSION = MIGRATIONS[-1].version


def upgrade(conn: apsw.Connection, current: int, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the steps after ``current`` up to ``target``; the versions applied.

    Call inside a write transaction: each step sets ``user_version`` as it completes,
    and the caller's transaction makes the whole upgrade one atomic change.
    """
    applied = []
    for step in MIGRATIONS:
        if current < step.version <= target:
            step.apply(conn)
            conn.pragma("user_version", step.version)
            applied.append(step.version)
    return applied
