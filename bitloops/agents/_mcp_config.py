"""Register ``bitloops mcp`` in each agent's own MCP configuration.

``bitloops enable --agent NAME`` adds an MCP server named ``bitloops`` to the file where
that agent reads its servers, and ``disable --agent NAME`` removes it. Every file is one
person's own (see :data:`MCP_FILES` and docs/agents.md for the reasons): a shared project
file would make each teammate's agent start, or ask to approve, a server that only works
where bitloops is installed. So the command names the Python that ran ``enable``
(``<python> -m bitloops mcp --agent NAME``), as the git hooks do.

The merge is as careful as that of the hooks: everything else in the file is kept (other
servers, other keys, their order, the file's indentation and line endings); an entry named
``bitloops`` that runs something else is the user's and left alone; running ``enable``
again changes nothing; a file that is not valid JSON (or TOML, for Codex) raises
:class:`~bitloops.errors.AgentConfigError` and nothing is written. Codex's TOML file is
edited as text (only the ``[mcp_servers.bitloops]`` table), and the result is parsed
again and compared with what was meant before it is written.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import attrs

from bitloops._launch import SAFE_PATH, bitloops_argv
from bitloops.errors import AgentConfigError

__all__ = [
    "MCP_FILES",
    "SERVER_NAME",
    "McpChange",
    "McpTarget",
    "mcp_available",
    "mcp_command",
    "mcp_problems",
    "mcp_state",
    "mcp_target",
]

#: The name of bitloops' server in every agent's configuration.
SERVER_NAME = "bitloops"


class _Files(Mapping[str, str]):
    """Where each registered agent's entry goes, as docs/agents.md names it (its record's
    ``mcp_file``); a view of the registry."""

    def __getitem__(self, name: str) -> str:
        from bitloops.agents._registry import AGENTS, integration

        if name not in AGENTS:
            raise KeyError(name)
        return integration(name).mcp_file

    def __iter__(self) -> Iterator[str]:
        from bitloops.agents._registry import AGENTS

        return iter(list(AGENTS))

    def __len__(self) -> int:
        from bitloops.agents._registry import AGENTS

        return len(AGENTS)


#: Where each agent's entry goes, as docs/agents.md names it.
MCP_FILES: Mapping[str, str] = _Files()


@attrs.frozen(kw_only=True)
class McpTarget:
    """One agent's MCP configuration file and where bitloops' entry sits in it."""

    agent: str
    #: The file, absolute.
    path: Path
    #: ``json`` or ``toml``.
    format: str
    #: The keys from the document's root to the object that holds the servers.
    container: tuple[str, ...]
    #: The entry's form: claude, plain, copilot, opencode or codex.
    shape: str


@attrs.frozen
class McpChange:
    """What enabling or disabling did to one agent's MCP entry."""

    agent: str
    path: Path
    #: created, added, updated, unchanged, unavailable (enable); removed, deleted,
    #: not-installed (disable); foreign (an entry named bitloops that is not ours).
    action: str

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` shape of the change."""
        return {"path": str(self.path), "action": self.action}


def mcp_available() -> bool:
    """Whether the MCP SDK (``bitloops[mcp]``) is installed, without importing it."""
    import importlib.util

    return importlib.util.find_spec("mcp") is not None


def mcp_target(toplevel: Path, agent: str) -> McpTarget:
    """Where ``agent`` reads bitloops' MCP server for the work tree ``toplevel``.

    Its record's ``mcp_place`` says; :class:`~bitloops.errors.AgentConfigError` for an
    agent the registry does not know.
    """
    from bitloops.agents._registry import AGENTS, integration

    if agent not in AGENTS:
        raise AgentConfigError(f"no MCP configuration is known for the agent {agent!r}")
    path, form, container, shape = integration(agent).mcp_place(toplevel)
    return McpTarget(agent=agent, path=path, format=form, container=container, shape=shape)


def mcp_command(agent: str, *, python: str | None = None) -> list[str]:
    """The words of the server's command: ``<python> -P -m bitloops mcp --agent NAME``."""
    return bitloops_argv("mcp", "--agent", agent, python=python)


def _entry(target: McpTarget, python: str | None) -> dict[str, Any]:
    """The keys bitloops writes in its entry (others the user adds are kept)."""
    words = mcp_command(target.agent, python=python)
    if target.shape == "opencode":
        return {"type": "local", "command": words, "enabled": True}
    entry: dict[str, Any] = {"command": words[0], "args": words[1:]}
    if target.shape == "claude":
        return {"type": "stdio", **entry}
    if target.shape == "copilot":
        return {"type": "local", **entry, "tools": ["*"]}
    return entry


def _words(entry: Any) -> list[str] | None:
    """The command an entry runs, as words (None for anything that is not a command)."""
    if not isinstance(entry, dict):
        return None
    command = entry.get("command")
    args = entry.get("args", [])
    if isinstance(command, list):  # OpenCode: the whole command line in one list
        words = command + (args if isinstance(args, list) else [])
    elif isinstance(command, str) and isinstance(args, list):
        words = [command, *args]
    else:
        return None
    return words if all(isinstance(w, str) for w in words) else None


def _is_ours(entry: Any, agent: str) -> bool:
    """An entry bitloops wrote: it runs ``bitloops mcp --agent NAME`` in one of its forms.

    Those are ``bitloops ...``, ``/absolute/path/to/bitloops ...`` and ``<python> -P -m
    bitloops ...`` (with or without ``-P``). A wrapper of the user's (``uvx``, a shell
    script) is theirs.
    """
    words = _words(entry)
    if words is None or words[-3:] != ["mcp", "--agent", agent]:
        return False
    prefix = words[:-3]
    if prefix == ["bitloops"]:
        return True
    if len(prefix) == 1:
        program = prefix[0]
        name = PureWindowsPath(program).name if "\\" in program else PurePosixPath(program).name
        absolute = PurePosixPath(program).is_absolute() or PureWindowsPath(program).is_absolute()
        return absolute and name in ("bitloops", "bitloops.exe")
    return (
        len(prefix) >= 3 and prefix[-2:] == ["-m", "bitloops"] and prefix[1:-2] in ([], [SAFE_PATH])
    )


def _runnable(program: str) -> bool:
    return Path(program).exists() if os.path.isabs(program) else shutil.which(program) is not None


# -- reading --------------------------------------------------------------------------------


def _display(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


def _read_bytes(target: McpTarget) -> bytes | None:
    try:
        return target.path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AgentConfigError(
            f"cannot read {_display(target.path)}: {exc.strerror or exc}; fix its permissions "
            "and run the command again"
        ) from exc


def _wrong(target: McpTarget, where: str, value: Any) -> AgentConfigError:
    from bitloops.agents._config import _kind

    return AgentConfigError(
        f"{_display(target.path)}: {where} must be an object, not a {_kind(value)}; fix it, "
        f"then run `bitloops enable --agent {target.agent}` again (the file was left as it was)"
    )


def _servers(doc: dict[str, Any], target: McpTarget, *, create: bool) -> dict[str, Any] | None:
    """The object holding the servers (made, with its parents, when ``create``)."""
    node: dict[str, Any] = doc
    where = ""
    for key in _container(doc, target):
        where = f"{where}.{key}" if where else key
        value = node.get(key)
        if value is None and key not in node:
            if not create:
                return None
            value = node[key] = {}
        if not isinstance(value, dict):
            raise _wrong(target, f'"{where}"', value)
        node = value
    return node


def _container(doc: dict[str, Any], target: McpTarget) -> tuple[str, ...]:
    # OpenCode's newer versions keep servers under mcp.servers: follow a file that does.
    if target.shape == "opencode":
        mcp = doc.get("mcp")
        servers = mcp.get("servers") if isinstance(mcp, dict) else None
        if isinstance(servers, dict) and "type" not in servers and "command" not in servers:
            return ("mcp", "servers")
    return target.container


def _entry_state(entry: Any, target: McpTarget, python: str | None) -> str:
    """missing, foreign, current (runs and matches) or outdated."""
    if entry is None:
        return "missing"
    if not _is_ours(entry, target.agent):
        return "foreign"
    wanted = _entry(target, python)
    words = _words(entry) or [""]
    others = all(entry.get(k) == v for k, v in wanted.items() if k not in ("command", "args"))
    # Another interpreter that still exists is fine (status may run from another one).
    same = others and words[1:] == mcp_command(target.agent, python=python)[1:]
    if same and _runnable(words[0]):
        return "current"
    return "outdated"


def mcp_state(toplevel: Path, agent: str, *, python: str | None = None) -> tuple[str, Path]:
    """``(state, file)`` of ``agent``'s bitloops entry for the work tree ``toplevel``.

    ``state`` is ``missing``, ``current``, ``outdated`` (another command, or an interpreter
    that is gone), ``foreign`` (a ``bitloops`` entry that is not ours) or ``unreadable``.
    """
    target = mcp_target(toplevel, agent)
    try:
        entry = _current_entry(target)
    except AgentConfigError:
        return "unreadable", target.path
    return _entry_state(entry, target, python), target.path


def _current_entry(target: McpTarget) -> Any:
    raw = _read_bytes(target)
    if raw is None:
        return None
    if target.format == "toml":
        doc, _text = _toml_doc(raw, target)
    else:
        from bitloops.agents._config import parse_json

        doc, _fmt = parse_json(raw, _display(target.path))
    servers = _servers(doc, target, create=False)
    return None if servers is None else servers.get(SERVER_NAME)


# -- planning -------------------------------------------------------------------------------


@attrs.frozen
class McpPlan:
    """What :func:`apply` will do to one file: write ``data``, delete it, or nothing."""

    change: McpChange
    data: bytes | None = None
    delete: bool = False


def plan_enable(toplevel: Path, agent: str, *, python: str | None = None) -> McpPlan:
    """Read and check ``agent``'s MCP file; the plan that adds or updates bitloops' entry."""
    target = mcp_target(toplevel, agent)
    raw = _read_bytes(target)
    if target.format == "toml":
        return _toml_enable(target, raw, python)
    from bitloops.agents._config import _NEW_FILE, _dump, parse_json

    if raw is None:
        doc: dict[str, Any] = {}
        fmt = _NEW_FILE
    else:
        doc, fmt = parse_json(raw, _display(target.path))
    servers = _servers(doc, target, create=True)
    assert servers is not None
    entry = servers.get(SERVER_NAME)
    wanted = _entry(target, python)
    if entry is not None and not _is_ours(entry, agent):
        return McpPlan(McpChange(agent, target.path, "foreign"))
    if entry is not None and all(entry.get(k) == v for k, v in wanted.items()):
        return McpPlan(McpChange(agent, target.path, "unchanged"))
    if entry is None:
        servers[SERVER_NAME] = wanted
        action = "created" if raw is None else "added"
    else:
        entry.update(wanted)
        action = "updated"
    return McpPlan(McpChange(agent, target.path, action), data=_dump(doc, fmt))


def plan_disable(toplevel: Path, agent: str) -> McpPlan:
    """Read and check ``agent``'s MCP file; the plan that removes bitloops' entry."""
    target = mcp_target(toplevel, agent)
    raw = _read_bytes(target)
    if raw is None:
        return McpPlan(McpChange(agent, target.path, "not-installed"))
    if target.format == "toml":
        return _toml_disable(target, raw)
    from bitloops.agents._config import _dump, parse_json

    doc, fmt = parse_json(raw, _display(target.path))
    servers = _servers(doc, target, create=False)
    entry = None if servers is None else servers.get(SERVER_NAME)
    if entry is None:
        return McpPlan(McpChange(agent, target.path, "not-installed"))
    if not _is_ours(entry, agent):
        return McpPlan(McpChange(agent, target.path, "foreign"))
    assert servers is not None
    del servers[SERVER_NAME]
    _prune(doc, _container(doc, target))
    if not doc:
        return McpPlan(McpChange(agent, target.path, "deleted"), delete=True)
    return McpPlan(McpChange(agent, target.path, "removed"), data=_dump(doc, fmt))


def _prune(doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Remove the containers along ``keys`` that removing our entry left empty."""
    chain = [doc]
    for key in keys:
        child = chain[-1].get(key)
        if not isinstance(child, dict):
            return
        chain.append(child)
    for parent, key, child in reversed(list(zip(chain, keys, chain[1:], strict=False))):
        if child:
            return
        del parent[key]


def apply(plan: McpPlan) -> None:
    """Carry out a plan from :func:`plan_enable` or :func:`plan_disable`."""
    from bitloops.agents._config import _write_atomic

    if plan.delete:
        plan.change.path.unlink(missing_ok=True)
        folder = plan.change.path.parent
        if folder != Path.home():
            try:
                folder.rmdir()  # only when deleting the file left it empty
            except OSError:
                pass
    elif plan.data is not None:
        _write_atomic(plan.change.path, plan.data)


_VERBS = {
    "created": "MCP server registered in {path} (new file)",
    "added": "MCP server registered in {path}",
    "updated": "MCP server entry brought up to date in {path}",
    "unchanged": "MCP server already registered ({path})",
    "removed": "MCP server removed from {path}",
    "deleted": "MCP server removed; {path} held nothing else and was deleted",
    "foreign": "{path} has an MCP server named bitloops that bitloops did not write; left alone",
}


def describe(change: McpChange) -> str | None:
    """A line for ``enable``/``disable`` saying what happened to the MCP entry (or None)."""
    verb = _VERBS.get(change.action)
    return None if verb is None else verb.format(path=_display(change.path))


def unavailable(toplevel: Path, agent: str) -> McpPlan:
    """The plan for an agent when the MCP SDK is not installed: nothing written."""
    return McpPlan(McpChange(agent, mcp_target(toplevel, agent).path, "unavailable"))


# -- Codex: TOML, edited as text ------------------------------------------------------------

_TABLE = re.compile(
    r"""^[ \t]*\[[ \t]*mcp_servers[ \t]*\.[ \t]*(?:bitloops|"bitloops"|'bitloops')[ \t]*"""
    r"""(\.[^\]]*)?\][ \t]*(?:#.*)?$"""
)
_HEADER = re.compile(r"^[ \t]*\[")


def _toml_doc(raw: bytes, target: McpTarget) -> tuple[dict[str, Any], str]:
    import tomllib

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AgentConfigError(
            f"{_display(target.path)} is not UTF-8 text; save it as UTF-8 (it was left as it was)"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(
            f"{_display(target.path)} is not valid TOML ({exc}); fix it, then run `bitloops "
            f"enable --agent {target.agent}` again (the file was left as it was)"
        ) from None
    return doc, text


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string is a TOML basic string: the same quotes and escapes.
    return json.dumps(value, ensure_ascii=False)


def _toml_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """The line ranges ``[start, end)`` of ``[mcp_servers.bitloops]`` and its sub-tables."""
    blocks = []
    index = 0
    while index < len(lines):
        if _TABLE.match(lines[index]):
            end = index + 1
            while end < len(lines) and not _HEADER.match(lines[end]):
                end += 1
            blocks.append((index, end))
            index = end
        else:
            index += 1
    return blocks


def _toml_check(target: McpTarget, text: str, expected: dict[str, Any]) -> bytes:
    import tomllib

    try:
        ok = tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:
        raise _not_editable(target)
    return text.encode("utf-8")


def _not_editable(target: McpTarget) -> AgentConfigError:
    return AgentConfigError(
        f"{_display(target.path)} defines mcp_servers.bitloops in a form bitloops cannot "
        "edit safely (dotted keys or an inline table); edit that entry by hand (see "
        "docs/agents.md) and run the command again (the file was left as it was)"
    )


def _toml_enable(target: McpTarget, raw: bytes | None, python: str | None) -> McpPlan:
    agent = target.agent
    doc, text = ({}, "") if raw is None else _toml_doc(raw, target)
    servers = doc.get("mcp_servers", {})
    if not isinstance(servers, dict):
        raise _wrong(target, "mcp_servers", servers)
    entry = servers.get(SERVER_NAME)
    wanted = _entry(target, python)
    if entry is not None and not _is_ours(entry, agent):
        return McpPlan(McpChange(agent, target.path, "foreign"))
    if entry is not None and all(entry.get(k) == v for k, v in wanted.items()):
        return McpPlan(McpChange(agent, target.path, "unchanged"))
    newline = "\r\n" if "\r\n" in text else "\n"
    expected = copy.deepcopy(doc)
    expected.setdefault("mcp_servers", {}).setdefault(SERVER_NAME, {}).update(wanted)
    body = [f"{key} = {_toml_value(value)}" for key, value in wanted.items()]
    if entry is None:
        out = text
        if out and not out.endswith("\n"):
            out += newline
        if out.strip():
            out += newline
        out += newline.join(["[mcp_servers.bitloops]", *body]) + newline
        action = "created" if raw is None else "added"
    else:
        lines = text.splitlines(keepends=True)
        start, end = _toml_blocks(lines)[0] if _toml_blocks(lines) else (0, 0)
        if end == start:
            raise _not_editable(target)
        table = lines[start + 1 : end]
        for key, value in wanted.items():
            pattern = re.compile(rf"^[ \t]*{key}[ \t]*=")
            line = f"{key} = {_toml_value(value)}{newline}"
            for i, old in enumerate(table):
                if pattern.match(old):
                    table[i] = line
                    break
            else:
                table.insert(0, line)
        out = "".join(lines[: start + 1] + table + lines[end:])
        action = "updated"
    return McpPlan(McpChange(agent, target.path, action), data=_toml_check(target, out, expected))


def _toml_disable(target: McpTarget, raw: bytes) -> McpPlan:
    agent = target.agent
    doc, text = _toml_doc(raw, target)
    servers = doc.get("mcp_servers")
    entry = servers.get(SERVER_NAME) if isinstance(servers, dict) else None
    if entry is None:
        return McpPlan(McpChange(agent, target.path, "not-installed"))
    if not _is_ours(entry, agent):
        return McpPlan(McpChange(agent, target.path, "foreign"))
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    for start, end in _toml_blocks(lines):
        drop.update(range(start, end))
        # The blank line enable put before the table goes with it.
        if start > 0 and not lines[start - 1].strip() and (end >= len(lines) or start > 1):
            drop.add(start - 1)
    out = "".join(line for i, line in enumerate(lines) if i not in drop)
    expected = copy.deepcopy(doc)
    del expected["mcp_servers"][SERVER_NAME]
    if not expected["mcp_servers"] and "[mcp_servers]" not in out.replace(" ", ""):
        del expected["mcp_servers"]
    data = _toml_check(target, out, expected)
    if not out.strip():
        return McpPlan(McpChange(agent, target.path, "deleted"), delete=True)
    return McpPlan(McpChange(agent, target.path, "removed"), data=data)


# -- status and doctor ----------------------------------------------------------------------


def mcp_problems(toplevel: Path, agents: list[str]) -> list[tuple[str, str]]:
    """``(agent, message)`` for each enabled agent whose bitloops MCP entry needs ``enable``.

    A missing entry counts only when the MCP SDK is installed (the server is optional).
    """
    available = mcp_available()
    out = []
    for agent in agents:
        state, path = mcp_state(toplevel, agent)
        where = _display(path)
        fix = f"run `bitloops enable --agent {agent}`"
        if state == "missing" and available:
            out.append(
                (agent, f"{agent}: bitloops' MCP server is not registered in {where}; {fix}")
            )
        elif state == "outdated":
            out.append((agent, f"{agent}: bitloops' MCP entry in {where} is out of date; {fix}"))
        elif state == "foreign":
            out.append(
                (agent, f"{agent}: {where} has an MCP server named bitloops that is not bitloops'")
            )
        elif state == "unreadable":
            out.append((agent, f"{agent}: {where} cannot be read or parsed; fix it, then {fix}"))
        elif state == "current" and not available:
            out.append(
                (
                    agent,
                    f"{agent}: {where} runs bitloops' MCP server, but the MCP SDK is not "
                    "installed: pip install 'bitloops[mcp]'",
                )
            )
    return out
