"""`bitloops enable --agent NAME`: agents' hook files merged, kept and given back, in real repos."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git

import bitloops
from bitloops.agents._config import (
    AGENT_CONFIGS,
    agent_command,
    disable_agent,
    disable_agents,
    enable_agent,
    enable_agents,
    enabled_agents,
    is_own_command,
    parse_agent_names,
)

ALL_AGENTS = list(AGENT_CONFIGS)
JSON_AGENTS = [name for name, config in AGENT_CONFIGS.items() if config.layout != "plugin"]

# Someone's Claude Code settings, formatted by hand: inline lists, odd spacing, their own hooks.
CLAUDE_SETTINGS = """{
  "permissions": {"allow": ["Bash(npm test)", "Read"]},
  "model":   "opus",
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "./guard.sh", "timeout": 5}]}
    ]
  },
  "env": {"FOO": "1"}
}
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bitloops ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def entries(doc: dict[str, Any], name: str, event: str) -> list[dict[str, Any]]:
    """The hook entries of ``event`` in an agent's parsed file, in order."""
    items = doc.get("hooks", {}).get(event, [])
    if AGENT_CONFIGS[name].layout == "flat":
        return list(items)
    return [entry for group in items for entry in group.get("hooks", [])]


def own_entries(doc: dict[str, Any], name: str, event: str) -> list[dict[str, Any]]:
    """The entries of ``event`` that run ``bitloops hook NAME``."""
    key = AGENT_CONFIGS[name].command_keys[0]
    return [e for e in entries(doc, name, event) if is_own_command(e.get(key, ""), name)]


def load(repo: Path, name: str) -> dict[str, Any]:
    """The agent's file, parsed."""
    data: dict[str, Any] = json.loads((repo / AGENT_CONFIGS[name].path).read_text("utf-8"))
    return data


def test_merge_keeps_everything_else_and_disable_gives_the_bytes_back(git_repo: Path) -> None:
    """Foreign hooks and keys survive enable; a second enable is a no-op; disable restores bytes."""
    path = git_repo / ".claude" / "settings.local.json"
    path.parent.mkdir()
    path.write_text(CLAUDE_SETTINGS, encoding="utf-8")
    before = json.loads(CLAUDE_SETTINGS)

    change = enable_agent(git_repo, "claude-code")
    assert change.action == "added"
    assert change.events == AGENT_CONFIGS["claude-code"].events
    doc = load(git_repo, "claude-code")
    assert {k: v for k, v in doc.items() if k != "hooks"} == {
        k: v for k, v in before.items() if k != "hooks"
    }
    assert list(doc) == list(before)  # key order kept
    # The user's own hooks are still first, untouched; ours come after them.
    assert doc["hooks"]["Stop"][0] == before["hooks"]["Stop"][0]
    # The user's PreToolUse group is kept as it was; bitloops' own (edit tools) follows.
    assert doc["hooks"]["PreToolUse"][:-1] == before["hooks"]["PreToolUse"]
    for event in AGENT_CONFIGS["claude-code"].events:
        assert len(own_entries(doc, "claude-code", event)) == 1, event
    assert doc["hooks"]["PostToolUse"][0]["matcher"] == ""

    written = path.read_bytes()
    again = enable_agent(git_repo, "claude-code")
    assert again.action == "unchanged" and again.events == ()
    assert path.read_bytes() == written

    removed = disable_agent(git_repo, "claude-code")
    assert removed.action == "removed"
    assert path.read_bytes() == CLAUDE_SETTINGS.encode("utf-8")


def test_disable_after_a_user_edit_removes_only_our_entries(git_repo: Path) -> None:
    """After a user edit, disable removes bitloops' entries (and what they alone filled) only."""
    path = git_repo / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"theme": "dark", "hooks": {"AfterTool": [{"hooks": [{"command": "x"}]}]}}),
        encoding="utf-8",
    )
    enable_agent(git_repo, "gemini")
    doc = load(git_repo, "gemini")
    doc["ui"] = {"compact": True}
    # The user also put a hook of theirs into bitloops' group.
    doc["hooks"]["SessionEnd"][0]["hooks"].append({"type": "command", "command": "mine"})
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    change = disable_agent(git_repo, "gemini")
    assert change.action == "removed"
    assert load(git_repo, "gemini") == {
        "theme": "dark",
        "hooks": {
            "AfterTool": [{"hooks": [{"command": "x"}]}],
            "SessionEnd": [{"hooks": [{"type": "command", "command": "mine"}]}],
        },
        "ui": {"compact": True},
    }
    assert disable_agent(git_repo, "gemini").action == "not-installed"


def test_a_file_bitloops_created_goes_with_its_empty_folders(git_repo: Path) -> None:
    """disable deletes a file (and folder) enable created, but not a folder with other files."""
    first = enable_agent(git_repo, "codex")
    assert first.action == "created"
    assert first.path == git_repo / ".codex" / "hooks.json"
    assert disable_agent(git_repo, "codex").action == "deleted"
    assert not (git_repo / ".codex").exists()

    (git_repo / ".codex").mkdir()
    (git_repo / ".codex" / "config.toml").write_text("[features]\ncodex_hooks = true\n")
    enable_agent(git_repo, "codex")
    assert disable_agent(git_repo, "codex").action == "deleted"
    assert sorted(p.name for p in (git_repo / ".codex").iterdir()) == ["config.toml"]


def test_an_edited_file_left_empty_is_deleted(git_repo: Path) -> None:
    """A file that holds nothing but bitloops' entries is deleted, even after a reformat."""
    enable_agent(git_repo, "cursor")
    path = git_repo / ".cursor" / "hooks.json"
    path.write_text(json.dumps(load(git_repo, "cursor")), encoding="utf-8")  # reformatted
    assert disable_agent(git_repo, "cursor").action == "deleted"
    assert not path.exists()


def test_an_existing_empty_file_comes_back(git_repo: Path) -> None:
    """An existing file that held an empty object gets those bytes back, not deleted."""
    path = git_repo / ".cursor" / "hooks.json"
    path.parent.mkdir()
    path.write_bytes(b'{"version": 1}')
    assert enable_agent(git_repo, "cursor").action == "added"
    assert disable_agent(git_repo, "cursor").action == "removed"
    assert path.read_bytes() == b'{"version": 1}'


@pytest.mark.parametrize(
    ("text", "indent", "newline"),
    [
        ('{\n    "a": 1\n}\n', "    ", "\n"),
        ('{\n\t"a": 1\n}', "\t", ""),
        ('{\r\n  "a": 1\r\n}\r\n', "  ", "\r\n"),
        ('{"a": 1}', "  ", ""),
    ],
)
def test_the_file_keeps_its_indentation_and_line_ends(
    git_repo: Path, text: str, indent: str, newline: str
) -> None:
    """The merged file uses the file's own indent unit, line endings and final newline."""
    path = git_repo / ".codex" / "hooks.json"
    path.parent.mkdir()
    path.write_bytes(text.encode())
    enable_agent(git_repo, "codex")
    out = path.read_bytes().decode()
    assert json.loads(out)["a"] == 1
    eol = "\r\n" if "\r\n" in text else "\n"
    assert out.splitlines(keepends=True)[1] == f'{indent}"a": 1,{eol}'
    assert out.endswith("}" + newline)
    if eol == "\n":
        assert "\r" not in out


def test_several_agents_at_once(git_repo: Path) -> None:
    """enable_agents writes every agent's file; enabled_agents then lists them all."""
    changes = enable_agents(git_repo, ALL_AGENTS)
    assert [c.agent for c in changes] == ALL_AGENTS
    assert {c.action for c in changes} == {"created"}
    for change in changes:
        assert change.path.is_file()
        assert change.path == git_repo / AGENT_CONFIGS[change.agent].path
    assert enabled_agents(git_repo) == ALL_AGENTS
    assert {c.action for c in enable_agents(git_repo, ALL_AGENTS)} == {"unchanged"}
    assert {c.action for c in disable_agents(git_repo, ["codex", "cursor"])} == {"deleted"}
    assert enabled_agents(git_repo) == [n for n in ALL_AGENTS if n not in ("codex", "cursor")]


BAD_FILES = [
    ('{\n  "hooks": {\n', "not valid JSON (line 3"),
    ('{"hooks": {}, // mine\n}', "not valid JSON"),
    ("[1, 2]", "JSON list, not an object"),
    ('{"hooks": []}', '"hooks" must be an object of events, not a list'),
    ('{"hooks": {"SessionStart": {"hooks": []}}}', '"hooks"."SessionStart" must be a list'),
    ('{"hooks": {"Stop": null}}', '"hooks"."Stop" must be a list, not a null'),
    ('{"hooks": null}', '"hooks" must be an object of events, not a null'),
    ('{"hooks": {}, "hooks": {}}', "has the key 'hooks' twice"),
    ('{"timeout": NaN}', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_an_unusable_file_is_refused_and_left_untouched(
    git_repo: Path, content: str | bytes, message: str
) -> None:
    """Bad JSON or wrong types raise AgentConfigError naming the file; no file is written."""
    path = git_repo / ".codex" / "hooks.json"
    path.parent.mkdir()
    raw = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(raw)
    with pytest.raises(bitloops.AgentConfigError, match=re.escape(message)) as info:
        enable_agents(git_repo, ["claude-code", "codex"])
    assert ".codex/hooks.json" in str(info.value)
    assert path.read_bytes() == raw
    # Checked before anything was written: the other agent's file was not created either.
    assert not (git_repo / ".claude").exists()
    # disable refuses what it cannot parse, and finds nothing of its own in wrong types.
    parsed = not message.startswith(("not valid JSON", "JSON list", "has the key", "not UTF-8"))
    if parsed:
        assert disable_agent(git_repo, "codex").action == "not-installed"
    else:
        with pytest.raises(bitloops.AgentConfigError, match=re.escape(".codex/hooks.json")):
            disable_agent(git_repo, "codex")
    assert path.read_bytes() == raw


def test_a_foreign_plugin_file_is_never_overwritten(git_repo: Path) -> None:
    """An OpenCode plugin of that name that is not bitloops' is refused, and left by disable."""
    path = git_repo / ".opencode" / "plugin" / "bitloops.js"
    path.parent.mkdir(parents=True)
    path.write_text("export const Mine = async () => ({})\n")
    with pytest.raises(bitloops.AgentConfigError, match="not bitloops' plugin"):
        enable_agent(git_repo, "opencode")
    assert disable_agent(git_repo, "opencode").action == "foreign"
    assert path.read_text() == "export const Mine = async () => ({})\n"


def test_the_opencode_plugin_is_the_packaged_one(git_repo: Path) -> None:
    """enable copies the package's plugin byte for byte; an older copy of it is updated."""
    source = Path(bitloops.__file__).parent / "agents" / "opencode_plugin.js"
    change = enable_agent(git_repo, "opencode")
    assert change.action == "created"
    assert change.path.read_bytes() == source.read_bytes()
    first_line = source.read_bytes().split(b"\n", 1)[0]
    change.path.write_bytes(first_line + b"\n// an older version\n")
    assert enable_agent(git_repo, "opencode").action == "updated"
    assert change.path.read_bytes() == source.read_bytes()
    assert disable_agent(git_repo, "opencode").action == "deleted"
    assert not (git_repo / ".opencode").exists()


def test_no_machine_paths_in_shared_files(git_repo: Path) -> None:
    """Shared files run `bitloops hook NAME`; only Claude Code's git-ignored file names a Python."""
    enable_agents(git_repo, ALL_AGENTS)
    machine = [sys.executable, str(git_repo), str(Path.home())]
    for name, config in AGENT_CONFIGS.items():
        text = (git_repo / config.path).read_text(encoding="utf-8")
        if config.personal:
            assert agent_command(name, personal=True) in text
            continue
        for path in machine:
            assert path not in text, (name, path)
        if config.layout != "plugin":
            doc = load(git_repo, name)
            for event in config.events:
                for key in config.command_keys:
                    assert own_entries(doc, name, event)[0][key] == f"bitloops hook {name}"
    # The personal file is ignored by git (through .git/info/exclude), the others show up.
    status = git(git_repo, "status", "--porcelain", "--untracked-files=all")
    assert ".claude" not in status
    for config in AGENT_CONFIGS.values():
        if not config.personal:
            assert config.path in status
    exclude = git_repo / ".git" / "info" / "exclude"
    assert "/.claude/settings.local.json" in exclude.read_text()
    disable_agent(git_repo, "claude-code")
    assert "settings.local.json" not in exclude.read_text()


def test_a_tracked_personal_file_gets_no_machine_path(git_repo: Path) -> None:
    """When a team commits .claude/settings.local.json anyway, the command relies on PATH."""
    path = git_repo / ".claude" / "settings.local.json"
    path.parent.mkdir()
    path.write_text("{}\n")
    git(git_repo, "add", "-f", ".claude/settings.local.json")
    enable_agent(git_repo, "claude-code")
    assert sys.executable not in path.read_text()
    doc = load(git_repo, "claude-code")
    assert own_entries(doc, "claude-code", "Stop")[0]["command"] == "bitloops hook claude-code"


def test_events_the_shared_claude_settings_hook_up_are_not_doubled(git_repo: Path) -> None:
    """Events .claude/settings.json already sends to bitloops get no second entry (no doubles)."""
    shared = git_repo / ".claude" / "settings.json"
    shared.parent.mkdir()
    group = [{"hooks": [{"type": "command", "command": "bitloops hook claude-code"}]}]
    shared.write_text(json.dumps({"hooks": {"Stop": group, "SessionStart": group}}))
    change = enable_agent(git_repo, "claude-code")
    assert change.action == "created"
    assert set(change.events) == set(AGENT_CONFIGS["claude-code"].events) - {"Stop", "SessionStart"}
    local = load(git_repo, "claude-code")
    assert "Stop" not in local["hooks"] and "SessionStart" not in local["hooks"]
    disable_agent(git_repo, "claude-code")

    events = AGENT_CONFIGS["claude-code"].events
    shared.write_text(json.dumps({"hooks": dict.fromkeys(events, group)}))
    assert enable_agent(git_repo, "claude-code").action == "unchanged"
    assert not (git_repo / ".claude" / "settings.local.json").exists()
    assert "settings.local.json" not in (git_repo / ".git" / "info" / "exclude").read_text()


def test_an_entry_for_another_python_is_updated_not_doubled(git_repo: Path) -> None:
    """A hand-written `/old/python -m bitloops hook claude-code` entry is pointed at this Python."""
    path = git_repo / ".claude" / "settings.local.json"
    path.parent.mkdir()
    old = {"type": "command", "command": "/old/venv/bin/python -m bitloops hook claude-code"}
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [old]}]}}), encoding="utf-8")
    change = enable_agent(git_repo, "claude-code", python="/new/python")
    assert change.action == "added"  # the other events were added
    doc = load(git_repo, "claude-code")
    assert [e["command"] for e in entries(doc, "claude-code", "Stop")] == [
        "/new/python -P -m bitloops hook claude-code"
    ]
    # Only the command changed: updating again with yet another Python says "updated".
    again = enable_agent(git_repo, "claude-code", python="/other/python")
    assert again.action == "updated"
    assert set(again.events) == set(AGENT_CONFIGS["claude-code"].events)


# The reviewer's case: a wrapper of the user's, for Bash calls only.
WRAPPER_SETTINGS = (
    '{"hooks": {"PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", '
    '"command": "cd tools && bitloops hook claude-code"}]}]}}'
)


def test_a_users_wrapper_is_kept_and_does_not_count_as_ours(git_repo: Path) -> None:
    """A wrapper under a narrow matcher survives enable and disable; bitloops adds its own."""
    path = git_repo / ".claude" / "settings.local.json"
    path.parent.mkdir()
    path.write_text(WRAPPER_SETTINGS, encoding="utf-8")
    theirs = json.loads(WRAPPER_SETTINGS)["hooks"]["PostToolUse"][0]
    assert enabled_agents(git_repo) == []  # their wrapper is not bitloops enabled

    change = enable_agent(git_repo, "claude-code", python="/venv/bin/python")
    assert change.action == "added"
    assert "PostToolUse" in change.events
    doc = load(git_repo, "claude-code")
    # Theirs first and untouched; then bitloops' own group, for every tool.
    assert doc["hooks"]["PostToolUse"] == [
        theirs,
        {
            "matcher": "",
            "hooks": [
                {
                    "type": "command",
                    "command": "/venv/bin/python -P -m bitloops hook claude-code",
                    "timeout": 30,
                }
            ],
        },
    ]
    for event in AGENT_CONFIGS["claude-code"].events:
        assert len(own_entries(doc, "claude-code", event)) == 1, event
    written = path.read_bytes()
    assert enable_agent(git_repo, "claude-code", python="/venv/bin/python").action == "unchanged"
    assert path.read_bytes() == written

    assert disable_agent(git_repo, "claude-code").action == "removed"
    assert path.read_bytes() == WRAPPER_SETTINGS.encode("utf-8")
    assert enabled_agents(git_repo) == []

    # After an edit of theirs (no byte-for-byte restore), disable still keeps the wrapper.
    enable_agent(git_repo, "claude-code")
    doc = load(git_repo, "claude-code")
    doc["model"] = "opus"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert disable_agent(git_repo, "claude-code").action == "removed"
    assert load(git_repo, "claude-code") == {"hooks": {"PostToolUse": [theirs]}, "model": "opus"}
    assert disable_agent(git_repo, "claude-code").action == "not-installed"


def test_an_own_command_under_a_narrow_matcher_is_the_users(git_repo: Path) -> None:
    """Gemini: `bitloops hook gemini` for one tool, or a wrapper, stays; ours covers all tools."""
    path = git_repo / ".gemini" / "settings.json"
    path.parent.mkdir()
    narrow = {"matcher": "write_file", "hooks": [{"command": "bitloops hook gemini"}]}
    wrapper = {"hooks": [{"type": "command", "command": "nice -n 5 bitloops hook gemini"}]}
    text = json.dumps({"hooks": {"AfterTool": [narrow], "SessionStart": [wrapper]}}, indent=4)
    path.write_text(text, encoding="utf-8")

    change = enable_agent(git_repo, "gemini")
    assert change.action == "added"
    assert change.events == AGENT_CONFIGS["gemini"].events  # AfterTool and SessionStart too
    doc = load(git_repo, "gemini")
    assert doc["hooks"]["AfterTool"][0] == narrow
    assert "matcher" not in doc["hooks"]["AfterTool"][1]  # no matcher: every tool
    assert doc["hooks"]["SessionStart"][0] == wrapper
    for event in AGENT_CONFIGS["gemini"].events:
        assert len(own_entries(doc, "gemini", event)) == 1 + (event == "AfterTool"), event

    assert disable_agent(git_repo, "gemini").action == "removed"
    assert path.read_text(encoding="utf-8") == text
    # Nothing of bitloops' is left, so there is nothing to remove.
    assert disable_agent(git_repo, "gemini").action == "not-installed"
    assert path.read_text(encoding="utf-8") == text


def test_a_copilot_entry_with_one_wrapped_shell_is_the_users(git_repo: Path) -> None:
    """Copilot: an entry whose bash command is a wrapper is theirs, even if powershell's is not."""
    path = git_repo / ".github" / "hooks" / "bitloops.json"
    path.parent.mkdir(parents=True)
    mine = {"type": "command", "bash": "cd tools && bitloops hook copilot"}
    mine["powershell"] = "bitloops hook copilot"
    path.write_text(json.dumps({"version": 1, "hooks": {"sessionStart": [mine]}}))
    enable_agent(git_repo, "copilot")
    doc = load(git_repo, "copilot")
    assert doc["hooks"]["sessionStart"][0] == mine
    (ours,) = own_entries(doc, "copilot", "sessionStart")
    assert ours["bash"] == ours["powershell"] == "bitloops hook copilot"
    disable_agent(git_repo, "copilot")
    assert load(git_repo, "copilot") == {"version": 1, "hooks": {"sessionStart": [mine]}}


def test_copilot_entries_name_their_event(git_repo: Path) -> None:
    """Each Copilot entry sets BITLOOPS_COPILOT_EVENT, since payloads may not name the event."""
    enable_agent(git_repo, "copilot")
    doc = load(git_repo, "copilot")
    assert doc["version"] == 1
    for event in AGENT_CONFIGS["copilot"].events:
        (entry,) = own_entries(doc, "copilot", event)
        assert entry["env"] == {"BITLOOPS_COPILOT_EVENT": event}
        assert entry["bash"] == entry["powershell"] == "bitloops hook copilot"


def test_commands_are_recognised_by_what_they_run() -> None:
    """Own entries are the forms bitloops writes; wrappers, other agents and quoting are not."""
    assert is_own_command("bitloops hook codex", "codex")
    assert is_own_command("'/a b/python' -m bitloops hook codex", "codex")
    assert is_own_command("/usr/bin/python3 -m bitloops hook codex", "codex")
    assert is_own_command("/usr/bin/python3 -P -m bitloops hook codex", "codex")  # 0.2 form
    assert is_own_command("/usr/local/bin/bitloops hook codex", "codex")
    assert is_own_command(agent_command("codex", personal=True, python="/a'b/py"), "codex")
    assert not is_own_command("bitloops hook claude-code", "codex")
    assert not is_own_command("bitloops hook codex && echo done", "codex")
    assert not is_own_command("mybitloops hook codex", "codex")
    assert not is_own_command("unbalanced 'quote", "codex")
    # A user's wrapper that ends in the same words is theirs.
    assert not is_own_command("cd tools && bitloops hook codex", "codex")
    assert not is_own_command("FOO=1 bitloops hook codex", "codex")
    assert not is_own_command("env FOO=1 /usr/bin/python -m bitloops hook codex", "codex")
    assert not is_own_command("./bin/bitloops hook codex", "codex")  # a script of theirs
    assert not is_own_command("bitloops  hook codex", "codex")  # not how bitloops spaces it
    assert not is_own_command('"/a b/python" -m bitloops hook codex', "codex")  # nor quotes
    assert agent_command("codex") == "bitloops hook codex"
    assert (
        agent_command("codex", personal=True, python="/a b/py")
        == "'/a b/py' -P -m bitloops hook codex"
    )


def test_agent_names_are_parsed_and_checked() -> None:
    """--agent values may repeat and hold commas; an unknown name lists the known ones."""
    assert parse_agent_names(["claude-code, cursor", "codex", "cursor", ""]) == [
        "claude-code",
        "cursor",
        "codex",
    ]
    with pytest.raises(bitloops.AgentConfigError, match="unknown agent 'vim'; choose from"):
        parse_agent_names(["codex,vim"])


# -- the command line -----------------------------------------------------------------------


def test_cli_enable_and_disable_agents(git_repo: Path) -> None:
    """`enable --agent` installs git hooks and agent files; `disable --agent` removes one agent."""
    proc = run(git_repo, "enable", "--agent", "claude-code", "--agent", "codex,gemini", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [h["action"] for h in out["hooks"]] == ["installed"] * 5
    assert [(a["agent"], a["action"]) for a in out["agents"]] == [
        ("claude-code", "created"),
        ("codex", "created"),
        ("gemini", "created"),
    ]
    assert out["agents"][1]["path"] == str(git_repo / ".codex" / "hooks.json")
    assert "codex_hooks = true" in proc.stderr  # what is left to do for Codex
    names = ["claude-code", "codex", "gemini"]
    snapshot = {n: (git_repo / AGENT_CONFIGS[n].path).read_bytes() for n in names}

    proc = run(git_repo, "enable", "--agent", "codex,claude-code")
    assert proc.returncode == 0, proc.stderr
    assert "codex: already enabled" in proc.stdout
    assert "claude-code: already enabled" in proc.stdout
    assert all((git_repo / AGENT_CONFIGS[n].path).read_bytes() == b for n, b in snapshot.items())

    proc = run(git_repo, "disable", "--agent", "codex")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("codex: hooks removed;")
    assert not (git_repo / ".codex").exists()
    assert (git_repo / ".gemini" / "settings.json").is_file()
    assert (git_repo / ".git" / "hooks" / "post-commit").is_file()  # git hooks stay

    proc = run(git_repo, "disable", "--agent", "gemini", "--json")
    assert json.loads(proc.stdout)["agents"][0]["action"] == "deleted"

    proc = run(git_repo, "enable", "--agent", "emacs")
    assert proc.returncode == 2
    assert "unknown agent 'emacs'" in proc.stderr


def test_cli_refuses_a_bad_file_and_changes_nothing(git_repo: Path) -> None:
    """A bad agent file: exit 2, one clear line, the file untouched and no git hook installed."""
    path = git_repo / ".gemini" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"hooks": ')
    proc = run(git_repo, "enable", "--agent", "gemini")
    assert proc.returncode == 2
    assert proc.stderr.startswith("bitloops: .gemini/settings.json is not valid JSON")
    assert "Traceback" not in proc.stderr
    assert path.read_text() == '{"hooks": '
    assert not (git_repo / ".git" / "hooks" / "post-commit").exists()


def test_plain_enable_writes_no_agent_file(git_repo: Path) -> None:
    """Without --agent, enable and disable only deal with the git hooks, as before."""
    proc = run(git_repo, "enable", "--json")
    assert proc.returncode == 0
    assert "agents" not in json.loads(proc.stdout)
    assert enabled_agents(git_repo) == []
    enable_agent(git_repo, "codex")
    assert run(git_repo, "disable").returncode == 0
    assert enabled_agents(git_repo) == ["codex"]


# -- the installed command runs ---------------------------------------------------------------


def payload(name: str, repo: Path, sid: str) -> dict[str, Any]:
    """A prompt as each agent's hook sends it."""
    prompt = f"hello from {name}"
    if name == "claude-code":
        return {
            "hook_event_name": "UserPromptSubmit",
            "session_id": sid,
            "cwd": str(repo),
            "transcript_path": str(repo / "missing.jsonl"),
            "prompt": prompt,
        }
    if name == "codex":
        return {
            "hook_event_name": "UserPromptSubmit",
            "session_id": sid,
            "cwd": str(repo),
            "transcript_path": None,
            "model": "gpt-5",
            "turn_id": "t1",
            "prompt": prompt,
        }
    if name == "gemini":
        return {
            "hook_event_name": "BeforeAgent",
            "session_id": sid,
            "cwd": str(repo),
            "transcript_path": str(repo / "missing.json"),
            "timestamp": "2026-01-01T00:00:00Z",
            "prompt": prompt,
        }
    if name == "cursor":
        return {
            "hook_event_name": "beforeSubmitPrompt",
            "conversation_id": sid,
            "generation_id": "g1",
            "workspace_roots": [str(repo)],
            "prompt": prompt,
            "attachments": [],
        }
    if name == "copilot":  # camelCase, without the event's name: the entry's env gives it
        return {"sessionId": sid, "timestamp": 1767225600000, "cwd": str(repo), "prompt": prompt}
    raise AssertionError(name)


def installed(repo: Path, name: str, event: str) -> tuple[str, dict[str, str]]:
    """The command (and environment) the agent's file makes the agent run for ``event``."""
    config = AGENT_CONFIGS[name]
    (entry,) = own_entries(load(repo, name), name, event)
    return entry[config.command_keys[0]], dict(entry.get("env", {}))


PROMPT_EVENTS = {
    "claude-code": "UserPromptSubmit",
    "codex": "UserPromptSubmit",
    "gemini": "BeforeAgent",
    "cursor": "beforeSubmitPrompt",
    "copilot": "userPromptSubmitted",
}


@pytest.mark.parametrize("name", JSON_AGENTS)
def test_the_installed_command_records_a_prompt(git_repo: Path, tmp_path: Path, name: str) -> None:
    """The command written for the agent's prompt event, run as the agent runs it, records it."""
    enable_agent(git_repo, name)
    command, env = installed(git_repo, name, PROMPT_EVENTS[name])
    home = tmp_path / "home"
    home.mkdir()
    environ = {
        **os.environ,
        **env,
        # `bitloops` on PATH, as for a user who installed it; nothing read from the real home.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
    }
    sid = f"session-{name}"
    proc = subprocess.run(
        ["sh", "-c", command],
        cwd=git_repo,
        env=environ,
        input=json.dumps(payload(name, git_repo, sid)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    with bitloops.Repository.open(git_repo) as repo:
        events = repo.draft().events
    prompts = [e for e in events if e.kind == "prompt" and e.agent == name]
    assert len(prompts) == 1
    assert f"hello from {name}" in json.dumps(prompts[0].payload)


def test_the_opencode_plugin_runs_bitloops_hook_opencode(git_repo: Path, tmp_path: Path) -> None:
    """The installed plugin's command (`bitloops hook opencode`) takes a plugin payload, exit 0."""
    change = enable_agent(git_repo, "opencode")
    text = change.path.read_text(encoding="utf-8")
    match = re.search(r"^const DEFAULT_COMMAND = (\[.*\]);$", text, re.M)
    assert match is not None
    command = [*json.loads(match.group(1)), "hook", "opencode"]
    assert command == ["bitloops", "hook", "opencode"]
    event = {
        "type": "session.created",
        "properties": {"info": {"id": "ses_1", "directory": str(git_repo), "title": "t"}},
    }
    body = {
        "bitloops_opencode": 1,
        "hook": "event",
        "time": 1767225600000,
        "cwd": str(git_repo),
        "worktree": str(git_repo),
        "role": None,
        "event": event,
    }
    environ = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(
        shlex.join(command),
        shell=True,
        cwd=git_repo,
        env=environ,
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    with bitloops.Repository.open(git_repo) as repo:
        sessions = {e.session_id for e in repo.draft().events if e.agent == "opencode"}
    assert sessions


# -- the MCP server entry (bitloops mcp) in each agent's own MCP file -------------------------

from bitloops.agents import _mcp_config as mcp_config  # noqa: E402
from bitloops.agents._mcp_config import mcp_command, mcp_target  # noqa: E402

OTHER_SERVER = {"command": "npx", "args": ["-y", "some-mcp-server"]}
OLD_PYTHON = "/gone/python3"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own: the agents' personal MCP files start out absent."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "COPILOT_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    return path


def mcp_file(repo: Path, name: str) -> Path:
    """The file where the agent reads bitloops' MCP server."""
    return mcp_target(repo, name).path


def seed_json(name: str, repo: Path) -> dict[str, Any]:
    """A user's MCP file of that agent: another server and keys of their own."""
    if name == "claude-code":
        return {
            "numStartups": 12,
            "projects": {
                "/elsewhere": {"mcpServers": {"other": OTHER_SERVER}},
                str(repo): {"allowedTools": ["Bash(ls)"], "mcpServers": {"other": OTHER_SERVER}},
            },
            "theme": "dark",
        }
    if name == "opencode":
        return {
            "$schema": "https://opencode.ai/config.json",
            "mcp": {"other": {"type": "local", "command": ["npx", "some-mcp-server"]}},
            "theme": "system",
        }
    return {"mcpServers": {"other": OTHER_SERVER}, "theme": "dark"}


CODEX_CONFIG = """# my Codex settings
model = "gpt-5"

[features]
codex_hooks = true

[mcp_servers.other]
command = "npx"
args = ["-y", "some-mcp-server"]
"""


def our_entry(repo: Path, name: str) -> dict[str, Any]:
    """bitloops' entry in the agent's MCP file, parsed."""
    import tomllib

    path = mcp_file(repo, name)
    if name == "codex":
        entry: dict[str, Any] = tomllib.loads(path.read_text())["mcp_servers"]["bitloops"]
        return entry
    doc = json.loads(path.read_text())
    if name == "claude-code":
        return dict(doc["projects"][str(repo)]["mcpServers"]["bitloops"])
    if name == "opencode":
        return dict(doc["mcp"]["bitloops"])
    return dict(doc["mcpServers"]["bitloops"])


def entry_words(entry: dict[str, Any]) -> list[str]:
    """The command line an MCP entry runs."""
    command = entry["command"]
    return list(command) if isinstance(command, list) else [command, *entry.get("args", [])]


@pytest.mark.parametrize("name", ALL_AGENTS)
def test_enable_registers_the_mcp_server_and_keeps_the_rest(
    git_repo: Path, home: Path, name: str
) -> None:
    """Our entry is added beside the user's; enable twice is a no-op; disable gives bytes back."""
    path = mcp_file(git_repo, name)
    assert str(path).startswith(str(home))  # a personal file, never the shared project one
    path.parent.mkdir(parents=True, exist_ok=True)
    original = (
        CODEX_CONFIG.encode()
        if name == "codex"
        else (json.dumps(seed_json(name, git_repo), indent=2) + "\n").encode()
    )
    path.write_bytes(original)

    change = enable_agent(git_repo, name)
    assert change.mcp is not None
    assert (change.mcp.action, change.mcp.path) == ("added", path)
    assert entry_words(our_entry(git_repo, name)) == mcp_command(name)
    assert entry_words(our_entry(git_repo, name))[-3:] == ["mcp", "--agent", name]
    text = path.read_text()
    if name == "codex":
        assert text.startswith(CODEX_CONFIG)  # the user's part, byte for byte
    else:
        doc = json.loads(text)
        seed = seed_json(name, git_repo)
        assert list(doc) == list(seed)  # key order kept, nothing added at the top
        assert {k: v for k, v in doc.items() if k not in ("projects", "mcp", "mcpServers")} == {
            k: v for k, v in seed.items() if k not in ("projects", "mcp", "mcpServers")
        }
        if name == "claude-code":
            assert doc["projects"]["/elsewhere"] == seed["projects"]["/elsewhere"]
            assert doc["projects"][str(git_repo)]["allowedTools"] == ["Bash(ls)"]
    written = path.read_bytes()
    again = enable_agent(git_repo, name)
    assert again.mcp.action == "unchanged"
    assert path.read_bytes() == written

    removed = disable_agent(git_repo, name)
    assert removed.mcp.action == "removed"
    assert path.read_bytes() == original
    assert disable_agent(git_repo, name).mcp.action == "not-installed"


@pytest.mark.parametrize("name", ALL_AGENTS)
def test_a_file_bitloops_created_goes_with_its_entry(git_repo: Path, home: Path, name: str) -> None:
    """Without a file, enable creates one; disable deletes it and the folder it made."""
    path = mcp_file(git_repo, name)
    change = enable_agent(git_repo, name)
    assert change.mcp.action == "created"
    assert path.is_file()
    assert disable_agent(git_repo, name).mcp.action == "deleted"
    assert not path.exists()
    if path.parent != home:
        assert not path.parent.exists()
    assert home.is_dir()


BAD_MCP_FILES = [
    ("codex", "[mcp_servers\ncommand = 1\n", "is not valid TOML"),
    ("codex", 'mcp_servers = "none"\n', "mcp_servers must be an object"),
    ("cursor", '{"mcpServers": {', "is not valid JSON"),
    ("cursor", '{"mcpServers": []}', '"mcpServers" must be an object'),
    ("claude-code", '{"projects": []}', '"projects" must be an object'),
    ("copilot", "[]", "not an object"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_MCP_FILES)
def test_an_unusable_mcp_file_changes_nothing(
    git_repo: Path, home: Path, name: str, content: str, message: str
) -> None:
    """A broken MCP file is an error naming it; neither it nor any hook file is written."""
    path = mcp_file(git_repo, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(bitloops.AgentConfigError, match=re.escape(message)) as info:
        enable_agents(git_repo, ["gemini", name])
    assert path.name in str(info.value)
    assert path.read_text() == content
    assert not (git_repo / ".gemini").exists()
    assert not (git_repo / AGENT_CONFIGS[name].path).exists()


def test_a_foreign_bitloops_entry_is_left_alone(git_repo: Path, home: Path) -> None:
    """An entry named bitloops running something else is the user's: enable and disable keep it."""
    path = mcp_file(git_repo, "cursor")
    path.parent.mkdir(parents=True)
    original = json.dumps({"mcpServers": {"bitloops": {"command": "uvx", "args": ["mine"]}}})
    path.write_text(original)
    assert enable_agent(git_repo, "cursor").mcp.action == "foreign"
    assert disable_agent(git_repo, "cursor").mcp.action == "foreign"
    assert path.read_text() == original


def test_an_outdated_entry_is_updated_keeping_the_users_keys(git_repo: Path, home: Path) -> None:
    """An entry of another (gone) Python is brought up to date; keys the user added stay."""
    import tomllib

    path = mcp_file(git_repo, "codex")
    path.parent.mkdir(parents=True)
    old = json.dumps([*mcp_command("codex", python=OLD_PYTHON)[1:]])
    path.write_text(
        CODEX_CONFIG
        + f'\n[mcp_servers.bitloops]\ncommand = "{OLD_PYTHON}"\nargs = {old}\n'
        + 'startup_timeout_sec = 20  # slow disk\n\n[mcp_servers.bitloops.env]\nX = "1"\n'
        + '\n[profiles.fast]\nmodel = "gpt-5-mini"\n'
    )
    assert mcp_config.mcp_state(git_repo, "codex")[0] == "outdated"
    assert enable_agent(git_repo, "codex").mcp.action == "updated"
    doc = tomllib.loads(path.read_text())
    entry = doc["mcp_servers"]["bitloops"]
    assert entry_words(entry) == mcp_command("codex")
    assert entry["startup_timeout_sec"] == 20 and entry["env"] == {"X": "1"}
    assert doc["profiles"] == {"fast": {"model": "gpt-5-mini"}}
    assert "# slow disk" in path.read_text()
    assert mcp_config.mcp_state(git_repo, "codex")[0] == "current"
    disable_agent(git_repo, "codex")
    doc = tomllib.loads(path.read_text())
    assert "bitloops" not in doc["mcp_servers"] and doc["profiles"]


def test_a_codex_entry_bitloops_cannot_edit_safely_is_refused(git_repo: Path, home: Path) -> None:
    """An inline-table entry cannot be edited as text: a clear error, the file unchanged."""
    path = mcp_file(git_repo, "codex")
    path.parent.mkdir(parents=True)
    args = json.dumps(mcp_command("codex", python=OLD_PYTHON)[1:])
    content = f'mcp_servers = {{ bitloops = {{ command = "{OLD_PYTHON}", args = {args} }} }}\n'
    path.write_text(content)
    with pytest.raises(bitloops.AgentConfigError, match="edit that entry by hand"):
        enable_agent(git_repo, "codex")
    assert path.read_text() == content


def test_opencode_servers_under_mcp_servers_are_followed(git_repo: Path, home: Path) -> None:
    """A config that keeps servers under mcp.servers (newer OpenCode) gets ours there too."""
    path = mcp_file(git_repo, "opencode")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"mcp": {"servers": {"other": {"type": "local"}}}}))
    enable_agent(git_repo, "opencode")
    servers = json.loads(path.read_text())["mcp"]["servers"]
    assert set(servers) == {"other", "bitloops"}
    assert servers["bitloops"]["type"] == "local"
    disable_agent(git_repo, "opencode")
    assert json.loads(path.read_text()) == {"mcp": {"servers": {"other": {"type": "local"}}}}


def test_without_the_sdk_no_server_is_registered(git_repo: Path, home: Path) -> None:
    """mcp=False (the MCP SDK missing): the hooks go in, no MCP file is written."""
    change = enable_agent(git_repo, "cursor", mcp=False)
    assert change.action == "created"
    assert change.mcp.action == "unavailable"
    assert not mcp_file(git_repo, "cursor").exists()


def test_cli_enable_says_where_the_server_went(git_repo: Path, home: Path) -> None:
    """enable and disable --agent print (and --json give) the MCP entry's file and action."""
    proc = run(git_repo, "enable", "--agent", "cursor")
    assert proc.returncode == 0, proc.stderr
    assert "cursor: MCP server registered in ~/.cursor/mcp.json (new file)" in proc.stdout
    proc = run(git_repo, "enable", "--agent", "cursor", "--json")
    mcp = json.loads(proc.stdout)["agents"][0]["mcp"]
    assert mcp == {"path": str(home / ".cursor" / "mcp.json"), "action": "unchanged"}
    proc = run(git_repo, "disable", "--agent", "cursor")
    assert "cursor: MCP server removed; ~/.cursor/mcp.json held nothing else" in proc.stdout


def test_status_and_doctor_report_missing_and_outdated_entries(git_repo: Path, home: Path) -> None:
    """status warns, doctor finds and --fix repairs an entry removed or left on a gone Python."""
    assert run(git_repo, "enable", "--agent", "cursor,codex").returncode == 0
    assert json.loads(run(git_repo, "status", "--json").stdout)["warnings"] == []
    mcp_file(git_repo, "cursor").unlink()
    codex = mcp_file(git_repo, "codex")
    codex.write_text(codex.read_text().replace(sys.executable, OLD_PYTHON))

    warnings = json.loads(run(git_repo, "status", "--json").stdout)["warnings"]
    assert any("cursor" in w and "not registered" in w for w in warnings), warnings
    assert any("codex" in w and "out of date" in w for w in warnings), warnings
    proc = run(git_repo, "doctor", "--json")
    assert proc.returncode == 1
    found = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "mcp"]
    assert len(found) == 2 and all(f["repair"] for f in found)
    proc = run(git_repo, "doctor", "--fix", "--json")
    fixed = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "mcp"]
    assert [f["fixed"] for f in fixed] == [True, True]
    assert json.loads(run(git_repo, "status", "--json").stdout)["warnings"] == []
    assert entry_words(our_entry(git_repo, "codex")) == mcp_command("codex")


@pytest.mark.parametrize("name", ALL_AGENTS)
def test_the_registered_server_starts(git_repo: Path, home: Path, name: str) -> None:
    """The command in the agent's MCP file, run in the project, answers MCP's initialize."""
    pytest.importorskip("mcp")
    assert run(git_repo, "enable", "--agent", name).returncode == 0
    entry = our_entry(git_repo, name)
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    proc = subprocess.Popen(
        entry_words(entry),
        cwd=git_repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(hello) + "\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert reply["result"]["serverInfo"]["name"] == "bitloops"
