"""Hook an agent up to bitloops: ``bitloops enable --agent NAME`` and ``disable --agent NAME``.

Each agent reads its hooks from a file in the repository (its record's
:class:`~bitloops.agents._record.AgentConfig`, gathered in :data:`AGENT_CONFIGS`, says
which, and ``docs/agents.md`` why). Enabling merges entries that run ``bitloops hook NAME`` into
that file and keeps everything else in it: other hooks, other keys, their order. Entries
are recognised by their command, in one of the forms bitloops writes (see
:func:`is_own_command`), and by running for every tool (no narrower ``matcher``), so
running it again changes nothing, and disabling removes those entries only, together with
the containers and the file they leave empty. Anything else is the user's, even when it
ends up running ``bitloops hook NAME`` too. OpenCode gets a plugin file instead (copied from
``bitloops/agents/opencode_plugin.js``).

Each agent also gets bitloops' MCP server (``bitloops mcp``) in its own personal MCP file,
merged by :mod:`bitloops.agents._mcp_config` (``AgentChange.mcp`` says what happened there).

A file that cannot be merged safely (not JSON, a value of the wrong type) raises
:class:`~bitloops.errors.AgentConfigError` and is left as it was. Files are replaced
atomically (a temporary file renamed over them), keep their indentation, line endings
and final newline, and are only written when something changes.
"""

from __future__ import annotations

import base64
import codecs
import copy
import hashlib
import importlib.resources
import json
import os
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import attrs

from bitloops._fs import atomic_write
from bitloops._launch import SAFE_PATH, bitloops_argv
from bitloops.agents._record import AgentConfig
from bitloops.errors import AgentConfigError
from bitloops.git._git import Git

__all__ = [
    "AGENT_CONFIGS",
    "AgentChange",
    "AgentConfig",
    "agent_command",
    "disable_agent",
    "disable_agents",
    "enable_agent",
    "enable_agents",
    "enabled_agents",
    "is_own_command",
    "missing_events",
    "parse_agent_names",
    "unsafe_commands",
]


class _Configs(Mapping[str, AgentConfig]):
    """The hook entries of every registered agent, by name, read from the registry.

    A view, not a copy: an agent registered later (:func:`~._registry.register`) is in it.
    """

    def __getitem__(self, name: str) -> AgentConfig:
        from bitloops.agents._registry import AGENTS, integration

        if name not in AGENTS:
            raise KeyError(name)
        return integration(name).config

    def __iter__(self) -> Iterator[str]:
        from bitloops.agents._registry import AGENTS

        return iter(list(AGENTS))

    def __len__(self) -> int:
        from bitloops.agents._registry import AGENTS

        return len(AGENTS)

    def __repr__(self) -> str:
        return f"AGENT_CONFIGS({dict(self)!r})"


#: Every agent ``bitloops enable --agent`` knows, by name: each agent record's
#: :attr:`~._record.Integration.config`. See docs/agents.md for the choice of file and events.
AGENT_CONFIGS: Mapping[str, AgentConfig] = _Configs()

# Written to .git/info/exclude when Claude Code's personal settings are not ignored yet.


@attrs.frozen
class AgentChange:
    """What enabling or disabling did to one agent's file."""

    agent: str
    path: Path
    #: created, added, updated, unchanged (enable); removed, deleted, not-installed,
    #: foreign (disable).
    action: str
    #: The events whose entries were added, updated or removed.
    events: tuple[str, ...] = ()
    #: What happened to the agent's bitloops MCP server entry (a
    #: :class:`bitloops.agents._mcp_config.McpChange`), when enable or disable dealt with it.
    mcp: Any = None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` shape of one change."""
        data = {
            "agent": self.agent,
            "path": str(self.path),
            "action": self.action,
            "events": list(self.events),
        }
        if self.mcp is not None:
            data["mcp"] = self.mcp.as_json()
        return data


def parse_agent_names(values: Iterable[str]) -> list[str]:
    """The agents named by ``--agent`` values (repeatable, comma-separated), in order, once each.

    Raises :class:`~bitloops.errors.AgentConfigError` for a name not in :data:`AGENT_CONFIGS`.
    """
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in AGENT_CONFIGS:
                raise AgentConfigError(
                    f"unknown agent {name!r}; choose from {', '.join(AGENT_CONFIGS)}"
                )
            if name not in names:
                names.append(name)
    return names


def agent_command(name: str, *, personal: bool = False, python: str | None = None) -> str:
    """The command an agent's hook runs: ``bitloops hook NAME``, relying on PATH.

    With ``personal`` (a file only this user reads) it names the Python instead
    (``<python> -P -m bitloops hook NAME``, ``sys.executable`` by default), so the hook
    also works where the virtualenv is not on PATH, as the git hooks do; ``-P`` keeps the
    work tree's own modules (a ``json.py``) from standing in for the standard library.
    """
    if not personal:
        return f"bitloops hook {name}"
    return shlex.join(bitloops_argv("hook", name, python=python))


def is_own_command(command: str, name: str) -> bool:
    """True when ``command`` is one of the forms bitloops writes for ``bitloops hook NAME``.

    Those are ``bitloops hook NAME``, ``/absolute/path/to/bitloops hook NAME`` and
    ``<python> -P -m bitloops hook NAME`` (or, as bitloops 0.1 wrote it, without ``-P``),
    quoted as :func:`agent_command` quotes (by
    :func:`shlex.quote`, words one space apart). Anything else, such as a wrapper of the
    user's (``cd tools && bitloops hook NAME``), is theirs: never rewritten nor removed.
    """
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    # Re-quoting gives the command back only for plain words in bitloops' own quoting:
    # no shell operators, redirections, variables or other spacing.
    if shlex.join(words) != command:
        return False
    if words == ["bitloops", "hook", name]:
        return True
    if len(words) == 3 and words[1:] == ["hook", name]:
        program = words[0]
        absolute = PurePosixPath(program).is_absolute() or PureWindowsPath(program).is_absolute()
        return absolute and _basename(program) in ("bitloops", "bitloops.exe")
    flags = words[1:-3]
    return words[-3:] == ["bitloops", "hook", name] and flags in (["-m"], [SAFE_PATH, "-m"])


def _basename(program: str) -> str:
    return PureWindowsPath(program).name if "\\" in program else PurePosixPath(program).name


_ALL_TOOLS = ("", "*")


def _covers_all(item: Any, matcher: str | None = None) -> bool:
    """Whether a group (or flat entry) runs for every tool: no matcher, ``""`` or ``"*"``.

    An own command under a narrower matcher (``"Bash"``) is the user's choice, not the
    entry bitloops writes: it leaves the other tools unrecorded, so it does not count;
    except ``matcher``, the one bitloops writes for that event (:attr:`AgentConfig.tool_matchers`).
    """
    if not isinstance(item, dict):
        return False
    return item.get("matcher", "") in _ALL_TOOLS or (
        matcher is not None and item.get("matcher") == matcher
    )


def _tool_matcher(config: AgentConfig, event: str) -> str | None:
    return dict(config.tool_matchers).get(event)


# -- the plan: read and check everything before writing anything -----------------------------


@attrs.frozen
class _Plan:
    change: AgentChange
    #: The file's new bytes, or None to leave it (or to delete it, with ``delete``).
    data: bytes | None = None
    delete: bool = False
    #: The file's bytes when it was read (None: no file).
    before: bytes | None = None


@attrs.frozen
class _Format:
    indent: str | int
    newline: str
    final_newline: bool
    bom: bool


def _toplevel(path: Path) -> Path:
    return Git.locate(path).toplevel


def _read(path: Path, config: AgentConfig) -> tuple[bytes, dict[str, Any], _Format] | None:
    """The file's bytes, JSON document and formatting; None when there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AgentConfigError(
            f"cannot read {config.path}: {exc.strerror or exc}; fix its permissions and run "
            "the command again"
        ) from exc
    return (raw, *_parse(raw, config))


def _parse(raw: bytes, config: AgentConfig) -> tuple[dict[str, Any], _Format]:
    return parse_json(raw, config.path)


def parse_json(raw: bytes, rel: str) -> tuple[dict[str, Any], _Format]:
    """A config file's JSON object and formatting; AgentConfigError naming ``rel`` if unusable."""
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AgentConfigError(
            f"{rel} is not UTF-8 text; save it as UTF-8 (it was left as it was)"
        ) from None
    fmt = _Format(
        indent=_indent_of(text),
        newline="\r\n" if "\r\n" in text else "\n",
        final_newline=text.endswith("\n"),
        bom=bom,
    )
    if not text.strip():
        return {}, _NEW_FILE
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise AgentConfigError(
            f"{rel} has the key {exc.args[0]!r} twice; keep one of them, then run the "
            "command again (the file was left as it was)"
        ) from None
    except ValueError as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        raise AgentConfigError(
            f"{rel} is not valid JSON{where}; fix it (comments and trailing commas are not "
            "JSON either) or move it aside, then run the command again (the file was left "
            "as it was)"
        ) from None
    if not isinstance(doc, dict):
        raise AgentConfigError(
            f"{rel} holds a JSON {_kind(doc)}, not an object; fix it or move it aside "
            "(the file was left as it was)"
        )
    return doc, fmt


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _indent_of(text: str) -> str | int:
    """The indentation unit of a pretty-printed JSON text: that of its first indented line."""
    for line in text.splitlines()[1:]:
        body = line.lstrip(" \t")
        if body and len(body) < len(line):
            unit = line[: len(line) - len(body)]
            return len(unit) if set(unit) == {" "} else unit
    return 2


def _dump(doc: Any, fmt: _Format) -> bytes:
    text = json.dumps(doc, indent=fmt.indent, ensure_ascii=False)
    if fmt.final_newline:
        text += "\n"
    if fmt.newline != "\n":
        text = text.replace("\n", fmt.newline)
    return (codecs.BOM_UTF8 if fmt.bom else b"") + text.encode("utf-8")


_NEW_FILE = _Format(indent=2, newline="\n", final_newline=True, bom=False)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _wrong_type(config: AgentConfig, where: str, expected: str, value: Any) -> AgentConfigError:
    return AgentConfigError(
        f"{config.path}: {where} must be {expected}, not a {_kind(value)}; fix it or remove "
        f"it, then run `bitloops enable --agent {config.name}` again (the file was left as "
        "it was)"
    )


def _commands(entry: Any, config: AgentConfig) -> list[str]:
    if not isinstance(entry, dict):
        return []
    return [entry[k] for k in config.command_keys if isinstance(entry.get(k), str)]


def _is_ours(entry: Any, config: AgentConfig) -> bool:
    """An entry bitloops wrote (or could have): every command it has is an own form."""
    commands = _commands(entry, config)
    return (
        bool(commands)
        and all(is_own_command(c, config.name) for c in commands)
        and _covers_all(entry)
    )


def _new_entry(config: AgentConfig, command: str, event: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    fields = dict(config.entry_fields)
    if "type" in fields:
        entry["type"] = fields.pop("type")
    for key in config.command_keys:
        entry[key] = command
    if config.event_env:
        entry["env"] = {config.event_env: event}
    entry.update(fields)
    return entry


def _update_entry(entry: dict[str, Any], config: AgentConfig, command: str, event: str) -> bool:
    """Point our existing entry at ``command`` (and its event); True if it changed."""
    changed = False
    for key in config.command_keys:
        if entry.get(key) != command:
            entry[key] = command
            changed = True
    if config.event_env:
        env = entry.get("env")
        if not isinstance(env, dict):
            env = entry["env"] = {}
        if env.get(config.event_env) != event:
            env[config.event_env] = event
            changed = True
    return changed


def _entry_lists(doc: dict[str, Any], config: AgentConfig, event: str) -> list[list[Any]]:
    """The lists that may hold bitloops' entries of an event: its list (flat layout), or
    the ``hooks`` lists of its groups that run for every tool (nested layout)."""
    hooks = doc.get("hooks")
    value = hooks.get(event) if isinstance(hooks, dict) else None
    if not isinstance(value, list):
        return []
    if config.layout == "flat":
        return [value]
    matcher = _tool_matcher(config, event)
    return [g["hooks"] for g in value if _is_group(g) and _covers_all(g, matcher)]


def _is_group(group: Any) -> bool:
    return isinstance(group, dict) and isinstance(group.get("hooks"), list)


def _merge(
    doc: dict[str, Any], config: AgentConfig, command: str, skip: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """Add or update our entry of every event in ``doc`` but ``skip``; (added, updated)."""
    hooks = doc.get("hooks", {})
    if not isinstance(hooks, dict):
        raise _wrong_type(config, '"hooks"', "an object of events", hooks)
    added: list[str] = []
    updated: list[str] = []
    for event in config.events:
        if event in hooks and not isinstance(hooks[event], list):
            raise _wrong_type(config, f'"hooks"."{event}"', "a list", hooks[event])
        found = False
        for entries in _entry_lists(doc, config, event):
            for entry in entries:
                if not _is_ours(entry, config):
                    continue
                found = True
                if _update_entry(entry, config, command, event) and event not in updated:
                    updated.append(event)
        if found or event in skip:
            continue
        entry = _new_entry(config, command, event)
        if config.layout == "flat":
            item: dict[str, Any] = entry
        elif _tool_matcher(config, event) is not None:
            item = {"matcher": _tool_matcher(config, event), "hooks": [entry]}
        elif event in config.matcher_events:
            item = {"matcher": "", "hooks": [entry]}
        else:
            item = {"hooks": [entry]}
        doc["hooks"] = hooks  # the same object when it was there
        hooks.setdefault(event, []).append(item)
        added.append(event)
    return added, updated


def _remove(doc: dict[str, Any], config: AgentConfig) -> list[str]:
    """Remove our entries from every event of ``doc``, and what that leaves empty."""
    hooks = doc.get("hooks")
    if not isinstance(hooks, dict):
        return []
    removed: list[str] = []
    for event in list(hooks):
        value = hooks[event]
        if not isinstance(value, list):
            continue  # not an event list (a flag such as "enabled"): never ours
        if config.layout == "flat":
            kept = [e for e in value if not _is_ours(e, config)]
        else:
            kept = []
            for group in value:
                covers = _covers_all(group, _tool_matcher(config, event))
                inner = group["hooks"] if _is_group(group) and covers else []
                if not any(_is_ours(e, config) for e in inner):
                    kept.append(group)
                    continue
                rest = [e for e in inner if not _is_ours(e, config)]
                if rest:  # someone added their own hooks to our group: keep those
                    kept.append({**group, "hooks": rest})
        if len(kept) == len(value) and kept == value:
            continue
        removed.append(event)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if removed and not hooks:
        del doc["hooks"]
    return removed


def _is_skeleton(doc: dict[str, Any], config: AgentConfig) -> bool:
    """True when ``doc`` holds nothing but what bitloops writes around its entries."""
    if config.layout == "flat":
        return doc in ({}, {"version": 1})
    return doc == {}


def _hooked_elsewhere(toplevel: Path, config: AgentConfig) -> frozenset[str]:
    """The events that ``config.also_reads`` already runs ``bitloops hook NAME`` for."""
    if config.also_reads is None:
        return frozenset()
    try:
        read = _read(toplevel / config.also_reads, config)
    except AgentConfigError:
        return frozenset()  # not ours to judge; the agent will complain about it
    if read is None:
        return frozenset()
    doc = read[1]
    return frozenset(
        event
        for event in config.events
        if any(_is_ours(e, config) for entries in _entry_lists(doc, config, event) for e in entries)
    )


def _personal(toplevel: Path, config: AgentConfig) -> bool:
    """Whether the file is one person's: a personal file that git does not track."""
    if not config.personal:
        return False
    tracked = Git(toplevel).try_run("ls-files", "--error-unmatch", "--", config.path)
    return tracked is None


def _plan_enable(toplevel: Path, config: AgentConfig, python: str | None) -> _Plan:
    from bitloops.agents._registry import AGENTS

    if config.name not in AGENTS:
        # The agent would run a command that fails (and some agents block on that).
        raise AgentConfigError(
            f"this bitloops cannot record {config.label} yet (`bitloops hook {config.name}` "
            "does not exist); upgrade bitloops"
        )
    path = toplevel / config.path
    if config.layout == "plugin":
        return _plan_plugin_enable(path, config)
    command = agent_command(config.name, personal=_personal(toplevel, config), python=python)
    read = _read(path, config)
    raw: bytes | None = None
    if read is None:
        doc: dict[str, Any] = {"version": 1} if config.layout == "flat" else {}
        fmt = _NEW_FILE
    else:
        raw, doc, fmt = read
    added, updated = _merge(doc, config, command, _hooked_elsewhere(toplevel, config))
    if not added and not updated:
        return _Plan(AgentChange(config.name, path, "unchanged"))
    action = "created" if raw is None else "added" if added else "updated"
    events = tuple(e for e in config.events if e in added or e in updated)
    change = AgentChange(config.name, path, action, events)
    return _Plan(change, data=_dump(doc, fmt), before=raw)


def _plan_disable(toplevel: Path, config: AgentConfig) -> _Plan:
    path = toplevel / config.path
    if config.layout == "plugin":
        return _plan_plugin_disable(path, config)
    read = _read(path, config)
    if read is None:
        return _Plan(AgentChange(config.name, path, "not-installed"))
    raw, doc, fmt = read
    removed = _remove(doc, config)
    if not removed:
        return _Plan(AgentChange(config.name, path, "not-installed"))
    original = _original(toplevel, path, raw, doc, config)
    if original is None and _is_skeleton(doc, config) and not path.is_symlink():
        return _Plan(AgentChange(config.name, path, "deleted", tuple(removed)), delete=True)
    data = _dump(doc, fmt) if original is None else original
    return _Plan(AgentChange(config.name, path, "removed", tuple(removed)), data=data)


# What a file held before bitloops first wrote it, to give those very bytes back (its
# own formatting included) when nothing but bitloops changed it since.


def _record_path(toplevel: Path, path: Path) -> Path:
    key = hashlib.sha256(os.path.realpath(path).encode("utf-8", "surrogateescape")).hexdigest()
    return Git.locate(toplevel).common_dir / "bitloops" / "agent-config" / f"{key[:32]}.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load_record(toplevel: Path, path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(_record_path(toplevel, path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _remember_original(toplevel: Path, plan: _Plan) -> None:
    """Keep the bytes the file had before bitloops' first write (none if it did not exist)."""
    assert plan.data is not None
    path = plan.change.path
    record = _load_record(toplevel, path)
    if (
        record is not None
        and plan.before is not None
        and record.get("written") == _sha(plan.before)
    ):
        original = record.get("original")  # only bitloops wrote it since: keep the first
    else:
        original = None if plan.before is None else base64.b64encode(plan.before).decode()
    text = json.dumps({"path": str(path), "original": original, "written": _sha(plan.data)})
    try:
        _write_atomic(_record_path(toplevel, path), (text + "\n").encode("utf-8"))
    except OSError:
        pass  # only costs the exact formatting at disable time


def _forget_original(toplevel: Path, path: Path) -> None:
    try:
        _record_path(toplevel, path).unlink(missing_ok=True)
    except OSError:
        pass


def _original(
    toplevel: Path, path: Path, raw: bytes, result: dict[str, Any], config: AgentConfig
) -> bytes | None:
    """The file's bytes from before bitloops wrote it, when they mean exactly ``result``.

    Only when the file is still what bitloops last wrote (nobody edited it since), and the
    old bytes hold the same document as removing bitloops' entries gives now.
    """
    record = _load_record(toplevel, path)
    if record is None or record.get("written") != _sha(raw):
        return None
    original = record.get("original")
    if not isinstance(original, str):
        return None
    try:
        old = base64.b64decode(original, validate=True)
        old_doc, _ = _parse(old, config)
    except (ValueError, AgentConfigError):
        return None
    if _remove(copy.deepcopy(old_doc), config) or old_doc != result:
        return None
    return old


def _plugin_source(config: AgentConfig) -> bytes:
    resource = importlib.resources.files("bitloops.agents") / (config.plugin or "")
    try:
        return resource.read_bytes()
    except OSError as exc:  # a broken installation
        raise AgentConfigError(
            f"bitloops' {config.label} plugin ({config.plugin}) is missing from the installed "
            "package; reinstall bitloops"
        ) from exc


def _is_our_plugin(current: bytes, source: bytes) -> bool:
    """Our plugin, this version or another: the same first line (its title)."""
    return current == source or current.split(b"\n", 1)[0] == source.split(b"\n", 1)[0]


def _plan_plugin_enable(path: Path, config: AgentConfig) -> _Plan:
    source = _plugin_source(config)
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        return _Plan(AgentChange(config.name, path, "created"), data=source)
    except OSError as exc:
        raise AgentConfigError(f"cannot read {config.path}: {exc.strerror or exc}") from exc
    if current == source:
        return _Plan(AgentChange(config.name, path, "unchanged"))
    if not _is_our_plugin(current, source):
        raise AgentConfigError(
            f"{config.path} exists and is not bitloops' plugin; move it away (or rename it), "
            f"then run `bitloops enable --agent {config.name}` again"
        )
    return _Plan(AgentChange(config.name, path, "updated"), data=source)


def _plan_plugin_disable(path: Path, config: AgentConfig) -> _Plan:
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        return _Plan(AgentChange(config.name, path, "not-installed"))
    except OSError as exc:
        raise AgentConfigError(f"cannot read {config.path}: {exc.strerror or exc}") from exc
    if not _is_our_plugin(current, _plugin_source(config)):
        return _Plan(AgentChange(config.name, path, "foreign"))
    return _Plan(AgentChange(config.name, path, "deleted"), delete=True)


# -- writing --------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path``'s content (the file a symlink points to) by a rename."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, data)  # an existing file keeps its mode


def _remove_empty_dirs(toplevel: Path, config: AgentConfig) -> None:
    """Remove the folders of ``config.path`` that deleting its file left empty."""
    parent = Path(config.path).parent
    while parent != Path("."):
        try:
            (toplevel / parent).rmdir()  # only when empty
        except OSError:
            return
        parent = parent.parent


def _apply(toplevel: Path, config: AgentConfig, plan: _Plan, *, enabling: bool) -> None:
    path = plan.change.path
    if plan.delete:
        path.unlink(missing_ok=True)
        _remove_empty_dirs(toplevel, config)
    elif plan.data is not None:
        _write_atomic(path, plan.data)
    if config.layout == "plugin" or plan.change.action in ("unchanged", "not-installed"):
        return
    if enabling:
        _remember_original(toplevel, plan)
    else:
        _forget_original(toplevel, path)


def _exclude_file(toplevel: Path) -> Path:
    out = Git(toplevel).run("rev-parse", "--git-path", "info/exclude").strip()
    path = Path(out)
    return path if path.is_absolute() else toplevel / path


def _exclude_comment(config: AgentConfig) -> str:
    """The comment above the line :func:`_ignore_personal_file` adds (matched to remove it)."""
    return f"# bitloops enable --agent {config.name}: {config.label}'s personal settings"


def _ignore_personal_file(toplevel: Path, config: AgentConfig) -> None:
    """Make git ignore a personal file that nothing ignores yet, in ``.git/info/exclude``.

    Claude Code does this itself when *it* creates ``settings.local.json``; a file that
    bitloops created would otherwise show up in ``git status``, machine paths and all.
    """
    git = Git(toplevel)
    if git.try_run("check-ignore", "-q", "--", config.path) is not None:
        return
    if git.try_run("ls-files", "--error-unmatch", "--", config.path) is not None:
        return  # tracked: ignoring it would change nothing (and the command has no paths)
    exclude = _exclude_file(toplevel)
    try:
        text = exclude.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if text and not text.endswith("\n"):
        text += "\n"
    _write_atomic(exclude, (text + f"{_exclude_comment(config)}\n/{config.path}\n").encode("utf-8"))


def _unignore_personal_file(toplevel: Path, config: AgentConfig) -> None:
    """Remove the lines :func:`_ignore_personal_file` added, once the file is gone."""
    exclude = _exclude_file(toplevel)
    try:
        text = exclude.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    ours = f"{_exclude_comment(config)}\n/{config.path}\n"
    if ours in text:
        _write_atomic(exclude, text.replace(ours, "", 1).encode("utf-8"))


# -- the API --------------------------------------------------------------------------------


def _configs(names: Sequence[str]) -> list[AgentConfig]:
    return [AGENT_CONFIGS[name] for name in parse_agent_names(names)]


def enable_agents(
    toplevel: Path,
    names: Sequence[str],
    *,
    python: str | None = None,
    mcp: bool | None = None,
) -> list[AgentChange]:
    """Add the hooks of each agent in ``names`` to its file (see :data:`AGENT_CONFIGS`).

    ``toplevel`` is any folder inside the work tree. Every file is read and checked
    before any is written: one that cannot be merged raises
    :class:`~bitloops.errors.AgentConfigError` and nothing is changed. ``python`` is the
    interpreter a personal file's command names (default ``sys.executable``). Does not
    install the git hooks (:func:`bitloops.git._hooks.enable` does).

    Each agent also gets bitloops' MCP server (``bitloops mcp``) in its own MCP file (see
    :mod:`bitloops.agents._mcp_config`) when ``mcp`` is true, or by default when the MCP SDK is
    installed (``bitloops[mcp]``); otherwise its change's ``mcp`` action is ``unavailable``.
    """
    from bitloops.agents import _mcp_config as mcp_config

    top = _toplevel(toplevel)
    configs = _configs(names)
    plans = [_plan_enable(top, config, python) for config in configs]
    with_mcp = mcp_config.mcp_available() if mcp is None else mcp
    mcp_plans = [
        mcp_config.plan_enable(top, config.name, python=python)
        if with_mcp
        else mcp_config.unavailable(top, config.name)
        for config in configs
    ]
    for config, plan in zip(configs, plans, strict=True):
        _apply(top, config, plan, enabling=True)
        if config.personal and plan.change.path.exists():
            _ignore_personal_file(top, config)
    for mcp_plan in mcp_plans:
        mcp_config.apply(mcp_plan)
    return [
        attrs.evolve(plan.change, mcp=mcp_plan.change)
        for plan, mcp_plan in zip(plans, mcp_plans, strict=True)
    ]


def enable_agent(
    toplevel: Path, name: str, *, python: str | None = None, mcp: bool | None = None
) -> AgentChange:
    """Add the hooks of the agent ``name`` to its file; see :func:`enable_agents`."""
    return enable_agents(toplevel, [name], python=python, mcp=mcp)[0]


def disable_agents(toplevel: Path, names: Sequence[str]) -> list[AgentChange]:
    """Remove bitloops' hooks of each agent in ``names`` from its file; keep everything else.

    A hook group, event list or ``hooks`` object that only held bitloops' entries goes
    with them; so does the file, when nothing else is left in it, and the folders that
    leaves empty. A plugin file is deleted when it is bitloops' (action ``foreign`` and
    left alone otherwise). Files are checked before any is written, as for enabling.
    The agent's bitloops MCP server entry is removed too (see :mod:`bitloops.agents._mcp_config`).
    """
    from bitloops.agents import _mcp_config as mcp_config

    top = _toplevel(toplevel)
    configs = _configs(names)
    plans = [_plan_disable(top, config) for config in configs]
    mcp_plans = [mcp_config.plan_disable(top, config.name) for config in configs]
    for config, plan in zip(configs, plans, strict=True):
        _apply(top, config, plan, enabling=False)
        if config.personal and plan.delete:
            _unignore_personal_file(top, config)
    for mcp_plan in mcp_plans:
        mcp_config.apply(mcp_plan)
    return [
        attrs.evolve(plan.change, mcp=mcp_plan.change)
        for plan, mcp_plan in zip(plans, mcp_plans, strict=True)
    ]


def disable_agent(toplevel: Path, name: str) -> AgentChange:
    """Remove bitloops' hooks of the agent ``name``; see :func:`disable_agents`."""
    return disable_agents(toplevel, [name])[0]


def _present(top: Path) -> Iterator[AgentConfig]:
    """The configs of the agents whose file may exist here; an agent whose file the
    registry knows to be absent is skipped without importing its module."""
    from bitloops.agents._registry import AGENTS, HOOK_FILES

    for name in list(AGENTS):
        rel = HOOK_FILES.get(name)
        if rel is not None and not os.path.lexists(top / rel):
            continue
        yield AGENT_CONFIGS[name]


def enabled_agents(toplevel: Path) -> list[str]:
    """The agents whose file runs ``bitloops hook NAME`` (or holds bitloops' plugin).

    A file that cannot be read or parsed counts as not enabled.
    """
    top = _toplevel(toplevel)
    found = []
    for config in _present(top):
        path = top / config.path
        try:
            if config.layout == "plugin":
                if path.is_file() and _is_our_plugin(path.read_bytes(), _plugin_source(config)):
                    found.append(config.name)
                continue
            read = _read(path, config)
        except (AgentConfigError, OSError):
            continue
        if read is not None and _remove(read[1], config):
            found.append(config.name)
    return found


def unsafe_commands(toplevel: Path) -> list[str]:
    """Agents hooked up here whose file names the interpreter in the 0.1 form, without
    ``-P``: a project's own ``json.py`` can break those hooks. ``enable --agent`` updates
    them."""
    top = _toplevel(toplevel)
    found = []
    for config in _present(top):
        if config.layout == "plugin":
            continue
        try:
            read = _read(top / config.path, config)
        except (AgentConfigError, OSError):
            continue
        if read is None:
            continue
        commands = [
            command
            for event in config.events
            for entries in _entry_lists(read[1], config, event)
            for entry in entries
            if _is_ours(entry, config)
            for command in _commands(entry, config)
        ]
        if any(" -m bitloops " in c and f" {SAFE_PATH} -m " not in c for c in commands):
            found.append(config.name)
    return found


def missing_events(toplevel: Path) -> dict[str, tuple[str, ...]]:
    """Agents hooked up here whose file lacks entries this version writes: name -> events.

    An install made by an older bitloops (before SessionStart and PreToolUse handed the
    agent past reasoning, say); ``bitloops enable --agent NAME`` adds them. Events that
    the agent's other file (:attr:`AgentConfig.also_reads`) covers do not count.
    """
    top = _toplevel(toplevel)
    found: dict[str, tuple[str, ...]] = {}
    for config in _present(top):
        if config.layout == "plugin":
            continue
        try:
            read = _read(top / config.path, config)
        except (AgentConfigError, OSError):
            continue
        if read is None:
            continue
        doc = read[1]
        have = {
            event
            for event in config.events
            for entries in _entry_lists(doc, config, event)
            if any(_is_ours(e, config) for e in entries)
        }
        if not have:
            continue  # not enabled here
        elsewhere = _hooked_elsewhere(top, config)
        missing = tuple(e for e in config.events if e not in have and e not in elsewhere)
        if missing:
            found[config.name] = missing
    return found
