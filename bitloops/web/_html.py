"""HTML helpers: escaping, links that work served or as static files, the page layout.

Every piece of text from a transcript is untrusted: it goes through :func:`esc` (or
:func:`attr`) before it reaches a page, so a prompt holding ``<script>`` shows as text.
The pages also carry a Content-Security-Policy that allows no script at all, so a
mistake in escaping still runs nothing.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import attrs

__all__ = [
    "CSP",
    "Links",
    "attr",
    "checkpoint_slug",
    "clip",
    "compact_json",
    "esc",
    "file_slug",
    "layout",
    "short_sha",
]

#: No scripts, no external anything: inline styles and same-origin forms only.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def esc(value: Any) -> str:
    """``value`` as text safe inside an HTML element (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def attr(value: Any) -> str:
    """``value`` quoted for an HTML attribute: ``"..."`` with everything escaped."""
    return '"' + esc(value) + '"'


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with ``…`` when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def compact_json(value: Any, limit: int = 160) -> str:
    """A one-line rendering of a tool's input or output (strings as they are)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    return clip(" ".join(text.split()), limit)


def short_sha(sha: str | None) -> str:
    """The first 12 characters of a SHA (as the command line shows them)."""
    return (sha or "")[:12]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_slug(path: str) -> str:
    """A flat, collision-free file name for ``path``'s page in a static export."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', path)[:80]}-{digest}"


def checkpoint_slug(checkpoint_id: str) -> str:
    """The file name (without ``.html``) of a checkpoint's page in a static export."""
    return _UNSAFE.sub("_", checkpoint_id)


@attrs.frozen(kw_only=True)
class Links:
    """Where each page is: URLs of the server, or relative file names of a static export.

    ``static`` pages sit in ``index.html``, ``checkpoint/<id>.html`` and
    ``file/<slug>.html``; ``depth`` is how deep the page being rendered is (0 for
    ``index.html``, 1 for the others), so every link is relative and the folder can be
    opened from anywhere (a CI artefact, a pull request attachment).
    """

    static: bool = False
    depth: int = 0
    #: In a static export: the checkpoints and files that have a page (None: all do).
    checkpoints: frozenset[str] | None = None
    files: frozenset[str] | None = None

    def at(self, depth: int) -> Links:
        """The same scheme, for a page ``depth`` folders down."""
        return attrs.evolve(self, depth=depth)

    @property
    def _up(self) -> str:
        return "../" * self.depth

    def history(self, params: Mapping[str, str | int] | None = None) -> str:
        """The history page (its ``params``: filters and page number, served only)."""
        if self.static:
            return self._up + "index.html"
        query = {k: v for k, v in (params or {}).items() if v not in ("", None)}
        return "/" + ("?" + urlencode(query) if query else "")

    def checkpoint(self, checkpoint_id: str, event_id: str = "") -> str:
        """One checkpoint's page, scrolled to the event ``event_id`` if given.

        Served, ``?at=`` picks the page of a long transcript that holds the event.
        """
        frag = f"#ev-{event_id}" if event_id else ""
        if self.static and self.checkpoints is not None and checkpoint_id not in self.checkpoints:
            return self._up + "index.html#not-exported"
        if self.static:
            return f"{self._up}checkpoint/{checkpoint_slug(checkpoint_id)}.html{frag}"
        at = "?" + urlencode({"at": event_id}) if event_id else ""
        return f"/checkpoint/{quote(checkpoint_id, safe='')}{at}{frag}"

    def checkpoint_page(self, checkpoint_id: str, page: int) -> str:
        """Page ``page`` (from 1) of a checkpoint's conversation (served only)."""
        return f"/checkpoint/{quote(checkpoint_id, safe='')}?" + urlencode({"events": page})

    def file(self, path: str) -> str:
        """A file's history and blame."""
        if self.static and self.files is not None and path not in self.files:
            return self._up + "index.html#not-exported"
        if self.static:
            return f"{self._up}file/{file_slug(path)}.html"
        return "/file?" + urlencode({"path": path})

    def search(self, query: str = "") -> str | None:
        """The search page, or None in a static export (it has no server to ask)."""
        if self.static:
            return None
        return "/search" + ("?" + urlencode({"q": query}) if query else "")


_STYLE = """
:root { color-scheme: light dark; --dim: #6a737d; --line: #d0d7de; --bg2: #f6f8fa;
  --add: #e6ffec; --del: #ffebe9; --mark: #fff8c5; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --dim: #8b949e; --line: #30363d; --bg2: #161b22;
  --add: #12261e; --del: #25171c; --mark: #3b2f00; --accent: #58a6ff; } }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; }
header.top { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em;
  border-bottom: 1px solid var(--line); background: var(--bg2); flex-wrap: wrap; }
header.top a.brand { font-weight: 600; text-decoration: none; }
header.top form { margin-left: auto; }
main { max-width: 72em; margin: 0 auto; padding: 1em 1.2em 3em; }
a { color: var(--accent); }
h1 { font-size: 1.4em; margin: .4em 0; } h1 code { font-size: .9em; }
h2 { font-size: 1.15em; margin-top: 1.6em;
  border-bottom: 1px solid var(--line); padding-bottom: .2em; }
code, pre, .mono { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: .2em 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .3em 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em;
  border-bottom: 1px solid var(--line); }
.dim { color: var(--dim); } .tag { display: inline-block; padding: 0 .4em; border-radius: .6em;
  border: 1px solid var(--line); font-size: .85em; margin-right: .2em; }
.ev { margin: .5em 0; padding: .4em .7em; border-left: 3px solid var(--line); }
.ev.prompt { border-color: #1f883d; background: var(--bg2); }
.ev.response { border-color: var(--accent); }
.ev.reasoning, .ev.tool { border-color: var(--line); }
.ev.why { border-color: #bf8700; }
.ev .who { font-size: .85em; color: var(--dim); }
details > summary { cursor: pointer; }
.rec { margin: .4em 0 .8em; } .rec .ev-link { font-size: .85em; }
blockquote { margin: .3em 0 .3em 1em; padding-left: .6em; border-left: 3px solid var(--line);
  color: var(--dim); }
del { color: var(--dim); }
.diff .add { background: var(--add); display: block; }
.diff .del { background: var(--del); display: block; }
.diff .hunk { color: var(--dim); display: block; }
.diff .ctx { display: block; }
mark { background: var(--mark); color: inherit; }
.blame td { padding: 0 .5em; border: 0; white-space: nowrap; }
.blame td.code { white-space: pre; width: 100%; }
.blame tr.agent td.code { background: var(--add); }
.blame tr.unknown td.code { background: var(--mark); }
.pager { margin: 1em 0; display: flex; gap: 1em; }
form.filters input { width: 9em; }
"""


def layout(title: str, body: str, links: Links, *, query: str = "") -> str:
    """A whole page: ``title`` (plain text, escaped here) around ``body`` (HTML)."""
    search = links.search()
    form = ""
    if search is not None:
        form = (
            f'<form method="get" action={attr(search)} role="search">'
            f'<input type="search" name="q" value={attr(query)} '
            'placeholder="search transcripts" aria-label="search transcripts"> '
            "<button>Search</button></form>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content={attr(CSP)}>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)} · bitloops</title><style>{_STYLE}</style></head>\n"
        '<body><header class="top">'
        f'<a class="brand" href={attr(links.history())}>bitloops</a>'
        f"<a href={attr(links.history())}>History</a>{form}</header>\n"
        f"<main>\n{body}\n</main></body></html>\n"
    )
