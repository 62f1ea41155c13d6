"""Full-text search over committed transcripts: Repository.search and its index."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.checkpoint._search import fallback_query


def _commit_session(
    repo: bitloops.Repository, git_repo: Path, name: str, *texts: tuple[str, str]
) -> bitloops.Checkpoint:
    """Record one session of (kind, text) events, commit a file and promote it."""
    s = repo.start_session(agent="claude-code", model="opus-4")
    for kind, text in texts:
        if kind == "prompt":
            s.prompt(text)
        elif kind == "response":
            s.response(text)
        elif kind == "decision":
            s.decision(text, rationale=f"because {name}")
        else:
            s.record(kind, {"text": text})
    s.end()
    commit_files(git_repo, {f"{name}.txt": name}, f"commit {name}")
    cp = repo.promote()
    assert cp is not None
    return cp


@pytest.fixture
def three(repo: bitloops.Repository, git_repo: Path) -> list[bitloops.Checkpoint]:
    """Three checkpoints, oldest first, each mentioning the retry work differently."""
    return [
        _commit_session(
            repo,
            git_repo,
            "one",
            ("prompt", "Add retries to the HTTP client"),
            ("response", "Added a retry loop around send()"),
        ),
        _commit_session(
            repo,
            git_repo,
            "two",
            ("prompt", "Make the retry delay grow"),
            ("decision", "Exponential backoff with jitter"),
        ),
        _commit_session(
            repo,
            git_repo,
            "three",
            ("prompt", "Document the client"),
            ("response", "Wrote docs about retries and exponential backoff"),
        ),
    ]


def test_finds_prompt_response_and_decision_text(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint]
) -> None:
    """Words from prompts, responses and decisions are found, each hit with its commit."""
    one, two, three_ = three
    hits = repo.search("retry")  # porter stemming: retry, retries
    assert [h.checkpoint_id for h in hits] == [
        three_.checkpoint_id,
        two.checkpoint_id,
        one.checkpoint_id,
        one.checkpoint_id,
    ]
    assert {h.event.kind for h in hits} == {"prompt", "response"}
    decision = repo.search("jitter")
    assert len(decision) == 1
    hit = decision[0]
    assert hit.event.kind == "decision"
    assert hit.event.payload["text"] == "Exponential backoff with jitter"
    assert hit.checkpoint_id == two.checkpoint_id
    assert hit.commit_sha == two.commit_sha
    assert hit.commits == (two.commit_sha,)
    assert hit.created_at == two.created_at
    assert "[jitter]" in hit.snippet
    response = repo.search("loop")
    assert [(h.event.kind, h.commit_sha) for h in response] == [("response", one.commit_sha)]


def test_results_are_newest_checkpoint_first(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint]
) -> None:
    """Hits come newest checkpoint first, and limit keeps the newest ones."""
    hits = repo.search("exponential")
    assert [h.checkpoint_id for h in hits] == [three[2].checkpoint_id, three[1].checkpoint_id]
    assert [h.created_at for h in hits] == sorted((h.created_at for h in hits), reverse=True)
    limited = repo.search("retry", limit=1)
    assert [h.checkpoint_id for h in limited] == [three[2].checkpoint_id]


def test_hit_lists_every_linked_commit(
    repo: bitloops.Repository, git_repo: Path, three: list[bitloops.Checkpoint]
) -> None:
    """A checkpoint linked to a rewritten commit reports both, the original first."""
    one = three[0]
    git(git_repo, "checkout", "-q", "-b", "side")
    rewritten = commit_files(git_repo, {"side.txt": "x"}, "side")
    assert repo.link(rewritten, one.checkpoint_id, "rebase")
    hit = repo.search("loop")[0]
    assert hit.commit_sha == one.commit_sha
    assert hit.commits == (one.commit_sha, rewritten)


def test_no_hit_is_an_empty_list(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint]
) -> None:
    """A word that appears nowhere returns [] rather than raising."""
    assert repo.search("kubernetes") == []


def test_empty_database_has_no_hits(repo: bitloops.Repository) -> None:
    """Searching before anything was promoted returns []."""
    assert repo.search("anything") == []


def test_fts_syntax_works(repo: bitloops.Repository, three: list[bitloops.Checkpoint]) -> None:
    """Phrases, prefixes, boolean operators and column filters follow FTS5 syntax."""
    assert [h.event.kind for h in repo.search('"retry loop"')] == ["response"]
    assert len(repo.search("expon*")) == 2
    assert len(repo.search("backoff NOT jitter")) == 1
    assert [h.event.kind for h in repo.search("kind:decision")] == ["decision"]
    assert len(repo.search("opus")) == sum(len(cp.events) for cp in three)


def test_plain_words_that_are_not_fts_syntax_still_search(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint]
) -> None:
    """Input FTS5 rejects (punctuation, a stray colon) is searched with its words quoted."""
    assert [h.event.kind for h in repo.search("send()")] == ["response"]
    assert len(repo.search("claude-code")) == sum(len(cp.events) for cp in three)
    assert [h.event.kind for h in repo.search("retry: loop")] == ["response"]


def test_fallback_query_quotes_each_word() -> None:
    """Words become phrases, inner quotes are doubled and a trailing * stays a prefix."""
    assert fallback_query('fix-retries a"b retr* *') == '"fix-retries" "a""b" "retr"* "*"'


@pytest.mark.parametrize("query", ['"unbalanced', 'retry "loop', "   ", ""])
def test_bad_query_raises_invalid_search(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint], query: str
) -> None:
    """An unbalanced quote or an empty query raises InvalidSearch, a BitloopsError."""
    with pytest.raises(bitloops.InvalidSearch) as info:
        repo.search(query)
    assert isinstance(info.value, bitloops.BitloopsError)
    assert isinstance(info.value, ValueError)
    assert "quote" in str(info.value) or "empty" in str(info.value)


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_bad_limit_raises_invalid_search(repo: bitloops.Repository, limit: object) -> None:
    """limit must be a positive integer."""
    with pytest.raises(bitloops.InvalidSearch, match="limit"):
        repo.search("x", limit=limit)  # type: ignore[arg-type]  # the wrong type is the test


def test_draft_events_are_not_searched(
    repo: bitloops.Repository, git_repo: Path, three: list[bitloops.Checkpoint]
) -> None:
    """Events still in the live draft are invisible to search until promoted."""
    s = repo.start_session(agent="claude-code")
    s.prompt("Investigate the zeppelin outage")
    assert repo.search("zeppelin") == []
    commit_files(git_repo, {"z.txt": "z"}, "zeppelin")
    cp = repo.promote()
    assert cp is not None
    assert [h.checkpoint_id for h in repo.search("zeppelin")] == [cp.checkpoint_id]


def test_purge_removes_the_secret_from_the_index_and_the_file(
    repo: bitloops.Repository, git_repo: Path, three: list[bitloops.Checkpoint]
) -> None:
    """After purge, the secret is not found and its bytes are in no database file."""
    secret = "Zq7xSecretKeyWv93Lm"
    cp = _commit_session(
        repo, git_repo, "leak", ("prompt", f"use the key {secret} for the staging api")
    )
    assert [h.checkpoint_id for h in repo.search(secret)] == [cp.checkpoint_id]
    report = repo.purge(secret, reason="pasted in a prompt")
    assert report.erased
    assert repo.search(secret) == []
    assert repo.search(secret.lower()) == []
    hits = repo.search("staging")
    assert [h.checkpoint_id for h in hits] == [cp.checkpoint_id]
    assert "[PURGED]" in hits[0].event.payload["text"]
    assert len(repo.search("purged")) == 1  # the replacement is indexed instead
    assert repo.verify().ok
    repo.close()
    for path in repo.db_path.parent.iterdir():
        if path.is_file():
            data = path.read_bytes().lower()
            assert secret.lower().encode() not in data, path


def test_index_stays_consistent_with_checkpoint_events(
    repo: bitloops.Repository, git_repo: Path, three: list[bitloops.Checkpoint]
) -> None:
    """The index has one entry per committed event and passes FTS5's integrity check."""
    repo.search("anything")  # index what promotion left for later
    repo.purge("backoff", reason="test an update", replacement="slowdown")
    repo.close()
    conn = apsw.Connection(str(repo.db_path))
    try:
        events = conn.execute("SELECT count(*) FROM checkpoint_events").get
        indexed = conn.execute("SELECT count(*) FROM checkpoint_events_fts").get
        assert events == indexed == sum(len(cp.events) for cp in three)
        conn.execute(
            "INSERT INTO checkpoint_events_fts (checkpoint_events_fts) VALUES ('integrity-check')"
        )
    finally:
        conn.close()
    again = bitloops.Repository.open(git_repo)
    assert again.search("backoff") == []
    assert len(again.search("slowdown")) == 2
    again.close()


def test_verify_passes_with_the_search_triggers(
    repo: bitloops.Repository, three: list[bitloops.Checkpoint]
) -> None:
    """The extra FTS triggers do not upset verify's immutability-trigger check."""
    report = repo.verify()
    assert report.ok, report.problems
    names = {
        r[0] for r in repo.store.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
    }
    assert "checkpoint_events_fts_update" in names
    assert "checkpoint_events_fts_insert" not in names  # indexing is not promotion's job


def test_promotion_leaves_indexing_to_the_next_search(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Promotion does not index (it holds the write lock); the next search catches up."""
    repo.start_session(agent="a").prompt("a distinctive zebra prompt")
    commit_files(git_repo, {"z.txt": "1"})
    assert repo.promote() is not None
    assert repo.store.execute("SELECT count(*) FROM checkpoint_events_fts") == [(0,)]
    hits = repo.search("zebra")
    assert [h.event.kind for h in hits] == ["prompt"]
    indexed = repo.store.execute("SELECT count(*) FROM checkpoint_events_fts")[0][0]
    assert indexed == repo.store.execute("SELECT count(*) FROM checkpoint_events")[0][0]


def test_purge_of_events_not_yet_indexed(repo: bitloops.Repository, git_repo: Path) -> None:
    """A purge before any search leaves nothing of the secret for the later indexing."""
    repo.start_session(agent="a").prompt("token zanzibar-secret-77 here")
    commit_files(git_repo, {"z.txt": "1"})
    repo.promote()
    repo.purge("zanzibar-secret-77", reason="test")
    assert repo.search("zanzibar*") == []
    assert len(repo.search("PURGED")) == 1
