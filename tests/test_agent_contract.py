"""Every agent is one record behind the AgentIntegration Protocol, found through one registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from conftest import git

import bitloops
from bitloops.agents import (
    AGENT_CONFIGS,
    AGENTS,
    MCP_FILES,
    AgentIntegration,
    Integration,
    _registry,
    claude_code,
    codex,
    continue_command,
    copilot,
    cursor,
    disable_agents,
    enable_agents,
    enabled_agents,
    gemini,
    integration,
    integrations,
    opencode,
    parse_agent_names,
    register,
    restore_transcript,
)
from bitloops.agents._contract import MEMBERS, contract_problems
from bitloops.agents._mcp_config import mcp_target
from bitloops.agents._registry import importable_agents
from bitloops.capture._plans import PLAN_TOOLS
from bitloops.errors import AgentConfigError, AgentNotSupported, UnknownAgent

BUILT_IN = ["claude-code", "codex", "gemini", "cursor", "copilot", "opencode"]

# Checked by mypy: each module's record meets the Protocol.
TYPED: list[AgentIntegration] = [
    claude_code.INTEGRATION,
    codex.INTEGRATION,
    gemini.INTEGRATION,
    cursor.INTEGRATION,
    copilot.INTEGRATION,
    opencode.INTEGRATION,
]

# A seventh agent, as someone adding one would write it: one module with its record.
FAKE_MODULE = textwrap.dedent(
    '''
    """A fake agent whose hooks send {"hook_event_name", "session_id", "prompt"}."""

    from __future__ import annotations

    from bitloops.agents._record import AgentConfig, Integration
    from bitloops.capture._runner import (
        event_and_session, open_repository, open_transcripts, run_payload_hook, where_to_look,
    )
    from bitloops.errors import SessionNotFound

    AGENT = "fake"


    def handle(payload, *, cwd=None):
        name, sid = event_and_session(payload, "a fake hook payload", "session_id")
        with open_repository(payload, cwd) as repo:
            try:
                session = repo.session(sid)
            except SessionNotFound:
                session = repo.start_session(AGENT, "fake-model", session_id=sid)
            if name == "prompt":
                return [session.prompt(str(payload.get("prompt")))]
            return [session.note(f"fake hook {name}")]


    def run_hook(stdin, cwd, err):
        return run_payload_hook(AGENT, handle, where_to_look, stdin, cwd, err)


    def catch_up(repo, session_id, transcript_path, *, max_seconds=2.0, max_lines=20000):
        return 0


    def active_transcripts(repo):
        return open_transcripts(repo, AGENT)


    def mcp_place(toplevel):
        from pathlib import Path

        return Path(toplevel, ".fake", "mcp.json"), "json", ("mcpServers",), "plain"


    INTEGRATION = Integration(
        name=AGENT,
        label="Fake Agent",
        handle=handle,
        run_hook=run_hook,
        catch_up=catch_up,
        active_transcripts=active_transcripts,
        config=AgentConfig(
            name=AGENT,
            label="Fake Agent",
            path=".fake/hooks.json",
            layout="flat",
            events=("prompt", "stop"),
        ),
        mcp_file="<work tree>/.fake/mcp.json (mcpServers)",
        mcp_place=mcp_place,
        resume_command=("fake-cli", "--resume"),
        plan_tools=(("update_plan", "list"),),
    )
    '''
)


@pytest.fixture
def fake_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fake agent's module on sys.path and in the registry; both undone afterwards."""
    folder = tmp_path / "site"
    (folder / "fake_agents").mkdir(parents=True)
    (folder / "fake_agents" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "fake_agents" / "seventh.py").write_text(FAKE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    register("fake", "fake_agents.seventh", hook_file=".fake/hooks.json")
    try:
        yield folder
    finally:
        AGENTS.pop("fake", None)
        _registry.HOOK_FILES.pop("fake", None)
        sys.modules.pop("fake_agents.seventh", None)
        sys.modules.pop("fake_agents", None)


def _fake_hook(
    repo: Path, folder: Path, payload: Mapping[str, object]
) -> subprocess.CompletedProcess[bytes]:
    """``bitloops hook fake`` in a fresh process whose registry has the fake agent."""
    script = (
        "import sys; from bitloops.agents._registry import register; "
        "register('fake', 'fake_agents.seventh'); from bitloops.__main__ import main; "
        "sys.exit(main(['hook', 'fake']))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        input=json.dumps(payload).encode(),
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )


# -- the six built-in agents ---------------------------------------------------------------


def test_the_registry_holds_the_six_agents() -> None:
    """The registry names the six agents, each by the module that holds its record."""
    assert list(AGENTS) == BUILT_IN
    assert [i.name for i in integrations()] == BUILT_IN
    assert [i.name for i in TYPED] == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_agent_meets_the_protocol(name: str) -> None:
    """Each record has every member of the Protocol, checked at run time."""
    record = integration(name)
    assert isinstance(record, AgentIntegration)
    assert isinstance(record, Integration)
    assert contract_problems(record) == []
    assert record is _registry.agent_module(name).INTEGRATION
    for member in MEMBERS:
        assert hasattr(record, member)


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_record_holds_the_modules_own_functions(name: str) -> None:
    """The hook mapping and transcript reader of a record are its module's functions."""
    module = _registry.agent_module(name)
    record = integration(name)
    assert record.handle is module.handle
    assert record.run_hook is module.run_hook
    assert record.catch_up is module.catch_up
    assert record.transcript_session_id is module.transcript_session_id


def test_records_are_frozen() -> None:
    """A record cannot be changed after it is built."""
    record = integration("gemini")
    with pytest.raises(AttributeError, match="frozen"):
        record.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        record.config.path = "elsewhere"
    assert record == gemini.INTEGRATION and hash(record.config) == hash(record.config)


def test_contract_problems_names_what_is_missing() -> None:
    """An object lacking members, or with the wrong ones, is told what is wrong."""
    assert "handle is missing" in contract_problems(object())
    record = integration("codex")
    broken = Integration(
        **{m: getattr(record, m) for m in MEMBERS if m not in ("label", "resume_command")},
        label="",
        resume_command=(),
    )
    problems = contract_problems(broken)
    assert "label must be a non-empty string" in problems
    assert "config.label differs from label" in problems
    assert "resume_command must be a non-empty tuple of words" in problems


def test_the_installer_reads_the_registry() -> None:
    """AGENT_CONFIGS and MCP_FILES are the records' own entries, in the registry's order."""
    assert list(AGENT_CONFIGS) == BUILT_IN
    for record in integrations():
        assert AGENT_CONFIGS[record.name] is record.config
        assert MCP_FILES[record.name] == record.mcp_file
    assert parse_agent_names(["gemini,codex"]) == ["gemini", "codex"]
    with pytest.raises(AgentConfigError, match="choose from claude-code, codex"):
        parse_agent_names(["vim"])


def test_the_registry_knows_each_hook_file() -> None:
    """The registry's hook files are the records' own (they let status skip imports)."""
    assert {r.name: r.config.path for r in integrations()} == _registry.HOOK_FILES


def test_status_imports_only_the_agents_enabled(git_repo: Path) -> None:
    """Asking which agents are enabled imports the modules of those with a file only."""
    enable_agents(git_repo, ["gemini"], mcp=False)
    script = (
        "import sys; from pathlib import Path; from bitloops.agents._config import "
        f"enabled_agents, missing_events; print(enabled_agents(Path({str(git_repo)!r})), "
        f"missing_events(Path({str(git_repo)!r})), "
        "sorted(m for m in sys.modules if m.startswith('bitloops.agents.')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.startswith("['gemini'] {} "), proc.stdout
    loaded = {m.split(".")[-1] for m in json.loads(proc.stdout.split("} ", 1)[1].replace("'", '"'))}
    assert {"gemini"} == {m for m in loaded if not m.startswith("_")}


def test_resume_commands_come_from_the_records() -> None:
    """`continue_command` is each record's resume command, or None without one."""
    for record in integrations():
        command = continue_command(record.name, "abc")
        if record.resume_command is None:
            assert command is None
        else:
            assert command == " ".join([*record.resume_command, "abc"])
    assert continue_command("vim", "abc") is None
    writers = {r.name for r in integrations() if r.writer is not None}
    assert writers == {"claude-code", "codex", "gemini"}


def test_importable_agents_are_those_with_a_reader() -> None:
    """The agents an import accepts are the records with a transcript reader."""
    readers = sorted(r.name for r in integrations() if r.transcript_session_id is not None)
    assert importable_agents() == readers


def test_plan_tools_are_known_to_the_plan_folder() -> None:
    """Every plan tool a record names is read the way the plan folder reads it."""
    for record in integrations():
        for tool, how in record.plan_tools:
            assert PLAN_TOOLS[tool] == how, (record.name, tool)


def test_the_cli_lists_come_from_the_registry(git_repo: Path) -> None:
    """`bitloops hook NAME` accepts exactly the registry's agents, beside git's hooks."""
    from bitloops.cli import _hook

    assert _hook.AGENT_HOOKS is AGENTS
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "--help"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert ", ".join(BUILT_IN) in " ".join(proc.stdout.split())


def test_an_unknown_agent_is_refused() -> None:
    """A name no module is registered under is UnknownAgent, listing the known ones."""
    with pytest.raises(UnknownAgent, match="use one of: claude-code"):
        integration("vim")


def test_register_wants_a_dotted_path() -> None:
    """A module path without its package is refused: it would name one of bitloops'."""
    with pytest.raises(AgentConfigError, match=r"package\.module"):
        register("mine", "mine")
    assert "mine" not in AGENTS


def test_a_module_without_a_record_is_not_an_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered module without an INTEGRATION record is AgentNotSupported."""
    monkeypatch.setitem(AGENTS, "no-record", "_writing")
    with pytest.raises(AgentNotSupported, match="no INTEGRATION record"):
        integration("no-record")


def test_a_hook_imports_only_its_own_agent(git_repo: Path) -> None:
    """The registry is names and module paths: a hook process imports one agent module."""
    script = (
        "import sys; from bitloops.agents._registry import run_agent_hook; import io; "
        "run_agent_hook('gemini', io.BytesIO(b'{}'), '.', io.StringIO()); "
        "print(sorted(m for m in sys.modules if m.startswith('bitloops.agents.')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = [m.split(".")[-1] for m in json.loads(proc.stdout.strip().replace("'", '"'))]
    assert [m for m in loaded if not m.startswith("_")] == ["gemini"]
    assert "_contract" not in loaded and "_config" not in loaded


# -- a seventh agent -----------------------------------------------------------------------


def test_a_seventh_agent_works_end_to_end(fake_agent: Path, git_repo: Path) -> None:
    """A registered module with a record gets hooks installed, records through a real
    hook process, reaches the checkpoint and is listed for resume and the CLI."""
    # The installer writes its hook file.
    [change] = enable_agents(git_repo, ["fake"], mcp=False)
    assert change.action == "created" and change.events == ("prompt", "stop")
    entries = json.loads((git_repo / ".fake" / "hooks.json").read_text("utf-8"))
    assert entries["hooks"]["prompt"] == [{"command": "bitloops hook fake"}]
    assert "fake" in enabled_agents(git_repo)
    assert mcp_target(git_repo, "fake").path == git_repo / ".fake" / "mcp.json"

    # Its hook runs in its own process and records the prompt.
    payload = {"hook_event_name": "prompt", "session_id": "f-1", "prompt": "hello seven"}
    proc = _fake_hook(git_repo, fake_agent, {**payload, "cwd": str(git_repo)})
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
    stop = {"hook_event_name": "stop", "session_id": "f-1", "cwd": str(git_repo)}
    assert _fake_hook(git_repo, fake_agent, stop).returncode == 0

    # The commit's checkpoint holds it; the catch-up before the promotion asks the record.
    (git_repo / "seven.txt").write_text("7\n")
    git(git_repo, "add", "seven.txt")
    git(git_repo, "commit", "-q", "--no-verify", "-m", "seven")
    with bitloops.Repository.open(git_repo) as repo:
        checkpoint = repo.promote()
        assert checkpoint is not None
        prompts = [(e.agent, e.payload["text"]) for e in checkpoint.events if e.kind == "prompt"]
        assert prompts == [("fake", "hello seven")]
        [session] = [s for s in checkpoint.sessions if s.session_id == "f-1"]
        assert session.agent == "fake"
        restored = restore_transcript(repo, session)
        assert not restored.restored and "cannot rebuild fake transcripts" in restored.note
    assert continue_command("fake", "f-1") == "fake-cli --resume f-1"
    with pytest.raises(AgentNotSupported, match="cannot import fake"):
        _import_fake(git_repo)
    assert "fake" not in importable_agents()

    # Disabling removes its hook file again.
    [gone] = disable_agents(git_repo, ["fake"])
    assert gone.action == "deleted" and not (git_repo / ".fake").exists()


def _import_fake(git_repo: Path) -> None:
    from bitloops.capture._importing import import_transcript

    with bitloops.Repository.open(git_repo) as repo:
        import_transcript(repo, "fake", git_repo / "seven.txt")


def test_a_seventh_agent_replays_from_the_spool(fake_agent: Path, git_repo: Path) -> None:
    """A spooled payload of the seventh agent is replayed through its record's handle."""
    from bitloops.capture import _spool as spool
    from bitloops.capture._runner import drain_spool, spool_entry

    payload = {"hook_event_name": "prompt", "session_id": "f-2", "prompt": "from the spool"}
    with bitloops.Repository.open(git_repo) as repo:
        entry = spool_entry("fake", git_repo, {**payload, "cwd": str(git_repo)}, repo.redactor)
        assert spool.append(repo.paths.common_dir, entry, durable=True, wait=1.0)
        assert drain_spool(repo)
        texts = [e.payload.get("text") for e in repo.draft().events if e.kind == "prompt"]
    assert texts == ["from the spool"]


def test_a_seventh_agent_is_on_the_cli(
    fake_agent: Path,
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`bitloops enable --agent fake` works once the agent is registered."""
    from bitloops.cli._main import main

    monkeypatch.chdir(git_repo)
    assert main(["enable", "--agent", "fake", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [a["agent"] for a in out["agents"]] == ["fake"]
    assert (git_repo / ".fake" / "hooks.json").is_file()
