"""``bitloops doctor``: diagnose stuck sessions, missed promotions, hooks and damage."""

from __future__ import annotations

import argparse

from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, command

__all__: list[str] = []


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fix",
        action="store_true",
        help="also run the safe repairs: end stuck sessions, promote a missed commit, "
        "rewrite missing checkpoint folders, reinstall broken hooks",
    )
    parser.add_argument(
        "--stale-minutes",
        type=int,
        metavar="N",
        help="an open session with no event for N minutes counts as stuck "
        "(default: the idle_minutes setting)",
    )


@command(
    "doctor",
    add_arguments=_doctor_arguments,
    description="Check the database (integrity, schema version), the git hooks (missing, "
    "edited, or pointing at an installation that is gone), sessions left open, draft events "
    "that missed their commit, and everything verify checks. With --fix, repair what is "
    "safe to repair; nothing recorded is ever deleted. Exit status 1 while an error or "
    "warning remains.",
)
def _doctor(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import timedelta

    from bitloops._codec import unstructure
    from bitloops.doctor import diagnose

    stale = None if args.stale_minutes is None else timedelta(minutes=args.stale_minutes)
    with ctx.repository() as repo:
        report = diagnose(repo, fix=args.fix, stale_after=stale)
    if args.json:
        ctx.write_json({"ok": report.ok, "findings": [unstructure(f) for f in report.findings]})
    else:
        st = ctx.style
        marks = {"error": st.red("error"), "warning": st.yellow("warn "), "info": st.dim("info ")}
        for f in report.findings:
            mark = st.green("fixed") if f.fixed else marks.get(f.severity, f.severity)
            ctx.write(f"{mark}  {f.check}: {f.message}")
            if f.repair and not f.fixed:
                ctx.write(f"       --fix would {f.repair}")
        ctx.write("doctor: " + ("OK" if report.ok else "problems remain"))
    return EXIT_OK if report.ok else EXIT_NOT_FOUND
