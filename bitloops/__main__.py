"""``python -m bitloops`` and the ``bitloops`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["hook", "claude-code"]:
        # An agent runs this on every tool call: skip the CLI and argparse entirely.
        # Never exit 2 (that blocks the agent), never print to stdout.
        from pathlib import Path

        from .integrations.claude_code import run_hook

        run_hook(getattr(sys.stdin, "buffer", sys.stdin), Path.cwd(), sys.stderr)
        return 0
    # Imported here so that importing this module (as the console script does) costs nothing.
    from .cli import main as run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
