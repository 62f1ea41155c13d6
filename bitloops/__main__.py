"""``python -m bitloops`` and the ``bitloops`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "hook" and args[1] in ("claude-code", "codex", "gemini"):
        # An agent runs this on every tool call: skip the CLI and argparse entirely.
        # Never exit 2 (that blocks the agent), never print to stdout.
        from pathlib import Path

        from .integrations import run_agent_hook

        run_agent_hook(args[1], getattr(sys.stdin, "buffer", sys.stdin), Path.cwd(), sys.stderr)
        return 0
    # Imported here so that importing this module (as the console script does) costs nothing.
    from .cli import main as run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
