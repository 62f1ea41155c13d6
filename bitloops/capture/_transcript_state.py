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

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "STATE_RELATIVE_DIR",
    "TranscriptState",
    "load",
    "load_all",
    "locked",
    "save",
    "state_dir",
]

#: Where the state files are, relative to the git common directory.
STATE_RELATIVE_DIR = "bitloops/transcripts"
# Keep the newest uuids only: a state file must stay small enough to rewrite on every hook.
_MAX_SEEN = 20000


@attrs.define(kw_only=True)
class TranscriptState:
    """How far one session's transcript was read, and what was learnt from it."""

    session_id: str
    agent: str = ""
    worktree: str | None = None
    transcript_path: str | None = None
    offset: int = 0
    inode: int | None = None
    seen: list[str] = attrs.field(factory=list)
    model: str | None = None
    #: Message ids whose token usage was recorded.
    usage_done: list[str] = attrs.field(factory=list)
    #: SHA-256 of final texts a Stop hook recorded that the transcript may still bring.
    hook_responses: list[str] = attrs.field(factory=list)
    #: SHA-256 of texts recorded from the transcript that a Stop hook may still bring.
    transcript_responses: list[str] = attrs.field(factory=list)
    #: True while an over-long line is being passed over: reading goes on to its newline.
    skipping: bool = False
    #: The last problem noted in hooks.log about reading the file (noted once, not on
    #: every hook or commit); None once it reads again.
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The file's content."""
        return attrs.asdict(self)


def state_dir(common_dir: Path) -> Path:
    """The folder of the state files of the repository whose git common dir is given."""
    return common_dir / STATE_RELATIVE_DIR


def _file(common_dir: Path, session_id: str) -> Path:
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return state_dir(common_dir) / f"{digest}.json"


def _from_json(session_id: str, data: Any) -> TranscriptState:
    state = TranscriptState(session_id=session_id)
    if not isinstance(data, dict) or data.get("session_id") != session_id:
        return state

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    def texts(key: str) -> list[str]:
        value = data.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

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


def load(common_dir: Path, session_id: str) -> TranscriptState:
    """The state of ``session_id``; a fresh one when there is none or it is unreadable."""
    try:
        raw = _file(common_dir, session_id).read_text(encoding="utf-8")
        return _from_json(session_id, json.loads(raw))
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
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        sid = data.get("session_id") if isinstance(data, dict) else None
        if isinstance(sid, str):
            out.append(_from_json(sid, data))
    return out


def save(common_dir: Path, state: TranscriptState) -> None:
    """Write ``state`` atomically (call it inside :func:`locked`)."""
    del state.seen[:-_MAX_SEEN]
    del state.usage_done[:-_MAX_SEEN]
    del state.hook_responses[:-100]
    del state.transcript_responses[:-100]
    path = _file(common_dir, state.session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # ASCII: a lone surrogate (a session id from a payload may hold one) stays escaped.
    tmp.write_text(json.dumps(state.as_json()), encoding="ascii")
    os.replace(tmp, path)


#: How long a process waits for another to finish with a session's state, in seconds.
LOCK_WAIT = 10.0


@contextlib.contextmanager
def locked(common_dir: Path, session_id: str, wait: float | None = None) -> Iterator[None]:
    """Hold the advisory lock of ``session_id``'s state (a no-op where flock is missing).

    Waits at most ``wait`` seconds (default :data:`LOCK_WAIT`), and never past an agent
    hook's deadline (:func:`bitloops.store.live.hook_deadline`), then raises
    :class:`~bitloops.DatabaseBusy`: a hook spools its payload rather than block the
    agent, and a catch-up before a promotion skips the transcript until next time.
    """
    import time

    from bitloops.errors import DatabaseBusy
    from bitloops.store.live import seconds_left

    path = _file(common_dir, session_id).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    limit = LOCK_WAIT if wait is None else wait
    deadline = time.monotonic() + min(limit, seconds_left(limit))
    with open(path, "a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"the transcript state of session {session_id} stayed locked by "
                        "another process; it is read again next time"
                    ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
