"""The façade: one git work tree, its live state and its checkpoints."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitloops._codec import new_id, parse_ts, structure
from bitloops._workspace import DB_MARKER_RELATIVE_PATH, DB_RELATIVE_PATH
from bitloops.capture._session import Session, checked_text, prepare_payload
from bitloops.checkpoint._transcript import Transcript
from bitloops.errors import (
    BitloopsError,
    CheckpointFilesError,
    CheckpointNotFound,
    GitError,
    InvalidPayload,
    UnknownRef,
)
from bitloops.git._git import Git, RepoPaths
from bitloops.model import Annotation, Checkpoint, DraftCommit, Status
from bitloops.settings import SETTINGS_LOCAL_FILE, Settings, ensure_gitignore, load_settings
from bitloops.store._sqlite import CheckpointQuery, CheckpointRow, SQLiteStore

if TYPE_CHECKING:
    from bitloops.capture._importing import ImportResult
    from bitloops.capture._recorder import AgentTable
    from bitloops.checkpoint._history import FileHistoryEntry
    from bitloops.checkpoint._private import KeptLocal
    from bitloops.checkpoint._search import SearchHit
    from bitloops.checkpoint._summary import Summarizer
    from bitloops.checkpoint._symbols import SymbolExtractor
    from bitloops.checkpoint._sync import SyncReport
    from bitloops.checkpoint._verify import PurgeReport, VerifyReport
    from bitloops.redact import Redactor
    from bitloops.store._postgres import PostgresStore

__all__ = ["DB_MARKER_RELATIVE_PATH", "DB_RELATIVE_PATH", "Repository", "capture_setup"]

log = logging.getLogger("bitloops")

_HEX = re.compile(r"[0-9a-fA-F]{7,64}")


# One connection per database file per process (apsw's advice, and the design's), shared
# by every Repository on that file and closed when the last of them closes.
_stores: dict[tuple[str, int], tuple[SQLiteStore, int]] = {}
_stores_lock = threading.Lock()


def _shared_store(path: Path, settings: Settings) -> SQLiteStore:
    key = (str(path), os.getpid())
    with _stores_lock:
        store, users = _stores.get(key, (None, 0))
        if store is None:
            store = SQLiteStore(
                path,
                durability=settings.durability,
                busy_timeout_ms=settings.busy_timeout_ms,
                marker=path.parent.parent / DB_MARKER_RELATIVE_PATH,
            )
        _stores[key] = (store, users + 1)
        return store


def _release_store(path: Path) -> None:
    key = (str(path), os.getpid())
    with _stores_lock:
        store, users = _stores.get(key, (None, 0))
        if store is None:
            return
        if users > 1:
            _stores[key] = (store, users - 1)
            return
        del _stores[key]
    store.close()


class Repository:
    """A git work tree with bitloops: record sessions, promote drafts, read checkpoints.

    Open one with :meth:`open`. All repositories of one clone (its worktrees) share one
    database in the git common directory; each worktree has its own draft.
    """

    def __init__(
        self,
        paths: RepoPaths,
        settings: Settings,
        summarizer: Summarizer | None = None,
        symbol_extractors: Sequence[SymbolExtractor] | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.git = Git(paths.toplevel)
        self._summarizer = summarizer
        self.symbol_extractors = symbol_extractors
        self._store: SQLiteStore | None = None
        self._shared: PostgresStore | None = None
        self._shared_pid = 0
        self._redactor: Redactor | None = None
        self._adopted = False

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = ".",
        *,
        summarizer: Summarizer | None = None,
        symbol_extractors: Sequence[SymbolExtractor] | None = None,
    ) -> Repository:
        """Open the git work tree containing ``path``.

        ``summarizer`` replaces the built-in structured summary; ``symbol_extractors``
        the built-in ones (Python) that find the symbols a commit touched.
        Raises :class:`~bitloops.NotAGitRepository` outside a work tree and
        :class:`~bitloops.SettingsError` for unreadable settings. The database is
        opened on first use.
        """
        paths = Git.locate(path)
        settings = load_settings(paths.toplevel)
        if (paths.toplevel / SETTINGS_LOCAL_FILE).exists():
            ensure_gitignore(paths.toplevel)
        return cls(paths, settings, summarizer, symbol_extractors)

    # -- where things are -------------------------------------------------------------

    @property
    def toplevel(self) -> Path:
        """The root of the work tree."""
        return self.paths.toplevel

    @property
    def worktree(self) -> str:
        """This work tree's identity in the database: its absolute path."""
        return str(self.paths.toplevel)

    @property
    def db_path(self) -> Path:
        """The SQLite file holding the live state and local checkpoints."""
        return self.paths.common_dir / DB_RELATIVE_PATH

    @property
    def store(self) -> SQLiteStore:
        """The database (opened on first use)."""
        if self._store is None or self._store.pid != os.getpid():
            # A forked child must not share its parent's connection.
            self._store = _shared_store(self.db_path, self.settings)
        return self._store

    @property
    def team(self) -> bool:
        """True when a shared committed store is configured (``committed_store``)."""
        return self.settings.committed_store is not None

    @property
    def shared_store(self) -> PostgresStore | None:
        """The team's shared committed store, or None; it connects on first use."""
        url = self.settings.committed_store
        if url is None:
            return None
        if self._shared is None or self._shared_pid != os.getpid():
            from bitloops.store._postgres import PostgresStore

            # A forked child must not share its parent's connection (as with SQLite).
            self._shared = PostgresStore(url)
            self._shared_pid = os.getpid()
        return self._shared

    def sync(self, *, queue_all: bool = False) -> SyncReport:
        """Send the checkpoints waiting in the outbox to the shared store (``bitloops sync``).

        ``queue_all`` first queues every local checkpoint, for a clone that joins a team
        setup after making some. Sending is idempotent: a checkpoint the shared store
        holds already is not stored again. A failure is reported in the result, not
        raised, and what was not sent stays queued.
        """
        from bitloops.checkpoint._sync import sync

        return sync(self, queue_all=queue_all)

    def _sync_after_promotion(self) -> None:
        # Offline-first: the checkpoint is safe locally and in the outbox whatever happens.
        if not self.team:
            return
        failure = self.store.outbox_last_failure()
        if failure is not None and "timeout" in failure[1]:
            # The server was silent, not refusing: don't make every commit wait out the
            # connect timeout again for a minute; `bitloops sync` still tries at once.
            since = datetime.now(UTC) - parse_ts(failure[0])
            if since < timedelta(seconds=60):
                log.warning(
                    "bitloops: shared store timed out %ds ago; sending later", since.seconds
                )
                return
        try:
            report = self.sync()
        except BitloopsError as exc:
            log.warning("bitloops: checkpoints not sent to the shared store: %s", exc)
            return
        if report.error:
            log.warning("bitloops: checkpoints not sent to the shared store: %s", report.error)

    @property
    def redactor(self) -> Redactor:
        """The redactor every payload passes before it is written."""
        if self._redactor is None:
            from bitloops.redact import Redactor, default_redactor

            patterns = self.settings.redact_patterns
            self._redactor = Redactor(patterns) if patterns else default_redactor()
        return self._redactor

    def close(self) -> None:
        """Release the database; the connection closes when no Repository of it is left open."""
        if self._store is not None:
            _release_store(self.db_path)
            self._store = None
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- capture ----------------------------------------------------------------------

    def start_session(
        self, agent: str, model: str | None = None, *, session_id: str | None = None
    ) -> Session:
        """Start a session (or resume ``session_id``) and record its session_start event.

        An agent that brings its own id passes it as ``session_id``; an id not seen
        before creates that session.
        """
        if not isinstance(agent, str) or not agent.strip():
            raise InvalidPayload("agent must be a non-empty string such as 'claude-code'")
        checked_text("agent", agent)
        if model is not None:
            checked_text("model", model)
        if session_id is not None and (not isinstance(session_id, str) or not session_id.strip()):
            raise InvalidPayload("session_id must be a non-empty string")
        if session_id is not None:
            checked_text("session_id", session_id)
        sid = session_id or new_id()
        agent = self.redactor.redact(agent)
        model = None if model is None else self.redactor.redact(model)
        branch = self.git.branch()
        branch = None if branch is None else self.redactor.redact(branch)
        base = self.git.head()
        payload: dict[str, Any] = {"branch": branch, "base_commit": base}
        session = self._session(sid, agent, model)
        if not self.settings.capture:
            return session
        text = prepare_payload(payload, self.redactor, self.settings.max_payload_bytes)
        if self.settings.private:
            from bitloops.checkpoint._private import mark_session, may_mark_on_start

            # Marked before its first event is stored, so no event of it is ever shared;
            # a resumed session whose checkpoints exist already keeps them as they are.
            if session_id is None or may_mark_on_start(self, sid):
                mark_session(self, sid)
        self.store.open_session(
            session_id=sid,
            agent=agent,
            model=model,
            worktree=self.worktree,
            branch=branch,
            base_commit=base,
            payload_json=text,
        )
        return session

    def session(self, session_id: str) -> Session:
        """A handle on an existing session, to record more events into it.

        Unlike :meth:`start_session` it records nothing by itself; the handle of an
        ended session raises :class:`~bitloops.SessionEnded` until it is resumed with
        :meth:`start_session`. Raises :class:`~bitloops.SessionNotFound` for an
        unknown id.
        """
        agent, model, status = self.store.session_model(session_id)
        session = self._session(session_id, agent, model)
        session.ended = status == "ended"
        return session

    def agent_session(self, agent: str) -> Session:
        """The most recently active open session of ``agent`` in this worktree, else a new one.

        Where records an agent makes itself (``bitloops mcp``, ``bitloops record``) go:
        into the session its hooks opened, when there is one.
        """
        if not isinstance(agent, str) or not agent.strip():
            raise InvalidPayload("agent must be a non-empty string such as 'claude-code'")
        name = self.redactor.redact(agent)  # stored redacted (see start_session)
        open_ = [
            s
            for s in self.store.sessions(worktree=self.worktree)
            if s.agent == name and s.status != "ended"
        ]
        if not open_:
            return self.start_session(agent)
        latest = max(open_, key=lambda s: (s.last_event_at or s.started_at, s.started_at))
        return self._session(latest.session_id, latest.agent, latest.model)

    def _session(self, sid: str, agent: str, model: str | None, *, on_end: bool = True) -> Session:
        session_strategy = self.settings.strategy == "session"
        callback = self._promote_ended if on_end and session_strategy else None
        return Session(
            session_id=sid,
            agent=agent,
            model=model,
            worktree=self.worktree,
            store=self.store,
            redactor=self.redactor,
            max_bytes=self.settings.max_payload_bytes,
            capture=self.settings.capture,
            on_end=callback,
        )

    def _promote_ended(self, session_id: str) -> None:
        # The session strategy's trigger. Ending must not fail because promotion did
        # (no commit yet, a busy database): the draft stays for the next promote().
        try:
            self.promote_session(session_id)
        except BitloopsError as exc:
            log.warning("bitloops: session %s ended but was not promoted: %s", session_id, exc)

    # -- the live state -----------------------------------------------------------------

    def adopt_committed(self) -> int:
        """Take into this clone's database the checkpoints committed folders hold and it
        lacks (a teammate's, on a branch or in the fetched ref), verified against their
        content hashes; how many. :meth:`status`, :meth:`checkpoints` and :meth:`search`
        do it first, once per :class:`Repository`; cheap when no branch or ref moved."""
        from bitloops.checkpoint._rebuild import adopt_committed

        self._adopted = True
        return adopt_committed(self)

    def _adopt_once(self) -> None:
        if not self._adopted:
            try:
                self.adopt_committed()
            except GitError as exc:  # a git that cannot say: what is here still reads
                log.warning("bitloops: committed checkpoints not read: %s", exc)

    def _wait_for_promotions(self) -> None:
        """Let a commit's detached promotion finish (bounded) before reading checkpoints or
        the draft: a commit just made may still be promoted by its worker, its events
        still in the draft (docs/git-hooks.md, "Detached promotions"). Not inside a
        caller's transaction: the promotion would become part of it, and a rollback would
        take the checkpoint whose pending record is gone."""
        if self.store.in_transaction:
            return
        from bitloops._commit_flow import finish_pending

        finish_pending(self.toplevel)

    def status(self) -> Status:
        """What is being captured: sessions open in this worktree, counts, agents seen."""
        self._wait_for_promotions()
        self._adopt_once()
        idle_after = timedelta(minutes=self.settings.idle_minutes)
        now = datetime.now(UTC)
        active = []
        for info in self.store.sessions(worktree=self.worktree):
            if info.status == "ended":
                continue
            last = info.last_event_at or info.started_at
            if now - last > idle_after:
                info = attrs.evolve(info, status="idle")
            active.append(info)
        waiting = self.store.outbox()
        hooks, enabled = capture_setup(self.toplevel)
        from bitloops.store._private import sessions_marked

        private = sessions_marked(self.store, [s.session_id for s in active])
        return Status(
            capture_enabled=self.settings.capture,
            strategy=self.settings.strategy,
            agents=tuple(self.store.agents()),
            active_sessions=tuple(active),
            checkpoint_count=self.store.count_checkpoints(),
            draft_event_count=self.store.draft_count(self.worktree),
            committed_store=self.shared_store.display_url if self.shared_store else None,
            unsent_count=len(waiting),
            unsent_error=next((w[3] for w in reversed(waiting) if w[3]), None),
            git_hooks=hooks,
            agents_enabled=enabled,
            private_sessions=tuple(s.session_id for s in active if s.session_id in private),
        )

    def draft(self) -> DraftCommit:
        """The live state of this worktree: every event not yet promoted, in order."""
        self._wait_for_promotions()
        rows = self.store.draft_rows(self.worktree)
        events = Transcript(rows.lines, kinds=rows.kinds, session_ids=rows.line_sessions)
        counts = Counter(rows.line_sessions)
        open_here = {
            s.session_id for s in self.store.sessions(worktree=self.worktree) if s.status != "ended"
        }
        sessions = tuple(
            attrs.evolve(s, event_count=counts.get(s.session_id, 0))
            for s in self.store.sessions(session_ids=[*rows.session_ids, *open_here])
        )
        return DraftCommit(worktree=self.worktree, sessions=sessions, events=events)

    # -- promotion and checkpoints ------------------------------------------------------

    def promote(
        self,
        ref: str = "HEAD",
        *,
        summarizer: Summarizer | None = None,
        until: datetime | None = None,
    ) -> Checkpoint | None:
        """Promote this worktree's draft to a checkpoint of the commit ``ref`` names.

        Returns the new checkpoint; the existing one if the commit already has a
        checkpoint (the draft is left alone); None when the draft is empty. With
        ``until`` (an aware datetime), only the events of that time or earlier are
        promoted; later ones stay in the draft (how a promotion detached from its
        commit keeps the draft it had at commit time, see docs/git-hooks.md).

        Under the ``session`` strategy, sessions idle for longer than ``idle_minutes``
        are ended first, and each ended session's draft becomes a checkpoint of its
        own (see :meth:`promote_session`); open sessions keep recording. The newest
        checkpoint made is returned, or None.
        """
        from bitloops.capture._runner import drain_spool
        from bitloops.checkpoint._promote import promote_commit

        sha = self.git.resolve_commit(ref)
        drain_spool(self)  # hook events spooled while the database was busy belong here
        chosen = summarizer or self._summarizer or self._default_summarizer()
        if self.settings.strategy == "session":
            self.end_idle_sessions(promote=False)  # promoted just below, with the others
            made = [
                self._promote_session(info.session_id, chosen)
                for info in self.store.sessions(worktree=self.worktree)
                if info.status == "ended" and info.event_count
            ]
            self._sync_after_promotion()
            return next((cp for cp in reversed(made) if cp is not None), None)
        from bitloops._codec import format_ts

        bound = None if until is None else format_ts(until)
        result = promote_commit(self, sha, chosen, until=bound)
        if result is None:
            self._sync_after_promotion()  # what earlier promotions left queued
            return None
        checkpoint, lines = result
        # Also when the checkpoint existed: a crash after the commit of the move but
        # before the files were written leaves it without its folder.
        self._write_folder(checkpoint, lines, rewrite_missing=checkpoint.commit_sha == sha)
        self._sync_after_promotion()
        return checkpoint

    def _default_summarizer(self) -> Summarizer:
        from bitloops.checkpoint._summary import StructuredSummarizer

        return StructuredSummarizer(extract=self.settings.extract_reasoning)

    def promote_session(
        self, session_id: str, *, summarizer: Summarizer | None = None
    ) -> Checkpoint | None:
        """Make one session's draft a checkpoint (the ``session`` strategy's unit).

        It is linked to every commit this worktree made since the session started, or
        else to the commit HEAD is on, and its files and symbols cover that range.
        None when the session has no draft events or the branch has no commit yet.
        """
        chosen = summarizer or self._summarizer or self._default_summarizer()
        checkpoint = self._promote_session(session_id, chosen)
        self._sync_after_promotion()
        return checkpoint

    def _promote_session(self, session_id: str, summarizer: Summarizer) -> Checkpoint | None:
        from bitloops.checkpoint._promote import promote_session

        result = promote_session(self, session_id, summarizer)
        if result is None:
            return None
        checkpoint, lines = result
        self._write_folder(checkpoint, lines, rewrite_missing=False)
        return checkpoint

    def end_idle_sessions(self, *, promote: bool = True) -> list[str]:
        """End this worktree's sessions idle for longer than ``idle_minutes``; their ids.

        Under the ``session`` strategy each ended session is also promoted, unless
        ``promote`` is False.
        """
        idle_after = timedelta(minutes=self.settings.idle_minutes)
        now = datetime.now(UTC)
        ended = []
        for info in self.store.sessions(worktree=self.worktree):
            last = info.last_event_at or info.started_at
            if info.status != "ended" and now - last > idle_after:
                self._session(info.session_id, info.agent, info.model, on_end=promote).end("idle")
                ended.append(info.session_id)
        return ended

    def _write_folder(
        self, checkpoint: Checkpoint, lines: Sequence[str], *, rewrite_missing: bool
    ) -> None:
        from bitloops.checkpoint._files import folder_of, write_checkpoint_dir

        if self.settings.checkpoint_files == "none":
            return
        from bitloops.checkpoint._private import is_private, read_marks

        if is_private(checkpoint, read_marks(self)):
            return  # kept in this clone: no folder, no ref entry
        if self.settings.checkpoint_files == "ref":
            # Straight into refs/bitloops/checkpoints/v1: nothing in the work tree.
            from bitloops.checkpoint._in_ref import put_checkpoint

            if lines or rewrite_missing:
                put_checkpoint(self.toplevel, checkpoint, lines or None)
            return
        folder = folder_of(self.toplevel, checkpoint.commit_sha, checkpoint.checkpoint_id)
        if not lines and not (rewrite_missing and not (folder / "session.json").exists()):
            return
        ensure_gitignore(self.toplevel)
        try:
            write_checkpoint_dir(self.toplevel, checkpoint, lines or None)
        except OSError as exc:
            raise CheckpointFilesError(
                f"checkpoint {checkpoint.checkpoint_id} is stored, but its folder {folder} "
                f"could not be written ({exc}); fix that and promote the commit again to "
                "write it"
            ) from exc

    def checkpoint(self, ref: str = "HEAD") -> Checkpoint:
        """The checkpoint with id ``ref``, or the newest linked to the commit ``ref`` names.

        Raises :class:`~bitloops.CheckpointNotFound` when there is none and
        :class:`~bitloops.UnknownRef` when ``ref`` names no commit or checkpoint.
        ``ref`` may be a ``cp:`` prefix of a checkpoint id (see docs/cli.md), this
        clone's or a teammate's.
        """
        self._wait_for_promotions()
        if ref.startswith("cp:"):
            from bitloops.checkpoint._history import load_checkpoint, resolve_checkpoint_prefix

            return load_checkpoint(self, resolve_checkpoint_prefix(self, ref))
        if self.store.has_checkpoint(ref):
            return self._load_checkpoint(ref)
        try:
            sha = self._resolve(ref)
        except UnknownRef:
            found = self._shared_checkpoints(CheckpointQuery(), checkpoint_id=ref)
            if found:
                return found[0]
            raise UnknownRef(
                f"{ref!r} is neither a checkpoint id nor a commit; pass a SHA, branch, tag or "
                "checkpoint id (see `bitloops rewind`)"
            ) from None
        ids = self.store.checkpoint_ids(commit_sha=sha, limit=1)
        if ids:
            return self._load_checkpoint(ids[0])
        teammates = self._shared_checkpoints(CheckpointQuery(commit_sha=sha, limit=1))
        if teammates:
            return teammates[0]
        in_files = self._from_files(sha)
        if in_files:
            return in_files[0]
        if self.settings.checkpoint_files == "ref":
            raise CheckpointNotFound(
                f"commit {sha[:12]} has no checkpoint here; if a teammate recorded it, run "
                "`bitloops fetch` to get the checkpoint ref (it is not fetched with branches)"
            )
        raise CheckpointNotFound(
            f"commit {sha[:12]} has no checkpoint; it was made without a recorded session, "
            "or before bitloops was enabled"
        )

    def checkpoints(
        self,
        *,
        commit: str | None = None,
        branch: str | None = None,
        author: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Checkpoint]:
        """Checkpoints, newest first, that match every filter given.

        ``commit``: linked to that commit. ``branch``: made on that branch. ``author``:
        part of the commit author's ``Name <email>``, any case. ``agent`` / ``model``:
        one of the checkpoint's agents or models. ``since`` (inclusive) and ``until``
        (exclusive) bound when it was made.

        In a team setup the shared store is asked too, and its checkpoints are merged
        with this clone's. For a commit whose checkpoints are in neither (a teammate's,
        arrived with the branch or by ``bitloops fetch``), the committed folders are read.
        """
        from bitloops._codec import format_ts

        self._wait_for_promotions()
        self._adopt_once()
        sha = self._resolve(commit) if commit is not None else None
        query = CheckpointQuery(
            commit_sha=sha,
            branch=branch,
            author=author,
            agent=agent,
            model=model,
            since=format_ts(since) if since is not None else None,
            until=format_ts(until) if until is not None else None,
            limit=limit,
        )
        ids = self.store.checkpoint_ids(query)
        found = {cid: self._load_checkpoint(cid) for cid in ids}
        for checkpoint in self._shared_checkpoints(query):
            found.setdefault(checkpoint.checkpoint_id, checkpoint)
        if not found and sha is not None and query == CheckpointQuery(commit_sha=sha, limit=limit):
            return self._from_files(sha)[:limit]
        ordered = sorted(
            found.values(), key=lambda cp: (cp.created_at, cp.checkpoint_id), reverse=True
        )
        return ordered[:limit]

    def _resolve(self, ref: str) -> str:
        """The commit ``ref`` names; in a team setup, also a SHA (or a unique prefix of
        one) that only the shared store knows: a teammate's commit not fetched here.
        """
        try:
            return self.git.resolve_commit(ref)
        except UnknownRef:
            shared = self.shared_store
            if shared is None or not _HEX.fullmatch(ref):
                raise
            try:
                found = shared.commits_with_prefix(ref.lower())
            except BitloopsError as exc:
                log.warning("bitloops: the shared store could not be read: %s", exc)
                raise UnknownRef(f"{ref!r} names no commit here") from None
            if len(found) > 1:
                raise UnknownRef(
                    f"{ref!r} is ambiguous in the shared store ({len(found)} commits); give "
                    "more of the SHA"
                ) from None
            if not found:
                raise
            return found[0]

    def _shared_checkpoints(
        self, query: CheckpointQuery, *, checkpoint_id: str | None = None
    ) -> list[Checkpoint]:
        """What the shared store holds for ``query`` (or one id); [] when it can't answer.

        Reads never fail because the team's server is away: the local answer stands.
        """
        shared = self.shared_store
        if shared is None:
            return []
        try:
            ids = [checkpoint_id] if checkpoint_id else shared.checkpoint_ids(query)
            loaded = []
            for cid in ids:
                data = shared.checkpoint_data(cid)
                if data is not None:
                    loaded.append(self._checkpoint_from(*data))
            return loaded
        except BitloopsError as exc:
            log.warning("bitloops: the shared store could not be read: %s", exc)
            return []

    def _from_files(self, sha: str) -> list[Checkpoint]:
        """The checkpoints of ``sha`` as committed in folders (work tree, else the ref)."""
        from bitloops.checkpoint._files import checkpoint_dir, read_checkpoint_dir
        from bitloops.errors import CheckpointFilesError

        found: list[Checkpoint] = []
        folder = checkpoint_dir(self.toplevel, sha)
        if (folder / "session.json").exists():
            try:
                found.append(read_checkpoint_dir(folder))
                found += [
                    read_checkpoint_dir(sub)
                    for sub in sorted(folder.iterdir())
                    if (sub / "session.json").exists()
                ]
            except CheckpointFilesError:
                pass
        else:  # the checkpoint ref, whatever this clone's own setting (fetched ones too)
            from bitloops.checkpoint._in_ref import read_from_ref

            try:
                found.append(read_from_ref(self.toplevel, sha))
            except (CheckpointNotFound, CheckpointFilesError, GitError):
                pass
        # A rewritten commit (amend, rebase, cherry-pick): its committed link file names
        # the checkpoint's folder, verified against its content hash.
        from bitloops.checkpoint._links import linked_checkpoints

        ids = {cp.checkpoint_id for cp in found}
        found += [c for c in linked_checkpoints(self.toplevel, sha) if c.checkpoint_id not in ids]
        return sorted(found, key=lambda cp: cp.created_at, reverse=True)

    def link(self, ref: str, checkpoint_id: str, reason: str = "manual") -> bool:
        """Link the commit ``ref`` names to a checkpoint (after a rewrite); False if linked."""
        sha = self.git.resolve_commit(ref)
        if checkpoint_id.startswith("cp:"):
            from bitloops.checkpoint._history import resolve_checkpoint_prefix

            checkpoint_id = resolve_checkpoint_prefix(self, checkpoint_id)
        if not self.store.has_checkpoint(checkpoint_id):
            raise CheckpointNotFound(f"no checkpoint {checkpoint_id!r}")
        from bitloops.checkpoint._private import private_ids

        queue = self.team and not private_ids(self, [checkpoint_id])
        return self.store.add_link(sha, checkpoint_id, reason, queue=queue)

    def keep_local(
        self, *, session_id: str | None = None, checkpoint_id: str | None = None
    ) -> KeptLocal:
        """Make a session (with every checkpoint holding its events) or one checkpoint
        private: it stays in this clone (``bitloops record private``, docs/concepts.md).

        What was written for sharing and has not left is taken back (the folder, the
        checkpoint ref's unpushed entry, the outbox row). Raises a
        :class:`~bitloops.BitloopsError` saying why, marking nothing, once it was pushed
        or sent to the shared store; :class:`~bitloops.SessionNotFound` or
        :class:`~bitloops.CheckpointNotFound` for an unknown id.
        """
        from bitloops.checkpoint._private import keep_local

        return keep_local(self, session_id=session_id, checkpoint_id=checkpoint_id)

    def _load_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        data = self.store.checkpoint_data(checkpoint_id)
        if data is None:
            raise CheckpointNotFound(f"no checkpoint {checkpoint_id!r}")
        return self._checkpoint_from(*data)

    @staticmethod
    def _checkpoint_from(row: CheckpointRow, lines: list[str], commits: list[str]) -> Checkpoint:
        raw = json.loads(row.header)
        raw["commits"] = commits
        raw["content_hash"] = row.content_hash
        return attrs.evolve(structure(raw, Checkpoint), events=Transcript(lines))

    def history(
        self,
        path: str | os.PathLike[str],
        *,
        symbol: str | None = None,
        line: int | None = None,
        limit: int | None = None,
    ) -> list[FileHistoryEntry]:
        """The checkpoints that touched ``path``, newest first, with what applies to it.

        ``path`` is relative to the work tree's top (or absolute inside it); renames are
        followed. ``symbol`` narrows it to the checkpoints that changed that function,
        class or method; ``line`` to the checkpoints of the commit that last changed
        that line (``git blame``). Each entry has the agents, models and prompts, and
        the decisions, rejected alternatives, constraints and plan items that apply to
        the file (those whose ``applies_to`` names it, else all of a checkpoint that
        touched it); retracted records are marked. Teammates' checkpoints count (the
        committed folders, the checkpoint ref, the shared store).
        """
        from bitloops.checkpoint._history import history

        self._wait_for_promotions()
        return history(self, path, symbol=symbol, line=line, limit=limit)

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Full-text search of committed transcripts: newest checkpoint first, then by rank.

        ``query`` uses SQLite FTS5 syntax (words, ``"phrases"``, ``prefix*``, ``AND`` /
        ``OR`` / ``NOT``, ``kind:decision``); input that does not parse is searched
        again with each word quoted. Events still in a draft are not searched. Raises
        :class:`~bitloops.InvalidSearch` for an empty query, an unbalanced double quote
        or a query that cannot be parsed even quoted.
        """
        from bitloops.checkpoint._search import search

        self._wait_for_promotions()
        self._adopt_once()
        hits = search(self.store, query, limit=limit)
        shared = self.shared_store
        if shared is None:
            return hits
        try:
            theirs = search(shared, query, limit=limit)
        except BitloopsError as exc:
            log.warning("bitloops: the shared store could not be searched: %s", exc)
            return hits
        # Both lists are newest checkpoint first; a checkpoint sent by this clone is in both.
        merged = {(h.checkpoint_id, h.event.event_id): h for h in [*hits, *theirs]}
        ordered = sorted(
            merged.values(), key=lambda h: (h.created_at, h.checkpoint_id), reverse=True
        )
        return ordered[:limit]

    # -- integrity ----------------------------------------------------------------------

    def retract(self, record_id: str, *, because: str, by: str = "user") -> Annotation:
        """Mark a why-record (decision, alternative, constraint, plan) as wrong, and why.

        The record stays where it is (a checkpoint is immutable); an append-only
        retraction beside it makes every reader (``explain``, ``summary``, history,
        context for agents) strike it out. ``record_id`` is the ``record_id`` that
        ``explain --json`` shows; ``by`` is ``user`` or ``agent``. Raises
        :class:`~bitloops.RecordNotFound` for an id this clone does not hold and
        :class:`~bitloops.InvalidPayload` for an empty reason.
        """
        from bitloops.checkpoint._annotations import retract

        return retract(self, record_id, because=because, by=by)

    def annotate(self, checkpoint_id: str, kind: str, body: dict[str, Any]) -> Annotation:
        """Append an annotation of ``kind`` (``distillation``) to a checkpoint; redacted."""
        from bitloops.checkpoint._annotations import add

        if not self.store.has_checkpoint(checkpoint_id):
            raise CheckpointNotFound(f"no checkpoint {checkpoint_id!r} to annotate")
        return add(self, kind, checkpoint_id=checkpoint_id, body=body)

    def annotations(
        self, *, checkpoint_id: str | None = None, kind: str | None = None
    ) -> list[Annotation]:
        """The annotations (retractions, distillations) that match, oldest first."""
        from bitloops.checkpoint._annotations import find

        return find(self.store, checkpoint_id=checkpoint_id, kind=kind)

    def retracted(self) -> dict[str, str]:
        """The ids of retracted why-records, each with the reason given."""
        from bitloops.checkpoint._annotations import retracted

        return retracted(self.store)

    def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Cross-check every checkpoint: database content, hash chain, files on disk.

        ``progress``, if given, is called with (checkpoints done, total) as it goes.
        """
        from bitloops.checkpoint._verify import verify

        self._wait_for_promotions()
        return verify(self, progress)

    def purge(self, secret: str, *, reason: str, replacement: str = "[PURGED]") -> PurgeReport:
        """Break glass: replace ``secret`` everywhere in committed data, with an audit record.

        For a credential that slipped past redaction. Every checkpoint holding it is
        rewritten in the database and in its folder on disk; the audit record lets
        :meth:`verify` report a purge rather than tampering. Files already in git
        history still hold the secret: rotate it.
        """
        from bitloops.checkpoint._verify import purge

        return purge(self, secret, reason=reason, replacement=replacement)

    # -- importing ----------------------------------------------------------------------

    def import_transcript(
        self, agent: str, path: str | os.PathLike[str], *, session_id: str | None = None
    ) -> ImportResult:
        """Import an agent's whole transcript file as an ended session of this worktree.

        See :func:`bitloops.capture._importing.import_transcript`: importing the same file again
        adds nothing, and the next promotion puts the session in a checkpoint.
        ``session_id`` names the session of a file that does not name its own.
        """
        from bitloops.capture._importing import import_transcript

        return import_transcript(self, agent, path, session_id=session_id)

    def _agents(self) -> AgentTable:
        """The agent registry, handed to capture (which sits below the agents)."""
        from bitloops.agents import _registry

        return _registry


def capture_setup(toplevel: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What this work tree has set up for capture, read from its files (nothing created):
    the bitloops git hooks installed, and the agents whose configuration runs bitloops'
    hooks (:attr:`~bitloops.Status.git_hooks`, :attr:`~bitloops.Status.agents_enabled`)."""
    from bitloops.agents._config import enabled_agents
    from bitloops.git._hooks import HOOK_NAMES, hooks_dir, is_bitloops_hook

    folder = hooks_dir(toplevel)
    # git skips a hook file that is not executable: it is not installed then.
    hooks = tuple(
        n for n in HOOK_NAMES if is_bitloops_hook(folder / n) and os.access(folder / n, os.X_OK)
    )
    return hooks, tuple(enabled_agents(toplevel))
