"""Parsers of setting values that the light hook paths read as well as :mod:`bitloops.settings`.

Standard library only: the injection gate and the agent hooks parse these settings
without the settings module (attrs) behind them, and both must agree.
"""

from __future__ import annotations

from bitloops import _jsonc

TYPE_CHECKING = False  # not from typing: the hooks import this module

if TYPE_CHECKING:
    from typing import Any

__all__ = ["KINDS", "parse_kinds", "parse_trusted_refs"]

#: The kinds of context injection, as the ``context_injection`` setting names them.
KINDS = ("session_start", "pre_tool_use")


def parse_kinds(value: Any) -> dict[str, bool]:
    """The ``context_injection`` setting: ``true``/``false`` for all kinds, or an object.

    The object maps kinds (:data:`KINDS`) to booleans; kinds left out stay on. Raises
    ValueError for anything else.
    """
    words = {"1": True, "true": True, "yes": True, "on": True}
    words.update({"0": False, "false": False, "no": False, "off": False})
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = _jsonc.loads(value)
        except ValueError:
            raise ValueError("'context_injection' is not a JSON object") from None
    if isinstance(value, str) and value.lower() in words:
        value = words[value.lower()]
    if isinstance(value, bool):
        return dict.fromkeys(KINDS, value)
    if not isinstance(value, dict):
        raise ValueError(
            "'context_injection' must be true, false or an object such as "
            '{"session_start": true, "pre_tool_use": false}'
        )
    out = dict.fromkeys(KINDS, True)
    for key, flag in value.items():
        if key not in KINDS:
            raise ValueError(
                f"'context_injection' has an unknown kind {key!r}; use {', '.join(KINDS)}"
            )
        if not isinstance(flag, bool):
            raise ValueError(f"'context_injection.{key}' must be true or false")
        out[key] = flag
    return out


def parse_trusted_refs(value: Any) -> tuple[str, ...]:
    """The ``trusted_refs`` setting: refs whose history counts as trusted besides HEAD's.

    A list of ref names (``refs/remotes/origin/main``, ``origin/main``); a string is
    split at commas and white space (the environment variable's form). Raises
    ValueError for a name git could read as an option or a range.
    """
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("'trusted_refs' must be a list of ref names such as [\"origin/main\"]")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")
    for ref in value:
        if (
            not ref
            or ref.startswith(("-", "/", "."))
            or ".." in ref
            or not set(ref) <= allowed
            or ref.endswith(("/", ".lock"))
        ):
            raise ValueError(f"'trusted_refs' holds {ref!r}, which is not a plain ref name")
    return tuple(dict.fromkeys(value))
