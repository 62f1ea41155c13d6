"""The ``bitloops`` command line: a thin client of the public Python API.

Each subcommand is a ``run(args, ctx) -> int`` function registered with :func:`command`,
plus an optional function adding its arguments; :func:`build_parser` turns the registry
into an :mod:`argparse` parser. Rendering (plain lines of text) is kept apart from output
and from the curses loop of ``rewind``, so every screen can be tested without a terminal.

Exit statuses: 0 ok, 1 nothing found or verification failed, 2 usage or user error.

Only the standard library is imported at module level: ``bitloops hook`` runs often and
must start fast, so the database and model modules load when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from bitloops import __version__
from bitloops.errors import BitloopsError, CheckpointNotFound, UnknownRef

if TYPE_CHECKING:
    from bitloops.checkpoint._verify import Problem, VerifyReport
    from bitloops.model import (
        Alternative,
        Checkpoint,
        Constraint,
        Decision,
        Event,
        SessionInfo,
        Status,
    )
    from bitloops.repository import Repository

__all__ = [
    "COMMANDS",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Context",
    "RewindBrowser",
    "Style",
    "build_parser",
    "checkpoint_json",
    "command",
    "command_parsers",
    "event_line",
    "explain_lines",
    "format_age",
    "main",
    "rewind_lines",
    "status_json",
    "status_lines",
    "verify_json",
    "verify_lines",
]

#: The command did what was asked.
EXIT_OK = 0
#: Nothing was found (no checkpoint), or ``verify`` found a problem.
EXIT_NOT_FOUND = 1
#: Bad usage or a user error: not a repository, unknown ref, unusable database or settings.
EXIT_USAGE = 2
# What a shell reports for a process killed by SIGINT / SIGPIPE.
_EXIT_INTERRUPTED = 130
_EXIT_BROKEN_PIPE = 141

#: ``bitloops hook NAME`` for agents (see docs/agents.md), beside the git hook names.
AGENT_HOOKS = ("claude-code", "codex", "gemini", "cursor", "copilot", "opencode")

_LABEL = 13  # "Checkpoints: " is the longest label of the status view


# -- styling ---------------------------------------------------------------------------


class Style:
    """ANSI colour for terminal output; every method returns its text unchanged when off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: IO[str], environ: Mapping[str, str] | None = None) -> Style:
        """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
        env = os.environ if environ is None else environ
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()) and not env.get("NO_COLOR"))

    def _code(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        """Headings."""
        return self._code("1", text)

    def dim(self, text: str) -> str:
        """Secondary details: times, ids, "none recorded"."""
        return self._code("2", text)

    def green(self, text: str) -> str:
        """Good news: enabled, active, verified."""
        return self._code("32", text)

    def yellow(self, text: str) -> str:
        """Attention: idle sessions, warnings, notes."""
        return self._code("33", text)

    def red(self, text: str) -> str:
        """Failures."""
        return self._code("31", text)

    def cyan(self, text: str) -> str:
        """Commit SHAs."""
        return self._code("36", text)


PLAIN = Style(False)


# -- the command registry ----------------------------------------------------------------


class Context:
    """What every command receives: where to run, where to write, and how."""

    def __init__(
        self,
        cwd: Path,
        *,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        width: int | None = None,
        color: bool | None = None,
    ) -> None:
        self.cwd = cwd
        self.out = sys.stdout if out is None else out
        self.err = sys.stderr if err is None else err
        self.width = width if width is not None else max(40, shutil.get_terminal_size().columns)
        self.style = Style(color) if color is not None else Style.for_stream(self.out)

    @contextmanager
    def repository(self) -> Iterator[Repository]:
        """The repository containing :attr:`cwd`, closed when the block ends."""
        from bitloops.repository import Repository

        with Repository.open(self.cwd) as repo:
            yield repo

    def write(self, text: str = "") -> None:
        """Print one line (or several joined by newlines) to the output."""
        _write(self.out, text + "\n")

    def write_lines(self, lines: Iterable[str]) -> None:
        """Print each line."""
        for line in lines:
            self.write(line)

    def write_json(self, data: Any) -> None:
        """Print ``data`` as indented JSON, never coloured."""
        _write(self.out, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def error(self, message: str) -> None:
        """Print ``bitloops: <message>`` to the error stream."""
        _write(self.err, f"bitloops: {message}\n")

    @contextmanager
    def progress(self, what: str, unit: str) -> Iterator[Callable[[int, int], None]]:
        """A ``tick(done, total)`` that shows progress on a terminal's error stream.

        Nothing is shown for the first second (most runs end sooner), nor when the
        error stream is not a terminal; the line is cleared at the end.
        """
        start = time.monotonic()
        shown = False
        isatty = getattr(self.err, "isatty", None)
        live = bool(isatty and isatty())

        def tick(done: int, total: int) -> None:
            nonlocal shown
            if live and time.monotonic() - start >= 1.0:
                _write(self.err, f"\r{what}: {done}/{total} {unit}")
                self.err.flush()
                shown = True

        try:
            yield tick
        finally:
            if shown:
                _write(self.err, "\r\x1b[K")


def _write(stream: IO[str], text: str) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:
        # A terminal that cannot show some character still gets the rest of the line.
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "replace").decode(encoding))


class Command(NamedTuple):
    """One subcommand: its one-line help, how it adds its arguments, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], int]
    description: str
    json_option: bool = True


#: Every subcommand, in the order ``bitloops --help`` lists them.
COMMANDS: dict[str, Command] = {}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no arguments of its own."""


def command(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments,
    *,
    description: str | None = None,
    json_option: bool = True,
) -> Callable[
    [Callable[[argparse.Namespace, Context], int]], Callable[[argparse.Namespace, Context], int]
]:
    """Register ``run`` as the subcommand ``name`` (used as a decorator).

    ``add_arguments`` adds the command's own arguments; ``--json`` is added for every
    command unless ``json_option=False``. ``description`` is the longer text of its ``--help``.
    """

    def register(
        run: Callable[[argparse.Namespace, Context], int],
    ) -> Callable[[argparse.Namespace, Context], int]:
        COMMANDS[name] = Command(help, add_arguments, run, description or help, json_option)
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    """The ``bitloops`` argument parser, with one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog="bitloops",
        description="Keep the reasoning behind AI-written code: sessions recorded as they "
        "happen, immutable checkpoints per git commit. Reference: docs/cli.md.",
        epilog="Run `bitloops COMMAND --help` for a command's options. Exit status: 0 ok, "
        "1 nothing found or verification failed, 2 usage or user error.",
    )
    parser.add_argument(
        "-C",
        dest="chdir",
        metavar="PATH",
        action="append",
        default=[],
        help="run as if bitloops was started in PATH (repeatable; each is relative to the "
        "one before, like git -C)",
    )
    parser.add_argument("--version", action="version", version=f"bitloops {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, cmd in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=cmd.help,
            description=cmd.description,
        )
        if cmd.json_option:
            sub.add_argument(
                "--json",
                action="store_true",
                help="print JSON for scripts (shape in docs/cli.md) instead of text",
            )
        cmd.add_arguments(sub)
        sub.set_defaults(run=cmd.run)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparser of each command in a parser made by :func:`build_parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bitloops`` with ``argv`` (default: the process's arguments); return the status."""
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    ctx = Context(Path.cwd())
    try:
        ctx.cwd = _start_dir(args.chdir)
        status: int = args.run(args, ctx)
        return status
    except CheckpointNotFound as exc:
        ctx.error(str(exc))
        return EXIT_NOT_FOUND
    except BitloopsError as exc:
        ctx.error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`bitloops rewind | head`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return _EXIT_BROKEN_PIPE


class _UsageError(BitloopsError):
    """A command-line mistake the library knows nothing about (a bad -C, say)."""


def _start_dir(chdirs: Sequence[str]) -> Path:
    where = Path.cwd()
    for step in chdirs:
        where = where / step
        if not where.is_dir():
            raise _UsageError(f"cannot change to {step!r}: no such directory")
    return where


# -- formatting helpers ----------------------------------------------------------------------


def format_age(ts: datetime, now: datetime | None = None) -> str:
    """How long ago ``ts`` was, the way people say it: ``"2m ago"``, ``"3d ago"``."""
    seconds = int(((now or datetime.now(UTC)) - ts).total_seconds())
    if seconds < 1:
        return "just now"
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _date(ts: datetime) -> str:
    return f"{ts.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _iso(ts: datetime | None) -> str | None:
    from bitloops._codec import format_ts

    return None if ts is None else format_ts(ts)


def _duration(seconds: float) -> str:
    from bitloops.checkpoint._summary import format_duration

    return format_duration(seconds)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped to ``width``, paragraphs kept, the first line led by ``first``."""
    room = max(20, width - max(len(first), len(rest)))
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        for line in textwrap.wrap(paragraph, room, break_on_hyphens=False) or [""]:
            out.append((first + line).rstrip())
            first = rest
    return out


def _pack(items: Sequence[str], width: int, first: str, rest: str) -> list[str]:
    """``items`` joined by commas, wrapped between items only."""
    out: list[str] = []
    line = first
    for index, item in enumerate(items):
        piece = item if index == len(items) - 1 else item + ","
        if line not in (first, rest) and len(line) + 1 + len(piece) > width:
            out.append(line)
            line = rest
        line += piece if line in (first, rest) else " " + piece
    return [*out, line]


def _label(name: str, value: str) -> str:
    # An empty name continues the line above: no colon of its own.
    return f"{name + ':' if name else '':<{_LABEL}}{value}"


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _headline(cp: Checkpoint) -> str:
    """The first line of what was asked (or of the summary prose)."""
    for text in (*cp.summary.intent, cp.summary.text or ""):
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return "(no prompt recorded)"


def _agents(cp: Checkpoint) -> list[str]:
    return list(cp.summary.agents) or sorted({s.agent for s in cp.sessions})


# -- status ----------------------------------------------------------------------------------


def _session_json(info: SessionInfo) -> dict[str, Any]:
    return {
        "session_id": info.session_id,
        "agent": info.agent,
        "model": info.model,
        "status": info.status,
        "started_at": _iso(info.started_at),
        "last_event_at": _iso(info.last_event_at),
        "ended_at": _iso(info.ended_at),
        "branch": info.branch,
        "event_count": info.event_count,
    }


def status_json(
    status: Status,
    warnings: Sequence[str] = (),
    *,
    pending_folders: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``bitloops status --json``: the shape documented in docs/cli.md.

    ``pending_folders`` (full SHAs) adds the key of that name when given.
    """
    data = {
        "capture_enabled": status.capture_enabled,
        "git_hooks": list(status.git_hooks),
        "strategy": status.strategy,
        "agents": list(status.agents),
        "agents_enabled": list(status.agents_enabled),
        "sessions": [_session_json(s) for s in status.active_sessions],
        "draft_event_count": status.draft_event_count,
        "checkpoint_count": status.checkpoint_count,
        "committed_store": status.committed_store,
        "unsent_count": status.unsent_count,
        "unsent_error": status.unsent_error,
        "warnings": list(warnings),
    }
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
        _label("Capture", _capture_state(status, style)),
        _label("Strategy", status.strategy),
        _label("Agents", _agents_state(status, style)),
    ]
    if not status.active_sessions:
        out.append(_label("Session", style.dim("none open")))
    for index, info in enumerate(status.active_sessions):
        state = style.green(info.status) if info.status == "active" else style.yellow(info.status)
        when = f"started {format_age(info.started_at, now)}"
        if info.last_event_at is not None and info.status != "active":
            when += f", last event {format_age(info.last_event_at, now)}"
        detail = (
            f"{state} ({when}): {info.agent}, {info.model or 'model unknown'}, "
            f"{_plural(info.event_count, 'draft event')}"
        )
        out.append(_label("Session" if index == 0 else "", detail))
    out.append(_label("Draft", f"{_plural(status.draft_event_count, 'event')} not yet committed"))
    if pending_folders:
        count = _plural(len(pending_folders), "folder")
        out.append(_label("Pending", f"{count} (committed with your next commit)"))
        out += _pack([sha[:12] for sha in pending_folders], 80, " " * _LABEL, " " * _LABEL)
    out.append(_label("Checkpoints", f"{status.checkpoint_count} total (committed)"))
    if status.committed_store is not None:
        out.append(_label("Team store", status.committed_store))
        if status.unsent_count:
            waiting = f"{_plural(status.unsent_count, 'checkpoint')} waiting to be sent"
            out.append(_label("", style.yellow(waiting + " (run `bitloops sync`)")))
            if status.unsent_error:
                out.append(_label("", style.dim(f"last error: {status.unsent_error}")))
        else:
            out.append(_label("", "every checkpoint sent"))
    for index, warning in enumerate(warnings):
        out.append(_label("Warnings" if index == 0 else "", style.yellow(warning)))
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
    "what is being captured right now",
    description="Show whether capture is on, the strategy, the agents seen, the sessions open "
    "in this worktree (active or idle, with agent, model and age), the draft's event count, "
    "the number of committed checkpoints, the checkpoint folders waiting for the next commit "
    "(checkpoint_files = branch), and any settings warnings.",
)
def _status(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.capture._spool import notices as spool_notices
    from bitloops.git._hooks import pending_folders, unstage_after_abort

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
    from bitloops.capture._spool import notices as spool_notices

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


# -- explain ------------------------------------------------------------------------------------


def _event_text(event: Event) -> str:
    """A one-line rendering of an event's payload."""
    p = event.payload
    text = p.get("text")
    kind = event.kind
    if kind == "decision" and isinstance(text, str):
        return text + (f" (because {p['rationale']})" if p.get("rationale") else "")
    if kind == "alternative" and isinstance(text, str):
        return text + (f" (rejected: {p['reason']})" if p.get("reason") else "")
    if isinstance(text, str):
        return text
    if kind == "tool_use":
        out = f"{p.get('name', '?')} {_compact(p.get('input'))}"
        return out + (f" -> {_compact(p['output'])}" if "output" in p else "")
    if kind == "tool_result":
        mark = " (error)" if p.get("is_error") else ""
        return f"{p.get('tool_use_id', '?')}{mark} -> {_compact(p.get('output'))}"
    if kind == "file_change":
        path = p.get("path", "?")
        if p.get("old_path"):
            path = f"{p['old_path']} -> {path}"
        return f"{p.get('change', '?')} {path}"
    if kind == "error" and isinstance(p.get("message"), str):
        return str(p["message"])
    if kind == "session_start":
        base = p.get("base_commit")
        return f"branch {p.get('branch') or '(detached)'}, at {base[:12] if base else '(none)'}"
    if kind == "session_end":
        return str(p.get("reason") or "")
    return _compact(dict(p)) if p else ""


def event_line(
    event: Event,
    width: int,
    *,
    agent_width: int = 0,
    kind_width: int = 11,
    with_date: bool = False,
) -> tuple[str, str]:
    """One transcript line as ``(prefix, text)``: time, agent and kind, then the payload.

    The two parts together fit in ``width`` columns; the caller styles the prefix.
    """
    ts = event.ts.astimezone(UTC)
    when = f"{ts:%Y-%m-%d %H:%M:%S}" if with_date else f"{ts:%H:%M:%S}"
    prefix = f"  {when}  {event.agent:<{agent_width}}  {event.kind:<{kind_width}}  "
    if len(prefix) >= width:
        return _clip(prefix, width), ""
    return prefix, _clip(_flat(_event_text(event)), width - len(prefix))


def _transcript_lines(events: Sequence[Event], width: int, style: Style) -> list[str]:
    if not events:
        return [style.bold("Transcript"), style.dim("  no events")]
    days = {e.ts.astimezone(UTC).date() for e in events}
    one_day = len(days) == 1
    heading = f"Transcript ({_plural(len(events), 'event')}"
    heading += f", {next(iter(days)):%Y-%m-%d} UTC)" if one_day else ", UTC)"
    agent_width = max(len(e.agent) for e in events)
    kind_width = max(len(kind) for kind in {e.kind for e in events})
    out = [style.bold(heading)]
    for event in events:
        prefix, text = event_line(
            event, width, agent_width=agent_width, kind_width=kind_width, with_date=not one_day
        )
        out.append(style.dim(prefix) + text if text else style.dim(prefix.rstrip()))
    return out


_CHANGE_LETTERS = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}


def _file_mark(in_commit: bool, by_agent: bool) -> str:
    if in_commit and by_agent:
        return "in commit (agent)"
    return "in commit" if in_commit else "agent only"


def explain_lines(
    cp: Checkpoint,
    *,
    width: int = 80,
    full: bool = False,
    style: Style = PLAIN,
    now: datetime | None = None,
    retracted: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``bitloops explain`` view of one checkpoint, one string per line.

    ``width`` is the terminal width text is wrapped (and transcript lines cut) to;
    ``full`` adds the transcript; ``retracted`` maps retracted record ids to the reason.
    """
    from bitloops.checkpoint._summary import plan_heading, plan_lines

    s = cp.summary
    none = style.dim("  none recorded")
    out = [
        _label(
            "Commit", style.cyan(cp.commit_sha[:12]) + (f" on {cp.branch}" if cp.branch else "")
        ),
        _label("Checkpoint", cp.checkpoint_id),
        _label("Created", f"{_date(cp.created_at)} ({format_age(cp.created_at, now)})"),
    ]
    also = [sha[:12] for sha in cp.commits if sha != cp.commit_sha]
    if also:
        out.append(_label("Also linked", ", ".join(also)))
    agents = [
        f"{info.agent} ({info.model or 'model unknown'}): "
        f"{_duration(info.duration.total_seconds())}, {_plural(info.event_count, 'event')}"
        for info in cp.sessions
    ]
    seen = {(info.agent, info.model) for info in cp.sessions}
    agents += [
        f"{m.agent} ({m.model or 'model unknown'})"
        for m in cp.models
        if (m.agent, m.model) not in seen
    ]
    for index, text in enumerate(agents or ["none recorded"]):
        out.append(_label("Agents" if index == 0 else "", text))
    out.append(_label("Duration", _duration(s.duration_seconds)))
    counts = [f"{kind} {n}" for kind, n in s.event_counts.items()]
    total = str(sum(s.event_counts.values()))
    if counts:
        counts[0], counts[-1] = f"{total} ({counts[0]}", counts[-1] + ")"
    out += _pack(counts or [total], width, _label("Events", ""), " " * _LABEL)

    def section(title: str, items: Sequence[str], detail: Sequence[str | None] = ()) -> None:
        out.extend(["", style.bold(title)])
        if not items:
            out.append(none)
        for index, item in enumerate(items):
            out.extend(_wrap(item, width, "  - ", "    "))
            why = detail[index] if index < len(detail) else None
            if why:
                out.extend(_wrap(why, width, "    ", "    "))

    if s.text:
        out.extend(["", style.bold("Summary"), *_wrap(s.text.strip(), width, "  ", "  ")])
    section("What was asked", s.intent)
    section("Outcome", s.outcome)
    gone = retracted or {}

    def records(title: str, found: Sequence[Decision | Alternative | Constraint]) -> None:
        items, details = [], []
        for record in found:
            reason = gone.get(record.record_id) if record.record_id else None
            items.append(("[retracted] " if reason else "") + record.text)
            details.append(_record_detail(record, reason))
        section(title, items, details)

    records("Decisions", s.decisions)
    records("Alternatives rejected", s.alternatives)
    records("Constraints followed", s.constraints)
    out.extend(["", style.bold("Plan")])
    if not s.plans:
        out.append(none)
    for plan in s.plans:
        reason = gone.get(plan.record_id) if plan.record_id else None
        heading = plan_heading(plan) + (f"; retracted: {reason}" if reason else "")
        out.extend(_wrap(heading, width, "  ", "    "))
        for line in plan_lines(plan):
            out.extend(_wrap(line, width, "    ", "      "))
    out.extend(["", style.bold("Files")])
    if cp.files:
        names = [f"{f.old_path} -> {f.path}" if f.old_path else f.path for f in cp.files]
        column = min(max(len(n) for n in names), max(20, width // 2))
        for f, name in zip(cp.files, names, strict=True):
            letter = _CHANGE_LETTERS.get(f.change, "?")
            mark = _file_mark(f.in_commit, f.by_agent)
            out.append(f"  {letter} {name:<{column}}  {style.dim(mark)}")
    elif s.files:
        out.extend(f"  {path}" for path in s.files)
    else:
        out.append(none)
    out.extend(["", style.bold("Symbols")])
    if cp.symbols:
        out.extend(
            f"  {sym.path}::{sym.name} {style.dim('(' + sym.kind + ')')}" for sym in cp.symbols
        )
    elif s.symbols:
        out.extend(f"  {name}" for name in s.symbols)
    else:
        out.append(none)
    if full:
        out.extend(["", *_transcript_lines(cp.events, width, style)])
    return out


def _record_detail(record: Decision | Alternative | Constraint, retracted: str | None) -> str:
    """The second line of a why-record: why, where it applies, and where it came from."""
    why = getattr(record, "rationale", None) or getattr(record, "reason", None)
    parts = []
    if why:
        parts.append(("because " if hasattr(record, "rationale") else "rejected: ") + why)
    stated_by = getattr(record, "stated_by", None)
    if stated_by:
        parts.append(f"stated by the {stated_by}")
    if record.applies_to:
        parts.append("applies to " + ", ".join(record.applies_to))
    if retracted is not None:
        parts.append(f"retracted: {retracted}")
    source = record.source
    if source not in ("agent", "plan-tool"):
        source += f" {record.confidence:.2f}"
    ev = record.evidence
    if ev is not None and ev.excerpt and record.source != "agent":
        source += f", from {ev.kind or 'an event'} #{ev.seq}: “{_clip(_flat(ev.excerpt), 120)}”"
    parts.append(f"[{source}]")
    return "; ".join(parts)


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "ts": _iso(event.ts),
        "session_id": event.session_id,
        "event_id": event.event_id,
        "agent": event.agent,
        "model": event.model,
        "kind": event.kind,
        "payload": dict(event.payload),
        "artefacts": list(event.artefacts),
    }


def checkpoint_json(
    cp: Checkpoint, *, events: bool = False, retracted: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One checkpoint as ``bitloops explain --json`` prints it (``events`` for --full).

    ``retracted`` (record id -> reason) adds ``retractions``: those of this checkpoint's
    records that were retracted, and why.
    """
    from bitloops._codec import unstructure

    s = cp.summary
    why = unstructure(s)
    data: dict[str, Any] = {
        "checkpoint_id": cp.checkpoint_id,
        "commit_sha": cp.commit_sha,
        "commits": list(cp.commits),
        "created_at": _iso(cp.created_at),
        "branch": cp.branch,
        "strategy": cp.strategy,
        "content_hash": cp.content_hash,
        "parent_checkpoint_id": cp.parent_checkpoint_id,
        "parent_hash": cp.parent_hash,
        "summary": {
            "text": s.text,
            "intent": list(s.intent),
            "outcome": list(s.outcome),
            # The why-records as session.json has them (source, evidence, applies_to, ids).
            **{key: why[key] for key in ("decisions", "alternatives", "constraints", "plans")},
            "agents": list(s.agents),
            "models": list(s.models),
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "duration_seconds": s.duration_seconds,
            "event_counts": dict(s.event_counts),
        },
        "files": [
            {
                "path": f.path,
                "change": f.change,
                "old_path": f.old_path,
                "in_commit": f.in_commit,
                "by_agent": f.by_agent,
            }
            for f in cp.files
        ],
        "symbols": [
            {"path": x.path, "name": x.name, "kind": x.kind, "language": x.language}
            for x in cp.symbols
        ],
        "models": [{"agent": m.agent, "model": m.model} for m in cp.models],
        "sessions": [_session_json(info) for info in cp.sessions],
        "event_count": len(cp.events),
    }
    gone = retracted or {}
    ids = {
        r["record_id"]
        for key in ("decisions", "alternatives", "constraints", "plans")
        for r in why[key]
        if r.get("record_id")
    }
    data["retractions"] = {rid: gone[rid] for rid in sorted(ids & gone.keys())}
    if events:
        data["events"] = [_event_json(e) for e in cp.events]
    return data


def _find_checkpoints(repo: Repository, ref: str) -> list[Checkpoint]:
    """Every checkpoint linked to the commit ``ref`` names, or the one whose id it is."""
    try:
        return repo.checkpoints(commit=ref)
    except UnknownRef:
        # Not a commit: a checkpoint id, or UnknownRef again with a message naming both.
        return [repo.checkpoint(ref)]


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        # REMAINDER keeps `--`, so that refs and paths are told apart as git does
        nargs=argparse.REMAINDER,
        metavar="REF",
        help="a commit (SHA, branch, tag, HEAD~2...), a checkpoint id or cp: prefix, "
        "BASE..HEAD, PATH or PATH:LINE; paths after -- when ambiguous (default: HEAD)",
    )
    parser.add_argument(
        "--full", action="store_true", help="add the transcript, one line per event"
    )


@command(
    "explain",
    "the reasoning behind a commit",
    _explain_arguments,
    description="Show what was asked, the outcome, the decisions and their rationale, the "
    "alternatives rejected, constraints, plan, files (in the commit or only reported by "
    "the agent), symbols, agents and models, duration and event counts of every checkpoint "
    "linked to REF, newest first. REF may also be a checkpoint id or cp: prefix, a range "
    "BASE..HEAD (every checkpoint of it), a PATH (the checkpoints that touched it, with the "
    "records that apply) or PATH:LINE (the checkpoint of the commit that last changed the "
    "line); paths go after -- when a name is both.",
)
def _explain(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.cli._context import explain_other

    other = explain_other(args, ctx)  # paths, PATH:LINE, BASE..HEAD; else args.ref is a ref
    if other is not None:
        return other
    with ctx.repository() as repo:
        found = _find_checkpoints(repo, args.ref)
        if not found:
            try:
                repo.checkpoint(args.ref)  # for the library's message naming the commit
                message = f"{args.ref!r} has no checkpoint"
            except CheckpointNotFound as exc:
                message = str(exc)
            if args.json:
                ctx.write_json({"ref": args.ref, "checkpoints": []})
            ctx.error(message)
            return EXIT_NOT_FOUND
        retracted = repo.retracted()
        from bitloops.checkpoint._distill import (  # the llm records, if any
            distillation_json,
            with_distillation,
        )

        distilled = {c.checkpoint_id: distillation_json(repo, c, retracted) for c in found}
        found = [with_distillation(repo, c, retracted) for c in found]
        if args.json:
            ctx.write_json(
                {
                    "ref": args.ref,
                    "checkpoints": [
                        {
                            **checkpoint_json(c, events=args.full, retracted=retracted),
                            "distillation": distilled[c.checkpoint_id],
                        }
                        for c in found
                    ],
                }
            )
            return EXIT_OK
        if len(found) > 1:
            shared = set.intersection(*(set(cp.commits) for cp in found))
            sha = min(shared)[:12] if shared else args.ref
            ctx.write(ctx.style.bold(f"{len(found)} checkpoints of {sha}, newest first"))
        for index, cp in enumerate(found):
            if index or len(found) > 1:
                ctx.write("" if index == 0 else "\n" + "-" * min(ctx.width, 72))
            ctx.write_lines(
                explain_lines(
                    cp, width=ctx.width, full=args.full, style=ctx.style, retracted=retracted
                )
            )
    return EXIT_OK


# -- verify -------------------------------------------------------------------------------------


def verify_json(report: VerifyReport) -> dict[str, Any]:
    """``bitloops verify --json``: the shape documented in docs/cli.md."""
    return {
        "ok": report.ok,
        "checked": report.checked,
        "problems": [
            {
                "severity": p.severity,
                "kind": p.kind,
                "checkpoint_id": p.checkpoint_id,
                "commit_sha": p.commit_sha,
                "message": p.message,
                "store": p.store,
            }
            for p in report.problems
        ],
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
    verdict = f"{_plural(report.checked, 'checkpoint')} checked: "
    verdict += f"{_plural(errors, 'error')}, {_plural(notes, 'note')}"
    out.append(verdict + (" - " + style.green("OK") if report.ok else " - " + style.red("FAILED")))
    return out


@command(
    "verify",
    "check that committed history is intact",
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


# -- search ------------------------------------------------------------------------------------


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query",
        metavar="QUERY",
        nargs="*",
        help='words to find (all must match), "quoted phrases", prefix*, AND / OR / NOT',
    )
    parser.add_argument(
        "-n", "--limit", type=int, default=20, metavar="N", help="show at most N hits (default 20)"
    )


@command(
    "search",
    "full-text search over committed transcripts",
    _search_arguments,
    description="Find committed events (prompts, responses, reasoning, decisions, tool use, "
    "...) whose text matches QUERY, newest checkpoint first, each with its commit, kind, "
    "agent and an excerpt with the matches in [brackets]. Uses SQLite FTS5 query syntax; "
    "input it cannot parse is searched as plain words. Exit status 1 when nothing matches.",
)
def _search(args: argparse.Namespace, ctx: Context) -> int:
    query = " ".join(args.query)
    with ctx.repository() as repo:
        if not query.strip():
            raise _UsageError("give one or more words to search for, e.g. `bitloops search retry`")
        hits = repo.search(query, limit=args.limit)
    if args.json:
        ctx.write_json(
            [
                {
                    "checkpoint_id": h.checkpoint_id,
                    "commit_sha": h.commit_sha,
                    "commits": list(h.commits),
                    "created_at": _iso(h.created_at),
                    "snippet": h.snippet,
                    "event": _event_json(h.event),
                }
                for h in hits
            ]
        )
    else:
        st = ctx.style
        # Cut excerpts to the terminal's width; piped output keeps them whole.
        on_terminal = bool(getattr(ctx.out, "isatty", lambda: False)())
        for h in hits:
            head = f"{h.commit_sha[:12]}  {_date(h.created_at)}  {h.event.kind:<11} "
            head += f"{h.event.agent:<12} "
            text = _flat(h.snippet)
            if on_terminal:
                text = _clip(text, max(20, ctx.width - len(head)))
            ctx.write(st.dim(head) + text)
        if not hits:
            ctx.error(f"nothing matches {query!r} in committed transcripts")
    return EXIT_OK if hits else EXIT_NOT_FOUND


# -- doctor ------------------------------------------------------------------------------------


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
    "diagnose stuck sessions, missed promotions, hooks and damage",
    _doctor_arguments,
    description="Check the database (integrity, schema version), the git hooks (missing, "
    "edited, or pointing at an installation that is gone), sessions left open, draft events "
    "that missed their commit, and everything verify checks. With --fix, repair what is "
    "safe to repair; nothing recorded is ever deleted. Exit status 1 while an error or "
    "warning remains.",
)
def _doctor(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import timedelta

    from bitloops.doctor import diagnose

    stale = None if args.stale_minutes is None else timedelta(minutes=args.stale_minutes)
    with ctx.repository() as repo:
        report = diagnose(repo, fix=args.fix, stale_after=stale)
    if args.json:
        ctx.write_json(
            {
                "ok": report.ok,
                "findings": [
                    {
                        "check": f.check,
                        "severity": f.severity,
                        "message": f.message,
                        "repair": f.repair,
                        "fixed": f.fixed,
                    }
                    for f in report.findings
                ],
            }
        )
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


# -- resume ------------------------------------------------------------------------------------


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "branch",
        metavar="BRANCH",
        nargs="?",
        help="the branch whose work to pick up (default: the current branch)",
    )
    parser.add_argument(
        "--no-checkout", action="store_true", help="only show the session; do not switch branch"
    )
    parser.add_argument(
        "--no-restore",
        action="store_true",
        help="do not write the session's transcript where its agent looks for it",
    )


@command(
    "resume",
    "switch to a branch and show how to continue its session",
    _resume_arguments,
    description="Check BRANCH out (git refuses over conflicting local changes), show its "
    "newest checkpoint and the most recent session recorded on it, write that session's "
    "transcript where its agent looks for it (Claude Code, Codex, Gemini CLI; an existing "
    "file is never overwritten), and print the command that continues the session with the "
    "agent that produced it, where the agent has one.",
)
def _resume(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.agents._resume import resume

    with ctx.repository() as repo:
        branch = args.branch or repo.git.branch()
        if branch is None:
            raise _UsageError("HEAD is detached; name the branch to resume")
        info = resume(repo, branch, checkout=not args.no_checkout, restore=not args.no_restore)
    session = info.session
    restored = info.transcript
    if args.json:
        ctx.write_json(
            {
                "branch": info.branch,
                "head": info.head,
                "checkpoint": None if info.checkpoint is None else checkpoint_json(info.checkpoint),
                "session": None if session is None else _session_json(session),
                "command": info.command,
                "transcript": None
                if restored is None
                else {"path": restored.path, "restored": restored.restored, "note": restored.note},
            }
        )
        return EXIT_OK
    ctx.write(_label("Branch", f"{info.branch} at {info.head[:12]}"))
    if info.checkpoint is not None:
        cp = info.checkpoint
        ctx.write(_label("Checkpoint", f"{cp.commit_sha[:12]}  {_headline(cp)}"))
    else:
        ctx.write(_label("Checkpoint", "none on this branch yet"))
    if session is None:
        ctx.write(_label("Session", "none recorded on this branch"))
        return EXIT_OK
    when = format_age(session.last_event_at or session.started_at)
    ctx.write(
        _label("Session", f"{session.session_id} ({session.agent}, {session.model or '-'}, "
               f"{session.status}, last active {when})")
    )  # fmt: skip
    if restored is not None:
        ctx.write(_label("Transcript", restored.note))
    if info.command:
        ctx.write(_label("Continue", info.command))
    else:
        ctx.write(
            _label("Continue", f"open {session.agent} and resume session {session.session_id}")
        )
    return EXIT_OK


# -- import -------------------------------------------------------------------------------------


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    # Optional for argparse so that outside a work tree the usual error comes first.
    parser.add_argument(
        "agent",
        metavar="NAME",
        nargs="?",
        help="the agent that wrote the file: claude-code, codex, gemini (or any integration "
        "that can read its transcripts)",
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="the transcript file: a Claude Code JSONL, a Codex rollout, a Gemini CLI "
        "session file, ...",
    )
    parser.add_argument(
        "--session-id",
        metavar="ID",
        help="the session id, for a file that does not name its own (a Cursor transcript "
        "moved out of its agent-transcripts folder)",
    )


@command(
    "import",
    "import an agent's existing transcript as a session",
    _import_arguments,
    description="Read a whole transcript file an agent wrote before bitloops was enabled and "
    "record it as one ended session of this worktree, with the agent's session id and the "
    "file's timestamps. It goes into the draft: the next commit's checkpoint holds it. "
    "Importing the same file again adds nothing; a session the hooks captured in part gets "
    "only what it lacks.",
)
def _import(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.capture._importing import import_transcript

    with ctx.repository() as repo:
        if args.agent is None or args.path is None:
            from bitloops.capture._importing import importable_agents

            raise _UsageError(
                "name the agent and the transcript file: bitloops import NAME PATH "
                f"(NAME one of {', '.join(importable_agents())})"
            )
        result = import_transcript(
            repo, args.agent, ctx.cwd / args.path, session_id=args.session_id
        )
    if args.json:
        ctx.write_json(
            {
                "agent": result.agent,
                "session_id": result.session_id,
                "path": result.path,
                "events_added": result.events_added,
                "new": result.new,
                "unmapped": list(result.unmapped),
                "other_sessions": list(result.other_sessions),
            }
        )
    elif result.events_added == 0:
        ctx.write(
            f"{result.agent} session {result.session_id}: nothing new in {result.path} "
            "(already imported or recorded)"
        )
    else:
        what = "new session" if result.new else "added to the session"
        ctx.write(
            f"{result.agent} session {result.session_id}: "
            f"{_plural(result.events_added, 'event')} imported from {result.path} ({what}); "
            "the next commit's checkpoint holds them"
        )
    if not args.json:
        for other in result.other_sessions:
            ctx.write(f"  earlier records went to the session they came from: {other}")
        for path in result.unmapped:
            ctx.write(
                f"  not a file of this work tree (recorded elsewhere), no file change: {path}"
            )
    return EXIT_OK


# -- rewind -------------------------------------------------------------------------------------


def rewind_lines(checkpoints: Sequence[Checkpoint], width: int = 80) -> list[str]:
    """One line per checkpoint: short SHA, UTC date, agents, first line of what was asked."""
    agents = [", ".join(_agents(cp)) or "-" for cp in checkpoints]
    column = min(max((len(a) for a in agents), default=0), 24)
    out = []
    for cp, who in zip(checkpoints, agents, strict=True):
        line = f"{cp.commit_sha[:12]}  {_date(cp.created_at)}  {_clip(who, column):<{column}}  "
        out.append(line + _clip(_headline(cp), width - len(line)))
    return out


def _rewind_json(cp: Checkpoint) -> dict[str, Any]:
    return {
        "checkpoint_id": cp.checkpoint_id,
        "commit_sha": cp.commit_sha,
        "created_at": _iso(cp.created_at),
        "branch": cp.branch,
        "agents": _agents(cp),
        "headline": _headline(cp) if cp.summary.intent or cp.summary.text else None,
        "event_count": len(cp.events),
    }


class RewindBrowser:
    """The state of the interactive ``rewind`` browser, independent of curses.

    Feed it actions (``up``, ``down``, ``page_up``, ``page_down``, ``home``, ``end``,
    ``open``, ``back``, ``transcript``, ``quit``) with :meth:`act`, and draw what
    :meth:`screen` returns: one ``(text, kind)`` per terminal row, kind being
    ``title``, ``selected``, ``text`` or ``help``.
    """

    def __init__(self, checkpoints: Sequence[Checkpoint], *, now: datetime | None = None) -> None:
        self.checkpoints = list(checkpoints)
        self.now = now
        self.selected = 0
        self.top = 0
        #: The index of the checkpoint shown in full, or None while the list is shown.
        self.opened: int | None = None
        self.scroll = 0
        self.full = False
        self.done = False
        self._detail: tuple[tuple[int, int, bool], list[str]] | None = None

    def detail(self, width: int) -> list[str]:
        """The text of the opened checkpoint: what ``explain`` prints, wrapped to ``width``."""
        if self.opened is None:
            return []
        key = (self.opened, width, self.full)
        if self._detail is None or self._detail[0] != key:
            cp = self.checkpoints[self.opened]
            lines = explain_lines(cp, width=width, full=self.full, now=self.now)
            self._detail = (key, lines)
        return self._detail[1]

    def act(self, action: str, height: int, width: int) -> None:
        """Apply one action for a terminal of ``height`` rows and ``width`` columns."""
        page = max(1, height - 2)
        if action == "quit":
            self.done = True
        elif self.opened is None:
            self._act_list(action, page)
        else:
            self._act_detail(action, page, width)

    def _act_list(self, action: str, page: int) -> None:
        last = len(self.checkpoints) - 1
        moves = {"up": -1, "down": 1, "page_up": -page, "page_down": page}
        if action in moves:
            self.selected = min(max(self.selected + moves[action], 0), max(last, 0))
        elif action == "home":
            self.selected = 0
        elif action == "end":
            self.selected = max(last, 0)
        elif action == "open" and self.checkpoints:
            self.opened, self.scroll = self.selected, 0
        self.top = min(self.top, self.selected)
        self.top = max(self.top, self.selected - page + 1)

    def _act_detail(self, action: str, page: int, width: int) -> None:
        if action == "back":
            self.opened = None
            return
        if action == "transcript":
            self.full = not self.full
        last = max(0, len(self.detail(width)) - page)
        moves = {"up": -1, "down": 1, "page_up": -page, "page_down": page}
        if action in moves:
            self.scroll += moves[action]
        elif action == "home":
            self.scroll = 0
        elif action == "end":
            self.scroll = last
        self.scroll = min(max(self.scroll, 0), last)

    def screen(self, height: int, width: int) -> list[tuple[str, str]]:
        """What the terminal shows: a title row, the body, and a help row."""
        page = max(1, height - 2)
        if self.opened is None:
            title = f"bitloops rewind: {_plural(len(self.checkpoints), 'checkpoint')}, newest first"
            rows = rewind_lines(self.checkpoints, width)
            # The terminal may have shrunk since the last key: keep the selection in view.
            self.top = max(min(self.top, self.selected), self.selected - page + 1)
            body = [
                (row, "selected" if index == self.selected else "text")
                for index, row in enumerate(rows)
            ][self.top : self.top + page]
            hint = "up/down j/k move   Enter open   q quit"
        else:
            cp = self.checkpoints[self.opened]
            lines = self.detail(width)
            self.scroll = min(self.scroll, max(0, len(lines) - page))
            shown = min(len(lines), self.scroll + page)
            where = f"lines {self.scroll + 1}-{shown} of {len(lines)}"
            title = f"checkpoint of {cp.commit_sha[:12]}  ({where})"
            body = [(line, "text") for line in lines[self.scroll : self.scroll + page]]
            hint = "up/down j/k scroll   t transcript   Esc/b back   q quit"
        rows_out = [(_clip(title, width), "title"), *body]
        rows_out += [("", "text")] * (height - 1 - len(rows_out))
        return [*rows_out, (_clip(hint, width), "help")][:height]


def _rewind_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the list even on a terminal, instead of the interactive browser",
    )
    parser.add_argument(
        "-n",
        "--limit",
        type=int,
        metavar="N",
        help="only the N newest checkpoints",
    )


@command(
    "rewind",
    "browse checkpoint history",
    _rewind_arguments,
    description="On a terminal: an interactive browser of checkpoints, newest first (up/down or "
    "j/k to move, Enter to open one, t to toggle its transcript, Esc/Backspace/b to go "
    "back, q to quit). Otherwise, or with --list: one line per checkpoint (short SHA, "
    "UTC date, agents, first line of what was asked).",
)
def _rewind(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit is not None and args.limit < 1:
        raise _UsageError("--limit must be a positive number")
    with ctx.repository() as repo:
        found = repo.checkpoints(limit=args.limit)
        if args.json:
            ctx.write_json({"checkpoints": [_rewind_json(cp) for cp in found]})
            return EXIT_OK if found else EXIT_NOT_FOUND
        if not found:
            ctx.error("no checkpoints yet; commit after a recorded session to create one")
            return EXIT_NOT_FOUND
        interactive = not args.list and ctx.out is sys.stdout and _is_terminal()
        if not interactive:
            ctx.write_lines(rewind_lines(found, ctx.width))
            return EXIT_OK
        # Loaded while the repository is open: a checkpoint's transcript reads lazily
        # from lines already in memory, so browsing after close is safe.
    return _browse(RewindBrowser(found))


def _is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


_ESC = 27


def _key_action(key: int | str) -> str | None:
    """The browser action a key press means (keys as curses ``get_wch`` returns them)."""
    import curses

    by_char = {
        "k": "up",
        "j": "down",
        "g": "home",
        "G": "end",
        " ": "page_down",
        "\n": "open",
        "\r": "open",
        "l": "open",
        "b": "back",
        "h": "back",
        "\x7f": "back",
        "\b": "back",
        "\x1b": "back",
        "t": "transcript",
        "q": "quit",
        "Q": "quit",
    }
    by_code = {
        curses.KEY_UP: "up",
        curses.KEY_DOWN: "down",
        curses.KEY_PPAGE: "page_up",
        curses.KEY_NPAGE: "page_down",
        curses.KEY_HOME: "home",
        curses.KEY_END: "end",
        curses.KEY_ENTER: "open",
        curses.KEY_RIGHT: "open",
        curses.KEY_LEFT: "back",
        curses.KEY_BACKSPACE: "back",
        _ESC: "back",
    }
    if isinstance(key, str):
        return by_char.get(key)
    return by_code.get(key)


def _browse(browser: RewindBrowser) -> int:
    import curses

    def loop(screen: Any) -> None:
        try:
            curses.curs_set(0)
        except curses.error:
            pass  # some terminals cannot hide the cursor
        curses.set_escdelay(25)  # Esc goes back at once rather than after a second
        screen.keypad(True)
        attrs = {
            "title": curses.A_BOLD,
            "selected": curses.A_REVERSE,
            "text": curses.A_NORMAL,
            "help": curses.A_DIM,
        }
        while not browser.done:
            height, width = screen.getmaxyx()
            screen.erase()
            for row, (text, kind) in enumerate(browser.screen(height, max(1, width - 1))):
                try:
                    screen.addnstr(row, 0, text, max(1, width - 1), attrs[kind])
                except curses.error:
                    pass  # a terminal shrunk mid-draw; the next resize redraws
            screen.refresh()
            action = _key_action(screen.get_wch())
            if action is not None:
                browser.act(action, height, max(1, width - 1))

    curses.wrapper(loop)
    return EXIT_OK


# -- git hooks ---------------------------------------------------------------------------------

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


def _agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        metavar="NAME",
        action="append",
        default=[],
        help="the coding agent whose hooks to add (enable) or remove (disable) in its own "
        "config file: claude-code, codex, gemini, cursor, copilot or opencode; repeat it or "
        "separate names with commas (see docs/agents.md)",
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
    "install the git hooks that make checkpoints, and agents' hooks",
    _enable_arguments,
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
    "remove the git hooks bitloops installed, or an agent's hooks",
    _disable_arguments,
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
        "pre-push; or an agent's (claude-code, codex, gemini, cursor, copilot, opencode), its "
        "JSON payload on standard input",
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
    "run a git hook (called by the installed hooks)",
    _hook_arguments,
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
    from bitloops.git._git import Git
    from bitloops.git._hooks import run_hook

    if args.name in AGENT_HOOKS:
        # An agent hook: never exit 2 (that blocks the agent), never print to stdout.
        from bitloops.agents._registry import run_agent_hook

        run_agent_hook(args.name, getattr(sys.stdin, "buffer", sys.stdin), ctx.cwd, ctx.err)
        return EXIT_OK
    Git.locate(ctx.cwd)  # outside a work tree: the usual error, exit 2
    if args.name is None:
        raise _UsageError(
            "name the hook to run: post-commit, post-rewrite, pre-commit, post-merge or pre-push"
        )
    failed = run_hook(args.name, args.hook_args, ctx.cwd, sys.stdin, ctx.err)
    if args.json:
        ctx.write_json({"hook": args.name, "ok": failed is None, "log": failed})
    return EXIT_OK


# -- fetch ------------------------------------------------------------------------------------


def _fetch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "remote",
        metavar="REMOTE",
        nargs="?",
        default="origin",
        help="the remote (name or URL) to fetch checkpoint folders from (default: origin)",
    )


@command(
    "fetch",
    "fetch checkpoint folders from a remote",
    _fetch_arguments,
    description="Fetch the remote's refs/bitloops/checkpoints/v1 (where checkpoint_files = "
    "ref commits the checkpoint folders) and merge it into the local one: fast-forward when "
    "possible, otherwise a merge commit whose tree is the union of both (folders are named "
    "by commit SHA). Prints how many checkpoint folders arrived. Exit 1 when the remote has "
    "no such ref.",
)
def _fetch(args: argparse.Namespace, ctx: Context) -> int:
    from bitloops.git._git import Git
    from bitloops.git._ref import CHECKPOINT_REF, fetch_ref

    paths = Git.locate(ctx.cwd)
    arrived = fetch_ref(paths.toplevel, args.remote)
    if args.json:
        ctx.write_json(
            {
                "remote": args.remote,
                "ref": CHECKPOINT_REF,
                "found": arrived is not None,
                "arrived": list(arrived or []),
            }
        )
    elif arrived is None:
        ctx.error(f"{args.remote} has no {CHECKPOINT_REF}: nothing was pushed there yet")
    else:
        ctx.write(f"{_plural(len(arrived), 'checkpoint folder')} arrived from {args.remote}")
    return EXIT_NOT_FOUND if arrived is None else EXIT_OK


# -- sync ---------------------------------------------------------------------------------------


def _sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--all",
        action="store_true",
        help="first queue every checkpoint of this clone (after joining a team setup); those "
        "the shared store holds already are not stored twice",
    )


@command(
    "sync",
    "send waiting checkpoints to the team's shared store",
    _sync_arguments,
    description="Send the checkpoints waiting in the outbox to the shared committed store "
    "(committed_store, a PostgreSQL URL), oldest first, each in one transaction keyed by its "
    "id, so a retry never stores one twice. Promotion does this by itself; run it after the "
    "server was unreachable. Exit 1 when something is still waiting afterwards.",
)
def _sync(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.repository() as repo:
        if repo.shared_store is None:
            raise _UsageError(
                "no shared committed store is configured; set committed_store in "
                ".bitloops/settings.local.json or BITLOOPS_COMMITTED_STORE (docs/storage.md)"
            )
        # Connect first, so a wrong URL, database or password is reported even when
        # nothing waits (an unreachable server is not an error: see the report below).
        from bitloops.checkpoint._sync import SyncReport
        from bitloops.errors import SharedStoreUnavailable

        try:
            repo.shared_store.connect()
        except SharedStoreUnavailable as exc:
            report = SyncReport(
                store=repo.shared_store.display_url,
                waiting=len(repo.store.outbox()),
                error=str(exc),
            )
        else:
            report = repo.sync(queue_all=args.all)
    if args.json:
        ctx.write_json(
            {
                "store": report.store,
                "sent": report.sent,
                "already_there": report.already_there,
                "waiting": report.waiting,
                "error": report.error,
            }
        )
    else:
        ctx.write(
            f"{_plural(report.sent, 'checkpoint')} sent to {report.store}"
            + (f", {report.already_there} already there" if report.already_there else "")
        )
        if report.waiting or report.error:
            ctx.error(f"{_plural(report.waiting, 'checkpoint')} still waiting: {report.error}")
    return EXIT_OK if report.ok else EXIT_NOT_FOUND


from bitloops.cli import _context as _cli_context  # noqa: E402, F401  (`log`, `blame`, `review`)
from bitloops.cli import _distill as _cli_distill  # noqa: E402, F401  (registers `distill`)
from bitloops.cli import _record as _cli_record  # noqa: E402, F401  (registers `record` and `mcp`)
from bitloops.cli import _web as _cli_web  # noqa: E402, F401  (registers `serve` and `export`)
