"""The few git plumbing calls bitloops needs, through the real ``git`` binary."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bitloops._frozen import Frozen
from bitloops.errors import GitError, NotAGitRepository, UnknownRef

TYPE_CHECKING = False  # not from typing: the git hooks import this module

if TYPE_CHECKING:
    pass

__all__ = ["EMPTY_TREE", "Git", "RepoPaths", "is_sha"]

#: The id of git's empty tree, the "parent" a root commit is diffed against.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Bounded so that a hung git (a credential prompt, a stuck lock) cannot hang a hook.
_TIMEOUT = 60.0
# (work tree, full SHA) -> (parents, author, message): see Git._commit.
_COMMITS: dict[tuple[str, str], tuple[list[str], str | None, str]] = {}


def is_sha(text: str) -> bool:
    """True when ``text`` is a full lowercase SHA-1 or SHA-256 object id."""
    return _SHA.fullmatch(text) is not None


class RepoPaths(Frozen):
    """Where a work tree and its git directories are."""

    __slots__ = ("toplevel", "git_dir", "common_dir")  # noqa: RUF023 (the repr's order)
    toplevel: Path
    git_dir: Path
    common_dir: Path

    def __init__(self, toplevel: Path, git_dir: Path, common_dir: Path) -> None:
        self._fill(locals())


class Git(Frozen):
    """Runs git commands in one work tree."""

    __slots__ = ("cwd",)
    cwd: Path

    def __init__(self, cwd: Path) -> None:
        self._fill(locals())

    def run(self, *args: str, input: str | None = None) -> str:
        """Run ``git args`` and return its stdout; :class:`GitError` if it fails."""
        proc = self._call(args, input)
        if proc.returncode != 0:
            cmd = " ".join(("git", *args))
            msg = proc.stderr.strip() or f"exit status {proc.returncode}"
            raise GitError(f"`{cmd}` failed in {self.cwd}: {msg}")
        return proc.stdout

    def try_run(self, *args: str) -> str | None:
        """Run ``git args``; its stdout, or None when git exits non-zero."""
        proc = self._call(args, None)
        return proc.stdout if proc.returncode == 0 else None

    def _call(self, args: tuple[str, ...], input: str | None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ("git", "-c", "core.quotepath=false", *args),
                cwd=self.cwd,
                input=input,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
                timeout=_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed or not on PATH; install git") from exc
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {' '.join(args)} took longer than {_TIMEOUT:.0f} s") from exc

    @staticmethod
    def locate(path: str | os.PathLike[str]) -> RepoPaths:
        """Find the work tree containing ``path``; :class:`NotAGitRepository` otherwise."""
        where = Path(path).expanduser()
        if not where.is_dir():
            where = where.parent
        if not where.is_dir():
            raise NotAGitRepository(
                f"{path} does not exist; pass a directory inside a git work tree"
            )
        from bitloops.git._locate import locate

        found = locate(os.fspath(where))  # read from .git; git decides the unusual
        if found is not None:
            return RepoPaths(
                toplevel=Path(found[0]), git_dir=Path(found[1]), common_dir=Path(found[2])
            )
        out = Git(where).try_run(
            "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"
        )
        lines = out.splitlines() if out else []
        if len(lines) != 3:
            raise NotAGitRepository(
                f"{where.resolve()} is not inside a git work tree; run `git init` or pass the "
                "path of a checkout"
            )
        toplevel = Path(lines[0])
        git_dir = Path(lines[1])
        common = Path(lines[2])
        if not common.is_absolute():
            common = (where / common).resolve()
        return RepoPaths(toplevel=toplevel, git_dir=git_dir, common_dir=common)

    def resolve_commit(self, ref: str) -> str:
        """The full SHA of the commit ``ref`` names; :class:`UnknownRef` otherwise."""
        if ref.startswith("-"):
            raise UnknownRef(f"{ref!r} is not a commit; pass a branch, tag or SHA")
        if ref == "HEAD":
            read = self._read_head()
            if read is not None and read[1] is not None:
                return read[1]
        out = self.try_run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
        sha = out.strip() if out else ""
        if not is_sha(sha):
            raise UnknownRef(
                f"{ref!r} names no commit in {self.cwd}; check `git log` for the SHA or branch"
            )
        return sha

    def head(self) -> str | None:
        """The SHA HEAD points at, or None on an unborn branch.

        Read from the files where git can be read (:func:`bitloops.git._locate.read_head`),
        which says what the ref holds without checking the object it names.
        """
        read = self._read_head()
        if read is not None:
            return read[1]
        out = self.try_run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return out.strip() if out else None

    def branch(self) -> str | None:
        """The checked-out branch's short name, or None on a detached HEAD."""
        read = self._read_head()
        if read is not None:
            return read[0]
        out = self.try_run("symbolic-ref", "--quiet", "--short", "HEAD")
        return out.strip() if out else None

    def _read_head(self) -> tuple[str | None, str | None] | None:
        # From the files where git keeps them (a process less per question); None: ask git.
        from bitloops.git._locate import locate, read_head

        found = locate(os.fspath(self.cwd))
        return None if found is None else read_head(found)

    def author(self, sha: str) -> str | None:
        """The commit's author as ``Name <email>``, or None if git cannot say."""
        info = self._commit(sha)
        return None if info is None else info[1]

    def message(self, sha: str) -> str | None:
        """The commit's message, or None if git cannot say."""
        info = self._commit(sha)
        return None if info is None else info[2]

    def _commit(self, sha: str) -> tuple[list[str], str | None, str] | None:
        """(parents, author, message) of commit ``sha`` in one git call; commits never
        change, so a full SHA's answer is kept (a promotion asks each several times).
        Only ``git replace`` or deepening a shallow clone could change the parents git
        reports; a process that lives through either asks again after 256 commits."""
        key = (os.fspath(self.cwd), sha)
        known = _COMMITS.get(key)  # get: another thread may clear the dict meanwhile
        if known is not None:
            return known
        out = self.try_run(
            "log", "-1", "--no-show-signature", "--format=%P%x00%an <%ae>%x00%B", sha, "--"
        )
        if out is None or out.count("\0") < 2:
            return None
        parents, author, message = out.split("\0", 2)
        info = (parents.split(), author.strip() or None, message)
        if is_sha(sha):
            if len(_COMMITS) >= 256:
                _COMMITS.clear()
            _COMMITS[key] = info
        return info

    def range_commits(self, spec: str, limit: int) -> tuple[str, str, list[str]]:
        """The two ends of ``BASE..HEAD`` (or ``BASE...HEAD``; an empty side is HEAD) as
        SHAs, and its commits oldest first, at most ``limit``; :class:`UnknownRef` for a
        side naming none."""
        base, dots, head = spec.partition("...") if "..." in spec else spec.partition("..")
        base_sha = self.resolve_commit(base or "HEAD")
        head_sha = self.resolve_commit(head or "HEAD")
        out = self.run(
            "rev-list", "--reverse", "--topo-order", f"--max-count={limit}",
            f"{base_sha}{dots}{head_sha}",
        )  # fmt: skip
        return base_sha, head_sha, out.split()

    def first_parent_chain(self, sha: str, limit: int) -> list[str]:
        """Up to ``limit`` first-parent ancestors of ``sha``, nearest first (``sha`` excluded)."""
        out = self.try_run("rev-list", "--first-parent", f"--max-count={limit + 1}", sha)
        shas = out.split() if out else []
        return shas[1:]

    def parents(self, sha: str) -> list[str]:
        """The parent SHAs of a commit (empty for a root commit)."""
        if is_sha(sha):
            info = self._commit(sha)
            if info is not None:
                return list(info[0])
        out = self.run("rev-list", "--parents", "-n", "1", sha).split()
        return out[1:]

    def commit_diff(self, sha: str, base: str | None = None) -> str:
        """``git diff -U0`` of a commit against ``base``, by default its first parent.

        A root commit is compared with the empty tree.
        """
        if base is None:
            parents = self.parents(sha)
            base = parents[0] if parents else EMPTY_TREE
        return self.run(
            "diff", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv",
            "--src-prefix=a/", "--dst-prefix=b/", base, sha,
        )  # fmt: skip

    def read_blobs(self, specs: list[str]) -> dict[str, str | None]:
        """Text of each ``rev:path`` in ``specs`` in one ``git cat-file --batch`` call.

        A spec that names nothing, or a blob that is not UTF-8 text, maps to None.
        """
        found = self.blob_bytes(specs)
        result: dict[str, str | None] = {}
        for spec in specs:
            body = found.get(spec)
            try:
                result[spec] = None if body is None else body.decode("utf-8")
            except UnicodeDecodeError:
                result[spec] = None
        return result

    def blob_bytes(self, specs: Sequence[str]) -> dict[str, bytes]:
        """The bytes of each blob ``specs`` (``rev:path``) name, in one ``git cat-file
        --batch`` call; a spec that names no blob (nothing, a tree) is left out.
        :class:`GitError` when git cannot run."""
        if not specs:
            return {}
        payload = "".join(f"{spec}\n" for spec in specs).encode("utf-8", "surrogateescape")
        try:
            proc = subprocess.run(
                ("git", "cat-file", "--batch"),
                cwd=self.cwd, input=payload, capture_output=True, timeout=_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git cat-file failed in {self.cwd}: {exc}") from exc
        out, pos = proc.stdout, 0
        found: dict[str, bytes] = {}
        for spec in specs:
            end = out.find(b"\n", pos)
            if end < 0:
                break
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3:
                continue  # "<spec> missing": no body follows
            size = int(header[2])
            if header[1] == b"blob":
                found[spec] = out[pos : pos + size]
            pos += size + 1  # a tree or commit has a body too
        return found
