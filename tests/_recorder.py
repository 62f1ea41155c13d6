"""Child process for the crash and concurrency tests (run as ``python _recorder.py MODE ...``).

Modes, each writing one line per step to stdout and flushing it at once, so that a line
the parent reads was written before anything that happened later (a kill included):

``record REPO SESSION_ID COUNT [GO_FILE]``
    Start (or resume) the session, print ``ready``, wait for GO_FILE if given, then
    record COUNT tool_use events (0: until killed), printing each acknowledged seq after
    ``record`` has returned. Prints ``done`` at the end.

``promote REPO STOP_AT``
    Promote the worktree's draft to HEAD. STOP_AT names a moment at which the child
    prints ``at <moment>`` and sleeps until it is killed: ``none`` (never stop),
    ``insert`` / ``delete`` / ``commit`` (just before that statement of the promotion's
    transaction runs), ``files`` (after the transaction, before the checkpoint folder is
    written). Prints ``promoting`` before and ``promoted <checkpoint_id>`` after.

``race REPO GO_FILE``
    Print ``ready``, wait for GO_FILE, promote HEAD, print
    ``result <checkpoint_id|None> <start> <end>`` (``time.monotonic()`` around the call).

Any exception ends the child with its traceback on stderr and exit status 1.

The parent side is :class:`Child`, shared by ``test_crash.py`` and ``test_concurrency.py``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import bitloops

#: A realistic tool call, about 300 bytes once serialised.
PAYLOAD: dict[str, Any] = {
    "name": "bash",
    "input": {"command": "pytest -q tests/test_http.py -k retries", "cwd": "/home/dev/project"},
    "output": "....F.\n1 failed, 5 passed in 0.42s\nE   AssertionError: expected 3 retries, got 1\n"
    "tests/test_http.py:42: in test_retries_on_503",
    "tool_use_id": "toolu_01",
}

_STATEMENTS = {
    "insert": "INSERT INTO checkpoint_events",
    "delete": "DELETE FROM live_events",
    "commit": "COMMIT",
}


class Child:
    """A ``_recorder.py`` process (run by a test) whose stdout and stderr go to files.

    A file rather than a pipe: the child never blocks on a full pipe, and whatever it
    wrote before being killed is already in the kernel and stays readable.
    """

    def __init__(self, folder: Path, name: str, *args: str) -> None:
        self.name = name
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, __file__, *args], stdout=out, stderr=err)

    def lines(self) -> list[str]:
        """Every complete line the child has written so far."""
        text = self.out.read_text(encoding="utf-8")
        return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float = 30.0) -> None:
        """Block until the child has written a line matching ``wanted``; fail if it died."""
        deadline = time.monotonic() + timeout
        while not any(wanted(line) for line in self.lines()):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}: {self.stderr()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} wrote no expected line in {timeout} s")
            time.sleep(0.002)

    def running(self) -> bool:
        """True while the child has not exited."""
        return self.proc.poll() is None

    def wait(self, timeout: float = 120.0) -> int:
        """Wait for the child to exit by itself; its exit status."""
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        """SIGKILL the child (if it still runs) and reap it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def stderr(self) -> str:
        """What the child wrote to stderr (its traceback, if any), the end of it."""
        return self.err.read_text(encoding="utf-8", errors="replace")[-3000:]


def say(line: str) -> None:
    """Write one line to stdout and hand it to the kernel before returning."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for(path: Path, timeout: float = 60.0) -> None:
    """Spin until ``path`` exists (a start barrier shared by several children)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.001)


def hang(moment: str) -> NoReturn:
    """Announce ``moment`` and sleep until the parent kills this process."""
    say(f"at {moment}")
    time.sleep(600)
    raise SystemExit(f"was not killed at {moment}")


def record(repo_path: str, session_id: str, count: int, go: str | None) -> None:
    """Record ``count`` events (0: forever), printing each acknowledged seq."""
    repo = bitloops.Repository.open(repo_path)
    session = repo.start_session(agent="recorder", model="m-1", session_id=session_id)
    say("ready")
    if go is not None:
        wait_for(Path(go))
    n = 0
    while count == 0 or n < count:
        event = session.record("tool_use", PAYLOAD)
        say(str(event.seq))
        n += 1
    say("done")
    repo.close()


def promote(repo_path: str, stop_at: str) -> None:
    """Promote HEAD, hanging at ``stop_at`` so that the parent can kill us there."""
    repo = bitloops.Repository.open(repo_path)
    if stop_at in _STATEMENTS:
        wanted = _STATEMENTS[stop_at]
        armed = False

        def trace(_cursor: object, sql: str, _bindings: object) -> bool:
            nonlocal armed
            if sql.startswith("INSERT INTO checkpoints "):
                armed = True  # only the promotion's own transaction counts
            if armed and sql.startswith(wanted):
                hang(stop_at)
            return True

        repo.store._conn.exec_trace = trace
    elif stop_at == "files":
        import bitloops.checkpoint._files as files

        def stuck(
            toplevel: Path, checkpoint: bitloops.Checkpoint, event_lines: object = None
        ) -> Path:
            hang("files")

        files.write_checkpoint_dir = stuck
    elif stop_at != "none":
        raise SystemExit(f"unknown stop point {stop_at!r}")
    say("promoting")
    checkpoint = repo.promote("HEAD")
    say(f"promoted {checkpoint.checkpoint_id if checkpoint else None}")
    repo.close()


def race(repo_path: str, go: str) -> None:
    """Promote HEAD as soon as GO_FILE appears."""
    repo = bitloops.Repository.open(repo_path)
    repo.store  # open the database before the start line  # noqa: B018
    say("ready")
    wait_for(Path(go))
    start = time.monotonic()  # CLOCK_MONOTONIC: comparable between processes on Linux
    checkpoint = repo.promote("HEAD")
    end = time.monotonic()
    say(f"result {checkpoint.checkpoint_id if checkpoint else None} {start} {end}")
    repo.close()


def main(argv: list[str]) -> None:
    """Dispatch on the mode named by the first argument."""
    mode, *args = argv
    if mode == "record":
        record(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None)
    elif mode == "promote":
        promote(args[0], args[1])
    elif mode == "race":
        race(args[0], args[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
