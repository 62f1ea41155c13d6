"""Git hooks installed by `bitloops enable`, exercised by real git commands."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import commit_files, git

import bitloops
from bitloops import _commit_flow as flow
from bitloops.git import _hooks as hooks

USER_PRE_COMMIT = (
    '#!/bin/sh\necho "pre-commit ran as $(basename "$0")" >> "$(git rev-parse --show-toplevel)'
    '/../marker"\n[ -e "$(git rev-parse --show-toplevel)/../fail" ] && exit 3\nexit 0'
)
USER_POST_REWRITE = '#!/bin/sh\necho "args: $*" >> ../rewrite.log\ncat >> ../rewrite.log\n'


def bitloops_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bitloops ARGS`` in ``repo``."""
    return subprocess.run(
        [sys.executable, "-m", "bitloops", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def enable(repo: Path) -> dict[str, dict[str, object]]:
    """``bitloops enable --json``; the hooks by name."""
    proc = bitloops_cli(repo, "enable", "--json")
    assert proc.returncode == 0, proc.stderr
    return {h["hook"]: h for h in json.loads(proc.stdout)["hooks"]}


def git_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``git commit`` (hooks run); the process, for its status and output."""
    return subprocess.run(
        ("git", "commit", "-q", *args), cwd=repo, capture_output=True, text=True, check=False
    )


def record_and_commit(repo: Path, name: str, text: str, message: str) -> str:
    """Record a session editing ``name``, then ``git commit`` it with hooks; the new SHA."""
    with bitloops.Repository.open(repo) as r, r.start_session("claude-code", "m1") as s:
        s.prompt(message)
        s.file_change(name, "added")
        s.response("done")
    (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "--", name)
    proc = git_commit(repo, "-m", message)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    return git(repo, "rev-parse", "HEAD").strip()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``folder``: its bytes and mode."""
    return {
        p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in folder.iterdir()
        if not p.name.endswith(".sample")
    }


def test_enable_then_commit_makes_checkpoint(git_repo: Path) -> None:
    """enable installs the hooks; a real git commit then promotes the recorded session."""
    proc = bitloops_cli(git_repo, "enable")
    assert proc.returncode == 0
    assert "post-commit: installed" in proc.stdout
    folder = git_repo / ".git" / "hooks"
    for name in hooks.HOOK_NAMES:
        assert hooks.is_bitloops_hook(folder / name)
        assert os.access(folder / name, os.X_OK)
        assert sys.executable in (folder / name).read_text()
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    with bitloops.Repository.open(git_repo) as r:
        cp = r.checkpoint("HEAD")
    assert cp.commit_sha == sha
    assert (git_repo / ".bitloops/checkpoints/v1" / sha / "session.json").exists()


def test_enable_twice_is_idempotent(git_repo: Path) -> None:
    """A second enable changes no file and reports every hook unchanged."""
    (git_repo / ".git/hooks/post-commit").write_text("#!/bin/sh\nexit 0\n")
    (git_repo / ".git/hooks/post-commit").chmod(0o755)
    first = enable(git_repo)
    assert first["post-commit"]["action"] == "chained"
    before = snapshot(git_repo / ".git/hooks")
    second = enable(git_repo)
    assert {h["action"] for h in second.values()} == {"unchanged"}
    assert snapshot(git_repo / ".git/hooks") == before


def test_user_hooks_keep_running_with_their_status(git_repo: Path) -> None:
    """A chained hook runs (as its own name, same stdin); its failure still fails the commit."""
    folder = git_repo / ".git/hooks"
    (folder / "pre-commit").write_text(USER_PRE_COMMIT)
    (folder / "post-rewrite").write_text(USER_POST_REWRITE)
    for name in ("pre-commit", "post-rewrite"):
        (folder / name).chmod(0o755)
    enable(git_repo)
    old = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    assert (git_repo.parent / "marker").read_text() == "pre-commit ran as pre-commit\n"
    git(git_repo, "commit", "-q", "--amend", "-m", "Add a, amended")
    new = git(git_repo, "rev-parse", "HEAD").strip()
    assert (git_repo.parent / "rewrite.log").read_text().startswith(f"args: amend\n{old} {new}")
    (git_repo.parent / "fail").write_text("")
    (git_repo / "b.py").write_text("y = 2\n")
    git(git_repo, "add", "b.py")
    proc = git_commit(git_repo, "-m", "blocked")
    assert proc.returncode != 0
    assert git(git_repo, "rev-parse", "HEAD").strip() == new


def test_disable_restores_original_hook(git_repo: Path) -> None:
    """disable puts the user's hook back byte for byte with its mode; removes the others."""
    folder = git_repo / ".git/hooks"
    original = b"#!/bin/sh\r\n# user's hook\xff\nexit 0"
    (folder / "post-commit").write_bytes(original)
    (folder / "post-commit").chmod(0o750)
    before = snapshot(folder)
    enable(git_repo)
    proc = bitloops_cli(git_repo, "disable", "--json")
    assert proc.returncode == 0
    actions = {h["hook"]: h["action"] for h in json.loads(proc.stdout)["hooks"]}
    assert actions == {
        "post-commit": "restored",
        "post-rewrite": "removed",
        "pre-commit": "removed",
        "post-merge": "removed",
        "pre-push": "removed",
    }
    assert snapshot(folder) == before
    proc = bitloops_cli(git_repo, "disable")
    assert "post-commit: left alone (not installed by bitloops)" in proc.stdout
    assert snapshot(folder) == before


def test_core_hooks_path_is_respected(git_repo: Path) -> None:
    """With core.hooksPath set, the hooks go to that folder and run from there."""
    git(git_repo, "config", "core.hooksPath", "githooks")
    result = enable(git_repo)
    assert Path(str(result["post-commit"]["path"])) == git_repo / "githooks" / "post-commit"
    assert not (git_repo / ".git/hooks/post-commit").exists()
    sha = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint("HEAD").commit_sha == sha


def test_amend_keeps_the_checkpoint(git_repo: Path) -> None:
    """After git commit --amend, HEAD finds the original checkpoint, linked to both SHAs."""
    enable(git_repo)
    old = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    with bitloops.Repository.open(git_repo) as r:
        cp = r.checkpoint("HEAD")
    assert git_commit(git_repo, "--amend", "-m", "Add a (reworded)").returncode == 0
    new = git(git_repo, "rev-parse", "HEAD").strip()
    assert new != old
    with bitloops.Repository.open(git_repo) as r:
        after = r.checkpoint("HEAD")
    assert after.checkpoint_id == cp.checkpoint_id
    assert {old, new} <= set(after.commits)


def test_rebase_squash_links_every_checkpoint(git_repo: Path) -> None:
    """A rebase that fixes two commits into one links both checkpoints to the new commit."""
    enable(git_repo)
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    record_and_commit(git_repo, "b.py", "y = 2\n", "Add b")
    with bitloops.Repository.open(git_repo) as r:
        ids = {cp.checkpoint_id for cp in r.checkpoints()}
    assert len(ids) == 2
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": "sed -i -e '2,$ s/^pick/fixup/'"}
    proc = subprocess.run(
        ("git", "rebase", "-q", "-i", "HEAD~2"),
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert git(git_repo, "log", "--format=%s", "-2").splitlines() == ["Add a", "initial commit"]
    with bitloops.Repository.open(git_repo) as r:
        assert {cp.checkpoint_id for cp in r.checkpoints(commit="HEAD")} == ids


def test_cherry_pick_links_the_original_checkpoint(git_repo: Path) -> None:
    """A cherry-picked commit is linked to the checkpoint of the commit it copies."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    with bitloops.Repository.open(git_repo) as r:
        cp = r.checkpoint("HEAD")
    git(git_repo, "checkout", "-q", "main")
    git(git_repo, "cherry-pick", "side")
    with bitloops.Repository.open(git_repo) as r:
        picked = r.checkpoint("HEAD")
    assert picked.checkpoint_id == cp.checkpoint_id
    assert git(git_repo, "rev-parse", "HEAD").strip() in picked.commits


def test_pre_commit_stages_pending_checkpoint_folders(git_repo: Path) -> None:
    """The next ordinary commit carries the previous commit's folder; a partial one does not."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    folder = f".bitloops/checkpoints/v1/{first}"
    (git_repo / "b.py").write_text("y = 2\n")
    git(git_repo, "add", "b.py")
    assert git_commit(git_repo, "-m", "partial", "--", "b.py").returncode == 0
    assert folder not in git(git_repo, "ls-tree", "-r", "-d", "--name-only", "HEAD")
    (git_repo / "c.py").write_text("z = 3\n")
    git(git_repo, "add", "c.py")
    assert git_commit(git_repo, "-m", "ordinary").returncode == 0
    assert f"{folder}/session.json" in git(git_repo, "ls-tree", "-r", "--name-only", "HEAD")


def test_failing_promotion_does_not_fail_the_commit(git_repo: Path) -> None:
    """Unreadable settings: the commit succeeds, one line on stderr, the traceback in the log."""
    enable(git_repo)
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code") as s:
        s.prompt("Add a")
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops/settings.json").write_text("{not json")
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    proc = git_commit(git_repo, "-m", "Add a")
    assert proc.returncode == 0
    assert "bitloops: the post-commit hook failed" in proc.stderr
    assert git(git_repo, "log", "-1", "--format=%s").strip() == "Add a"
    log = (git_repo / ".git/bitloops/hooks.log").read_text()
    assert "post-commit failed" in log
    assert "Traceback" in log
    assert "SettingsError" in log


def test_conflicted_cherry_pick_with_x_is_linked(git_repo: Path) -> None:
    """A cherry-pick -x finished by git commit after a conflict is linked via its trailer."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a on side")
    with bitloops.Repository.open(git_repo) as r:
        cp = r.checkpoint("HEAD")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "a.py").write_text("x = 2\n")
    git(git_repo, "add", "a.py")
    git(git_repo, "commit", "-q", "--no-verify", "-m", "Add a on main")
    proc = subprocess.run(
        ("git", "cherry-pick", "-x", "side"), cwd=git_repo, capture_output=True, check=False
    )
    assert proc.returncode != 0  # the conflict
    (git_repo / "a.py").write_text("x = 3\n")
    git(git_repo, "add", "a.py")
    assert git_commit(git_repo, "--no-edit").returncode == 0
    with bitloops.Repository.open(git_repo) as r:
        assert r.checkpoint("HEAD").checkpoint_id == cp.checkpoint_id


def test_linked_worktree_uses_the_shared_hooks(git_repo: Path) -> None:
    """enable in a linked worktree installs in the shared hooks folder; commits there work."""
    wt = git_repo.parent / "wt"
    git(git_repo, "worktree", "add", "-q", str(wt), "-b", "wt")
    result = enable(wt)
    assert Path(str(result["post-commit"]["path"])) == git_repo / ".git/hooks/post-commit"
    sha = record_and_commit(wt, "a.py", "x = 1\n", "Add a in the worktree")
    with bitloops.Repository.open(wt) as r:
        assert r.checkpoint("HEAD").commit_sha == sha


def test_non_shell_chained_hook_is_executed(git_repo: Path) -> None:
    """A chained hook in another language runs as a program, with git's arguments."""
    hook = git_repo / ".git/hooks/post-commit"
    hook.write_text(
        f"#!{sys.executable}\nimport pathlib\npathlib.Path('../py-marker').write_text('ran')\n"
    )
    hook.chmod(0o755)
    enable(git_repo)
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    assert (git_repo.parent / "py-marker").read_text() == "ran"


def test_enable_refuses_to_lose_a_chained_hook(git_repo: Path) -> None:
    """A foreign hook over ours while a chained one is kept: conflict, exit 2, nothing moved."""
    hook = git_repo / ".git/hooks/post-commit"
    hook.write_text("#!/bin/sh\necho first\n")
    hook.chmod(0o755)
    enable(git_repo)
    hook.write_text("#!/bin/sh\necho second\n")
    before = snapshot(git_repo / ".git/hooks")
    proc = bitloops_cli(git_repo, "enable")
    assert proc.returncode == 2
    assert "post-commit: NOT installed" in proc.stdout
    assert snapshot(git_repo / ".git/hooks") == before


def test_hook_command_ignores_bad_input_quietly(git_repo: Path) -> None:
    """hook post-rewrite with lines that are not SHAs does nothing and prints nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "hook", "post-rewrite", "rebase"],
        cwd=git_repo,
        input="not a sha line\n\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert bitloops_cli(git_repo, "hook").returncode == 2


def test_rebase_picks_do_not_take_the_draft(git_repo: Path) -> None:
    """During a rebase post-commit promotes nothing; post-rewrite links the old checkpoints."""
    enable(git_repo)
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    commit_files(git_repo, {"b.py": "y = 2\n"}, "Add b, no session")
    with bitloops.Repository.open(git_repo) as r:
        before = [cp.checkpoint_id for cp in r.checkpoints()]
        with r.start_session("claude-code") as s:
            s.prompt("work in progress")
    git(git_repo, "rebase", "-q", "--no-ff", "HEAD~2")
    with bitloops.Repository.open(git_repo) as r:
        assert r.status().draft_event_count > 0
        assert [cp.checkpoint_id for cp in r.checkpoints()] == before
        assert r.checkpoint("HEAD~1").checkpoint_id == before[0]
        assert not r.checkpoints(commit="HEAD")


def test_hooks_leave_unused_repositories_alone(git_repo: Path) -> None:
    """Commits and amends in a repository where nothing was recorded create no database."""
    enable(git_repo)
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    assert git_commit(git_repo, "-m", "Add a").returncode == 0
    assert git_commit(git_repo, "--amend", "-m", "Add a!").returncode == 0
    assert not (git_repo / ".git/bitloops").exists()


def test_run_hook_never_raises(tmp_path: Path) -> None:
    """run_hook outside a repository reports on err and returns instead of raising."""
    err = io.StringIO()
    where = flow.run_hook("post-commit", [], tmp_path, io.StringIO(), err)
    assert where is not None
    assert "NotAGitRepository" in err.getvalue()
    assert err.getvalue().endswith(f"failed (git is unaffected); see {where}\n")


def _staged(repo: Path) -> list[str]:
    return git(repo, "diff", "--cached", "--name-only").split()


def test_a_refused_commit_leaves_no_folder_staged(git_repo: Path) -> None:
    """A failing user pre-commit, an empty message or a failing commit-msg hook: nothing left."""
    enable(git_repo)
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")  # its folder is now pending
    (git_repo / "g.py").write_text("g = 1\n")
    git(git_repo, "add", "g.py")
    hooks_dir = hooks.hooks_dir(git_repo)
    # 1. the user's own pre-commit refuses: bitloops stages nothing at all
    chained = hooks_dir / f"pre-commit{hooks.CHAINED_SUFFIX}"
    chained.write_text("#!/bin/sh\nexit 1\n")
    chained.chmod(0o755)
    assert git_commit(git_repo, "-m", "refused").returncode != 0
    assert _staged(git_repo) == ["g.py"]
    chained.unlink()
    # 2. an empty message aborts after pre-commit staged: the next bitloops run unstages
    assert git_commit(git_repo, "-m", "").returncode != 0
    bitloops_cli(git_repo, "status")
    assert _staged(git_repo) == ["g.py"]
    # 3. a failing commit-msg hook, the same
    msg = hooks_dir / "commit-msg"
    msg.write_text("#!/bin/sh\nexit 1\n")
    msg.chmod(0o755)
    assert git_commit(git_repo, "-m", "rejected message").returncode != 0
    bitloops_cli(git_repo, "status")
    assert _staged(git_repo) == ["g.py"]
    msg.unlink()
    # and a commit that goes through still carries the folder
    assert git_commit(git_repo, "-m", "fine").returncode == 0
    assert any(p.endswith("session.json") for p in git(
        git_repo, "show", "--name-only", "--format=", "HEAD").split())  # fmt: skip


def test_amending_a_cherry_picked_commit_promotes_the_draft(git_repo: Path) -> None:
    """The -x trailer survives an amend, but the amend is no cherry-pick: the draft is promoted."""
    enable(git_repo)
    git(git_repo, "checkout", "-q", "-b", "side")
    record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    git(git_repo, "checkout", "-q", "main")
    git(git_repo, "cherry-pick", "-x", "side")
    with bitloops.Repository.open(git_repo) as r, r.start_session("claude-code") as s:
        s.prompt("amend work")
    # The amend changes something: an identical amend in the same second is the same
    # commit (same SHA), which already has its checkpoint.
    (git_repo / "amended.py").write_text("y = 2\n")
    git(git_repo, "add", "amended.py")
    assert git_commit(git_repo, "--amend", "--no-edit").returncode == 0
    with bitloops.Repository.open(git_repo) as r:
        texts = [e.payload.get("text") for cp in r.checkpoints(commit="HEAD") for e in cp.events]
        assert "amend work" in texts
        assert r.draft().events == ()


def test_a_teammates_checkpoint_travels_with_the_branch(git_repo: Path, tmp_path: Path) -> None:
    """A clone without the database still explains a commit from its committed folder."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    (git_repo / "b.py").write_text("y = 2\n")
    git(git_repo, "add", "b.py")
    assert git_commit(git_repo, "-m", "carry").returncode == 0  # stages first's folder
    clone = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    with bitloops.Repository.open(clone) as mate:
        cp = mate.checkpoint(first)
        assert cp.commit_sha == first
        assert "Add a" in [e.payload.get("text") for e in cp.events]
        assert [c.checkpoint_id for c in mate.checkpoints(commit=first)] == [cp.checkpoint_id]
    proc = bitloops_cli(clone, "explain", first)
    assert proc.returncode == 0 and "Add a" in proc.stdout


def test_pending_folders_with_many_candidates(git_repo: Path) -> None:
    """With many folders waiting, only ancestors of HEAD are pending (batched check)."""
    with bitloops.Repository.open(git_repo) as r:
        s = r.start_session(agent="a")
        shas = []
        for i in range(10):
            s.prompt(f"step {i}")
            shas.append(commit_files(git_repo, {f"f{i}.txt": str(i)}))
            r.promote()
        git(git_repo, "checkout", "-q", "-b", "other", shas[4])
        s.prompt("elsewhere")
        off = commit_files(git_repo, {"o.txt": "1"})
        r.promote()
        git(git_repo, "checkout", "-q", "-f", "main")
    pending = flow.pending_folders(git_repo)
    assert pending == sorted(shas) and off not in pending


def test_a_hook_process_ends_without_the_teardown_but_flushed(tmp_path: Path) -> None:
    """``python -m bitloops hook`` skips the interpreter's teardown: the exit functions
    still run, the streams are flushed and the status is kept; a thread still running
    gets the usual exit, which waits for it."""
    code = (
        "import atexit, sys, threading, time\n"
        "from bitloops.__main__ import _end_now\n"
        "atexit.register(lambda: print('exit functions ran'))\n"
        "sys.stdout.write('buffered, ')\n"
        "if sys.argv[1] == 'thread':\n"
        "    threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "_end_now(3)\n"
        "print('usual exit')\n"
    )
    for how, out, status in [
        ("alone", "buffered, exit functions ran\n", 3),
        ("thread", "buffered, usual exit\nthread done\nexit functions ran\n", 0),
    ]:
        proc = subprocess.run(
            [sys.executable, "-c", code, how], capture_output=True, text=True, timeout=60
        )
        assert (proc.stdout, proc.returncode, proc.stderr) == (out, status, ""), how
    # and the real command: its status and what it said (here: no work tree)
    proc = bitloops_cli(tmp_path, "hook", "pre-commit")
    assert proc.returncode == 2 and "is not inside a git work tree" in proc.stderr


def test_the_pre_commit_hook_stages_a_folder_without_the_object_model(git_repo: Path) -> None:
    """Staging the last commit's folder (the pre-commit hook's work on most commits) loads
    neither attrs, typing nor the object model."""
    enable(git_repo)
    first = record_and_commit(git_repo, "a.py", "x = 1\n", "Add a")
    script = (
        "import sys\n"
        "from bitloops.__main__ import main\n"
        "status = main(['hook', 'pre-commit'])\n"
        "heavy = ('attr', 'attrs', 'typing', 'cattrs', 'bitloops.model', 'bitloops.repository')\n"
        "print(status, sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=git_repo, capture_output=True, text=True, timeout=60
    )
    assert (proc.stdout, proc.stderr) == ("0 []\n", "")
    staged = git(git_repo, "diff", "--cached", "--name-only")
    assert f".bitloops/checkpoints/v1/{first}/session.json" in staged
