"""The readable copy of a checkpoint: ``.bitloops/checkpoints/v1/<commit-sha>/``.

- ``session.json``: the checkpoint's metadata (sessions with agents, models and times,
  summary, files, symbols, models, hashes, commit links) as indented JSON;
- ``summary.md``: the summary as a reviewer reads it;
- ``transcript.jsonl``: one event per line, each the event's canonical JSON.

The content hash can be recomputed from these files alone (see :mod:`bitloops._codec`),
so once git has committed them, a change on either side shows.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from bitloops._codec import (
    canonical_dumps,
    checkpoint_header,
    content_hash,
    line_batches,
    structure,
)
from bitloops._fs import atomic_write
from bitloops.checkpoint._summary import render_markdown
from bitloops.errors import CheckpointFilesError
from bitloops.git._git import is_sha
from bitloops.model import Checkpoint

__all__ = [
    "CHECKPOINTS_DIR",
    "FORMAT",
    "checkpoint_dir",
    "dir_content_hash",
    "folder_of",
    "indented_json",
    "read_checkpoint_dir",
    "remember_header",
    "write_checkpoint_dir",
]

CHECKPOINTS_DIR = ".bitloops/checkpoints/v1"
FORMAT = "bitloops.checkpoint/v1"
_SESSION, _SUMMARY, _TRANSCRIPT = "session.json", "summary.md", "transcript.jsonl"
# Keys of session.json that are not part of the hashed header.
_EXTRA_KEYS = ("format", "commits", "content_hash", "event_count")


def checkpoint_dir(toplevel: Path, commit_sha: str) -> Path:
    """Where the folder of ``commit_sha`` lives; the SHA is validated before it becomes a path."""
    if not is_sha(commit_sha):
        raise CheckpointFilesError(f"{commit_sha!r} is not a full commit SHA")
    return toplevel / CHECKPOINTS_DIR / commit_sha


_CHECKPOINT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def folder_of(toplevel: Path, commit_sha: str, checkpoint_id: str) -> Path:
    """Where the folder of a checkpoint is, or goes.

    A commit's folder holds the first checkpoint created for it; a further one (the
    ``session`` strategy, where several sessions can end on one commit) goes in a
    sub-folder named after its id: ``<sha>/<checkpoint id>/``.
    """
    folder = checkpoint_dir(toplevel, commit_sha)
    meta = folder / _SESSION
    if not meta.exists():
        return folder
    try:
        owner = json.loads(meta.read_text(encoding="utf-8")).get("checkpoint_id")
    except (OSError, ValueError, AttributeError):
        owner = None
    if owner == checkpoint_id:
        return folder
    if not _CHECKPOINT_ID.fullmatch(checkpoint_id):
        raise CheckpointFilesError(f"{checkpoint_id!r} is not a checkpoint id")
    return folder / checkpoint_id


class _Kept:
    """What promotion built for the folder it writes next: the header (building it
    again walked a big summary twice) and, begun in a thread, the texts of
    ``summary.md`` and ``session.json``: the thread runs while the promotion's write
    transaction waits on SQLite and the disk, which let go of the GIL."""

    __slots__ = ("_texts", "_thread", "commits", "event_count", "header", "key")

    def __init__(
        self, checkpoint: Checkpoint, header: dict[str, Any], event_count: int, prepare: bool
    ) -> None:
        self.key = (checkpoint.checkpoint_id, checkpoint.content_hash)
        self.header = header
        self.commits = list(checkpoint.commits)
        self.event_count = event_count
        self._texts: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None
        if prepare:
            self._thread = threading.Thread(
                target=self._prepare, args=(checkpoint,), name="bitloops-folder", daemon=True
            )
            self._thread.start()

    def _prepare(self, checkpoint: Checkpoint) -> None:
        meta = _meta(self.header, self.commits, checkpoint.content_hash, self.event_count)
        try:
            self._texts = (render_markdown(checkpoint), _session_text(meta))
        except Exception:  # written the usual way instead, which says what went wrong
            self._texts = None

    def texts(self) -> tuple[str, str] | None:
        """``summary.md`` and ``session.json`` as they are written, if they were built."""
        if self._thread is not None:
            self._thread.join()
        return self._texts


# One slot, taken by the checkpoint of the same id and content hash (see remember_header).
_built: _Kept | None = None


def remember_header(
    checkpoint: Checkpoint, header: dict[str, Any], *, event_count: int, prepare: bool
) -> None:
    """Keep ``header`` (``checkpoint_header(checkpoint)``) for the checkpoint's folder.

    With ``prepare``, its texts are built in a thread from now on (a checkpoint whose
    events are held: the texts of a big one are written in pieces instead). The caller
    hands ``header`` over: it must not change it afterwards.
    """
    global _built
    _built = _Kept(checkpoint, header, event_count, prepare)


def _take(checkpoint: Checkpoint) -> _Kept | None:
    """What :func:`remember_header` kept, if it is this checkpoint's (then let go)."""
    global _built
    kept = _built
    if kept is not None and kept.key == (checkpoint.checkpoint_id, checkpoint.content_hash):
        _built = None
        return kept
    return None


def _meta(
    header: dict[str, Any], commits: list[str], content_hash: str | None, event_count: int
) -> dict[str, Any]:
    """What ``session.json`` holds: the header and the keys outside the hash."""
    return {
        "format": FORMAT,
        **header,
        "commits": commits,
        "content_hash": content_hash,
        "event_count": event_count,
    }


def _session_text(meta: dict[str, Any]) -> str:
    """``session.json``'s text, whole (see :func:`write_checkpoint_dir`)."""
    try:
        return "".join(_indented_pieces(meta, "\n", 0))
    except (TypeError, RecursionError):  # what indented_json hands to json.dumps
        return indented_json(meta) + "\n"


def write_checkpoint_dir(
    toplevel: Path, checkpoint: Checkpoint, event_lines: Sequence[str] | None = None
) -> Path:
    """Write the checkpoint's folder under ``toplevel``; returns the folder.

    ``event_lines`` are the stored canonical lines, when the caller has them, so that
    the events need not be serialised again.
    """
    folder = folder_of(toplevel, checkpoint.commit_sha, checkpoint.checkpoint_id)
    folder.mkdir(parents=True, exist_ok=True)
    if event_lines is None:
        from bitloops._codec import unstructure
        from bitloops.checkpoint._transcript import Transcript

        if isinstance(checkpoint.events, Transcript):
            event_lines = checkpoint.events.lines
        else:
            event_lines = [canonical_dumps(unstructure(e)) for e in checkpoint.events]
    kept = _take(checkpoint)
    commits = list(checkpoint.commits)
    meta = _meta(
        kept.header if kept is not None else checkpoint_header(checkpoint),
        commits,
        checkpoint.content_hash,
        len(event_lines),
    )
    # In batches: a big transcript is never copied whole into one string. No fsync: the
    # database holds the checkpoint, and `bitloops doctor --fix` rewrites a folder that
    # a power cut left torn (syncing would cost every promotion milliseconds per file).
    atomic_write(folder / _TRANSCRIPT, line_batches(event_lines), fsync=False)
    built = None
    if kept is not None and (kept.commits, kept.event_count) == (commits, len(event_lines)):
        built = kept.texts()
    if built is not None:
        atomic_write(folder / _SUMMARY, built[0], fsync=False)
        atomic_write(folder / _SESSION, built[1], fsync=False)
        return folder
    atomic_write(folder / _SUMMARY, render_markdown(checkpoint), fsync=False)
    try:
        # In pieces too: a big checkpoint's summary is megabytes of indented JSON.
        atomic_write(folder / _SESSION, _indented_pieces(meta, "\n", 0), fsync=False)
    except (TypeError, RecursionError):  # what indented_json hands to json.dumps
        atomic_write(folder / _SESSION, indented_json(meta) + "\n", fsync=False)
    return folder


def _indented_pieces(value: Any, newline: str, depth: int) -> Iterator[str]:
    """The text of ``indented_json(value) + "\n"`` (at ``depth`` 0), in pieces.

    The outer containers are walked here, one piece per member; each member below
    them is encoded whole by :func:`_indent`.
    """
    tp = type(value)
    if depth < _PIECE_DEPTH and (tp is dict or tp is list or tp is tuple) and value:
        inner = newline + "  "
        opening = "{" if tp is dict else "["
        if tp is dict:
            for key in sorted(value):
                if type(key) is not str:
                    raise TypeError("a key json.dumps converts")
                yield f"{opening}{inner}{encode_basestring(key)}: "
                opening = ","
                yield from _indented_pieces(value[key], inner, depth + 1)
        else:
            for item in value:
                yield opening + inner
                opening = ","
                yield from _indented_pieces(item, inner, depth + 1)
        yield newline + ("}" if tp is dict else "]")
    else:
        out: list[str] = []
        _indent(value, newline, out)
        yield "".join(out)
    if depth == 0:
        yield "\n"


# How deep session.json is written member by member (summary > decisions > each one).
_PIECE_DEPTH = 3


def indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)``, the same text.

    Built by a direct walk: with an indent the standard library falls back to its pure
    Python encoder, a generator per container, and a big checkpoint's session.json took
    most of the folder's time. Anything but plain JSON types (a number key, a subclass)
    goes to ``json.dumps`` itself; ``tests/test_record_fast_path.py`` checks they agree.
    """
    out: list[str] = []
    try:
        _indent(value, "\n", out)
    except (TypeError, RecursionError):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(out)


_INF = float("inf")


def _indent(value: Any, newline: str, out: list[str]) -> None:
    tp = type(value)
    if tp is str:
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif tp is int:
        out.append(int.__repr__(value))
    elif tp is float:
        if value != value:
            out.append("NaN")
        elif value in (_INF, -_INF):
            out.append("Infinity" if value > 0 else "-Infinity")
        else:
            out.append(float.__repr__(value))
    elif tp is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        opening = "{"
        for key in sorted(value):
            if type(key) is not str:
                raise TypeError("a key json.dumps converts")
            item = value[key]
            # Strings and nulls (most members) in the same piece: a call less each.
            if type(item) is str:
                out.append(f"{opening}{inner}{encode_basestring(key)}: {encode_basestring(item)}")
            elif item is None:
                out.append(f"{opening}{inner}{encode_basestring(key)}: null")
            else:
                out.append(f"{opening}{inner}{encode_basestring(key)}: ")
                _indent(item, inner, out)
            opening = ","
        out.append(newline + "}")
    elif tp is list or tp is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        opening = "["
        for item in value:
            if type(item) is str:
                out.append(f"{opening}{inner}{encode_basestring(item)}")
            else:
                out.append(opening + inner)
                _indent(item, inner, out)
            opening = ","
        out.append(newline + "]")
    else:
        raise TypeError("a type json.dumps handles its own way")


def _load(folder: Path) -> tuple[dict[str, Any], list[str]]:
    folder = Path(folder)
    try:
        meta = json.loads((folder / _SESSION).read_text(encoding="utf-8"))
        with open(folder / _TRANSCRIPT, encoding="utf-8", newline="\n") as fh:
            lines = fh.read().split("\n")
    except FileNotFoundError as exc:
        raise CheckpointFilesError(
            f"{folder} is not a complete checkpoint folder ({Path(exc.filename).name} is "
            "missing); restore it from git, or delete the folder and promote the commit again"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointFilesError(f"cannot read checkpoint folder {folder}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointFilesError(
            f"{folder / _SESSION} is not a {FORMAT} file; is this a checkpoint folder?"
        )
    if lines and lines[-1] == "":
        lines.pop()
    return meta, lines


def dir_content_hash(folder: Path) -> str:
    """Recompute the content hash from the files alone."""
    meta, lines = _load(folder)
    header = {k: v for k, v in meta.items() if k not in _EXTRA_KEYS}
    return content_hash(header, lines)


def read_checkpoint_dir(path: str | os.PathLike[str]) -> Checkpoint:
    """Rebuild a :class:`~bitloops.Checkpoint` from its folder on disk."""
    folder = Path(path)
    meta, lines = _load(folder)
    try:
        data = {k: v for k, v in meta.items() if k not in ("format", "event_count")}
        data["events"] = [json.loads(line) for line in lines]
        return structure(data, Checkpoint)
    except Exception as exc:  # cattrs raises a family of errors; all mean "malformed"
        raise CheckpointFilesError(
            f"{folder} holds a malformed checkpoint ({type(exc).__name__}: {exc}); restore it "
            "from git"
        ) from exc
