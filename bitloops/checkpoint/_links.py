"""Link files: a rewritten commit points to the checkpoint folder it carries the reasoning of.

After an amend, a rebase or a cherry-pick, the new commit's reasoning is the old commit's
checkpoint. Its folder stays named after the commit it was created for (its
``commit_sha``, which the content hash covers), and the new commit gets a small file
instead of a second copy: ``.bitloops/checkpoints/v1/<new sha>/link.json`` (or
``<new sha>/link.json`` in the checkpoint ref)::

    {
      "commit": "<new sha>",
      "format": "bitloops.link/v1",
      "link_hash": "<SHA-256 of the canonical JSON of the other keys>",
      "links": [
        {"checkpoint_id": "...", "content_hash": "...", "folder": "<sha>[/<checkpoint id>]",
         "reason": "amend"}
      ]
    }

A reader trusts a link only when the link file and the folder it names are both
committed (in ``HEAD``'s tree, or in the checkpoint ref), the file's ``link_hash``
matches, its ``commit`` is the commit asked for, and the folder's recomputed content
hash and checkpoint id are the ones the link names (see docs/storage.md).

Only the standard library is imported at module level: the pre-commit hook reads link
files on its light path.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitloops._fs import atomic_write
from bitloops.errors import GitError
from bitloops.git._git import Git

if TYPE_CHECKING:
    from bitloops.model import Checkpoint

__all__ = [
    "LINK_FILE",
    "LINK_FORMAT",
    "Link",
    "broken_links",
    "committed_links",
    "drop_links",
    "link_document",
    "link_targets",
    "linked_checkpoints",
    "parse_links",
    "put_links_in_ref",
    "read_link_file",
    "write_link_file",
]

#: The name of a link file inside a commit's folder.
LINK_FILE = "link.json"
#: The ``format`` of a link file.
LINK_FORMAT = "bitloops.link/v1"
# Kept in step with bitloops.checkpoint._files.CHECKPOINTS_DIR and bitloops.git._ref.CHECKPOINT_REF
# (importing them would load the codec on the pre-commit hook's path).
_FOLDERS = ".bitloops/checkpoints/v1"
_REF = "refs/bitloops/checkpoints/v1"
_SHA = r"(?:[0-9a-f]{40}|[0-9a-f]{64})"
_FOLDER = re.compile(
    rf"{_SHA}(?:/[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})?"
)
_COMMIT = re.compile(_SHA)


@attrs.frozen
class Link:
    """One checkpoint a commit is linked to, and where its folder is."""

    #: The checkpoint's id.
    checkpoint_id: str
    #: Its folder, relative to ``.bitloops/checkpoints/v1`` (or the ref's top):
    #: ``<sha>``, or ``<sha>/<checkpoint id>`` for a further checkpoint of that commit.
    folder: str
    #: The checkpoint's content hash, which the folder's files must recompute to.
    content_hash: str
    #: Why the commit carries it: ``amend``, ``rebase``, ``cherry-pick``, ...
    reason: str

    def as_json(self) -> dict[str, str]:
        """The entry's shape in a link file."""
        return {
            "checkpoint_id": self.checkpoint_id,
            "content_hash": self.content_hash,
            "folder": self.folder,
            "reason": self.reason,
        }


def _canonical(value: Any) -> str:
    # bitloops._codec.canonical_dumps, without importing the codec on the hook path
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _link_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def link_document(commit: str, links: Iterable[Link]) -> dict[str, Any]:
    """The content of ``commit``'s link file (entries in checkpoint id order, hashed)."""
    first: dict[str, Link] = {}
    for link in links:
        first.setdefault(link.checkpoint_id, link)  # a link already written keeps its reason
    entries = sorted(first.values(), key=_order)
    body: dict[str, Any] = {
        "commit": commit,
        "format": LINK_FORMAT,
        "links": [link.as_json() for link in entries],
    }
    return {**body, "link_hash": _link_hash(body)}


def _order(link: Link) -> str:
    return link.checkpoint_id


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_links(data: bytes | str, commit: str) -> list[Link]:
    """The links of ``commit``'s link file ``data``; [] when it is not a valid one.

    Not valid: not JSON, another format, a ``link_hash`` that does not match, another
    ``commit`` than the one whose folder holds it, or a malformed entry.
    """
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    if not isinstance(doc, dict) or doc.get("format") != LINK_FORMAT:
        return []
    body = {k: v for k, v in doc.items() if k != "link_hash"}
    if doc.get("commit") != commit or doc.get("link_hash") != _link_hash(body):
        return []
    found = []
    for entry in doc.get("links") or []:
        if not isinstance(entry, dict):
            return []
        values = [entry.get(k) for k in ("checkpoint_id", "folder", "content_hash", "reason")]
        if not all(isinstance(v, str) and v for v in values):
            return []
        link = Link(*values)  # type: ignore[arg-type]
        if not _FOLDER.fullmatch(link.folder):
            return []
        found.append(link)
    return found


def read_link_file(folder: Path, commit: str) -> list[Link]:
    """The valid links of the link file in ``folder`` (the commit's folder); [] if none."""
    try:
        return parse_links((folder / LINK_FILE).read_bytes(), commit)
    except OSError:
        return []


def write_link_file(root: Path, commit: str, links: Sequence[Link]) -> Path:
    """Write (or extend) ``commit``'s link file under ``root`` (the checkpoints folder).

    Links already in the file are kept, so squashes and repeated rewrites add up.
    """
    if not _COMMIT.fullmatch(commit):
        from bitloops.errors import CheckpointFilesError

        raise CheckpointFilesError(f"{commit!r} is not a full commit SHA; pass the whole SHA")
    folder = root / commit
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LINK_FILE
    document = link_document(commit, [*read_link_file(folder, commit), *links])
    atomic_write(path, _text(document))
    return path


def drop_links(
    data: bytes | str, commit: str, checkpoint_ids: AbstractSet[str]
) -> tuple[bool, str | None]:
    """``commit``'s link file ``data`` without the entries naming ``checkpoint_ids``:
    ``(changed, new text)``, the text None when no entry is left (delete the file).

    For a checkpoint made private afterwards: an entry naming it would tell that it
    exists and where its folder was. Not valid data is left as it is.
    """
    links = parse_links(data, commit)
    kept = [link for link in links if link.checkpoint_id not in checkpoint_ids]
    if len(kept) == len(links):
        return False, None if not links else _text(link_document(commit, links))
    return True, _text(link_document(commit, kept)) if kept else None


def link_targets(folder: Path, commit: str) -> list[str]:
    """The top folders (commit SHAs) the link file in ``folder`` points to."""
    return sorted({link.folder.split("/")[0] for link in read_link_file(folder, commit)})


def put_links_in_ref(toplevel: Path, commit: str, links: Sequence[Link]) -> str:
    """Add (or extend) ``commit``'s link file in the checkpoint ref; the ref's new tip.

    What else ``<commit>/`` holds in the ref (its own checkpoint) is kept.
    """
    from bitloops.git._ref import read_blob, update_folder, write_text_blob

    def change(here: dict[str, str]) -> dict[str, str]:
        existing: list[Link] = []
        if LINK_FILE in here:
            blob = read_blob(toplevel, here[LINK_FILE])
            existing = parse_links(blob, commit) if blob is not None else []
        text = _text(link_document(commit, [*existing, *links]))
        return here | {LINK_FILE: write_text_blob(toplevel, LINK_FILE, text)}

    return update_folder(toplevel, commit, change, "link")


# -- reading -------------------------------------------------------------------------------


def _blobs(toplevel: Path, specs: Sequence[str]) -> dict[str, bytes]:
    """The blobs ``specs`` (``<tree-ish>:<path>``) name, read by one ``git cat-file``."""
    try:
        return Git(toplevel).blob_bytes(specs)
    except GitError:
        return {}


def _roots(toplevel: Path) -> list[str]:
    """Where committed folders are, as ``git cat-file`` prefixes: HEAD's tree, then the
    checkpoint ref's."""
    roots = [f"HEAD:{_FOLDERS}/"]
    try:
        out = Git(toplevel).try_run("rev-parse", "--verify", "--quiet", f"{_REF}^{{commit}}")
    except GitError:
        return roots
    tip = (out or "").strip()
    if _COMMIT.fullmatch(tip):
        roots.append(f"{tip}:")
    return roots


def _listed(toplevel: Path, root: str) -> list[str]:
    """The commits that have a link file under ``root`` (one ``git ls-tree``)."""
    try:
        out = Git(toplevel).try_run(
            "ls-tree", "-r", "--name-only", root.rstrip("/").rstrip(":") or root
        )
    except GitError:
        return []
    names = (out or "").splitlines()
    return [
        name[: -len(LINK_FILE) - 1]
        for name in names
        if name.endswith(f"/{LINK_FILE}") and _COMMIT.fullmatch(name[: -len(LINK_FILE) - 1])
    ]


@attrs.frozen
class _Checked:
    commit: str
    link: Link | None  # None: the link file itself is not valid
    checkpoint: Checkpoint | None  # None: the link is not trusted
    problem: str


def _check(
    toplevel: Path,
    root: str,
    commits: Sequence[str],
    skip: AbstractSet[tuple[str, str]] = frozenset(),
) -> list[_Checked]:
    """Read and verify the link files of ``commits`` under ``root``; every link, judged."""
    specs = {commit: f"{root}{commit}/{LINK_FILE}" for commit in commits}
    files = _blobs(toplevel, list(specs.values()))
    parsed: list[tuple[str, Link]] = []
    out: list[_Checked] = []
    for commit, spec in specs.items():
        if spec not in files:
            continue
        links = parse_links(files[spec], commit)
        if not links:
            out.append(_Checked(commit, None, None, "is not a valid link file"))
        parsed += [(commit, link) for link in links if (commit, link.checkpoint_id) not in skip]
    folders = sorted({link.folder for _, link in parsed})
    blobs = _blobs(toplevel, [f"{root}{folder}/{name}" for folder in folders for name in _NAMES])
    for commit, link in parsed:
        body = {name: blobs.get(f"{root}{link.folder}/{name}") for name in _NAMES}
        checkpoint, problem = _verified(body, link)
        out.append(_Checked(commit, link, checkpoint, problem))
    return out


def linked_checkpoints(toplevel: Path, commit: str) -> list[Checkpoint]:
    """The checkpoints committed link files link ``commit`` to, each verified.

    A link counts only when its file and its folder are committed (``HEAD``'s tree or
    the checkpoint ref) and the folder's files recompute to the content hash and the
    checkpoint id the link names; the checkpoint's ``commits`` then include ``commit``.
    """
    if not _COMMIT.fullmatch(commit):
        return []
    found: dict[str, Checkpoint] = {}
    for root in _roots(toplevel):
        for item in _check(toplevel, root, [commit]):
            checkpoint = item.checkpoint
            if checkpoint is not None and checkpoint.checkpoint_id not in found:
                commits = tuple(dict.fromkeys([*checkpoint.commits, commit]))
                found[checkpoint.checkpoint_id] = attrs.evolve(checkpoint, commits=commits)
    return sorted(found.values(), key=lambda cp: cp.created_at, reverse=True)


def committed_links(
    toplevel: Path, *, ref: bool = True, skip: AbstractSet[tuple[str, str]] = frozenset()
) -> list[tuple[str, str]]:
    """``(commit, checkpoint id)`` of every committed link that verifies (see
    :func:`linked_checkpoints`), in ``HEAD``'s tree and (``ref``) the checkpoint ref.

    ``skip``: pairs already known, whose folders are not read again.
    """
    found: list[tuple[str, str]] = []
    for root in _roots(toplevel)[: None if ref else 1]:
        for item in _check(toplevel, root, _listed(toplevel, root), skip):
            if item.checkpoint is not None:
                found.append((item.commit, item.checkpoint.checkpoint_id))
    return sorted(set(found))


def broken_links(toplevel: Path) -> list[tuple[str, str]]:
    """``(commit, what is wrong)`` for each committed link that does not verify: a link
    file that is not valid (its hash, its commit, its format), or a link to a folder
    that is not committed beside it or does not recompute to the linked hash.

    For ``bitloops verify``: a link is a claim that a commit carries this reasoning.
    """
    problems = []
    for root in _roots(toplevel):
        where = "the checkpoint ref" if not root.startswith("HEAD:") else "HEAD"
        for item in _check(toplevel, root, _listed(toplevel, root)):
            if item.checkpoint is None:
                problems.append(
                    (item.commit, f"the link file of {item.commit[:12]} in {where} {item.problem}")
                )
    return problems


_NAMES = ("session.json", "transcript.jsonl")


def _verified(files: dict[str, bytes | None], link: Link) -> tuple[Checkpoint | None, str]:
    """The checkpoint of a committed folder's ``files`` if it is the one ``link`` names;
    else None and why not."""
    from bitloops.checkpoint._files import dir_content_hash, read_checkpoint_dir
    from bitloops.errors import CheckpointFilesError

    if any(body is None for body in files.values()):
        # not committed there: anyone can write a folder in a work tree
        return None, f"names the folder {link.folder[:12]}, which is not committed beside it"
    with tempfile.TemporaryDirectory(prefix="bitloops-link-") as tmp:
        folder = Path(tmp)
        for name, body in files.items():
            (folder / name).write_bytes(body or b"")
        try:
            if dir_content_hash(folder) != link.content_hash:
                return None, f"names the folder {link.folder[:12]}, whose content hash differs"
            checkpoint = read_checkpoint_dir(folder)
        except CheckpointFilesError as exc:
            return None, f"names the folder {link.folder[:12]}, which cannot be read ({exc})"
    if checkpoint.checkpoint_id != link.checkpoint_id:
        return None, f"names the folder {link.folder[:12]}, which holds another checkpoint"
    return checkpoint, ""
