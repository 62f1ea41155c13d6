"""Scoring the extractor against the labelled sessions of ``tests/eval/``.

Each ``tests/eval/<half>/*.json`` file is one session: ``events`` (kind and text, in
order), the ``files`` and ``symbols`` of its checkpoint, and ``expected`` decisions,
alternatives and constraints, each label a verbatim part of an event's text.

The matching rule: a predicted record matches a label of the same category when the
label's normalised text (:func:`bitloops.checkpoint._extract.normalise`) is contained in the
normalised excerpt of the record's evidence, or their word sets have a Jaccard index of
at least 0.5. Each label matches at most one record and each record at most one label
(greedily, in order). Precision is matched records / records; recall is matched labels /
labels, per category, over every session of the half.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from bitloops.checkpoint._extract import Extracted, extract, normalise
from bitloops.model import Event

EVAL_DIR = Path(__file__).parent / "eval"
CATEGORIES = ("decisions", "alternatives", "constraints")
_T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@attrs.frozen
class Score:
    """Counts of one category: records predicted, labels, matches."""

    predicted: int = 0
    labelled: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        """Matched records over records (1.0 when nothing was predicted)."""
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Matched labels over labels (1.0 when nothing was labelled)."""
        return self.matched / self.labelled if self.labelled else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.predicted + other.predicted,
            self.labelled + other.labelled,
            self.matched + other.matched,
        )


def sessions(half: str) -> list[dict[str, Any]]:
    """The labelled sessions of ``half`` (``frozen`` or ``tuning``), by file name."""
    return [json.loads(p.read_text()) for p in sorted((EVAL_DIR / half).glob("*.json"))]


def events_of(session: dict[str, Any], session_id: str | None = None) -> list[Event]:
    """The session's events as bitloops stores them (ids, seq and time made up)."""
    sid = session_id or session["id"]
    return [
        Event(
            event_id=f"{sid}-{seq:04d}",
            session_id=sid,
            seq=seq,
            ts=_T0 + timedelta(seconds=seq),
            kind=e["kind"],
            agent=session["agent"],
            payload={"text": e["text"]},
        )
        for seq, e in enumerate(session["events"], start=1)
    ]


def run(session: dict[str, Any]) -> Extracted:
    """Extract from one labelled session."""
    return extract(events_of(session), files=session["files"], symbols=session["symbols"])


def matches(label: str, excerpt: str) -> bool:
    """The matching rule of the module docstring."""
    lab, exc = normalise(label), normalise(excerpt)
    if lab and lab in exc:
        return True
    a, b = set(lab.split()), set(exc.split())
    return bool(a and b) and len(a & b) / len(a | b) >= 0.5


def _label_texts(session: dict[str, Any], category: str) -> list[str]:
    labels = session["expected"].get(category, [])
    return [lab["text"] if isinstance(lab, dict) else lab for lab in labels]


def score_session(session: dict[str, Any], result: Extracted) -> tuple[dict[str, Score], list[str]]:
    """Scores per category, and lines describing each miss and false positive."""
    scores, notes = {}, []
    for category in CATEGORIES:
        records = getattr(result, category)
        labels = _label_texts(session, category)
        free = list(range(len(labels)))
        matched = 0
        for record in records:
            excerpt = record.evidence.excerpt if record.evidence else record.text
            hit = next((i for i in free if matches(labels[i], excerpt)), None)
            if hit is None:
                notes.append(f"{session['id']} {category} FALSE: {excerpt!r} -> {record.text!r}")
            else:
                free.remove(hit)
                matched += 1
        notes += [f"{session['id']} {category} MISSED: {labels[i]!r}" for i in free]
        scores[category] = Score(len(records), len(labels), matched)
    return scores, notes


def evaluate(items: Iterable[dict[str, Any]]) -> tuple[dict[str, Score], list[str]]:
    """Scores per category summed over ``items``, and every miss and false positive."""
    total = {c: Score() for c in CATEGORIES}
    notes: list[str] = []
    for session in items:
        scores, more = score_session(session, run(session))
        total = {c: total[c] + scores[c] for c in CATEGORIES}
        notes += more
    return total, notes


def sentence_count(items: Iterable[dict[str, Any]]) -> int:
    """Roughly how many sentences the sessions hold (for the benchmark's description)."""
    import re

    return sum(
        len([p for p in re.split(r"(?<=[.!?:])\s+|\n+", e["text"]) if len(p.split()) >= 3])
        for s in items
        for e in s["events"]
    )
