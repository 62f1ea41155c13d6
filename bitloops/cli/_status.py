"""``bitloops status``: what is being captured right now."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitloops.cli._json import session_json, shaped
from bitloops.cli._registry import EXIT_OK, Context, command
from bitloops.cli._style import LABEL, PLAIN, Style, format_age, label, pack, plural

if TYPE_CHECKING:
    from bitloops.model import Status

__all__ = ["status_json", "status_lines"]

# In the order of docs/cli.md; ``sessions`` (the open ones), ``private_sessions`` and
# ``warnings`` go between and after.
_HEAD_KEYS = ("capture_enabled", "git_hooks", "strategy", "agents", "agents_enabled")
_TAIL_KEYS = (
    "draft_event_count",
    "checkpoint_count",
    "committed_store",
    "unsent_count",
    "unsent_error",
)


def status_json(
    status: Status,
    warnings: Sequence[str] = (),
    *,
    pending_folders: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``bitloops status --json``: the shape documented in docs/cli.md.

    ``pending_folders`` (full SHAs) adds the key of that name when given.
    """
    data = shaped(status, _HEAD_KEYS)
    data["sessions"] = [session_json(s) for s in status.active_sessions]
    data["private_sessions"] = list(status.private_sessions)
    data.update(shaped(status, _TAIL_KEYS))
    data["warnings"] = list(warnings)
    if pending_folders is not None:
        data["pending_folders"] = list(pending_folders)
    return data


def status_lines(
    status: Status,
    warnings: Sequence[str] = (),
    *,
    style: Style = PLAIN,
    now: datetime | None = None,
    pending_folders: Sequence[str] = (),
) -> list[str]:
    """The ``bitloops status`` view, one string per line.

    ``pending_folders``: SHAs whose checkpoint folder waits for the next commit.
    """
    out = [
        label("Capture", _capture_state(status, style)),
        label("Strategy", status.strategy),
        label("Agents", _agents_state(status, style)),
    ]
    if not status.active_sessions:
        out.append(label("Session", style.dim("none open")))
    for index, info in enumerate(status.active_sessions):
        state = style.green(info.status) if info.status == "active" else style.yellow(info.status)
        when = f"started {format_age(info.started_at, now)}"
        if info.last_event_at is not None and info.status != "active":
            when += f", last event {format_age(info.last_event_at, now)}"
        detail = (
            f"{state} ({when}): {info.agent}, {info.model or 'model unknown'}, "
            f"{plural(info.event_count, 'draft event')}"
        )
        if info.session_id in status.private_sessions:
            detail += ", " + style.yellow("private (kept in this clone)")
        out.append(label("Session" if index == 0 else "", detail))
    out.append(label("Draft", f"{plural(status.draft_event_count, 'event')} not yet committed"))
    if pending_folders:
        count = plural(len(pending_folders), "folder")
        out.append(label("Pending", f"{count} (committed with your next commit)"))
        out += pack([sha[:12] for sha in pending_folders], 80, " " * LABEL, " " * LABEL)
    out.append(label("Checkpoints", f"{status.checkpoint_count} total (committed)"))
    if status.committed_store is not None:
        out.append(label("Team store", status.committed_store))
        if status.unsent_count:
            waiting = f"{plural(status.unsent_count, 'checkpoint')} waiting to be sent"
            out.append(label("", style.yellow(waiting + " (run `bitloops sync`)")))
            if status.unsent_error:
                out.append(label("", style.dim(f"last error: {status.unsent_error}")))
        else:
            out.append(label("", "every checkpoint sent"))
    for index, warning in enumerate(warnings):
        out.append(label("Warnings" if index == 0 else "", style.yellow(warning)))
    return out


def _capture_state(status: Status, style: Style) -> str:
    """``enabled``, or what stops capture: the setting, or git hooks not installed."""
    if not status.capture_enabled:
        return style.yellow(
            'disabled (the capture setting is off: set "capture": true in .bitloops/settings.json)'
        )
    if not status.git_hooks and not status.agents_enabled:
        return style.yellow("off: the git hooks are not installed here (run `bitloops enable`)")
    if not status.git_hooks:  # agents record drafts, and no commit promotes them
        return style.yellow(
            "recording, but nothing is promoted: the git hooks are not installed here "
            "(run `bitloops enable`)"
        )
    from bitloops.git._hooks import HOOK_NAMES

    missing = [name for name in HOOK_NAMES if name not in status.git_hooks]
    if missing:
        note = f"; git hooks missing: {', '.join(missing)} (run `bitloops enable`)"
        return style.green("enabled") + style.yellow(note)
    return style.green("enabled") + style.dim(" (git hooks installed)")


def _agents_state(status: Status, style: Style) -> str:
    """Each agent set up here or seen recording, with which of the two it is."""
    names = list(dict.fromkeys([*status.agents_enabled, *status.agents]))
    if not names:
        return style.dim("none yet (run `bitloops enable --agent NAME`)")
    parts = []
    for name in names:
        marks = [m for m, on in (("enabled", name in status.agents_enabled),
                                 ("recorded", name in status.agents)) if on]  # fmt: skip
        parts.append(f"{name} {style.dim('(' + ', '.join(marks) + ')')}")
    return ", ".join(parts)


@command(
    "status",
    description="Show whether capture is on, the strategy, the agents seen, the sessions open "
    "in this worktree (active or idle, with agent, model and age), the draft's event count, "
    "the number of committed checkpoints, the checkpoint folders waiting for the next commit "
    "(checkpoint_files = branch), and any settings warnings.",
)
def _status(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops._commit_flow import pending_folders, unstage_after_abort
    from bitloops.capture._spool import notices as spool_notices

    if _nothing_recorded(ctx.cwd):
        return _status_before_recording(args, ctx)
    with ctx.repository() as repo:
        unstage_after_abort(repo.paths)  # an aborted commit leaves the index as it was
        status = repo.status()
        warnings = [*repo.settings.warnings, *_setup_warnings(repo.toplevel)]
        warnings += spool_notices(repo.paths.common_dir)  # hook events not yet recorded
        branch_mode = repo.settings.checkpoint_files == "branch"
        pending = pending_folders(repo.toplevel) if branch_mode else []
    if args.json:
        ctx.write_json(status_json(status, warnings, pending_folders=pending))
    else:
        ctx.write_lines(status_lines(status, warnings, style=ctx.style, pending_folders=pending))
    return EXIT_OK


def _nothing_recorded(cwd: Path) -> bool:
    """True in a work tree whose repository never had a database and holds no committed
    checkpoint (status creates nothing there).

    A database that existed (its marker is there) is opened even when missing, so that
    its loss is reported; a teammate's clone, so that their checkpoints are counted.
    """
    from bitloops.checkpoint._files import CHECKPOINTS_DIR
    from bitloops.git._git import Git
    from bitloops.git._ref import CHECKPOINT_REF
    from bitloops.repository import DB_MARKER_RELATIVE_PATH, DB_RELATIVE_PATH

    paths = Git.locate(cwd)
    common = paths.common_dir
    if (common / DB_RELATIVE_PATH).exists() or (common / DB_MARKER_RELATIVE_PATH).exists():
        return False
    git = Git(paths.toplevel)
    return (
        git.try_run("rev-parse", "--verify", "--quiet", f"HEAD:{CHECKPOINTS_DIR}") is None
        and git.try_run("rev-parse", "--verify", "--quiet", CHECKPOINT_REF) is None
    )


def _status_before_recording(args: argparse.Namespace, ctx: Context) -> int:
    """``bitloops status`` from the files alone: the settings, hooks and agents set up."""
    from bitloops.capture._spool import notices as spool_notices
    from bitloops.git._git import Git
    from bitloops.model import Status
    from bitloops.repository import capture_setup
    from bitloops.settings import load_settings

    top = Git.locate(ctx.cwd).toplevel
    settings = load_settings(top)
    hooks, enabled = capture_setup(top)
    status = Status(
        capture_enabled=settings.capture,
        strategy=settings.strategy,
        agents=(),
        active_sessions=(),
        checkpoint_count=0,
        draft_event_count=0,
        git_hooks=hooks,
        agents_enabled=enabled,
    )
    warnings = [*settings.warnings, *_setup_warnings(top)]
    warnings += spool_notices(Git.locate(ctx.cwd).common_dir)  # spooled: no database yet
    if args.json:
        ctx.write_json(status_json(status, warnings, pending_folders=[]))
    else:
        ctx.write_lines(status_lines(status, warnings, style=ctx.style))
    return EXIT_OK


def _setup_warnings(toplevel: Path) -> list[str]:
    """Agents hooked up here whose bitloops MCP server entry needs `enable` again, and
    whose file lacks hook entries this version writes."""
    from bitloops.agents._config import AGENT_CONFIGS, enabled_agents, missing_events
    from bitloops.agents._mcp_config import mcp_problems

    out = [message for _, message in mcp_problems(toplevel, enabled_agents(toplevel))]
    return out + [
        f"{AGENT_CONFIGS[name].label}'s hooks lack {', '.join(events)} (past reasoning is not "
        f"handed to the agent): run `bitloops enable --agent {name}`"
        for name, events in missing_events(toplevel).items()
    ]
