"""The shared committed store: a team's checkpoints in PostgreSQL (psycopg 3).

Only committed checkpoints live here. Each clone keeps its live state and its own
checkpoints in its local SQLite database, which stays authoritative for what the clone
created; :mod:`bitloops.checkpoint._sync` sends them here through the outbox, idempotently by
``checkpoint_id``. psycopg (the ``bitloops[postgres]`` extra) is imported only when a
:class:`PostgresStore` connects.

The tables go in the first schema of the connection's ``search_path``, so a URL such
as ``postgresql://host/db?options=-csearch_path%3Dbitloops`` keeps them apart. Any
libpq setting works in the URL: ``sslmode``, ``service``, ``passfile`` and the ``PG*``
environment variables, so a password never has to be written in a settings file.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from bitloops._codec import format_ts, parse_ts
from bitloops.errors import (
    ImmutableCheckpoint,
    InvalidSearch,
    SchemaTooNew,
    SettingsError,
    SharedStoreError,
    SharedStoreUnavailable,
    StoreError,
    UnsupportedServer,
)
from bitloops.settings import postgres_url_problem
from bitloops.store._rows import (
    CheckpointQuery,
    CheckpointRow,
    EventRow,
    HeaderRow,
    LinkRecord,
    LinkRow,
    SearchRow,
    select_checkpoint_ids,
)

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "MIN_SERVER_VERSION",
    "SCHEMA_VERSION",
    "PostgresStore",
    "create_schema",
    "display_url",
    "drop_schema",
    "fts5_to_tsquery",
    "is_postgres_url",
]

#: The schema version this code creates and understands (``bitloops_meta``).
SCHEMA_VERSION = 1

# Version -> the SQL file that upgrades the version before it (1 creates everything;
# "@schema@" stands for the schema's quoted name). A later version adds a file here.
_STEPS = {1: "postgres_schema.sql"}

#: The oldest server supported (PostgreSQL 13: older ones are out of support).
MIN_SERVER_VERSION = 130000

_SCHEMES = ("postgresql", "postgres")

# The event columns, in COPY order.
_EVENT_COLUMNS = "checkpoint_id, position, session_id, seq, ts, kind, line"

_SELECT_CHECKPOINT = (
    "SELECT checkpoint_id, commit_sha, created_at, branch, strategy, event_count, "
    "parent_checkpoint_id, parent_hash, content_hash, header, author FROM checkpoints "
)

# What each CheckpointQuery filter means here (c is the checkpoints row).
_CONDITIONS = {
    "commit_sha": "c.checkpoint_id IN (SELECT checkpoint_id FROM commit_links "
    "WHERE commit_sha = %s)",
    "branch": "c.branch = %s",
    "author": "strpos(lower(c.author), lower(%s)) > 0",
    "agent": "c.agents @> ARRAY[%s]::text[]",
    "model": "c.models @> ARRAY[%s]::text[]",
    "since": "c.created_at >= %s",
    "until": "c.created_at < %s",
}

# libpq's words for a connection setting it cannot use: not worth retrying later.
_CONFIG_MISTAKES = (
    "invalid integer value",
    "invalid sslmode value",
    "invalid value for parameter",
    "definition of service",
    "service file",
    "does not support SSL",
    "invalid connection option",
    "invalid port number",  # PGPORT or a service file's port out of range
)


def is_postgres_url(url: str) -> bool:
    """True when ``url`` names a PostgreSQL server (``postgresql://`` or ``postgres://``)."""
    # Not urlsplit: it raises on an unclosed IPv6 bracket, which is the URL checks' to say.
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in _SCHEMES


def display_url(url: str) -> str:
    """``url`` without its password, for messages and ``bitloops status``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={value}" if sep else key
        for key, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _derived(header_text: str) -> tuple[list[str], list[str]]:
    """The agents and models a checkpoint's header names, for the filter columns."""
    header = json.loads(header_text)
    agents: set[str] = set()
    models: set[str] = set()
    for item in header.get("models") or ():
        if isinstance(item, dict):
            if isinstance(item.get("agent"), str):
                agents.add(item["agent"])
            if isinstance(item.get("model"), str):
                models.add(item["model"])
    return sorted(agents), sorted(models)


_FTS_TOKEN = re.compile(r'"(?:[^"]|"")*"\*?|[()]|[^\s()"]+')
_FTS_COLUMNS = ("text", "kind", "agent", "model")
_FTS_OPERATORS = {"AND": "&", "OR": "|", "NOT": "& !"}


def fts5_to_tsquery(query: str) -> str:
    """The SQLite FTS5 query ``query`` as a PostgreSQL ``to_tsquery`` expression.

    So that one query means the same in both stores: words and ``"phrases"`` (all must
    match), ``prefix*``, ``AND`` / ``OR`` / ``NOT`` (binary, as in FTS5) and
    parentheses; a column filter (``kind:decision``) keeps its term, which the vector
    holds too; ``NEAR(a b, N)`` becomes ``a AND b``. Raises
    :class:`~bitloops.InvalidSearch` where FTS5 would refuse the query.
    """
    if query.count('"') % 2:
        raise InvalidSearch("unbalanced double quote")
    out: list[str] = []
    depth = 0
    near: list[int] = []  # depths of open NEAR( groups, whose ", N" is dropped
    operand = False  # whether the last thing written can be followed by an operator
    tokens = _FTS_TOKEN.findall(query)
    for index, token in enumerate(tokens):
        if token in _FTS_OPERATORS:
            if not operand:
                raise InvalidSearch(f"{token} needs a term before it")
            out.append(_FTS_OPERATORS[token])
            operand = False
            continue
        if token == "NEAR" and tokens[index + 1 : index + 2] == ["("]:
            near.append(depth + 1)
            continue
        if token == "(":
            if operand:
                out.append("&")
            out.append("(")
            depth += 1
            operand = False
            continue
        if token == ")":
            if depth == 0 or not operand:
                raise InvalidSearch("unbalanced or empty parentheses")
            if near and near[-1] == depth:
                near.pop()
            out.append(")")
            depth -= 1
            continue
        prefix = token.endswith("*")
        body = token.rstrip("*") if prefix else token
        if body.startswith('"'):
            body = body[1:-1].replace('""', '"')
        else:
            column, colon, rest = body.partition(":")
            if colon and column in _FTS_COLUMNS:
                body = rest
            body = body.lstrip("^")
            if near and near[-1] == depth:
                body = body.strip(",")
                if body.isdigit() and (token.startswith(",") or tokens[index - 1].endswith(",")):
                    continue  # NEAR's distance
        if not body:
            continue
        if operand:
            out.append("&")
        quoted = body.replace("\\", "\\\\").replace("'", "''")
        out.append(f"'{quoted}'" + (":*" if prefix else ""))
        operand = True
    if depth or (out and not operand):
        raise InvalidSearch("the query ends in the middle of an expression")
    return " ".join(out)


class PostgresStore:
    """A connection to a shared committed store; connects (and migrates) on first use.

    ``connect_timeout`` bounds how long a promotion or a hook waits for an unreachable
    server; ``statement_timeout_ms`` bounds each statement once connected.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        statement_timeout_ms: int = 60_000,
    ) -> None:
        if not is_postgres_url(url):
            raise SettingsError(
                f"committed_store {display_url(url)!r} is not a PostgreSQL URL; write it as "
                "postgresql://user@host:5432/database (see docs/storage.md)"
            )
        # Checked here too (not only when settings are read): a URL that can never
        # work must raise SettingsError, not be retried as an unreachable server.
        problem = postgres_url_problem(url)
        if problem is not None:
            raise SettingsError(
                f"committed_store {display_url(url)!r} {problem}; fix the URL in "
                ".bitloops/settings.local.json or BITLOOPS_COMMITTED_STORE"
            )
        self.url = url
        self.display_url = display_url(url)
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()
        self.schema: str | None = None

    # -- connection -----------------------------------------------------------------

    def _psycopg(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise SharedStoreError(
                "the shared committed store needs psycopg; install it with "
                "pip install 'bitloops[postgres]'"
            ) from None
        return psycopg

    def _translate(self, exc: Exception) -> StoreError | SettingsError:
        """A psycopg error as one of ours, with what to do about it."""
        pg = self._psycopg()
        where = self.display_url
        state = getattr(exc, "sqlstate", None)
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) if state else None
        text = (primary or str(exc)).strip()
        unknown_role = 'role "' in text and "does not exist" in text
        if any(sign in text for sign in _CONFIG_MISTAKES):
            return SettingsError(
                f"committed_store {where} has a setting libpq cannot use ({text}); fix the "
                "URL (port, sslmode, service) in .bitloops/settings.local.json or "
                "BITLOOPS_COMMITTED_STORE"
            )
        if state in ("28P01", "28000") or "authentication failed" in text or unknown_role:
            return SharedStoreError(
                f"the shared store at {where} refused the credentials ({text}); check the user "
                "and password in ~/.pgpass, the URL in .bitloops/settings.local.json or "
                "BITLOOPS_COMMITTED_STORE"
            )
        if state == "3D000" or ("database" in text and "does not exist" in text):
            return SharedStoreError(
                f"the shared store at {where} has no such database ({text}); create it "
                "(createdb) or fix the database name in the URL"
            )
        if state == "42501":
            return SharedStoreError(
                f"the shared store at {where} refused a privilege ({text}); the role needs "
                "SELECT and INSERT on the bitloops tables, and the schema must be created or "
                "upgraded once by its owner (see docs/storage.md)"
            )
        if state == "23000" or "are immutable" in text:
            return ImmutableCheckpoint(f"{text}; committed checkpoints cannot be changed")
        # No server answer, a connection error (08) or the server going away (57:
        # shutdown, pg_terminate_backend): worth retrying later.
        if isinstance(exc, pg.OperationalError) and (state is None or state[:2] in ("08", "57")):
            return SharedStoreUnavailable(
                f"cannot reach the shared store at {where} ({text or 'connection lost'}); "
                "checkpoints stay in the local outbox and are sent by `bitloops sync` or "
                "the next promotion"
            )
        return SharedStoreError(f"the shared store at {where} failed: {text}")

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        pg = self._psycopg()
        try:
            pg.conninfo.conninfo_to_dict(self.url)
            conn: psycopg.Connection[Any] = pg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                application_name="bitloops",
                # A half-open connection must not hang a hook until the kernel gives up.
                keepalives=1,
                keepalives_idle=15,
                keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=30_000,
            )
        except pg.ProgrammingError as exc:  # the URL itself did not parse
            raise SettingsError(
                f"committed_store {self.display_url!r} is not a usable PostgreSQL URL ({exc}); "
                "write it as postgresql://user@host:5432/database"
            ) from None
        except pg.Error as exc:
            raise self._translate(exc) from None
        try:
            version = conn.info.server_version
            if version < MIN_SERVER_VERSION:
                raise UnsupportedServer(
                    f"the shared store at {self.display_url} runs PostgreSQL "
                    f"{version // 10000}.{version % 10000}; bitloops needs 13 or newer"
                )
            conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
            self._migrate(conn)
        except pg.Error as exc:
            conn.close()
            raise self._translate(exc) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def connect(self) -> None:
        """Connect now (and create or upgrade the schema); raises what a later call would."""
        with self._lock:
            self._connection()

    @contextmanager
    def _using(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection, with psycopg errors translated; a broken one is dropped."""
        pg = self._psycopg()
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except pg.Error as exc:
                if conn.closed or conn.broken:
                    self._conn = None
                raise self._translate(exc) from None

    def close(self) -> None:
        """Close the connection (the next call reconnects)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT current_schema(), "
            "to_regclass(quote_ident(current_schema()) || '.bitloops_meta') IS NOT NULL"
        ).fetchone()
        assert row is not None
        schema, has_meta = row
        if schema is None:
            raise SharedStoreError(
                f"the shared store at {self.display_url} has no schema to use: the schemas "
                "in its search_path do not exist; create one (CREATE SCHEMA bitloops) or "
                "fix search_path in the URL's options"
            )
        self.schema = str(schema)
        if not has_meta:
            return 0
        found = conn.execute(
            "SELECT value FROM bitloops_meta WHERE key = 'schema_version'"
        ).fetchone()  # current_schema() is first in the search_path
        return int(found[0]) if found else 0

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Create or upgrade the schema once, however many clients connect at the same time.

        Clients take an advisory lock for the schema and read the version again under
        it, in a new transaction, so one of them migrates and the others find it done.
        """
        version = self._version(conn)
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise self._too_new(version)
        # A session-level lock taken before the transaction, not a transaction-level one
        # inside it: only a new transaction is sure to see catalog changes committed
        # while it waited (a stale view made the second client create the tables again).
        conn.execute("SELECT pg_advisory_lock(hashtext('bitloops:' || current_schema()))")
        try:
            with conn.transaction():
                version = self._version(conn)
                if version > SCHEMA_VERSION:
                    raise self._too_new(version)
                quoted = conn.execute("SELECT quote_ident(current_schema())").fetchone()
                assert quoted is not None
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    sql = resources.files(__package__).joinpath(_STEPS[step]).read_text()
                    conn.execute(sql.replace("@schema@", str(quoted[0])).encode())
                conn.execute(
                    "INSERT INTO bitloops_meta (key, value) VALUES "
                    "('application', 'bitloops'), ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(hashtext('bitloops:' || current_schema()))")

    def _too_new(self, version: int) -> SchemaTooNew:
        return SchemaTooNew(
            f"the shared store at {self.display_url} has schema version {version}, newer than "
            f"this bitloops understands ({SCHEMA_VERSION}); upgrade bitloops"
        )

    # -- writing --------------------------------------------------------------------

    def put_checkpoint(
        self,
        row: CheckpointRow,
        events: Sequence[EventRow],
        links: Sequence[LinkRow],
        purges: Sequence[Sequence[Any]] = (),
    ) -> bool:
        """Store a checkpoint, its events and links in one transaction; True if it was new.

        Idempotent by ``checkpoint_id``: a checkpoint already stored (a retry after a
        timeout, or another process sending the same outbox) gets only the links it
        lacks. A stored checkpoint with another content hash is refused. The round trips
        do not grow with the checkpoint: one for BEGIN, the row and the links
        (pipelined), two for the COPY of the events, one to commit; two in all when the
        checkpoint was there already. ``purges`` are the audit records of purges the
        checkpoint went through before it was sent (``purges`` table columns, in order).
        """
        agents, models = _derived(row.header)
        link_columns = [list(c) for c in zip(*links, strict=True)] if links else [[], [], []]
        with self._using() as conn, _transaction(conn):
            with conn.pipeline():  # BEGIN and the statements below: one round trip
                conn.execute("BEGIN")
                inserted = conn.execute(
                    "INSERT INTO checkpoints (checkpoint_id, commit_sha, created_at, branch, "
                    "strategy, event_count, parent_checkpoint_id, parent_hash, content_hash, "
                    "header, author, agents, models) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (checkpoint_id) DO NOTHING RETURNING 1",
                    (
                        row.checkpoint_id,
                        row.commit_sha,
                        parse_ts(row.created_at),
                        row.branch,
                        row.strategy,
                        row.event_count,
                        row.parent_checkpoint_id,
                        row.parent_hash,
                        row.content_hash,
                        row.header,
                        row.author,
                        agents,
                        models,
                    ),
                )
                stored = conn.execute(
                    "SELECT content_hash FROM checkpoints WHERE checkpoint_id = %s",
                    (row.checkpoint_id,),
                )
                conn.execute(
                    "INSERT INTO commit_links (commit_sha, checkpoint_id, linked_at, reason) "
                    "SELECT sha, %s, linked_at, reason "
                    "FROM unnest(%s::text[], %s::text[], %s::text[]) AS l (sha, linked_at, reason) "
                    "ON CONFLICT DO NOTHING",
                    (row.checkpoint_id, *link_columns),
                )
            new = inserted.fetchone() is not None
            if not new:
                found = stored.fetchone()
                if found is None or found[0] != row.content_hash:
                    raise SharedStoreError(
                        f"the shared store at {self.display_url} holds a different checkpoint "
                        f"{row.checkpoint_id} (content hash {found[0] if found else None}, "
                        f"ours {row.content_hash}); run `bitloops verify` on both sides"
                    )
                return False
            with conn.cursor().copy(
                f"COPY checkpoint_events ({_EVENT_COLUMNS}) FROM STDIN"
            ) as copy:
                cid = row.checkpoint_id
                for position, (session_id, seq, ts, kind, line) in enumerate(events):
                    copy.write_row((cid, position, session_id, seq, ts, kind, line))
            if purges:
                conn.cursor().executemany(
                    "INSERT INTO purges (purge_id, checkpoint_id, purged_at, reason, "
                    "secret_sha256, replacement, occurrences, old_hash, new_hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [tuple(p) for p in purges],
                )
        return True

    def add_link(self, commit_sha: str, checkpoint_id: str, reason: str) -> bool:
        """Link a commit to a stored checkpoint; False if the link was there."""
        with self._using() as conn:
            cur = conn.execute(
                "INSERT INTO commit_links (commit_sha, checkpoint_id, linked_at, reason) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (commit_sha, checkpoint_id, format_ts(_now()), reason),
            )
            return cur.rowcount == 1

    # -- reading --------------------------------------------------------------------

    def has_checkpoint(self, checkpoint_id: str) -> bool:
        """True when a checkpoint with this id is stored."""
        with self._using() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM checkpoints WHERE checkpoint_id = %s", (checkpoint_id,)
                ).fetchone()
                is not None
            )

    def count_checkpoints(self) -> int:
        """How many checkpoints are stored."""
        with self._using() as conn:
            row = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        return int(row[0]) if row else 0

    def checkpoint_data(
        self, checkpoint_id: str
    ) -> tuple[CheckpointRow, list[str], list[str]] | None:
        """A checkpoint's row, its event lines in order and its linked commits, or None."""
        with self._using() as conn, conn.pipeline():
            head = conn.execute(_SELECT_CHECKPOINT + "WHERE checkpoint_id = %s", (checkpoint_id,))
            lines = conn.execute(
                "SELECT line FROM checkpoint_events WHERE checkpoint_id = %s ORDER BY position",
                (checkpoint_id,),
            )
            links = conn.execute(
                "SELECT l.commit_sha FROM commit_links l JOIN checkpoints c USING (checkpoint_id) "
                "WHERE l.checkpoint_id = %s "
                "ORDER BY l.commit_sha <> c.commit_sha, l.linked_at, l.commit_sha",
                (checkpoint_id,),
            )
            found = head.fetchone()
            event_lines = [r[0] for r in lines.fetchall()]
            commits = [r[0] for r in links.fetchall()]
        if found is None:
            return None
        return _row(found), event_lines, commits

    def checkpoint_ids(
        self,
        query: CheckpointQuery | None = None,
        *,
        commit_sha: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Checkpoint ids matching ``query``, newest first (as the SQLite store's)."""
        q = query or CheckpointQuery()
        if commit_sha is not None or limit is not None:
            q = attrs.evolve(q, commit_sha=commit_sha or q.commit_sha, limit=limit or q.limit)
        sql, args = select_checkpoint_ids(q, _CONDITIONS, "%s", parse_ts)
        with self._using() as conn:
            return [r[0] for r in conn.execute(sql, args).fetchall()]

    def commits_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` linked commit SHAs starting with ``prefix`` (lowercase hex)."""
        with self._using() as conn:
            rows = conn.execute(
                "SELECT DISTINCT commit_sha FROM commit_links "
                "WHERE commit_sha >= %s AND commit_sha < %s ORDER BY commit_sha LIMIT %s",
                (prefix, prefix + "g", limit),
            ).fetchall()
        return [r[0] for r in rows]

    def commit_links(self, checkpoint_ids: Sequence[str]) -> dict[str, list[str]]:
        """The commits linked to each checkpoint, the one it was created for first."""
        if not checkpoint_ids:
            return {}
        links: dict[str, list[str]] = {}
        with self._using() as conn:
            for cid, sha in conn.execute(
                "SELECT l.checkpoint_id, l.commit_sha FROM commit_links l "
                "JOIN checkpoints c USING (checkpoint_id) WHERE l.checkpoint_id = ANY(%s) "
                "ORDER BY l.checkpoint_id, l.commit_sha <> c.commit_sha, l.linked_at, "
                "l.commit_sha",
                (sorted(set(checkpoint_ids)),),
            ).fetchall():
                links.setdefault(cid, []).append(sha)
        return links

    def catch_up_index(self, batch: int = 50) -> None:
        """Index the stored checkpoints that full-text search has not seen yet.

        In transactions of ``batch`` checkpoints, so a large backlog makes progress
        under the statement timeout, and a search interrupted half-way keeps what it did.
        """
        with self._using() as conn:
            while True:
                row = conn.execute("SELECT bitloops_index_pending(%s)", (batch,)).fetchone()
                if not row or row[0] < batch:
                    return

    def search_events(self, query: str, limit: int = 50) -> list[SearchRow]:
        """Committed events matching the FTS5 query ``query`` (see :func:`fts5_to_tsquery`).

        Rows of :class:`~bitloops.store.SearchRow` (the event's position first), newest
        checkpoint first, then by rank, as the SQLite store's.
        """
        self.catch_up_index()
        with self._using() as conn:
            rows = conn.execute(
                "WITH q AS (SELECT to_tsquery('english', %s) AS q), "
                "hits AS (SELECT s.checkpoint_id, s.position, ts_rank(s.vector, q.q) AS rank "
                "FROM event_search s, q WHERE s.vector @@ q.q) "
                "SELECT e.position, e.checkpoint_id, c.commit_sha, c.created_at, e.line, "
                "ts_headline('english', bitloops_event_text(e.line), q.q, "
                "'StartSel=[, StopSel=], MaxWords=16, MinWords=6, MaxFragments=1, "
                "FragmentDelimiter=…') "
                "FROM hits h JOIN checkpoint_events e USING (checkpoint_id, position) "
                "JOIN checkpoints c USING (checkpoint_id), q "
                "ORDER BY c.created_at DESC, c.checkpoint_id DESC, h.rank DESC, e.position "
                "LIMIT %s",
                (fts5_to_tsquery(query), limit),
            ).fetchall()
        return [SearchRow(r[0], r[1], r[2], format_ts(r[3]), r[4], r[5]) for r in rows]

    def purge_records(self) -> dict[str, list[tuple[str, str]]]:
        """``checkpoint_id`` -> its purges' ``(old_hash, new_hash)``, oldest first."""
        found: dict[str, list[tuple[str, str]]] = {}
        with self._using() as conn:
            for cid, old, new in conn.execute(
                "SELECT checkpoint_id, old_hash, new_hash FROM purges ORDER BY purged_at, purge_id"
            ).fetchall():
                found.setdefault(cid, []).append((old, new))
        return found

    def link_rows(self) -> list[LinkRecord]:
        """Every commit link."""
        with self._using() as conn:
            rows = conn.execute(
                "SELECT commit_sha, checkpoint_id, linked_at, reason FROM commit_links "
                "ORDER BY linked_at, commit_sha, checkpoint_id"
            ).fetchall()
        return [LinkRecord(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]

    def trigger_problems(self) -> list[str]:
        """Immutability triggers that are missing or disabled (a superuser can do both)."""
        expected = {
            f"{table}_{kind}"
            for table in ("checkpoints", "checkpoint_events", "commit_links", "purges")
            for kind in ("immutable", "no_truncate")
        } | {"checkpoint_events_complete", "purges_complete"}
        with self._using() as conn:
            rows = conn.execute(
                "SELECT t.tgname, t.tgenabled FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = (SELECT oid FROM pg_namespace "
                "WHERE nspname = current_schema()) AND NOT t.tgisinternal"
            ).fetchall()
        enabled = {name for name, state in rows if state != "D"}
        return sorted(expected - enabled)

    def trigger_changes(self) -> list[str]:
        """Triggers and trigger functions that differ from the schema bitloops created.

        A trigger dropped and created again under its own name (another timing, other
        events, another function), or its function replaced by one that does nothing,
        leaves the names in place; :meth:`trigger_problems` would not see it.
        """
        expected_triggers, expected_functions = _expected_triggers()
        with self._using() as conn:
            triggers = conn.execute(
                "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = (SELECT oid FROM pg_namespace "
                "WHERE nspname = current_schema()) AND NOT t.tgisinternal"
            ).fetchall()
            functions = conn.execute(
                "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = (SELECT oid FROM "
                "pg_namespace WHERE nspname = current_schema()) AND proname = ANY(%s)",
                (sorted(expected_functions),),
            ).fetchall()
        changed = []
        for name, definition in triggers:
            want = expected_triggers.get(name)
            if want is not None and _trigger_shape(definition) != want:
                changed.append(f"trigger {name}")
        for name, source in functions:
            if _normal(source) != expected_functions.get(name):
                changed.append(f"function {name}()")
        return sorted(changed)

    def headers(self, checkpoint_ids: Sequence[str] | None = None) -> list[HeaderRow]:
        """Every checkpoint's (or those given) :class:`~bitloops.store.HeaderRow`, oldest first."""
        sql = (
            "SELECT checkpoint_id, commit_sha, created_at, parent_checkpoint_id, parent_hash, "
            "content_hash, header, event_count FROM checkpoints"
        )
        args: list[Any] = []
        if checkpoint_ids is not None:
            sql += " WHERE checkpoint_id = ANY(%s)"
            args.append(list(checkpoint_ids))
        with self._using() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, checkpoint_id", args).fetchall()
        return [HeaderRow(r[0], r[1], format_ts(r[2]), *r[3:]) for r in rows]


def create_schema(conn: psycopg.Connection[Any], name: str) -> None:
    """Create the schema ``name`` on the server of ``conn`` (for a test's own store)."""
    from psycopg import sql

    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))


def drop_schema(conn: psycopg.Connection[Any], name: str) -> None:
    """Drop the schema ``name`` and everything in it (:func:`create_schema`'s undo)."""
    from psycopg import sql

    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _normal(text: str) -> str:
    return " ".join(text.split())


_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) (BEFORE|AFTER) (.+?) ON (?:[\w\"]+\.)?(\w+)\s+"
    r"(?:REFERENCING NEW TABLE AS \w+\s+)?FOR EACH (ROW|STATEMENT) "
    r"EXECUTE (?:FUNCTION|PROCEDURE) (?:[\w\"]+\.)?(\w+)\(\)",
    re.DOTALL,
)


def _trigger_shape(definition: str) -> tuple[str, frozenset[str], str, str, str] | None:
    """``(timing, events, table, row or statement, function)`` of a CREATE TRIGGER."""
    found = _TRIGGER.search(_normal(definition))
    if found is None:
        return None
    _name, timing, events, table, level, function = found.groups()
    return timing, frozenset(events.split(" OR ")), table, level, function


@functools.cache
def _expected_triggers() -> tuple[dict[str, Any], dict[str, str]]:
    """The triggers and trigger-function bodies ``postgres_schema.sql`` creates."""
    text = resources.files(__package__).joinpath("postgres_schema.sql").read_text()
    triggers = {m.group(1): _trigger_shape(m.group(0)) for m in _TRIGGER.finditer(text)}
    functions = {
        m.group(1): _normal(m.group(2))
        for m in re.finditer(
            r"CREATE FUNCTION (bitloops_refuse_\w+)\(\).*?\$\$(.*?)\$\$", text, re.DOTALL
        )
    }
    return triggers, functions


@contextmanager
def _transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """COMMIT on success, ROLLBACK on error, for a transaction begun by an explicit BEGIN.

    (``Connection.transaction()`` sends its BEGIN on its own, outside any pipeline.)
    """
    try:
        yield
    except BaseException:
        if not conn.broken and not conn.closed:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _row(values: Sequence[Any]) -> CheckpointRow:
    (cid, sha, created, branch, strategy, count, parent_id, parent_hash, chash, header, author) = (
        values
    )
    return CheckpointRow(
        checkpoint_id=cid,
        commit_sha=sha,
        created_at=format_ts(created),
        branch=branch,
        strategy=strategy,
        event_count=count,
        parent_checkpoint_id=parent_id,
        parent_hash=parent_hash,
        content_hash=chash,
        header=header,
        author=author,
    )


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
