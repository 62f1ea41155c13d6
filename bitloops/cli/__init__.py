"""The ``bitloops`` command. See ``docs/cli.md``."""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from bitloops.cli._main import main
    from bitloops.cli._registry import build_parser

__all__ = [
    "build_parser",
    "main",
]

_public, __dir__ = exports(
    __name__,
    {
        "_main": ("main",),
        "_registry": ("build_parser",),
    },
)

# The names bitloops 0.1's single ``bitloops.cli`` module exported, now in its private
# modules: still readable for one release, with a DeprecationWarning (CHANGELOG.md).
_FORMER = {
    "COMMANDS": "_registry",
    "EXIT_NOT_FOUND": "_registry",
    "EXIT_OK": "_registry",
    "EXIT_USAGE": "_registry",
    "Command": "_registry",
    "Context": "_registry",
    "command": "_registry",
    "command_parsers": "_registry",
    "RewindBrowser": "_browser",
    "Style": "_style",
    "format_age": "_style",
    "checkpoint_json": "_json",
    "event_line": "_explain",
    "explain_lines": "_explain",
    "rewind_lines": "_rewind",
    "status_json": "_status",
    "status_lines": "_status",
    "verify_json": "_verify",
    "verify_lines": "_verify",
}


def __getattr__(name: str) -> Any:
    module = _FORMER.get(name)
    if module is None:
        return _public(name)
    import importlib
    import warnings

    warnings.warn(
        f"bitloops.cli.{name} is internal to the command line and will be removed in the "
        "next release; run the command through bitloops.cli.main(argv) instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
