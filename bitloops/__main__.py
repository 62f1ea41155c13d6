"""``python -m bitloops`` and the ``bitloops`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    # Imported here so that importing this module (as the console script does) costs nothing.
    from .cli import main as run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
