-- bitloops shared committed store, PostgreSQL schema version 1 (bitloops_meta's
-- schema_version). Created in the first schema of the connection's search_path by
-- bitloops/store/_postgres.py, under an advisory lock, in one transaction.
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

-- `line` is the event's canonical JSON, exactly as hashed. No foreign key: the
-- statement-level trigger bitloops_refuse_late_rows (below) checks, once per COPY,
-- that every row's checkpoint exists and was stored by the same transaction, which
-- per-row foreign key checks would make the slowest part of a send.
CREATE TABLE checkpoint_events (
    checkpoint_id text NOT NULL,
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

-- The break-glass purges a checkpoint went through before it was sent (append-only),
-- so that verify can tell an audited purge from tampering, as in SQLite.
CREATE TABLE purges (
    purge_id      text PRIMARY KEY,
    checkpoint_id text NOT NULL REFERENCES checkpoints (checkpoint_id),
    purged_at     text NOT NULL,
    reason        text NOT NULL,
    secret_sha256 text NOT NULL,
    replacement   text NOT NULL,
    occurrences   integer NOT NULL,
    old_hash      text NOT NULL,
    new_hash      text NOT NULL
);

CREATE INDEX purges_checkpoint ON purges (checkpoint_id);

-- An event line as jsonb. A line holding \u0000 (valid JSON, refused by jsonb) is
-- read without it; a line that still does not parse counts as plain text. Search
-- must not stop at one odd event that nobody can remove.
CREATE FUNCTION bitloops_event_json(line text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN line::jsonb;
EXCEPTION WHEN OTHERS THEN
    BEGIN
        RETURN replace(line, '\u0000', '')::jsonb;
    EXCEPTION WHEN OTHERS THEN
        RETURN jsonb_build_object('payload', line);
    END;
END
$$;

-- What full-text search shows of an event: the string values of its payload, then its
-- kind, agent and model (as in the SQLite index).
CREATE FUNCTION bitloops_event_text(line text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ',
        (SELECT string_agg(v #>> '{}', ' ')
         FROM jsonb_path_query(j -> 'payload', 'strict $.**') AS v
         WHERE jsonb_typeof(v) = 'string'),
        j ->> 'kind', j ->> 'agent', j ->> 'model')
    FROM (SELECT @schema@.bitloops_event_json(line) AS j) AS parsed
$$;

-- The full-text index: derived data, filled before each search for the checkpoints
-- not indexed yet (search_indexed), not when a checkpoint is sent: building text
-- vectors costs about ten times the COPY of the events, and a send runs in the
-- post-commit hook. Clients fill it only through bitloops_index_pending(), so a role
-- that may insert checkpoints cannot hide one from search.
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

-- Index up to `batch` checkpoints not indexed yet, oldest id first (one order for
-- every caller, so concurrent searchers wait on each other rather than deadlock);
-- returns how many it indexed. Runs with its owner's rights.
CREATE FUNCTION bitloops_index_pending(batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @schema@, pg_temp AS $$
DECLARE
    done integer;
BEGIN
    WITH todo AS (
        SELECT c.checkpoint_id FROM checkpoints c
        WHERE NOT EXISTS (SELECT 1 FROM search_indexed i WHERE i.checkpoint_id = c.checkpoint_id)
        ORDER BY c.checkpoint_id LIMIT batch
    ), indexed AS (
        INSERT INTO event_search (checkpoint_id, position, vector)
        SELECT e.checkpoint_id, e.position,
            to_tsvector('english'::regconfig, bitloops_event_text(e.line))
        FROM checkpoint_events e JOIN todo USING (checkpoint_id)
        ORDER BY e.checkpoint_id, e.position
        ON CONFLICT DO NOTHING
    )
    INSERT INTO search_indexed (checkpoint_id)
    SELECT checkpoint_id FROM todo ORDER BY checkpoint_id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS done = ROW_COUNT;
    RETURN done;
END
$$;

REVOKE ALL ON FUNCTION bitloops_index_pending(integer) FROM PUBLIC;

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

-- A checkpoint's events and purge records are written in the transaction that stores
-- the checkpoint, never added later (links may be: a rewrite adds one), and never for
-- a checkpoint that does not exist. Checked once per statement, so a COPY of many
-- events pays for one check.
CREATE FUNCTION bitloops_refuse_late_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_rows n LEFT JOIN checkpoints c USING (checkpoint_id)
        WHERE c.checkpoint_id IS NULL
           OR c.xmin::text::bigint <> (txid_current() & 4294967295)
    ) THEN
        RAISE EXCEPTION 'bitloops: committed % rows are immutable (rows added to a stored checkpoint refused)', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER checkpoint_events_complete AFTER INSERT ON checkpoint_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_late_rows();
CREATE TRIGGER purges_complete AFTER INSERT ON purges
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_late_rows();

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
CREATE TRIGGER purges_immutable BEFORE UPDATE OR DELETE ON purges
    FOR EACH ROW EXECUTE FUNCTION bitloops_refuse_change();
CREATE TRIGGER purges_no_truncate BEFORE TRUNCATE ON purges
    FOR EACH STATEMENT EXECUTE FUNCTION bitloops_refuse_change();
