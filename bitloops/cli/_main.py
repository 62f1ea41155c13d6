"""``bitloops``: parse the command line, run the command, turn errors into exit statuses.

The commands live one module each in this package; :mod:`bitloops.cli._registry`
lists them and builds the parser, importing only the module of the command that runs.
Rendering (plain lines of text, JSON from the converter) is kept apart from output and
from the curses loop of ``rewind``, so every screen can be tested without a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bitloops.cli._registry import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    UsageError,
    build_parser,
    command,
)
from bitloops.errors import BitloopsError, CheckpointNotFound

# build_parser, command, Context and EXIT_OK are named here too: cli/_record.py and the
# tests of the hooks' start-up import them from this module.
__all__ = ["EXIT_OK", "Context", "build_parser", "command", "main"]

# What a shell reports for a process killed by SIGINT / SIGPIPE.
_EXIT_INTERRUPTED = 130
_EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bitloops`` with ``argv`` (default: the process's arguments); return the status."""
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    ctx = Context(Path.cwd())
    try:
        ctx.cwd = _start_dir(args.chdir)
        status: int = args.run(args, ctx)
        return status
    except CheckpointNotFound as exc:
        ctx.error(str(exc))
        return EXIT_NOT_FOUND
    except BitloopsError as exc:
        ctx.error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`bitloops rewind | head`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return _EXIT_BROKEN_PIPE


def _start_dir(chdirs: Sequence[str]) -> Path:
    where = Path.cwd()
    for step in chdirs:
        where = where / step
        if not where.is_dir():
            raise UsageError(f"cannot change to {step!r}: no such directory")
    return where
