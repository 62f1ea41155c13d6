"""bitloops._fs: atomic writes and bounded file locks, on real files and real processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bitloops
from bitloops._fs import atomic_write, locked, try_lock, unlock
from bitloops.capture import _transcript_state as ts


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- atomic_write -----------------------------------------------------------------------------


@pytest.mark.parametrize("fsync", [True, False])
def test_writes_bytes_text_and_pieces(tmp_path: Path, fsync: bool) -> None:
    """Bytes, text and an iterable of pieces all end up as the file's whole content."""
    target = tmp_path / "f.txt"
    atomic_write(target, b"bytes\n", fsync=fsync)
    assert target.read_bytes() == b"bytes\n"
    atomic_write(target, "caf\u00e9\r\n", fsync=fsync)
    assert target.read_bytes() == "caf\u00e9\r\n".encode()  # no newline translation
    pieces: list[bytes | str] = ["a", b"b", "c"]
    atomic_write(str(target), iter(pieces), fsync=fsync)
    assert target.read_text() == "abc"
    assert _leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    """A file that did not exist is created as open() would: 0o666 less the umask."""
    target = tmp_path / "new"
    atomic_write(target, "x")
    assert _mode(target) == 0o666 & ~_umask()


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    """Replacing a file keeps its permission bits, even ones the umask would remove."""
    target = tmp_path / "kept"
    target.write_text("old")
    target.chmod(0o604)
    atomic_write(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o604


def test_mode_sets_the_bits_exactly(tmp_path: Path) -> None:
    """An explicit mode wins over the umask and over the old file's bits."""
    target = tmp_path / "hook"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write(target, "#!/bin/sh\n", mode=0o755)
    assert _mode(target) == 0o755


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    """An error while the pieces are written changes nothing and cleans up after itself."""
    target = tmp_path / "f"
    target.write_text("old")

    def pieces() -> Iterator[str]:
        yield "half of the new"
        raise RuntimeError("the producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        atomic_write(target, pieces())
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_a_folder_in_the_way_is_an_os_error_and_nothing_is_left(tmp_path: Path) -> None:
    """A target that cannot be replaced raises OSError; no temporary file stays behind."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("x")
    with pytest.raises(OSError):
        atomic_write(tmp_path / "dir", "text")
    assert _leftovers(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", "text")  # the folder must exist


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from bitloops._fs import atomic_write

    def pieces():
        yield "new content, first half;"
        print("writing", flush=True)
        time.sleep(60)  # killed here
        yield "second half"

    atomic_write(sys.argv[1], pieces())
    """
)


def test_a_writer_killed_mid_write_leaves_the_old_content(tmp_path: Path) -> None:
    """SIGKILL halfway through: the target still holds the old file, whole."""
    target = tmp_path / "state.json"
    target.write_text('{"old": true}')
    target.chmod(0o640)
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        # The half-written temporary file exists beside the target, never as it.
        assert len(_leftovers(tmp_path)) == 1 and _leftovers(tmp_path)[0].startswith(".")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert target.read_text() == '{"old": true}' and _mode(target) == 0o640
    atomic_write(target, '{"new": true}')  # a leftover never gets in the way of the next
    assert target.read_text() == '{"new": true}' and _mode(target) == 0o640


_REWRITER = textwrap.dedent(
    """
    import sys, time
    from bitloops._fs import atomic_write

    end = time.monotonic() + float(sys.argv[2])
    n = 0
    while time.monotonic() < end:
        atomic_write(sys.argv[1], ("A" if n % 2 else "B") * 200_000, fsync=False)
        n += 1
    print(n)
    """
)


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    """While another process rewrites the file, every read gets one whole version."""
    target = tmp_path / "cache"
    atomic_write(target, "A" * 200_000)
    child = subprocess.Popen(
        [sys.executable, "-c", _REWRITER, str(target), "1.0"], stdout=subprocess.PIPE, text=True
    )
    seen = set()
    while child.poll() is None:
        seen.add(target.read_text())
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and int(out) > 1
    assert seen <= {"A" * 200_000, "B" * 200_000}
    assert _leftovers(tmp_path) == []


# -- locks ----------------------------------------------------------------------------------


_HOLDER = textwrap.dedent(
    """
    import sys
    from bitloops._fs import locked

    with locked(sys.argv[1], 5.0):
        print("held", flush=True)
        sys.stdin.read()  # until the parent closes it
    """
)


class _Holder:
    """A second process holding the lock of ``path`` until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "held\n"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def test_try_lock_gives_way_after_its_wait(tmp_path: Path) -> None:
    """A lock another process holds is given up after the wait, and taken once it is free."""
    path = tmp_path / "locks" / "spool.lock"
    holder = _Holder(path)
    try:
        start = time.monotonic()
        assert try_lock(path, 0.2) is None
        assert 0.2 <= time.monotonic() - start < 5
    finally:
        holder.release()
    fd = try_lock(path, 0.2)
    assert fd is not None
    unlock(fd)


def test_locked_raises_a_clear_lock_timeout(tmp_path: Path) -> None:
    """Past its wait, locked() raises LockTimeout naming what the lock guards."""
    path = tmp_path / "s.lock"
    holder = _Holder(path)
    try:
        with (
            pytest.raises(bitloops.LockTimeout, match="the state of s1 stayed locked") as info,
            locked(path, 0.1, what="the state of s1"),
        ):
            pass  # pragma: no cover - never entered
        assert isinstance(info.value, bitloops.BitloopsError)
        assert isinstance(info.value, TimeoutError)
        assert "try again" in str(info.value)
    finally:
        holder.release()
    with locked(path, 0.1):
        pass


def test_locked_releases_when_the_block_fails(tmp_path: Path) -> None:
    """An exception inside the block still releases the lock for the next process."""
    path = tmp_path / "x.lock"
    with pytest.raises(ValueError), locked(path, 0.1):
        raise ValueError("inside")
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bitloops._fs import try_lock; "
            "sys.exit(0 if try_lock(sys.argv[1], 1.0) is not None else 1)",
            str(path),
        ],
        timeout=60,
        check=False,
    )
    assert check.returncode == 0


def test_the_lock_file_is_created_with_its_mode(tmp_path: Path) -> None:
    """A missing lock file (and its folder) is created with the mode asked for."""
    path = tmp_path / "a" / "b.lock"
    fd = try_lock(path, 0.1, mode=0o600)
    assert fd is not None
    unlock(fd)
    assert _mode(path) == 0o600 & ~_umask()


def test_the_module_adds_nothing_to_a_hooks_imports() -> None:
    """Importing bitloops._fs after bitloops loads no other module (the hooks import it)."""
    code = (
        "import sys, bitloops; before = set(sys.modules); import bitloops._fs; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "['bitloops._fs']"


_STATE_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bitloops.capture import _transcript_state as ts

    with ts.locked(Path(sys.argv[1]), "s1"):
        print("held", flush=True)
        sys.stdin.read()
    """
)


def test_a_held_transcript_state_is_a_database_busy_after_its_wait(tmp_path: Path) -> None:
    """The transcript state's lock, held by another process, gives DatabaseBusy in time."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _STATE_HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        start = time.monotonic()
        with (
            pytest.raises(bitloops.DatabaseBusy, match="session s1 stayed locked"),
            ts.locked(tmp_path, "s1", wait=0.2),
        ):
            pass  # pragma: no cover - never entered
        assert 0.2 <= time.monotonic() - start < 5
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    with ts.locked(tmp_path, "s1", wait=0.2):
        pass


# -- where bitloops relies on it ----------------------------------------------------------------


def test_a_pending_promotion_record_is_written_atomically_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """post-commit's pending record (a lost one is a commit never promoted) goes through
    atomic_write with its fsync."""
    import bitloops._fs
    from bitloops._commit_flow import finish_pending
    from bitloops._pending import DETACH_AT, PENDING_DIR, detach_post_commit
    from bitloops.testing import create_repository

    work = create_repository(tmp_path / "work", enabled=True)
    with work.open() as r, r.start_session(agent="my-agent") as s:
        for n in range(DETACH_AT):
            s.prompt(f"step {n}")
    sha = work.commit({"big.py": "x = 1\n"})  # hooks skipped: the detaching is done here
    writes: list[tuple[str, bool]] = []
    real = bitloops._fs.atomic_write

    def spy(path: str | os.PathLike[str], data: object, **options: object) -> None:
        writes.append((os.fspath(path), bool(options.get("fsync", True))))
        real(path, data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(bitloops._fs, "atomic_write", spy)
    assert detach_post_commit(str(work.path))
    finish_pending(work.path)
    record = work.path / ".git" / PENDING_DIR / f"{sha}.json"
    assert (str(record), True) in writes
    assert not record.exists()  # promoted, by the worker or by finish_pending
    assert _leftovers(record.parent) == []
    with work.open() as r:
        assert r.checkpoint(sha).commit_sha == sha


def test_a_killed_writers_temporary_file_is_not_committed_with_its_folder(
    tmp_path: Path,
) -> None:
    """pre-commit stages a checkpoint folder without the `.NAME.PID.RANDOM.tmp` a writer
    killed mid-write left in it."""
    from bitloops.testing import create_repository

    work = create_repository(tmp_path / "work", enabled=True)
    with work.open() as r, r.start_session(agent="my-agent") as s:
        s.prompt("Add a")
    work.write({"a.py": "a = 1\n"})
    first = work.commit_all("a").commit_sha
    folder = work.path / ".bitloops" / "checkpoints" / "v1" / first
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(folder / "session.json")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert len(_leftovers(folder)) == 1
    work.commit({"b.py": "b = 1\n"}, "b", hooks=True)
    committed = work.git("ls-tree", "-r", "--name-only", "HEAD", "--", str(folder)).split()
    assert f".bitloops/checkpoints/v1/{first}/session.json" in committed
    assert not [name for name in committed if name.endswith(".tmp")]
