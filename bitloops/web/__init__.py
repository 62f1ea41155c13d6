"""A local, read-only web view of the reasoning: ``bitloops serve`` and ``export --html``.

:mod:`.html` holds the escaping helpers and the page layout, :mod:`.pages` renders each
page from a :class:`~bitloops.Repository`, :mod:`.server` serves them over the standard
library's threading HTTP server, :mod:`.export` writes them as static files. Nothing
here is imported by ``import bitloops``; the command line loads it when asked.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PORT"]

#: The port ``bitloops serve`` listens on unless ``--port`` is given.
DEFAULT_PORT = 8377
