"""Diagnose what can go wrong between sessions, commits and the database, and repair it.

Each check yields :class:`Finding` objects; with ``fix=True`` the safe repairs run:
ending sessions left open, promoting a commit whose post-commit promotion was missed,
rewriting checkpoint folders missing from disk (or left incomplete by a crash) from the
database, and rebuilding a lost database's checkpoints from the folders. Nothing here
deletes recorded data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from bitloops._codec import parse_ts
from bitloops.errors import BitloopsError

if TYPE_CHECKING:
    from bitloops.checkpoint._verify import Problem
    from bitloops.repository import Repository

__all__ = ["DoctorReport", "Finding", "diagnose"]


@attrs.frozen(kw_only=True)
class Finding:
    """One thing :func:`diagnose` noticed. ``severity`` is ``error``, ``warning`` or ``info``."""

    check: str
    severity: str
    message: str
    #: What ``fix=True`` does about it, if anything is safe to do.
    repair: str | None = None
    #: True once the repair ran.
    fixed: bool = False


@attrs.frozen(kw_only=True)
class DoctorReport:
    """Everything :func:`diagnose` found, in the order it looked."""

    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when no error or warning is left unfixed."""
        return not any(f.severity != "info" and not f.fixed for f in self.findings)


def diagnose(
    repo: Repository, *, fix: bool = False, stale_after: timedelta | None = None
) -> DoctorReport:
    """Run every check on ``repo``; with ``fix``, also run the safe repairs.

    ``stale_after`` is how long an open session may go without an event before it
    counts as stuck (default: the ``idle_minutes`` setting).
    """
    stale = (
        stale_after if stale_after is not None else timedelta(minutes=repo.settings.idle_minutes)
    )
    findings: list[Finding] = []
    lost = list(_lost_database(repo, fix, stale))
    findings.extend(lost)
    if any(not f.fixed for f in lost):
        return DoctorReport(findings=tuple(findings))  # every other check needs the database
    checks = (
        _database,
        _hooks,
        _mcp,
        _agent_hooks,
        _stuck_sessions,
        _pending_promotions,
        _missed_promotion,
        _files,
        _outbox,
        _quarantine,
        _spool_elsewhere,
        _distiller,
    )
    for check in checks:
        try:
            findings.extend(check(repo, fix, stale))
        except BitloopsError as exc:
            findings.append(
                Finding(check=check.__name__.strip("_"), severity="error", message=str(exc))
            )
    return DoctorReport(findings=tuple(findings))


def _lost_database(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """A database that existed and is now empty or missing (not a fresh clone's)."""
    from bitloops.checkpoint._rebuild import database_lost, rebuild

    why = database_lost(repo)
    if why is None:
        return
    finding = Finding(
        check="database_lost",
        severity="error",
        message=f"{why}. Restore it from a backup, or run `bitloops doctor --fix` to rebuild "
        "the committed checkpoints from the checkpoint folders",
        repair="rebuild the committed checkpoints from the checkpoint folders and the "
        "checkpoint ref into a new database (the empty file is kept aside; the draft, which "
        "had no copy, stays lost)",
    )
    if fix:
        done = rebuild(repo)
        extra = f"; not restored: {'; '.join(done.skipped)}" if done.skipped else ""
        aside = f"; the empty file is now {done.moved_aside}" if done.moved_aside else ""
        finding = attrs.evolve(
            finding,
            message=f"{why}. Rebuilt {done.restored} checkpoint(s){aside}{extra}",
            fixed=True,
        )
    yield finding


def _database(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    from bitloops.store._sqlite import SCHEMA_VERSION

    store = repo.store
    result = "; ".join(store.quick_check())
    if result != "ok":
        yield Finding(
            check="database",
            severity="error",
            message=f"{repo.db_path} fails SQLite's quick_check ({result}); restore it from a "
            "backup, or copy it aside and salvage rows with sqlite3's .recover",
        )
    version = store.schema_version()
    yield Finding(
        check="schema",
        severity="info",
        message=f"schema version {version} (this bitloops writes {SCHEMA_VERSION})",
    )
    for warning in repo.settings.warnings:
        yield Finding(check="settings", severity="warning", message=warning)


def _hooks(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    import shlex
    from pathlib import Path

    from bitloops.git._hooks import HOOK_NAMES, enable, hook_script, hooks_dir, is_bitloops_hook

    folder = hooks_dir(repo.toplevel)
    ours = [n for n in HOOK_NAMES if is_bitloops_hook(folder / n)]
    if not ours:
        yield Finding(
            check="hooks",
            severity="info",
            message="git hooks are not installed: promote by hand, or run `bitloops enable`",
        )
        return
    problems: list[str] = []
    for name in HOOK_NAMES:
        path = folder / name
        if name not in ours:
            problems.append(f"{name} is missing" if not path.exists() else f"{name} is not ours")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        runner = next((ln for ln in text.splitlines() if " -m bitloops hook " in ln), "")
        python = shlex.split(runner)[0] if runner.strip() else ""
        if not python or not Path(python).exists():
            problems.append(f"{name} runs {python or 'nothing'}, which no longer exists")
        elif text == hook_script(name, python).replace(" -P -m bitloops", " -m bitloops"):
            problems.append(f"{name} was written by an older bitloops (without -P)")
        elif text != hook_script(name, python):
            problems.append(f"{name} was edited after `bitloops enable`")
    if problems:
        finding = Finding(
            check="hooks",
            severity="warning",
            message=f"hooks in {folder}: " + "; ".join(problems),
            repair="reinstall them with this bitloops (`bitloops enable`)",
        )
        if fix:
            enable(repo.toplevel)
            finding = attrs.evolve(finding, fixed=True)
        yield finding


def _stuck_sessions(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    now = datetime.now(UTC)
    for info in repo.store.sessions(worktree=repo.worktree):
        if info.status == "ended":
            continue
        last = info.last_event_at or info.started_at
        if now - last <= stale:
            continue
        minutes = int((now - last).total_seconds() // 60)
        finding = Finding(
            check="stuck_session",
            severity="warning",
            message=f"session {info.session_id} ({info.agent}) is open but has had no event "
            f"for {minutes} min",
            repair="end it with a session_end event (reason: 'doctor: stale'); the agent can "
            "resume it by id",
        )
        if fix:
            repo.session(info.session_id).end("doctor: stale")
            finding = attrs.evolve(finding, fixed=True)
        yield finding


# How long a detached worker may take to start and take the promotion lock.
_WORKER_START_SECONDS = 5.0


def _pending_promotions(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Commits whose promotion was detached from them and is not finished: a worker at
    work, or one that crashed or was killed (bitloops/_pending.py)."""
    from bitloops._pending import pending_promotions, promotion_lock

    git_dir = str(repo.paths.git_dir)
    records = pending_promotions(git_dir)
    if not records:
        return
    with promotion_lock(git_dir, 0.0) as free:
        pass  # only asking whether a worker holds it
    if free:  # a worker just started takes the lock once its interpreter is up
        import os
        import time

        try:
            newest = max(os.stat(r.path).st_mtime for r in records)
        except OSError:
            newest = 0.0
        free = time.time() - newest > _WORKER_START_SECONDS
    shas = ", ".join(r.sha[:12] for r in records)
    if free:
        message = f"{len(records)} commit(s) wait for a detached promotion no worker is doing "
        message += f"(it crashed or was killed): {shas}"
    else:
        message = f"{len(records)} commit(s) are being promoted by a detached worker: {shas}"
    finding = Finding(
        check="pending_promotion",
        severity="warning" if free else "info",
        message=message,
        repair="promote them, oldest first, each with the draft up to its commit's time "
        "(waits up to 30 s for a worker at work)",
    )
    if fix:
        from bitloops._commit_flow import finish_pending

        finish_pending(repo.toplevel)
        finding = attrs.evolve(finding, fixed=not pending_promotions(git_dir))
    yield finding


def _missed_promotion(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Draft events older than HEAD's commit while HEAD has no checkpoint: a missed promotion."""
    head = repo.git.head()
    if head is None:
        return
    from bitloops._pending import pending_promotions

    if any(r.sha == head for r in pending_promotions(str(repo.paths.git_dir))):
        return  # not missed: waiting for its detached promotion (pending_promotion)
    oldest, count = repo.store.draft_span(repo.worktree)
    if oldest is None:
        return
    committed = repo.git.run("show", "-s", "--format=%cI", head).strip()
    if oldest >= parse_ts(committed):
        return
    if repo.store.checkpoints_for_commits([head]):
        yield Finding(
            check="draft_after_commit",
            severity="info",
            message=f"{count} draft events predate commit {head[:12]}, which already has a "
            "checkpoint; they will go into the next commit's checkpoint",
        )
        return
    finding = Finding(
        check="missed_promotion",
        severity="warning",
        message=f"commit {head[:12]} has no checkpoint but {count} draft events predate it "
        "(was the post-commit hook skipped?)",
        repair=f"promote the draft to {head[:12]}",
    )
    if fix:
        repo.promote(head)
        finding = attrs.evolve(finding, fixed=True)
    yield finding


def _torn_folder(problem: Problem, intact: set[str]) -> bool:
    """A folder promotion did not finish (missing, or without its session.json, which is
    written last), of a checkpoint whose database content verifies."""
    if problem.checkpoint_id not in intact:
        return False
    if problem.kind == "files_missing":
        return True
    return problem.kind == "files_unreadable" and "session.json is missing" in problem.message


def _rewrite_folder(repo: Repository, checkpoint_id: str) -> None:
    """Write a checkpoint's folder from the database with the code promotion uses."""
    from bitloops.checkpoint._files import CHECKPOINTS_DIR, checkpoint_dir

    data = repo.store.checkpoint_data(checkpoint_id)
    if data is None:
        return
    row, lines, commits = data
    folder = checkpoint_dir(repo.toplevel, row.commit_sha)
    if repo.settings.checkpoint_files == "branch" and not folder.exists():
        # Committed already (and verified against the database): git's copy, byte for
        # byte, rather than one whose list of linked commits has grown since.
        rel = f"{CHECKPOINTS_DIR}/{row.commit_sha}"
        if repo.git.try_run("checkout", "HEAD", "--", rel) is not None:
            return
    if folder.is_dir() and not (folder / "session.json").exists():
        # A torn write: what is there is an unfinished copy of this same checkpoint.
        for part in ("transcript.jsonl", "summary.md"):
            (folder / part).unlink(missing_ok=True)
    repo._write_folder(repo._checkpoint_from(row, lines, commits), lines, rewrite_missing=True)


def _files(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    from bitloops.checkpoint._verify import verify

    report = verify(repo)  # not Repository.verify: without --fix, pending records stay
    # Checkpoints whose stored content is sound: only those may be written out again.
    broken = {p.checkpoint_id for p in report.problems if p.severity == "error"}
    broken -= {
        p.checkpoint_id
        for p in report.problems
        if p.kind in ("files_unreadable",) and p.checkpoint_id is not None
    }
    intact = {cid for cid in repo.store.checkpoint_ids() if cid not in broken}
    head = repo.git.head()
    for problem in report.problems:
        sha = problem.commit_sha
        # Only folders of commits on this line of history belong in this work tree.
        on_branch = bool(head and sha) and (
            repo.git.try_run("merge-base", "--is-ancestor", str(sha), str(head)) is not None
        )
        # In ref mode the folders live in the checkpoint ref: any commit's can go there.
        mode = repo.settings.checkpoint_files
        place = (mode == "branch" and on_branch) or mode == "ref"
        cid = problem.checkpoint_id
        if sha and cid and place and _torn_folder(problem, intact):
            finding = Finding(
                check=problem.kind,
                severity="warning",
                message=problem.message,
                repair="rewrite the folder from the database (as promotion writes it)",
            )
            if fix:
                _rewrite_folder(repo, cid)
                finding = attrs.evolve(finding, fixed=True)
            yield finding
        else:
            yield Finding(
                check=f"verify:{problem.kind}",
                severity="error" if problem.severity == "error" else "info",
                message=problem.message,
            )


def _outbox(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Team setup: can the shared store be reached, and what waits to be sent to it."""
    shared = repo.shared_store
    if shared is None:
        return
    waiting = repo.store.outbox()
    try:
        shared.connect()
    except BitloopsError as exc:
        yield Finding(check="shared store", severity="warning", message=str(exc))
    else:
        yield Finding(
            check="shared store",
            severity="info",
            message=f"{shared.display_url} reachable, schema version current",
        )
    if not waiting:
        return
    oldest = waiting[0][1]
    last_error = next((w[3] for w in reversed(waiting) if w[3]), None)
    message = (
        f"{len(waiting)} checkpoint(s) in the outbox waiting to be sent, the oldest queued "
        f"at {oldest}" + (f"; last error: {last_error}" if last_error else "")
    )
    if fix:
        report = repo.sync()
        yield Finding(
            check="outbox",
            severity="info" if report.ok else "warning",
            message=message,
            repair="run `bitloops sync`",
            fixed=report.ok,
        )
        return
    yield Finding(check="outbox", severity="warning", message=message, repair="run `bitloops sync`")


def _mcp(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Agents hooked up here whose bitloops MCP server entry is missing or out of date."""
    from bitloops.agents._config import enabled_agents
    from bitloops.agents._mcp_config import apply, mcp_available, mcp_problems, plan_enable

    repairable = mcp_available()
    for agent, message in mcp_problems(repo.toplevel, enabled_agents(repo.toplevel)):
        can_fix = repairable and ("not registered" in message or "out of date" in message)
        finding = Finding(
            check="mcp",
            severity="warning",
            message=message,
            repair=f"register it again (as `bitloops enable --agent {agent}` does)"
            if can_fix
            else None,
        )
        if fix and can_fix:
            try:
                apply(plan_enable(repo.toplevel, agent))
            except BitloopsError as exc:
                finding = attrs.evolve(finding, message=f"{message} (not repaired: {exc})")
            else:
                finding = attrs.evolve(finding, fixed=True)
        yield finding


def _agent_hooks(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Agents hooked up here whose file lacks hook entries this version writes, or whose
    entries run Python the way bitloops 0.1 wrote them (without -P)."""
    from bitloops.agents._config import AGENT_CONFIGS, missing_events, unsafe_commands

    for name in unsafe_commands(repo.toplevel):
        yield _agent_finding(
            repo,
            fix,
            name,
            f"{AGENT_CONFIGS[name].label}'s hooks run Python without -P (as bitloops 0.1 "
            "wrote them), so a json.py or re.py at the top of the project can break them",
            f"update them (as `bitloops enable --agent {name}` does)",
        )
    for name, events in missing_events(repo.toplevel).items():
        yield _agent_finding(
            repo,
            fix,
            name,
            f"{AGENT_CONFIGS[name].label}'s hooks lack {', '.join(events)}, so the "
            "agent is not handed past reasoning at session start and before edits",
            f"add them (as `bitloops enable --agent {name}` does)",
        )


def _agent_finding(repo: Repository, fix: bool, name: str, message: str, repair: str) -> Finding:
    """An agent-hooks warning, repaired with ``--fix`` by writing the agent's entries again."""
    from bitloops.agents._config import enable_agent

    finding = Finding(check="agent-hooks", severity="warning", message=message, repair=repair)
    if not fix:
        return finding
    try:
        enable_agent(repo.toplevel, name, mcp=False)
    except BitloopsError as exc:
        return attrs.evolve(finding, message=f"{message} (not repaired: {exc})")
    return attrs.evolve(finding, fixed=True)


def _quarantine(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Hook payloads kept aside (unreadable, or rejected) and hook events still spooled."""
    from bitloops.capture import _spool as spool

    if spool.pending(repo.paths.common_dir):
        finding = Finding(
            check="hook_spool",
            severity="warning",
            message=f"hook events wait in {spool.spool_path(repo.paths.common_dir)} (the "
            "database was busy when they came); the next hook or promotion records them",
            repair="record them now",
        )
        if fix:
            from bitloops.capture._runner import drain_spool

            finding = attrs.evolve(finding, fixed=drain_spool(repo))
        yield finding
    count = repo.store.count_quarantine()
    if not count:
        return
    newest = repo.store.quarantined(limit=3)
    reasons = "; ".join(f"{agent} at {when}: {reason}" for _, when, agent, _, reason, _ in newest)
    yield Finding(
        check="quarantine",
        severity="warning",
        message=f"{count} hook payload(s) could not be recorded and are kept in the quarantine "
        f"table of {repo.db_path} (newest: {reasons}). Inspect them with "
        f'`sqlite3 {repo.db_path} "SELECT id, received_at, agent, reason, payload FROM '
        'quarantine"`; clear them with `repo.store.clear_quarantine()` (or DELETE FROM '
        "quarantine)",
    )


def _spool_elsewhere(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """Hook events spooled because the database could not be opened (see hooks.log), and
    those kept in the user's cache folder because the git directory was not writable."""
    import os

    from bitloops.capture import _spool as spool

    common = repo.paths.common_dir
    cached = spool.spool_path(spool.fallback_dir(common))
    if not os.path.exists(cached) or not os.path.getsize(cached):
        return
    finding = Finding(
        check="hook_spool_elsewhere",
        severity="warning",
        message=f"hook events wait in {cached}: {common / 'bitloops'} was not writable when "
        "they came (or the database could not be opened; see hooks.log). They are recorded "
        "once the database opens again, by the next hook or a promotion",
        repair="record them now",
    )
    if fix:
        from bitloops.capture._runner import drain_spool

        finding = attrs.evolve(finding, fixed=drain_spool(repo))
    yield finding


def _distiller(repo: Repository, fix: bool, stale: timedelta) -> Iterator[Finding]:
    """The optional LLM distiller: why its last distillation failed, if it did."""
    from bitloops.checkpoint._distill import failure_message, last_distillation

    last = last_distillation(repo)
    message = None if last is None else failure_message(last)
    if message is not None:
        yield Finding(check="distiller", severity="warning", message=message)
