-- bitloops SQLite schema, version 1 (pragma user_version = 1): the base schema, step 1 of
-- bitloops/store/_migrations.py. Later versions are steps applied on top of it (version 2
-- adds the full-text index checkpoint_events_fts); change the schema there, not here.
-- Live tables hold what is being recorded; committed tables hold immutable checkpoints.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per agent session; kept after promotion so seq stays gap-free across commits.
CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY,
    agent         TEXT NOT NULL,
    model         TEXT,
    worktree      TEXT NOT NULL,
    branch        TEXT,
    base_commit   TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    last_event_at TEXT,
    last_seq      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The draft: events not yet promoted. `line` is the event's canonical JSON.
CREATE TABLE live_events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (session_id),
    seq        INTEGER NOT NULL,
    worktree   TEXT NOT NULL,
    ts         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    line       TEXT NOT NULL,
    UNIQUE (session_id, seq)
) STRICT;

CREATE TABLE checkpoints (
    checkpoint_id        TEXT PRIMARY KEY,
    commit_sha           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    branch               TEXT,
    strategy             TEXT NOT NULL,
    event_count          INTEGER NOT NULL,
    parent_checkpoint_id TEXT,
    parent_hash          TEXT,
    content_hash         TEXT NOT NULL,
    -- canonical JSON of everything the content hash covers besides the events
    header               TEXT NOT NULL
) STRICT;

CREATE INDEX checkpoints_created ON checkpoints (created_at);

-- A checkpoint's events are inserted in transcript order, so `id` order is that order.
-- (A rowid table with a narrow index measured faster to fill than a WITHOUT ROWID
-- table keyed by (checkpoint_id, position): the rows are wide.)
CREATE TABLE checkpoint_events (
    id            INTEGER PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES checkpoints (checkpoint_id),
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    ts            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    line          TEXT NOT NULL
) STRICT;

CREATE INDEX checkpoint_events_checkpoint ON checkpoint_events (checkpoint_id, id);

-- Append-only: a rewrite (amend, rebase, cherry-pick) adds a link, never changes one.
CREATE TABLE commit_links (
    commit_sha    TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL REFERENCES checkpoints (checkpoint_id),
    linked_at     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    PRIMARY KEY (commit_sha, checkpoint_id)
) STRICT;

CREATE INDEX commit_links_checkpoint ON commit_links (checkpoint_id);

-- Audit trail of break-glass purges; verify reads it to tell a purge from tampering.
CREATE TABLE purges (
    purge_id      TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES checkpoints (checkpoint_id),
    purged_at     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    replacement   TEXT NOT NULL,
    occurrences   INTEGER NOT NULL,
    old_hash      TEXT NOT NULL,
    new_hash      TEXT NOT NULL
) STRICT;

-- Holds a row only inside a purge's own transaction; its presence anywhere else is tampering.
CREATE TABLE break_glass (
    token TEXT PRIMARY KEY
) STRICT;

CREATE TRIGGER checkpoints_immutable_update BEFORE UPDATE ON checkpoints
WHEN NOT EXISTS (SELECT 1 FROM break_glass)
BEGIN SELECT RAISE(ABORT, 'bitloops: committed checkpoints are immutable'); END;

CREATE TRIGGER checkpoints_immutable_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'bitloops: committed checkpoints are immutable'); END;

CREATE TRIGGER checkpoint_events_immutable_update BEFORE UPDATE ON checkpoint_events
WHEN NOT EXISTS (SELECT 1 FROM break_glass)
BEGIN SELECT RAISE(ABORT, 'bitloops: committed checkpoints are immutable'); END;

CREATE TRIGGER checkpoint_events_immutable_delete BEFORE DELETE ON checkpoint_events
BEGIN SELECT RAISE(ABORT, 'bitloops: committed checkpoints are immutable'); END;

CREATE TRIGGER commit_links_immutable_update BEFORE UPDATE ON commit_links
BEGIN SELECT RAISE(ABORT, 'bitloops: commit links are append-only'); END;

CREATE TRIGGER commit_links_immutable_delete BEFORE DELETE ON commit_links
BEGIN SELECT RAISE(ABORT, 'bitloops: commit links are append-only'); END;

CREATE TRIGGER purges_immutable_update BEFORE UPDATE ON purges
BEGIN SELECT RAISE(ABORT, 'bitloops: the purge audit is append-only'); END;

CREATE TRIGGER purges_immutable_delete BEFORE DELETE ON purges
BEGIN SELECT RAISE(ABORT, 'bitloops: the purge audit is append-only'); END;
