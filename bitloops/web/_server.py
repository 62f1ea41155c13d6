"""``bitloops serve``: the pages over the standard library's threading HTTP server.

Read-only (GET and HEAD). Bound to 127.0.0.1 by default. Two guards make it safe to
leave running:

- the ``Host`` header must name the server (``127.0.0.1:PORT``, ``localhost:PORT``,
  ``[::1]:PORT``, or the ``--host`` given), so a web page cannot read it through DNS
  rebinding (a hostile name resolving to 127.0.0.1 still sends its own name);
- bound to anything but loopback, every request needs the token printed with the URL:
  ``?token=`` once, after which a cookie carries it.

Every page is sent with a Content-Security-Policy that runs no script and loads nothing
from elsewhere; transcript text is escaped by :mod:`.pages`.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from bitloops.errors import BitloopsError
from bitloops.web import DEFAULT_PORT
from bitloops.web._html import CSP, Links, esc
from bitloops.web._pages import (
    Page,
    checkpoint_page,
    file_page,
    history_page,
    not_found,
    render,
    search_page,
)

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = [
    "DEFAULT_PORT",
    "ServeError",
    "WebServer",
    "allowed_hosts",
    "is_loopback",
    "serve",
]

_COOKIE = "bitloops_token"


class ServeError(BitloopsError):
    """The web view could not start: the address is in use or cannot be bound."""


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The ``Host`` header values accepted for a server on ``host:port`` (None: any).

    Always the loopback names with the port; a named ``host`` adds itself. Bound to
    every address (``0.0.0.0``, ``::``) any name is accepted, and the token guards.
    """
    if _wildcard(host):
        return None
    names = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    bare = host.strip("[]").lower()
    names.add(f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}")
    return frozenset(names)


class WebServer(ThreadingHTTPServer):
    """The HTTP server of one repository's pages; requests are rendered one at a time."""

    daemon_threads = True

    def __init__(self, repo: Repository, host: str, port: int, token: str | None) -> None:
        self.repo = repo
        self.token = token
        # Pages refresh derived indexes as they read: one request renders at a time.
        self.render_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        try:
            super().__init__((host.strip("[]"), port), _Handler)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another port "
                "with --port (0 lets the system choose one)"
            ) from exc
        self.hosts = allowed_hosts(host, self.port)

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system for ``--port 0``)."""
        return int(self.server_address[1])

    def url(self) -> str:
        """Where to point a browser: with ``?token=`` when one is needed."""
        host = str(self.server_address[0])
        if _wildcard(host):
            host = socket.gethostname()
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{self.port}/"
        return base + ("?" + urlencode({"token": self.token}) if self.token else "")


class _Handler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "bitloops"
    sys_version = ""

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _refuse_method(self) -> None:
        message = _plain("read-only: only GET and HEAD")
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, message, True, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def log_message(self, format: str, *args: object) -> None:
        # The query string may hold the token: log the path alone.
        status = args[1] if len(args) > 1 else ""
        sys.stderr.write(f"bitloops serve: {self.command} {urlsplit(self.path).path} {status}\n")

    def _respond(self, *, body: bool) -> None:
        hosts = self.server.hosts
        host = (self.headers.get("Host") or "").strip().lower()
        if hosts is not None and host not in hosts:
            self._send(
                HTTPStatus.FORBIDDEN,
                _plain(f"unexpected Host header {host!r}: open the URL bitloops serve printed"),
                body,
            )
            return
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if any("\x00" in text for text in (unquote(url.path), *params.values())):
            # git and SQLite take no NUL: refuse it here rather than fail further down
            self._send(HTTPStatus.BAD_REQUEST, _plain("a NUL character in the request"), body)
            return
        token = self.server.token
        if token is not None:
            given = params.pop("token", None)
            if given is not None and hmac.compare_digest(given.encode(), token.encode()):
                # Trade the token in the URL for a cookie, and drop it from the address bar.
                # One leading "/": "/\\evil.example" would leave this site in a browser.
                clean = "/" + url.path.lstrip("/\\") + ("?" + urlencode(params) if params else "")
                # Named per port: cookies ignore ports, and two servers on one host would
                # overwrite each other's (other services on the host still see it: plain HTTP).
                cookie = f"{self._cookie}={token}; HttpOnly; SameSite=Strict; Path=/"
                extra = {"Location": clean, "Set-Cookie": cookie}
                self._send(HTTPStatus.SEE_OTHER, b"", body, extra=extra)
                return
            jar = SimpleCookie()
            try:
                jar.load(self.headers.get("Cookie") or "")
            except Exception:  # a malformed Cookie header is no token
                jar = SimpleCookie()
            held = jar.get(self._cookie)
            if held is None or not hmac.compare_digest(held.value.encode(), token.encode()):
                self._send(
                    HTTPStatus.FORBIDDEN,
                    _plain(
                        "a token is needed: open the URL with ?token= that bitloops serve printed"
                    ),
                    body,
                )
                return
        links = Links()
        try:
            with self.server.render_lock:
                page = self._page(url.path, params, links)
        except BitloopsError as exc:
            page = Page(status=500, title="Error", body=f"<h1>Error</h1><p>{esc(exc)}</p>")
        except Exception as exc:  # a bug must not stop the server; say what happened
            self.log_error("error rendering %s: %r", url.path, exc)
            page = Page(
                status=500,
                title="Error",
                body="<h1>Error</h1><p>bitloops could not render this page; the server's "
                "output has the details.</p>",
            )
        payload = render(page, links).encode("utf-8")
        self._send(HTTPStatus(page.status), payload, body, html=True)

    def _page(self, path: str, params: dict[str, str], links: Links) -> Page:
        repo = self.server.repo
        if path in ("/", "/index.html"):
            return history_page(repo, links, params)
        if path.startswith("/checkpoint/"):
            ref = unquote(path[len("/checkpoint/") :])
            if ref:
                return checkpoint_page(repo, links, ref, params)
        if path == "/file":
            return file_page(repo, links, params.get("path", ""))
        if path == "/search":
            return search_page(repo, links, params.get("q", ""))
        return not_found(f"No page {path!r}.", "Start from the history.")

    @property
    def _cookie(self) -> str:
        """The token cookie's name: one per port (cookies ignore ports)."""
        return f"{_COOKIE}_{self.server.server_address[1]}"

    def _send(
        self,
        status: HTTPStatus,
        payload: bytes,
        body: bool,
        *,
        html: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        kind = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
        headers = {
            "Content-Type": kind,
            "Content-Length": str(len(payload)),
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            **(extra or {}),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body and payload:
            self.wfile.write(payload)


def _plain(text: str) -> bytes:
    return (text + "\n").encode("utf-8")


def serve(
    repo: Repository,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    ready: Callable[[WebServer], None] | None = None,
) -> None:
    """Serve ``repo``'s pages until interrupted.

    Off loopback a token is always required (a random one unless ``token`` is given);
    ``ready`` is called with the listening server, before the first request.
    """
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    server = WebServer(repo, host, port, token)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
