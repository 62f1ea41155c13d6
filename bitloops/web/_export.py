"""``bitloops export --html``: the web view's pages as static files with relative links.

For a CI artefact or a pull request: ``index.html`` lists the checkpoints of the commit
or range, ``checkpoint/<id>.html`` shows each (its whole conversation on one page),
``file/<name>.html`` the history and blame of each file they touched. A link to a page
not exported (an older checkpoint in a blame) leads to a note on the index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bitloops._fs import atomic_write
from bitloops.errors import BitloopsError, CheckpointNotFound, UnknownRef
from bitloops.web._html import Links, checkpoint_slug, esc, file_slug
from bitloops.web._pages import (
    Page,
    checkpoint_page,
    checkpoint_rows,
    commit_subjects,
    file_page,
    render,
)

if TYPE_CHECKING:
    from bitloops.model import Checkpoint
    from bitloops.repository import Repository

__all__ = [
    "MAX_COMMITS",
    "MAX_FILES",
    "ExportError",
    "ExportReport",
    "export_html",
    "select_checkpoints",
]

#: The most commits of a range exported.
MAX_COMMITS = 1_000
#: The most file pages exported.
MAX_FILES = 500


@attrs.frozen(kw_only=True)
class ExportReport:
    """What an export wrote: the folder, the checkpoints and the file pages."""

    directory: Path
    checkpoints: tuple[str, ...]
    files: tuple[str, ...]


class ExportError(BitloopsError):
    """The export folder could not be written."""


def select_checkpoints(repo: Repository, spec: str) -> list[Checkpoint]:
    """The checkpoints of ``spec``: a commit, a checkpoint id or ``cp:`` prefix, or a
    range ``BASE..HEAD`` (every commit of it, oldest first); newest first within a commit.
    """
    from bitloops.checkpoint._history import checkpoint_ids_of_commits, load_checkpoint
    from bitloops.checkpoint._sources import refresh

    if ".." in spec:
        shas = repo.git.range_commits(spec, MAX_COMMITS)[2]
        refresh(repo)
        by_commit = checkpoint_ids_of_commits(repo, shas)
        found: dict[str, Checkpoint] = {}
        for sha in shas:
            for cid in by_commit.get(sha, ()):
                if cid not in found:
                    found[cid] = load_checkpoint(repo, cid)
        if not found:
            raise CheckpointNotFound(f"no commit of {spec} has a checkpoint")
        return list(found.values())
    try:
        cps = repo.checkpoints(commit=spec)
    except UnknownRef:
        return [repo.checkpoint(spec)]
    if not cps:
        return [repo.checkpoint(spec)]  # raises CheckpointNotFound naming the commit
    return cps


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, fsync=False)  # an export is made again by the same command


def export_html(repo: Repository, spec: str, directory: str | os.PathLike[str]) -> ExportReport:
    """Write the pages of ``spec``'s checkpoints (see :func:`select_checkpoints`) to
    ``directory`` (created if needed; pages already there are replaced)."""
    from bitloops.checkpoint._private import is_private, read_marks

    kept = read_marks(repo)
    found = select_checkpoints(repo, spec)
    cps = [cp for cp in found if not is_private(cp, kept)]
    if not cps:
        raise CheckpointNotFound(
            f"every checkpoint of {spec} is private (kept in this clone), so none is "
            "exported; `bitloops explain` shows them here"
        )
    paths: dict[str, None] = {}
    for cp in cps:
        for f in cp.files:
            paths.setdefault(f.path, None)
        for sym in cp.symbols:
            paths.setdefault(sym.path, None)
        s = cp.summary
        for records in (s.decisions, s.alternatives, s.constraints):
            for record in records:
                for target in record.applies_to:
                    paths.setdefault(target.split("::", 1)[0], None)
    files = list(paths)[:MAX_FILES]
    links = Links(
        static=True,
        checkpoints=frozenset(cp.checkpoint_id for cp in cps),
        files=frozenset(files),
    )
    out = Path(directory)
    try:
        written_files = []
        for cp in cps:
            page = checkpoint_page(repo, links.at(1), cp.checkpoint_id)
            _write(
                out / "checkpoint" / f"{checkpoint_slug(cp.checkpoint_id)}.html",
                render(page, links.at(1)),
            )
        for path in files:
            page = file_page(repo, links.at(1), path)
            if page.status != 200:
                continue
            written_files.append(path)
            _write(out / "file" / f"{file_slug(path)}.html", render(page, links.at(1)))
        subjects = commit_subjects(repo, [cp.commit_sha for cp in cps])
        body = (
            f"<h1>Checkpoints of {esc(spec)}</h1>"
            f'<p class="dim">{len(cps)} checkpoint{"s" if len(cps) != 1 else ""}, exported by '
            "<code>bitloops export --html</code>.</p>"
            + checkpoint_rows(repo, cps, links, subjects)
            + '<h2 id="not-exported">Pages not in this export</h2><p class="dim">A link to a '
            "checkpoint or file outside "
            f"{esc(spec)} leads here: run <code>bitloops serve</code> in the repository to "
            "see it, or <code>bitloops explain</code>.</p>"
        )
        index = Page(status=200, title=f"Checkpoints of {spec}", body=body)
        _write(out / "index.html", render(index, links))
    except OSError as exc:
        raise ExportError(
            f"cannot write the export to {out} ({exc.strerror or exc}); pick a folder you "
            "can write with -o"
        ) from exc
    return ExportReport(
        directory=out,
        checkpoints=tuple(cp.checkpoint_id for cp in cps),
        files=tuple(written_files),
    )
