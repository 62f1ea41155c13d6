"""Feed agent hook payloads through bitloops' real hook entry and see what came of them."""

from __future__ import annotations

import io
import json
import os
import subprocess as _subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import attrs

from bitloops._launch import bitloops_argv

if TYPE_CHECKING:
    from bitloops.model import Event
    from bitloops.repository import Repository
    from bitloops.testing._repo import TemporaryRepository

__all__ = ["HookCall", "HookRun", "Payload", "assert_silent", "hook_command", "run_hook"]

#: One hook payload: a JSON object, or the exact text or bytes the agent would send (to
#: test what bitloops does with a malformed one), or ``(event, payload)`` for an agent
#: whose installed entry names the event in the environment (Copilot CLI's camelCase
#: hooks, see :attr:`bitloops.agents.AgentConfig.event_env`).
Payload = Mapping[str, Any] | str | bytes | tuple[str, "Mapping[str, Any] | str | bytes"]


@attrs.frozen(kw_only=True)
class HookCall:
    """What one run of an agent hook answered, and what it recorded."""

    #: The bytes the hook read on its standard input.
    stdin: bytes
    #: Its exit status (bitloops' hooks exit 0 whatever happens).
    exit_code: int
    #: What it wrote to standard output: the agent reads this (past reasoning handed
    #: back on some events), so it is empty for most payloads.
    stdout: bytes
    #: What it wrote to standard error (one line when a payload was not recorded).
    stderr: bytes
    #: The events this run added to the work tree's draft, in order.
    events: tuple[Event, ...]

    @property
    def silent(self) -> bool:
        """True when the hook exited 0 and wrote nothing, as for a recorded payload."""
        return self.exit_code == 0 and not self.stdout and not self.stderr

    def answer(self) -> Any:
        """The JSON document the hook answered on standard output, or None when it wrote
        nothing."""
        return json.loads(self.stdout) if self.stdout.strip() else None


@attrs.frozen
class HookRun(Sequence[HookCall]):
    """The runs of :func:`run_hook`, one :class:`HookCall` per payload, in order."""

    calls: tuple[HookCall, ...]

    @overload
    def __getitem__(self, index: int) -> HookCall: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[HookCall]: ...
    def __getitem__(self, index: int | slice) -> HookCall | Sequence[HookCall]:
        return self.calls[index]

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[HookCall]:
        return iter(self.calls)

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event the runs recorded, in order."""
        return tuple(event for call in self.calls for event in call.events)

    @property
    def silent(self) -> bool:
        """True when every run exited 0 and wrote nothing (see :attr:`HookCall.silent`)."""
        return all(call.silent for call in self.calls)

    def kinds(self) -> list[str]:
        """The kind of each recorded event, in order."""
        return [event.kind for event in self.events]


def hook_command(agent: str) -> list[str]:
    """The command that runs ``agent``'s hook as a process: ``<this python> -m bitloops
    hook AGENT``, the form ``bitloops enable`` writes in a personal hook file (shared files
    say ``bitloops hook AGENT``, found on PATH, which runs the same entry)."""
    return bitloops_argv("hook", agent)


def assert_silent(run: HookCall | HookRun | _subprocess.CompletedProcess[bytes]) -> None:
    """Raise :class:`AssertionError` (with what the hook wrote) unless every run exited 0
    and wrote nothing, as a recorded payload's does.

    Also takes the finished process of a hook you ran yourself (with :func:`hook_command`).
    """
    if isinstance(run, _subprocess.CompletedProcess):
        outcomes = [(run.returncode, run.stdout, run.stderr)]
    else:
        calls = run.calls if isinstance(run, HookRun) else (run,)
        outcomes = [(call.exit_code, call.stdout, call.stderr) for call in calls]
    for code, out, err in outcomes:
        if code != 0 or out or err:
            raise AssertionError(
                f"the hook was not silent: exit {code}, stdout {out!r}, stderr {err!r}"
            )


def run_hook(
    agent: str,
    payloads: Payload | Iterable[Payload],
    *,
    repo: str | os.PathLike[str] | Repository | TemporaryRepository,
    subprocess: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    isolated: bool = True,
) -> HookRun:
    """Run ``agent``'s hook (``bitloops hook AGENT``) once for each payload; what came of it.

    ``repo`` is the folder the hook runs in (the agent's working directory): a work tree,
    or any folder to see what a hook does outside one. By default each payload goes
    through the hook entry in this process (fast; the environment is changed for the
    duration when ``env`` is given); with ``subprocess`` each runs as the real process an
    agent starts (:func:`hook_command`), with this environment updated by ``env``. Both
    record, spool or quarantine the payload exactly as an agent's hook would, and write
    the agent's answer (past reasoning on the events that carry it) to standard output.

    ``payloads`` is one payload or several, in order (see :data:`Payload`; give an
    ``(event, text)`` pair inside a list). Each :class:`HookCall` has the hook's output
    and the events it added to the draft.

    The hooks run in an :func:`~bitloops.testing.isolated_environment` without ``home``
    (none of the user's ``BITLOOPS_*`` settings or ``GIT_DIR``-like variables; ``env``
    applies on top), unless ``isolated`` is false; inside
    :func:`~bitloops.testing.temporary_repository` the block's environment is used as is.
    """
    from bitloops.testing._environment import isolation

    with isolation(isolated, home=False):
        return _run(agent, payloads, _folder(repo), subprocess, env, timeout)


def _run(
    agent: str,
    payloads: Payload | Iterable[Payload],
    cwd: Path,
    subprocess: bool,
    env: Mapping[str, str] | None,
    timeout: float,
) -> HookRun:
    event_env = _event_env(agent)
    items: list[Payload] = (
        [payloads]  # type: ignore[list-item]
        if _one_payload(payloads)
        else list(payloads)  # type: ignore[arg-type]
    )
    seen = _draft_ids(cwd)
    calls = []
    for item in items:
        raw, extra = _encode(item, event_env)
        run_env = {**(env or {}), **extra}
        if subprocess:
            code, out, err = _in_subprocess(agent, raw, cwd, run_env, timeout)
        else:
            code, out, err = _in_process(agent, raw, cwd, run_env)
        events = _new_events(cwd, seen)
        seen.update(event.event_id for event in events)
        calls.append(
            HookCall(stdin=raw, exit_code=code, stdout=out, stderr=err, events=tuple(events))
        )
    return HookRun(tuple(calls))


def _one_payload(payloads: Any) -> bool:
    """Whether ``payloads`` is one payload rather than several: inside a list, a tuple is
    always an ``(event, payload)`` pair; given alone, only when it looks like one."""
    if isinstance(payloads, (Mapping, str, bytes)):
        return True
    return (
        isinstance(payloads, tuple)
        and len(payloads) == 2
        and isinstance(payloads[0], str)
        and isinstance(payloads[1], Mapping)
    )


def _folder(repo: Any) -> Path:
    if isinstance(repo, (str, os.PathLike)):
        return Path(repo)
    toplevel = getattr(repo, "toplevel", None)  # a Repository
    return Path(toplevel if toplevel is not None else repo.path)


def _event_env(agent: str) -> str | None:
    from bitloops.agents._config import AGENT_CONFIGS
    from bitloops.agents._registry import AGENTS

    if agent not in AGENTS:
        from bitloops.errors import UnknownAgent

        known = ", ".join(sorted(AGENTS))
        raise UnknownAgent(f"no agent integration is called {agent!r}; use one of: {known}")
    config = AGENT_CONFIGS.get(agent)
    return None if config is None else config.event_env


def _encode(item: Payload, event_env: str | None) -> tuple[bytes, dict[str, str]]:
    extra: dict[str, str] = {}
    if isinstance(item, tuple):
        event, item = item
        if event_env is None:
            raise ValueError(
                "an (event, payload) pair is for an agent whose hooks are told their event "
                "in the environment (Copilot CLI); pass the payload alone"
            )
        extra[event_env] = event
    if isinstance(item, bytes):
        return item, extra
    if isinstance(item, str):
        return item.encode("utf-8", "surrogateescape"), extra
    return json.dumps(item, ensure_ascii=False).encode("utf-8"), extra


def _in_subprocess(
    agent: str, raw: bytes, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int, bytes, bytes]:
    proc = _subprocess.run(
        hook_command(agent),
        input=raw,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _in_process(
    agent: str, raw: bytes, cwd: Path, env: Mapping[str, str]
) -> tuple[int, bytes, bytes]:
    # The same steps as `python -m bitloops hook AGENT` (bitloops/__main__.py), minus the
    # process-wide deadline hold, which only a process that exits afterwards may set.
    from bitloops.agents._registry import run_agent_hook
    from bitloops.context._gate import may_answer

    out, err = io.StringIO(), io.StringIO()
    with _environment(env):
        try:
            run_agent_hook(agent, io.BytesIO(raw), cwd, err)
        except Exception:  # run_agent_hook never raises; as the entry point's last guard
            err.write(f"bitloops: the {agent} hook failed (the agent is unaffected)\n")
        if may_answer(agent, raw):
            from bitloops.context import _inject as inject

            inject.emit(agent, raw, os.fspath(cwd), out, err)
    return 0, out.getvalue().encode("utf-8"), err.getvalue().encode("utf-8")


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _draft_ids(cwd: Path) -> set[str]:
    return {event.event_id for event in _draft(cwd)}


def _new_events(cwd: Path, seen: set[str]) -> list[Event]:
    return [event for event in _draft(cwd) if event.event_id not in seen]


def _draft(cwd: Path) -> Sequence[Event]:
    """The draft of the work tree at ``cwd``; empty outside one, before its database
    exists (reading must not create it: a test may check that a hook did not), or when
    it cannot be read (a test may have damaged it on purpose)."""
    from bitloops.errors import BitloopsError
    from bitloops.repository import Repository

    try:
        with Repository.open(cwd) as repo:
            if not repo.db_path.exists():
                return ()
            return repo.draft().events
    except (BitloopsError, OSError):
        return ()
