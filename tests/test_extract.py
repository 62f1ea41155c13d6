"""The deterministic extractor of decisions, rejected alternatives and constraints."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import commit_files
from extract_eval import CATEGORIES, EVAL_DIR, evaluate, sessions

import bitloops
from bitloops._codec import canonical_dumps, unstructure
from bitloops.checkpoint._extract import Extracted, extract, normalise
from bitloops.checkpoint._summary import StructuredSummarizer, render_markdown
from bitloops.checkpoint._transcript import Transcript
from bitloops.model import Alternative, Constraint, Decision, Event
from bitloops.settings import load_settings

_T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _events(*items: tuple[str, str], session: str = "s1", start: int = 1) -> list[Event]:
    return [
        Event(
            event_id=f"{session}-e{seq}",
            session_id=session,
            seq=seq,
            ts=_T0 + timedelta(seconds=seq),
            kind=kind,
            agent="claude-code",
            payload={"text": text},
        )
        for seq, (kind, text) in enumerate(items, start=start)
    ]


def _reasoning(text: str) -> Extracted:
    return extract(_events(("reasoning", text)))


def _texts(records: Sequence[Decision | Alternative | Constraint]) -> list[str]:
    return [r.text for r in records]


# -- what is found ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decision", "rationale"),
    [
        (
            "Decision: Decimal with ROUND_HALF_UP, quantized to two places.",
            "Decimal with ROUND_HALF_UP, quantized to two places",
            None,
        ),
        (
            "I'll go with a per-key lock because a global one serialises every request.",
            "Go with a per-key lock",
            "a global one serialises every request",
        ),
        (
            "A better approach: I'll extract the command string logic into a testable function.",
            "I'll extract the command string logic into a testable function",
            None,
        ),
        (
            "We'll use the existing Postgres database as a queue instead of adding RabbitMQ.",
            "Use the existing Postgres database as a queue instead of adding RabbitMQ",
            None,
        ),
        (
            "The user ruled out new packages, so I'll write the retry loop myself.",
            "Write the retry loop myself",
            "The user ruled out new packages",
        ),
    ],
)
def test_decisions_are_found_with_their_rationale(
    text: str, decision: str, rationale: str | None
) -> None:
    """Stated choices become decisions, with the reason after 'because' or before 'so'."""
    (found,) = _reasoning(text).decisions
    assert (found.text, found.rationale) == (decision, rationale)
    assert found.source == "extracted" and 0.6 <= found.confidence <= 1.0


@pytest.mark.parametrize(
    ("text", "alternative", "reason"),
    [
        (
            "I'll reject option 1 because an epsilon only hides the error.",
            "Option 1",
            "an epsilon only hides the error",
        ),
        (
            "I considered python-dateutil, but it isn't a dependency.",
            "Python-dateutil",
            "it isn't a dependency",
        ),
        (
            "Decided against pillow-simd because it needs a compiler on the build machines.",
            "Pillow-simd",
            "it needs a compiler on the build machines",
        ),
        (
            "Using a thread pool won't work because the workers can't share the socket.",
            "Using a thread pool",
            "the workers can't share the socket",
        ),
        (
            "I won't switch to asyncio because every caller is synchronous.",
            "Switch to asyncio",
            "every caller is synchronous",
        ),
    ],
)
def test_rejected_alternatives_are_found_with_their_reason(
    text: str, alternative: str, reason: str
) -> None:
    """Approaches turned down become alternatives, with the reason given."""
    (found,) = _reasoning(text).alternatives
    assert (found.text, found.reason) == (alternative, reason)


def test_instead_of_gives_a_decision_and_an_alternative() -> None:
    """'X instead of Y' is a decision for X and a rejected alternative Y."""
    found = _reasoning(
        "I'll inject a fake clock instead of patching time.time globally, because the patch leaks."
    )
    assert _texts(found.decisions) == ["Inject a fake clock instead of patching time.time globally"]
    assert _texts(found.alternatives) == ["Patching time.time globally"]
    assert found.alternatives[0].reason == "the patch leaks"


def test_constraints_say_who_stated_them() -> None:
    """Prompts give the user's rules, reasoning the agent's, a cited rule file the repository's."""
    found = extract(
        _events(
            ("prompt", "Fix the rounding. Don't add new dependencies. Keep the API compatible."),
            ("reasoning", "CLAUDE.md says to use structlog and never the logging module."),
            ("reasoning", "The payload holds card data, so I must not log the raw body."),
        )
    )
    assert [(c.text, c.stated_by) for c in found.constraints] == [
        ("Don't add new dependencies", "user"),
        ("Keep the API compatible", "user"),
        ("CLAUDE.md says to use structlog and never the logging module", "repository"),
        ("The payload holds card data, so I must not log the raw body", "agent"),
    ]


# -- what is not -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "```python\n# I'll go with floats because they are fast\nx = 1  # must be set\n```",
        "`I'll use Decimal instead of float because it rounds`",
        "    result = use_cache if must_refresh else fallback  # instead of None",
        "If we were to use Redis instead of the database, reads would be faster.",
        "We could go with RQ because it is simple.",
        "Maybe I'll switch to Decimal because floats drift.",
        "Redis would be faster, so I'll maybe use it.",
        "I'll use the Read tool to look at the file since I need its contents.",
        "I'll run the tests again because the last run was flaky.",
        "Should I use a dataclass instead of a dict?",
        "Option 2: switch to Decimal instead of float.",
        "The check printed:\nERROR: migration 0008 must define downgrade()\nNever use floats",
        "E   AssertionError: must run exactly once",
        'Traceback (most recent call last):\n  File "x.py", line 3\nValueError: must be absolute',
        "I'll read the file first.",
        "I won't go with it.",
        "The login won't work because the cookie lacks Secure.",
        'The user said "don\'t use regex", so it stays hand-written.',
        "<system-reminder>Never use float for money. You must keep tests green.</system-reminder>",
    ],
)
def test_code_output_hypotheticals_and_questions_are_skipped(text: str) -> None:
    """Quoted code, pasted output, hypotheticals, questions and bug reports give nothing."""
    found = _reasoning(text)
    assert found == Extracted(), found


def test_tool_output_and_other_kinds_are_not_read() -> None:
    """Only prompts, reasoning and responses are read: tool results hold other people's words."""
    found = extract(
        _events(
            ("tool_result", "Decision: use floats. Don't add dependencies."),
            ("tool_use", "I'll go with Redis because it is fast."),
            ("note", "I'll go with Redis because it is fast."),
        )
    )
    assert found == Extracted()


def test_a_dropped_plan_is_left_out_and_the_later_one_kept() -> None:
    """'Actually, scratch that' and 'I'll revert' drop the earlier decision of the session."""
    found = extract(
        _events(
            ("reasoning", "I'll go with Redis for the cache since we run it for sessions."),
            (
                "reasoning",
                "Actually, scratch that. I'll use functools.lru_cache because "
                "results only change on deploy.",
            ),
            ("reasoning", "I'll switch to multiprocessing because resizing is CPU bound."),
            ("prompt", "That broke on macOS."),
            ("reasoning", "I'll revert the multiprocessing change."),
        )
    )
    assert _texts(found.decisions) == ["Use functools.lru_cache"]


def test_a_users_no_drops_the_agents_proposal() -> None:
    """A prompt opening with 'No,' drops the decisions of the agent's previous turn."""
    found = extract(
        _events(
            ("prompt", "Add pagination to GET /orders."),
            ("reasoning", "I'll use offset pagination because /customers does."),
            ("prompt", "No, use cursor pagination instead, offsets get slow."),
            ("reasoning", "I'll encode the last id as the cursor, since ids are unique."),
        )
    )
    assert _texts(found.decisions) == [
        "Use cursor pagination instead",
        "Encode the last id as the cursor",
    ]


def test_that_wont_work_turns_the_previous_decision_into_an_alternative() -> None:
    """'That won't work because …' rejects the decision just made, with the reason."""
    found = _reasoning(
        "I'll go with a threading.Lock around add_item. Wait, that won't work because the "
        "app runs four worker processes. I'll use a version column instead."
    )
    assert _texts(found.decisions) == ["Use a version column instead"]
    assert [(a.text, a.reason) for a in found.alternatives] == [
        ("Go with a threading.Lock around add_item", "the app runs four worker processes")
    ]


def test_a_later_rejection_drops_the_choice_it_names() -> None:
    """A decision that a later sentence rejects by name is left out."""
    found = _reasoning(
        "I'll go with a global lock because it is simple. Later: the global lock won't work "
        "because it serialises every request."
    )
    assert found.decisions == ()
    assert _texts(found.alternatives) == ["Later: the global lock"]


# -- records -------------------------------------------------------------------------------


def test_near_identical_records_keep_the_first_evidence() -> None:
    """The same decision stated twice is one record, pointing at the first statement."""
    events = _events(
        ("reasoning", "I'll stream the body in chunks, because memory stays flat."),
        ("reasoning", "Tests next. I'll stream the body in chunks!"),
    )
    (found,) = extract(events).decisions
    assert found.evidence is not None and found.evidence.event_id == events[0].event_id


def test_extraction_is_deterministic_with_stable_ids() -> None:
    """Same events, same records and ids: 'x-' and a digest of event, category and text."""
    items = [s for half in ("tuning", "frozen") for s in sessions(half)]
    from extract_eval import run

    first = [run(s) for s in items]
    assert first == [run(s) for s in items]
    record = next(r.decisions[0] for r in first if r.decisions)
    assert record.evidence is not None and record.evidence.event_id is not None
    digest = hashlib.sha256(
        f"{record.evidence.event_id}\0decision\0{normalise(record.text)}".encode()
    ).hexdigest()
    assert record.record_id == "x-" + digest[:16]
    ids = [r.record_id for x in first for c in CATEGORIES for r in getattr(x, c)]
    assert len(ids) == len(set(ids))


def test_every_excerpt_is_verbatim_in_its_event() -> None:
    """Each record's evidence is a verbatim sentence of the event it names."""
    from extract_eval import events_of

    checked = 0
    for half in ("tuning", "frozen"):
        for session in sessions(half):
            by_id = {e.event_id: e for e in events_of(session)}
            result = extract(list(by_id.values()), files=session["files"])
            for category in CATEGORIES:
                for record in getattr(result, category):
                    ev = record.evidence
                    event = by_id[ev.event_id]
                    assert ev.excerpt and ev.excerpt in event.payload["text"]
                    assert (ev.session_id, ev.seq, ev.kind) == (
                        event.session_id,
                        event.seq,
                        event.kind,
                    )
                    checked += 1
    assert checked > 50


def test_applies_to_names_the_files_and_symbols_the_sentence_mentions() -> None:
    """Paths and basenames name files; symbol names (whole words) name symbols."""
    events = _events(
        (
            "reasoning",
            "I'll keep `getUserData` in src/index.ts as an alias rather than removing it, "
            "because money.py and Client.send rely on it via round_amount.",
        ),
        ("reasoning", "I'll use a dict in utils.py instead of a list, since lookups dominate."),
        ("reasoning", "I'll parse the header lazily, because parse is hot."),
    )
    found = extract(
        events,
        files=["src/index.ts", "billing/money.py", "a/utils.py", "b/utils.py"],
        symbols=[
            "src/api.ts::getUserData",
            "client.py::Client.send",
            "billing/money.py::round_amount",
            "http.py::parse",
        ],
    )
    assert found.decisions[0].applies_to == (
        "src/api.ts::getUserData",
        "src/index.ts",
        "billing/money.py",
        "client.py::Client.send",
        "billing/money.py::round_amount",
    )
    # Two files share the basename: neither is named. A plain word needs `code` or a call.
    assert found.decisions[1].applies_to == ()
    assert found.decisions[2].applies_to == ()


def test_the_cap_keeps_the_most_confident_in_order_and_the_threshold_holds() -> None:
    """At most ``limit`` per category, the most confident, in order of appearance."""
    strong = [f"Decision: plan number {i} is the one." for i in range(25)]
    weak = ["I'll add retries in client.py."]
    events = _events(*[("reasoning", t) for t in [*weak, *strong]])
    found = extract(events)
    assert len(found.decisions) == 20
    assert _texts(found.decisions) == [f"Plan number {i} is the one" for i in range(20)]
    assert extract(events, min_confidence=0.99).decisions == ()
    assert len(extract(events, min_confidence=0.4, limit=30).decisions) == 26


def test_a_transcript_gives_the_same_records_as_its_events() -> None:
    """A lazy Transcript of stored lines is read like the events themselves."""
    session = sessions("tuning")[0]
    from extract_eval import events_of

    events = events_of(session)
    lines = [canonical_dumps(unstructure(e)) for e in events]
    transcript = Transcript(lines, kinds=[e.kind for e in events])
    assert extract(transcript, files=session["files"]) == extract(events, files=session["files"])


# -- in the summary, through a real commit -----------------------------------------------------


def _work(repo: bitloops.Repository) -> None:
    s = repo.start_session(agent="claude-code", model="claude-sonnet-4")
    s.prompt("The totals are off by a cent. Fix billing/money.py. Don't add new dependencies.")
    s.reasoning(
        "round_amount uses float. I'll reject option 1 in round_amount because an epsilon "
        "only hides the error. Decision: Decimal with ROUND_HALF_UP."
    )
    s.decision("Decimal with ROUND_HALF_UP", rationale="exact cents")
    s.file_change("billing/money.py", "modified")
    s.response("Fixed `round_amount`; no new dependencies.")


MONEY_V1 = "def round_amount(x):\n    return round(x, 2)\n"
MONEY_V2 = "from decimal import Decimal\n\n\ndef round_amount(x):\n    return Decimal(x)\n"


def test_promotion_adds_extracted_records_to_the_summary(
    repo: bitloops.Repository, git_repo: Path
) -> None:
    """After a real commit the checkpoint holds extracted records next to the agent's own."""
    commit_files(git_repo, {"billing/money.py": MONEY_V1}, "add money")
    _work(repo)
    commit_files(git_repo, {"billing/money.py": MONEY_V2}, "decimal rounding")
    cp = repo.promote("HEAD")
    assert cp is not None
    s = cp.summary
    # The agent recorded the decision itself: the extracted copy is dropped.
    assert [(d.text, d.source) for d in s.decisions] == [("Decimal with ROUND_HALF_UP", "agent")]
    (alternative,) = s.alternatives
    assert (alternative.text, alternative.source) == ("Option 1 in round_amount", "extracted")
    assert alternative.evidence is not None and alternative.evidence.kind == "reasoning"
    assert alternative.applies_to == ("billing/money.py::round_amount",)
    (constraint,) = s.constraints
    assert (constraint.text, constraint.stated_by, constraint.source) == (
        "Don't add new dependencies",
        "user",
        "extracted",
    )
    assert constraint.record_id.startswith("x-")
    again = repo.checkpoint(cp.checkpoint_id)
    assert again.summary == s  # stored and read back, part of the content hash
    markdown = render_markdown(cp)
    assert "Option 1 in round_amount — rejected: an epsilon only hides the error" in markdown
    assert "_(extracted, 0.85, reasoning: “I'll reject option 1" in markdown


def test_extraction_can_be_turned_off(git_repo: Path) -> None:
    """The extract_reasoning setting (and StructuredSummarizer(extract=False)) turn it off."""
    (git_repo / ".bitloops").mkdir()
    (git_repo / ".bitloops/settings.json").write_text('{"extract_reasoning": false}\n')
    commit_files(git_repo, {"billing/money.py": MONEY_V1}, "add money")
    with bitloops.Repository.open(git_repo) as repo:
        assert repo.settings.extract_reasoning is False
        _work(repo)
        commit_files(git_repo, {"billing/money.py": MONEY_V2}, "decimal rounding")
        cp = repo.promote("HEAD")
    assert cp is not None
    assert cp.summary.alternatives == () and cp.summary.constraints == ()
    assert [d.source for d in cp.summary.decisions] == ["agent"]
    assert StructuredSummarizer().extract and not StructuredSummarizer(extract=False).extract


def test_the_setting_is_validated_and_read_from_the_environment(tmp_path: Path) -> None:
    """extract_reasoning is a boolean, on by default, also from BITLOOPS_EXTRACT_REASONING."""
    assert load_settings(tmp_path, {}).extract_reasoning is True
    assert load_settings(tmp_path, {"BITLOOPS_EXTRACT_REASONING": "off"}).extract_reasoning is False
    (tmp_path / ".bitloops").mkdir()
    (tmp_path / ".bitloops/settings.json").write_text('{"extract_reasoning": "sometimes"}')
    with pytest.raises(bitloops.SettingsError, match="extract_reasoning"):
        load_settings(tmp_path, {})


# -- quality on the labelled sessions ------------------------------------------------------------


def test_the_frozen_half_is_as_it_was_frozen() -> None:
    """The frozen sessions still have the digests recorded before tuning began."""
    recorded: dict[str, str] = {}
    for line in (EVAL_DIR / "frozen.sha256").read_text().splitlines():
        digest, name = line.split("  ", 1)
        recorded[name] = digest
    files = sorted(p for p in (EVAL_DIR / "frozen").glob("*.json"))
    assert len(files) == len(recorded) >= 20
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert recorded[f"frozen/{path.name}"] == digest, path.name


def test_precision_and_recall_on_the_frozen_half() -> None:
    """Precision >= 0.8 and recall >= 0.5 per category on the sessions frozen before tuning."""
    scores, notes = evaluate(sessions("frozen"))
    for category, score in scores.items():
        assert score.labelled >= 10, category
        assert score.precision >= 0.8, (category, score, notes)
        assert score.recall >= 0.5, (category, score, notes)


def test_eval_labels_are_verbatim() -> None:
    """Every label of the evaluation set is a verbatim part of one of its session's texts."""
    for half in ("tuning", "frozen"):
        for session in sessions(half):
            text = "\n".join(e["text"] for e in session["events"])
            for category in CATEGORIES:
                for label in session["expected"].get(category, []):
                    label_text = label["text"] if isinstance(label, dict) else label
                    assert label_text in text, (session["id"], label_text)
                    assert re.search(r"\w", label_text)


def test_extracted_excerpts_hold_no_secret(repo: bitloops.Repository, git_repo: Path) -> None:
    """Extraction reads the redacted text: a secret in a decision's sentence stays out."""
    from secrets_corpus import SECRETS

    secret = next(s for s in SECRETS if s.family.startswith("github")).secret
    commit_files(git_repo, {"billing/money.py": MONEY_V1}, "add money")
    s = repo.start_session(agent="codex")
    s.reasoning(f"I'll go with the token {secret} for the deploy because CI needs it.")
    commit_files(git_repo, {"billing/money.py": MONEY_V2}, "decimal rounding")
    cp = repo.promote("HEAD")
    assert cp is not None
    (decision,) = cp.summary.decisions
    assert decision.source == "extracted" and "[REDACTED" in decision.text
    assert decision.evidence is not None and secret not in decision.evidence.excerpt
    assert secret not in repr(cp.summary)


def test_a_bare_no_drops_the_turn_before_it() -> None:
    """A prompt that is only 'No.' still drops the agent's proposal of the turn before."""
    found = extract(
        _events(
            ("prompt", "Cache the search results."),
            ("reasoning", "I'll go with Redis because it is already deployed."),
            ("prompt", "No."),
            ("reasoning", "I'll go with an in-process LRU cache because it needs no server."),
        )
    )
    assert _texts(found.decisions) == ["Go with an in-process LRU cache"]


def test_a_rejected_option_says_what_the_option_was() -> None:
    """ "I'll reject option 1" names the choice the same text listed as option 1."""
    text = (
        "Two options: 1) apply VAT per item, 2) apply VAT on the sum. "
        "I'll reject option 1 because rounding per item drifts from the invoice total."
    )
    (alternative,) = _reasoning(text).alternatives
    assert alternative.text == "Option 1 (apply VAT per item)"
    assert alternative.reason == "rounding per item drifts from the invoice total"
