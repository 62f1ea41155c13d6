"""Plans from the agents' own plan tools: every call folded into the latest state of each plan.

Each agent keeps its plan through a tool call that the capture already records as a
``tool_use`` event (live from hooks and on import alike): Claude Code's ``TodoWrite``,
``ExitPlanMode`` and ``TaskCreate``/``TaskUpdate``/``TaskList``, Codex's ``update_plan``,
Gemini CLI's ``write_todos``, OpenCode's ``todowrite``, Cursor's ``todo_write`` and
Copilot CLI's ``update_todo``. A plan a program or the agent records through bitloops is a
``plan`` event. :class:`PlanFolder` reads those events in order and keeps, per session and
subagent, the latest state of each plan: a growing todo list fourteen times rewritten is
one plan with its current statuses, not fourteen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bitloops.model import Event, EventKind, Evidence, Plan, PlanItem

__all__ = ["PLAN_TOOLS", "PlanFolder", "is_plan_tool", "normalise_status", "plans_of"]

#: Tool names whose calls carry a plan, and how each is read: ``list`` (the call holds
#: the whole list), ``prose`` (the call holds the plan as text), ``task`` (one task is
#: created, changed or listed at a time).
PLAN_TOOLS: Mapping[str, str] = {
    "TodoWrite": "list",
    "ExitPlanMode": "prose",
    "TaskCreate": "task",
    "TaskUpdate": "task",
    "TaskList": "task",
    "update_plan": "list",
    "write_todos": "list",
    "todowrite": "list",
    "todo_write": "list",
    "update_todo": "list",
    "TodoWriteTool": "list",
}

_STATUSES = {
    "completed": "completed",
    "complete": "completed",
    "done": "completed",
    "finished": "completed",
    "in_progress": "in_progress",
    "in-progress": "in_progress",
    "inprogress": "in_progress",
    "active": "in_progress",
    "running": "in_progress",
    "started": "in_progress",
    "pending": "pending",
    "todo": "pending",
    "not_started": "pending",
    "open": "pending",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "deleted": "cancelled",
    "skipped": "cancelled",
}

# A markdown checklist line of a plan written as text: "- [x] step" / "* [ ] step".
_CHECKBOX = re.compile(r"^\s*[-*]\s*\[([ xX~-])\]\s+(.+?)\s*$")
_MAX_ITEMS = 200
_MAX_TEXT = 4000


def normalise_status(value: Any) -> str:
    """An agent's status word as one of :data:`bitloops.model.PLAN_STATUSES` (else pending)."""
    if isinstance(value, bool):
        return "completed" if value else "pending"
    if not isinstance(value, str):
        return "pending"
    return _STATUSES.get(value.strip().lower().replace(" ", "_"), "pending")


def is_plan_tool(name: Any) -> bool:
    """True when ``name`` is a plan tool of one of the agents (see :data:`PLAN_TOOLS`)."""
    return isinstance(name, str) and _tool_key(name) in PLAN_TOOLS


def _tool_key(name: str) -> str:
    # MCP-style or namespaced names ("functions.update_plan", "mcp__x__TodoWrite").
    return name.rsplit(".", 1)[-1].rsplit("__", 1)[-1]


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_TEXT]
    return None


def _items(raw: Any) -> list[PlanItem]:
    """Plan items from a list of dicts in any of the agents' shapes."""
    raw = _decoded(raw)
    if isinstance(raw, Mapping):  # {"todos": [...]}, {"plan": [...]}, {"items": [...]}
        for key in ("todos", "plan", "items", "steps", "tasks"):
            if isinstance(_decoded(raw.get(key)), list):
                return _items(raw[key])
        for key in ("todos", "plan", "items", "steps", "tasks", "content"):
            if isinstance(raw.get(key), str):  # Copilot CLI's update_todo: a checklist
                return _checklist(raw[key])
        return []
    if not isinstance(raw, list):
        return []
    items: list[PlanItem] = []
    for entry in raw[:_MAX_ITEMS]:
        entry = _decoded(entry)
        if isinstance(entry, str):
            if text := _text(entry):
                items.append(PlanItem(text=text))
            continue
        if not isinstance(entry, Mapping):
            continue
        text = None
        for key in ("content", "step", "description", "title", "subject", "text", "task"):
            text = _text(entry.get(key))
            if text:
                break
        if text is None:
            continue
        status = entry.get("status", entry.get("state", entry.get("completed")))
        item_id = entry.get("id", entry.get("taskId"))
        items.append(
            PlanItem(
                text=text,
                status=normalise_status(status),
                item_id=str(item_id) if isinstance(item_id, str | int) else None,
            )
        )
    return items


def _merged(items: tuple[PlanItem, ...], call: Mapping[str, Any]) -> tuple[PlanItem, ...]:
    """Cursor's ``todo_write`` with ``merge: true``: the listed todos (by ``id``) change,
    the others stay; a todo may give only its new ``status``."""
    raw = _decoded(call.get("todos"))
    by_id = {item.item_id: item for item in items if item.item_id is not None}
    order = [item.item_id or f"#{n}" for n, item in enumerate(items)]
    kept = {item.item_id or f"#{n}": item for n, item in enumerate(items)}
    for entry in raw[:_MAX_ITEMS] if isinstance(raw, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str | int):
            continue
        item_id = str(entry["id"])
        old = by_id.get(item_id)
        text = _text(entry.get("content")) or (old.text if old else None)
        if text is None:
            continue
        status = entry.get("status")
        if status is not None:
            status = normalise_status(status)
        new = PlanItem(
            text=text, status=status or (old.status if old else "pending"), item_id=item_id
        )
        if item_id not in kept:
            order.append(item_id)
        kept[item_id] = new
    return tuple(kept[key] for key in order)


def _checklist(text: str) -> list[PlanItem]:
    items = []
    for line in text.splitlines():
        m = _CHECKBOX.match(line)
        if m:
            mark = m.group(1).lower()
            status = "completed" if mark == "x" else "in_progress" if mark == "~" else "pending"
            items.append(PlanItem(text=m.group(2)[:_MAX_TEXT], status=status))
    return items[:_MAX_ITEMS]


def _evidence(event: Event, excerpt: str) -> Evidence:
    return Evidence.of(event, " ".join(excerpt.split())[:300])


class _Tasks:
    """Claude Code's task tools: tasks created, updated and listed one call at a time."""

    def __init__(self) -> None:
        self.items: dict[str, PlanItem] = {}
        self.updates = 0

    def feed(self, tool: str, tool_input: Any, output: Any) -> bool:
        tool_input, output = _decoded(tool_input), _decoded(output)
        tool_input = tool_input if isinstance(tool_input, Mapping) else {}
        if tool == "TaskList":
            listed = _items(output)
            if not listed:
                return False
            self.items = {item.item_id or str(n): item for n, item in enumerate(listed, 1)}
        elif tool == "TaskCreate":
            text = _text(tool_input.get("subject")) or _text(tool_input.get("description"))
            if text is None:
                return False
            task_id = _created_id(output) or str(len(self.items) + 1)
            self.items[task_id] = PlanItem(text=text, status="pending", item_id=task_id)
        else:  # TaskUpdate
            raw_id = tool_input.get("taskId", tool_input.get("id"))
            if not isinstance(raw_id, str | int):
                return False
            task_id = str(raw_id)
            old = self.items.get(task_id) or PlanItem(text=f"task {task_id}", item_id=task_id)
            text = _text(tool_input.get("subject")) or old.text
            status = tool_input.get("status")
            self.items[task_id] = PlanItem(
                text=text,
                status=normalise_status(status) if status is not None else old.status,
                item_id=task_id,
            )
        self.updates += 1
        return True


def _created_id(output: Any) -> str | None:
    if isinstance(output, Mapping):
        task = output.get("task")
        if isinstance(task, Mapping) and isinstance(task.get("id"), str | int):
            return str(task["id"])
        if isinstance(output.get("id"), str | int):
            return str(output["id"])
        output = output.get("content") or output.get("text")
    if isinstance(output, list):  # content blocks
        output = " ".join(b.get("text", "") for b in output if isinstance(b, Mapping))
    if isinstance(output, str):
        m = re.search(r"[Tt]ask #?(\w+)", output)
        if m:
            return m.group(1)
    return None


class PlanFolder:
    """Folds plan-tool calls and ``plan`` events, in transcript order, into :class:`Plan` s.

    Call :meth:`feed` with each event (others are ignored) and :meth:`plans` at the end.
    A plan is kept per (session, subagent, plan tool): the todo list of one session and
    that of its subagent are two plans; ``ExitPlanMode``'s text is a plan of its own; the
    task tools (``TaskCreate``, ``TaskUpdate``, ``TaskList``) build one plan together.
    """

    def __init__(self) -> None:
        self._plans: dict[tuple[str, str | None, str], Plan] = {}
        self._tasks: dict[tuple[str, str | None], _Tasks] = {}

    def feed(self, event: Event) -> None:
        """Take one event into account."""
        payload = event.payload
        if event.kind == EventKind.TOOL_USE:
            name = payload.get("name")
            if not isinstance(name, str):
                return
            tool = _tool_key(name)
            family = PLAN_TOOLS.get(tool)
            if family is None or payload.get("is_error") is True:
                return
            agent_id = payload.get("agent_id")
            sub = agent_id if isinstance(agent_id, str) and agent_id else None
            self._tool(event, tool, family, sub, payload.get("input"), payload.get("output"))
        elif event.kind == EventKind.PLAN:
            self._recorded(event)

    def _tool(
        self, event: Event, tool: str, family: str, sub: str | None, tool_input: Any, output: Any
    ) -> None:
        sid = event.session_id
        # One plan per tool (the task tools share one): TodoWrite's list and the text of
        # ExitPlanMode are two plans of the same session.
        key = (sid, sub, "task" if family == "task" else tool)
        previous = self._plans.get(key)
        updates = previous.updates + 1 if previous else 1
        decoded = _decoded(tool_input)
        if family == "task":
            tasks = self._tasks.setdefault((sid, sub), _Tasks())
            if not tasks.feed(tool, tool_input, output):
                return
            items, text, updates = tuple(tasks.items.values()), None, tasks.updates
            excerpt = json.dumps(decoded, ensure_ascii=False, default=str)
        elif family == "prose":
            mapping = decoded if isinstance(decoded, Mapping) else {}
            text = _text(mapping.get("plan")) or _text(decoded)
            if text is None:
                return
            items = tuple(_checklist(text))
            excerpt = text
        else:
            mapping = decoded if isinstance(decoded, Mapping) else {}
            if mapping.get("merge") is True and previous is not None:
                items = _merged(previous.items, mapping)
            else:
                items = tuple(_items(decoded))
            text = _text(mapping.get("explanation"))
            if not items and text is None:
                return
            excerpt = "; ".join(f"{i.text} ({i.status})" for i in items) or (text or "")
        self._plans[key] = Plan(
            tool="TaskCreate" if family == "task" else tool,
            items=items,
            text=text,
            source="plan-tool",
            session_id=sid,
            agent_id=sub,
            updates=updates,
            evidence=_evidence(event, excerpt),
            record_id=event.event_id,
        )

    def _recorded(self, event: Event) -> None:
        payload = event.payload
        text = _text(payload.get("text"))
        items = tuple(_items(payload.get("items")))
        if text is None and not items:
            return
        # An itemised plan replaces the session's earlier one; a line of text stands alone.
        key = (event.session_id, None, "record" if items else f"record:{event.event_id}")
        previous = self._plans.get(key)
        source = payload.get("source")
        self._plans[key] = Plan(
            tool="record",
            items=items,
            text=text,
            source=source if source in ("agent", "llm") else "agent",
            session_id=event.session_id,
            updates=previous.updates + 1 if previous else 1,
            evidence=_evidence(event, text or "; ".join(i.text for i in items)),
            record_id=event.event_id,
        )

    def plans(self) -> tuple[Plan, ...]:
        """The latest state of every plan seen, in the order each was first seen."""
        return tuple(self._plans.values())


def plans_of(events: Iterable[Event]) -> tuple[Plan, ...]:
    """The plans of ``events`` (see :class:`PlanFolder`)."""
    folder = PlanFolder()
    for event in events:
        folder.feed(event)
    return folder.plans()
