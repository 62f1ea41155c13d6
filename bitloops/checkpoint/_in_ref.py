"""Checkpoint folders in the checkpoint ref: one written from the database's copy, one read back.

The ref's plumbing (compare-and-swap updates of ``<sha>/``) is :mod:`bitloops.git._ref`;
what a folder holds is this package's (:mod:`bitloops.checkpoint._files`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bitloops.checkpoint._files import read_checkpoint_dir, write_checkpoint_dir
from bitloops.errors import CheckpointFilesError
from bitloops.git._git import is_sha
from bitloops.git._ref import folder_files, make_tree, read_blob, update_folder, write_blobs
from bitloops.model import Checkpoint

__all__ = ["put_checkpoint", "read_from_ref"]


def put_checkpoint(
    toplevel: Path, checkpoint: Checkpoint, lines: Sequence[str] | None = None
) -> str:
    """Commit one checkpoint's files into the checkpoint ref; the new tip.

    Written straight from the database's copy (no work-tree folder, so no lag and
    nothing for the user to commit by mistake). The commit's folder ``<sha>/`` holds
    the checkpoint first created for it; another checkpoint of the same commit goes
    in ``<sha>/<checkpoint id>/``, and what is already there is kept.
    """
    sha, cid = checkpoint.commit_sha, checkpoint.checkpoint_id
    if not is_sha(sha):
        raise CheckpointFilesError(f"{sha!r} is not a full commit SHA")
    with tempfile.TemporaryDirectory(prefix="bitloops-") as tmp:
        folder = write_checkpoint_dir(Path(tmp), checkpoint, lines)
        own = write_blobs(toplevel, sorted(p for p in folder.iterdir() if p.is_file()))

    def change(here: dict[str, str]) -> dict[str, str]:
        owner = None
        if "session.json" in here:
            try:
                owner = json.loads(read_blob(toplevel, here["session.json"]) or b"{}").get(
                    "checkpoint_id"
                )
            except (ValueError, AttributeError):
                owner = None
        if owner in (None, cid):
            # this commit's own checkpoint: its files, keeping sub-folders of others
            return {k: v for k, v in here.items() if v.split()[1] == "tree"} | own
        return here | {cid: f"040000 tree {make_tree(toplevel, list(own.values()))}\t{cid}"}

    return update_folder(toplevel, sha, change, "checkpoint")


def read_from_ref(toplevel: Path, sha: str) -> Checkpoint:
    """The checkpoint of commit ``sha`` as committed in the checkpoint ref."""
    files = folder_files(toplevel, sha)
    with tempfile.TemporaryDirectory(prefix="bitloops-ref-") as tmp:
        folder = Path(tmp) / sha
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return read_checkpoint_dir(folder)
