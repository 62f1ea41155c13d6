"""``bitloops review BASE..HEAD``: the reasoning behind a range of commits, for a PR.

:func:`review` gathers, per commit (oldest first), what was asked, the decisions,
rejected alternatives and constraints with their sources, the files and symbols, the
agents and models, and where the full checkpoint is; :func:`render_markdown` renders it
for a pull-request description or comment in at most :data:`MAX_CHARS` characters
(GitHub refuses comments over 65,536), saying at the end what was cut and by which rule.
Retracted records are left out (and counted); checkpoints with a session marked private
never appear.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bitloops._codec import format_ts
from bitloops.checkpoint._history import (
    checkpoint_ids_of_commits,
    load_checkpoint,
    retractions,
    short_id,
)
from bitloops.checkpoint._private import Marks, is_private, read_marks
from bitloops.checkpoint._sources import refresh
from bitloops.errors import BitloopsError, UnknownRef
from bitloops.model import Checkpoint
from bitloops.store._history import indexed_source

if TYPE_CHECKING:
    from bitloops.repository import Repository

__all__ = ["MAX_CHARS", "MAX_COMMITS", "render_markdown", "review"]

#: The most characters :func:`render_markdown` writes (GitHub's limit is 65,536).
MAX_CHARS = 60_000
#: The most commits of a range that are read.
MAX_COMMITS = 1000


def _is_private(cp: Checkpoint, kept: Marks) -> bool:
    flagged = any(getattr(info, "private", False) is True for info in cp.sessions)
    return flagged or is_private(cp, kept)


def _location(repo: Repository, cp: Checkpoint) -> str:
    from bitloops.checkpoint._files import CHECKPOINTS_DIR, folder_of

    try:
        folder = folder_of(repo.toplevel, cp.commit_sha, cp.checkpoint_id)
    except BitloopsError:
        folder = None
    if folder is not None and (folder / "session.json").exists():
        return folder.relative_to(repo.toplevel).as_posix() + "/"
    indexed = indexed_source(repo.store, cp.checkpoint_id)
    if indexed is not None and indexed[0] != "local" and indexed[1]:
        return indexed[1]
    if repo.settings.checkpoint_files == "ref":
        return f"refs/bitloops/checkpoints/v1:{cp.commit_sha}/"
    if repo.settings.checkpoint_files == "none":
        return "the local database only (checkpoint_files = none)"
    return f"{CHECKPOINTS_DIR}/{cp.commit_sha}/"


def _records(
    found: Sequence[Any], why: str, gone: Mapping[str, str]
) -> tuple[list[dict[str, Any]], int]:
    out, dropped = [], 0
    for r in found:
        if r.record_id and r.record_id in gone:
            dropped += 1
            continue
        out.append(
            {
                "text": r.text,
                why: getattr(r, why),
                "source": r.source,
                "confidence": r.confidence,
                "applies_to": list(r.applies_to),
                "record_id": r.record_id,
            }
        )
    return out, dropped


def _checkpoint(repo: Repository, cp: Checkpoint, gone: Mapping[str, str]) -> dict[str, Any]:
    s = cp.summary
    decisions, d1 = _records(s.decisions, "rationale", gone)
    alternatives, d2 = _records(s.alternatives, "reason", gone)
    constraints, d3 = _records(s.constraints, "stated_by", gone)
    open_items = [
        item.text
        for plan in s.plans
        if not (plan.record_id and plan.record_id in gone)
        for item in plan.items
        if item.status in ("pending", "in_progress")
    ]
    return {
        "checkpoint_id": cp.checkpoint_id,
        "short_id": short_id(cp.checkpoint_id),
        "created_at": format_ts(cp.created_at),
        "agents": list(s.agents) or sorted({i.agent for i in cp.sessions}),
        "models": [{"agent": m.agent, "model": m.model} for m in cp.models],
        "prompts": list(s.intent),
        "decisions": decisions,
        "alternatives": alternatives,
        "constraints": constraints,
        "open_plan_items": open_items,
        "retracted": d1 + d2 + d3,
        "files": [
            {"path": f.path, "change": f.change, "old_path": f.old_path, "by_agent": f.by_agent}
            for f in cp.files
        ],
        "symbols": [f"{x.path}::{x.name}" for x in cp.symbols],
        "location": _location(repo, cp),
    }


def review(repo: Repository, spec: str) -> dict[str, Any]:
    """The digest of the commits in ``spec`` (``BASE..HEAD``, or ``BASE...HEAD``) as data."""
    if ".." not in spec:
        raise UnknownRef(f"{spec!r} is not a range; write BASE..HEAD (e.g. main..HEAD)")
    base_sha, head_sha, shas = repo.git.range_commits(spec, MAX_COMMITS)
    info: dict[str, tuple[str, str]] = {}
    if shas:
        log = repo.git.run(
            "log", "--no-walk=unsorted", "--format=%H%x00%s%x00%an", "--stdin",
            input="".join(f"{sha}\n" for sha in shas),
        )  # fmt: skip
        for line in log.splitlines():
            parts = line.split("\0")
            if len(parts) == 3:
                info[parts[0]] = (parts[1], parts[2])
    refresh(repo)
    by_commit = checkpoint_ids_of_commits(repo, shas)
    gone = retractions(repo)
    kept = read_marks(repo)
    commits = []
    loaded: dict[str, Checkpoint | None] = {}
    for sha in shas:
        cps = []
        for cid in by_commit.get(sha, ()):
            if cid not in loaded:
                try:
                    loaded[cid] = load_checkpoint(repo, cid)
                except BitloopsError:
                    loaded[cid] = None
            cp = loaded[cid]
            if cp is not None and not _is_private(cp, kept):
                cps.append(_checkpoint(repo, cp, gone))
        subject, author = info.get(sha, ("", ""))
        commits.append(
            {"commit_sha": sha, "subject": subject, "author": author, "checkpoints": cps}
        )
    return {"range": spec, "base": base_sha, "head": head_sha, "commits": commits}


def _esc(text: Any) -> str:
    """Text for GitHub Markdown: HTML escaped, on one line, markup characters defused."""
    flat = " ".join(str(text).split())
    out = html.escape(flat, quote=False)
    for ch in "`*_[]|#":
        out = out.replace(ch, "\\" + ch)
    return out


def _code(text: Any) -> str:
    """Text as a code span: shown as is (no escapes apply inside), backticks replaced."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


# How much of each part a section keeps at each level of detail.
_LEVELS = (
    {"prompt": 2000, "records": 1000, "files": 1000, "text": 1000},
    {"prompt": 300, "records": 8, "files": 25, "text": 300},
)


def _record_lines(
    title: str, records: Sequence[Mapping[str, Any]], why: str, lv: Mapping[str, int]
) -> list[str]:
    if not records:
        return []
    label = {"rationale": "because", "reason": "rejected", "stated_by": "stated by"}[why]
    out = [f"**{title}**", ""]
    for r in records[: lv["records"]]:
        line = f"- {_esc(_clip(r['text'], lv['text']))}"
        if r.get(why):
            line += f" — {label}: {_esc(_clip(str(r[why]), lv['text']))}"
        meta = [str(r["source"])]
        if r["source"] not in ("agent", "plan-tool"):
            meta[0] += f" {float(r['confidence']):.2f}"
        if r["applies_to"]:
            meta.append("applies to " + ", ".join(_code(a) for a in r["applies_to"]))
        out.append(line + f" <sub>({'; '.join(meta)})</sub>")
    if len(records) > lv["records"]:
        out.append(f"- … {len(records) - lv['records']} more")
    return [*out, ""]


def _section(number: int, commit: Mapping[str, Any], level: int) -> str:
    sha = commit["commit_sha"]
    head = f"### {number}. `{sha[:12]}` {_esc(commit['subject']) or '(no subject)'}"
    if not commit["checkpoints"]:
        return head + "\n\n_No checkpoint: made without a recorded session._\n"
    if level >= len(_LEVELS):
        ids = ", ".join(f"`{cp['short_id']}`" for cp in commit["checkpoints"])
        first = next((p for cp in commit["checkpoints"] for p in cp["prompts"]), "")
        asked = f": {_esc(_clip(first, 120))}" if first else ""
        return f"{head}\n\n{ids}{asked}\n"
    lv = _LEVELS[level]
    out = [head, ""]
    for cp in commit["checkpoints"]:
        models = (
            ", ".join(
                f"{m['agent']} ({m['model']})" if m["model"] else m["agent"] for m in cp["models"]
            )
            or ", ".join(cp["agents"])
            or "no agent recorded"
        )
        out += [
            f"`{cp['short_id']}` · {_esc(models)} · {cp['created_at'][:16].replace('T', ' ')} UTC"
            f" · full checkpoint: {_code(cp['location'])}",
            "",
        ]
        prompts = cp["prompts"]
        if prompts:
            out.append("**Asked**")
            out.append("")
            out.append("> " + _esc(_clip(prompts[0], lv["prompt"])))
            out.append("")
            if len(prompts) > 1:
                out.append(f"<details><summary>{len(prompts) - 1} more prompts</summary>")
                out.append("")
                out += [f"> {_esc(_clip(p, lv['prompt']))}\n" for p in prompts[1:]]
                out += ["</details>", ""]
        out += _record_lines("Decisions", cp["decisions"], "rationale", lv)
        out += _record_lines("Rejected alternatives", cp["alternatives"], "reason", lv)
        out += _record_lines("Constraints", cp["constraints"], "stated_by", lv)
        if cp["open_plan_items"]:
            items = cp["open_plan_items"][: lv["records"]]
            out += [
                "**Open plan items**",
                "",
                *[f"- {_esc(_clip(i, lv['text']))}" for i in items],
                "",
            ]
        if cp["retracted"]:
            out += [f"_{cp['retracted']} retracted record(s) left out._", ""]
        files, symbols = cp["files"], cp["symbols"]
        if files or symbols:
            out.append(
                f"<details><summary>{len(files)} file(s), {len(symbols)} symbol(s)</summary>"
            )
            out.append("")
            for f in files[: lv["files"]]:
                name = f"{f['old_path']} → {f['path']}" if f["old_path"] else f["path"]
                mark = ", agent" if f["by_agent"] else ""
                out.append(f"- {_code(name)} ({f['change']}{mark})")
            if len(files) > lv["files"]:
                out.append(f"- … {len(files) - lv['files']} more files")
            if symbols:
                shown = symbols[: lv["files"]]
                out.append("- symbols: " + ", ".join(_code(x) for x in shown))
                if len(symbols) > len(shown):
                    out[-1] += f" … {len(symbols) - len(shown)} more"
            out += ["", "</details>", ""]
    return "\n".join(out) + "\n"


def render_markdown(data: Mapping[str, Any], *, limit: int = MAX_CHARS) -> str:
    """The digest as GitHub Markdown, at most ``limit`` characters."""
    commits = data["commits"]
    cps = [cp for c in commits for cp in c["checkpoints"]]

    def count(key: str) -> int:
        return sum(len(cp[key]) for cp in cps)

    agents = sorted(
        {
            f"{m['agent']} ({m['model']})" if m["model"] else m["agent"]
            for cp in cps
            for m in cp["models"]
        }
    )
    with_cp = sum(1 for c in commits if c["checkpoints"])
    top = [
        f"## Why these changes (bitloops review {_code(data['range'])})",
        "",
        f"{len(commits)} commit(s), {with_cp} with a checkpoint · "
        f"{count('decisions')} decision(s), {count('alternatives')} rejected alternative(s), "
        f"{count('constraints')} constraint(s)"
        + (f" · agents: {_esc(', '.join(agents))}" if agents else ""),
        "",
        "<sub>Records are quoted as the agents and users recorded them, with their source.</sub>",
        "",
    ]
    header = "\n".join(top) + "\n"
    end_full = (
        f"\n---\n<sub>Generated by {_code('bitloops review ' + data['range'])}; "
        "`bitloops explain SHA` shows a commit's full checkpoint.</sub>\n"
    )
    sections = [_section(i, c, 0) for i, c in enumerate(commits, 1)]
    if len(header) + sum(map(len, sections)) + len(end_full) <= limit:
        return header + "".join(sections) + end_full
    # Too long: shorter sections for every commit, then one line each from the first
    # commit that no longer fits; the rule is stated at the end.
    rule = (
        f"\n---\n<sub>Cut to fit {limit:,} characters: prompts clipped to "
        f"{_LEVELS[1]['prompt']} characters, at most {_LEVELS[1]['records']} records of each "
        f"kind and {_LEVELS[1]['files']} files per checkpoint"
    )
    compact = [_section(i, c, 1) for i, c in enumerate(commits, 1)]
    short = [_section(i, c, 2) for i, c in enumerate(commits, 1)]
    reserve = len(rule) + 400
    budget = limit - len(header) - reserve
    body: list[str] = []
    used = 0
    cut_from: int | None = None
    for index, (full, small) in enumerate(zip(compact, short, strict=True)):
        rest = sum(map(len, short[index + 1 :]))
        if cut_from is None and used + len(full) + rest <= budget:
            body.append(full)
            used += len(full)
            continue
        if cut_from is None:
            cut_from = index + 1
        if used + len(small) > budget:
            left = len(commits) - index
            body.append(f"\n_… {left} more commit(s) left out._\n")
            rule += f"; the last {left} commit(s) left out"
            break
        body.append(small)
        used += len(small)
    if cut_from is not None:
        rule += f"; from commit {cut_from} on, one line per commit"
    rule += (
        f". The whole digest: {_code('bitloops review ' + data['range'] + ' --format json')}; "
        "a commit's checkpoint: `bitloops explain SHA`.</sub>\n"
    )
    text = header + "".join(body) + rule
    return text if len(text) <= limit else text[: limit - 1] + "…"
