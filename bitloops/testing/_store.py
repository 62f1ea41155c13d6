"""A store for tests: a Repository over a temporary work tree, its real SQLite file, and
optionally a throwaway PostgreSQL schema as the team's committed store."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from bitloops.errors import SharedStoreUnavailable
from bitloops.testing._environment import isolation
from bitloops.testing._repo import create_repository, temporary_repository

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = ["create_store", "temporary_postgres_schema", "temporary_store"]


def create_store(
    path: str | os.PathLike[str],
    *,
    postgres_url: str | None = None,
    files: Mapping[str, str | None] | None = None,
) -> Repository:
    """A :class:`bitloops.Repository` over a new work tree in ``path`` (see
    :func:`~bitloops.testing.create_repository`), with its SQLite database created.

    For a pytest fixture, give it ``tmp_path`` and close the repository afterwards.
    ``postgres_url``, when given, becomes the work tree's committed store (in its personal
    settings file), used as it is: see :func:`temporary_store` for a schema of the test's own.
    It is opened without the user's ``BITLOOPS_*`` settings (see
    :func:`~bitloops.testing.isolated_environment`).
    """
    created = create_repository(path, files=files)
    if postgres_url is not None:
        _use_committed_store(created.path, postgres_url)
    repo = created.open()
    with isolation(True, home=False):
        repo.store  # noqa: B018  (creates the database file now, not at the first write)
    return repo


@contextmanager
def temporary_store(
    *,
    postgres_url: str | None = None,
    files: Mapping[str, str | None] | None = None,
    isolated: bool = True,
) -> Iterator[Repository]:
    """A :class:`bitloops.Repository` over a temporary work tree and its SQLite database,
    closed and removed on exit.

    With ``postgres_url`` (a server the test may create schemas in), the team's committed
    store is a new schema of that server (see :func:`temporary_postgres_schema`), dropped
    on exit: ``repo.promote()`` then writes there too, ``repo.shared_store`` reads it.
    The ``with`` block runs in an :func:`~bitloops.testing.isolated_environment` unless
    ``isolated`` is false (see :func:`~bitloops.testing.temporary_repository`).
    """
    with temporary_repository(files=files, isolated=isolated) as created:
        if postgres_url is None:
            with created.open() as repo:
                repo.store  # noqa: B018
                yield repo
            return
        with temporary_postgres_schema(postgres_url) as url:
            _use_committed_store(created.path, url)
            with created.open() as repo:
                repo.store  # noqa: B018
                yield repo


@contextmanager
def temporary_postgres_schema(server_url: str) -> Iterator[str]:
    """A new, empty schema on the PostgreSQL server at ``server_url``; a URL that uses it
    (its ``search_path``). The schema and everything in it are dropped on exit.

    Needs ``psycopg`` (``bitloops[postgres]``) and a role that may create schemas. Raises
    :class:`~bitloops.SharedStoreUnavailable` when the server cannot be reached.
    """
    try:
        import psycopg
    except ImportError as exc:
        raise SharedStoreUnavailable(
            "a PostgreSQL store needs psycopg: install bitloops[postgres]"
        ) from exc
    name = f"bitloops_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(server_url, autocommit=True)
    except psycopg.Error as exc:
        raise SharedStoreUnavailable(
            f"cannot connect to the PostgreSQL server for the test schema: {exc}; check the URL "
            "and that the server runs"
        ) from exc
    from bitloops.store._postgres import create_schema, drop_schema

    with admin:
        create_schema(admin, name)
        try:
            yield _with_search_path(server_url, name)
        finally:
            drop_schema(admin, name)


def _with_search_path(url: str, schema: str) -> str:
    """``url`` with ``search_path`` set to ``schema``, added to the ``options`` it has.

    libpq takes the last of repeated parameters, so a second ``options`` would drop the
    user's own (a role, a statement timeout). The other parameters are kept as written:
    libpq reads "+" as itself, where ``parse_qsl`` would make it a space.
    """
    parts = urlsplit(url)
    kept, given = [], []
    for piece in parts.query.split("&") if parts.query else ():
        key, _, value = piece.partition("=")
        if unquote(key) == "options":
            given.append(unquote(value))
        else:
            kept.append(piece)
    options = " ".join([*given, f"-csearch_path={schema}"])
    kept.append(f"options={quote(options, safe='')}")
    return urlunsplit(parts._replace(query="&".join(kept)))


def _use_committed_store(top: Path, url: str) -> None:
    settings = top / ".bitloops" / "settings.local.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"committed_store": url}) + "\n", encoding="utf-8")
