"""Full-text search over committed transcripts (SQLite FTS5).

Every event promoted into a checkpoint is indexed: the string values of its payload,
its kind, agent and model. Events still in a draft are not searched. The index is
derived data kept in step with ``checkpoint_events`` by triggers; see
``docs/storage.md``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from bitloops._codec import event_from_line, parse_ts
from bitloops.errors import InvalidSearch
from bitloops.model import Event

if TYPE_CHECKING:
    from bitloops.store._protocols import CommittedStore

__all__ = ["InvalidSearch", "SearchHit", "fallback_query", "search"]


@attrs.frozen(kw_only=True)
class SearchHit:
    """One committed event that matched a search, with the checkpoint holding it."""

    checkpoint_id: str
    #: The commit the checkpoint was created for.
    commit_sha: str
    #: Every commit linked to the checkpoint (the one it was created for first).
    commits: tuple[str, ...]
    created_at: datetime
    event: Event
    #: A short excerpt of the matching text, matches in ``[`` ``]``, cuts marked ``…``.
    snippet: str


_TERM = re.compile(r"\S+")


def fallback_query(query: str) -> str:
    """``query`` with every whitespace-separated word quoted as an FTS5 phrase.

    Double quotes inside a word are doubled (FTS5's escape); a trailing ``*`` stays a
    prefix search. The words must all match (FTS5's implicit AND).
    """
    terms = []
    for term in _TERM.findall(query):
        star = "*" if term.endswith("*") and term.strip("*") else ""
        body = term.rstrip("*") if star else term
        terms.append('"' + body.replace('"', '""') + '"' + star)
    return " ".join(terms)


def search(store: CommittedStore, query: str, *, limit: int = 50) -> list[SearchHit]:
    """Committed events matching ``query``: newest checkpoint first, then by relevance.

    ``query`` is FTS5 query syntax (``retry AND backoff``, ``"exact phrase"``,
    ``retr*``, ``kind:decision``, ``NEAR(a b)``); a shared PostgreSQL store reads it
    as web-search syntax (words, ``"phrases"``, ``or``, ``-word``). Input that FTS5
    cannot parse, such as ``fix-retries`` or ``client.py``, is searched again with each
    word quoted as a phrase. An unbalanced double quote, or input that still does not parse, raises
    :class:`InvalidSearch`.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidSearch("the search query is empty; give one or more words to look for")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidSearch(f"limit must be a positive integer, not {limit!r}")
    try:
        rows = store.search_events(query, limit)
    except InvalidSearch as exc:
        if query.count('"') % 2:
            raise InvalidSearch(
                f"cannot search for {query!r}: it has an unbalanced double quote; close the "
                'phrase with another " or remove it'
            ) from exc
        quoted = fallback_query(query)
        try:
            rows = store.search_events(quoted, limit)
        except InvalidSearch as again:
            raise InvalidSearch(
                f'cannot search for {query!r} ({exc}); use words, "quoted phrases", '
                "prefix* and AND / OR / NOT (SQLite FTS5 query syntax)"
            ) from again
    links = store.commit_links([str(r[1]) for r in rows])
    return [
        SearchHit(
            checkpoint_id=str(cid),
            commit_sha=str(sha),
            commits=tuple(links.get(str(cid), (str(sha),))),
            created_at=parse_ts(str(created)),
            event=event_from_line(str(line)),
            snippet=str(snippet or ""),
        )
        for _, cid, sha, created, line, snippet in rows
    ]
