"""Helpers the Cursor, Copilot and OpenCode integrations share beyond :mod:`.base`.

Candidates for :mod:`bitloops.integrations.base`; kept apart while that module is being
changed by others. Only the standard library and the modules the hooks import anyway.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import NotAGitRepository
from .base import digest, record_fitting

if TYPE_CHECKING:
    from ..model import Event
    from ..repository import Repository
    from ..session import Session
    from . import transcript_state as ts

__all__ = [
    "decoded",
    "home_dir",
    "hook_reasoning",
    "mapping",
    "once",
    "open_first",
    "text_field",
    "transcript_reasoning",
]


def text_field(payload: Any, *keys: str) -> str | None:
    """The first of ``keys`` whose value is a non-empty string (None for a non-mapping)."""
    if not isinstance(payload, Mapping):
        return None
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def decoded(value: Any) -> Any:
    """``value``, or what it holds when it is a JSON object or array written as a string."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


@contextmanager
def open_first(places: Sequence[str]) -> Iterator[Repository]:
    """The repository of the first of ``places`` inside a git work tree."""
    from ..repository import Repository

    if not places:
        raise NotAGitRepository("the payload names no directory and none was given")
    error: NotAGitRepository | None = None
    for place in places:
        try:
            repo = Repository.open(place)
        except NotAGitRepository as exc:
            error = error or exc
            continue
        with repo:
            yield repo
        return
    assert error is not None
    raise error


def once(repo: Repository, sid: str, key: str) -> bool:
    """True the first time ``key`` is claimed for session ``sid`` (kept in its state file).

    For hook events an agent may send twice (two hooks for one tool call, a plugin loaded
    from two places); the check and the claim happen under the session's state lock.
    """
    from . import transcript_state as ts

    common = repo.paths.common_dir
    with ts.locked(common, sid):
        state = ts.load(common, sid)
        if key in state.seen:
            return False
        state.seen.append(key)
        ts.save(common, state)
    return True


def _reasoning_key(text: str) -> str:
    return "reasoning:" + digest(text.strip())


def hook_reasoning(
    repo: Repository, session: Session, text: str, extra: Mapping[str, Any]
) -> Event | None:
    """Reasoning a hook carried, unless the transcript reader recorded the same text."""
    from . import transcript_state as ts

    if not text.strip():
        return None
    common = repo.paths.common_dir
    key = _reasoning_key(text)
    with ts.locked(common, session.session_id):
        state = ts.load(common, session.session_id)
        if key in state.transcript_responses:
            state.transcript_responses.remove(key)
            ts.save(common, state)
            return None
        event = record_fitting(session, "reasoning", {"text": text, **extra})
        state.hook_responses.append(key)
        ts.save(common, state)
    return event


def transcript_reasoning(
    session: Session, state: ts.TranscriptState, text: str, base: Mapping[str, Any]
) -> list[Event]:
    """Reasoning read from a transcript, unless a hook recorded the same text."""
    key = _reasoning_key(text)
    if key in state.hook_responses:
        state.hook_responses.remove(key)
        return []
    state.transcript_responses.append(key)
    return [record_fitting(session, "reasoning", {"text": text, **base})]


def home_dir(env: str, default: str) -> str:
    """``$env`` when set, else ``~/<default>``."""
    return os.environ.get(env) or os.path.join(os.path.expanduser("~"), default)
