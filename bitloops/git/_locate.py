"""Finding the work tree around a directory from its ``.git``, without running git.

Every agent hook and git hook starts by locating the repository; ``git rev-parse`` costs a
process each time. :func:`locate` reads ``.git`` itself for the common layouts (a plain
checkout, a linked worktree through its ``gitdir``/``commondir`` files) and returns None
for anything unusual (``GIT_*`` variables, submodules, ``core.worktree``, a bare
repository, another owner, a file system boundary), where git must decide:
:meth:`bitloops.git._git.Git.locate` then asks it. Only the standard library is used.
"""

from __future__ import annotations

import os
import stat

__all__ = [
    "Located",
    "commit_message",
    "last_reflog_entry",
    "locate",
    "read_head",
    "sparse_checkout",
    "tracked",
    "tree_dirs",
]

_GIT_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)

#: (work tree top, git dir, git common dir), as ``git rev-parse`` would say.
Located = tuple[str, str, str]


def locate(place: str) -> Located | None:
    """The work tree containing ``place``, read from ``.git``; None when git must decide.

    ``GIT_DIR`` alone is fine when it names the git dir found and the current directory
    is the top of that work tree (where git then takes the work tree to be): git sets it
    so for the hooks of a linked worktree.
    """
    if any(name in os.environ for name in _GIT_VARIABLES[1:]):
        return None
    git_dir = os.environ.get("GIT_DIR")
    found = _find(place)
    if git_dir is None or found is None:
        return found
    try:
        named = os.path.realpath(git_dir)  # relative to the current directory, as git reads it
        here = os.path.realpath(os.getcwd())
    except (OSError, ValueError):
        return None
    return found if named == found[1] and here == found[0] else None


def _find(place: str) -> Located | None:
    try:
        here = os.path.realpath(os.path.expanduser(place))
        if not os.path.isdir(here):
            here = os.path.dirname(here)
        device = os.stat(here).st_dev
        while True:
            dotgit = os.path.join(here, ".git")
            try:
                info = os.lstat(dotgit)
            except FileNotFoundError:
                parent = os.path.dirname(here)
                if parent == here or os.stat(parent).st_dev != device:
                    return None
                here = parent
                continue
            return _read_dotgit(here, dotgit, info)
    except (OSError, ValueError):
        return None


def _read_dotgit(top: str, dotgit: str, info: os.stat_result) -> Located | None:
    if info.st_uid != os.getuid():
        return None  # git's safe.directory rules apply; let git answer
    if stat.S_ISDIR(info.st_mode):
        git_dir = common = dotgit
        if os.path.exists(os.path.join(git_dir, "commondir")):
            return None
    elif stat.S_ISREG(info.st_mode):
        with open(dotgit, encoding="utf-8") as fh:
            text = fh.read().strip()
        if not text.startswith("gitdir: "):
            return None
        git_dir = os.path.realpath(os.path.join(top, text[len("gitdir: ") :]))
        try:
            with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
                common = os.path.realpath(os.path.join(git_dir, fh.read().strip()))
        except FileNotFoundError:
            return None  # a submodule or a separate git dir: core.worktree may apply
        if os.path.exists(os.path.join(git_dir, "config.worktree")):
            return None
    else:
        return None
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        return None
    if not os.path.isdir(os.path.join(common, "objects")):
        return None
    with open(os.path.join(common, "config"), "rb") as fh:
        config = fh.read().lower()
    if b"worktree" in config or b"bare" in config.replace(b"bare = false", b""):
        return None
    return top, git_dir, common


def read_head(located: Located) -> tuple[str | None, str | None] | None:
    """(the checked-out branch's short name, the commit HEAD is on) read from the files.

    The branch is None on a detached HEAD, the commit None on an unborn branch. None when
    git must say: a HEAD or ref that is not a plain file git writes (a reftable store,
    a symbolic ref to a symbolic ref, a branch outside ``refs/heads/``).
    """
    _, git_dir, common = located
    if os.path.exists(os.path.join(common, "reftable")):
        return None
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as fh:
            head = fh.read().strip()
        if _is_sha(head):
            return None, head
        if not head.startswith("ref: refs/heads/"):
            return None
        ref = head[len("ref: ") :]
        sha: str | None
        try:
            with open(os.path.join(common, *ref.split("/")), encoding="utf-8") as fh:
                sha = fh.read().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            sha = _packed_ref(common, ref)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if sha is not None and not _is_sha(sha):
        return None
    return ref[len("refs/heads/") :], sha


def _packed_ref(common: str, ref: str) -> str | None:
    """The SHA ``packed-refs`` gives ``ref``; None when it has none (an unborn branch)."""
    try:
        with open(os.path.join(common, "packed-refs"), encoding="utf-8") as fh:
            for line in fh:
                sha, _, name = line.rstrip("\n").partition(" ")
                if name == ref:
                    return sha
    except FileNotFoundError:
        pass
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def last_reflog_entry(git_dir: str) -> str | None:
    """What HEAD's newest reflog entry says (``commit (amend): …``, ``cherry-pick: …``);
    None when there is no reflog to read."""
    try:
        with open(os.path.join(git_dir, "logs", "HEAD"), "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4096))
            last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    except OSError:
        return None
    _, tab, message = last.partition(b"\t")
    return message.decode("utf-8", "replace") if tab else None


# An index this large is left to git (reading it would cost more than the process).
_MAX_INDEX_BYTES = 32 * 1024 * 1024


def tracked(located: Located, rel: str) -> bool | None:
    """Whether git's index holds the file ``rel`` (relative to the top, ``/``-separated),
    as ``git ls-files --error-unmatch`` says of a file; None when git must say.

    Read from ``.git/index`` itself for the common formats (versions 2 and 3): an entry is
    its path preceded by the flags' 12-bit name length and followed by NUL padding, so the
    bytes ``length, path, NUL`` only occur as that entry. Version 4 (compressed paths), a
    split or sparse index, or anything odd: None.
    """
    git_dir = located[1]
    try:
        name = rel.encode("utf-8")
        if sparse_checkout(located):
            return None
        if any(n.startswith("sharedindex.") for n in os.listdir(git_dir)):
            return None
        with open(os.path.join(git_dir, "index"), "rb") as fh:
            if os.fstat(fh.fileno()).st_size > _MAX_INDEX_BYTES:
                return None
            data = fh.read()
    except FileNotFoundError:
        return False  # no index yet: nothing was ever added
    except (OSError, UnicodeEncodeError):
        return None
    if data[:4] != b"DIRC" or data[4:8] not in (b"\0\0\0\2", b"\0\0\0\3"):
        return None
    if not name or len(name) >= 0xFFF:
        return None
    if name + b"\0" not in data:
        return False  # the common answer for a new file, without walking the entries
    return _in_entries(data, name)


def _in_entries(data: bytes, name: bytes) -> bool:
    """Whether the index's entries (version 2 or 3, sorted by path) hold ``name``.

    Each entry: 62 bytes (times, ids, mode, size, object id, then 2 bytes of flags whose
    low 12 bits are the path's length), 2 more flag bytes when the extended bit is set
    (version 3), the path, then NUL padding to a multiple of 8 bytes.
    """
    count = int.from_bytes(data[8:12], "big")
    pos = 12
    for _ in range(count):
        if pos + 62 > len(data):
            return False
        flags = int.from_bytes(data[pos + 60 : pos + 62], "big")
        start = pos + 62 + (2 if flags & 0x4000 else 0)
        length = flags & 0xFFF
        end = data.find(b"\0", start) if length == 0xFFF else start + length
        if end < 0:
            return False
        path = data[start:end]
        if path == name:
            return True
        if path > name:
            return False  # sorted: it is not further on
        pos += (end - pos + 8) & ~7
    return False


def sparse_checkout(located: Located) -> bool:
    """Whether the work tree is a sparse checkout (``core.sparseCheckout``, or a sparse
    index), from its config files."""
    _, git_dir, common = located
    for config in (os.path.join(common, "config"), os.path.join(git_dir, "config.worktree")):
        try:
            with open(config, "rb") as fh:
                text = fh.read().lower().replace(b" ", b"").replace(b"\t", b"")
        except OSError:
            continue
        if b"sparsecheckout=true" in text or b"sparseindex=true" in text:
            return True
    return False


# -- loose objects ----------------------------------------------------------------------------
#
# A commit just made, and the trees it changed, are loose objects until git packs them:
# read here, they spare the git hooks a process (and the import of subprocess). A packed
# object, or anything else unusual, is git's to read.


def _loose(located: Located, sha: str, kind: bytes) -> bytes | None:
    """The content of the loose object ``sha`` if it is a ``kind``; None when it is not
    loose (packed, in an alternate), another kind, or unreadable."""
    if not _is_sha(sha):
        return None
    import zlib

    try:
        with open(os.path.join(located[2], "objects", sha[:2], sha[2:]), "rb") as fh:
            data = zlib.decompress(fh.read())
    except (OSError, zlib.error):
        return None
    header, nul, body = data.partition(b"\0")
    found, _, size = header.partition(b" ")
    if not nul or found != kind or not size.isdigit() or int(size) != len(body):
        return None
    return body


def _replaced(common: str) -> bool:
    """Whether ``git replace`` refs may stand in for objects (git then reads another one)."""
    if os.environ.get("GIT_REPLACE_REF_BASE") or os.path.exists(
        os.path.join(common, "refs", "replace")
    ):
        return True
    try:
        with open(os.path.join(common, "packed-refs"), "rb") as fh:
            return b" refs/replace/" in fh.read()
    except FileNotFoundError:
        return False


def commit_message(located: Located, sha: str) -> bytes | None:
    """The message of the commit ``sha`` (what ``git log -1 --format=%B`` shows, undecoded),
    read from its loose object; None when git must say."""
    if _replaced(located[2]):
        return None
    body = _loose(located, sha, b"commit")
    if body is None:
        return None
    _, blank, message = body.partition(b"\n\n")
    return message if blank else b""


# Tree entry modes: trees (zero-padded by some old tools) and what is not listed by -d.
_TREE_MODES = frozenset({b"40000", b"040000"})
_FILE_MODES = frozenset({b"100644", b"100755", b"100664", b"120000"})


def tree_dirs(located: Located, sha: str, path: str) -> list[str] | None:
    """The directories in ``path`` (``/``-separated) of the commit ``sha``'s tree, as
    ``git ls-tree -d --name-only SHA:PATH`` lists them; None when git must say (an object
    that is not loose, a path that is not a directory there)."""
    if _replaced(located[2]):
        return None
    commit = _loose(located, sha, b"commit")
    if commit is None or not commit.startswith(b"tree "):
        return None
    tree = commit[5 : commit.find(b"\n")].decode("ascii", "replace")
    width = len(sha) // 2  # the bytes of an object id: SHA-1 or SHA-256
    for name in [*path.encode("utf-8").split(b"/"), None]:
        body = _loose(located, tree, b"tree")
        if body is None:
            return None
        dirs: dict[bytes, str] = {}
        pos = 0
        while pos < len(body):
            space = body.find(b" ", pos)
            nul = body.find(b"\0", space)
            if space < 0 or nul < 0 or nul + 1 + width > len(body):
                return None
            mode = body[pos:space]
            if mode in _TREE_MODES or mode == b"160000":  # ls-tree -d lists submodules too
                dirs[body[space + 1 : nul]] = body[nul + 1 : nul + 1 + width].hex()
            elif mode not in _FILE_MODES:
                return None  # a mode this reader does not know: git says
            pos = nul + 1 + width
        if name is None:
            return [entry.decode("utf-8", "surrogateescape") for entry in dirs]
        found = dirs.get(name)
        if found is None:
            return None
        tree = found
    return None
