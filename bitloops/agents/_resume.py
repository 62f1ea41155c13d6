"""Resume a branch's work: check the branch out, find the session, give it back to its agent.

Besides the command that continues the session, :func:`resume` writes the session's
transcript where its agent looks for it (:func:`restore_transcript`), rebuilt from the
recorded events in the agent's own format, so a clone that never ran the session can
continue it. A file the agent already has is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from bitloops.agents._registry import AGENTS
from bitloops.agents._writing import CONVERSATION
from bitloops.errors import CheckpointNotFound, GitError, InvalidSessionId, UnknownRef
from bitloops.model import Checkpoint, Event, SessionInfo

if TYPE_CHECKING:
    from bitloops.agents._contract import AgentIntegration
    from bitloops.agents._record import TranscriptWriter
    from bitloops.capture._recorder import Recorder

__all__ = ["RestoredTranscript", "ResumeInfo", "continue_command", "restore_transcript", "resume"]


@attrs.frozen(kw_only=True)
class RestoredTranscript:
    """Where a session's transcript is for its agent to resume it, and what was done."""

    #: The transcript file the agent reads (written now, or already there); None if none.
    path: str | None
    #: True when bitloops wrote the file now; False when it was there or was not written.
    restored: bool
    #: One sentence for people: what happened, or why nothing was written.
    note: str
    #: The directory the session was started in, where its agent looks for it (the agent
    #: must be started there to resume it); None when not known.
    cwd: str | None = None


@attrs.frozen(kw_only=True)
class ResumeInfo:
    """Where a branch's work stands, and how to pick it up."""

    branch: str
    head: str
    checkpoint: Checkpoint | None
    session: SessionInfo | None
    #: A shell command that continues the session with the agent that produced it.
    command: str | None
    #: The session's transcript, restored for its agent (None without a session, or
    #: when ``restore=False``).
    transcript: RestoredTranscript | None = None


def continue_command(agent: str, session_id: str, cwd: str | None = None) -> str | None:
    """The command that reopens ``session_id`` in ``agent``'s CLI, if that agent has one.

    With ``cwd`` it starts with ``cd <cwd> &&``: agents such as Claude Code look for a
    session among those of the directory they are started in.
    """
    base = _record(agent).resume_command if agent in AGENTS else None
    if base is None:
        return None
    command = shlex.join([*base, session_id])
    return command if cwd is None else f"cd {shlex.quote(cwd)} && {command}"


def resume(
    repo: Recorder,
    branch: str,
    *,
    checkout: bool = True,
    restore: bool = True,
    home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResumeInfo:
    """Check out ``branch`` (unless ``checkout`` is False) and find its latest work.

    The checkpoint is the newest one on the branch's first-parent history; the session
    is the most recently active one recorded on that branch (live or committed). With
    ``restore`` (the default) the session's transcript is written where its agent looks
    for it (see :func:`restore_transcript`, which ``home`` and ``environ`` go to), and
    the command starts with ``cd <dir> &&`` when the session was started in a directory
    other than the top of the work tree.
    Raises :class:`~bitloops.UnknownRef` for a branch that does not exist,
    :class:`~bitloops.GitError` when git refuses the checkout (local changes), and
    :class:`~bitloops.InvalidSessionId`, before checking anything out, when the
    transcript would be restored under an id that cannot name a file.
    """
    if branch.startswith("-") or not repo.git.try_run("check-ref-format", "--branch", branch):
        raise UnknownRef(f"{branch!r} is not a branch name")
    head = repo.git.resolve_commit(f"refs/heads/{branch}")
    checkpoint = _latest_checkpoint(repo, head)
    sessions = [s for s in repo.store.sessions() if s.branch == branch]
    if checkpoint is not None:
        sessions += [
            s for s in checkpoint.sessions if s.session_id not in {x.session_id for x in sessions}
        ]
    session = max(sessions, key=lambda s: s.last_event_at or s.started_at, default=None)
    if session is not None and restore and _writer(session.agent) is not None:
        _check_session_id(session.session_id)  # before the checkout: refuse, change nothing
    if checkout and repo.git.branch() != branch:
        try:
            repo.git.run("checkout", "--quiet", branch)
        except GitError as exc:
            raise GitError(
                f"cannot switch to {branch}: {exc}; commit or stash your changes first"
            ) from None
    transcript = None
    if session is not None and restore:
        transcript = restore_transcript(repo, session, home=home, environ=environ)
    # Started elsewhere than the top of the work tree: the agent must be started there.
    where = transcript.cwd if transcript is not None else None
    if where is not None and os.path.realpath(where) == os.path.realpath(repo.toplevel):
        where = None
    command = continue_command(session.agent, session.session_id, where) if session else None
    return ResumeInfo(
        branch=branch,
        head=head,
        checkpoint=checkpoint,
        session=session,
        command=command,
        transcript=transcript,
    )


def _latest_checkpoint(repo: Recorder, head: str) -> Checkpoint | None:
    try:
        return repo.checkpoint(head)
    except CheckpointNotFound:
        pass
    chain = repo.git.first_parent_chain(head, 1000)
    found = repo.store.checkpoints_for_commits(chain)
    for sha in chain:
        if sha in found:
            return repo.checkpoint(found[sha][0])
    return None


# -- restoring an agent's transcript -------------------------------------------------------


def restore_transcript(
    repo: Recorder,
    session: SessionInfo,
    *,
    home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RestoredTranscript:
    """Write ``session``'s transcript where its agent looks for it, unless it is there.

    The file is rebuilt from the session's recorded events (its checkpoints' and the
    draft's) in the agent's format: Claude Code's
    ``$CLAUDE_CONFIG_DIR/projects/<start directory, non-alphanumerics as '-'>/<id>.jsonl``,
    Codex's ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``, Gemini CLI's
    ``~/.gemini/tmp/<sha256 of the start directory>/chats/session-<time>-<id8>.jsonl``.
    ``CLAUDE_CONFIG_DIR`` defaults to ``~/.claude`` and ``CODEX_HOME`` to ``~/.codex``,
    read from ``environ`` (default: the process's environment); ``home`` replaces ``~``.

    The start directory is the one the session was launched in, where known (a ``cwd``
    its events name, or for Claude Code the folder of the transcript its hooks saw),
    else the worktree it ran in, else the top of this work tree. A file the agent already has for
    the session, in any project folder, is left as it is (the agent's own copy is better
    than a rebuilt one) and reported with the directory it belongs to. Agents bitloops
    cannot write transcripts for get a note saying so, and no file.

    The id becomes part of a file name, and it came from a hook payload: one that is
    not a plain name (``../x``, a separator, a control character, over 128 characters)
    raises :class:`~bitloops.InvalidSessionId` and nothing is written.
    """
    writer = _writer(session.agent)
    if writer is None:
        return RestoredTranscript(
            path=None,
            restored=False,
            note=f"bitloops cannot rebuild {session.agent} transcripts; the agent can resume "
            "the session only if it still has it",
        )
    _check_session_id(session.session_id)
    env = os.environ if environ is None else environ
    base = Path(home) if home is not None else Path(env.get("HOME") or Path.home())
    sid = session.session_id
    events = _session_events(repo, sid)
    known = _known_transcript(repo, session)
    cwd = _start_dir(repo, session, events, known)
    existing = writer.existing(sid, cwd, base, env, known)
    if existing is not None:
        where = writer.cwd_of(existing, cwd, [cwd, str(repo.toplevel)])
        return RestoredTranscript(
            path=str(existing),
            restored=False,
            note=f"{existing} is already there; left as it is",
            cwd=where if where is not None and os.path.isdir(where) else None,
        )
    if not any(e.kind in CONVERSATION for e in events):
        return RestoredTranscript(
            path=None,
            restored=False,
            note="the session has no prompt, reply or tool call to restore",
            cwd=cwd,
        )
    start = events[0].ts
    target = writer.path(sid, cwd, base, env, start)
    lines = writer.lines(session, events, cwd)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, target)  # fails if the file appeared meanwhile: never overwrite
    except FileExistsError:
        return RestoredTranscript(
            path=str(target),
            restored=False,
            note=f"{target} is already there; left as it is",
            cwd=cwd,
        )
    finally:
        tmp.unlink(missing_ok=True)
    return RestoredTranscript(
        path=str(target), restored=True, note=f"restored the transcript to {target}", cwd=cwd
    )


# What a session id may be to become part of a file name: one plain name (the agents'
# own ids are UUIDs), never ".", "..", a separator or a control character, and short
# enough that the longest name built from it (Codex's) stays under 255 bytes.
_FILE_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _record(agent: str) -> AgentIntegration:
    from bitloops.agents._registry import integration

    return integration(agent)


def _writer(agent: str) -> TranscriptWriter | None:
    """The agent's transcript writer; None for an agent bitloops cannot write for."""
    return _record(agent).writer if agent in AGENTS else None


def _check_session_id(session_id: str) -> None:
    """Raise :class:`InvalidSessionId` unless ``session_id`` can safely name a file."""
    if _FILE_SAFE_ID.fullmatch(session_id) is None:
        shown = repr(session_id[:80]) + ("…" if len(session_id) > 80 else "")
        raise InvalidSessionId(
            f"session id {shown} cannot name a transcript file (it must be at most 128 "
            "letters, digits, '.', '_' and '-', starting with a letter or digit), so bitloops "
            "wrote nothing; run with --no-restore (restore=False) to see the session without "
            "writing its transcript, and check what recorded that id"
        )


def _known_transcript(repo: Recorder, session: SessionInfo) -> tuple[str | None, str | None]:
    """(transcript path, worktree) the hooks last saw for the session, in this clone only."""
    from bitloops.capture import _transcript_state as ts

    try:
        state = ts.load(repo.paths.common_dir, session.session_id)
    except OSError:
        return None, None
    if state.agent and state.agent != session.agent:
        return None, None
    return state.transcript_path, state.worktree


def _start_dir(
    repo: Recorder,
    session: SessionInfo,
    events: list[Event],
    known: tuple[str | None, str | None],
) -> str:
    """The directory the session was started in, as well as bitloops can tell.

    Agents name their project folder after it, not after the top of the work tree. In
    order: the first ``cwd`` an event payload names (as custom loops may record); for
    Claude Code, the directory whose name its transcript's folder is (the hooks
    remember that path, in this clone); the worktree the hooks ran in; the top of this
    work tree. Only directories that exist here count.
    """
    for event in events:
        cwd = event.payload.get("cwd")
        if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd):
            return cwd
    path, worktree = known
    top = str(repo.toplevel)
    roots = [r for r in (worktree, top) if r and os.path.isdir(r)]
    writer = _writer(session.agent)
    if path and writer is not None and writer.start_dir is not None:
        found = writer.start_dir(path, roots)
        if found is not None:
            return found
    return roots[0] if roots else top


def _session_events(repo: Recorder, session_id: str) -> list[Event]:
    """The session's events, committed and live, in time order."""
    from bitloops._codec import event_from_line
    from bitloops.capture._importing import session_lines

    events = [event_from_line(line) for line in session_lines(repo, session_id)]
    return sorted(events, key=lambda e: (e.ts, e.seq))
