"""Test doubles for your own tests of code that uses bitloops (like ``structlog.testing``).

Everything here is real: real git in temporary folders, real SQLite files, an optional
throwaway PostgreSQL schema, and agent hooks fed through bitloops' own hook entry, in
this process or as the process an agent starts. Nothing needs pytest, and ``import
bitloops`` never imports this package. See "Testing your own integration" in
``docs/python-api.md``.

- Repositories: :func:`temporary_repository` (a context manager), :func:`create_repository`
  (in a folder you give, such as pytest's ``tmp_path``), :class:`TemporaryRepository`,
  :func:`enable`, :func:`commit_all`, :func:`git`.
- The environment they run in: :func:`isolated_environment`.
- Stores: :func:`temporary_store`, :func:`create_store`, :func:`temporary_postgres_schema`.
- Hooks: :func:`run_hook` (with :class:`HookRun`, :class:`HookCall`, :data:`Payload`),
  :func:`hook_command`, :func:`assert_silent`.
- Transcripts and hook payloads of each agent: :class:`ClaudeCodeTranscript`,
  :class:`CodexRollout`, :class:`GeminiSession`, :class:`CursorTranscript`,
  :class:`CopilotEvents`, :class:`OpenCodeSession`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bitloops._lazy import exports

if TYPE_CHECKING:
    from bitloops.testing._environment import isolated_environment
    from bitloops.testing._hook import (
        HookCall,
        HookRun,
        Payload,
        assert_silent,
        hook_command,
        run_hook,
    )
    from bitloops.testing._repo import (
        TemporaryRepository,
        commit_all,
        create_repository,
        enable,
        git,
        temporary_repository,
    )
    from bitloops.testing._store import create_store, temporary_postgres_schema, temporary_store
    from bitloops.testing._transcripts import (
        ClaudeCodeTranscript,
        CodexRollout,
        CopilotEvents,
        CursorTranscript,
        GeminiSession,
        OpenCodeSession,
    )

__all__ = [
    "ClaudeCodeTranscript",
    "CodexRollout",
    "CopilotEvents",
    "CursorTranscript",
    "GeminiSession",
    "HookCall",
    "HookRun",
    "OpenCodeSession",
    "Payload",
    "TemporaryRepository",
    "assert_silent",
    "commit_all",
    "create_repository",
    "create_store",
    "enable",
    "git",
    "hook_command",
    "isolated_environment",
    "run_hook",
    "temporary_postgres_schema",
    "temporary_repository",
    "temporary_store",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_environment": ("isolated_environment",),
        "_hook": ("HookCall", "HookRun", "Payload", "assert_silent", "hook_command", "run_hook"),
        "_repo": (
            "TemporaryRepository",
            "commit_all",
            "create_repository",
            "enable",
            "git",
            "temporary_repository",
        ),
        "_store": ("create_store", "temporary_postgres_schema", "temporary_store"),
        "_transcripts": (
            "ClaudeCodeTranscript",
            "CodexRollout",
            "CopilotEvents",
            "CursorTranscript",
            "GeminiSession",
            "OpenCodeSession",
        ),
    },
)
