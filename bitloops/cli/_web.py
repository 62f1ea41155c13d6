"""``bitloops serve`` and ``bitloops export``: the reasoning as web pages.

Registered with :func:`bitloops.cli._registry.command` when the command runs. Only the
standard library is imported at module level; :mod:`bitloops.web` loads when one of
these commands runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bitloops.cli._registry import EXIT_OK, Context, command
from bitloops.errors import BitloopsError

if TYPE_CHECKING:
    from bitloops.repository import Repository
    from bitloops.web._server import WebServer

__all__ = ["ExportUsageError"]


class ExportUsageError(BitloopsError):
    """``bitloops export`` without a format, or ``--html`` without ``-o``."""


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    from bitloops.web import DEFAULT_PORT  # the package itself imports nothing

    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"the port to listen on (default {DEFAULT_PORT}; 0 lets the system choose)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="H",
        help="the address to listen on (default 127.0.0.1); any other needs the printed token",
    )


@command(
    "serve",
    add_arguments=_serve_arguments,
    description="Serve, until Ctrl-C, web pages of this repository's checkpoints: the "
    "history (filtered by branch, agent, model, author; paginated), each checkpoint (what "
    "was asked, the conversation with reasoning and tool calls folded, decisions, rejected "
    "alternatives, constraints and plans with their evidence, files, symbols, the diff), a "
    "file's history and blame, and full-text search. Read-only, no external assets, no "
    "script. Bound to 127.0.0.1 unless --host says otherwise; off loopback every request "
    "needs the token in the printed URL. Requests naming another Host are refused.",
)
def _serve(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.web._server import serve

    def ready(server: WebServer) -> None:
        if args.json:
            ctx.write_json({"url": server.url(), "port": server.port, "host": args.host})
        else:
            ctx.write(f"bitloops: serving {repo.toplevel} at {server.url()} (Ctrl-C to stop)")
        ctx.out.flush()

    with ctx.repository() as repo:
        try:
            serve(repo, host=args.host, port=args.port, ready=ready)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        nargs="?",
        default="HEAD",
        metavar="REF",
        help="a commit, a checkpoint id or cp: prefix, or BASE..HEAD (default: HEAD)",
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument(
        "--html", action="store_true", help="write the web view's pages as static files"
    )
    fmt.add_argument(
        "--agent-trace",
        action="store_true",
        help="print the commit's Agent Trace record (RFC 0.1.0): which lines an agent wrote",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="--html: the folder to write the pages to (created if needed); "
        "--agent-trace: a file to write the record to instead of the output",
    )


@command(
    "export",
    add_arguments=_export_arguments,
    description="With --html, write the pages `bitloops serve` shows for the checkpoints "
    "of REF (a commit, a checkpoint id, or every commit of BASE..HEAD) into DIR, as static "
    "files with relative links: index.html, checkpoint/<id>.html, file/<name>.html (the "
    "history and blame of each file they touched). For a CI artefact or a pull request. "
    "With --agent-trace, print the Agent Trace record (RFC 0.1.0) of the commit REF: the "
    "line ranges it added per file, each attributed to the agent and model or a human as "
    "`bitloops blame` does it (or write it to the file -o names).",
)
def _export(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.repository() as repo:  # outside a repository, say that first
        if args.agent_trace:
            return _export_agent_trace(repo, args, ctx)
        if not args.html:
            raise ExportUsageError("say what to export: --html -o DIR, or --agent-trace")
        if not args.output:
            raise ExportUsageError("--html needs a folder to write to: -o DIR")
        from bitloops.web._export import export_html

        report = export_html(repo, args.ref, ctx.cwd / args.output)
    if args.json:
        ctx.write_json(
            {
                "ref": args.ref,
                "directory": str(report.directory),
                "index": str(report.directory / "index.html"),
                "checkpoints": list(report.checkpoints),
                "files": list(report.files),
            }
        )
    else:
        n = len(report.checkpoints)
        ctx.write(
            f"wrote {n} checkpoint{'s' if n != 1 else ''} and {len(report.files)} file page"
            f"{'s' if len(report.files) != 1 else ''} to {report.directory / 'index.html'}"
        )
    return EXIT_OK


def _export_agent_trace(repo: Repository, args: argparse.Namespace, ctx: Context) -> int:
    import json

    from bitloops._fs import atomic_write
    from bitloops.agent_trace import agent_trace

    record = agent_trace(repo, args.ref)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    if not args.output:
        ctx.out.write(text)
        return EXIT_OK
    target = ctx.cwd / args.output
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text, fsync=False)  # an export is made again by the same command
    except OSError as exc:
        raise ExportUsageError(
            f"cannot write {target} ({exc.strerror or exc}); pick a file you can write with -o"
        ) from exc
    if args.json:
        ctx.write_json(
            {"ref": args.ref, "file": str(target), "commit_sha": record["vcs"]["revision"]}
        )
    else:
        ctx.write(f"wrote the Agent Trace record of {record['vcs']['revision'][:12]} to {target}")
    return EXIT_OK
