"""The pages of the web view, each rendered from a :class:`~bitloops.Repository`.

History (checkpoints newest first, filtered, paginated), one checkpoint (what was asked,
the conversation in order, the why-records with their evidence, files, symbols and the
commit's diff), a file's history and blame, and full-text search. Each function returns
a :class:`Page`; :func:`render` puts it in the layout. Every page reads a bounded amount:
a page of the history loads only its own checkpoints' headers, a long conversation is
split into pages, diffs, tool outputs and blames are cut at fixed sizes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from bitloops.errors import BitloopsError, CheckpointNotFound, UnknownRef
from bitloops.git._git import is_sha
from bitloops.web._html import Links, attr, clip, compact_json, esc, layout, short_sha

if TYPE_CHECKING:
    from bitloops.model import Checkpoint, Event, Plan
    from bitloops.repository import Repository

__all__ = [
    "EVENTS_PER_PAGE",
    "HISTORY_PER_PAGE",
    "Page",
    "checkpoint_page",
    "checkpoint_rows",
    "commit_subjects",
    "file_page",
    "history_page",
    "not_found",
    "render",
    "search_page",
]

#: Checkpoints per page of the history.
HISTORY_PER_PAGE = 50
#: Events per page of a checkpoint's conversation (served; an export has them all).
EVENTS_PER_PAGE = 500
#: The longest tool input or output shown in full, in characters.
MAX_TOOL_TEXT = 20_000
#: The longest diff shown, in characters.
MAX_DIFF = 400_000
#: The most lines of a blame shown.
MAX_BLAME_LINES = 5_000
#: The most checkpoints of a file's history shown.
MAX_FILE_HISTORY = 200
#: The most search hits shown.
MAX_SEARCH_HITS = 100
#: The history filters, as query parameters.
FILTERS = ("branch", "agent", "model", "author")


@attrs.frozen(kw_only=True)
class Page:
    """A rendered page: its HTTP status, its title (plain text) and its body (HTML)."""

    status: int
    title: str
    body: str
    query: str = ""


def render(page: Page, links: Links) -> str:
    """The whole HTML document of ``page``."""
    return layout(page.title, page.body, links, query=page.query)


def not_found(what: str, hint: str = "") -> Page:
    """The 404 page: what was not found, and what to try."""
    body = f"<h1>Not found</h1><p>{esc(what)}</p>"
    if hint:
        body += f'<p class="dim">{esc(hint)}</p>'
    return Page(status=404, title="Not found", body=body)


def _when(ts: datetime | None) -> str:
    if ts is None:
        return ""
    return f"{ts.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _time(ts: datetime) -> str:
    return f'<span class="dim mono">{ts.astimezone(UTC):%H:%M:%S}</span>'


def _agents(cp: Checkpoint) -> str:
    seen: dict[str, None] = {}
    for m in cp.models:
        seen.setdefault(f"{m.agent} ({m.model})" if m.model else m.agent, None)
    if not seen:
        for agent in cp.summary.agents:
            seen.setdefault(agent, None)
    return "".join(f'<span class="tag">{esc(a)}</span>' for a in seen)


def _first_line(text: str, limit: int = 140) -> str:
    line = text.strip().split("\n", 1)[0]
    return clip(line, limit)


def _intent(cp: Checkpoint) -> str:
    return _first_line(cp.summary.intent[0]) if cp.summary.intent else ""


def _int(value: str | None, default: int = 1) -> int:
    try:
        number = int(value or "")
    except ValueError:
        return default
    return number if number >= 1 else default


# -- history ---------------------------------------------------------------------------


def _headers(repo: Repository, ids: Sequence[str]) -> list[Checkpoint]:
    """The checkpoints ``ids`` without their events: what a list of them needs."""
    from bitloops._codec import structure
    from bitloops.model import Checkpoint

    if not ids:
        return []
    links = repo.store.commit_links(ids)
    found: dict[str, Checkpoint] = {}
    for row in repo.store.checkpoint_heads(ids).values():
        raw = json.loads(row.header)
        raw["commits"] = links.get(row.checkpoint_id, [row.commit_sha])
        raw["content_hash"] = row.content_hash
        raw.pop("events", None)
        found[row.checkpoint_id] = structure(raw, Checkpoint)
    return [found[cid] for cid in ids if cid in found]


def commit_subjects(repo: Repository, shas: Sequence[str]) -> dict[str, str]:
    """Each commit's subject line, in one git call (commits not in this clone are left out)."""
    # Only full SHAs reach git: a stored header is data, and an option-shaped one
    # (--output=FILE) must never become an option.
    known = [sha for sha in dict.fromkeys(shas) if is_sha(sha)]
    if not known:
        return {}
    out: dict[str, str] = {}
    text = repo.git.try_run(
        "log", "--no-walk=unsorted", "--format=%H%x00%s", "--end-of-options", *known, "--"
    )
    if text is None:  # one commit missing from this clone fails the call: ask one by one
        for sha in known:
            one = repo.git.try_run("log", "-1", "--format=%H%x00%s", "--end-of-options", sha, "--")
            if one:
                text = (text or "") + one
    for line in (text or "").splitlines():
        sha, _, subject = line.partition("\0")
        out[sha] = subject
    return out


def checkpoint_rows(
    repo: Repository, checkpoints: Sequence[Checkpoint], links: Links, subjects: Mapping[str, str]
) -> str:
    """The table of checkpoints the history and an export's index show."""
    if not checkpoints:
        return '<p class="dim">No checkpoints.</p>'
    out = [
        '<table class="history"><thead><tr><th>Commit</th><th>When</th><th>Branch</th>'
        "<th>Agents</th><th>What was asked</th><th>Records</th></tr></thead><tbody>"
    ]
    for cp in checkpoints:
        s = cp.summary
        counts = [
            (len(s.decisions), "decision"),
            (len(s.alternatives), "rejected"),
            (len(s.constraints), "constraint"),
            (len(cp.files), "file"),
        ]
        records = " ".join(f'<span class="tag">{n} {w}</span>' for n, w in counts if n)
        subject = subjects.get(cp.commit_sha, "")
        out.append(
            "<tr>"
            f'<td><a class="mono" href={attr(links.checkpoint(cp.checkpoint_id))}>'
            f"{esc(short_sha(cp.commit_sha))}</a>"
            + (f"<br><span>{esc(clip(subject, 80))}</span>" if subject else "")
            + "</td>"
            f'<td class="dim">{esc(_when(cp.created_at))}</td>'
            f"<td>{esc(cp.branch or '')}</td>"
            f"<td>{_agents(cp)}</td>"
            f"<td>{esc(_intent(cp))}</td>"
            f"<td>{records}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def history_page(repo: Repository, links: Links, params: Mapping[str, str]) -> Page:
    """Checkpoints newest first, :data:`HISTORY_PER_PAGE` a page, filtered by ``params``.

    ``params``: ``branch``, ``agent``, ``model``, ``author`` (part of the commit author)
    and ``page`` (from 1). Only this page's checkpoints are read, not their events.
    """
    from bitloops.store._sqlite import CheckpointQuery

    page = _int(params.get("page"))
    filters = {k: params[k].strip() for k in FILTERS if params.get(k, "").strip()}
    offset = (page - 1) * HISTORY_PER_PAGE
    query = CheckpointQuery(**filters, limit=offset + HISTORY_PER_PAGE + 1)
    ids = repo.store.checkpoint_ids(query)
    more = len(ids) > offset + HISTORY_PER_PAGE
    shown = _headers(repo, ids[offset : offset + HISTORY_PER_PAGE])
    subjects = commit_subjects(repo, [cp.commit_sha for cp in shown])
    total = repo.store.count_checkpoints()
    agents = repo.store.agents()
    form = ['<form class="filters" method="get" action="/">']
    for name in FILTERS:
        form.append(
            f"<label>{esc(name)} <input name={attr(name)} value={attr(filters.get(name, ''))}"
            + (' list="agents"' if name == "agent" else "")
            + "></label> "
        )
    form.append('<button>Filter</button> <a href="/">clear</a>')
    form.append(
        '<datalist id="agents">'
        + "".join(f"<option value={attr(a)}>" for a in agents)
        + "</datalist></form>"
    )
    heading = "Checkpoints" + (" matching the filters" if filters else "")
    body = [
        f"<h1>{esc(heading)}</h1>",
        f'<p class="dim">{total} checkpoint{"s" if total != 1 else ""} in all; '
        f"page {page}, newest first.</p>",
        "".join(form),
        checkpoint_rows(repo, shown, links, subjects),
    ]
    pager = []
    if page > 1:
        pager.append(
            f'<a rel="prev" href={attr(links.history({**filters, "page": page - 1}))}>← newer</a>'
        )
    if more:
        pager.append(
            f'<a rel="next" href={attr(links.history({**filters, "page": page + 1}))}>older →</a>'
        )
    if pager:
        body.append('<nav class="pager">' + "".join(pager) + "</nav>")
    if not shown and page > 1:
        return Page(status=404, title="No such page", body="".join(body))
    return Page(status=200, title="History", body="".join(body))


# -- one checkpoint --------------------------------------------------------------------


def _pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def _prose(text: str) -> str:
    """What people and agents wrote: kept as written (line breaks), in the body font."""
    return f'<div class="text">{esc(text)}</div>'


def _tool_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > MAX_TOOL_TEXT:
        cut = len(text) - MAX_TOOL_TEXT
        return _pre(text[:MAX_TOOL_TEXT]) + (
            f'<p class="dim">… {cut} more characters (see <code>bitloops explain --full '
            "--json</code>)</p>"
        )
    return _pre(text)


def _who(event: Event, label: str) -> str:
    model = f" · {esc(event.model)}" if event.model else ""
    return (
        f'<div class="who">{_time(event.ts)} · {esc(event.agent)}{model} · '
        f'<span class="kind">{esc(label)}</span> · #{event.seq}</div>'
    )


def _event_html(event: Event, results: Mapping[str, list[Event]]) -> str:
    """One event of the conversation; tool results go inside their tool call."""
    p = event.payload
    kind = event.kind
    eid = attr(f"ev-{event.event_id}")
    text = p.get("text") if isinstance(p.get("text"), str) else None
    if kind == "prompt":
        return f'<div class="ev prompt" id={eid}>{_who(event, "prompt")}{_prose(text or "")}</div>'
    if kind == "response":
        return (
            f'<div class="ev response" id={eid}>{_who(event, "response")}{_prose(text or "")}</div>'
        )
    if kind == "reasoning":
        return (
            f'<details class="ev reasoning" id={eid}><summary>{_time(event.ts)} '
            f'<span class="kind">reasoning</span> <span class="dim">'
            f"{esc(_first_line(text or '', 120))}</span></summary>{_prose(text or '')}</details>"
        )
    if kind == "tool_use":
        name = str(p.get("name", "?"))
        keys = [str(p["tool_use_id"])] if p.get("tool_use_id") else []
        keys.append(event.event_id)
        attached = [r for key in keys for r in results.get(key, ())]
        inner = "<div><b>input</b></div>" + _tool_text(p.get("input"))
        if "output" in p:
            inner += "<div><b>output</b></div>" + _tool_text(p.get("output"))
        for result in attached:
            mark = " (error)" if result.payload.get("is_error") else ""
            inner += f"<div><b>result{esc(mark)}</b></div>" + _tool_text(
                result.payload.get("output")
            )
        status = ""
        if attached and any(r.payload.get("is_error") for r in attached):
            status = ' <span class="tag">error</span>'
        return (
            f'<details class="ev tool" id={eid}><summary>{_time(event.ts)} '
            f'<span class="kind">tool</span> <code>{esc(name)}</code> <span class="dim mono">'
            f"{esc(compact_json(p.get('input'), 120))}</span>{status}</summary>{inner}</details>"
        )
    if kind == "tool_result":
        return (
            f'<details class="ev tool" id={eid}><summary>{_time(event.ts)} '
            f'<span class="kind">tool result</span> <span class="dim mono">'
            f"{esc(compact_json(p.get('output'), 120))}</span></summary>"
            f"{_tool_text(p.get('output'))}</details>"
        )
    if kind in ("decision", "alternative", "constraint", "plan"):
        extra = p.get("rationale") or p.get("reason") or p.get("stated_by")
        items = p.get("items")
        body = _prose(text or "") if text else ""
        if isinstance(items, list):
            body += (
                "<ul>"
                + "".join(
                    f"<li>{esc(i.get('text') if isinstance(i, dict) else i)}"
                    + (
                        f' <span class="tag">{esc(i.get("status"))}</span>'
                        if isinstance(i, dict) and i.get("status")
                        else ""
                    )
                    + "</li>"
                    for i in items
                )
                + "</ul>"
            )
        if extra:
            body += f'<div class="dim">{esc(extra)}</div>'
        return f'<div class="ev why" id={eid}>{_who(event, kind)}{body}</div>'
    if kind == "file_change":
        path = str(p.get("path", "?"))
        old = f"{esc(p['old_path'])} → " if p.get("old_path") else ""
        return (
            f'<div class="ev" id={eid}>{_time(event.ts)} <span class="kind">file</span> '
            f"{esc(p.get('change', '?'))} <code>{old}{esc(path)}</code></div>"
        )
    if kind in ("session_start", "session_end"):
        if kind == "session_start":
            base = p.get("base_commit")
            what = f"branch {p.get('branch') or '(detached)'}, at {short_sha(base) or '(none)'}"
        else:
            what = str(p.get("reason") or "")
        return (
            f'<div class="ev dim" id={eid}>{_time(event.ts)} {esc(kind.replace("_", " "))} '
            f"{esc(event.agent)} {esc(what)}</div>"
        )
    if kind == "error":
        message = p.get("message", compact_json(dict(p)))
        return f'<div class="ev" id={eid}>{_who(event, "error")}{_pre(str(message))}</div>'
    if text is not None:
        return f'<div class="ev" id={eid}>{_who(event, kind)}{_prose(text)}</div>'
    return (
        f'<details class="ev" id={eid}><summary>{_time(event.ts)} <span class="kind">'
        f'{esc(kind)}</span> <span class="dim mono">{esc(compact_json(dict(p), 120))}'
        f"</span></summary>{_tool_text(dict(p))}</details>"
    )


def _evidence(cp: Checkpoint, evidence: Any, links: Links) -> str:
    if evidence is None:
        return ""
    out = ""
    if evidence.excerpt:
        out += f"<blockquote>{esc(evidence.excerpt)}</blockquote>"
    if evidence.event_id:
        where = f"{evidence.kind or 'event'} #{evidence.seq}" if evidence.seq else "the event"
        href = links.checkpoint(cp.checkpoint_id, evidence.event_id)
        out += f'<div><a class="ev-link" href={attr(href)}>evidence: {esc(where)}</a></div>'
    return out


def _applies(cp: Checkpoint, applies_to: Sequence[str], links: Links) -> str:
    if not applies_to:
        return ""
    parts = []
    for target in applies_to:
        path = target.split("::", 1)[0]
        parts.append(f'<a class="mono" href={attr(links.file(path))}>{esc(target)}</a>')
    return '<div><span class="dim">applies to</span> ' + ", ".join(parts) + "</div>"


def _record(
    cp: Checkpoint,
    text: str,
    detail: str | None,
    record: Any,
    retracted: Mapping[str, str],
    links: Links,
) -> str:
    gone = retracted.get(record.record_id) if record.record_id else None
    shown = f"<del>{esc(text)}</del>" if gone else f"<b>{esc(text)}</b>"
    tags = f' <span class="tag">{esc(record.source)}</span>'
    if record.confidence < 1:
        tags += f' <span class="tag">confidence {record.confidence:.2f}</span>'
    out = f'<div class="rec">{shown}{tags}'
    if detail:
        out += f"<div>{esc(detail)}</div>"
    if gone:
        out += f'<div class="dim">retracted: {esc(gone)}</div>'
    out += _applies(cp, record.applies_to, links) + _evidence(cp, record.evidence, links)
    return out + "</div>"


def _plan(cp: Checkpoint, plan: Plan, retracted: Mapping[str, str], links: Links) -> str:
    out = f'<div class="rec"><b>{esc(plan.tool)}</b> <span class="tag">{esc(plan.source)}</span>'
    if plan.items:
        out += f' <span class="dim">{plan.done}/{len(plan.items)} done</span><ul>'
        for item in plan.items:
            out += f'<li>{esc(item.text)} <span class="tag">{esc(item.status)}</span></li>'
        out += "</ul>"
    if plan.text:
        out += _prose(plan.text)
    if plan.record_id and plan.record_id in retracted:
        out += f'<div class="dim">retracted: {esc(retracted[plan.record_id])}</div>'
    return out + _evidence(cp, plan.evidence, links) + "</div>"


def _why(cp: Checkpoint, retracted: Mapping[str, str], links: Links) -> str:
    s = cp.summary
    parts = ['<section id="why">']
    sections: list[tuple[str, str, list[str]]] = [
        (
            "decisions",
            "Decisions",
            [_record(cp, d.text, d.rationale, d, retracted, links) for d in s.decisions],
        ),
        (
            "alternatives",
            "Rejected alternatives",
            [_record(cp, a.text, a.reason, a, retracted, links) for a in s.alternatives],
        ),
        (
            "constraints",
            "Constraints",
            [
                _record(
                    cp,
                    c.text,
                    f"stated by {c.stated_by}" if c.stated_by else None,
                    c,
                    retracted,
                    links,
                )
                for c in s.constraints
            ],
        ),
        ("plans", "Plans", [_plan(cp, p, retracted, links) for p in s.plans]),
    ]
    for key, title, items in sections:
        parts.append(f"<h2 id={attr(key)}>{esc(title)} ({len(items)})</h2>")
        parts.append("".join(items) if items else '<p class="dim">none recorded</p>')
    parts.append("</section>")
    return "".join(parts)


def _diff(repo: Repository, sha: str) -> str:
    text = None if not is_sha(sha) else repo.git.try_run(
        "show", "--format=", "--patch", "-M", "--no-color", "--no-ext-diff", "--no-textconv",
        "--end-of-options", sha,
    )  # fmt: skip
    if text is None:
        return f'<p class="dim">Commit {esc(short_sha(sha))} is not in this clone.</p>'
    cut = len(text) > MAX_DIFF
    text = text[:MAX_DIFF]
    files: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("diff --git ") or not files:
            files.append([])
        files[-1].append(line)
    out = ['<div class="diff">']
    for chunk in files:
        name = chunk[0].removeprefix("diff --git ")
        for line in chunk:
            if line.startswith("+++ b/"):
                name = line[6:]
        rows = []
        for line in chunk:
            cls = "ctx"
            if line.startswith("+") and not line.startswith("+++"):
                cls = "add"
            elif line.startswith("-") and not line.startswith("---"):
                cls = "del"
            elif line.startswith("@@"):
                cls = "hunk"
            rows.append(f'<span class="{cls}">{esc(line) or " "}</span>')
        out.append(
            f'<details open><summary class="mono">{esc(name)}</summary><pre>'
            + "".join(rows)
            + "</pre></details>"
        )
    out.append("</div>")
    if cut:
        out.append(
            f'<p class="dim">The diff is cut at {MAX_DIFF} characters; run '
            f"<code>git show {esc(short_sha(sha))}</code> for the rest.</p>"
        )
    return "".join(out)


def _load(repo: Repository, ref: str) -> Checkpoint | Page:
    try:
        return repo.checkpoint(ref)
    except (CheckpointNotFound, UnknownRef) as exc:
        return not_found(
            f"No checkpoint {ref!r}: {exc}",
            "The history lists every checkpoint of this clone; a teammate's arrives with "
            "`bitloops fetch` or the shared store.",
        )


def checkpoint_page(
    repo: Repository,
    links: Links,
    ref: str,
    params: Mapping[str, str] | None = None,
    *,
    diff: bool = True,
) -> Page:
    """One checkpoint (``ref``: its id, a ``cp:`` prefix or a commit), or a 404 page.

    ``params``: ``events`` (the page of the conversation, from 1) or ``at`` (an event id:
    the page that holds it). A static export (``links.static``) shows every event.
    """
    from bitloops.checkpoint._distill import with_distillation

    if "\x00" in ref:
        return not_found("A checkpoint id or commit cannot hold a NUL character.")
    found = _load(repo, ref)
    if isinstance(found, Page):
        return found
    retracted = repo.retracted()
    cp = with_distillation(repo, found, retracted)
    params = params or {}
    events = cp.events
    total = len(events)
    if links.static:
        first, last, page, pages = 0, total, 1, 1
    else:
        pages = max(1, -(-total // EVENTS_PER_PAGE))
        page = min(_int(params.get("events")), pages)
        at = params.get("at")
        if at:
            # A stored transcript keeps its JSON lines: find the id without parsing them all.
            lines = getattr(events, "lines", None)
            for index in range(total):
                if (lines is None or at in lines[index]) and events[index].event_id == at:
                    page = index // EVENTS_PER_PAGE + 1
                    break
        first = (page - 1) * EVENTS_PER_PAGE
        last = min(total, first + EVENTS_PER_PAGE)
    shown = [events[i] for i in range(first, last)]
    results: dict[str, list[Event]] = {}
    of_kinds = getattr(events, "of_kinds", None)
    tool_events = list(of_kinds(["tool_use", "tool_result"])) if of_kinds else list(events)
    use_keys = set()
    for event in tool_events:
        if event.kind == "tool_use":
            use_keys.add(event.event_id)
            if event.payload.get("tool_use_id"):
                use_keys.add(str(event.payload["tool_use_id"]))
    attached: set[str] = set()
    for event in tool_events:
        key = event.payload.get("tool_use_id")
        if event.kind == "tool_result" and isinstance(key, str) and key in use_keys:
            results.setdefault(key, []).append(event)
            attached.add(event.event_id)

    s = cp.summary
    sha = cp.commit_sha
    subject = commit_subjects(repo, [sha]).get(sha, "")
    title = f"{short_sha(sha)} {subject}".strip()
    body = [f"<h1>{esc(title)}</h1>", '<table class="meta"><tbody>']
    meta = [
        ("Checkpoint", f'<span class="mono">{esc(cp.checkpoint_id)}</span>'),
        (
            "Commits",
            " ".join(f'<span class="mono">{esc(short_sha(c))}</span>' for c in cp.commits),
        ),
        ("Branch", esc(cp.branch or "(detached)")),
        ("Created", esc(_when(cp.created_at))),
        ("Agents", _agents(cp)),
        (
            "Duration",
            esc(f"{s.duration_seconds:.0f} s, {total} event{'s' if total != 1 else ''}"),
        ),
        ("Content hash", f'<span class="mono dim">{esc(cp.content_hash)}</span>'),
    ]
    body += [f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in meta]
    body.append("</tbody></table>")
    body.append('<h2 id="asked">What was asked</h2>')
    if s.intent:
        body.append("".join(f'<div class="ev prompt">{_prose(i)}</div>' for i in s.intent))
    else:
        body.append('<p class="dim">no prompt recorded</p>')
    if s.outcome:
        body.append('<h2 id="outcome">Outcome</h2>' + "".join(_prose(o) for o in s.outcome))
    if s.text:
        body.append('<h2 id="summary">Summary</h2>' + _prose(s.text))
    body.append(_why(cp, retracted, links))

    body.append(f'<h2 id="conversation">Conversation ({total} events)</h2>')
    if pages > 1:
        body.append(
            f'<p class="dim">events {first + 1} to {last} of {total}; pages: '
            + " ".join(
                f"<b>{n}</b>"
                if n == page
                else f"<a href={attr(links.checkpoint_page(cp.checkpoint_id, n))}>{n}</a>"
                for n in range(1, pages + 1)
            )
            + "</p>"
        )
    body.append('<div class="conversation">')
    body.extend(_event_html(e, results) for e in shown if e.event_id not in attached)
    body.append("</div>")

    body.append(f'<h2 id="files">Files ({len(cp.files)})</h2>')
    if cp.files:
        body.append("<table><thead><tr><th>File</th><th>Change</th><th></th></tr></thead><tbody>")
        for f in cp.files:
            where = (
                "in commit (agent)"
                if f.in_commit and f.by_agent
                else ("in commit" if f.in_commit else "agent only")
            )
            old = f' <span class="dim">from {esc(f.old_path)}</span>' if f.old_path else ""
            body.append(
                f'<tr><td><a class="mono" href={attr(links.file(f.path))}>{esc(f.path)}</a>'
                f'{old}</td><td>{esc(f.change)}</td><td class="dim">{esc(where)}</td></tr>'
            )
        body.append("</tbody></table>")
    if cp.symbols:
        body.append(f'<h2 id="symbols">Symbols ({len(cp.symbols)})</h2><ul>')
        body.extend(
            f'<li><a class="mono" href={attr(links.file(x.path))}>{esc(x.path)}</a>'
            f'<code>::{esc(x.name)}</code> <span class="dim">{esc(x.kind)}</span></li>'
            for x in cp.symbols
        )
        body.append("</ul>")
    if diff:
        body.append('<h2 id="diff">Diff</h2>' + _diff(repo, sha))
    return Page(status=200, title=title, body="".join(body))


# -- a file ----------------------------------------------------------------------------


def file_page(repo: Repository, links: Links, path: str) -> Page:
    """A file's history (the checkpoints that touched it) and its blame."""
    from bitloops.context._blame import blame

    if not path:
        return not_found("No file named: add ?path=PATH.")
    if "\x00" in path:
        return not_found("A file name cannot hold a NUL character.")
    try:
        entries = repo.history(path, limit=MAX_FILE_HISTORY)
    except BitloopsError as exc:
        return not_found(f"No history for {path!r}: {exc}")
    if links.static:  # an export is for sharing: private checkpoints stay out of it
        from bitloops.checkpoint._private import private_ids

        kept = private_ids(repo, [e.checkpoint_id for e in entries])
        entries = [e for e in entries if e.checkpoint_id not in kept]
    try:
        lines = blame(repo, path, private=not links.static)
        blame_error = ""
    except BitloopsError as exc:
        lines, blame_error = [], str(exc)
    if not entries and blame_error:
        return not_found(
            f"No file {path!r} in this work tree, and no checkpoint touched it.",
            "Paths are relative to the top of the work tree.",
        )
    body = [f'<h1 class="mono">{esc(path)}</h1>', f'<h2 id="history">History ({len(entries)})</h2>']
    if not entries:
        body.append('<p class="dim">No checkpoint touched this file.</p>')
    for entry in entries:
        agents = "".join(
            f'<span class="tag">{esc(m.agent)}{" (" + esc(m.model) + ")" if m.model else ""}</span>'
            for m in entry.models
        ) or "".join(f'<span class="tag">{esc(a)}</span>' for a in entry.agents)
        renamed = f' <span class="dim">as {esc(entry.path)}</span>' if entry.path != path else ""
        body.append(
            f'<div class="rec"><a class="mono" href={attr(links.checkpoint(entry.checkpoint_id))}>'
            f'{esc(short_sha(entry.commit_sha))}</a> <span class="dim">'
            f"{esc(_when(entry.created_at))}</span> {esc(entry.change or '')}{renamed} {agents}"
        )
        for prompt in entry.prompts[:3]:
            body.append(f"<div>asked: {esc(_first_line(prompt))}</div>")
        if entry.symbols:
            body.append(
                '<div class="dim">symbols: '
                + ", ".join(f"<code>{esc(x)}</code>" for x in entry.symbols)
                + "</div>"
            )
        if entry.records:
            body.append("<ul>")
            for rec in entry.records:
                text = f"<del>{esc(rec.text)}</del>" if rec.retracted else esc(rec.text)
                detail = f' <span class="dim">— {esc(rec.detail)}</span>' if rec.detail else ""
                body.append(f'<li><span class="tag">{esc(rec.category)}</span> {text}{detail}</li>')
            body.append("</ul>")
        body.append("</div>")
    body.append(f'<h2 id="blame">Blame ({len(lines)} lines)</h2>')
    if blame_error:
        body.append(f'<p class="dim">{esc(blame_error)}</p>')
    else:
        counts = {
            who: sum(1 for b in lines if b.written_by == who)
            for who in ("agent", "human", "unknown")
        }
        body.append(
            '<p class="dim">'
            + ", ".join(f"{n} written by {who}" for who, n in counts.items() if n)
            + "</p>"
        )
        body.append('<table class="blame mono"><tbody>')
        previous: str | None = None
        for b in lines[:MAX_BLAME_LINES]:
            if b.commit_sha != previous:
                if b.checkpoint_id:
                    who = f"{b.agent or ''}{' · ' + b.model if b.model else ''}"
                    commit = (
                        f"<a href={attr(links.checkpoint(b.checkpoint_id))}>"
                        f"{esc(short_sha(b.commit_sha))}</a> {esc(who)}"
                    )
                else:
                    commit = esc(short_sha(b.commit_sha) or "not committed")
            else:
                commit = ""
            previous = b.commit_sha
            body.append(
                f'<tr class={attr(b.written_by)}><td class="dim">{b.number}</td><td>{commit}</td>'
                f'<td class="dim">{esc(b.written_by)}</td><td class="code">{esc(b.text)}</td></tr>'
            )
        body.append("</tbody></table>")
        if len(lines) > MAX_BLAME_LINES:
            body.append(
                f'<p class="dim">The blame is cut at {MAX_BLAME_LINES} lines; run '
                f"<code>bitloops blame {esc(path)}</code> for the rest.</p>"
            )
    return Page(status=200, title=path, body="".join(body))


# -- search ----------------------------------------------------------------------------


def _snippet(text: str) -> str:
    """The search snippet escaped, its ``[match]`` markers as ``<mark>``."""
    out = esc(text)
    return (
        out.replace("[", "<mark>").replace("]", "</mark>")
        if text.count("[") == text.count("]")
        else out
    )


def search_page(repo: Repository, links: Links, query: str) -> Page:
    """Full-text search of committed transcripts (the ``q`` parameter)."""
    from bitloops.checkpoint._search import InvalidSearch

    query = query.strip()
    if not query:
        body = (
            '<h1>Search</h1><p>Words, <code>"phrases"</code>, <code>prefix*</code>, '
            "<code>AND</code> / <code>OR</code> / <code>NOT</code>, <code>kind:decision</code>."
            "</p>"
        )
        return Page(status=200, title="Search", body=body)
    try:
        hits = repo.search(query, limit=MAX_SEARCH_HITS)
    except InvalidSearch as exc:
        return Page(
            status=400,
            title="Search",
            body=f"<h1>Search</h1><p>{esc(exc)}</p>",
            query=query,
        )
    out = [f"<h1>Search: {esc(query)}</h1>", f'<p class="dim">{len(hits)} hits, newest first.</p>']
    if hits:
        out.append('<table class="hits"><tbody>')
        for hit in hits:
            e = hit.event
            href = links.checkpoint(hit.checkpoint_id, e.event_id)
            out.append(
                f'<tr><td><a class="mono" href={attr(href)}>'
                f'{esc(short_sha(hit.commit_sha))}</a><br><span class="dim">'
                f"{esc(_when(hit.created_at))}</span></td>"
                f'<td><span class="tag">{esc(e.kind)}</span> <span class="dim">{esc(e.agent)}'
                f"</span><div>{_snippet(hit.snippet)}</div></td></tr>"
            )
        out.append("</tbody></table>")
    return Page(status=200, title=f"Search: {query}", body="".join(out), query=query)
