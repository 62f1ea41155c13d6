"""bitloops in one minute: record a session, commit, promote, read the checkpoint back.

Run it with ``python examples/quickstart.py``. It works in a throwaway git repository
under the system's temporary folder and prints where that is, so you can look around.
Pass ``--keep`` to keep the folder afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bitloops


def git(repo: Path, *args: str) -> str:
    """Run git in the demo repository."""
    env_args = ("-c", "user.name=Quickstart", "-c", "user.email=quickstart@example.invalid")
    done = subprocess.run(
        ("git", *env_args, *args), cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout


def main() -> None:
    """Walk through capture, promotion and reading a checkpoint."""
    keep = "--keep" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="bitloops-quickstart-"))
    try:
        repo_dir = work / "shop"
        repo_dir.mkdir()
        git(repo_dir, "init", "-q", "-b", "main")
        (repo_dir / "prices.py").write_text("def total(items):\n    return sum(items)\n")
        git(repo_dir, "add", "prices.py")
        git(repo_dir, "commit", "-q", "-m", "Initial prices module")

        repo = bitloops.Repository.open(repo_dir)

        # 1. An agent works: every call is committed to SQLite before it returns.
        with repo.start_session(agent="claude-code", model="claude-sonnet-4-5") as session:
            session.prompt("Totals must include VAT at 20%, rounded to cents.")
            session.reasoning("total() sums raw prices; VAT must be applied once, at the end.")
            session.plan("Add a vat_rate parameter, apply it after summing, round half-up.")
            session.constraint("Keep the public signature backwards compatible.")
            session.alternative(
                "Apply VAT to each item", reason="rounding per item drifts from the invoice total"
            )
            session.decision(
                "Use decimal.Decimal with ROUND_HALF_UP",
                rationale="floats cannot represent cents exactly",
            )
            session.tool_use(
                "Edit", {"file_path": "prices.py", "old": "sum(items)"}, output="1 file changed"
            )
            # A secret pasted by mistake is redacted before it is written anywhere.
            session.tool_use(
                "Bash",
                {"command": "deploy --token ghp_FAKEexampleTOKEN1234567890abcdefABCD"},
                output="ok",
            )
            session.file_change("prices.py", "modified")
            session.response("total() now adds 20% VAT and rounds to cents with Decimal.")

            print("Live state while the agent works:")
            status = repo.status()
            print(f"  capture enabled: {status.capture_enabled}")
            print(f"  draft events:    {status.draft_event_count}")

        # 2. The developer commits the change ...
        (repo_dir / "prices.py").write_text(
            "from decimal import ROUND_HALF_UP, Decimal\n\n\n"
            "def total(items, vat_rate=Decimal('0.20')):\n"
            "    net = sum(Decimal(str(i)) for i in items)\n"
            "    return (net * (1 + vat_rate)).quantize(Decimal('0.01'), ROUND_HALF_UP)\n"
        )
        git(repo_dir, "commit", "-q", "-am", "Add VAT to totals")

        # 3. ... and the draft is promoted into an immutable checkpoint of that commit.
        # (A git post-commit hook will do this by itself once hooks are installed.)
        checkpoint = repo.promote("HEAD")
        assert checkpoint is not None
        print(f"\nCheckpoint {checkpoint.checkpoint_id} for commit {checkpoint.commit_sha[:12]}")
        print(f"  events: {len(checkpoint.events)}, content hash {checkpoint.content_hash[:16]}…")
        print(f"  symbols touched: {', '.join(s.name for s in checkpoint.symbols)}")

        # 4. Anyone can ask the commit why — from Python, or from the files on disk.
        again = repo.checkpoint("HEAD")
        folder = repo_dir / ".bitloops" / "checkpoints" / "v1" / checkpoint.commit_sha
        from_disk = bitloops.read_checkpoint_dir(folder)
        assert again == checkpoint == from_disk
        bash = next(e for e in checkpoint.events if e.payload.get("name") == "Bash")
        print(f"  redacted command: {bash.payload['input']['command']}")
        print(f"  verify: {'ok' if repo.verify().ok else 'PROBLEMS'}")
        print(f"\n{folder / 'summary.md'}:\n")
        print((folder / "summary.md").read_text())

        # 5. Next month, an agent (or a reviewer) about to touch prices.py asks why it is so.
        print("History of prices.py, newest first:")
        for entry in repo.history("prices.py"):
            print(f"  {entry.commit_sha[:12]} asked: {entry.prompts[0] if entry.prompts else '-'}")
            for d in entry.decisions:
                print(f"    decided: {d.text}")
            for a in entry.alternatives:
                print(f"    rejected: {a.text}")
        repo.close()
    finally:
        if keep:
            print(f"Kept the demo repository in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
