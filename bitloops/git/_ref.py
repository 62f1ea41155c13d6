"""Checkpoint folders committed under a dedicated ref: ``refs/bitloops/checkpoints/v1``.

With the setting ``checkpoint_files`` set to ``ref``, the folder of each checkpoint
(``<sha>/session.json``, ``summary.md``, ``transcript.jsonl``) is committed to this ref
instead of the user's branch. The ref is not a branch, so pushing it triggers no CI, and
the commit carrying a folder is made at once (no wait for the next ordinary commit).

Only git plumbing is used (``hash-object``, ``mktree``, ``commit-tree``, ``update-ref``):
the user's index and work tree are never touched. The ref's tree holds one ``<sha>/``
folder per checkpointed commit; since folders are named by SHA, the union of two trees
is their merge.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from bitloops.errors import CheckpointFilesError, CheckpointNotFound, GitError
from bitloops.git._git import is_sha

__all__ = [
    "CHECKPOINT_REF",
    "add_to_ref",
    "export_ref",
    "fetch_ref",
    "folder_files",
    "list_ref",
    "make_tree",
    "merge_into_ref",
    "push_ref",
    "read_blob",
    "ref_tip",
    "update_folder",
    "write_blobs",
    "write_text_blob",
]

#: The ref whose tree holds one ``<sha>/`` folder per checkpoint.
CHECKPOINT_REF = "refs/bitloops/checkpoints/v1"
# Where `fetch_ref` puts the remote's tip before merging it (scratch, deleted afterwards).
_INCOMING_REF = "refs/bitloops/incoming/v1"
# Bounded: a hung remote (a credential prompt, a stuck connection) cannot hang a hook.
_TIMEOUT = 60.0
_ATTEMPTS = 5


def _call(
    toplevel: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        return subprocess.run(
            ("git", "-c", "core.quotepath=false", *args),
            cwd=toplevel,
            input=None if input is None else input.encode("utf-8"),
            capture_output=True,
            env=env,
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH; install git") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args)} took longer than {_TIMEOUT:.0f} s") from exc


def _run(toplevel: Path, *args: str, input: str | None = None) -> str:
    proc = _call(toplevel, *args, input=input)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
        raise GitError(f"`git {' '.join(args)}` failed in {toplevel}: {msg}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def ref_tip(toplevel: Path, ref: str = CHECKPOINT_REF) -> str | None:
    """The commit ``ref`` points at, or None when it does not exist."""
    proc = _call(toplevel, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    sha = proc.stdout.decode().strip() if proc.returncode == 0 else ""
    return sha if is_sha(sha) else None


def _entries(toplevel: Path, treeish: str | None) -> dict[str, str]:
    """The entries of ``treeish`` (a commit, or ``commit:path``) as ``ls-tree`` lines, by name."""
    if treeish is None:
        return {}
    proc = _call(toplevel, "ls-tree", treeish)
    if proc.returncode != 0:
        return {}
    out = proc.stdout.decode("utf-8", "surrogateescape")
    return {line.split("\t", 1)[1]: line for line in out.splitlines() if "\t" in line}


def make_tree(toplevel: Path, lines: list[str]) -> str:
    return _run(toplevel, "mktree", input="".join(f"{line}\n" for line in lines)).strip()


def _update_ref(toplevel: Path, new: str, old: str | None, message: str) -> bool:
    """Compare-and-swap ``CHECKPOINT_REF`` from ``old`` (None: must not exist) to ``new``."""
    proc = _call(toplevel, "update-ref", "-m", message, CHECKPOINT_REF, new, old or "")
    return proc.returncode == 0


def _commit(toplevel: Path, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", tree, "-m", message]
    for parent in parents:
        args += ["-p", parent]
    return _run(toplevel, *args).strip()


def add_to_ref(toplevel: Path, sha: str, folder: str | os.PathLike[str]) -> str:
    """Commit ``folder``'s files as ``<sha>/`` in :data:`CHECKPOINT_REF`; the new tip.

    A folder already there is replaced. Retries when another process moved the ref
    meanwhile; :class:`GitError` if it keeps moving or git fails.
    """
    if not is_sha(sha):
        raise CheckpointFilesError(f"{sha!r} is not a full commit SHA")
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise CheckpointFilesError(f"{folder} holds no checkpoint files")
    own = write_blobs(toplevel, files)
    return update_folder(toplevel, sha, lambda _here: own, "checkpoint")


def update_folder(
    toplevel: Path,
    sha: str,
    change: Callable[[dict[str, str]], dict[str, str]],
    message: str,
) -> str:
    """Replace the entries of ``<sha>/`` in :data:`CHECKPOINT_REF` by ``change(entries)``.

    ``entries`` are the folder's ``ls-tree`` lines by name (empty for a new folder);
    ``change`` returns the new ones (blobs written with :func:`write_blobs`). The update is
    a compare-and-swap, retried when another process moved the ref meanwhile; the tip
    after it (the old one when nothing changed). :class:`GitError` if it keeps moving.
    """
    if not is_sha(sha):
        raise CheckpointFilesError(f"{sha!r} is not a full commit SHA")
    for _ in range(_ATTEMPTS):
        old = ref_tip(toplevel)
        top = _entries(toplevel, old)
        here = _entries(toplevel, f"{old}:{sha}") if old and sha in top else {}
        top[sha] = f"040000 tree {make_tree(toplevel, list(change(here).values()))}\t{sha}"
        tree = make_tree(toplevel, list(top.values()))
        if old is not None and tree == _run(toplevel, "rev-parse", f"{old}^{{tree}}").strip():
            return old  # already there, identical
        new = _commit(toplevel, tree, [old] if old else [], f"bitloops: {message} {sha}")
        if _update_ref(toplevel, new, old, f"bitloops: {message} {sha[:12]}"):
            return new
    raise GitError(f"{CHECKPOINT_REF} kept changing while adding {sha[:12]}; try again")


def write_blobs(toplevel: Path, files: Sequence[Path]) -> dict[str, str]:
    """Write ``files`` as blobs; their ``ls-tree`` lines by file name."""
    blobs = _run(toplevel, "hash-object", "-w", "--no-filters", "--", *map(str, files)).split()
    return {p.name: f"100644 blob {b}\t{p.name}" for b, p in zip(blobs, files, strict=True)}


def write_text_blob(toplevel: Path, name: str, text: str) -> str:
    """Write ``text`` as a blob; its ``ls-tree`` line as ``name``."""
    oid = _run(toplevel, "hash-object", "-w", "--stdin", input=text).strip()
    return f"100644 blob {oid}\t{name}"


def read_blob(toplevel: Path, line: str) -> bytes | None:
    """The content of the blob an ``ls-tree`` line names; None when git cannot read it."""
    proc = _call(toplevel, "cat-file", "blob", line.split()[2])
    return proc.stdout if proc.returncode == 0 else None


def folder_files(toplevel: Path, sha: str) -> dict[str, bytes]:
    """The files of ``<sha>/`` in :data:`CHECKPOINT_REF` (sub-folders and dot files left
    out), by name; :class:`~bitloops.CheckpointNotFound` when it has no such folder."""
    tip = ref_tip(toplevel)
    if tip is None or not is_sha(sha):
        raise CheckpointNotFound(f"{CHECKPOINT_REF} has no folder for {sha[:12]!r}")
    proc = _call(toplevel, "ls-tree", f"{tip}:{sha}")
    if proc.returncode != 0:
        raise CheckpointNotFound(f"{CHECKPOINT_REF} has no folder for {sha[:12]}")
    files = {}
    for line in proc.stdout.decode("utf-8").splitlines():
        meta, name = line.split("\t", 1)
        if meta.split()[1] != "blob" or "/" in name or name.startswith("."):
            continue
        blob = read_blob(toplevel, meta)
        if blob is None:
            raise GitError(f"cannot read {name} of {sha[:12]} from {CHECKPOINT_REF}")
        files[name] = blob
    return files


def list_ref(toplevel: Path) -> list[str]:
    """The commit SHAs that have a folder in :data:`CHECKPOINT_REF`, sorted."""
    tip = ref_tip(toplevel)
    return sorted(
        name
        for name, line in _entries(toplevel, tip).items()
        if is_sha(name) and line.split()[1] == "tree"
    )


def _is_ancestor(toplevel: Path, a: str, b: str) -> bool:
    return _call(toplevel, "merge-base", "--is-ancestor", a, b).returncode == 0


def merge_into_ref(toplevel: Path, other: str) -> str:
    """Bring the commit ``other`` into :data:`CHECKPOINT_REF`; the new tip.

    Fast-forwards when possible; when both sides have commits of their own, writes a
    merge commit (both parents) whose tree is the union of both trees (this side's
    folder wins if a SHA is on both sides with different content).
    """
    for _ in range(_ATTEMPTS):
        old = ref_tip(toplevel)
        if old is not None and (old == other or _is_ancestor(toplevel, other, old)):
            return old
        if old is None or _is_ancestor(toplevel, old, other):
            new = other
        else:
            entries = {**_entries(toplevel, other), **_entries(toplevel, old)}
            tree = make_tree(toplevel, list(entries.values()))
            new = _commit(toplevel, tree, [old, other], "bitloops: merge checkpoints")
        if _update_ref(toplevel, new, old, "bitloops: merge checkpoints"):
            return new
    raise GitError(f"{CHECKPOINT_REF} kept changing while merging; try again")


def _first_problem(stderr: str, status: int) -> str:
    """What went wrong, in one line, from git's error output.

    git explains a failed fetch or push over several lines: advice (``hint:``, access
    rights), a ``fatal:`` or ``error:`` line, and before it, when a program git ran
    (ssh, the remote's hooks) said why, that program's words. A push the remote refused
    names each ref (`` ! [remote rejected] main (pre-receive hook declined)``).
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")]
    refused = [line.lstrip("! ").strip() for line in lines if line.startswith("! [")]
    remote = [line[len("remote:") :].strip() for line in lines if line.startswith("remote:")]
    if refused:
        return "; ".join([*refused, *filter(None, remote)])
    for index, line in enumerate(lines):
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                cause = [*remote, *lines[:index]] if index else remote
                said = line[len(prefix) :]
                return f"{cause[-1]} ({said})" if cause else said
    return lines[0] if lines else f"git exited with status {status}"


def fetch_ref(toplevel: Path, remote: str = "origin") -> list[str] | None:
    """Fetch ``remote``'s :data:`CHECKPOINT_REF` and merge it into ours.

    Returns the SHAs whose folders arrived (empty when nothing was new), or None when
    the remote has no such ref. :class:`GitError` when the fetch fails otherwise.
    """
    before = set(list_ref(toplevel))
    spec = f"+{CHECKPOINT_REF}:{_INCOMING_REF}"
    proc = _call(toplevel, "fetch", "--quiet", "--no-tags", "--", remote, spec)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        if "couldn't find remote ref" in msg:
            return None
        raise GitError(
            f"cannot fetch the checkpoints from {remote}: {_first_problem(msg, proc.returncode)}; "
            "check the remote (`git remote -v`) and that you can fetch from it"
        )
    incoming = ref_tip(toplevel, _INCOMING_REF)
    if incoming is None:
        return None
    try:
        merge_into_ref(toplevel, incoming)
    finally:
        _call(toplevel, "update-ref", "-d", _INCOMING_REF)
    return sorted(set(list_ref(toplevel)) - before)


def push_ref(toplevel: Path, remote: str) -> bool:
    """Push :data:`CHECKPOINT_REF` to ``remote`` (no hooks run); False when there is none.

    When the remote has commits we lack, they are fetched and merged first, then the
    push is tried once more. :class:`GitError` when it still fails.
    """
    if ref_tip(toplevel) is None:
        return False
    spec = f"{CHECKPOINT_REF}:{CHECKPOINT_REF}"
    proc = _call(toplevel, "push", "--quiet", "--no-verify", "--", remote, spec)
    if proc.returncode != 0:
        fetch_ref(toplevel, remote)
        proc = _call(toplevel, "push", "--quiet", "--no-verify", "--", remote, spec)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(
            f"cannot push {CHECKPOINT_REF} to {remote}: {_first_problem(msg, proc.returncode)}; "
            "check the remote (`git remote -v`) and that you can push to it"
        )
    return True


def export_ref(toplevel: Path, dest: Path) -> int:
    """Write every folder of :data:`CHECKPOINT_REF` under ``dest``; how many files.

    Used by ``verify`` in ref mode, which checks the committed folders the same way it
    checks folders in the work tree. Only plain files with plain names are written.
    """
    import io
    import tarfile

    if ref_tip(toplevel) is None:
        return 0
    proc = _call(toplevel, "archive", "--format=tar", CHECKPOINT_REF)
    if proc.returncode != 0:
        raise GitError(f"cannot read {CHECKPOINT_REF}: {proc.stderr.decode(errors='replace')}")
    written = 0
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or member.name.startswith("/") or ".." in parts:
                continue
            data = tar.extractfile(member)
            if data is None:
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read())
            written += 1
    return written
