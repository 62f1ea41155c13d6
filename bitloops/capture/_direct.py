"""The agent hooks' fast path: find the repository and write events without the object model.

An agent runs its hook as a new process on every tool call, so start-up is most of the
cost. This module imports only the standard library, apsw, the canonical JSON helpers
(:mod:`bitloops._codec`) and the redactor: no attrs, no model classes, no ``git``
subprocess. It handles the common case only and says so when it cannot, and the caller
then takes the full path (:class:`~bitloops.Repository` and :class:`~bitloops.Session`):

- :func:`locate` reads ``.git`` itself; a linked worktree is followed through its
  ``gitdir``/``commondir`` files; anything unusual (``GIT_*`` variables, submodules,
  ``core.worktree``, another owner, a file system boundary) returns None, and git decides.
- :func:`read_settings` reads the settings files and ``BITLOOPS_*`` variables like
  :func:`bitloops.settings.load_settings`; it returns None for anything that function
  would reject, so the full path reports it.
- :func:`write` records prepared events of an existing, open session in one
  transaction, with the lines :class:`~bitloops.Session` would write (the same
  :func:`~bitloops._codec.event_line_parts`, the same ``seq`` rule), or says the full
  path is needed (no database yet, another schema version, an unknown or ended session,
  transcript state to update, spooled entries to replay first).
"""

from __future__ import annotations

import os

import apsw

from bitloops import _jsonc
from bitloops.git._locate import Located, locate
from bitloops.store import _live as live

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from bitloops.redact import Redactor

__all__ = [
    "DONE",
    "FULL",
    "SCHEMA_VERSION",
    "Located",
    "compiles",
    "locate",
    "read_settings",
    "write",
]

#: The schema version the light path writes to (that of :mod:`bitloops.store._live`).
SCHEMA_VERSION = live.SCHEMA_VERSION
#: :func:`write` recorded the events.
DONE = live.DONE
#: :func:`write` wrote nothing: the full path must record them.
FULL = live.FULL
#: :func:`write` wrote nothing: the write lock stayed taken past the bound.
BUSY = "busy"

# -- the settings ---------------------------------------------------------------------------

_SETTINGS_FILES = (".bitloops/settings.json", ".bitloops/settings.local.json")
_CHOICES = {
    "strategy": ("manual_commit", "session"),
    "durability": ("full", "normal"),
    "checkpoint_files": ("branch", "ref", "none"),
}
_POSITIVE = ("max_payload_bytes", "busy_timeout_ms", "hook_busy_timeout_ms", "idle_minutes")
_DEFAULTS: dict[str, Any] = {
    "strategy": "manual_commit",
    "durability": "full",
    "capture": True,
    "max_payload_bytes": 1_048_576,
    "busy_timeout_ms": 10_000,
    "hook_busy_timeout_ms": 1_000,
    "idle_minutes": 30,
    "checkpoint_files": "branch",
    "redact": (),
    "committed_store": None,
    "private": False,
}
_INVALID = object()


def compiles(pattern: str) -> bool:
    """Whether a user's redaction pattern compiles (never kept in the regex cache: it may
    spell out what it hides)."""
    from bitloops import _rx

    try:
        _rx.compile(pattern, keep=False)
    except Exception:  # re.error, RecursionError...: a pattern that cannot be used
        return False
    return True


def _value(key: str, value: Any) -> Any:
    """``value`` as the settings module would take it for ``key``; _INVALID when it would not."""
    if key in _CHOICES:
        return value if value in _CHOICES[key] else _INVALID
    if key in _POSITIVE:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return value if ok else _INVALID
    if key in ("capture", "private"):
        if isinstance(value, bool):
            return value
        words = ("1", "true", "yes", "on", "0", "false", "no", "off")
        if isinstance(value, str) and value.lower() in words:
            return value.lower() in ("1", "true", "yes", "on")
        return _INVALID
    if key == "committed_store":
        return value or None if value is None or isinstance(value, str) else _INVALID
    if key == "redact":
        if isinstance(value, dict):
            value = value.get("extra_patterns", [])
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            return _INVALID
        return tuple(value) if all(map(compiles, value)) else _INVALID
    return value  # a key this version does not know: kept, and harmless here


def read_settings(toplevel: str) -> dict[str, Any] | None:
    """The work tree's settings as a dict (``redact`` holds the extra patterns), or None.

    None means :func:`bitloops.settings.load_settings` would raise, so the full path
    should run and report it.
    """
    values = dict(_DEFAULTS)
    for rel in _SETTINGS_FILES:
        try:
            with open(os.path.join(toplevel, rel), encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            return None
        if not text.strip():
            continue
        try:
            data = _jsonc.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        for key, raw in data.items():
            value = _value(key, raw)
            if value is _INVALID:
                return None
            if key == "redact":
                value = (*values["redact"], *value)
            values[key] = value
    for key in _DEFAULTS:
        name = f"BITLOOPS_{key.upper()}"
        if name not in os.environ:
            continue
        raw_env: Any = os.environ[name]
        if key == "redact":
            raw_env = [p for p in raw_env.split("\n") if p]
        value = _value(key, raw_env)
        if value is _INVALID:
            return None
        values[key] = (*values["redact"], *value) if key == "redact" else value
    values["redact"] = tuple(dict.fromkeys(values["redact"]))
    return values


def redactor(settings: dict[str, Any]) -> Redactor:
    """The redactor the settings ask for, as :attr:`bitloops.Repository.redactor` builds it."""
    from bitloops.redact import Redactor, default_redactor

    patterns = settings["redact"]
    return Redactor(patterns) if patterns else default_redactor()


# -- the write ------------------------------------------------------------------------------


def state_file(common: str, session_id: str) -> str:
    """The session's transcript-state file (see :mod:`bitloops.capture._transcript_state`)."""
    from bitloops.capture._transcript_state import state_path

    return state_path(common, session_id)


def read_state(common: str, session_id: str) -> dict[str, Any] | None:
    """The session's transcript state as its file holds it (a dict); None when there is none."""
    from bitloops.capture._transcript_state import load_raw

    return load_raw(common, session_id)


def write(
    located: Located,
    settings: dict[str, Any],
    *,
    agent: str,
    session_id: str,
    transcript: str | None,
    events: list[tuple[str, str, tuple[str, ...]]],
    accept: Callable[[dict[str, Any]], bool] | None = None,
) -> str:
    """Record ``events`` (kind, payload JSON and artefacts from
    :func:`bitloops.store._live.prepare`) in one transaction.

    Returns :data:`DONE`; :data:`BUSY` when the write lock stayed taken past
    ``hook_busy_timeout_ms`` (nothing written); :data:`FULL` when the full path must
    record them (nothing written), also when ``accept`` turns down the session's
    transcript state (a dict, as its file holds it).
    """
    from bitloops.capture._spool import pending

    top, _, common = located
    if not settings["capture"]:
        return FULL  # the full path validates and records nothing, as the API does
    state = read_state(common, session_id)
    if state is None or state.get("agent") != agent or (accept is not None and not accept(state)):
        return FULL
    if transcript is not None and (
        state.get("transcript_path") != transcript or state.get("worktree") != top
    ):
        return FULL
    if not events:
        return DONE  # nothing to write, and the state needs no change
    wanted = state.get("model")
    db = os.path.join(common, "bitloops", "bitloops.db")
    try:
        conn = live.open_for_hook(
            db,
            durability=settings["durability"],
            busy_timeout_ms=settings["hook_busy_timeout_ms"],
        )
        if conn is None:
            return FULL
        try:
            # Checked under the write lock: an entry spooled before it was taken goes first.
            done = live.write_open_session(
                conn, session_id=session_id, worktree=top, events=events,
                model=wanted if isinstance(wanted, str) else None,
                first=lambda: pending(common),
            )  # fmt: skip
            if done == DONE:
                live.trim_log(conn, db)
            return done
        finally:
            conn.close()
    except apsw.BusyError:
        return BUSY
