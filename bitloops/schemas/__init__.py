"""JSON Schemas (draft 2020-12) of the files bitloops writes and of its ``--json`` outputs.

One file per shape, shipped in the package: ``checkpoint-session`` (a checkpoint
folder's ``session.json``), ``checkpoint-event`` (one line of its ``transcript.jsonl``),
and one per command's ``--json`` output, named after the command (``explain``,
``status``, ``log``, ``blame``, ...; see :data:`SCHEMAS`). Each is self-contained
(its ``$defs`` inside). ``docs/storage.md`` lists them; ``tests/test_schemas.py``
validates what the code writes against them. Standard library only.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from bitloops.errors import BitloopsError

__all__ = ["SCHEMAS", "UnknownSchema", "load"]


class UnknownSchema(BitloopsError, LookupError):
    """A schema name that bitloops does not ship."""


#: The name of every schema shipped, as :func:`load` takes it.
SCHEMAS: tuple[str, ...] = (
    "blame",
    "checkpoint-event",
    "checkpoint-session",
    "disable",
    "doctor",
    "enable",
    "explain",
    "export",
    "fetch",
    "import",
    "log",
    "record",
    "resume",
    "review",
    "rewind",
    "search",
    "serve",
    "status",
    "sync",
    "verify",
)


def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (one of :data:`SCHEMAS`) as a JSON object."""
    if name not in SCHEMAS:
        raise UnknownSchema(f"no schema {name!r}; pick one of: {', '.join(SCHEMAS)}")
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
