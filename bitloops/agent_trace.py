"""An Agent Trace record (the open attribution format, RFC 0.1.0) of one commit.

For each file the commit changed: the line ranges it added, grouped by contributor
(``ai`` with its model, ``human``, or ``unknown``), as ``bitloops export --agent-trace``
prints it. A line is attributed exactly as ``bitloops blame`` attributes it
(:mod:`bitloops.context._blame`): ``ai`` when an edit the agent recorded wrote that text,
``unknown`` when an edit of the file cannot be read (cut, redacted, a shell or a patch),
``human`` otherwise. bitloops' own fields (checkpoint ids, agent names, the prompt) go
under the reverse-domain key :data:`VENDOR_KEY` of ``metadata``.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from bitloops.context._blame import _who, _writes  # the one attribution, shared with `blame`
from bitloops.errors import CheckpointNotFound

if TYPE_CHECKING:
    from bitloops.model import Checkpoint
    from bitloops.repository import Repository

__all__ = ["AGENT_TRACE_VERSION", "VENDOR_KEY", "agent_trace"]

#: The version of the Agent Trace format written.
AGENT_TRACE_VERSION = "0.1.0"
#: Where bitloops' own fields go in ``metadata``.
VENDOR_KEY = "dev.bitloops"

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
_TYPES = {"agent": "ai", "human": "human", "unknown": "unknown"}


def _added_lines(diff: str) -> dict[str, list[tuple[int, str]]]:
    """Each file's added lines, ``(line number in the commit, text)``, from a ``-U0`` diff."""
    out: dict[str, list[tuple[int, str]]] = {}
    path: str | None = None
    number = 0
    previous = ""
    for line in diff.split("\n"):
        # A file's header is "--- a" then "+++ b"; an added line reading "++ x" is "+++ x".
        header, previous = previous.startswith("--- "), line
        if header and line.startswith("+++ "):
            name = line[4:]
            if name.startswith('"') and name.endswith('"'):
                name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
            path = None if name == "/dev/null" else name.removeprefix("b/")
            continue
        if line.startswith("@@"):
            found = _HUNK.match(line)
            number = int(found.group(1)) if found else 0
            continue
        if path is not None and line.startswith("+"):
            out.setdefault(path, []).append((number, line[1:]))
            number += 1
    return out


def _attribute(
    cps: list[Checkpoint], path: str, text: str, top: str, writes: list[Any]
) -> tuple[str, str | None, str | None, str | None]:
    """(written_by, agent, model, checkpoint id) of one line, as ``blame`` decides it."""
    first: tuple[str, str | None, str | None, str | None] | None = None
    for cp, w in zip(cps, writes, strict=True):
        by, (agent, model, _) = _who(w, cp, path, text, top)
        if by == "agent":
            return by, agent, model, cp.checkpoint_id
        if first is None:
            first = (by, agent, model, cp.checkpoint_id)
    assert first is not None
    return first


def agent_trace(repo: Repository, ref: str = "HEAD") -> dict[str, Any]:
    """The Agent Trace record of the commit ``ref`` names.

    Raises :class:`~bitloops.UnknownRef` for a ref that names no commit and
    :class:`~bitloops.CheckpointNotFound` for a commit without a checkpoint.
    """
    from bitloops import __version__
    from bitloops._codec import format_ts

    sha = repo.git.resolve_commit(ref)
    from bitloops.checkpoint._private import is_private, read_marks

    kept = read_marks(repo)
    found = repo.checkpoints(commit=sha)
    cps = [cp for cp in found if not is_private(cp, kept)]
    if found and not cps:
        raise CheckpointNotFound(
            f"the checkpoint of commit {sha[:12]} is private (kept in this clone), so it is "
            "not exported; `bitloops explain` shows it here"
        )
    if not cps:
        raise CheckpointNotFound(
            f"commit {sha[:12]} has no checkpoint, so nothing says which lines an agent "
            "wrote; it was made without a recorded session"
        )
    writes = [_writes(cp) for cp in cps]
    top = str(repo.toplevel)
    files = []
    owners: list[dict[str, Any]] = []
    counts = {"ai": 0, "human": 0, "unknown": 0}
    for path, lines in _added_lines(repo.git.commit_diff(sha)).items():
        conversations: dict[tuple[str, str | None], list[dict[str, int]]] = {}
        last: tuple[str, str | None, str | None, str | None, int] | None = None
        for number, text in lines:
            by, agent, model, cid = _attribute(cps, path, text, top, writes)
            kind = _TYPES[by]
            counts[kind] += 1
            key = (kind, model if kind == "ai" else None)
            ranges = conversations.setdefault(key, [])
            who = (kind, agent if kind == "ai" else None, key[1], cid, number)
            if last is not None and last[:4] == who[:4] and last[4] == number - 1 and ranges:
                ranges[-1]["end_line"] = number
            else:
                ranges.append({"start_line": number, "end_line": number})
                if kind == "ai":
                    owners.append(
                        {"path": path, "start_line": number, "agent": agent, "model": model,
                         "checkpoint_id": cid}
                    )  # fmt: skip
            if kind == "ai":
                owners[-1]["end_line"] = number
            last = who
        entries = []
        for (kind, model), ranges in conversations.items():
            contributor: dict[str, Any] = {"type": kind}
            if model:
                contributor["model_id"] = model
            entries.append({"contributor": contributor, "ranges": ranges})
        files.append({"path": path, "conversations": entries})
    newest = cps[0]
    record_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bitloops:{sha}:{newest.checkpoint_id}")
    return {
        "version": AGENT_TRACE_VERSION,
        "id": str(record_id),
        "timestamp": format_ts(newest.created_at),
        "vcs": {"type": "git", "revision": sha},
        "tool": {"name": "bitloops", "version": __version__},
        "files": files,
        "metadata": {
            VENDOR_KEY: {
                "commit_sha": sha,
                "checkpoint_ids": [cp.checkpoint_id for cp in cps],
                "models": [
                    {"agent": m.agent, "model": m.model}
                    for m in {(m.agent, m.model): m for cp in cps for m in cp.models}.values()
                ],
                "prompt": newest.summary.intent[0] if newest.summary.intent else None,
                "lines": counts,
                "ai_ranges": owners,
            }
        },
    }
