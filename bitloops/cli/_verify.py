"""``bitloops verify``: check that committed history is intact."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bitloops.cli._json import shaped
from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, command
from bitloops.cli._style import PLAIN, Style, plural

if TYPE_CHECKING:
    from bitloops.checkpoint._verify import Problem, VerifyReport

__all__ = ["verify_json", "verify_lines"]

_PROBLEM_KEYS = ("severity", "kind", "checkpoint_id", "commit_sha", "message", "store")


def verify_json(report: VerifyReport) -> dict[str, Any]:
    """``bitloops verify --json``: the shape documented in docs/cli.md."""
    return {
        **shaped(report, ("ok", "checked")),
        "problems": [shaped(p, _PROBLEM_KEYS) for p in report.problems],
    }


def verify_lines(report: VerifyReport, *, style: Style = PLAIN) -> list[str]:
    """Each problem (severity, kind, short SHA, message), then the verdict line."""
    problems: Sequence[Problem] = report.problems
    kind_width = max((len(p.kind) for p in problems), default=0)
    out = []
    for p in problems:
        severity = style.red("error") if p.severity == "error" else style.yellow(f"{p.severity:<5}")
        sha = p.commit_sha[:12] if p.commit_sha else "-"
        where = "shared store: " if p.store == "shared" else ""
        out.append(
            f"{severity}  {p.kind:<{kind_width}}  {style.cyan(f'{sha:<12}')}  {where}{p.message}"
        )
    errors = sum(p.severity == "error" for p in problems)
    notes = len(problems) - errors
    verdict = f"{plural(report.checked, 'checkpoint')} checked: "
    verdict += f"{plural(errors, 'error')}, {plural(notes, 'note')}"
    out.append(verdict + (" - " + style.green("OK") if report.ok else " - " + style.red("FAILED")))
    return out


@command(
    "verify",
    description="Cross-check every checkpoint: content hashes, the parent chain, commit links, "
    "the immutability triggers and the checkpoint folders on disk. Exit status 1 when an "
    "error is found; notes (such as an audited purge) do not fail.",
)
def _verify(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.repository() as repo, ctx.progress("verify", "checkpoints") as tick:
        report = repo.verify(progress=tick)
    if args.json:
        ctx.write_json(verify_json(report))
    else:
        ctx.write_lines(verify_lines(report, style=ctx.style))
    return EXIT_OK if report.ok else EXIT_NOT_FOUND
