"""``python -m bitloops`` and the ``bitloops`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "hook":
        # Imported only for `hook NAME`: the agent names are the registry's keys.
        from .integrations import AGENTS, run_agent_hook

        if args[1] in AGENTS:
            # An agent runs this on every tool call: skip the CLI and argparse entirely.
            # Never exit 2 (that blocks the agent), never print to stdout.
            import os

            stdin = getattr(sys.stdin, "buffer", sys.stdin)
            try:
                cwd = os.getcwd()
            except OSError:  # the directory was removed under the agent
                cwd = os.sep
            try:
                run_agent_hook(args[1], stdin, cwd, sys.stderr)
            except Exception:  # run_hook catches everything; this is the last guard
                sys.stderr.write(f"bitloops: the {args[1]} hook failed (the agent is unaffected)\n")
            return 0
    # Imported here so that importing this module (as the console script does) costs nothing.
    from .cli import main as run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
