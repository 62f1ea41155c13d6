"""The hand-written agent fixtures under tests/fixtures/<agent>/, filled in for a test repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fill(text: str, repo: Path, transcript: Path) -> str:
    """Put the test's work tree and transcript path where the fixture has placeholders."""
    return text.replace("{cwd}", str(repo)).replace("{transcript}", str(transcript))


def payloads(agent: str, repo: Path, transcript: Path) -> list[dict[str, Any]]:
    """The agent's hook payloads (``hooks.jsonl``), one dict per line."""
    text = fill((FIXTURES / agent / "hooks.jsonl").read_text(encoding="utf-8"), repo, transcript)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_transcript(agent: str, name: str, repo: Path, dest: Path) -> Path:
    """Copy the agent's transcript fixture ``name`` to ``dest``, filled in; ``dest``."""
    text = (FIXTURES / agent / name).read_text(encoding="utf-8")
    dest.write_text(fill(text, repo, dest), encoding="utf-8")
    return dest
