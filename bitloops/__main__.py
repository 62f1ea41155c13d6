"""``python -m bitloops`` and the ``bitloops`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "hook" and _in_distiller(args[1]):
        return 0  # the distiller's own agent session is bitloops at work, not the user's
    if len(args) == 2 and args[0] == "hook":
        # Imported only for `hook NAME`: the agent names are the registry's keys.
        from bitloops.agents._registry import AGENTS, run_agent_hook

        if args[1] in AGENTS:
            # An agent runs this on every tool call: skip the CLI and argparse entirely.
            # Never exit 2 (that blocks the agent); stdout gets only the agent's answer.
            import os

            stdin = getattr(sys.stdin, "buffer", sys.stdin)
            try:
                cwd = os.getcwd()
            except OSError:  # the directory was removed under the agent
                cwd = os.sep
            raw: bytes | None = None
            try:  # past reasoning for the agent (context/_inject.py), after recording
                from bitloops.context._gate import may_answer, read_payload

                stdin, raw = read_payload(stdin)
                if not may_answer(args[1], raw):
                    raw = None  # most events: the injection code is not even loaded
                else:
                    from bitloops.capture._runner import hold_deadline

                    hold_deadline()  # the injection after the hook waits within its bound
            except Exception:
                raw = None
            try:
                run_agent_hook(args[1], stdin, cwd, sys.stderr)
            except Exception:  # run_hook catches everything; this is the last guard
                sys.stderr.write(f"bitloops: the {args[1]} hook failed (the agent is unaffected)\n")
            if raw is not None:
                from bitloops.context import _inject as inject

                inject.emit(args[1], raw, cwd, sys.stdout, sys.stderr)
            return 0
    if len(args) >= 2 and args[0] == "hook" and args[1] in ("pre-commit", "post-commit"):
        import os

        from bitloops._pending import detach_post_commit, has_pending
        from bitloops.capture._idle import nothing_to_do

        cwd = os.getcwd()
        # Most commits give these nothing to do: said without the CLI, git or the database
        # (unless a detached promotion is pending: the full path waits for it).
        if not has_pending(cwd) and nothing_to_do(args[1], args[2:]):
            return 0
        # A big draft is promoted by a worker, with the boundary fixed now (bitloops/_pending.py).
        if args[1] == "post-commit" and not args[2:] and detach_post_commit(cwd):
            return 0
    if len(args) >= 2 and args[0] == "hook" and not any(a.startswith("-") for a in args[2:]):
        status = _git_hook(args[1], args[2:])
        if status is not None:
            return status
    # Imported here so that importing this module (as the console script does) costs nothing.
    from bitloops.cli._main import main as run

    return run(args)


def _git_hook(name: str, hook_args: list[str]) -> int | None:
    """Run the git hook ``name`` as ``bitloops hook`` does, without the CLI; None when
    the CLI must (not a git hook, not inside a work tree: it says why)."""
    from pathlib import Path

    from bitloops._commit_flow import run_hook
    from bitloops.errors import NotAGitRepository
    from bitloops.git._git import Git
    from bitloops.git._hooks import HOOK_NAMES

    if name not in HOOK_NAMES:
        return None
    try:
        cwd = Path.cwd()
        Git.locate(cwd)
    except (OSError, NotAGitRepository):
        return None
    run_hook(name, hook_args, cwd, sys.stdin, sys.stderr)  # never raises; fails open
    return 0


def _in_distiller(hook: str) -> bool:
    """True for an agent hook run inside the distiller's subprocess (see checkpoint/_distill.py)."""
    import os

    if not os.environ.get("BITLOOPS_DISTILLER_SESSION"):
        return False
    from bitloops.agents._registry import AGENTS

    return hook in AGENTS


def _end_now(status: int) -> None:
    """End a hook's process with ``status`` without the interpreter's teardown.

    Tearing down the modules a hook imported and collecting them once more costs it
    about 4 ms, for a process that is gone the moment after; its files and database
    connections are closed by then. What the teardown would do that matters is done
    first: the exit functions run and the standard streams are flushed. A thread still
    running (none is started by the hooks) gets the usual exit instead.
    """
    import atexit
    import os

    threading = sys.modules.get("threading")
    if threading is not None and any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: what the hook had to say is lost either way
            pass
    os._exit(status)


if __name__ == "__main__":
    # Agents run `python -m bitloops hook NAME` on every event, git on every commit.
    _hook = sys.argv[1:2] == ["hook"]
    if _hook:
        import gc

        # A hook process lives for milliseconds: the collector's passes over what its
        # imports built (about 1 ms at the default 700) buy nothing. Still bounded.
        gc.set_threshold(10_000)
    _status = main()
    if _hook:
        _end_now(_status)
    raise SystemExit(_status)
