"""Edge cases of sessions, connections, settings and purges found in review."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_files, git

import bitloops
from bitloops.checkpoint._files import CHECKPOINTS_DIR
from bitloops.model import Symbol
from bitloops.settings import load_settings


def test_closing_one_repository_leaves_the_others_working(git_repo: Path) -> None:
    """Repositories share one connection per process; it closes with the last of them."""
    first = bitloops.Repository.open(git_repo)
    second = bitloops.Repository.open(git_repo)
    s = second.start_session(agent="a")
    first.start_session(agent="b")
    first.close()
    assert s.prompt("still recording").seq == 2
    second.close()
    third = bitloops.Repository.open(git_repo)
    assert len(third.draft().events) == 3
    third.close()


def test_record_session_end_ends_the_session(repo: bitloops.Repository) -> None:
    """The generic record('session_end') ends the session like end() does."""
    s = repo.start_session(agent="a")
    event = s.record("session_end", {"reason": "agent exited"})
    assert s.ended and type(event.kind) is str
    assert repo.store.sessions()[0].status == "ended"
    with pytest.raises(bitloops.SessionEnded):
        repo.session(s.session_id).prompt("late")
    resumed = repo.start_session(agent="a", session_id=s.session_id)
    assert resumed.prompt("resumed").seq == 4


def test_mixed_key_types_get_a_clear_message(repo: bitloops.Repository) -> None:
    """A payload with int and str keys says that keys must be strings."""
    s = repo.start_session(agent="a")
    with pytest.raises(bitloops.InvalidPayload, match="keys must all be strings"):
        s.record("note", {1: "a", "b": 2})


def test_agent_and_model_names_are_redacted(repo: bitloops.Repository) -> None:
    """A credential passed as an agent or model name is redacted like any payload."""
    token = "ghp_" + "FAKE0123456789abcdefABCDEF0123456789ab"
    s = repo.start_session(agent=f"bot-{token}", model=token)
    assert token not in s.agent and token not in (s.model or "")
    assert token not in repo.db_path.read_bytes().decode("utf-8", "replace")


def test_personal_redact_patterns_add_to_the_teams(git_repo: Path) -> None:
    """Patterns from settings.local.json and the environment extend the shared ones."""
    folder = git_repo / ".bitloops"
    folder.mkdir()
    (folder / "settings.json").write_text('{"redact": {"extra_patterns": ["team-[0-9]+"]}}')
    (folder / "settings.local.json").write_text(
        '{"redact": {"extra_patterns": ["mine-[0-9]+"], "typo": 1}}'
    )
    settings = load_settings(git_repo, environ={"BITLOOPS_REDACT": "env-[0-9]+"})
    assert settings.redact_patterns == ("team-[0-9]+", "mine-[0-9]+", "env-[0-9]+")
    assert any("redact.typo" in w for w in settings.warnings)
    repo = bitloops.Repository.open(git_repo)
    event = repo.start_session(agent="a").prompt("team-1 mine-2 fine-3")
    assert "team-1" not in event.payload["text"] and "mine-2" not in event.payload["text"]
    assert "fine-3" in event.payload["text"]
    repo.close()


def test_purge_of_a_committed_folder_verifies_as_purged(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """After a purge, a folder already in git is reported as to-commit, not as tampering."""
    repo.start_session(agent="a").prompt("my pin is 48151623")
    sha = commit_files(git_repo, {"a.txt": "1"})
    assert repo.promote() is not None
    git(git_repo, "add", CHECKPOINTS_DIR)
    git(git_repo, "commit", "-q", "-m", "carry checkpoint")
    repo.purge("48151623", reason="pin")
    report = repo.verify()
    assert report.ok
    assert {p.kind for p in report.problems} == {"purged", "purge_uncommitted"}
    assert all(p.commit_sha == sha for p in report.problems)


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
    from bitloops.checkpoint._promote import _build
    from bitloops.checkpoint._summary import StructuredSummarizer

    sha = git(git_repo, "rev-parse", "HEAD").strip()
    _, row = _build(repo, sha, snapshot, StructuredSummarizer())
    assert store.move_draft(worktree=repo.worktree, draft=snapshot, row=row) is False
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


def test_seq_stays_unique_when_a_session_moves_between_worktrees(
    git_repo: Path, tmp_path: Path
) -> None:
    """A session resumed in a second worktree never reuses a seq after a promotion."""
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "feature", str(other))
    main = bitloops.Repository.open(git_repo)
    feature = bitloops.Repository.open(other)
    s = main.start_session(agent="a", session_id="travelling")
    s.prompt("in main")
    t = feature.start_session(agent="a", session_id="travelling")
    t.prompt("in feature")
    commit_files(other, {"f.txt": "1"})
    assert feature.promote() is not None
    seqs = [main.session("travelling").prompt("back in main").seq]
    commit_files(git_repo, {"m.txt": "1"})
    first = main.promote()
    assert first is not None
    seqs += [e.seq for e in first.events] + [e.seq for e in feature.checkpoint("feature").events]
    assert sorted(seqs[1:]) == sorted(set(seqs[1:]))
    assert seqs[0] == 5
    main.close()
    feature.close()


def test_a_closed_or_inherited_connection_is_a_clear_error(git_repo: Path) -> None:
    """A session whose repository was closed raises a StoreError, not a driver error."""
    repo = bitloops.Repository.open(git_repo)
    s = repo.start_session(agent="a")
    repo.close()
    with pytest.raises(bitloops.StoreError, match="open the Repository again"):
        s.prompt("too late")


def test_branch_names_are_redacted(git_repo: Path) -> None:
    """A credential in the branch name does not reach the sessions table."""
    token = "glpat-" + "FAKEexample1234567890"
    git(git_repo, "checkout", "-q", "-b", f"fix-{token}")
    repo = bitloops.Repository.open(git_repo)
    repo.start_session(agent="a").prompt("x")
    assert token not in str(repo.draft().sessions[0].branch)
    assert token not in repo.db_path.read_bytes().decode("utf-8", "replace")
    repo.close()


def test_a_folder_restored_from_before_a_purge_is_an_error(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A stale folder that still holds purged text is reported, not accepted."""
    import shutil

    repo.start_session(agent="a").prompt("my pin is 48151623")
    sha = commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    folder = git_repo / CHECKPOINTS_DIR / sha
    backup = git_repo.parent / "backup"
    shutil.copytree(folder, backup)
    repo.purge("48151623", reason="pin")
    shutil.rmtree(folder)
    shutil.copytree(backup, folder)
    kinds = [p.kind for p in repo.verify().problems]
    assert "purge_not_applied" in kinds and not repo.verify().ok


def test_the_checkpoint_branch_is_redacted(git_repo: Path) -> None:
    """A token in the branch name stays out of the checkpoint, its row and its files."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    git(git_repo, "checkout", "-q", "-b", f"fix/{token}")
    repo = bitloops.Repository.open(git_repo)
    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote()
    assert cp is not None and token not in str(cp.branch)
    for path in (git_repo / CHECKPOINTS_DIR / sha).iterdir():
        assert token not in path.read_text()
    repo.close()
    assert token.encode() not in repo.db_path.read_bytes()


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.start_session(agent="a\udcff"),
        lambda r: r.start_session(agent="a", model="m\udcff"),
        lambda r: r.start_session(agent="a", session_id="s\udcff"),
        lambda r: r.start_session(agent="a").record("note", {}, artefacts=("p\udcff",)),
        lambda r: r.start_session(agent="a").record("note", {}, artefacts="abc"),
    ],
)
def test_bad_strings_anywhere_are_invalid_payloads(repo: bitloops.Repository, call) -> None:  # type: ignore[no-untyped-def]
    """Lone surrogates and a bare string for artefacts raise InvalidPayload, not driver errors."""
    with pytest.raises(bitloops.InvalidPayload):
        call(repo)


def test_deeply_nested_payload_is_an_invalid_payload(repo: bitloops.Repository) -> None:
    """A payload nested past the serialiser's limit is refused cleanly."""
    deep: dict[str, object] = {}
    for _ in range(5000):
        deep = {"x": deep}
    with pytest.raises(bitloops.InvalidPayload, match="nested too deeply"):
        repo.start_session(agent="a").record("note", deep)


def test_summary_text_from_a_summariser_is_redacted(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """Prose from a plugged-in summariser passes through redaction too."""
    import attrs

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"

    class Leaky:
        def summarize(self, **kw):  # type: ignore[no-untyped-def]
            base = bitloops.StructuredSummarizer().summarize(**kw)
            return attrs.evolve(base, text=f"used token {token}")

    repo.start_session(agent="a").prompt("x")
    commit_files(git_repo, {"a.txt": "1"})
    cp = repo.promote(summarizer=Leaky())
    assert cp is not None and token not in str(cp.summary.text)


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


def test_verify_reports_forged_folders_and_bad_rows(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """A folder naming an unknown checkpoint, or a deleted session.json, is an error."""
    import apsw

    repo.start_session(agent="a").prompt("x")
    sha = commit_files(git_repo, {"a.txt": "1"})
    repo.promote()
    meta = git_repo / CHECKPOINTS_DIR / sha / "session.json"
    meta.write_text(meta.read_text().replace('"checkpoint_id": "', '"checkpoint_id": "f'))
    assert "files_mismatch" in {p.kind for p in repo.verify().problems}
    meta.unlink()
    assert "files_unreadable" in {p.kind for p in repo.verify().problems}
    conn = apsw.Connection(str(repo.db_path))
    conn.execute("INSERT INTO break_glass VALUES ('x')")
    conn.execute("UPDATE checkpoints SET commit_sha = '../../evil'")
    conn.close()
    (git_repo / CHECKPOINTS_DIR / ("b" * 40)).mkdir()
    kinds = {p.kind for p in repo.verify().problems}
    assert {"row_mismatch", "break_glass_open", "not_in_database"} <= kinds
