"""``datetime``'s classes, from the C module that ``datetime`` itself re-exports.

On Python 3.11 ``import datetime`` first builds the whole pure-Python implementation,
then replaces it with ``_datetime``'s classes: a couple of milliseconds an agent hook, a
fresh process per event, need not pay. The classes are the very same objects either way.
"""

from __future__ import annotations

TYPE_CHECKING = False  # spelled out: typing costs a hook more than this whole module

if TYPE_CHECKING:
    from datetime import UTC, datetime, timedelta, timezone
else:
    try:
        from _datetime import UTC, datetime, timedelta, timezone
    except ImportError:  # an interpreter without the C module
        from datetime import UTC, datetime, timedelta, timezone

__all__ = ["UTC", "datetime", "timedelta", "timezone"]
