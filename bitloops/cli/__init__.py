"""The ``bitloops`` command. See ``docs/cli.md``."""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.cli._main import build_parser, main

__all__ = [
    "build_parser",
    "main",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_main": ("build_parser", "main"),
    },
)
