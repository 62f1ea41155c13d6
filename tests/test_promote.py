"""Promotion of the draft into immutable checkpoints, and reading them back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import commit_files, git

import bitloops
from bitloops.checkpoint import _symbols
from bitloops.checkpoint._files import CHECKPOINTS_DIR, checkpoint_dir
from bitloops.checkpoint._promote import _build
from bitloops.checkpoint._summary import StructuredSummarizer
from bitloops.model import Symbol


def _session(repo: bitloops.Repository) -> bitloops.Session:
    s = repo.start_session(agent="claude-code", model="claude-sonnet-4")
    s.prompt("Add retries to the HTTP client")
    s.reasoning("Requests fail under load with 503s.")
    s.plan("Wrap send() in a retry loop")
    s.constraint("No new dependencies")
    s.alternative("Use the tenacity library", reason="adds a dependency")
    s.decision("Exponential backoff with jitter", rationale="avoids synchronised retries")
    s.tool_use("edit", {"path": "client.py"}, output="ok")
    s.file_change("client.py", "modified")
    s.response("Added retries with exponential backoff.")
    return s


CLIENT_V1 = (
    "class Client:\n    def send(self):\n        return 1\n\n\ndef helper():\n    return 2\n"
)
CLIENT_V2 = (
    "class Client:\n    def send(self):\n        for _ in range(3):\n            return 1\n\n\n"
    "def helper():\n    return 2\n"
)


def test_promote_moves_the_draft_into_a_checkpoint(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """promote() creates a complete checkpoint linked to the commit and empties the draft."""
    commit_files(git_repo, {"client.py": CLIENT_V1}, "add client")
    _session(repo)
    sha = commit_files(git_repo, {"client.py": CLIENT_V2}, "retries")
    cp = repo.promote("HEAD")
    assert cp is not None
    assert cp.commit_sha == sha and cp.commits == (sha,)
    assert cp.checkpoint_id != sha and len(cp.content_hash) == 64
    assert [e.kind for e in cp.events][:2] == ["session_start", "prompt"]
    assert cp.summary.intent == ("Add retries to the HTTP client",)
    assert cp.summary.outcome == ("Added retries with exponential backoff.",)
    assert cp.summary.decisions[0].rationale == "avoids synchronised retries"
    assert cp.summary.alternatives[0].reason == "adds a dependency"
    assert [c.text for c in cp.summary.constraints] == ["No new dependencies"]
    assert [f.path for f in cp.files] == ["client.py"]
    assert cp.files[0].in_commit and cp.files[0].by_agent
    names = {(s.name, s.kind) for s in cp.symbols}
    assert ("Client.send", "method") in names and ("client", "module") in names
    assert ("helper", "function") not in names
    assert cp.models == (bitloops.ModelIdentity(agent="claude-code", model="claude-sonnet-4"),)
    assert cp.sessions[0].event_count == len(cp.events)
    assert repo.draft().events == ()
    assert repo.store.execute("SELECT count(*) FROM live_events") == [(0,)]
    assert repo.checkpoint("HEAD") == cp
    assert repo.checkpoint(cp.checkpoint_id) == cp
    assert repo.status().checkpoint_count == 1


def test_promote_is_idempotent_and_leaves_the_draft(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Promoting a commit that has a checkpoint returns it and leaves new draft events."""
    s = _session(repo)
    commit_files(git_repo, {"a.txt": "1"})
    first = repo.promote()
    s.prompt("more work")
    again = repo.promote("HEAD")
    assert again == first
    assert [e.kind for e in repo.draft().events] == ["prompt"]
    assert repo.status().checkpoint_count == 1


def test_promote_with_empty_draft_returns_none(repo: bitloops.Repository) -> None:
    """Nothing recorded means no checkpoint."""
    assert repo.promote("HEAD") is None
    with pytest.raises(bitloops.CheckpointNotFound):
        repo.checkpoint("HEAD")


def test_unknown_ref_is_a_clear_error(repo: bitloops.Repository) -> None:
    """An unknown ref raises UnknownRef and changes nothing."""
    repo.start_session(agent="a").prompt("x")
    with pytest.raises(bitloops.UnknownRef, match="no-such-branch"):
        repo.promote("no-such-branch")
    with pytest.raises(bitloops.UnknownRef):
        repo.checkpoint("--upload-pack=evil")
    assert len(repo.draft().events) == 2


def test_files_on_disk_rebuild_an_equal_checkpoint(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """The folder on disk holds session.json, summary.md, transcript.jsonl and reads back equal."""
    _session(repo)
    sha = commit_files(git_repo, {"client.py": CLIENT_V1})
    cp = repo.promote()
    assert cp is not None
    folder = git_repo / CHECKPOINTS_DIR / sha
    assert sorted(p.name for p in folder.iterdir()) == [
        "session.json",
        "summary.md",
        "transcript.jsonl",
    ]
    assert bitloops.read_checkpoint_dir(folder) == cp
    lines = (folder / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == len(cp.events)
    assert json.loads(lines[1])["payload"]["text"] == "Add retries to the HTTP client"
    summary = (folder / "summary.md").read_text()
    assert "Exponential backoff with jitter" in summary and "tenacity" in summary
    meta = json.loads((folder / "session.json").read_text())
    assert meta["sessions"][0]["agent"] == "claude-code"
    assert (git_repo / ".bitloops" / ".gitignore").read_text().count("settings.local.json") == 1


def test_parent_hash_chains_first_parent_checkpoints(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Each checkpoint carries the hash of the nearest first-parent ancestor's checkpoint."""
    s = repo.start_session(agent="a")
    s.prompt("one")
    commit_files(git_repo, {"a.txt": "1"})
    first = repo.promote()
    commit_files(git_repo, {"a.txt": "2"})  # a commit without a checkpoint
    s.prompt("two")
    commit_files(git_repo, {"a.txt": "3"})
    second = repo.promote()
    assert first is not None and second is not None
    assert first.parent_hash is None
    assert second.parent_hash == first.content_hash
    assert second.parent_checkpoint_id == first.checkpoint_id
    assert [c.checkpoint_id for c in repo.checkpoints()] == [
        second.checkpoint_id,
        first.checkpoint_id,
    ]


def test_several_sessions_and_agents_in_one_checkpoint(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Every session's draft of the worktree lands in one checkpoint, tagged by agent and model."""
    a = repo.start_session(agent="claude-code", model="opus")
    b = repo.start_session(agent="cursor", model="gpt-5")
    a.prompt("from claude")
    b.prompt("from cursor")
    commit_files(git_repo, {"x.txt": "x"})
    cp = repo.promote()
    assert cp is not None
    assert {(m.agent, m.model) for m in cp.models} == {("claude-code", "opus"), ("cursor", "gpt-5")}
    assert {s.agent for s in cp.sessions} == {"claude-code", "cursor"}
    keys = [(e.ts, e.session_id, e.seq) for e in cp.events]
    assert keys == sorted(keys)
    assert set(cp.summary.agents) == {"claude-code", "cursor"}


def test_agent_reported_files_outside_the_commit_are_listed(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Files the agent changed but did not commit are kept, flagged as not in the commit."""
    s = repo.start_session(agent="a")
    s.file_change(str(git_repo / "scratch.py"), "added")
    commit_files(git_repo, {"real.py": "x = 1\n"})
    cp = repo.promote()
    assert cp is not None
    files = {f.path: f for f in cp.files}
    assert files["scratch.py"].by_agent and not files["scratch.py"].in_commit
    assert files["real.py"].in_commit and not files["real.py"].by_agent


def test_checkpoints_by_commit_lists_every_link(repo: bitloops.Repository, git_repo: Path) -> None:
    """checkpoints(commit=REF) returns all checkpoints linked to it; link() adds links."""
    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote()
    assert cp is not None
    git(git_repo, "commit", "-q", "--amend", "-m", "amended")
    assert repo.link("HEAD", cp.checkpoint_id, "amend") is True
    assert repo.link("HEAD", cp.checkpoint_id, "amend") is False
    linked = repo.checkpoints(commit="HEAD")
    assert [c.checkpoint_id for c in linked] == [cp.checkpoint_id]
    assert linked[0].commits[1] == git(git_repo, "rev-parse", "HEAD").strip()
    assert linked[0].content_hash == cp.content_hash
    assert attrs.evolve(linked[0], commits=cp.commits) == cp
    assert repo.verify().ok


def test_root_commit_and_deleted_python_file(repo: bitloops.Repository, tmp_path: Path) -> None:
    """Promotion works on a root commit and lists symbols of a deleted file."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    r = bitloops.Repository.open(fresh)
    r.start_session(agent="a").prompt("create")
    commit_files(fresh, {"m.py": "def gone():\n    return 1\n"})
    root = r.promote()
    assert root is not None and {s.name for s in root.symbols} == {"m", "gone"}
    r.start_session(agent="a").prompt("delete")
    commit_files(fresh, {"m.py": None})
    cp = r.promote()
    assert cp is not None
    assert cp.files[0].change == "deleted"
    assert "gone" in {s.name for s in cp.symbols}
    r.close()


def test_custom_summarizer_is_used(repo: bitloops.Repository, git_repo: Path) -> None:
    """A Summarizer passed to promote() writes the summary, e.g. prose from an LLM."""

    class Prose:
        def summarize(self, **kwargs: Any) -> bitloops.Summary:
            base = bitloops.StructuredSummarizer().summarize(**kwargs)
            return attrs.evolve(base, text="Retries were added.")

    assert isinstance(Prose(), bitloops.Summarizer)
    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote(summarizer=Prose())
    assert cp is not None and cp.summary.text == "Retries were added."
    assert (
        "Retries were added."
        in (git_repo / CHECKPOINTS_DIR / cp.commit_sha / "summary.md").read_text()
    )


def test_checkpoint_files_none_keeps_the_database_only(git_repo: Path) -> None:
    """With checkpoint_files set to none, no folder is written."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops" / "settings.json").write_text('{"checkpoint_files": "none"}')
    r = bitloops.Repository.open(git_repo)
    r.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    assert r.promote() is not None
    assert not (git_repo / CHECKPOINTS_DIR).exists()
    r.close()


def test_promoting_again_rewrites_a_missing_folder(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A folder lost after the move committed (a crash, a deletion) is written on the next try."""
    import shutil

    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote()
    folder = git_repo / CHECKPOINTS_DIR / sha
    shutil.rmtree(folder)
    assert [p.kind for p in repo.verify().problems] == ["files_missing"]
    assert repo.verify().ok
    assert repo.promote() == cp
    assert bitloops.read_checkpoint_dir(folder) == cp
    assert repo.verify().problems == ()


def test_promotion_retries_when_the_draft_changed_underneath(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A draft read before a purge or another promotion is never moved as read."""
    s = repo.start_session(agent="a")
    s.prompt("secret-ish 99887766")
    store = repo.store
    snapshot = store.draft_rows(repo.worktree)
    repo.purge("99887766", reason="test")
    commit_files(git_repo, {"a.txt": "1"})
    sha = git(git_repo, "rev-parse", "HEAD").strip()
    _, row, index = _build(repo, sha, snapshot, StructuredSummarizer())
    moved = store.move_draft(worktree=repo.worktree, draft=snapshot, row=row, index=index)
    assert moved is False
    cp = repo.promote()
    assert cp is not None and repo.verify().ok
    assert "99887766" not in str(cp.events[1].payload)


def test_custom_symbol_extractors_are_used(git_repo: Path) -> None:
    """Extractors passed to Repository.open take part in promotion."""

    class Shell:
        language = "shell"

        def handles(self, path: str) -> bool:
            return path.endswith(".sh")

        def symbols(self, path: str, source: str, lines: frozenset[int]) -> list[Symbol]:
            return [Symbol(path=path, name="script", kind="module", language="shell")]

    repo = bitloops.Repository.open(git_repo, symbol_extractors=[Shell()])
    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"run.sh": "echo hi\n"})
    cp = repo.promote()
    assert cp is not None
    assert cp.symbols == (Symbol(path="run.sh", name="script", kind="module", language="shell"),)
    repo.close()


def test_unwritable_folder_is_a_clear_error_and_the_checkpoint_is_kept(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """If the folder cannot be written, the error says the checkpoint is stored; retry writes it."""
    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    blocker = git_repo / CHECKPOINTS_DIR
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    with pytest.raises(bitloops.CheckpointFilesError, match="is stored"):
        repo.promote()
    assert repo.checkpoint("HEAD").commit_sha == sha
    blocker.unlink()
    assert repo.promote() is not None
    assert (blocker / sha / "session.json").exists()


def test_a_huge_python_file_gets_no_symbols_and_a_note(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A 1.6 MiB .py file: no symbols, no diff lines read, a note in the summary; others kept."""
    huge = "".join(f"def generated_{i}():\n    return {i}\n" for i in range(50_000))
    assert len(huge) > 1 << 20  # _symbols.MAX_FILE_BYTES
    with repo.start_session(agent="a") as s:
        s.prompt("regenerate the tables")
    commit_files(git_repo, {"gen/tables.py": huge, "app.py": "def main():\n    pass\n"})
    started = time.monotonic()
    cp = repo.promote()
    assert time.monotonic() - started < 20
    assert cp is not None
    assert {(x.path, x.name) for x in cp.symbols} == {("app.py", "app"), ("app.py", "main")}
    assert {f.path for f in cp.files} == {"app.py", "gen/tables.py"}
    notes = [x for x in cp.summary.symbols if x.startswith("skipped: ")]
    assert len(notes) == 1 and "gen/tables.py" in notes[0] and "1.0 MiB" in notes[0]
    summary_md = (checkpoint_dir(git_repo, cp.commit_sha) / "summary.md").read_text()
    assert f"- {notes[0]}" in summary_md
    assert repo.checkpoint(cp.commit_sha).summary.symbols == cp.summary.symbols  # reads back


def test_promotion_reads_a_bounded_amount_of_source(
    repo: bitloops.Repository, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_SOURCE_BYTES of source the files are not read, and the summary says which."""
    monkeypatch.setattr(_symbols, "MAX_SOURCE_BYTES", 100)
    with repo.start_session(agent="a") as s:
        s.prompt("three modules")
    body = "def f():\n    return 'a fairly long line of text'\n"  # 48 bytes
    commit_files(git_repo, {"a.py": body, "b.py": body, "c.py": body})
    cp = repo.promote()
    assert cp is not None
    assert {x.path for x in cp.symbols} == {"a.py", "b.py"}
    assert cp.summary.symbols[-1] == (
        "skipped: the symbols of c.py (at most 100 bytes of source is read per checkpoint)"
    )
