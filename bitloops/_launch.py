"""The command line that starts bitloops in a process of its own.

Hooks run in the user's work tree, and ``python -m`` puts the working directory first on
``sys.path``: a ``json.py`` or ``re.py`` at the top of a project would stand in for the
standard library's and break every hook. ``-P`` (Python 3.11+) leaves it off.
"""

from __future__ import annotations

import sys

__all__ = ["SAFE_PATH", "bitloops_argv"]

#: The interpreter option that keeps the working directory off ``sys.path``.
SAFE_PATH = "-P"


def bitloops_argv(*args: str, python: str | None = None) -> list[str]:
    """``[python, -P, -m, bitloops, *args]``, ``python`` defaulting to this interpreter."""
    return [python or sys.executable, SAFE_PATH, "-m", "bitloops", *args]
