-- bitloops shared committed store, PostgreSQL schema version 1 (bitloops_meta's
-- schema_version). Created in the first schema of the connection's search_path by
-- bitloops/store/postgres.py, under an advisory lock, in one transaction.
-- Only committed checkpoints live here: the live state stays in each clone's SQLite.

CREATE TABLE bitloops_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE checkpoints (
    checkpoint_id        text PRIMARY KEY,
    commit_sha           text NOT NULL,
    created_at           timestamptz NOT NULL,
    branch               text,
    strategy             text NOT NULL,
    event_count          integer NOT NULL,
    parent_checkpoint_id text,
    parent_hash          text,
    content_hash         text NOT NULL,
    -- canonical JSON of everything the content hash covers besides the events
    header               text NOT NULL,
    -- the commit's author ("Name <email>"); derived, not hashed
    author               text,
    -- derived from the header for team queries
    agents               text[] NOT NULL DEFAULT '{}',
    models               text[] NOT NULL DEFAULT '{}',
    received_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX checkpoints_newest ON checkpoints (created_at DESC, checkpoint_id DESC);
CREATE INDEX checkpoints_branch ON checkpoints (branch);
CREATE INDEX checkpoints_agents ON checkpoints USING gin (agents);
CREATE INDEX checkpoints_models ON checkpoints USING gin (models);

-- `line` is the event's canonical JSON, exactly as hashed.
CREATE TABLE checkpoint_events (
    checkpoint_id text NOT NULL REFERENCES checkpoints (checkpoint_id),
    position      integer NOT NULL,
    session_id    text NOT NULL,
    seq           integer NOT NULL,
    ts            text NOT NULL,
    kind          text NOT NULL,
    line          text NOT NULL,
    PRIMARY KEY (checkpoint_id, position)
);

-- Append-only: a rewrite (amend, rebase, cherry-pick) adds a link, never changes one.
CREATE TABLE commit_links (
    commit_sha    text NOT NULL,
    checkpoint_id text NOT NULL REFERENCES checkpoints (checkpoint_id),
    linked_at     text NOT NULL,
    reason        text NOT NULL,
    PRIMARY KEY (commit_sha, checkpoint_id)
);

CREATE INDEX commit_links_checkpoint ON commit_links (checkpoint_id);

-- What full-text search shows of an event: the string values of its payload, then its
-- kind, agent and model (as in the SQLite index).
CREATE FUNCTION bitloops_event_text(line text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ',
        (SELECT string_agg(v #>> '{}', ' ')
         FROM jsonb_path_query(line::jsonb -> 'payload', 'strict $.**') AS v
         WHERE jsonb_typeof(v) = 'string'),
        line::jsonb ->> 'kind', line::jsonb ->> 'agent', line::jsonb ->> 'model')
$$;

-- The full-text index: derived data, filled before each search for the checkpoints
-- not indexed yet (search_indexed), not when a checkpoint is sent: building text
-- vectors costs about ten times the COPY of the events, and a send runs in the
-- post-commit hook. Concurrent searchers may index the same checkpoint; the keys make
-- the second copy a no-op.
CREATE TABLE event_search (
    checkpoint_id text NOT NULL REFERENCES checkpoints (checkpoint_id),
    position      integer NOT NULL,
    vector        tsvector NOT NULL,
    PRIMARY KEY (checkpoint_id, position)
);

CREATE INDEX event_search_vector ON event_search USING gin (vector);

CREATE TABLE search_indexed (
    checkpoint_id text PRIMARY KEY REFERENCES checkpoints (checkpoint_id)
);

-- Immutability, enforced by the database: committed rows can be inserted and read,
-- never updated, deleted or truncated. (A superuser or the tables' owner can still
-- disable triggers: give clients the insert-and-read role of docs/storage.md.)
CREATE FUNCTION bitloops_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bitloops: committed % rows are immutable (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER checkpoints_immutable BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER checkpoint_events_immutable BEFORE UPDATE OR DELETE ON checkpoint_events
    FOR EACH ROW EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER checkpoint_events_no_truncate BEFORE TRUNCATE ON checkpoint_events
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER commit_links_immutable BEFORE UPDATE OR DELETE ON commit_links
    FOR EACH ROW EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER commit_links_no_truncate BEFORE TRUNCATE ON commit_links
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_change();
