"""``python -m bitloops``: the command-line entry point (commands arrive with the CLI work)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bitloops`` command; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args in ([], ["--help"], ["-h"]):
        print("usage: bitloops --version\n\nThe bitloops library is ready; see docs/python-api.md.")
        return 0
    if args == ["--version"]:
        from . import __version__

        print(f"bitloops {__version__}")
        return 0
    print(f"bitloops: unknown command {' '.join(args)!r}; see `bitloops --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
