"""``bitloops log``, ``blame``, ``review``, and ``explain PATH[:LINE]`` / ``BASE..HEAD``.

Registered with :func:`bitloops.cli._registry.command`; only the standard library is imported at
module level (the CLI must start fast), the rest when a command runs.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bitloops.cli._registry import EXIT_NOT_FOUND, EXIT_OK, Context, UsageError, command

if TYPE_CHECKING:
    from bitloops.checkpoint._history import FileHistoryEntry
    from bitloops.context._blame import BlameLine
    from bitloops.repository import Repository

__all__ = ["entry_json", "explain_other", "history_lines"]

_LINE = re.compile(r"(.+):([1-9][0-9]*)")
_FLAGS = {"--full": "full", "--json": "json"}


def _repo_path(repo: Repository, ctx: Context, path: str) -> str:
    """A path given on the command line (relative to where bitloops runs) from the top."""
    full = os.path.normpath(os.path.join(ctx.cwd, path))
    rel = os.path.relpath(full, repo.toplevel)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise UsageError(f"{path} is outside the work tree {repo.toplevel}")
    return rel.replace(os.sep, "/")


def _path_target(repo: Repository, ctx: Context, text: str) -> tuple[str, int | None] | None:
    """(path, line) when ``text`` names an existing path, or PATH:LINE of one."""
    if os.path.lexists(os.path.join(ctx.cwd, text)):
        return _repo_path(repo, ctx, text), None
    m = _LINE.fullmatch(text)
    if m and os.path.isfile(os.path.join(ctx.cwd, m.group(1))):
        return _repo_path(repo, ctx, m.group(1)), int(m.group(2))
    return None


def _required(value: str | None, name: str, what: str) -> None:
    # Optional for argparse, so that outside a work tree that is what is reported first.
    if not value:
        raise UsageError(f"{name} needs {what}; see `bitloops {name} --help`")


# In the order of docs/cli.md; the why-records as the converter gives them.
_ENTRY_KEYS = (
    "checkpoint_id",
    "short_id",
    "commit_sha",
    "commits",
    "created_at",
    "path",
    "change",
    "old_path",
    "symbols",
    "branch",
    "agents",
    "models",
    "prompts",
    "decisions",
    "alternatives",
    "constraints",
    "plan_items",
    "origin",
    "location",
    "line",
)


def entry_json(entry: FileHistoryEntry) -> dict[str, Any]:
    """One history entry as ``bitloops log --json`` prints it."""
    from bitloops.cli._json import shaped

    return shaped(entry, _ENTRY_KEYS)


_TITLES = (
    ("decisions", "Decision"),
    ("alternatives", "Rejected"),
    ("constraints", "Constraint"),
    ("plan_items", "Plan item"),
)


def history_lines(
    entries: Sequence[FileHistoryEntry], *, width: int = 80, records: bool = True, style: Any = None
) -> list[str]:
    """The ``bitloops log`` / ``explain PATH`` view: a block per checkpoint, newest first."""
    from bitloops.cli._style import PLAIN, clip, date, flat, wrap

    st = style or PLAIN
    out: list[str] = []
    for entry in entries:
        if out:
            out.append("")
        models = (
            ", ".join(f"{m.agent} ({m.model})" if m.model else m.agent for m in entry.models)
            or ", ".join(entry.agents)
            or "no agent recorded"
        )
        head = (
            f"{st.cyan(entry.commit_sha[:12])} {st.bold(entry.short_id)}  {date(entry.created_at)}"
        )
        out.append(head)
        out.append(f"  {models}" + (f"  [{entry.origin}]" if entry.origin != "local" else ""))
        if entry.old_path:
            out.append(f"  renamed {entry.old_path} -> {entry.path}")
        for prompt in entry.prompts[:3]:
            out.extend(wrap(clip(flat(prompt), 400), width, "  asked: ", "         "))
        if entry.symbols:
            out.extend(wrap(", ".join(entry.symbols), width, "  symbols: ", "           "))
        if not records:
            n = len(entry.records)
            if n:
                out.append(st.dim(f"  {n} record(s): bitloops explain {entry.short_id}"))
            continue
        for field, title in _TITLES:
            for rec in getattr(entry, field):
                mark = "[retracted] " if rec.retracted else ""
                detail = f" ({rec.detail})" if rec.detail else ""
                where = f"; about {rec.symbol}" if rec.symbol else ""
                text = f"{title}: {mark}{flat(rec.text)}{detail} [{rec.source}{where}]"
                out.extend(wrap(text, width, "  - ", "    "))
    return out


# -- explain PATH[:LINE], BASE..HEAD -------------------------------------------------------


def explain_other(args: argparse.Namespace, ctx: Context) -> int | None:
    """``explain`` for what is not a single ref: paths, ``PATH:LINE``, ranges, ``cp:``.

    Reads ``args.ref`` as git reads arguments (refs first, paths after ``--``) and
    returns the exit status, or None when the argument is a plain ref for the original
    command (``args.ref`` is then that ref).
    """
    tokens = list(args.ref) if isinstance(args.ref, list) else [args.ref]
    revs: list[str] = []
    paths: list[str] = []
    after = False
    for token in tokens:
        if token == "--" and not after:
            after = True
        elif after:
            paths.append(token)
        elif token in _FLAGS:
            setattr(args, _FLAGS[token], True)
        elif token.startswith("-") and token != "-":
            raise UsageError(f"explain: unknown option {token}; see `bitloops explain --help`")
        else:
            revs.append(token)
    if len(revs) > 1:
        raise UsageError(
            "explain takes one REF, PATH[:LINE] or BASE..HEAD; put paths after -- "
            "(`bitloops explain REF -- PATH`)"
        )
    rev = revs[0] if revs else None
    with ctx.repository() as repo:
        if paths:
            return _explain_paths(repo, args, ctx, paths, rev)
        if rev is None:
            args.ref = "HEAD"
            return None
        if ".." in rev and not os.path.lexists(os.path.join(ctx.cwd, rev)):
            return _explain_range(repo, args, ctx, rev)
        if rev.startswith("cp:") or after:  # `REF --`: a ref, whatever files exist
            args.ref = rev
            return None
        target = _path_target(repo, ctx, rev)
        is_ref = repo.git.try_run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if target is not None and is_ref:
            raise UsageError(
                f"{rev!r} is both a commit and a file; use `bitloops explain {rev} --` for the "
                f"commit or `bitloops explain -- {rev}` for the file"
            )
        if target is None:
            args.ref = rev
            return None
        path, line = target
        return _explain_path(repo, args, ctx, path, line)


def _explain_paths(
    repo: Repository, args: argparse.Namespace, ctx: Context, paths: list[str], rev: str | None
) -> int:
    allowed: set[str] | None = None
    if rev is not None:
        out = repo.git.try_run("rev-list", "--max-count=100000", rev, "--")
        if out is None:
            from bitloops.errors import UnknownRef

            raise UnknownRef(f"{rev!r} names no commit or range; check `git log`")
        allowed = set(out.split())
    status = EXIT_NOT_FOUND
    results = []
    for raw in paths:
        m = _LINE.fullmatch(raw)
        line = None
        if not os.path.lexists(os.path.join(ctx.cwd, raw)) and m:
            raw, line = m.group(1), int(m.group(2))
        path = _repo_path(repo, ctx, raw)
        entries = repo.history(path, line=line)
        if allowed is not None:
            entries = [e for e in entries if allowed & set(e.commits)]
        if entries:
            status = EXIT_OK
        results.append((path, line, entries))
    if args.json:
        ctx.write_json(
            {
                "ref": rev,
                "paths": [
                    {"path": p, "line": ln, "history": [entry_json(e) for e in es]}
                    for p, ln, es in results
                ],
            }
        )
    else:
        for index, (path, line, entries) in enumerate(results):
            if index:
                ctx.write("")
            where = f"{path}:{line}" if line else path
            ctx.write(ctx.style.bold(f"{where}: {len(entries)} checkpoint(s), newest first"))
            ctx.write_lines(history_lines(entries, width=ctx.width, style=ctx.style))
    if status != EXIT_OK:
        ctx.error("no checkpoint touched " + ", ".join(paths))
    return status


def _explain_path(
    repo: Repository, args: argparse.Namespace, ctx: Context, path: str, line: int | None
) -> int:
    from bitloops.checkpoint._history import blame_commit, load_checkpoint, retractions
    from bitloops.cli._explain import explain_lines
    from bitloops.cli._json import checkpoint_json

    if line is None:
        entries = repo.history(path)
        if args.json:
            ctx.write_json({"path": path, "history": [entry_json(e) for e in entries]})
        else:
            ctx.write(ctx.style.bold(f"{path}: {len(entries)} checkpoint(s), newest first"))
            ctx.write_lines(history_lines(entries, width=ctx.width, style=ctx.style))
        if not entries:
            ctx.error(f"no checkpoint touched {path} (or it was never committed with one)")
            return EXIT_NOT_FOUND
        return EXIT_OK
    found = blame_commit(repo, path, line)
    entries = repo.history(path, line=line) if found else []
    cps = [load_checkpoint(repo, e.checkpoint_id) for e in entries]
    if args.json:
        ctx.write_json(
            {
                "path": path,
                "line": line,
                "commit_sha": found[0] if found else None,
                "original_path": found[1] if found else None,
                "original_line": found[2] if found else None,
                "history": [entry_json(e) for e in entries],
                "checkpoints": [checkpoint_json(c, events=args.full) for c in cps],
            }
        )
    else:
        if found is None:
            ctx.write(f"{path}:{line} is not committed yet")
        else:
            sha, name, number = found
            moved = f" (then {name}:{number})" if (name, number) != (path, line) else ""
            ctx.write(ctx.style.bold(f"{path}:{line} was last changed by {sha[:12]}{moved}"))
        gone = retractions(repo)
        for cp in cps:
            ctx.write("")
            ctx.write_lines(
                explain_lines(cp, width=ctx.width, full=args.full, style=ctx.style, retracted=gone)
            )
    if not cps:
        if found is not None:
            ctx.error(f"commit {found[0][:12]} has no checkpoint: made without a recorded session")
        return EXIT_NOT_FOUND
    return EXIT_OK


def _explain_range(repo: Repository, args: argparse.Namespace, ctx: Context, spec: str) -> int:
    from bitloops.checkpoint._history import checkpoint_ids_of_commits, load_checkpoint, retractions
    from bitloops.checkpoint._sources import refresh
    from bitloops.cli._explain import explain_lines
    from bitloops.cli._json import checkpoint_json

    base, dots, head = spec.partition("...") if "..." in spec else spec.partition("..")
    a, b = repo.git.resolve_commit(base or "HEAD"), repo.git.resolve_commit(head or "HEAD")
    shas = repo.git.run("rev-list", "--topo-order", "--max-count=1000", f"{a}{dots}{b}").split()
    refresh(repo)
    ids = checkpoint_ids_of_commits(repo, shas)
    seen: dict[str, None] = {}
    for sha in shas:
        for cid in ids.get(sha, ()):
            seen.setdefault(cid, None)
    cps = [load_checkpoint(repo, cid) for cid in seen]
    if args.json:
        ctx.write_json(
            {
                "ref": spec,
                "commits": shas,
                "checkpoints": [checkpoint_json(c, events=args.full) for c in cps],
            }
        )
    else:
        ctx.write(
            ctx.style.bold(f"{spec}: {len(shas)} commit(s), {len(cps)} checkpoint(s), newest first")
        )
        gone = retractions(repo)
        for cp in cps:
            ctx.write("\n" + "-" * min(ctx.width, 72))
            ctx.write_lines(
                explain_lines(cp, width=ctx.width, full=args.full, style=ctx.style, retracted=gone)
            )
    if not cps:
        ctx.error(f"no commit of {spec} has a checkpoint")
        return EXIT_NOT_FOUND
    return EXIT_OK


# -- log -------------------------------------------------------------------------------------


def _log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH", help="the file (renames are followed)")
    parser.add_argument(
        "--symbol", metavar="NAME", help="only the checkpoints that changed this function, "
        "class or method of PATH (as `explain` lists symbols: login, Client.send)"
    )  # fmt: skip
    parser.add_argument(
        "--limit", type=int, metavar="N", help="show at most N checkpoints (newest first)"
    )
    parser.add_argument(
        "--records", action="store_true",
        help="list each checkpoint's decisions, rejected alternatives and constraints",
    )  # fmt: skip


@command(
    "log",
    add_arguments=_log_arguments,
    description="List the checkpoints that touched PATH (or its symbol NAME), newest first, "
    "following renames: commit, checkpoint id (cp: prefix), date, agents and models, what was "
    "asked, symbols changed, and how many why-records apply. Teammates' checkpoints count "
    "(committed folders, the checkpoint ref, the shared store).",
)
def _log(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.repository() as repo:
        _required(args.path, "log", "PATH")
        path = _repo_path(repo, ctx, args.path)
        entries = repo.history(path, symbol=args.symbol, limit=args.limit)
    if args.json:
        ctx.write_json(
            {"path": path, "symbol": args.symbol, "history": [entry_json(e) for e in entries]}
        )
    else:
        ctx.write_lines(
            history_lines(entries, width=ctx.width, records=args.records, style=ctx.style)
        )
    if not entries:
        what = f"{path}::{args.symbol}" if args.symbol else path
        ctx.error(f"no checkpoint touched {what}")
        return EXIT_NOT_FOUND
    return EXIT_OK


# -- blame -----------------------------------------------------------------------------------


def _blame_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH", help="a file git tracks")


_BLAME_KEYS = (
    "text",
    "commit_sha",
    "original_path",
    "original_line",
    "checkpoint_id",
    "short_id",
    "agent",
    "model",
    "prompt",
    "written_by",
)


def _blame_json(line: BlameLine) -> dict[str, Any]:
    from bitloops.cli._json import shaped

    return {"line": line.number, **shaped(line, _BLAME_KEYS)}


@command(
    "blame",
    add_arguments=_blame_arguments,
    description="Show each line of PATH with the commit that last changed it (git blame, "
    "renames followed), that commit's checkpoint, agent and model, the prompt, and who wrote "
    "the line: agent (its own recorded Write/Edit wrote it), human, or unknown (the edit's "
    "payload was cut or redacted, or it went through a shell or patch tool).",
)
def _blame(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.cli._style import clip, flat
    from bitloops.context._blame import blame

    with ctx.repository() as repo:
        _required(args.path, "blame", "PATH")
        lines = blame(repo, _repo_path(repo, ctx, args.path))
    if args.json:
        ctx.write_json({"path": args.path, "lines": [_blame_json(x) for x in lines]})
        return EXIT_OK
    number_width = len(str(len(lines)))
    for x in lines:
        sha = x.commit_sha[:8] if x.commit_sha else "--------"
        cp = x.short_id or "-"
        who = f"{x.written_by:<7}"
        agent = f"{x.agent or '-'}"
        prefix = f"{sha} {cp:<11} {who} {clip(agent, 14):<14} {x.number:>{number_width}} "
        rest = max(10, ctx.width - len(prefix) - 1)
        ctx.write(ctx.style.dim(prefix) + clip(x.text, rest))
    prompts: dict[str, str] = {}
    for x in lines:
        if x.short_id and x.prompt and x.short_id not in prompts:
            prompts[x.short_id] = x.prompt
    if prompts:
        ctx.write("")
        for short, prompt in prompts.items():
            ctx.write(f"{short}: {clip(flat(prompt), max(20, ctx.width - len(short) - 2))}")
    return EXIT_OK


# -- review ----------------------------------------------------------------------------------


def _review_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "range", nargs="?", metavar="BASE..HEAD", help="the commits of the pull request"
    )
    parser.add_argument(
        "--format", choices=("markdown", "json"), default="markdown",
        help="markdown for a PR description or comment (default), json for scripts",
    )  # fmt: skip


@command(
    "review",
    add_arguments=_review_arguments,
    description="Print, per commit of BASE..HEAD (oldest first), what was asked, the decisions, "
    "rejected alternatives and constraints with their sources, files and symbols, agents and "
    "models, and where the full checkpoint is: GitHub Markdown of at most 60,000 characters "
    "(what was cut is said at the end), or JSON.",
)
def _review(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.context._review import render_markdown, review

    with ctx.repository() as repo:
        _required(args.range, "review", "BASE..HEAD")
        data = review(repo, args.range)
    if args.json or args.format == "json":
        ctx.write_json(data)
    else:
        ctx.out.write(render_markdown(data))
    return EXIT_OK
