"""`bitloops mcp`: the MCP server as a real subprocess speaking JSON-RPC over stdio."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from secrets_corpus import SECRETS

import bitloops
from bitloops.mcp_server import MAX_TEXT
from bitloops.testing import commit_all, enable

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="needs bitloops[mcp] (the MCP SDK)"
)

RECORD_TOOLS = {
    "record_decision",
    "record_rejected_alternative",
    "record_constraint",
    "record_plan",
    "retract_record",
}
READ_TOOLS = {"why", "file_history", "search", "checkpoint"}
AWS_KEY = next(s.secret for s in SECRETS if s.family == "aws-access-key")


def agents(records: Any) -> list[Any]:
    """The records the agent made itself (source agent), not those bitloops inferred."""
    return [r for r in records if r.source == "agent"]


class McpClient:
    """A minimal MCP client: newline-delimited JSON-RPC on a server's stdin and stdout."""

    def __init__(
        self,
        cwd: Path,
        *args: str,
        agent: str = "claude-code",
        env: dict[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        cmd = [sys.executable, "-m", "bitloops", "mcp", "--agent", agent, *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.next_id = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response (skipping any notification)."""
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        while True:
            reply: dict[str, Any] = json.loads(self.lines.get(timeout=60))
            if reply.get("id") == self.next_id:
                return reply

    def initialize(self) -> dict[str, Any]:
        """The MCP handshake; the server's initialize result."""
        reply = self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bitloops-tests", "version": "1"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        result: dict[str, Any] = reply["result"]
        return result

    def call(self, tool: str, **arguments: Any) -> tuple[bool, str]:
        """Call a tool; (is_error, its text)."""
        reply = self.request("tools/call", {"name": tool, "arguments": arguments})
        if "error" in reply:  # a protocol error, not a tool result
            return True, str(reply["error"].get("message"))
        result = reply["result"]
        text = "".join(c.get("text", "") for c in result["content"])
        return bool(result.get("isError")), text

    def record(self, tool: str, **arguments: Any) -> str:
        """Call a record tool that must succeed; the record id it names."""
        is_error, text = self.call(tool, **arguments)
        assert not is_error, text
        assert text.startswith("Recorded "), text
        return text.split(" (session ")[0].rsplit(" ", 1)[1]

    def close(self) -> tuple[int, str]:
        """Close stdin (the client goes away); the exit status and what went to stderr."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        status = self.proc.wait(timeout=60)
        self.reader.join(timeout=60)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return status, err


@pytest.fixture
def enabled(git_repo: Path) -> Path:
    """A repository with bitloops' git hooks: commits are promoted by post-commit."""
    enable(git_repo)
    return git_repo


@pytest.fixture
def client(enabled: Path) -> Iterator[McpClient]:
    """A started and initialised server for claude-code in ``enabled``."""
    c = McpClient(enabled)
    c.initialize()
    yield c
    status, err = c.close()
    assert status == 0, err
    assert "Traceback" not in err


def test_initialize_gives_instructions_and_the_tools(enabled: Path) -> None:
    """The handshake names the server and tells when to record; every tool is listed."""
    c = McpClient(enabled)
    result = c.initialize()
    assert result["serverInfo"]["name"] == "bitloops"
    assert result["serverInfo"]["version"] == bitloops.__version__
    instructions = result["instructions"]
    for tool in ("record_decision", "record_rejected_alternative", "record_constraint"):
        assert tool in instructions
    assert "plan tool" in instructions
    tools = {t["name"]: t for t in c.request("tools/list")["result"]["tools"]}
    assert set(tools) == RECORD_TOOLS | READ_TOOLS
    for tool in tools.values():
        assert tool["description"], tool["name"]
        assert tool["annotations"]["readOnlyHint"] is (tool["name"] in READ_TOOLS)
    schema = tools["record_decision"]["inputSchema"]
    assert schema["required"] == ["text"]
    assert set(schema["properties"]) == {"text", "rationale", "applies_to"}
    stated_by = json.dumps(tools["record_constraint"]["inputSchema"])
    assert all(word in stated_by for word in ("user", "repository", "agent"))
    assert c.close()[0] == 0


def test_records_reach_the_checkpoint_of_a_real_commit(enabled: Path, client: McpClient) -> None:
    """Decision, alternative, constraint and plan go into the agent's open session and commit."""
    with bitloops.Repository.open(enabled) as repo:
        other = repo.start_session("codex")
        other.prompt("an older session of another agent")
        session = repo.start_session("claude-code", "claude-opus")
        session.prompt("Totals must include VAT")
    decision = client.record(
        "record_decision",
        text="Decimal with ROUND_HALF_UP for totals",
        rationale="floats cannot hold cents exactly",
        applies_to=["prices.py::total", "prices.py"],
    )
    alternative = client.record(
        "record_rejected_alternative",
        text="VAT per line item",
        reason="rounding drift across lines",
        applies_to="prices.py",
    )
    constraint = client.record(
        "record_constraint", text="Don't add new dependencies", stated_by="user"
    )
    plan = client.record(
        "record_plan",
        items=[
            {"text": "Write the failing test", "status": "completed"},
            {"text": "Switch totals to Decimal", "status": "in_progress"},
            {"text": "Update the docs"},
        ],
    )
    assert len({decision, alternative, constraint, plan}) == 4
    (enabled / "prices.py").write_text("def total(items):\n    return sum(items)\n")
    cp = commit_all(enabled, "Totals in Decimal")

    assert {s.session_id for s in cp.sessions} >= {session.session_id}
    (d,) = agents(cp.summary.decisions)
    assert (d.text, d.rationale, d.source) == (
        "Decimal with ROUND_HALF_UP for totals",
        "floats cannot hold cents exactly",
        "agent",
    )
    assert tuple(d.applies_to) == ("prices.py::total", "prices.py")
    assert d.record_id == decision
    (a,) = agents(cp.summary.alternatives)
    assert (a.text, a.reason, a.source, tuple(a.applies_to)) == (
        "VAT per line item",
        "rounding drift across lines",
        "agent",
        ("prices.py",),
    )
    (k,) = agents(cp.summary.constraints)
    assert (k.text, k.stated_by, k.record_id) == ("Don't add new dependencies", "user", constraint)
    (p,) = agents(cp.summary.plans)
    assert [(i.text, i.status) for i in p.items] == [
        ("Write the failing test", "completed"),
        ("Switch totals to Decimal", "in_progress"),
        ("Update the docs", "pending"),
    ]
    # Every record went into claude-code's session, none into codex's.
    with bitloops.Repository.open(enabled) as repo:
        kinds = [e.kind for e in repo.checkpoint("HEAD").events if e.session_id == other.session_id]
    assert "decision" not in kinds
    summary = enabled / ".bitloops" / "checkpoints" / "v1" / cp.commit_sha / "summary.md"
    text = summary.read_text(encoding="utf-8")
    assert "Decimal with ROUND_HALF_UP for totals" in text
    assert "VAT per line item" in text


def test_a_new_session_is_started_when_none_is_open(enabled: Path) -> None:
    """With no open session of the agent (an ended one does not count), the server starts one."""
    with bitloops.Repository.open(enabled) as repo:
        ended = repo.start_session("codex")
        ended.end("done")
    c = McpClient(enabled, agent="codex")
    c.initialize()
    first = c.call("record_decision", text="Keep the CLI thin")[1]
    second = c.call("record_decision", text="Parse arguments with argparse")[1]
    assert c.close()[0] == 0
    sid = first.rsplit("(session ", 1)[1].rstrip(").")
    assert sid == second.rsplit("(session ", 1)[1].rstrip(").")  # the same new session
    with bitloops.Repository.open(enabled) as repo:
        sessions = {s.session_id: s for s in repo.store.sessions(worktree=repo.worktree)}
    assert sid != ended.session_id
    assert sessions[sid].agent == "codex"


def test_bad_calls_are_error_results_and_the_server_goes_on(client: McpClient) -> None:
    """Missing, mistyped, empty or oversized arguments get isError; nothing stops the server."""
    bad: list[tuple[str, dict[str, Any]]] = [
        ("record_decision", {}),
        ("record_decision", {"rationale": "no text"}),
        ("record_decision", {"text": 5}),
        ("record_decision", {"text": "   "}),
        ("record_decision", {"text": "x" * (MAX_TEXT + 1)}),
        ("record_decision", {"text": "ok", "applies_to": [1, 2]}),
        ("record_decision", {"text": "ok", "applies_to": [""]}),
        ("record_rejected_alternative", {"text": ["a list"]}),
        ("record_constraint", {"text": "no deps", "stated_by": "the boss"}),
        ("record_plan", {}),
        ("record_plan", {"items": [{"status": "completed"}]}),
        ("record_plan", {"items": "not a list"}),
        ("retract_record", {"record_id": "no-such-record", "because": "wrong"}),
        ("retract_record", {"record_id": "x"}),
        ("no_such_tool", {"text": "x"}),
    ]
    for tool, arguments in bad:
        is_error, text = client.call(tool, **arguments)
        assert is_error, (tool, arguments, text)
        assert text
    # Not even JSON-RPC: a broken line, a JSON array, a call without arguments.
    assert client.proc.stdin is not None
    client.proc.stdin.write("this is not json\n[1, 2, 3]\n")
    client.send({"jsonrpc": "2.0", "id": 999, "method": "tools/call", "params": {}})
    assert client.proc.poll() is None
    assert client.record("record_decision", text="Still answering")
    with bitloops.Repository.open(client.cwd) as repo:
        draft = [e.kind for e in repo.draft().events]
    assert draft.count("decision") == 1  # nothing of the bad calls was written


def test_a_secret_in_a_rationale_is_redacted_in_the_database_and_checkpoint(
    enabled: Path, client: McpClient
) -> None:
    """An AWS key in a rationale never reaches the database, its WAL or the checkpoint files."""
    record_id = client.record(
        "record_decision",
        text="Read credentials from the environment",
        rationale=f"the old code had AWS_ACCESS_KEY_ID={AWS_KEY} inline",
        applies_to=["config.py"],
    )
    (enabled / "config.py").write_text("import os\nKEY = os.environ['AWS_ACCESS_KEY_ID']\n")
    cp = commit_all(enabled, "Credentials from the environment")
    (d,) = agents(cp.summary.decisions)
    assert d.record_id == record_id
    assert AWS_KEY not in (d.rationale or "")
    assert "AWS_ACCESS_KEY_ID=" in (d.rationale or "")
    written = [p for p in (enabled / ".git" / "bitloops").iterdir() if p.is_file()]
    written += [p for p in (enabled / ".bitloops").rglob("*") if p.is_file()]
    assert any(p.name == "summary.md" for p in written)
    for path in written:
        assert AWS_KEY.encode() not in path.read_bytes(), path


def test_retract_record_marks_a_record_wrong(enabled: Path, client: McpClient) -> None:
    """retract_record appends a retraction by the agent that every reader honours."""
    record_id = client.record("record_decision", text="Cache totals in a global")
    is_error, text = client.call(
        "retract_record", record_id=record_id, because="globals break the tests"
    )
    assert not is_error, text
    assert text.startswith(f"Retracted {record_id}")
    with bitloops.Repository.open(enabled) as repo:
        assert repo.retracted() == {record_id: "globals break the tests"}
        (note,) = repo.annotations(kind="retraction")
    assert note.body == {"by": "agent"}


def test_inside_the_distiller_nothing_is_recorded(enabled: Path) -> None:
    """An agent the distiller runs (its mark in the environment) cannot record, only read."""
    with bitloops.Repository.open(enabled) as repo:
        repo.start_session("claude-code").prompt("the user's own session")
    c = McpClient(enabled, env={"BITLOOPS_DISTILLER_SESSION": "1"})
    c.initialize()
    is_error, text = c.call("record_decision", text="Injected by the distiller's agent")
    assert is_error and "distiller" in text
    is_error, text = c.call("search", query="anything")
    assert not is_error or "not available" in text, text  # reading is fine
    assert c.close()[0] == 0
    with bitloops.Repository.open(enabled) as repo:
        assert "decision" not in [e.kind for e in repo.draft().events]


def test_outside_a_git_repository_tools_answer_errors(tmp_path: Path) -> None:
    """Started outside a work tree the server still answers: each call is an error result."""
    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    c = McpClient(folder)
    assert c.initialize()["serverInfo"]["name"] == "bitloops"
    is_error, text = c.call("record_decision", text="Anything")
    assert is_error
    assert "git" in text
    assert c.proc.poll() is None
    status, err = c.close()
    assert status == 0 and "Traceback" not in err


def test_a_repository_without_bitloops_is_left_alone(git_repo: Path) -> None:
    """A server registered for every project records nothing where bitloops is not set up."""
    c = McpClient(git_repo)
    c.initialize()
    is_error, text = c.call("record_decision", text="Anything")
    assert is_error and "bitloops enable --agent claude-code" in text
    assert c.close()[0] == 0
    assert not (git_repo / ".git" / "bitloops").exists()
    # --repo names the repository explicitly: that is the user's choice.
    c = McpClient(git_repo.parent, "--repo", git_repo.name)
    c.initialize()
    assert c.record("record_decision", text="Explicitly here")
    assert c.close()[0] == 0
    with bitloops.Repository.open(git_repo) as repo:
        assert [e.kind for e in repo.draft().events].count("decision") == 1


def test_read_tools(enabled: Path, client: McpClient) -> None:
    """why, file_history, search and checkpoint answer from the checkpoint, in bounded text."""
    client.record(
        "record_decision", text="Decimal totals", rationale="cents", applies_to=["prices.py"]
    )
    client.record(
        "record_rejected_alternative", text="Floats", reason="drift", applies_to=["prices.py"]
    )
    (enabled / "prices.py").write_text("TOTAL = 1\n")
    cp = commit_all(enabled, "Decimal totals")
    answers = pytest.importorskip("bitloops.context.answers")
    calls = [
        ("why", {"target": "prices.py"}, ("Decimal totals", "Floats", "drift")),
        ("why", {"target": "prices.py:1"}, ("Decimal totals",)),
        ("file_history", {"path": "prices.py"}, (cp.commit_sha[:12],)),
        ("search", {"query": "Decimal"}, ("Decimal",)),
        ("checkpoint", {"ref": cp.commit_sha}, ("Decimal totals", "Floats")),
    ]
    for tool, arguments, expected in calls:
        is_error, text = client.call(tool, **arguments)
        if not hasattr(answers, tool):
            assert is_error and "not available in this version" in text
            continue
        assert not is_error, (tool, text)
        assert len(text) <= 4000, tool
        for part in expected:
            assert part in text, (tool, part, text)
    assert client.call("why")[0]  # the argument is required
    assert client.call("search", query="")[0]


def test_the_command_without_the_sdk_says_how_to_install_it(git_repo: Path) -> None:
    """Without the MCP SDK `bitloops mcp` exits 2 with the pip command, no traceback."""
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "from bitloops.cli._main import main\n"
        "sys.exit(main(['mcp', '--agent', 'claude-code']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "pip install 'bitloops[mcp]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nothing_else_imports_the_sdk(git_repo: Path) -> None:
    """import bitloops, the CLI and an agent hook never load the MCP SDK or pydantic."""
    code = (
        "import sys, io\n"
        "import bitloops, bitloops.cli._main\n"
        "sys.stdin = io.StringIO('{}')\n"
        "bitloops.cli._main.main(['hook', 'claude-code'])\n"
        "bitloops.cli._main.main(['status'])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('mcp', 'pydantic', 'anyio')]\n"
        "heavy += [m for m in sys.modules if m == 'bitloops.mcp_server']\n"
        "print(heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    git(git_repo, "status")  # the repository is still fine


def test_json_describes_the_server_without_serving(git_repo: Path) -> None:
    """`bitloops mcp --agent NAME --json` prints the instructions and tools and exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "mcp", "--agent", "codex", "--json"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["name"], data["agent"]) == ("bitloops", "codex")
    assert "record_decision" in data["instructions"]
    assert {t["name"] for t in data["tools"]} == RECORD_TOOLS | READ_TOOLS
    assert all(t["input_schema"]["type"] == "object" for t in data["tools"])
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "mcp"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "bitloops mcp --agent NAME" in proc.stderr
