"""``bitloops hook``: run a git hook, or record an agent's hook payload."""

from __future__ import annotations

import argparse
import sys

from bitloops.agents._registry import AGENTS
from bitloops.cli._registry import EXIT_OK, Context, UsageError, command

__all__ = ["AGENT_HOOKS"]


#: ``bitloops hook NAME`` for agents (see docs/agents.md), beside the git hook names: the
#: agent registry itself, so an agent registered there is one too.
AGENT_HOOKS = AGENTS


def _hook_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        metavar="NAME",
        nargs="?",
        choices=(
            "post-commit",
            "post-rewrite",
            "pre-commit",
            "post-merge",
            "pre-push",
            *AGENT_HOOKS,
        ),
        help="which hook git is running: post-commit, post-rewrite, pre-commit, post-merge or "
        f"pre-push; or an agent's ({', '.join(AGENT_HOOKS)}), its JSON payload on standard "
        "input",
    )
    parser.add_argument(
        "hook_args",
        metavar="ARG",
        nargs="*",
        help="the arguments git passed to the hook (post-rewrite: amend or rebase; post-merge: "
        "the squash flag; pre-push: the remote's name and URL)",
    )


@command(
    "hook",
    add_arguments=_hook_arguments,
    description="What the hooks `bitloops enable` installs run: post-commit promotes the draft "
    "to a checkpoint of HEAD, post-rewrite links checkpoints to amended or rebased commits "
    "(old and new SHAs on standard input), pre-commit stages pending checkpoint folders, "
    "post-merge promotes the draft to a merge commit, pre-push pushes the checkpoint ref "
    "(checkpoint_files = ref) or says which folders the push lacks (branch). "
    "Exits 0 inside a work tree even when the hook fails (fail open): failures are appended "
    "to <git common dir>/bitloops/hooks.log. `hook claude-code` (codex, gemini, cursor, "
    "copilot, opencode) records one hook payload of that agent read from standard input, "
    "always exits 0 and prints nothing (see docs/agents.md).",
)
def _hook(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops._commit_flow import run_hook
    from bitloops.git._git import Git

    if args.name in AGENT_HOOKS:
        # An agent hook: never exit 2 (that blocks the agent), never print to stdout.
        from bitloops.agents._registry import run_agent_hook

        run_agent_hook(args.name, getattr(sys.stdin, "buffer", sys.stdin), ctx.cwd, ctx.err)
        return EXIT_OK
    Git.locate(ctx.cwd)  # outside a work tree: the usual error, exit 2
    if args.name is None:
        raise UsageError(
            "name the hook to run: post-commit, post-rewrite, pre-commit, post-merge or pre-push"
        )
    failed = run_hook(args.name, args.hook_args, ctx.cwd, sys.stdin, ctx.err)
    if args.json:
        ctx.write_json({"hook": args.name, "ok": failed is None, "log": failed})
    return EXIT_OK
