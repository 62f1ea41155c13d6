"""Builders of each agent's transcript format, and of the hook payloads that go with it.

Each builder collects one session's records, made deterministic (timestamps one second
apart from ``start``, ids counted from 1), and writes them where and as the agent would.
The shapes follow ``docs/agents.md``: the fields bitloops reads, plus enough of the others
to look like what the agents write. ``hook`` makes a hook payload of the same session
that points at the written file, for :func:`bitloops.testing.run_hook`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

__all__ = [
    "ClaudeCodeTranscript",
    "CodexRollout",
    "CopilotEvents",
    "CursorTranscript",
    "GeminiSession",
    "OpenCodeSession",
]

#: Where every builder's clock starts unless told otherwise.
START = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, as the agents write their timestamps."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class _Builder:
    """What every builder shares: a clock, counters, the records and writing them."""

    def __init__(self, cwd: str | os.PathLike[str], start: datetime) -> None:
        self.cwd = os.fspath(cwd)
        self.start = start
        self._tick = 0
        self._counters: dict[str, int] = {}
        self.path: Path | None = None
        self._records: list[dict[str, Any]] = []

    @property
    def records(self) -> list[dict[str, Any]]:
        """The records so far, in order (copies: changing them changes nothing here)."""
        return json.loads(json.dumps(self._records))  # type: ignore[no-any-return]

    def _now(self) -> datetime:
        self._tick += 1
        return self.start + timedelta(seconds=self._tick)

    def _next(self, prefix: str) -> str:
        self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}{self._counters[prefix]:04d}"

    def text(self) -> str:
        """The file's content: one JSON object per line."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self._records)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the file to ``path`` (folders created), remember it for :meth:`hook`; it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.text(), encoding="utf-8")
        self.path = target
        return target

    def add(self, record: Mapping[str, Any]) -> Self:
        """Append a record as given: one of a kind no method makes, or a malformed one."""
        self._records.append(dict(record))
        return self


def _slug(path: str) -> str:
    """Claude Code's and Cursor's project folder name: each non-alphanumeric char a dash."""
    return re.sub(r"[^A-Za-z0-9]", "-", path)


class ClaudeCodeTranscript(_Builder):
    """A Claude Code session transcript (``~/.claude/projects/<slug>/<session>.jsonl``).

    ::

        t = ClaudeCodeTranscript(cwd=repo_path)
        t.user("Add retries").thinking("Backoff is enough").say("Done.", final=True)
        t.write(t.default_path(claude_dir))
    """

    def __init__(
        self,
        session_id: str = "claude-session-1",
        *,
        cwd: str | os.PathLike[str],
        model: str = "claude-opus-4-5-20251101",
        version: str = "2.0.50",
        git_branch: str = "main",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.session_id = session_id
        self.model = model
        self.version = version
        self.git_branch = git_branch
        self._parent: str | None = None

    def default_path(self, config_dir: str | os.PathLike[str]) -> Path:
        """Where Claude Code keeps this session's file under ``config_dir`` (``~/.claude``,
        or ``$CLAUDE_CONFIG_DIR``)."""
        return Path(config_dir) / "projects" / _slug(self.cwd) / f"{self.session_id}.jsonl"

    def _common(self, kind: str, prefix: str) -> dict[str, Any]:
        uuid = self._next(prefix)
        record = {
            "type": kind,
            "uuid": uuid,
            "parentUuid": self._parent,
            "sessionId": self.session_id,
            "timestamp": _iso(self._now()),
            "version": self.version,
            "cwd": self.cwd,
            "gitBranch": self.git_branch,
            "isSidechain": False,
        }
        self._parent = uuid
        return record

    def user(self, text: str) -> ClaudeCodeTranscript:
        """The user's prompt."""
        record = self._common("user", "u-")
        record["message"] = {"role": "user", "content": text}
        self._records.append(record)
        return self

    def _assistant(self, blocks: list[dict[str, Any]], stop: str | None) -> None:
        record = self._common("assistant", "a-")
        record["message"] = {
            "id": self._next("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": blocks,
            "stop_reason": stop,
            "usage": {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 100,
            },
        }
        self._records.append(record)

    def thinking(self, text: str) -> ClaudeCodeTranscript:
        """The model's reasoning (a ``thinking`` block)."""
        self._assistant([{"type": "thinking", "thinking": text, "signature": "c2ln"}], None)
        return self

    def say(self, text: str, *, final: bool = False) -> ClaudeCodeTranscript:
        """The model's text; ``final`` ends the turn (``stop_reason`` ``end_turn``)."""
        self._assistant([{"type": "text", "text": text}], "end_turn" if final else None)
        return self

    def tool(
        self,
        name: str,
        input: Mapping[str, Any],
        result: str = "",
        *,
        error: bool = False,
        tool_use_result: Mapping[str, Any] | None = None,
    ) -> ClaudeCodeTranscript:
        """A tool call and its result: ``Edit``, ``Write``, ``Bash``, ``TodoWrite``...

        ``tool_use_result`` is the structured result Claude Code keeps beside the text
        (for ``Write``: ``{"type": "create", "filePath": ..., "content": ...}``).
        """
        call_id = self._next("toolu_")
        self._assistant(
            [{"type": "tool_use", "id": call_id, "name": name, "input": dict(input)}], "tool_use"
        )
        record = self._common("user", "u-")
        record["message"] = {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": result,
                    "is_error": error,
                }
            ],
        }
        if tool_use_result is not None:
            record["toolUseResult"] = dict(tool_use_result)
        self._records.append(record)
        return self

    def summary(self, text: str) -> ClaudeCodeTranscript:
        """A ``summary`` record naming the last record so far."""
        self._records.append({"type": "summary", "summary": text, "leafUuid": self._parent})
        return self

    def hook(self, event: str, **fields: Any) -> dict[str, Any]:
        """A hook payload of this session (``SessionStart``, ``UserPromptSubmit``, ``Stop``...)
        with ``fields`` (``prompt=...``, ``tool_name=...``) added."""
        return {
            "hook_event_name": event,
            "session_id": self.session_id,
            "transcript_path": None if self.path is None else str(self.path),
            "cwd": self.cwd,
            **fields,
        }


class CodexRollout(_Builder):
    """An OpenAI Codex CLI rollout file
    (``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``)."""

    def __init__(
        self,
        session_id: str = "0199a5c3-0000-7000-8000-000000000001",
        *,
        cwd: str | os.PathLike[str],
        model: str = "gpt-5-codex",
        cli_version: str = "0.46.0",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.session_id = session_id
        self.model = model
        self._turn: str | None = None
        self._line(
            "session_meta",
            {
                "id": session_id,
                "timestamp": _iso(start),
                "cwd": self.cwd,
                "originator": "codex_cli_rs",
                "cli_version": cli_version,
                "git": {"branch": "main"},
            },
        )

    def default_path(self, codex_home: str | os.PathLike[str]) -> Path:
        """Where Codex keeps this rollout under ``codex_home`` (``~/.codex``)."""
        day = self.start.astimezone(UTC)
        name = f"rollout-{day:%Y-%m-%dT%H-%M-%S}-{self.session_id}.jsonl"
        return Path(codex_home) / "sessions" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / name

    def _line(self, kind: str, payload: Mapping[str, Any]) -> None:
        self._records.append(
            {"timestamp": _iso(self._now()), "type": kind, "payload": dict(payload)}
        )

    def _item(self, payload: Mapping[str, Any]) -> None:
        self._line("response_item", payload)

    def user(self, text: str) -> CodexRollout:
        """The user's prompt, opening a new turn."""
        self._turn = self._next("turn-")
        self._line(
            "turn_context",
            {"turn_id": self._turn, "cwd": self.cwd, "approval_policy": "on-request",
             "model": self.model},
        )  # fmt: skip
        self._item(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        )
        self._line("event_msg", {"type": "user_message", "message": text, "images": []})
        return self

    def reasoning(self, text: str) -> CodexRollout:
        """The model's reasoning summary."""
        self._item(
            {"type": "reasoning", "id": self._next("rs_"),
             "summary": [{"type": "summary_text", "text": text}],
             "encrypted_content": "gAAAAB..."},
        )  # fmt: skip
        return self

    def say(self, text: str) -> CodexRollout:
        """The model's text."""
        self._item(
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": text}]},
        )  # fmt: skip
        return self

    def call(self, name: str, arguments: Mapping[str, Any], output: str) -> CodexRollout:
        """A function call (``shell``, ``update_plan``...) and its output."""
        call_id = self._next("call_")
        self._item(
            {"type": "function_call", "name": name, "arguments": json.dumps(dict(arguments)),
             "call_id": call_id},
        )  # fmt: skip
        self._item(
            {"type": "function_call_output", "call_id": call_id,
             "output": json.dumps({"output": output, "metadata": {"exit_code": 0}})},
        )  # fmt: skip
        return self

    def shell(self, command: str, output: str = "", *, exit_code: int = 0) -> CodexRollout:
        """A shell command (``bash -lc COMMAND``) and its output."""
        call_id = self._next("call_")
        argv = ["bash", "-lc", command]
        self._item(
            {"type": "function_call", "name": "shell",
             "arguments": json.dumps({"command": argv, "workdir": self.cwd}),
             "call_id": call_id},
        )  # fmt: skip
        self._line(
            "event_msg",
            {"type": "exec_command_end", "call_id": call_id, "stdout": output, "stderr": "",
             "aggregated_output": output, "exit_code": exit_code},
        )  # fmt: skip
        self._item(
            {"type": "function_call_output", "call_id": call_id,
             "output": json.dumps({"output": output, "metadata": {"exit_code": exit_code}})},
        )  # fmt: skip
        return self

    def apply_patch(self, patch: str, output: str = "Success.") -> CodexRollout:
        """An ``apply_patch`` edit (``*** Begin Patch`` ... ``*** End Patch``)."""
        call_id = self._next("call_")
        self._item(
            {"type": "custom_tool_call", "status": "completed", "call_id": call_id,
             "name": "apply_patch", "input": patch},
        )  # fmt: skip
        self._item(
            {"type": "custom_tool_call_output", "call_id": call_id,
             "output": json.dumps({"output": output, "metadata": {"exit_code": 0}})},
        )  # fmt: skip
        return self

    def hook(self, event: str, **fields: Any) -> dict[str, Any]:
        """A hook payload of this session, with ``fields`` added."""
        return {
            "hook_event_name": event,
            "session_id": self.session_id,
            "transcript_path": None if self.path is None else str(self.path),
            "cwd": self.cwd,
            "model": self.model,
            **({"turn_id": self._turn} if self._turn else {}),
            **fields,
        }


class GeminiSession(_Builder):
    """A Gemini CLI session file (``~/.gemini/tmp/<project>/chats/session-*.jsonl``), or
    the older one-object ``.json`` form when written to a path ending in ``.json``."""

    def __init__(
        self,
        session_id: str = "gemini-session-1",
        *,
        cwd: str | os.PathLike[str],
        model: str = "gemini-2.5-pro",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.session_id = session_id
        self.model = model
        self.project_hash = hashlib.sha256(self.cwd.encode("utf-8")).hexdigest()

    def default_path(self, gemini_dir: str | os.PathLike[str]) -> Path:
        """Where Gemini CLI keeps this session under ``gemini_dir`` (``~/.gemini``)."""
        name = f"session-{self.start.astimezone(UTC):%Y-%m-%dT%H-%M}-{self.session_id[:8]}.jsonl"
        return Path(gemini_dir) / "tmp" / self.project_hash / "chats" / name

    def _meta(self) -> dict[str, Any]:
        last = self._records[-1]["timestamp"] if self._records else _iso(self.start)
        return {
            "sessionId": self.session_id,
            "projectHash": self.project_hash,
            "startTime": _iso(self.start),
            "lastUpdated": last,
        }

    def user(self, text: str) -> GeminiSession:
        """The user's prompt."""
        self._records.append(
            {
                "id": self._next("u-"),
                "timestamp": _iso(self._now()),
                "type": "user",
                "content": text,
            }
        )
        return self

    def reply(
        self,
        text: str,
        *,
        thoughts: Sequence[str] = (),
        tools: Iterable[tuple[str, Mapping[str, Any], str]] = (),
    ) -> GeminiSession:
        """One model message: its text, its ``thoughts`` (each a description) and the
        tool calls it made, each ``(name, args, output)``."""
        when = self._now()
        calls = []
        for name, args, output in tools:
            call_id = f"{name}-{self._next('call-')}"
            response = {"id": call_id, "name": name, "response": {"output": output}}
            calls.append(
                {"id": call_id, "name": name, "args": dict(args),
                 "result": [{"functionResponse": response}], "status": "success"},
            )  # fmt: skip
        self._records.append(
            {
                "id": self._next("g-"),
                "timestamp": _iso(when),
                "type": "gemini",
                "content": text,
                "thoughts": [
                    {"subject": "Thinking", "description": t, "timestamp": _iso(when)}
                    for t in thoughts
                ],
                "toolCalls": calls,
                "tokens": {"input": 100, "output": 20, "cached": 0, "thoughts": 5, "total": 125},
                "model": self.model,
            }
        )
        return self

    def text(self) -> str:
        """The JSONL file's content: the metadata line, then one message per line."""
        lines = [self._meta(), *self._records]
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the file to ``path``: one JSON object with ``messages`` for a ``.json``
        path (older versions), else JSONL. Remembered for :meth:`hook`."""
        if not os.fspath(path).endswith(".json"):
            return super().write(path)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        document = {**self._meta(), "messages": self._records}
        target.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
        self.path = target
        return target

    def hook(self, event: str, **fields: Any) -> dict[str, Any]:
        """A hook payload of this session (``BeforeAgent``, ``AfterTool``...), ``fields`` added."""
        return {
            "hook_event_name": event,
            "session_id": self.session_id,
            "transcript_path": None if self.path is None else str(self.path),
            "cwd": self.cwd,
            "timestamp": _iso(self.start + timedelta(seconds=self._tick)),
            **fields,
        }


class CursorTranscript(_Builder):
    """A Cursor agent transcript
    (``~/.cursor/projects/<project>/agent-transcripts/<id>/<id>.jsonl``)."""

    def __init__(
        self,
        conversation_id: str = "cursor-conv-1",
        *,
        cwd: str | os.PathLike[str],
        model: str = "claude-4.5-sonnet",
        cursor_version: str = "2.1.0",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.conversation_id = conversation_id
        self.model = model
        self.cursor_version = cursor_version

    def default_path(self, cursor_dir: str | os.PathLike[str]) -> Path:
        """Where Cursor keeps this transcript under ``cursor_dir`` (``~/.cursor``)."""
        cid = self.conversation_id
        folder = Path(cursor_dir) / "projects" / _slug(self.cwd).strip("-")
        return folder / "agent-transcripts" / cid / f"{cid}.jsonl"

    def _assistant(self, blocks: list[dict[str, Any]]) -> None:
        self._records.append({"role": "assistant", "message": {"content": blocks}})

    def user(self, text: str) -> CursorTranscript:
        """The user's prompt (Cursor wraps it in ``<user_query>``)."""
        query = f"<user_query>\n{text}\n</user_query>"
        self._records.append(
            {"role": "user", "message": {"content": [{"type": "text", "text": query}]}}
        )
        return self

    def thinking(self, text: str) -> CursorTranscript:
        """The model's reasoning."""
        self._assistant([{"type": "thinking", "thinking": text}])
        return self

    def say(self, text: str) -> CursorTranscript:
        """The model's text."""
        self._assistant([{"type": "text", "text": text}])
        return self

    def tool(self, name: str, input: Mapping[str, Any]) -> CursorTranscript:
        """A tool call (Cursor's transcripts keep no results: its hooks carry them)."""
        self._assistant([{"type": "tool_use", "name": name, "input": dict(input)}])
        return self

    def hook(self, event: str, **fields: Any) -> dict[str, Any]:
        """A hook payload of this conversation (``beforeSubmitPrompt``, ``afterFileEdit``...),
        ``fields`` added."""
        return {
            "hook_event_name": event,
            "conversation_id": self.conversation_id,
            "generation_id": f"gen-{self._tick}",
            "model": self.model,
            "cursor_version": self.cursor_version,
            "workspace_roots": [self.cwd],
            "transcript_path": None if self.path is None else str(self.path),
            **fields,
        }


class CopilotEvents(_Builder):
    """A GitHub Copilot CLI session log (``~/.copilot/session-state/<id>/events.jsonl``)."""

    def __init__(
        self,
        session_id: str = "8f6d2c1e-0000-4000-8000-000000000001",
        *,
        cwd: str | os.PathLike[str],
        model: str = "claude-sonnet-4.5",
        copilot_version: str = "0.0.354",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.session_id = session_id
        self.model = model
        self._event(
            "session.start",
            {"sessionId": session_id, "version": 1, "producer": "copilot-agent",
             "copilotVersion": copilot_version, "startTime": _iso(start),
             "context": {"cwd": self.cwd}, "selectedModel": model},
        )  # fmt: skip

    def default_path(self, copilot_home: str | os.PathLike[str]) -> Path:
        """Where Copilot CLI keeps this log under ``copilot_home`` (``~/.copilot``)."""
        return Path(copilot_home) / "session-state" / self.session_id / "events.jsonl"

    def _event(self, kind: str, data: Mapping[str, Any]) -> None:
        parent = self._records[-1]["id"] if self._records else None
        self._records.append(
            {"type": kind, "data": dict(data), "id": self._next("ev-"),
             "timestamp": _iso(self._now()), "parentId": parent},
        )  # fmt: skip

    def user(self, text: str) -> CopilotEvents:
        """The user's prompt."""
        self._event(
            "user.message", {"content": text, "transformedContent": text, "attachments": []}
        )
        return self

    def reasoning(self, text: str) -> CopilotEvents:
        """The model's reasoning."""
        self._event("assistant.reasoning", {"reasoningId": self._next("rs-"), "content": text})
        return self

    def say(self, text: str) -> CopilotEvents:
        """The model's text."""
        self._event(
            "assistant.message",
            {"messageId": self._next("msg-"), "content": text, "toolRequests": []},
        )
        return self

    def tool(
        self, name: str, arguments: Mapping[str, Any], result: str = "", *, success: bool = True
    ) -> CopilotEvents:
        """A tool call (``view``, ``edit``, ``create``, ``bash``...): the request, its start
        and its result."""
        call_id = self._next("call-")
        args = dict(arguments)
        request = {"toolCallId": call_id, "name": name, "arguments": args}
        self._event(
            "assistant.message",
            {"messageId": self._next("msg-"), "content": "", "toolRequests": [request]},
        )
        self._event(
            "tool.execution_start", {"toolCallId": call_id, "toolName": name, "arguments": args}
        )
        self._event(
            "tool.execution_complete",
            {"toolCallId": call_id, "success": success, "result": {"content": result}},
        )
        return self

    def usage(self, input_tokens: int, output_tokens: int) -> CopilotEvents:
        """The tokens of the last model call."""
        self._event(
            "assistant.usage",
            {"model": self.model, "inputTokens": input_tokens, "outputTokens": output_tokens,
             "cacheReadTokens": 0, "cacheWriteTokens": 0},
        )  # fmt: skip
        return self

    def hook(self, event: str, **fields: Any) -> tuple[str, dict[str, Any]] | dict[str, Any]:
        """A hook payload of this session, ``fields`` added.

        A camelCase event (``userPromptSubmitted``, ``postToolUse``...) gives camelCase
        fields and, as Copilot's payloads do not name their event, comes as ``(event,
        payload)`` for :func:`~bitloops.testing.run_hook` (which then sets the event in
        the environment, as the installed hook entry does). A PascalCase event
        (``PostToolUseFailure``, ``SubagentStart``...) gives a snake_case payload that
        names it.
        """
        stamp = _ms(self.start + timedelta(seconds=self._tick))
        transcript = None if self.path is None else str(self.path)
        if event[:1].isupper():
            return {
                "hook_event_name": event,
                "session_id": self.session_id,
                "timestamp": stamp,
                "cwd": self.cwd,
                "transcript_path": transcript,
                **fields,
            }
        payload = {
            "sessionId": self.session_id,
            "timestamp": stamp,
            "cwd": self.cwd,
            "transcriptPath": transcript,
            **fields,
        }
        return event, payload


class OpenCodeSession(_Builder):
    """An OpenCode session: the events bitloops' plugin forwards to ``bitloops hook
    opencode`` (:meth:`payloads`), and the JSON ``opencode export`` writes (:meth:`write`)."""

    def __init__(
        self,
        session_id: str = "ses_0000000000001",
        *,
        cwd: str | os.PathLike[str],
        model: str = "claude-sonnet-4-5",
        provider: str = "anthropic",
        version: str = "1.0.107",
        start: datetime = START,
    ) -> None:
        super().__init__(cwd, start)
        self.session_id = session_id
        self.model = model
        self.provider = provider
        self.version = version
        # Each message: {"info": ..., "parts": [...]}, the shape of `opencode export`.
        self._messages: list[dict[str, Any]] = []

    def _message(self, role: str) -> dict[str, Any]:
        created = _ms(self._now())
        info: dict[str, Any] = {
            "id": self._next("msg_"),
            "sessionID": self.session_id,
            "role": role,
            "time": {"created": created},
        }
        if role == "assistant":
            parent = next(
                (m["info"]["id"] for m in reversed(self._messages) if m["info"]["role"] == "user"),
                None,
            )
            info.update(
                parentID=parent, mode="build", path={"cwd": self.cwd, "root": self.cwd},
                cost=0, modelID=self.model, providerID=self.provider,
                tokens={"input": 100, "output": 20, "reasoning": 5,
                        "cache": {"read": 0, "write": 0}},
            )  # fmt: skip
            info["time"]["completed"] = created
        else:
            info["model"] = {"modelID": self.model, "providerID": self.provider}
        message = {"info": info, "parts": []}
        self._messages.append(message)
        return message

    def _part(self, message: dict[str, Any], kind: str, **fields: Any) -> None:
        info = message["info"]
        part = {
            "sessionID": self.session_id,
            "id": self._next("prt_"),
            "messageID": info["id"],
            "type": kind,
            **fields,
        }
        message["parts"].append(part)

    def _assistant_message(self) -> dict[str, Any]:
        last = self._messages[-1] if self._messages else None
        if last is not None and last["info"]["role"] == "assistant":
            return last
        return self._message("assistant")

    def user(self, text: str) -> OpenCodeSession:
        """The user's prompt (a new user message)."""
        self._part(self._message("user"), "text", text=text)
        return self

    def reasoning(self, text: str) -> OpenCodeSession:
        """The model's reasoning (a part of the current assistant message)."""
        when = _ms(self._now())
        self._part(self._assistant_message(), "reasoning", text=text,
                   time={"start": when, "end": when})  # fmt: skip
        return self

    def say(self, text: str) -> OpenCodeSession:
        """The model's text (a part of the current assistant message)."""
        when = _ms(self._now())
        self._part(self._assistant_message(), "text", text=text, time={"start": when, "end": when})
        return self

    def tool(
        self, name: str, input: Mapping[str, Any], output: str = "", *, error: str | None = None
    ) -> OpenCodeSession:
        """A finished tool call (``read``, ``edit``, ``write``, ``bash``, ``todowrite``...)."""
        when = _ms(self._now())
        state: dict[str, Any] = {"input": dict(input), "time": {"start": when, "end": when}}
        if error is None:
            state.update(status="completed", output=output, title=name, metadata={})
        else:
            state.update(status="error", error=error)
        self._part(
            self._assistant_message(), "tool", callID=self._next("call_"), tool=name, state=state
        )
        return self

    @property
    def records(self) -> list[dict[str, Any]]:
        """The plugin's payloads (see :meth:`payloads`)."""
        return self.payloads()

    def _envelope(self, event: Mapping[str, Any], role: str | None, when: int) -> dict[str, Any]:
        return {
            "bitloops_opencode": 1,
            "hook": "event",
            "time": when,
            "cwd": self.cwd,
            "worktree": self.cwd,
            "role": role,
            "event": dict(event),
        }

    def payloads(self) -> list[dict[str, Any]]:
        """What the plugin sends for the session so far, one payload per bus event: the
        session created, then each message and its finished parts, then the payloads
        given to :meth:`add`."""
        created = _ms(self.start)
        session = {
            "id": self.session_id,
            "projectID": "prj_1",
            "directory": self.cwd,
            "title": "New session",
            "version": self.version,
            "time": {"created": created, "updated": created},
        }
        out = [
            self._envelope(
                {"type": "session.created", "properties": {"info": session}}, None, created
            )
        ]
        for message in json.loads(json.dumps(self._messages)):
            info, role = message["info"], message["info"]["role"]
            when = info["time"]["created"]
            out.append(
                self._envelope(
                    {"type": "message.updated", "properties": {"info": info}}, role, when
                )
            )
            for part in message["parts"]:
                event = {"type": "message.part.updated", "properties": {"part": part}}
                out.append(self._envelope(event, role, when))
        added: list[dict[str, Any]] = json.loads(json.dumps(self._records))
        return out + added

    def text(self) -> str:
        """The ``opencode export`` JSON of the session."""
        created = _ms(self.start)
        info = {
            "id": self.session_id,
            "projectID": "prj_1",
            "directory": self.cwd,
            "title": "New session",
            "version": self.version,
            "time": {
                "created": created,
                "updated": _ms(self.start + timedelta(seconds=self._tick)),
            },
        }
        return json.dumps({"info": info, "messages": self._messages}, ensure_ascii=False, indent=2)
