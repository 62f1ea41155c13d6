"""bitloops.testing, used as a user's own tests would: public names only, real git and SQLite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import bitloops
import bitloops.testing as testing
from bitloops.testing import (
    ClaudeCodeTranscript,
    CodexRollout,
    CopilotEvents,
    CursorTranscript,
    GeminiSession,
    OpenCodeSession,
    TemporaryRepository,
    assert_silent,
    create_repository,
    create_store,
    run_hook,
    temporary_repository,
    temporary_store,
)

DOCS = Path(__file__).parent.parent / "docs" / "python-api.md"
GREET = "def greet(name):\n    return f'Hello, {name}!'\n"


@pytest.fixture
def work(tmp_path: Path) -> TemporaryRepository:
    """A work tree with bitloops' git hooks, in pytest's folder."""
    return create_repository(tmp_path / "work", enabled=True)


# -- the package -----------------------------------------------------------------------


def test_all_is_sorted_complete_and_documented() -> None:
    """__all__ is sorted, every name resolves and has a docstring, dir() agrees."""
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        value = getattr(testing, name)
        if name != "Payload":  # a type alias: documented in the module and the docs
            assert (value.__doc__ or "").strip(), name
    assert set(dir(testing)) >= set(testing.__all__)


def test_import_bitloops_does_not_import_it_and_it_needs_no_pytest() -> None:
    """`import bitloops` leaves bitloops.testing alone; importing it loads no pytest."""
    code = (
        "import sys, bitloops; assert 'bitloops.testing' not in sys.modules; "
        "import bitloops.testing as t; t.run_hook; t.ClaudeCodeTranscript; t.temporary_store; "
        "assert 'pytest' not in sys.modules, 'pytest imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- repositories ----------------------------------------------------------------------


def test_temporary_repository_is_real_git_and_goes_away() -> None:
    """A work tree with one commit of the given files; removed on exit."""
    with temporary_repository(files={"src/app.py": "x = 1\n"}) as repo:
        assert repo.git("ls-files").split() == ["src/app.py"]
        sha = repo.commit({"src/app.py": "x = 2\n", "notes.txt": "hi\n"}, "second")
        assert repo.git("rev-parse", "HEAD").strip() == sha
        assert repo.git("log", "--format=%s").split("\n")[:2] == ["second", "initial commit"]
        folder = repo.path
    assert not folder.exists()


def test_enabled_repository_has_the_git_and_agent_hooks(tmp_path: Path) -> None:
    """`enabled` installs the git hooks; `agents` also each agent's hook file."""
    plain = create_repository(tmp_path / "plain")
    enabled = create_repository(tmp_path / "enabled", agents=["claude-code", "cursor"])
    with plain.open() as r:
        assert r.status().git_hooks == ()
    with enabled.open() as r:
        status = r.status()
        assert "post-commit" in status.git_hooks
        assert set(status.agents_enabled) == {"claude-code", "cursor"}
    assert (enabled.path / ".cursor" / "hooks.json").is_file()


def test_commit_all_makes_the_checkpoint_through_the_hooks_or_itself(
    work: TemporaryRepository, tmp_path: Path
) -> None:
    """With hooks the post-commit hook promotes; with promote=True the helper does."""
    with work.open() as r, r.start_session(agent="my-agent") as s:
        s.prompt("Add greet()")
    work.write({"greet.py": GREET})
    checkpoint = work.commit_all("greet")
    assert checkpoint.commit_sha == work.git("rev-parse", "HEAD").strip()
    assert checkpoint.summary.intent == ("Add greet()",)

    bare = create_repository(tmp_path / "bare")  # no hooks installed
    with bare.open() as r, r.start_session(agent="my-agent") as s:
        s.prompt("Add tests")
    bare.write({"test_greet.py": "def test(): pass\n"})
    assert bare.commit_all("tests", promote=True).summary.intent == ("Add tests",)


def test_commit_skips_the_hooks(work: TemporaryRepository) -> None:
    """A plain commit() makes no checkpoint even with bitloops enabled."""
    with work.open() as r, r.start_session(agent="my-agent") as s:
        s.prompt("Not yet")
    work.commit({"a.txt": "a\n"})
    with work.open() as r:
        assert len(r.draft().events) > 0  # still waiting for a promotion
        with pytest.raises(bitloops.CheckpointNotFound):
            r.checkpoint("HEAD")


def test_git_failure_is_a_bitloops_error(tmp_path: Path) -> None:
    """git failing raises GitError with git's own message."""
    with pytest.raises(bitloops.GitError, match="not a git repository"):
        testing.git(tmp_path, "log")


# -- stores ----------------------------------------------------------------------------


def test_temporary_store_has_a_real_sqlite_file() -> None:
    """The Repository's database exists from the start, and is gone afterwards."""
    with temporary_store() as repo:
        assert repo.db_path.is_file()
        with repo.start_session(agent="my-agent") as s:
            s.decision("Use SQLite", rationale="one file")
        assert [e.kind for e in repo.draft().events][-2:] == ["decision", "session_end"]
        folder = repo.toplevel
    assert not folder.exists()


def test_create_store_in_a_given_folder(tmp_path: Path) -> None:
    """create_store() is the pytest-friendly form; the caller closes it."""
    repo = create_store(tmp_path / "w", files={"a.py": "a = 1\n"})
    try:
        assert repo.toplevel == (tmp_path / "w").resolve()
        assert repo.db_path.is_file()
        assert not repo.team
    finally:
        repo.close()


def test_temporary_store_with_postgres(pg_url: str) -> None:
    """With a server URL, the committed store is a schema of the test's own, dropped after."""
    with temporary_store(postgres_url=pg_url) as repo:
        assert repo.team
        with repo.start_session(agent="my-agent") as s:
            s.prompt("Share this")
        (repo.toplevel / "a.txt").write_text("a\n", encoding="utf-8")
        testing.git(repo.toplevel, "add", "a.txt")
        testing.git(repo.toplevel, "commit", "-q", "--no-verify", "-m", "a")
        checkpoint = repo.promote("HEAD")
        assert checkpoint is not None
        repo.sync()
        shared = repo.shared_store
        assert shared is not None
        assert shared.has_checkpoint(checkpoint.checkpoint_id)
        url = repo.settings.committed_store
    assert url is not None
    schema = re.search(r"search_path%3D(\w+)", url)
    assert schema is not None
    import psycopg

    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema.group(1),)
        ).fetchone()
    assert row == (0,)


def test_an_unreachable_postgres_server_says_so() -> None:
    """No server at the URL: SharedStoreUnavailable, before any schema is made."""
    pytest.importorskip("psycopg")
    with (
        pytest.raises(bitloops.SharedStoreUnavailable, match="cannot connect"),
        testing.temporary_postgres_schema("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"),
    ):
        pass


# -- hooks -----------------------------------------------------------------------------


def _claude_session(repo: TemporaryRepository) -> tuple[ClaudeCodeTranscript, list[Any]]:
    transcript = ClaudeCodeTranscript(cwd=repo.path)
    transcript.user("Add greet()").thinking("One function is enough.")
    transcript.say("I added greet().", final=True)
    transcript.write(repo.path.parent / "claude.jsonl")
    payloads = [
        transcript.hook("SessionStart", source="startup"),
        transcript.hook("UserPromptSubmit", prompt="Add greet()"),
        transcript.hook("Stop", stop_hook_active=False, last_assistant_message="I added greet()."),
    ]
    return transcript, payloads


@pytest.mark.parametrize("as_process", [False, True], ids=["in-process", "subprocess"])
def test_run_hook_records_like_the_agent_hook(work: TemporaryRepository, as_process: bool) -> None:
    """Each payload through the hook entry: silent, each call's own events, the same both ways."""
    _, payloads = _claude_session(work)
    run = run_hook("claude-code", payloads, repo=work, subprocess=as_process)
    assert_silent(run)
    assert len(run) == 3
    assert [e.kind for e in run[0].events] == ["session_start"]
    assert [e.kind for e in run[1].events] == ["prompt"]
    assert {"reasoning", "response"} <= {e.kind for e in run[2].events}
    assert {e.agent for e in run.events} == {"claude-code"}
    assert json.loads(run[1].stdin)["prompt"] == "Add greet()"
    work.write({"greet.py": GREET})
    assert work.commit_all("greet").summary.intent == ("Add greet()",)


def test_run_hook_reports_a_bad_payload(work: TemporaryRepository) -> None:
    """A payload that is not JSON: exit 0, one line on stderr, nothing recorded."""
    for as_process in (False, True):
        run = run_hook("codex", b"{not json", repo=work, subprocess=as_process)
        assert run[0].exit_code == 0
        assert run[0].stdout == b""
        assert b"bitloops" in run[0].stderr
        assert run.events == ()
        with pytest.raises(AssertionError, match="not silent"):
            assert_silent(run)
    with work.open() as r:
        assert r.store.count_quarantine() == 2


def test_run_hook_outside_a_repository(tmp_path: Path) -> None:
    """Outside a work tree the hook still exits 0; nothing to record, no events."""
    payload = {"hook_event_name": "SessionStart", "session_id": "s1", "cwd": str(tmp_path)}
    run = run_hook("claude-code", payload, repo=tmp_path)
    assert len(run) == 1 and run[0].exit_code == 0
    assert run.events == ()
    assert len(run_hook("claude-code", (payload, payload), repo=tmp_path)) == 2


def test_run_hook_hands_back_past_reasoning(work: TemporaryRepository) -> None:
    """The hook's answer on stdout: a later session is told why the file looks as it does."""
    with work.open() as r, r.start_session(agent="claude-code") as s:
        s.prompt("Add greet()")
        s.decision("One function, no class", rationale="nothing else needs greeting")
        s.file_change("greet.py")
    work.write({"greet.py": GREET})
    work.commit_all("greet")
    for as_process in (False, True):
        # A session is told about a file once: each run is a session of its own.
        later = ClaudeCodeTranscript(f"claude-session-{as_process}", cwd=work.path)
        edit = later.hook(
            "PreToolUse",
            tool_name="Edit",
            tool_use_id="toolu_9",
            tool_input={
                "file_path": str(work.path / "greet.py"),
                "old_string": "a",
                "new_string": "b",
            },
        )
        call = run_hook("claude-code", edit, repo=work, subprocess=as_process)[0]
        answer = call.answer()
        assert answer is not None, call.stderr
        assert "One function, no class" in json.dumps(answer)


def test_copilot_event_pairs_set_the_event_variable(work: TemporaryRepository) -> None:
    """An (event, payload) pair tells a camelCase Copilot payload its event, as the entry does."""
    events = CopilotEvents(cwd=work.path)
    events.user("Add greet()").say("Done.")
    events.write(work.path.parent / "copilot" / "events.jsonl")
    prompt = events.hook("userPromptSubmitted", prompt="Add greet()")
    assert isinstance(prompt, tuple) and prompt[0] == "userPromptSubmitted"
    run = run_hook("copilot", [events.hook("sessionStart", source="new"), prompt], repo=work)
    assert_silent(run)
    assert "prompt" in run.kinds()
    assert os.environ.get("BITLOOPS_COPILOT_EVENT") is None  # put back afterwards
    failure = events.hook("PostToolUseFailure", tool_name="bash", error="boom")
    assert isinstance(failure, dict) and failure["hook_event_name"] == "PostToolUseFailure"
    with pytest.raises(ValueError, match="Copilot"):
        run_hook("codex", ("SessionStart", {}), repo=work)
    with pytest.raises(bitloops.UnknownAgent):
        run_hook("no-such-agent", {}, repo=work)


# -- transcript builders ---------------------------------------------------------------


def test_builders_are_deterministic(tmp_path: Path) -> None:
    """The same calls give the same bytes, whenever they are made."""

    def build() -> str:
        t = CodexRollout(cwd=tmp_path)
        t.user("Add greet()").reasoning("Plan").shell("ls", "a\n").say("Done.")
        return t.text()

    assert build() == build()
    first = json.loads(build().splitlines()[0])
    assert first["type"] == "session_meta"
    assert first["timestamp"] == "2026-01-01T09:00:01.000Z"


@pytest.mark.parametrize(
    ("agent", "builder", "home"),
    [
        ("claude-code", ClaudeCodeTranscript, ".claude"),
        ("codex", CodexRollout, ".codex"),
        ("gemini", GeminiSession, ".gemini"),
        ("cursor", CursorTranscript, ".cursor"),
        ("copilot", CopilotEvents, ".copilot"),
    ],
)
def test_each_transcript_is_read_by_its_agent(
    agent: str, builder: Any, home: str, tmp_path: Path
) -> None:
    """Each builder's file, where the agent keeps it, imports as that agent's session."""
    with temporary_store() as repo:
        t = builder(cwd=repo.toplevel)
        t.user("Add greet()")
        if isinstance(t, GeminiSession):
            t.reply("Done.", thoughts=["A module is enough."])
        elif isinstance(t, (ClaudeCodeTranscript, CursorTranscript)):
            t.thinking("A module is enough.").say("Done.")
        else:
            t.reasoning("A module is enough.").say("Done.")
        path = t.write(t.default_path(tmp_path / home))
        assert path.is_relative_to(tmp_path / home)
        result = repo.import_transcript(agent, path)
        events = list(repo.draft().events)
    assert result.new
    by_kind = {e.kind: e.payload.get("text") for e in events}
    assert by_kind["reasoning"] == "A module is enough."
    assert by_kind["response"] == "Done."


def test_tool_calls_are_read(tmp_path: Path) -> None:
    """The tool calls each builder writes come back as tool_use events."""
    gemini = GeminiSession(cwd=tmp_path).user("Write it")
    gemini.reply("Writing.", tools=[("write_file", {"file_path": "g.py", "content": GREET}, "ok")])
    codex = CodexRollout(cwd=tmp_path).user("Look").shell("cat README.md", "# demo\n")
    copilot = CopilotEvents(cwd=tmp_path).user("Look").tool("view", {"path": "README.md"}, "x")
    for agent, built, home in (
        ("gemini", gemini, ".gemini"),
        ("codex", codex, ".codex"),
        ("copilot", copilot, ".copilot"),
    ):
        with temporary_store() as repo:
            repo.import_transcript(agent, built.write(built.default_path(tmp_path / home)))
            assert "tool_use" in {e.kind for e in repo.draft().events}, agent


def test_gemini_writes_the_older_json_form(tmp_path: Path) -> None:
    """A path ending in .json gets one object with the messages, read all the same."""
    session = GeminiSession(cwd=tmp_path).user("Hi").reply("Hello.")
    path = session.write(tmp_path / "session.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["sessionId"] == "gemini-session-1"
    assert [m["type"] for m in document["messages"]] == ["user", "gemini"]
    with temporary_store() as repo:
        repo.import_transcript("gemini", path)
        assert "response" in {e.kind for e in repo.draft().events}


def test_opencode_payloads_and_export(tmp_path: Path) -> None:
    """The plugin's payloads record the session; the export file imports the same."""
    with temporary_store() as repo:
        session = OpenCodeSession(cwd=repo.toplevel)
        session.user("Add greet()").reasoning("Plan").say("Done.")
        session.tool("bash", {"command": "ls"}, "README.md\n")
        run = run_hook("opencode", session.payloads(), repo=repo)
        assert_silent(run)
        assert {"session_start", "prompt", "reasoning", "response", "tool_use"} <= set(run.kinds())
    with temporary_store() as repo:
        repo.import_transcript("opencode", session.write(tmp_path / "export.json"))
        assert {"prompt", "reasoning", "response", "tool_use"} <= {
            e.kind for e in repo.draft().events
        }


def test_records_are_copies_and_add_takes_anything(tmp_path: Path) -> None:
    """records cannot change the builder; add() appends a record as given (a malformed one)."""
    t = ClaudeCodeTranscript(cwd=tmp_path).user("Hi")
    t.records[0]["type"] = "changed"
    assert t.records[0]["type"] == "user"
    t.add({"type": "progress", "data": {}})
    assert t.records[-1] == {"type": "progress", "data": {}}
    assert t.records[0]["parentUuid"] is None


# -- the documentation -----------------------------------------------------------------


def _doc_examples() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Testing your own integration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_docs_example_runs(tmp_path: Path) -> None:
    """The first example of docs/python-api.md's testing section runs as it is."""
    examples = _doc_examples()
    assert len(examples) == 2
    script = tmp_path / "example.py"
    script.write_text(examples[0], encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_the_docs_pytest_example_passes(tmp_path: Path) -> None:
    """The pytest example of the same section passes under pytest."""
    (tmp_path / "test_example.py").write_text(_doc_examples()[1], encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- isolation from the user's environment ----------------------------------------------


def _user_repository(tmp_path: Path) -> tuple[TemporaryRepository, str]:
    """The repository a git hook would run the user's test suite in, and its HEAD."""
    user = create_repository(tmp_path / "user")
    return user, user.git("rev-parse", "HEAD").strip()


def _assert_untouched(user: TemporaryRepository, head: str) -> None:
    assert user.git("rev-parse", "HEAD").strip() == head
    assert user.git("status", "--porcelain") == ""
    assert not (user.path / ".bitloops").exists()
    assert sorted(p.name for p in (user.path / ".git" / "hooks").glob("*")) == []


def test_git_variables_of_a_hook_do_not_reach_the_users_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With GIT_DIR & co. set (a suite run from a git hook) every helper works on its own
    work tree, never on the user's repository."""
    user, head = _user_repository(tmp_path)
    monkeypatch.setenv("GIT_DIR", str(user.path / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(user.path))
    monkeypatch.setenv("GIT_INDEX_FILE", str(user.path / ".git" / "index"))
    work = create_repository(tmp_path / "work", agents=["claude-code"])
    _, payloads = _claude_session(work)
    assert run_hook("claude-code", payloads, repo=work).silent
    work.write({"greet.py": GREET})
    assert work.commit_all("greet").summary.intent == ("Add greet()",)
    with work.open() as r:
        assert r.toplevel == work.path
    assert work.commit({"b.txt": "b\n"}) == work.git("rev-parse", "HEAD").strip()
    with temporary_repository(enabled=True) as other:
        other.commit({"c.txt": "c\n"}, hooks=True)
    _assert_untouched(user, head)


def test_global_hooks_path_and_templates_do_not_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global core.hooksPath gets none of bitloops' hooks; init.templateDir copies nothing."""
    global_hooks = tmp_path / "global-hooks"
    global_hooks.mkdir()
    template = tmp_path / "template"
    (template / "hooks").mkdir(parents=True)
    (template / "hooks" / "pre-push").write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    (template / "info").mkdir()
    (template / "info" / "exclude").write_text("*.py\n", encoding="utf-8")
    config = tmp_path / "gitconfig"
    config.write_text(
        f"[core]\n\thooksPath = {global_hooks}\n[init]\n\ttemplateDir = {template}\n"
        "\tdefaultBranch = trunk\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    work = create_repository(tmp_path / "work", enabled=True, files={"a.py": "a = 1\n"})
    assert list(global_hooks.iterdir()) == []
    hooks = work.path / ".git" / "hooks"
    assert (hooks / "post-commit").is_file() and not (hooks / "pre-push.sample").exists()
    assert "bitloops" in (hooks / "pre-push").read_text(encoding="utf-8")  # ours, not theirs
    assert work.git("ls-files").split() == ["a.py"]  # the template's exclude was not copied
    assert work.git("symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_commit_all_waits_for_a_detached_promotion(work: TemporaryRepository) -> None:
    """A draft big enough for post-commit to promote in a worker: commit_all waits for it."""
    with work.open() as r, r.start_session(agent="my-agent") as s:
        for n in range(600):  # above the size from which the promotion is detached
            s.prompt(f"step {n}")
    work.write({"big.py": "x = 1\n"})
    checkpoint = work.commit_all("big")
    assert len([e for e in checkpoint.events if e.kind == "prompt"]) == 600
    assert not list((work.path / ".git" / "bitloops-pending").glob("*.json"))
    with work.open() as r, r.start_session(agent="my-agent") as s:
        for n in range(600):
            s.prompt(f"more {n}")
    sha = work.commit({"more.py": "y = 1\n"}, hooks=True)  # waits for the worker too
    assert not list((work.path / ".git" / "bitloops-pending").glob("*.json"))
    with work.open() as r:
        assert r.checkpoint(sha).commit_sha == sha


def test_temporary_repository_outlives_its_workers() -> None:
    """A worker promoting a commit of the block is done before the folder is removed."""
    with temporary_repository(enabled=True) as work:
        with work.open() as r, r.start_session(agent="my-agent") as s:
            for n in range(600):
                s.prompt(f"step {n}")
        work.write({"big.py": "x = 1\n"})
        work.git("add", "-A")
        work.git("commit", "-q", "-m", "big")  # post-commit leaves the promotion to a worker
        assert list((work.path / ".git" / "bitloops-pending").glob("*.json"))
        folder = work.path.parent
    time.sleep(0.5)  # a worker still running would write into it again
    assert not folder.exists()


_HOSTILE = {
    "BITLOOPS_CAPTURE": "0",
    "BITLOOPS_STRATEGY": "session",
    "BITLOOPS_COMMITTED_STORE": "postgresql://nobody@127.0.0.1:1/team?connect_timeout=1",
    "BITLOOPS_CONTEXT_INJECTION": "0",
}


def test_isolated_environment_sets_aside_the_users_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside: no BITLOOPS_* or GIT_DIR-like variables, an empty home of its own; what a
    nested one would change is left as the block set it; all put back after."""
    for name, value in {**_HOSTILE, "GIT_DIR": "/nowhere", "CODEX_HOME": "/codex"}.items():
        monkeypatch.setenv(name, value)
    before = dict(os.environ)
    with testing.isolated_environment():
        assert not [n for n in os.environ if n.startswith("BITLOOPS_")]
        assert "GIT_DIR" not in os.environ and "CODEX_HOME" not in os.environ
        home = Path(os.environ["HOME"])
        assert home.is_dir() and list(home.iterdir()) == []
        assert os.environ["GIT_CONFIG_GLOBAL"] == os.devnull
        os.environ["BITLOOPS_STRATEGY"] = "session"  # the test's own choice
        with testing.isolated_environment(), testing.isolated_environment(home=False):
            assert os.environ["BITLOOPS_STRATEGY"] == "session"
            assert os.environ["HOME"] == str(home)
    assert dict(os.environ) == before
    assert not home.exists()
    with testing.isolated_environment(home=False):
        assert os.environ["CODEX_HOME"] == "/codex" and "BITLOOPS_CAPTURE" not in os.environ
    assert dict(os.environ) == before


def test_the_users_bitloops_settings_do_not_apply(
    work: TemporaryRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BITLOOPS_CAPTURE=0 and a committed store of the user's: run_hook still records and
    commit_all promotes locally; isolated=False runs with them."""
    for name, value in _HOSTILE.items():
        monkeypatch.setenv(name, value)
    _, payloads = _claude_session(work)
    assert run_hook("claude-code", payloads[:1], repo=work, isolated=False).events == ()
    run = run_hook("claude-code", payloads, repo=work)
    assert run.silent and "prompt" in run.kinds()
    work.write({"greet.py": GREET})
    checkpoint = work.commit_all("greet")
    with work.open() as r:
        assert not r.team and r.checkpoint("HEAD").checkpoint_id == checkpoint.checkpoint_id


def test_temporary_postgres_schema_keeps_the_urls_options(pg_url: str) -> None:
    """The schema's URL adds search_path to the options the server URL already had."""
    import psycopg

    sep = "&" if "?" in pg_url else "?"
    with testing.temporary_postgres_schema(
        f"{pg_url}{sep}options=-cstatement_timeout%3D12345"
    ) as url:
        schema = re.search(r"bitloops_test_\w+", url)
        assert schema is not None
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("12345ms",)
            assert conn.execute("SHOW search_path").fetchone() == (schema.group(0),)


def test_the_docs_example_runs_whatever_the_users_environment(tmp_path: Path) -> None:
    """The docs example passes with the user's BITLOOPS_* settings, a git hook's GIT_DIR
    and a global core.hooksPath in its environment, and leaves their repository alone."""
    user, head = _user_repository(tmp_path)
    global_hooks = tmp_path / "global-hooks"
    global_hooks.mkdir()
    config = tmp_path / "gitconfig"
    config.write_text(f"[core]\n\thooksPath = {global_hooks}\n", encoding="utf-8")
    script = tmp_path / "example.py"
    script.write_text(_doc_examples()[0], encoding="utf-8")
    env = {
        **os.environ,
        **_HOSTILE,
        "GIT_DIR": str(user.path / ".git"),
        "GIT_INDEX_FILE": str(user.path / ".git" / "index"),
        "GIT_CONFIG_GLOBAL": str(config),
    }
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=user.path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(global_hooks.iterdir()) == []
    _assert_untouched(user, head)
