"""``bitloops blame``: per line, the commit, its checkpoint, and who wrote the line.

A line of a commit with a checkpoint is ``agent`` when the agent's own edit wrote it:
the text of a ``Write`` (``input.content``), ``Edit`` (``new_string``) or ``MultiEdit``
(``edits[].new_string``) call it recorded, or the equivalents of the other agents
(Gemini's ``write_file`` and ``replace``, OpenCode's ``write`` and ``edit``, Cursor's
file edits). It is ``unknown`` when that cannot be told: an edit of the file whose
payload was cut to an excerpt or redacted, a tool that writes without saying what
(a shell, ``apply_patch``, a notebook edit), or a file the agent reported changing
without any payload. Otherwise (the agent did not write it, nothing hides an edit) it is
``human``, as is every line of a commit without a checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from bitloops.checkpoint._history import (
    checkpoint_ids_of_commits,
    load_checkpoint,
    relative_path,
    short_id,
)
from bitloops.checkpoint._sources import refresh
from bitloops.errors import BitloopsError, UnknownRef
from bitloops.model import Checkpoint, Event

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = ["BLAME_AUTHORS", "BlameLine", "blame"]

#: What ``BlameLine.written_by`` can be.
BLAME_AUTHORS = ("agent", "human", "unknown")

_WRITE_KEYS = ("content", "file_text", "contents")
_EDIT_KEYS = ("new_string", "newString", "new_str")
_PATH_KEYS = ("file_path", "filePath", "path", "absolute_path", "notebook_path", "target_file")
_SHELL_TOOLS = frozenset(
    {
        "bash", "shell", "run_shell_command", "exec_command", "run_terminal_cmd", "terminal",
        "local_shell", "container.exec", "execute_command", "powershell",
    }
)  # fmt: skip
_PATCH_TOOLS = frozenset({"apply_patch", "patch", "notebookedit", "edit_notebook"})
_REDACTED = "[REDACTED:"
_NOT_COMMITTED = "0" * 40


@attrs.frozen(kw_only=True)
class BlameLine:
    """One line of a file as ``bitloops blame`` shows it.

    ``commit_sha`` is None for a line not committed yet; ``original_path`` and
    ``original_line`` where the line was in that commit (before a rename);
    ``written_by`` one of :data:`BLAME_AUTHORS`; ``agent``, ``model`` and ``prompt``
    the writing agent's (or the checkpoint's first) when there is a checkpoint.
    """

    number: int
    text: str
    commit_sha: str | None
    original_path: str
    original_line: int
    checkpoint_id: str | None = None
    agent: str | None = None
    model: str | None = None
    prompt: str | None = None
    written_by: str = "human"

    @property
    def short_id(self) -> str | None:
        """The checkpoint as a ``cp:`` prefix, or None."""
        return short_id(self.checkpoint_id) if self.checkpoint_id else None


@attrs.define
class _Writes:
    """What one checkpoint's agents wrote, by the file's name (as they named it)."""

    lines: dict[str, dict[str, tuple[str, str | None, str | None]]] = attrs.field(factory=dict)
    fragments: dict[str, list[tuple[str, tuple[str, str | None, str | None]]]] = attrs.field(
        factory=dict
    )
    hidden: set[str] = attrs.field(factory=set)  # files an edit of which cannot be read
    shell: bool = False
    agent: str | None = None
    model: str | None = None
    prompt: str | None = None


def _matches(raw: str, rel: str, top: str) -> bool:
    name = raw.replace("\\", "/")
    if name == rel or name.endswith("/" + rel):
        return True
    if os.path.isabs(raw):
        try:
            return os.path.relpath(raw, top).replace("\\", "/") == rel
        except ValueError:
            return False
    return False


def _tool_path(data: Mapping[str, Any]) -> str | None:
    for key in _PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _excerpt_path(text: str) -> str | None:
    for key in _PATH_KEYS:
        marker = f'"{key}": "'
        at = text.find(marker)
        end = text.find('"', at + len(marker)) if at >= 0 else -1
        if end > 0:
            return text[at + len(marker) : end]
    return None


def _texts(data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(whole texts written, edit replacements) found in a tool's input or an edit list."""
    whole = [data[k] for k in _WRITE_KEYS if isinstance(data.get(k), str)]
    parts = [data[k] for k in _EDIT_KEYS if isinstance(data.get(k), str)]
    for edit in data.get("edits") or ():
        if isinstance(edit, Mapping):
            parts += [edit[k] for k in _EDIT_KEYS if isinstance(edit.get(k), str)]
    return whole, parts


def _writes(cp: Checkpoint) -> _Writes:
    out = _Writes()
    prompts: dict[str, str] = {}
    first = cp.sessions[0] if cp.sessions else None
    out.agent = first.agent if first else (cp.models[0].agent if cp.models else None)
    out.model = first.model if first else (cp.models[0].model if cp.models else None)
    out.prompt = cp.summary.intent[0] if cp.summary.intent else None
    events: Iterable[Event] = cp.events
    of_kinds = getattr(cp.events, "of_kinds", None)
    if of_kinds is not None:
        events = of_kinds(["prompt", "tool_use", "file_change"])
    for event in events:
        p = event.payload
        if event.kind == "prompt":
            if isinstance(p.get("text"), str):
                prompts[event.session_id] = p["text"]
            continue
        who = (event.agent, event.model, prompts.get(event.session_id, out.prompt))
        if event.kind == "file_change":
            path = p.get("path")
            if isinstance(path, str) and p.get("edits"):
                _add(out, path, *_texts(p), who, cut=False)
            continue
        name = str(p.get("name") or "").lower()
        data = p.get("input")
        if name in _SHELL_TOOLS or name.split(".")[-1] in _SHELL_TOOLS:
            out.shell = True
            continue
        if name in _PATCH_TOOLS:
            out.shell = True  # a patch names files, but its text is not a file's lines
            continue
        if p.get("input_truncated") and not isinstance(data, Mapping):
            # Cut to an excerpt of its JSON: the file it names (if the excerpt still
            # does) may hold lines nobody can attribute; with no name, any file may.
            named = _excerpt_path(data) if isinstance(data, str) else None
            if named is not None:
                out.hidden.add(named)
            else:
                out.shell = True
            continue
        if not isinstance(data, Mapping):
            continue
        path = _tool_path(data)
        if path is None:
            continue
        whole, parts = _texts(data)
        if whole or parts:
            _add(out, path, whole, parts, who, cut=bool(p.get("input_truncated")))
    return out


def _add(
    out: _Writes,
    path: str,
    whole: Sequence[str],
    parts: Sequence[str],
    who: tuple[str, str | None, str | None],
    *,
    cut: bool,
) -> None:
    if cut or any(_REDACTED in text for text in (*whole, *parts)):
        out.hidden.add(path)
    lines = out.lines.setdefault(path, {})
    for text in whole:
        for line in text.splitlines():
            lines[line.strip()] = who
    for text in parts:
        rows = text.splitlines()
        for index, line in enumerate(rows):
            lines[line.strip()] = who
            if (index == 0 or index == len(rows) - 1) and line.strip():
                # an edit may start or end inside a line: its text is part of that line
                out.fragments.setdefault(path, []).append((line.strip(), who))


def _who(
    writes: _Writes, cp: Checkpoint, path: str, text: str, top: str
) -> tuple[str, tuple[str | None, str | None, str | None]]:
    default = (writes.agent, writes.model, writes.prompt)
    key = text.strip()
    touched = False
    hidden = any(_matches(h, path, top) for h in writes.hidden)
    for name, lines in writes.lines.items():
        if not _matches(name, path, top):
            continue
        touched = True
        if key in lines:
            return "agent", lines[key]
        for fragment, who in writes.fragments.get(name, ()):
            if len(fragment) >= 3 and fragment in key:
                return "agent", who
    if hidden or writes.shell:
        return "unknown", default
    if not touched and any(f.by_agent and f.path == path for f in cp.files):
        return "unknown", default  # reported changed, but no edit says how
    return "human", default


def blame(
    repo: Repository, path: str | os.PathLike[str], *, private: bool = True
) -> list[BlameLine]:
    """Every line of ``path`` (as in the work tree) with its commit, checkpoint and author;
    ``private=False`` leaves this clone's private checkpoints out (an export, for sharing)."""
    rel = relative_path(repo, path)
    out = repo.git.try_run("blame", "--porcelain", "--", rel)
    if out is None:
        raise UnknownRef(f"cannot blame {rel}: git does not track it (check the path)")
    raw: list[tuple[str, int, int, str, str]] = []
    names: dict[str, str] = {}
    current: tuple[str, int, int] | None = None
    for row in out.split("\n"):
        if row.startswith("\t") and current is not None:
            sha, orig, final = current
            raw.append((sha, orig, final, names.get(sha, rel), row[1:]))
            current = None
        elif current is None and row:
            parts = row.split()
            if len(parts) >= 3 and len(parts[0]) >= 40:
                current = (parts[0], int(parts[1]), int(parts[2]))
        elif current is not None and row.startswith("filename "):
            names[current[0]] = row[len("filename ") :]
    refresh(repo)
    shas = sorted({r[0] for r in raw if r[0] != _NOT_COMMITTED})
    by_commit = checkpoint_ids_of_commits(repo, shas, private=private)
    loaded: dict[str, tuple[Checkpoint, _Writes] | None] = {}
    top = str(repo.toplevel)
    lines = []
    for sha, orig, final, name, text in raw:
        committed = sha != _NOT_COMMITTED
        ids = by_commit.get(sha, []) if committed else []
        if not ids:
            lines.append(
                BlameLine(
                    number=final,
                    text=text,
                    commit_sha=sha if committed else None,
                    original_path=name,
                    original_line=orig,
                    written_by="human" if committed else "unknown",
                )
            )
            continue
        cid = ids[0]
        if cid not in loaded:
            try:
                cp = load_checkpoint(repo, cid)
                loaded[cid] = (cp, _writes(cp))
            except BitloopsError:
                loaded[cid] = None
        got = loaded[cid]
        who: tuple[str | None, str | None, str | None] = (None, None, None)
        if got is None:
            by = "unknown"
        else:
            by, who = _who(got[1], got[0], name, text, top)
        lines.append(
            BlameLine(
                number=final,
                text=text,
                commit_sha=sha,
                original_path=name,
                original_line=orig,
                checkpoint_id=cid,
                agent=who[0],
                model=who[1],
                prompt=who[2],
                written_by=by,
            )
        )
    return lines
