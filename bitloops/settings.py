"""Settings: ``.bitloops/settings.json`` (shared), ``settings.local.json`` (personal), environment.

Later sources override earlier ones key by key: defaults, then the committed
``.bitloops/settings.json``, then the git-ignored ``.bitloops/settings.local.json``,
then ``BITLOOPS_<KEY>`` environment variables. Unknown keys are kept in
:attr:`Settings.extra` and reported in :attr:`Settings.warnings`, never dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from bitloops._fs import atomic_write
from bitloops._setting_values import parse_kinds, parse_trusted_refs
from bitloops.errors import SettingsError

__all__ = [
    "SETTINGS_FILE",
    "SETTINGS_LOCAL_FILE",
    "DistillerSettings",
    "Settings",
    "ensure_gitignore",
    "load_settings",
    "postgres_url_problem",
]

SETTINGS_FILE = ".bitloops/settings.json"
SETTINGS_LOCAL_FILE = ".bitloops/settings.local.json"

STRATEGIES = ("manual_commit", "session")
DURABILITIES = ("full", "normal")
CHECKPOINT_FILES = ("branch", "ref", "none")


@attrs.frozen(kw_only=True)
class DistillerSettings:
    """The ``distiller`` setting: a command (an agent's CLI in print mode) or an HTTP endpoint.

    Exactly one of ``command`` (argv; the prompt goes on standard input) and ``url`` (an
    OpenAI-compatible chat-completions endpoint, with ``model`` and the name of the
    environment variable holding its key, ``api_key_env``) is set.
    """

    command: tuple[str, ...] = ()
    url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    #: The bound on one distillation, after which it is stopped and counts as failed.
    timeout_seconds: int = 120
    #: The most transcript text sent, in characters.
    max_input_chars: int = 60_000


@attrs.frozen(kw_only=True)
class Settings:
    """Every setting bitloops reads, with its default."""

    #: When checkpoints are made: ``manual_commit`` (on each commit) or ``session``.
    strategy: str = "manual_commit"
    #: ``full`` survives power loss (fsync per event); ``normal`` survives a process crash.
    durability: str = "full"
    #: Whether events are recorded at all.
    capture: bool = True
    #: Largest serialised payload accepted, in bytes.
    max_payload_bytes: int = 1_048_576
    #: How long a write waits for another process's lock before giving up, in ms.
    busy_timeout_ms: int = 10_000
    #: How long an agent hook waits for the write lock before spooling its event, in ms.
    hook_busy_timeout_ms: int = 1_000
    #: Minutes without an event after which an open session counts as idle.
    idle_minutes: int = 30
    #: Where checkpoint folders go: ``branch`` (committed with the next commit), ``ref``, ``none``.
    checkpoint_files: str = "branch"
    #: Extra regular expressions whose matches are redacted.
    redact_patterns: tuple[str, ...] = ()
    #: URL of a shared committed store (team setup); None keeps it local.
    committed_store: str | None = None
    #: Whether the built-in summary extracts decisions, alternatives and constraints from
    #: the prompts, reasoning and responses (source ``extracted``).
    extract_reasoning: bool = True
    #: The optional LLM distiller (``distiller``); None (the default) keeps it off.
    distiller: DistillerSettings | None = None
    #: Which kinds of past reasoning the agent hooks hand the agent (``context_injection``):
    #: ``session_start`` (the digest) and ``pre_tool_use`` (a file's records before an edit).
    context_injection: Mapping[str, bool] = attrs.field(
        factory=lambda: {"session_start": True, "pre_tool_use": True}
    )
    #: Refs whose history counts as trusted for injection, besides HEAD's (``trusted_refs``).
    trusted_refs: tuple[str, ...] = ()
    #: Whether new sessions stay in this clone (``private``, ``BITLOOPS_PRIVATE``): their
    #: checkpoints get no folder, no ref entry, are not sent to the shared store and are
    #: left out of ``review`` and exports (see docs/concepts.md, "Keeping reasoning local").
    private: bool = False
    #: Keys this version does not know, kept as found.
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    #: Human-readable notes about what was found (unknown keys, ignored sub-keys).
    warnings: tuple[str, ...] = ()


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if value not in options:
            raise ValueError(f"{key!r} must be one of {', '.join(map(repr, options))}")
        return value

    return check


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    ):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValueError(f"{key!r} must be true or false")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{key!r} must be a positive whole number")
    return value


def _optional_str(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise ValueError(f"{key!r} must be a string")


def _store_url(key: str, value: Any) -> str | None:
    from urllib.parse import urlsplit

    url = _optional_str(key, value)
    if url is None:
        return None
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # an unclosed IPv6 bracket: postgres_url_problem says which
        scheme = url.partition("://")[0].lower()
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"{key!r} must be a PostgreSQL URL such as postgresql://user@host:5432/database"
        )
    problem = postgres_url_problem(url)
    if problem is not None:
        raise ValueError(f"{key!r} {problem}")
    return url


# libpq's options that take one of a few words, and those that take a whole number.
_PG_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
    "load_balance_hosts": ("disable", "random"),
}
_PG_INTEGERS = frozenset(
    {
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    }
)


def _port_problem(port: str) -> str | None:
    port = port.strip()
    digits = port.lstrip("0")
    # Length first: a longer run is out of range anyway, and int() stays cheap.
    fits = port.isascii() and port.isdigit() and len(digits) <= 5
    if port and not (fits and 1 <= int(digits or "0") <= 65535):
        return f"has port {port[:20]!r}, which is not a port number (1 to 65535)"
    return None


def postgres_url_problem(url: str) -> str | None:
    """What is wrong with a ``postgresql://`` URL that can be told without connecting.

    Checked: each host's port (``host:port``, several hosts separated by commas, IPv6
    addresses in brackets, ``?port=``) is 1 to 65535; ``sslmode``, ``gssencmode``,
    ``channel_binding``, ``target_session_attrs`` and ``load_balance_hosts`` are words
    libpq knows; the timeouts and keepalive options are whole numbers. Returns a phrase
    to follow the setting's name (it never quotes the password), or None when nothing
    is found; libpq still checks the rest when connecting.
    """
    from urllib.parse import unquote

    rest = url.partition("://")[2]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    hosts = rest[:cut].rpartition("@")[2]
    for host in hosts.split(",") if hosts else []:
        port = ""
        if host.startswith("["):
            close = host.find("]")
            if close < 0:
                return "has an IPv6 address whose '[' is not closed by ']'"
            after = host[close + 1 :]
            if after and not after.startswith(":"):
                return f"has {after[:20]!r} after an IPv6 address, where ':port' belongs"
            port = after[1:]
        elif ":" in host:
            port = host.partition(":")[2]
        problem = _port_problem(unquote(port))
        if problem is not None:
            return problem
    query = rest.partition("?")[2]
    for item in query.split("&") if query else []:
        name, _, raw = item.partition("=")
        name, value = unquote(name), unquote(raw)
        if name == "port":
            for port in value.split(","):
                problem = _port_problem(port)
                if problem is not None:
                    return problem
        elif name in _PG_CHOICES and value not in _PG_CHOICES[name]:
            words = ", ".join(_PG_CHOICES[name])
            return f"has {name}={value[:40]!r}, which libpq does not know (use one of {words})"
        elif name in _PG_INTEGERS and not value.strip().lstrip("+-").isdigit():
            return f"has {name}={value[:40]!r}, which is not a whole number"
    return None


def has_password(url: Any) -> bool:
    """True when ``url`` spells out a password (``user:pw@`` or ``?password=``)."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    keys = {item.partition("=")[0].lower() for item in parts.query.split("&")}
    return parts.password is not None or "password" in keys


def _patterns(key: str, value: Any) -> tuple[str, ...]:
    import re

    if isinstance(value, Mapping):
        value = value.get("extra_patterns", [])
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f'{key!r} must be {{"extra_patterns": [regex, ...]}}')
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{key!r} has an invalid regex {pattern!r}: {exc}") from None
    return tuple(value)


_DISTILLER_EXAMPLE = (
    '{"command": ["claude", "-p", "--output-format", "json"]} or '
    '{"url": "http://127.0.0.1:11434/v1/chat/completions", "model": "llama3"}'
)
_DISTILLER_KEYS = ("command", "url", "model", "api_key_env", "timeout_seconds", "max_input_chars")


def _distiller(key: str, value: Any) -> DistillerSettings | None:
    from urllib.parse import urlsplit

    if isinstance(value, str):  # BITLOOPS_DISTILLER holds the same JSON, or "off"
        if value.strip().lower() in ("", "off", "none", "null", "false"):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{key!r} must be JSON such as {_DISTILLER_EXAMPLE}") from None
    if value is None or value is False:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} must be an object such as {_DISTILLER_EXAMPLE}, or null")
    unknown = sorted(set(value) - set(_DISTILLER_KEYS))
    if unknown:
        raise ValueError(f"{key!r} has unknown keys {', '.join(map(repr, unknown))}")
    command, url = value.get("command"), value.get("url")
    if (command is None) == (url is None):
        raise ValueError(
            f'{key!r} needs one of "command" and "url" (not both), such as {_DISTILLER_EXAMPLE}'
        )
    fields: dict[str, Any] = {}
    if command is not None:
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(word, str) and word for word in command)
        ):
            raise ValueError(f"{key}.command must be a non-empty list of strings (argv)")
        fields["command"] = tuple(command)
    else:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"{key}.url must be an http:// or https:// URL")
        fields["url"] = url
        model = value.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError(f'{key}.model must name the model to ask, e.g. "llama3"')
        fields["model"] = model
    api_key_env = value.get("api_key_env")
    if api_key_env is not None:
        if not isinstance(api_key_env, str) or not api_key_env.isidentifier():
            raise ValueError(
                f"{key}.api_key_env must be the name of an environment variable (not the key)"
            )
        fields["api_key_env"] = api_key_env
    for name in ("timeout_seconds", "max_input_chars"):
        if name in value:
            fields[name] = _positive_int(f"{key}.{name}", value[name])
    return DistillerSettings(**fields)


def _context_injection(key: str, value: Any) -> dict[str, bool]:
    return parse_kinds(value)


def _trusted_refs(key: str, value: Any) -> tuple[str, ...]:
    return parse_trusted_refs(value)


# settings key -> (attribute, validator)
_KEYS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "strategy": ("strategy", _choice(STRATEGIES)),
    "durability": ("durability", _choice(DURABILITIES)),
    "capture": ("capture", _bool),
    "max_payload_bytes": ("max_payload_bytes", _positive_int),
    "busy_timeout_ms": ("busy_timeout_ms", _positive_int),
    "hook_busy_timeout_ms": ("hook_busy_timeout_ms", _positive_int),
    "idle_minutes": ("idle_minutes", _positive_int),
    "checkpoint_files": ("checkpoint_files", _choice(CHECKPOINT_FILES)),
    "redact": ("redact_patterns", _patterns),
    "committed_store": ("committed_store", _store_url),
    "extract_reasoning": ("extract_reasoning", _bool),
    "distiller": ("distiller", _distiller),
    "context_injection": ("context_injection", _context_injection),
    "trusted_refs": ("trusted_refs", _trusted_refs),
    "private": ("private", _bool),
}


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}; fix or remove the file") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "fix the file or remove it to use the defaults"
        ) from exc
    if not isinstance(data, dict):
        raise SettingsError(
            f'{path} must hold a JSON object such as {{"strategy": "manual_commit"}}'
        )
    return data


def load_settings(toplevel: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of the work tree at ``toplevel``; :class:`SettingsError` if unusable."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    for rel in (SETTINGS_FILE, SETTINGS_LOCAL_FILE):
        path = toplevel / rel
        for key, raw in _read(path).items():
            known = _KEYS.get(key)
            if known is None:
                extra[key] = raw
                warnings.append(f"unknown key {key!r} in {rel} (kept, not used by this version)")
                continue
            attr, check = known
            try:
                value = check(key, raw)
            except ValueError as exc:
                raise SettingsError(f"{path}: {exc}; fix the value or remove the key") from None
            if key == "committed_store" and rel == SETTINGS_FILE and has_password(raw):
                warnings.append(
                    f"{rel} is committed, yet its committed_store URL holds a password: move "
                    f"the URL to {SETTINGS_LOCAL_FILE} or BITLOOPS_COMMITTED_STORE (or the "
                    "password to ~/.pgpass) and change the password"
                )
            if key == "distiller" and rel == SETTINGS_FILE and value is not None:
                # It runs a command (or sends transcripts) on every commit: a committed
                # file must not choose that for every clone.
                warnings.append(
                    f"distiller in {rel} is ignored: a distiller runs a command or sends "
                    f"transcripts, so it is set per person, in {SETTINGS_LOCAL_FILE} or "
                    "BITLOOPS_DISTILLER"
                )
                continue
            if key == "trusted_refs" and rel == SETTINGS_FILE and value:
                # Widening what is injected into agents is each person's call.
                warnings.append(
                    f"trusted_refs in {rel} is ignored: which refs' reasoning reaches your "
                    f"agents is set per person, in {SETTINGS_LOCAL_FILE} or BITLOOPS_TRUSTED_REFS"
                )
                continue
            if key == "redact":
                # Personal patterns add to the team's rather than replace them.
                value = (*values.get(attr, ()), *value)
                extra_keys = sorted(set(raw) - {"extra_patterns"}) if isinstance(raw, dict) else []
                warnings += [f"unknown key 'redact.{k}' in {rel} (ignored)" for k in extra_keys]
            values[attr] = value
    for key, (attr, check) in _KEYS.items():
        name = f"BITLOOPS_{key.upper()}"
        if name in env:
            raw_env: Any = env[name]
            if key == "redact":
                raw_env = [p for p in raw_env.split("\n") if p]
            try:
                value = check(key, raw_env)
            except ValueError as exc:
                raise SettingsError(f"environment variable {name}: {exc}") from None
            values[attr] = (*values.get(attr, ()), *value) if key == "redact" else value
    if "redact_patterns" in values:
        values["redact_patterns"] = tuple(dict.fromkeys(values["redact_patterns"]))
    return Settings(**values, extra=extra, warnings=tuple(warnings))


def ensure_gitignore(toplevel: Path) -> None:
    """Keep ``settings.local.json`` out of commits, via ``.bitloops/.gitignore`` (best effort)."""
    folder = toplevel / ".bitloops"
    ignore = folder / ".gitignore"
    line = "settings.local.json"
    try:
        current = ignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    except OSError:
        return
    if current is not None and line in current.splitlines():
        return
    folder.mkdir(parents=True, exist_ok=True)
    text = current or "# Personal bitloops settings stay on this machine.\n"
    if not text.endswith("\n"):
        text += "\n"
    atomic_write(ignore, text + line + "\n")  # never a half-written .gitignore for git
