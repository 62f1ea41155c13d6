"""The extractor: precision and recall on the labelled sessions, and what it adds to promotion.

Quality: every session of ``tests/eval/frozen/`` (labelled and frozen before the
extractor was tuned) and, for reference, of ``tests/eval/tuning/`` goes through
:func:`bitloops.checkpoint.extract`; the records are matched to the labels by the rule in
``tests/extract_eval.py``: same category, and the label's normalised text contained in
the record's normalised evidence excerpt, or a word-set Jaccard index of at least 0.5;
one record per label. Precision = matched records / records, recall = matched labels /
labels. Targets on the frozen half: precision >= 0.8 and recall >= 0.5 per category.

Time: two drafts of 10,000 events each are filled alike, one promoted with the built-in
summariser's extraction on (the default), the other with it off
(``StructuredSummarizer(extract=False)``), alternating which goes first; the medians
are compared, and within each 'on' promotion the time spent in ``extract()`` is set
against the rest of that promotion (immune to the machine's noise between runs). Two
event mixes: :func:`record_mix` (the other benchmarks' mix, whose texts
hold few of the extractor's trigger words) and the same mix of kinds with the prompts,
reasoning and responses of the labelled sessions cycled (a worst case: every text is
dense with choices and rules; nothing is cached by text). Target: extraction adds at most
20% to promotion with the house mix. Run: ``python benchmarks/extraction.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import PAYLOAD, commit, machine, median, new_git_repo, record_mix, scratch, table

import bitloops
import bitloops.checkpoint._extract
from bitloops.checkpoint._summary import StructuredSummarizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from extract_eval import CATEGORIES, evaluate, sentence_count, sessions

SIZE = 10_000
RUNS = 5
TARGET = 0.20
CLIENT = "class Client:\n    def send(self):\n        return {n}\n"


def quality() -> None:
    """Precision and recall per category on both halves."""
    rows = []
    for half in ("frozen", "tuning"):
        items = sessions(half)
        scores, _ = evaluate(items)
        for category in CATEGORIES:
            s = scores[category]
            meets = s.precision >= 0.8 and s.recall >= 0.5
            rows.append(
                (
                    f"{half} ({len(items)} sessions, ~{sentence_count(items)} sentences)",
                    category,
                    s.labelled,
                    s.predicted,
                    s.matched,
                    f"{s.precision:.2f}",
                    f"{s.recall:.2f}",
                    ("meets" if meets else "BELOW") if half == "frozen" else "",
                )
            )
    print("\nquality (target on frozen: precision >= 0.80, recall >= 0.50)")
    print(
        table(
            ("half", "category", "labels", "records", "matched", "precision", "recall", ""),
            rows,
        )
    )


def eval_mix(repo: Any, n: int) -> None:
    """``n`` events with :func:`record_mix`'s kinds, the texts taken from the labelled sessions."""
    texts: dict[str, list[str]] = {"prompt": [], "reasoning": [], "response": []}
    for half in ("tuning", "frozen"):
        for s in sessions(half):
            for e in s["events"]:
                texts.get(e["kind"], []).append(e["text"])
    sessions_ = [repo.start_session(agent="bench", model=f"m{k}") for k in range(2)]
    for i in range(n - len(sessions_)):
        s = sessions_[i % 2]
        step = i % 8
        if step == 0:
            s.prompt(texts["prompt"][i % len(texts["prompt"])])
        elif step == 1:
            s.reasoning(texts["reasoning"][i % len(texts["reasoning"])])
        elif step in (2, 3, 4):
            s.record("tool_use", PAYLOAD)
        elif step == 5:
            s.file_change("client.py", "modified")
        elif step == 6:
            s.decision("exponential backoff", rationale="avoids synchronised retries")
        else:
            s.response(texts["response"][i % len(texts["response"])])


class ExtractTimer:
    """Wraps :func:`bitloops.checkpoint.extract` (looked up at each call) to add up its time."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.original = bitloops.checkpoint._extract.extract

    def __enter__(self) -> ExtractTimer:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - start

        bitloops.checkpoint._extract.extract = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        bitloops.checkpoint._extract.extract = self.original  # type: ignore[assignment]


def promote_once(
    folder: Path, fill: Callable[[Any, int], None], extract: bool
) -> tuple[float, float]:
    """Seconds of one promotion of a fresh ``SIZE``-event draft, and of its extraction."""
    path = new_git_repo(folder, f"repo-{extract}", "normal")
    with bitloops.Repository.open(path) as repo:
        fill(repo, SIZE)
    commit(path, "client.py", CLIENT.format(n=1))
    with bitloops.Repository.open(path) as repo:
        summarizer = StructuredSummarizer(extract=extract)
        with ExtractTimer() as timer:
            start = time.perf_counter()
            checkpoint = repo.promote(summarizer=summarizer)
            took = time.perf_counter() - start
    assert checkpoint is not None and len(checkpoint.events) == SIZE
    found = len(checkpoint.summary.decisions) + len(checkpoint.summary.alternatives)
    if extract and fill is eval_mix and found <= 2:
        raise RuntimeError("the extractor found nothing in the labelled texts")
    return took, timer.spent


def timing() -> None:
    """Promotion with extraction on and off, per mix."""
    rows = []
    for label, fill in (("record_mix", record_mix), ("labelled texts", eval_mix)):
        on, off, inside = [], [], []
        for k in range(RUNS):
            with scratch("bl-extract-") as folder:
                order = (True, False) if k % 2 else (False, True)
                for extract in order:
                    took, spent = promote_once(folder, fill, extract)
                    (on if extract else off).append(took)
                    if extract:
                        inside.append(spent / (took - spent))
        t_on, t_off = median(on), median(off)
        added, share = t_on / t_off - 1, median(inside)
        rows.append(
            (
                label,
                RUNS,
                f"{t_off * 1e3:,.1f}",
                f"{t_on * 1e3:,.1f}",
                f"{t_on / t_off:.3f}",
                f"{added * 100:+.1f}%",
                f"{share * 100:+.1f}%",
                "meets" if share <= TARGET else "ABOVE",
            )
        )
    print(f"\npromotion of {SIZE:,} events, extraction off vs on (medians; target <= +20%)")
    print(
        "  added: on / off - 1 (two promotions, so machine noise shows);\n"
        "  inside: the time spent in extract() during an 'on' promotion over the rest of it"
    )
    print(table(("mix", "runs", "off ms", "on ms", "ratio", "added", "inside", ""), rows))


def main() -> None:
    """Quality, then time."""
    print(f"extraction benchmark: {machine()}")
    quality()
    timing()


if __name__ == "__main__":
    main()
