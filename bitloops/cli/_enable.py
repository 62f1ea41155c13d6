"""``bitloops enable`` and ``bitloops disable``: the git hooks, and each agent's hooks."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bitloops.cli._registry import EXIT_OK, EXIT_USAGE, Context, command

__all__: list[str] = []


_HOOK_VERBS = {
    "installed": "installed",
    "chained": "installed",
    "updated": "updated",
    "unchanged": "already installed",
    "conflict": "NOT installed",
    "removed": "removed",
    "restored": "removed",
    "foreign": "left alone (not installed by bitloops)",
    "not-installed": "not installed",
}


def _hook_changes_out(
    ctx: Context, args: argparse.Namespace, folder: Path, changes: Sequence[Any]
) -> None:
    if args.json:
        ctx.write_json({"hooks_dir": str(folder), "hooks": [c.as_json() for c in changes]})
        return
    for change in changes:
        line = f"{change.name}: {_HOOK_VERBS[change.action]} ({change.path})"
        if change.action == "chained":
            line += f"; the previous hook now runs after it, from {change.chained}"
        elif change.action == "restored":
            line += "; the previous hook is back in place"
        elif change.action == "conflict":
            line += (
                f": it is not bitloops' but {change.chained} exists; move one of them away "
                "and run `bitloops enable` again"
            )
        ctx.write(line)


def _agent_names() -> str:
    """The registered agents' names, for help texts: ``a, b or c``."""
    from bitloops.agents._registry import AGENTS

    names = list(AGENTS)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        metavar="NAME",
        action="append",
        default=[],
        help="the coding agent whose hooks to add (enable) or remove (disable) in its own "
        f"config file: {_agent_names()}; repeat it or separate names with commas (see "
        "docs/agents.md)",
    )


_AGENT_VERBS = {
    "created": "hooks written to {path} (new file)",
    "added": "hooks added to {path}",
    "updated": "hooks updated in {path}",
    "unchanged": "already enabled ({path})",
    "removed": "hooks removed from {path}",
    "deleted": "hooks removed; {path} held nothing else and was deleted",
    "not-installed": "not enabled ({path})",
    "foreign": "{path} is not bitloops'; left alone",
}


def _agent_changes_out(ctx: Context, changes: Sequence[Any]) -> None:
    from bitloops.agents._mcp_config import describe

    for change in changes:
        ctx.write(f"{change.agent}: {_AGENT_VERBS[change.action].format(path=change.path)}")
        line = None if change.mcp is None else describe(change.mcp)
        if line:
            ctx.write(f"{change.agent}: {line}")


def _agent_notes(ctx: Context, changes: Sequence[Any]) -> None:
    """What the user still has to do for the agents just enabled."""
    from bitloops.agents._config import AGENT_CONFIGS

    for change in changes:
        config = AGENT_CONFIGS[change.agent]
        if change.mcp is not None and change.mcp.action == "unavailable":
            ctx.error(
                f"note: to let {config.label} record decisions through MCP, pip install "
                f"'bitloops[mcp]' and run `bitloops enable --agent {change.agent}` again"
            )
        if change.action == "unchanged":
            continue
        if config.note:
            ctx.error(f"note: {config.note}")
        if not config.personal and config.layout != "plugin" and not shutil.which("bitloops"):
            ctx.error(
                f"note: {config.label} runs `bitloops hook {change.agent}`, but `bitloops` is "
                "not on PATH here; install it where the agent finds it (pipx, uv tool)"
            )


def _enable_arguments(parser: argparse.ArgumentParser) -> None:
    _agent_arguments(parser)


@command(
    "enable",
    add_arguments=_enable_arguments,
    description="Install post-commit, post-rewrite, pre-commit, post-merge and pre-push hooks "
    "in the repository's "
    "hooks directory (core.hooksPath respected). A hook already there is moved aside to "
    "<name>.bitloops-chained and runs after bitloops' with the same arguments and input; its "
    "exit status stays the hook's. With --agent, also add the hooks that run `bitloops hook "
    "NAME` to that agent's config file in the repository, keeping everything else in it, "
    "and register bitloops' MCP server in the agent's own MCP file (with bitloops[mcp]). "
    "Running enable again changes nothing. See docs/git-hooks.md and docs/agents.md.",
)
def _enable(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.agents._config import enable_agents, parse_agent_names
    from bitloops.git._git import Git
    from bitloops.git._hooks import enable, hooks_dir

    paths = Git.locate(ctx.cwd)  # a clear error outside a work tree
    names = parse_agent_names(args.agent)
    # Agents first: a config file that cannot be merged stops everything before any write.
    agents = enable_agents(paths.toplevel, names) if names else []
    changes = enable(ctx.cwd)
    if args.json and names:
        ctx.write_json(
            {
                "hooks_dir": str(hooks_dir(ctx.cwd)),
                "hooks": [c.as_json() for c in changes],
                "agents": [a.as_json() for a in agents],
            }
        )
    else:
        _hook_changes_out(ctx, args, hooks_dir(ctx.cwd), changes)
        if not args.json:
            _agent_changes_out(ctx, agents)
    _agent_notes(ctx, agents)
    conflicts = [c.name for c in changes if c.action == "conflict"]
    if conflicts:
        ctx.error(f"not installed: {', '.join(conflicts)} (see above)")
        return EXIT_USAGE
    return EXIT_OK


def _disable_arguments(parser: argparse.ArgumentParser) -> None:
    _agent_arguments(parser)


@command(
    "disable",
    add_arguments=_disable_arguments,
    description="Remove the hooks `bitloops enable` installed, putting back each hook it had "
    "moved aside, byte for byte. Hooks bitloops did not install are left alone. With --agent, "
    "remove only that agent's `bitloops hook NAME` entries from its config file (and the file, "
    "when nothing else is left in it); the git hooks stay.",
)
def _disable(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.agents._config import disable_agents, parse_agent_names
    from bitloops.git._git import Git
    from bitloops.git._hooks import disable, hooks_dir

    paths = Git.locate(ctx.cwd)
    names = parse_agent_names(args.agent)
    if names:
        agents = disable_agents(paths.toplevel, names)
        if args.json:
            ctx.write_json({"agents": [a.as_json() for a in agents]})
        else:
            _agent_changes_out(ctx, agents)
        return EXIT_OK
    changes = disable(ctx.cwd)
    _hook_changes_out(ctx, args, hooks_dir(ctx.cwd), changes)
    return EXIT_OK
