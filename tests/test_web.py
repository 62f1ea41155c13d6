"""The web view: ``bitloops serve`` over plain HTTP, the pages, ``bitloops export --html``."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import commit_files, git
from web_fixtures import HOSTILE_PROMPT, build_repo, start_server, stop_server

import bitloops
from bitloops.checkpoint._history import short_id
from bitloops.web import _pages as pages
from bitloops.web._html import Links, esc
from bitloops.web._server import allowed_hosts, is_loopback


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], str]]:
    """A repository with two checkpoints and ``bitloops serve`` running on it."""
    repo = tmp_path_factory.mktemp("web") / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_files(repo, {"README.md": "# demo\n"}, "initial commit")
    first, second = build_repo(repo)
    proc, url = start_server(repo)
    try:
        yield repo, [first.checkpoint_id, second.checkpoint_id], url
    finally:
        stop_server(proc)


def get(
    url: str, path: str, *, host: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """GET ``path`` from the server at ``url``: status, headers, body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        sent = dict(headers or {})
        if host is not None:
            sent["Host"] = host
        conn.request("GET", path, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value)


def parse(body: str) -> _Links:
    """The links and the number of script elements of a page."""
    parser = _Links()
    parser.feed(body)
    return parser


# -- the server --------------------------------------------------------------------------


def test_history_lists_checkpoints_and_filters(site: tuple[Path, list[str], str]) -> None:
    """The history links each checkpoint with its commit subject; filters narrow it."""
    _, ids, url = site
    status, headers, body = get(url, "/")
    assert status == 200
    assert "text/html" in headers["content-type"]
    assert "script-src" not in headers["content-security-policy"]  # no script allowed
    hrefs = parse(body).hrefs
    assert [h for h in hrefs if h.startswith("/checkpoint/")] == [
        f"/checkpoint/{ids[1]}",
        f"/checkpoint/{ids[0]}",
    ]
    assert "retry the HTTP client" in body and "notes" in body
    _, _, codex = get(url, "/?agent=codex")
    assert ids[1] in codex and ids[0] not in codex
    _, _, model = get(url, "/?model=claude-sonnet-4")
    assert ids[0] in model and ids[1] not in model
    _, _, none = get(url, "/?branch=elsewhere")
    assert "No checkpoints." in none


def test_checkpoint_page_escapes_and_shows_the_reasoning(
    site: tuple[Path, list[str], str],
) -> None:
    """What was asked (escaped), the conversation in order, records, tool result, diff."""
    _, ids, url = site
    status, _, body = get(url, f"/checkpoint/{ids[0]}")
    assert status == 200
    assert parse(body).scripts == 0
    assert "<script>document" not in body
    assert esc(HOSTILE_PROMPT) in body
    conversation = body.split('id="conversation"', 1)[1]
    order = [conversation.index(t) for t in ("prompt", "reasoning", "Edit", "response")]
    assert order == sorted(order)
    assert '<details class="ev reasoning"' in conversation  # folded
    assert "tool output" in conversation  # the result, inside its tool call
    for text in (
        "Exponential backoff with jitter",
        "avoids synchronised retries",
        "Use the tenacity library",
        "No new dependencies",
        "Wrap send() in a retry loop",
    ):
        assert esc(text) in body
    assert "evidence: decision #" in body
    assert "/file?path=client.py" in body
    assert '<span class="add">+        for _ in range(3):</span>' in body  # the diff


def test_checkpoint_by_commit_and_prefix(site: tuple[Path, list[str], str]) -> None:
    """/checkpoint/ takes a commit or a cp: prefix as well as an id."""
    repo, ids, url = site
    sha = git(repo, "rev-parse", "HEAD~1").strip()
    for ref in (sha, short_id(ids[0])):
        status, _, body = get(url, f"/checkpoint/{ref}")
        assert status == 200, ref
        assert ids[0] in body


def test_missing_pages_are_clear_404s(site: tuple[Path, list[str], str]) -> None:
    """An unknown checkpoint, file or path gets a 404 page saying what is missing."""
    _, _, url = site
    status, _, body = get(url, "/checkpoint/0000-no-such")
    assert status == 404
    assert "No checkpoint &#x27;0000-no-such&#x27;" in body
    status, _, body = get(url, "/file?path=nothing/here.py")
    assert status == 404 and "nothing/here.py" in body
    status, _, body = get(url, "/no/such/page")
    assert status == 404 and "Not found" in body
    status, _, body = get(url, "/file?path=../../etc/passwd")
    assert status == 404 and "root:" not in body
    assert get(url, "/file?path=client.py%00x")[0] == 400
    assert get(url, "/checkpoint/HEAD%00")[0] == 400


def test_file_page_has_history_and_blame(site: tuple[Path, list[str], str]) -> None:
    """A file's page lists the checkpoints that touched it and blames its lines."""
    _, ids, url = site
    status, _, body = get(url, "/file?path=client.py")
    assert status == 200
    assert f"/checkpoint/{ids[0]}" in body
    assert "Exponential backoff with jitter" in body
    assert '<tr class="agent">' in body and "written by agent" in body


def test_search_links_to_the_event(site: tuple[Path, list[str], str]) -> None:
    """Search shows hits with the match marked and links to the event's page."""
    _, ids, url = site
    status, _, body = get(url, "/search?q=backoff")
    assert status == 200
    assert "<mark>" in body
    assert re.search(rf'href="/checkpoint/{ids[0]}\?at=[^"]+#ev-', body)
    status, _, body = get(url, "/search?q=%22unbalanced")
    assert status == 400 and "unbalanced double quote" in body


def test_host_header_is_checked(site: tuple[Path, list[str], str]) -> None:
    """Only the server's own names are served: a rebinding name is refused."""
    _, _, url = site
    port = urlsplit(url).port
    assert get(url, "/", host="evil.example:80")[0] == 403
    assert get(url, "/", host=f"evil.example:{port}")[0] == 403
    assert get(url, "/", host="127.0.0.1")[0] == 403  # the port is part of the check
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert get(url, "/", host=host)[0] == 200, host


def test_read_only(site: tuple[Path, list[str], str]) -> None:
    """Anything but GET and HEAD is refused."""
    parts = urlsplit(site[2])
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.request("POST", "/", body=b"x")
    resp = conn.getresponse()
    assert resp.status == 405
    assert resp.getheader("Allow") == "GET, HEAD"
    conn.close()


def test_token_off_loopback(tmp_path: Path, git_repo: Path) -> None:
    """Bound to every address, the token is needed: once in the URL, then as a cookie."""
    proc, url = start_server(git_repo, "--host", "0.0.0.0")
    try:
        parts = urlsplit(url)
        token = parts.query.removeprefix("token=")
        assert len(token) >= 24
        local = f"http://127.0.0.1:{parts.port}/"
        assert get(local, "/")[0] == 403
        assert get(local, "/?token=wrong")[0] == 403
        status, headers, _ = get(local, f"/?token={token}&page=1")
        assert status == 303
        assert headers["location"] == "/?page=1"  # the token leaves the address bar
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert get(local, "/", headers={"Cookie": cookie.split(";", 1)[0]})[0] == 200
        name = cookie.split("=", 1)[0]
        assert name == f"bitloops_token_{parts.port}"
        assert get(local, "/", headers={"Cookie": f"{name}=nope"})[0] == 403
        # A path that a browser would read as another site's stays on this one.
        assert get(local, f"/\\evil.example/?token={token}")[1]["location"] == "/evil.example/"
    finally:
        stop_server(proc)


def test_host_rules() -> None:
    """Loopback needs no token; a named host adds its own name; a wildcard takes any."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert allowed_hosts("192.168.1.5", 80) == frozenset(
        {"127.0.0.1:80", "localhost:80", "[::1]:80", "192.168.1.5:80"}
    )
    assert allowed_hosts("0.0.0.0", 80) is None


def test_port_in_use_is_a_clear_error(site: tuple[Path, list[str], str]) -> None:
    """A port already taken: one line saying so and what to do, exit 2."""
    repo, _, url = site
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "serve", "--port", str(urlsplit(url).port)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("bitloops: cannot listen on 127.0.0.1:")
    assert "--port" in proc.stderr


# -- pages in process ------------------------------------------------------------------


def test_history_paginates(
    site: tuple[Path, list[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One checkpoint a page: newer and older links, a page past the end is a 404."""
    repo, ids, _ = site
    monkeypatch.setattr(pages, "HISTORY_PER_PAGE", 1)
    with bitloops.Repository.open(repo) as r:
        one = pages.history_page(r, Links(), {})
        two = pages.history_page(r, Links(), {"page": "2"})
        three = pages.history_page(r, Links(), {"page": "3"})
    assert ids[1] in one.body and ids[0] not in one.body
    assert 'rel="next" href="/?page=2"' in one.body and 'rel="prev"' not in one.body
    assert ids[0] in two.body and 'rel="prev" href="/?page=1"' in two.body
    assert 'rel="next"' not in two.body
    assert three.status == 404


def test_long_conversation_is_paged(
    site: tuple[Path, list[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long transcript is split into pages; ?at=EVENT opens the page holding it."""
    repo, ids, _ = site
    monkeypatch.setattr(pages, "EVENTS_PER_PAGE", 3)
    with bitloops.Repository.open(repo) as r:
        cp = r.checkpoint(ids[0])
        last = cp.events[len(cp.events) - 1]
        first = pages.checkpoint_page(r, Links(), ids[0])
        at = pages.checkpoint_page(r, Links(), ids[0], {"at": last.event_id})
        static = pages.checkpoint_page(r, Links(static=True, depth=1), ids[0])
    assert f'id="ev-{cp.events[0].event_id}"' in first.body
    assert f'id="ev-{last.event_id}"' not in first.body
    assert "?events=2" in first.body
    assert f'id="ev-{last.event_id}"' in at.body
    assert f'id="ev-{cp.events[0].event_id}"' not in at.body
    assert f'id="ev-{last.event_id}"' in static.body and "?events=" not in static.body


def test_web_is_not_imported_by_hooks_or_the_cli() -> None:
    """`import bitloops` and the command line's parser do not load the web pages."""
    code = (
        "import sys, bitloops, bitloops.cli._main\n"
        "bitloops.cli._main.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('bitloops.web.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


# -- export --html ---------------------------------------------------------------------


def _relative_links_resolve(root: Path) -> int:
    """Check every relative link of every page in ``root`` names a file there."""
    checked = 0
    for page in root.rglob("*.html"):
        for href in parse(page.read_text(encoding="utf-8")).hrefs:
            assert not href.startswith(("/", "http:", "https:")), (page, href)
            target = href.split("#", 1)[0]
            if target:
                assert (page.parent / target).resolve().is_file(), (page, href)
                checked += 1
    return checked


def test_export_html(site: tuple[Path, list[str], str], tmp_path: Path) -> None:
    """A range exports an index, each checkpoint and each file, linked relatively."""
    repo, ids, _ = site
    out = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "bitloops", "export", "--html", "HEAD~2..HEAD", "-o", str(out),
         "--json"],
        cwd=repo, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["checkpoints"] == ids
    assert sorted(data["files"]) == ["NOTES.md", "client.py"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert ids[0] in index and ids[1] in index
    page = (out / "checkpoint" / f"{ids[0]}.html").read_text(encoding="utf-8")
    assert parse(page).scripts == 0 and esc(HOSTILE_PROMPT) in page
    assert "Content-Security-Policy" in page
    assert 'action="/search"' not in page  # no server to search with
    assert _relative_links_resolve(out) > 5


def test_export_one_commit_and_errors(site: tuple[Path, list[str], str], tmp_path: Path) -> None:
    """One commit exports its checkpoint; a commit without one, or no -o, fails clearly."""
    repo, ids, _ = site

    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bitloops", "export", *args],
            cwd=repo, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    proc = export("--html", "HEAD", "-o", str(tmp_path / "one"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote 1 checkpoint and 1 file page to ")
    assert (tmp_path / "one" / "checkpoint" / f"{ids[1]}.html").is_file()
    proc = export("--html", "HEAD~3", "-o", str(tmp_path / "none"))
    assert proc.returncode == 1 and "has no checkpoint" in proc.stderr
    proc = export("--html", "HEAD")
    assert (
        proc.returncode == 2
        and proc.stderr == "bitloops: --html needs a folder to write to: -o DIR\n"
    )
