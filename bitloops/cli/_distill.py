"""``bitloops distill``: run the optional LLM distiller on a commit's checkpoint, now.

Registered with :func:`bitloops.cli._registry.command` when the command runs. Only the
standard library is imported at module level, like the rest of the command line. The
post-commit hook starts this same command detached (see :mod:`bitloops.checkpoint._distill`).
"""

from __future__ import annotations

import argparse
from typing import Any

from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, command

__all__: list[str] = []

# category -> (how it is counted, how one item is labelled)
_TITLES = {
    "decisions": ("decisions", "decision"),
    "alternatives": ("rejected approaches", "rejected"),
    "constraints": ("constraints", "constraint"),
    "open_items": ("open items", "open item"),
}


def _distill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        nargs="?",
        default="HEAD",
        metavar="REF",
        help="a commit (SHA, branch, tag, HEAD~2...) or a checkpoint id (default: HEAD)",
    )


@command(
    "distill",
    add_arguments=_distill_arguments,
    description="Send a bounded, condensed, redacted transcript of REF's checkpoint (the "
    "newest, when several) to the distiller of the `distiller` setting (an agent's CLI in "
    "print mode, or an OpenAI-compatible endpoint), keep the decisions, rejected approaches, "
    "constraints and open items whose evidence is found in what was sent, and store them as "
    "an append-only distillation annotation of the checkpoint, which `explain` then shows "
    "with source llm. A failure (error, invalid answer, the time bound) is stored too, and "
    "`doctor` reports it; the deterministic records stand either way. The post-commit hook "
    "runs this detached after each commit when a distiller is configured. Exit 1 when the "
    "distillation failed, 2 when no distiller is configured.",
)
def _distill(args: argparse.Namespace, ctx: Context) -> int:
    import os

    from bitloops.checkpoint._distill import LOG_ENV

    if not os.environ.get(LOG_ENV):
        return _run(args, ctx)
    # Detached after a commit: what it would print goes to distill.log, redacted and
    # bounded, as one entry (a distiller's answer can quote the transcript).
    import io
    import traceback

    from bitloops.capture import _hooklog as hooklog
    from bitloops.checkpoint._distill import LOG_RELATIVE_PATH
    from bitloops.errors import BitloopsError
    from bitloops.git._git import Git

    captured = io.StringIO()
    status = 1
    try:
        status = _run(args, Context(ctx.cwd, out=captured, err=captured, color=False))
    except BitloopsError as exc:
        captured.write(f"bitloops: {exc}\n")
        status = 2
    except Exception:
        captured.write(traceback.format_exc())
    finally:
        text = f"distill {args.ref}: exit {status}\n{captured.getvalue()}"
        paths = Git.locate(ctx.cwd)
        hooklog.write(paths.common_dir, text, log_path=LOG_RELATIVE_PATH, toplevel=paths.toplevel)
    return status


def _run(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.checkpoint._distill import distill

    with ctx.repository() as repo:
        cp = repo.checkpoint(args.ref)
        found = distill(repo, cp.checkpoint_id)
    body = found.body
    ok = body.get("status") == "ok"
    if args.json:
        data: dict[str, Any] = {
            "ref": args.ref,
            "checkpoint_id": cp.checkpoint_id,
            "commit_sha": cp.commit_sha,
            "annotation_id": found.annotation_id,
            "status": body.get("status"),
            "distiller": body.get("distiller"),
            "reason": body.get("reason"),
            "items": body.get("items"),
            "dropped": body.get("dropped", 0),
        }
        ctx.write_json(data)
        return EXIT_OK if ok else EXIT_NOT_FOUND
    if not ok:
        ctx.error(f"the distillation of {cp.commit_sha[:12]} failed: {body.get('reason')}")
        return EXIT_NOT_FOUND
    items = body.get("items") or {}
    counts = [f"{len(items.get(key) or [])} {plural}" for key, (plural, _) in _TITLES.items()]
    ctx.write(
        f"distilled {cp.commit_sha[:12]} with {body.get('distiller')}: "
        + ", ".join(counts)
        + f"; {body.get('dropped', 0)} dropped (evidence not in the transcript)"
    )
    for key in ("intent", "outcome"):
        item = items.get(key)
        if isinstance(item, dict):
            ctx.write(f"  {key}: {item.get('text')}")
    for key, (_, label) in _TITLES.items():
        for item in items.get(key) or []:
            ctx.write(f"  {label}: {item['text']}")
    ctx.write("`bitloops explain` shows them beside the deterministic records")
    return EXIT_OK
