"""What an integration remembers about an agent's transcript file, one JSON file per session.

The files live in ``<git common dir>/bitloops/transcripts/`` (shared by worktrees), named by
the SHA-256 of the session id. Each holds the transcript's path, how far it was read (a
byte offset, and the file's inode to notice a replaced file), the ``uuid`` of every line
already recorded (to never record a line twice after a truncation), and the model last
seen. Writes are atomic (a temporary file renamed over the old one) and made under an
advisory lock (:func:`locked`), so concurrent hooks of one session do not lose updates.

Only the standard library is used.
"""

from __future__ import annotations

import os

from bitloops import _jsonc

# Not from typing, and no attrs, hashlib or pathlib at import: the agent hooks' light path
# reads a state through this module in a fresh process.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

__all__ = [
    "STATE_RELATIVE_DIR",
    "TranscriptState",
    "load",
    "load_all",
    "load_raw",
    "locked",
    "save",
    "state_dir",
    "state_path",
]

#: Where the state files are, relative to the git common directory.
STATE_RELATIVE_DIR = "bitloops/transcripts"
# Keep the newest uuids only: a state file must stay small enough to rewrite on every hook.
_MAX_SEEN = 20000

# The fields of a state file, in the order they are written, with their defaults (a list
# default is copied for each state).
_FIELDS: tuple[tuple[str, Any], ...] = (
    ("session_id", ""),
    ("agent", ""),
    ("worktree", None),
    ("transcript_path", None),
    ("offset", 0),
    ("inode", None),
    ("seen", []),
    ("model", None),
    ("usage_done", []),
    ("hook_responses", []),
    ("transcript_responses", []),
    ("skipping", False),
    ("problem", None),
)


class TranscriptState:
    """How far one session's transcript was read, and what was learnt from it.

    ``seen`` holds the ``uuid`` of every line recorded; ``usage_done`` the message ids
    whose token usage was recorded; ``hook_responses`` the SHA-256 of final texts a Stop
    hook recorded that the transcript may still bring, and ``transcript_responses`` of
    texts recorded from the transcript that a Stop hook may still bring. ``skipping`` is
    True while an over-long line is being passed over (reading goes on to its newline);
    ``problem`` is the last problem noted in hooks.log about reading the file (noted
    once, not on every hook or commit), None once it reads again.
    """

    __slots__ = tuple(name for name, _ in _FIELDS)

    session_id: str
    agent: str
    worktree: str | None
    transcript_path: str | None
    offset: int
    inode: int | None
    seen: list[str]
    model: str | None
    usage_done: list[str]
    hook_responses: list[str]
    transcript_responses: list[str]
    skipping: bool
    problem: str | None

    def __init__(self, *, session_id: str, **fields: Any) -> None:
        self.session_id = session_id
        for name, default in _FIELDS[1:]:
            value = fields.pop(name, default)
            setattr(self, name, list(value) if isinstance(default, list) else value)
        if fields:
            raise TypeError(f"TranscriptState has no field {sorted(fields)[0]!r}")

    def as_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            name: list(getattr(self, name)) if isinstance(default, list) else getattr(self, name)
            for name, default in _FIELDS
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TranscriptState):
            return NotImplemented
        return self.as_json() == other.as_json()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the attrs class it replaces

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.as_json().items())
        return f"TranscriptState({inner})"


def state_dir(common_dir: Path) -> Path:
    """The folder of the state files of the repository whose git common dir is given."""
    return common_dir / STATE_RELATIVE_DIR


def state_path(common_dir: str | os.PathLike[str], session_id: str) -> str:
    """The state file of ``session_id``: named by the SHA-256 of the id."""
    from bitloops._codec import sha256_hex

    digest = sha256_hex(session_id)
    return os.path.join(os.fspath(common_dir), STATE_RELATIVE_DIR, f"{digest[:40]}.json")


def _file(common_dir: Path, session_id: str) -> Path:
    from pathlib import Path

    return Path(state_path(common_dir, session_id))


def load_raw(common_dir: str | os.PathLike[str], session_id: str) -> dict[str, Any] | None:
    """The state of ``session_id`` as its file holds it (a dict), without checking its
    fields; None when there is none, it is unreadable or names another session."""
    try:
        with open(state_path(common_dir, session_id), encoding="utf-8") as fh:
            data = _jsonc.loads(fh.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("session_id") == session_id else None


def _from_json(session_id: str, data: Any) -> TranscriptState:
    state = TranscriptState(session_id=session_id)
    if not isinstance(data, dict) or data.get("session_id") != session_id:
        return state

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    def texts(key: str) -> list[str]:
        value = data.get(key)
        if not isinstance(value, list):
            return []
        try:  # all strings, as saved: checked at C speed (a list holds up to 20,000)
            "".join(value)
        except TypeError:
            return [v for v in value if isinstance(v, str)]
        found: list[str] = value  # just parsed: no one else holds it
        return found

    offset = data.get("offset")
    inode = data.get("inode")
    state.agent = text("agent") or ""
    state.worktree = text("worktree")
    state.transcript_path = text("transcript_path")
    state.offset = offset if isinstance(offset, int) and offset >= 0 else 0
    state.inode = inode if isinstance(inode, int) else None
    state.seen = texts("seen")
    state.model = text("model")
    state.usage_done = texts("usage_done")
    state.hook_responses = texts("hook_responses")
    state.transcript_responses = texts("transcript_responses")
    state.skipping = data.get("skipping") is True
    state.problem = text("problem")
    return state


def load(common_dir: str | os.PathLike[str], session_id: str) -> TranscriptState:
    """The state of ``session_id``; a fresh one when there is none or it is unreadable."""
    try:
        with open(state_path(common_dir, session_id), encoding="utf-8") as fh:
            return _from_json(session_id, _jsonc.loads(fh.read()))
    except (OSError, ValueError):
        return TranscriptState(session_id=session_id)


def load_all(common_dir: Path) -> list[TranscriptState]:
    """Every readable state file of the repository."""
    out = []
    folder = state_dir(common_dir)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            data = _jsonc.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        sid = data.get("session_id") if isinstance(data, dict) else None
        if isinstance(sid, str):
            out.append(_from_json(sid, data))
    return out


def save(common_dir: str | os.PathLike[str], state: TranscriptState) -> None:
    """Write ``state`` atomically (call it inside :func:`locked`)."""
    del state.seen[:-_MAX_SEEN]
    del state.usage_done[:-_MAX_SEEN]
    del state.hook_responses[:-100]
    del state.transcript_responses[:-100]
    from bitloops._fs import atomic_write

    # Paths as strings: pathlib is not imported on the hooks' light path.
    path = state_path(common_dir, state.session_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # ASCII: a lone surrogate (a session id from a payload may hold one) stays escaped.
    # No fsync: hooks rewrite it all the time; a power cut may bring back the one before.
    atomic_write(path, _jsonc.dumps(state.as_json()).encode("ascii"), fsync=False)


#: How long a process waits for another to finish with a session's state, in seconds.
LOCK_WAIT = 10.0


def locked(
    common_dir: str | os.PathLike[str], session_id: str, wait: float | None = None
) -> AbstractContextManager[None]:
    """Hold the advisory lock of ``session_id``'s state (a no-op where flock is missing).

    Waits at most ``wait`` seconds (default :data:`LOCK_WAIT`), and never past an agent
    hook's deadline (:func:`bitloops.store._live.hook_deadline`), then raises
    :class:`~bitloops.DatabaseBusy`: a hook spools its payload rather than block the
    agent, and a catch-up before a promotion skips the transcript until next time.
    """
    return _Locked(state_path(common_dir, session_id)[: -len(".json")] + ".lock", session_id, wait)


class _Locked:
    """:func:`locked` (a class, not a contextlib generator: the hooks do without contextlib)."""

    __slots__ = ("_lock", "_path", "_session_id", "_wait")

    def __init__(self, path: str, session_id: str, wait: float | None) -> None:
        self._path, self._session_id, self._wait = path, session_id, wait
        self._lock: Any = None

    def __enter__(self) -> None:
        from bitloops._fs import try_lock
        from bitloops.errors import DatabaseBusy
        from bitloops.store._live import seconds_left

        limit = LOCK_WAIT if self._wait is None else self._wait
        self._lock = try_lock(self._path, min(limit, seconds_left(limit)), mode=0o666)
        if self._lock is None:
            raise DatabaseBusy(
                f"the transcript state of session {self._session_id} stayed locked by "
                "another process; it is read again next time"
            )

    def __exit__(self, *exc: object) -> None:
        from bitloops._fs import unlock

        unlock(self._lock)
