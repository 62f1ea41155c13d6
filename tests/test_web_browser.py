"""``bitloops serve`` in a real browser: headless Chromium loads the pages a user would."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest
from conftest import commit_files, git
from web_fixtures import HOSTILE_PROMPT, build_repo, start_server, stop_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# CI installs chromium and sets BITLOOPS_TEST_BROWSER_REQUIRED: there a missing browser fails.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("BITLOOPS_TEST_BROWSER_REQUIRED"),
    reason="no chromium: apt-get install -y chromium (.ci/run does)",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str, Path]]:
    """Two checkpoints, ``bitloops serve`` on them, and a folder for the browser."""
    base = tmp_path_factory.mktemp("browser")
    repo = base / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_files(repo, {"README.md": "# demo\n"}, "initial commit")
    first, second = build_repo(repo)
    proc, url = start_server(repo)
    try:
        yield [first.checkpoint_id, second.checkpoint_id], url, base
    finally:
        stop_server(proc)


def chromium(base: Path, *args: str) -> str:
    """Run headless Chromium with ``args`` (its own profile under ``base``); its stdout."""
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={base / 'profile'}",
            *args,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dom(base: Path, url: str) -> str:
    """The page's DOM after the browser has loaded (and would have run) it."""
    return chromium(base, "--dump-dom", url)


def hrefs(page: str, pattern: str) -> list[str]:
    """The links of ``page`` matching ``pattern``, unescaped."""
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page) if re.search(pattern, h)]


def test_checkpoint_page_in_a_browser(served: tuple[list[str], str, Path]) -> None:
    """The checkpoint page renders: a screenshot, the conversation, the records, and the
    hostile prompt shown as text (no script element, the title untouched)."""
    ids, url, base = served
    page_url = f"{url}checkpoint/{ids[0]}"
    shot = base / "checkpoint.png"
    chromium(base, f"--screenshot={shot}", "--window-size=1200,2000", page_url)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    page = dom(base, page_url)
    assert "<script" not in page  # the prompt's <script> is text, not an element
    assert "pwned" not in page.split("</title>", 1)[0]  # nothing ran
    assert html.escape(HOSTILE_PROMPT, quote=False) in page
    conversation = page.split('id="conversation"', 1)[1]
    assert conversation.index("prompt") < conversation.index("reasoning")
    assert conversation.index("reasoning") < conversation.index("response")
    assert "Requests fail under load with 503s." in conversation
    for text in ("Exponential backoff with jitter", "Use the tenacity library",
                 "No new dependencies", "Wrap send() in a retry loop"):  # fmt: skip
        assert text in page.split('id="conversation"', 1)[0], text


def test_history_to_checkpoint_to_file_and_search(served: tuple[list[str], str, Path]) -> None:
    """Follow the links a reader would: history, a checkpoint, its file; then search."""
    ids, url, base = served
    history = dom(base, url)
    links = hrefs(history, r"^/checkpoint/")
    assert links == [f"/checkpoint/{ids[1]}", f"/checkpoint/{ids[0]}"]
    checkpoint = dom(base, urljoin(url, links[1]))
    assert "Exponential backoff with jitter" in checkpoint
    files = hrefs(checkpoint, r"^/file\?path=client\.py$")
    assert files
    file_page = dom(base, urljoin(url, files[0]))
    assert "Blame (4 lines)" in file_page
    assert 'class="agent"' in file_page  # the agent's edit wrote these lines
    found = dom(base, urljoin(url, "/search?q=tenacity"))
    assert "<mark>tenacity</mark>" in found
    assert hrefs(found, rf"^/checkpoint/{ids[0]}\?at=")
