"""The shipped JSON Schemas match what the code writes: checkpoint folders and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import write_transcript
from conftest import commit_files, git
from web_fixtures import build_repo, stop_server

import bitloops
from bitloops import schemas

jsonschema = pytest.importorskip("jsonschema")

SCHEMA_DIR = Path(schemas.__file__).parent
DOCS = Path(__file__).resolve().parent.parent / "docs" / "storage.md"


def validate(name: str, data: Any) -> None:
    """Fail with every error found when ``data`` does not match the schema ``name``."""
    validator = jsonschema.Draft202012Validator(schemas.load(name))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, f"{name}: " + "; ".join(errors[:5])


def cli(repo: Path, *args: str, status: int | None = 0) -> Any:
    """``bitloops ARGS`` in ``repo`` (exiting with ``status``, unless None); its JSON output."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status is None or proc.returncode == status, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two checkpoints with every kind of record, one of them retracted."""
    repo = tmp_path_factory.mktemp("schemas") / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_files(repo, {"README.md": "# demo\n"}, "initial commit")
    first, second = build_repo(repo)
    with bitloops.Repository.open(repo) as r:
        r.retract(first.summary.alternatives[0].record_id, because="we did use it later")
        r.start_session(agent="cursor", model="gpt-5").prompt("Still open")  # for status
    return repo, [first.checkpoint_id, second.checkpoint_id]


def test_schemas_are_valid_and_all_shipped() -> None:
    """Every file is a valid draft 2020-12 schema, and SCHEMAS lists exactly the files."""
    files = sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))
    assert files == sorted(schemas.SCHEMAS)
    for name in schemas.SCHEMAS:
        schema = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with pytest.raises(schemas.UnknownSchema, match="pick one of"):
        schemas.load("nope")


def test_docs_list_every_schema() -> None:
    """docs/storage.md names each schema file."""
    text = DOCS.read_text(encoding="utf-8")
    for name in schemas.SCHEMAS:
        assert f"`{name}.schema.json`" in text, name


def test_checkpoint_folders_match(recorded: tuple[Path, list[str]]) -> None:
    """session.json and every transcript.jsonl line of every folder written."""
    repo, _ = recorded
    folders = sorted(p.parent for p in (repo / ".bitloops").rglob("session.json"))
    assert len(folders) == 2
    for folder in folders:
        session = json.loads((folder / "session.json").read_text(encoding="utf-8"))
        validate("checkpoint-session", session)
        lines = (folder / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == session["event_count"]
        for line in lines:
            validate("checkpoint-event", json.loads(line))


def test_a_session_json_breaking_the_format_is_caught(recorded: tuple[Path, list[str]]) -> None:
    """The schema is not vacuous: a wrong type, a missing key, a bad SHA all fail."""
    repo, _ = recorded
    good = json.loads(next((repo / ".bitloops").rglob("session.json")).read_text())
    validator = jsonschema.Draft202012Validator(schemas.load("checkpoint-session"))
    assert validator.is_valid(good)
    for broken in (
        {**good, "commit_sha": "HEAD"},
        {**good, "event_count": "12"},
        {k: v for k, v in good.items() if k != "summary"},
        {**good, "format": "bitloops.checkpoint/v2"},
        {**good, "files": [{**good["files"][0], "change": "moved"}]},
    ):
        assert not validator.is_valid(broken)


def test_json_outputs_match(recorded: tuple[Path, list[str]], tmp_path: Path) -> None:
    """Each command's --json output matches its schema."""
    repo, ids = recorded
    explain = cli(repo, "explain", "HEAD~1", "--full", "--json")
    assert explain["checkpoints"][0]["retractions"]  # the retraction is in the shape
    validate("explain", explain)
    validate("explain", cli(repo, "explain", "--json"))
    status = cli(repo, "status", "--json")
    assert status["sessions"]
    validate("status", status)
    validate("rewind", cli(repo, "rewind", "--list", "--json"))
    hits = cli(repo, "search", "backoff", "--json")
    assert hits
    validate("search", hits)
    validate("verify", cli(repo, "verify", "--json"))
    validate("log", cli(repo, "log", "client.py", "--json"))
    validate("blame", cli(repo, "blame", "client.py", "--json"))
    validate("review", cli(repo, "review", "HEAD~2..HEAD", "--format", "json"))
    export = cli(repo, "export", "--html", "HEAD~2..HEAD", "-o", str(tmp_path / "x"), "--json")
    assert export["checkpoints"] == ids
    validate("export", export)


def test_serve_json_matches(recorded: tuple[Path, list[str]]) -> None:
    """The object `bitloops serve --json` prints once it listens."""
    repo, _ = recorded
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitloops", "serve", "--port", "0", "--json"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            line = proc.stdout.readline()
            assert line, "bitloops serve exited before printing its JSON"
            lines.append(line)
        data = json.loads("".join(lines))
    finally:
        stop_server(proc)
    assert data["url"] == f"http://127.0.0.1:{data['port']}/"
    validate("serve", data)


def test_more_json_outputs_match(git_repo: Path, tmp_path: Path) -> None:
    """doctor, record, import, enable, disable, fetch, sync and resume."""
    build_repo(git_repo)
    validate("doctor", cli(git_repo, "doctor", "--json", status=None))
    recorded = cli(git_repo, "record", "decision", "Keep it small", "--because", "KISS", "--json")
    validate("record", recorded)
    retracted = cli(git_repo, "record", "retract", recorded["record_id"], "--because", "no",
                    "--json")  # fmt: skip
    validate("record", retracted)
    transcript = write_transcript("claude_code", "transcript.jsonl", git_repo, tmp_path / "t.jsonl")
    validate("import", cli(git_repo, "import", "claude-code", str(transcript), "--json"))
    enabled = cli(git_repo, "enable", "--agent", "claude-code", "--json")
    assert enabled["agents"]
    validate("enable", enabled)
    validate("disable", cli(git_repo, "disable", "--agent", "claude-code", "--json"))
    validate("disable", cli(git_repo, "disable", "--json"))
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(git_repo, "remote", "add", "origin", str(remote))
    validate("fetch", cli(git_repo, "fetch", "origin", "--json", status=1))  # no ref there
    settings = git_repo / ".bitloops" / "settings.local.json"
    settings.write_text('{"committed_store": "postgresql://postgres@127.0.0.1:1/test"}\n')
    synced = cli(git_repo, "sync", "--json", status=1)  # nothing listens there
    assert synced["error"]
    validate("sync", synced)
    settings.unlink()
    git(git_repo, "checkout", "-q", "-b", "other")
    resumed = cli(git_repo, "resume", "main", "--json")
    assert resumed["checkpoint"] is not None
    validate("resume", resumed)
