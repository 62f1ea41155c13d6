"""A schema of its own on the real PostgreSQL server for each test, and roles in it."""

from __future__ import annotations

import secrets
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import psycopg

from bitloops.store._postgres import PostgresStore


def with_schema(url: str, schema: str, user: str | None = None) -> str:
    """``url`` with its search_path set to ``schema`` (and its user replaced, if given)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{quote(user)}@{netloc.rsplit('@', 1)[-1]}"
    query = "&".join(
        q for q in (parts.query, urlencode({"options": f"-csearch_path={schema}"})) if q
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class PgSchema:
    """One test's schema: ``url`` connects as the owner, ``writer_url()`` as a writer role."""

    def __init__(self, server_url: str, name: str, admin: psycopg.Connection[Any]) -> None:
        self.server_url = server_url
        self.name = name
        self.admin = admin
        self.url = with_schema(server_url, name)
        self.roles: list[str] = []

    @classmethod
    def create(cls, server_url: str) -> PgSchema:
        admin = psycopg.connect(server_url, autocommit=True)
        name = f"bl_test_{secrets.token_hex(6)}"
        admin.execute(f"CREATE SCHEMA {name}")
        return cls(server_url, name, admin)

    def __enter__(self) -> PgSchema:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND usename = ANY(%s)",
            (self.roles,),
        )
        self.admin.execute(f"DROP SCHEMA {self.name} CASCADE")
        for role in self.roles:
            self.admin.execute(f"DROP OWNED BY {role}")
            self.admin.execute(f"DROP ROLE {role}")
        self.admin.close()

    def migrate(self) -> None:
        """Create bitloops' tables as the owner (what a team's admin does once)."""
        store = PostgresStore(self.url)
        store.connect()
        store.close()

    def writer_url(self) -> str:
        """A new role that may only read and insert (docs/storage.md), after :meth:`migrate`."""
        self.migrate()
        role = f"{self.name}_writer"
        if role not in self.roles:
            self.admin.execute(f"CREATE ROLE {role} LOGIN")
            self.roles.append(role)
            self.admin.execute(f"GRANT USAGE ON SCHEMA {self.name} TO {role}")
            self.admin.execute(
                f"GRANT SELECT, INSERT ON {self.name}.checkpoints, {self.name}.checkpoint_events, "
                f"{self.name}.commit_links TO {role}"
            )
            self.admin.execute(
                f"GRANT SELECT, INSERT ON {self.name}.purges TO {role}; "
                f"GRANT SELECT ON {self.name}.event_search, {self.name}.search_indexed TO {role}; "
                f"GRANT EXECUTE ON FUNCTION {self.name}.bitloops_index_pending(integer) TO {role}"
            )
            self.admin.execute(f"GRANT SELECT ON {self.name}.bitloops_meta TO {role}")
        return with_schema(self.server_url, self.name, user=role)

    def count(self, table: str) -> int:
        row = self.admin.execute(f"SELECT count(*) FROM {self.name}.{table}").fetchone()
        assert row is not None
        return int(row[0])

    def use_for(self, toplevel: Path, url: str | None = None) -> None:
        """Point the work tree at this schema through its personal settings file."""
        settings = toplevel / ".bitloops" / "settings.local.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text('{"committed_store": "%s"}\n' % (url or self.url), encoding="utf-8")
