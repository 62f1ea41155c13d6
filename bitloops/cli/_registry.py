"""What a command is, the table of every command, and the argument parser built from it.

A command is a ``run(args, ctx) -> int`` function in its own module of this package,
registered with :func:`command`, which also gives the function adding its arguments
and the longer text of its ``--help``. :data:`COMMANDS` names each command, its one-line
help and its module, so that ``bitloops --help`` and the parsing of ``bitloops NAME``
import no command module but the one that runs: a command's subparser is made only
when the command is chosen (:class:`_Commands`).

Exit statuses: 0 ok, 1 nothing found or verification failed, 2 usage or user error.

Only the standard library is imported at module level: the command line must start
fast, so the database and model modules load when a command needs them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from bitloops import __version__
from bitloops.cli._style import Style
from bitloops.errors import BitloopsError

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = [
    "COMMANDS",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Context",
    "Definition",
    "UsageError",
    "build_parser",
    "command",
    "command_parsers",
    "definition",
]

#: The command did what was asked.
EXIT_OK = 0
#: Nothing was found (no checkpoint), or ``verify`` found a problem.
EXIT_NOT_FOUND = 1
#: Bad usage or a user error: not a repository, unknown ref, unusable database or settings.
EXIT_USAGE = 2


class UsageError(BitloopsError):
    """A command-line mistake the library knows nothing about (a bad -C, say)."""


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


Run = Callable[[argparse.Namespace, Context], int]
AddArguments = Callable[[argparse.ArgumentParser], None]


class Command(NamedTuple):
    """One subcommand as ``bitloops --help`` lists it, and the module that defines it."""

    help: str
    #: The module (of this package) whose :func:`command` registers it.
    module: str


def _entry(help: str, module: str) -> Command:
    return Command(help, f"bitloops.cli.{module}")


#: Every subcommand, in the order ``bitloops --help`` lists them.
COMMANDS: dict[str, Command] = {
    "status": _entry("what is being captured right now", "_status"),
    "explain": _entry("the reasoning behind a commit", "_explain"),
    "verify": _entry("check that committed history is intact", "_verify"),
    "search": _entry("full-text search over committed transcripts", "_search"),
    "doctor": _entry("diagnose stuck sessions, missed promotions, hooks and damage", "_doctor"),
    "resume": _entry("switch to a branch and show how to continue its session", "_resume"),
    "import": _entry("import an agent's existing transcript as a session", "_import"),
    "rewind": _entry("browse checkpoint history", "_rewind"),
    "enable": _entry("install the git hooks that make checkpoints, and agents' hooks", "_enable"),
    "disable": _entry("remove the git hooks bitloops installed, or an agent's hooks", "_enable"),
    "hook": _entry("run a git hook (called by the installed hooks)", "_hook"),
    "fetch": _entry("fetch checkpoint folders from a remote", "_fetch"),
    "sync": _entry("send waiting checkpoints to the team's shared store", "_sync"),
    "log": _entry("one file's or symbol's history of checkpoints", "_context"),
    "blame": _entry("per line: commit, checkpoint, agent, prompt, and who wrote it", "_context"),
    "review": _entry("a digest of a commit range's reasoning for a pull request", "_context"),
    "distill": _entry("ask the configured LLM distiller for the why of a commit", "_distill"),
    "mcp": _entry("run the MCP server agents record their reasoning with", "_record"),
    "record": _entry("record a decision, alternative, constraint or plan", "_record"),
    "serve": _entry("a local, read-only web view of the reasoning", "_web"),
    "export": _entry("write checkpoints as web pages, or an Agent Trace record", "_web"),
}


class Definition(NamedTuple):
    """What a command's module says about it when it loads."""

    add_arguments: AddArguments
    run: Run
    description: str
    json_option: bool = True


_DEFINED: dict[str, Definition] = {}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no arguments of its own."""


def command(
    name: str,
    help: str | None = None,
    add_arguments: AddArguments = _no_arguments,
    *,
    description: str | None = None,
    json_option: bool = True,
) -> Callable[[Run], Run]:
    """Register ``run`` as the subcommand ``name`` of :data:`COMMANDS` (a decorator).

    ``add_arguments`` adds the command's own arguments; ``--json`` is added for every
    command unless ``json_option=False``. ``description`` is the longer text of its
    ``--help`` (its one-line help, from the table, by default). ``help``, when given,
    must be the table's: the table is what ``bitloops --help`` shows.
    """
    entry = COMMANDS.get(name)
    if entry is None:
        raise UsageError(f"{name!r} is not in COMMANDS: add it to bitloops/cli/_registry.py")
    if help is not None and help != entry.help:
        raise UsageError(
            f"the help of {name!r} differs from its line in COMMANDS "
            "(bitloops/cli/_registry.py): change it there"
        )

    def register(run: Run) -> Run:
        _DEFINED[name] = Definition(add_arguments, run, description or entry.help, json_option)
        return run

    return register


def definition(name: str) -> Definition:
    """The arguments, ``run`` function and description of command ``name``, its module
    imported on first use."""
    if name not in _DEFINED:
        importlib.import_module(COMMANDS[name].module)
        if name not in _DEFINED:
            raise UsageError(f"{COMMANDS[name].module} does not register the command {name!r}")
    return _DEFINED[name]


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """The ``COMMAND`` argument, whose subparser for a command is made only when that
    command is chosen (or its help shown): making an :class:`argparse.ArgumentParser`
    costs about a millisecond, twenty of them a noticeable part of the start-up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The names accepted, where argparse keeps the parsers: _name_parser_map holds
        # those made so far.
        self.choices = list(COMMANDS)  # type: ignore[assignment]
        for name, entry in COMMANDS.items():
            self._choices_actions.append(self._ChoicesPseudoAction(name, (), entry.help))

    def parser(self, name: str) -> argparse.ArgumentParser:
        """The subparser of command ``name``, made (and its module imported) once."""
        made = self._name_parser_map.get(name)
        if made is None:
            found = definition(name)
            made = argparse.ArgumentParser(
                prog=f"{self._prog_prefix} {name}", description=found.description
            )
            if found.json_option:
                made.add_argument(
                    "--json",
                    action="store_true",
                    help="print JSON for scripts (shape in docs/cli.md) instead of text",
                )
            found.add_arguments(made)
            made.set_defaults(run=found.run)
            self._name_parser_map[name] = made
        return made

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if values:  # the command's name, checked against the choices, then its arguments
            self.parser(str(values[0]))
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The ``bitloops`` argument parser, with one subparser per command of :data:`COMMANDS`."""
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
    parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", action=_Commands)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparser of each command in a parser made by :func:`build_parser`, each with
    its arguments added (every command module is imported)."""
    for action in parser._actions:
        if isinstance(action, _Commands):
            return {name: action.parser(name) for name in COMMANDS}
    return {}
