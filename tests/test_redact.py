"""Redaction: fake secrets disappear from text, JSON text and values; look-alikes stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secrets_corpus import CLEAN, SECRETS, FakeSecret
from secrets_generators import GENERATORS, instances

import bitloops
from bitloops.redact import RULES, Finding, Redactor, default_redactor
from bitloops.settings import load_settings


def canonical(value: Any) -> str:
    """The canonical JSON text bitloops stores (and hands to ``redact_json``)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )


def shape(value: Any) -> Any:
    """The structure of a JSON value with the text left out; object keys may be renamed."""
    if isinstance(value, dict):
        return ("object", sorted(repr(shape(v)) for v in value.values()))
    if isinstance(value, list):
        return ("array", [shape(v) for v in value])
    return type(value).__name__


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, object keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


SECRET_IDS = [f"{i:02d}-{s.family}" for i, s in enumerate(SECRETS)]
CLEAN_IDS = [f"{i:02d}" for i in range(len(CLEAN))]


@pytest.fixture
def redactor() -> Redactor:
    """The shared default redactor."""
    return default_redactor()


# --- the corpus -------------------------------------------------------------------------


def test_corpus_covers_every_rule() -> None:
    """The corpus has 2+ fake secrets per built-in rule, and 48+ clean strings."""
    assert len(CLEAN) >= 48
    assert {s.family for s in SECRETS} == set(RULES) - {"custom"}
    counts = {rule: sum(s.family == rule for s in SECRETS) for rule in set(RULES) - {"custom"}}
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("type_name", sorted(GENERATORS))
def test_random_instances_of_each_type_are_caught(redactor: Redactor, type_name: str) -> None:
    """At least 95% of 100 random instances of each secret type lose every fragment."""
    caught = 0
    for item in instances(type_name, 100):
        out = redactor.redact(item.text)
        caught += all(f not in out for f in item.fragments)
    assert caught >= 95


def test_random_instances_overall_recall(redactor: Redactor) -> None:
    """Over all types, at least 99% of random instances are caught, in text and in JSON."""
    total = text_ok = json_ok = 0
    for type_name in GENERATORS:
        for item in instances(type_name, 50, seed=7):
            total += 1
            out = redactor.redact(item.text)
            text_ok += all(f not in out for f in item.fragments)
            decoded = json.loads(redactor.redact_json(canonical({"x": item.text})))["x"]
            json_ok += all(f not in decoded for f in item.fragments)
    assert text_ok >= 0.99 * total
    assert json_ok >= 0.99 * total


@pytest.mark.parametrize("fake", SECRETS, ids=SECRET_IDS)
def test_secret_disappears_from_text(redactor: Redactor, fake: FakeSecret) -> None:
    """Each fake secret is gone from the redacted line, and a marker is in its place."""
    out = redactor.redact(fake.text)
    assert fake.secret not in out
    assert "[REDACTED:" in out


@pytest.mark.parametrize("fake", SECRETS, ids=SECRET_IDS)
def test_secret_is_found_by_its_rule(redactor: Redactor, fake: FakeSecret) -> None:
    """The finding covering each fake secret covers all of it and carries its family's rule."""
    start = fake.text.index(fake.secret)
    end = start + len(fake.secret)
    covering = [f for f in redactor.findings(fake.text) if f.start <= start and end <= f.end]
    assert [f.rule for f in covering] == [fake.family]


@pytest.mark.parametrize("fake", SECRETS, ids=SECRET_IDS)
def test_secret_disappears_from_json(redactor: Redactor, fake: FakeSecret) -> None:
    """In canonical JSON (escaped, nested) each fake secret is gone and the JSON keeps its shape."""
    value = {"x": fake.text, "nested": [fake.text, {"deeper": fake.text}]}
    text = canonical(value)
    out = redactor.redact_json(text)
    escaped = json.dumps(fake.secret, ensure_ascii=False)[1:-1]
    assert escaped not in out
    decoded = json.loads(out)
    assert shape(decoded) == shape(value)
    assert not any(fake.secret in s for s in strings(decoded))
    assert out == canonical(decoded)


@pytest.mark.parametrize("fake", SECRETS, ids=SECRET_IDS)
def test_secret_disappears_from_a_dict_key(redactor: Redactor, fake: FakeSecret) -> None:
    """A fake secret used as an object key is redacted there too."""
    out = json.loads(redactor.redact_json(canonical({fake.text: 1, "other": 2})))
    assert len(out) == 2
    assert not any(fake.secret in key for key in out)


@pytest.mark.parametrize("text", CLEAN, ids=CLEAN_IDS)
def test_clean_string_is_unchanged(redactor: Redactor, text: str) -> None:
    """A realistic non-secret string (hash, UUID, path, prose, code) comes out unchanged."""
    assert redactor.findings(text) == []
    assert redactor.redact(text) is text


def test_clean_json_takes_the_fast_path(redactor: Redactor) -> None:
    """A payload of clean strings is returned as the very same object."""
    text = canonical({"items": CLEAN, "by_key": {c[:30]: c for c in CLEAN}})
    assert redactor.redact_json(text) is text


def test_typical_payload_takes_the_fast_path(redactor: Redactor) -> None:
    """A typical tool_use payload without secrets is returned as the very same object."""
    text = canonical(
        {
            "tool": "Bash",
            "input": {"command": "cd /work/main && python -m pytest -q tests/test_store.py"},
            "output": "....\n5 passed in 0.42s",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        }
    )
    assert redactor.redact_json(text) is text


# --- what is kept around a secret -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DB_PASSWORD=FAKEdbPass1", "DB_PASSWORD=[REDACTED:password]"),
        ('password: "a b c"', 'password: "[REDACTED:password]"'),
        ('{"api_key": "FAKE-k-1"}', '{"api_key": "[REDACTED:secret]"}'),
        (
            "postgres://app:FAKEpw@db.internal:5432/prod",
            "postgres://app:[REDACTED:url-password]@db.internal:5432/prod",
        ),
        ("Authorization: Bearer FAKEtoken1", "Authorization: Bearer [REDACTED:auth-header]"),
        ("GITHUB_TOKEN=ghp_" + "FAKE0a1B" * 4 + "a1B2", "GITHUB_TOKEN=[REDACTED:github-token]"),
    ],
)
def test_context_stays_visible(redactor: Redactor, text: str, expected: str) -> None:
    """Keys, URL scheme/user/host and the auth scheme stay; only the value is replaced."""
    assert redactor.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'the password: DB_PASSWORD="FAKE-pw-1"',
            'the password: DB_PASSWORD="[REDACTED:password]"',
        ),
        ('token: GITLAB_TOKEN = "FAKE-tok-2"', 'token: GITLAB_TOKEN = "[REDACTED:secret]"'),
        ("# secret: SECRET_KEY = 'FAKE-sec-3'", "# secret: SECRET_KEY = '[REDACTED:secret]'"),
        ("api key: API_KEY=FAKEkey4", "api key: API_KEY=[REDACTED:secret]"),
    ],
)
def test_a_label_before_an_assignment_does_not_stop_it(
    redactor: Redactor, text: str, expected: str
) -> None:
    """A label naming a secret ("the password:") before the assignment itself is skipped."""
    assert redactor.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://FAKE0d1c2b3a49f8e7d6c5b4a3f2e1d0@o1.ingest.sentry.io/2".replace(
                "FAKE", "fa4e"
            ),
            "https://[REDACTED:sentry-dsn]@o1.ingest.sentry.io/2",
        ),
        (
            "https://api.telegram.org/bot123456789:AAHFAKE_9pXr2LmQw8VtZc4NbJ6kYe0sDfg/getMe",
            "https://api.telegram.org/bot123456789:[REDACTED:telegram-bot-token]/getMe",
        ),
        (
            "mysql -u root -pFAKEpw9 -P 3306 shop",
            "mysql -u root -p[REDACTED:password] -P 3306 shop",
        ),
        ("the password is FAKEpw#10.", "the password is [REDACTED:password]."),
        (
            "x?sv=2022-11-02&sig=FAKEk2%2BVq9Zr8Lw0bVtR5mYc%3D&se=2026",
            "x?sv=2022-11-02&sig=[REDACTED:azure-sas]&se=2026",
        ),
    ],
)
def test_new_cues_keep_their_context(redactor: Redactor, text: str, expected: str) -> None:
    """DSN hosts, bot ids, command lines and prose around a secret stay readable."""
    assert redactor.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "rollout-2025-01-01T10-00-00-0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.jsonl",
        "the password is wrong; the password prompt appears once",
        "mysql -h db -P3306 -u app",
        "key-value pairs are stored in 32 shards",
    ],
)
def test_look_alikes_of_the_new_rules_stay(redactor: Redactor, text: str) -> None:
    """Names with a UUID, prose about passwords, -P ports and "key-" words are left alone."""
    assert redactor.redact(text) == text


def test_findings_give_offsets_into_the_text(redactor: Redactor) -> None:
    """Findings are sorted, disjoint and point at the secrets in the scanned text."""
    text = "key AKIAIOSFODNN7EXAMPLE and pw postgres://u:FAKEpw@h/db"
    found = redactor.findings(text)
    assert found == [
        Finding("aws-access-key", 4, 24),
        Finding("url-password", text.index("FAKEpw"), text.index("FAKEpw") + 6),
    ]


def test_placeholders_are_not_secrets(redactor: Redactor) -> None:
    """References and stand-ins (``${X}``, ``<token>``, ``None``, variables) are left alone."""
    for text in (
        "password=${DB_PASSWORD}",
        "token: <your-token-here>",
        "secret = None",
        "password=password",
        "api_key = config.api_key",
        "password = input()",
        'password: "********"',
        "redis://:${REDIS_PASSWORD}@cache:6379",
    ):
        assert redactor.redact(text) == text, text


# --- JSON text: escapes, fallback -------------------------------------------------------


def test_json_escaped_newlines_and_quotes_are_matched_in_place(redactor: Redactor) -> None:
    """Inside JSON text a newline is ``\\n`` and a quote ``\\"``; the rules still match there."""
    value = {
        "key_file": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAFAKE\n"
        "-----END RSA PRIVATE KEY-----\n",
        "config": 'db:\n  password: "FAKE-pw-123"\n',
        "log": "line 1\nAKIAIOSFODNN7EXAMPLE",
    }
    text = canonical(value)
    assert "\\n" in text
    assert '\\"' in text
    expected = canonical(
        {
            "key_file": "[REDACTED:private-key]\n",
            "config": 'db:\n  password: "[REDACTED:password]"\n',
            "log": "line 1\n[REDACTED:aws-access-key]",
        }
    )
    assert redactor.redact_json(text) == expected


def test_json_falls_back_when_a_match_crosses_strings(redactor: Redactor) -> None:
    """A key block split over two strings is redacted per string, keeping the JSON valid."""
    value = {
        "a": "-----BEGIN PRIVATE KEY-----",
        "b": "-----END PRIVATE KEY-----",
        "c": "AKIAIOSFODNN7EXAMPLE",
    }
    out = redactor.redact_json(canonical(value))
    decoded = json.loads(out)
    assert shape(decoded) == shape(value)
    assert decoded["a"] == "[REDACTED:private-key]"
    assert decoded["c"] == "[REDACTED:aws-access-key]"
    assert out == canonical(decoded)


def test_json_keys_that_collide_after_redaction_are_kept_apart(redactor: Redactor) -> None:
    """Two secret keys that redact to the same marker stay two keys (``#2`` suffix)."""
    value = {"ghp_" + "FAKE0a1B" * 5: 1, "ghp_" + "FAKE9z8Y" * 5: 2}
    decoded = json.loads(redactor.redact_json(canonical(value)))
    assert sorted(decoded) == ["[REDACTED:github-token]", "[REDACTED:github-token]#2"]
    assert sorted(decoded.values()) == [1, 2]


def test_numbers_and_literals_are_not_touched(redactor: Redactor) -> None:
    """Only strings are redacted; a number under a secret-looking key stays a number."""
    value = {"password": 123456, "token": None, "secret": True, "pin": "1234"}
    out = redactor.redact_json(canonical(value))
    assert json.loads(out) == value


# --- redact_value -----------------------------------------------------------------------


def test_redact_value_walks_every_string(redactor: Redactor) -> None:
    """Strings at any depth, dict keys included, are redacted; other values are kept."""
    key = "AKIAIOSFODNN7EXAMPLE"
    value = {key: ["ok", ("x", f"id {key}")], "n": 1.5, "flag": False, "none": None}
    assert redactor.redact_value(value) == {
        "[REDACTED:aws-access-key]": ["ok", ["x", "id [REDACTED:aws-access-key]"]],
        "n": 1.5,
        "flag": False,
        "none": None,
    }


def test_redact_value_uses_the_key_as_context(redactor: Redactor) -> None:
    """A string under a secret-looking key is redacted whole, as it would be in JSON text."""
    value = {"password": "hunter2", "Authorization": "Bearer abc123", "PWD": "/work/main"}
    expected = {
        "password": "[REDACTED:password]",
        "Authorization": "Bearer [REDACTED:auth-header]",
        "PWD": "/work/main",
    }
    assert redactor.redact_value(value) == expected
    assert json.loads(redactor.redact_json(canonical(value))) == expected


# --- options ----------------------------------------------------------------------------


def test_extra_patterns_are_redacted_as_custom() -> None:
    """User patterns from settings redact their matches, in text and in JSON."""
    custom = Redactor([r"ACME-\d{6}", r"internal\.corp\.example"])
    text = "ticket ACME-123456 on internal.corp.example"
    assert custom.redact(text) == "ticket [REDACTED:custom] on [REDACTED:custom]"
    assert default_redactor().redact(text) == text
    out = custom.redact_json(canonical({"note": text}))
    assert json.loads(out) == {"note": "ticket [REDACTED:custom] on [REDACTED:custom]"}


def test_extra_pattern_overlapping_a_builtin_covers_both() -> None:
    """When a user pattern overlaps a built-in finding, the union is redacted."""
    custom = Redactor([r"key AKIA\w{4}"])
    assert custom.redact("my key AKIAIOSFODNN7EXAMPLE!") == "my [REDACTED:aws-access-key]!"


def test_entropy_can_be_turned_off() -> None:
    """``entropy=False`` keeps high-entropy strings but still redacts formatted secrets."""
    plain = Redactor(entropy=False)
    for fake in SECRETS:
        out = plain.redact(fake.text)
        if fake.family == "high-entropy":
            assert fake.secret in out
        else:
            assert fake.secret not in out


def test_default_redactor_is_shared() -> None:
    """``default_redactor()`` builds one redactor and hands it out every time."""
    assert default_redactor() is default_redactor()


# --- unusual text -----------------------------------------------------------------------


def test_non_ascii_text_is_scanned(redactor: Redactor) -> None:
    """Text with non-ASCII characters (and case mappings that change length) still redacts."""
    token = "ghp_" + "FAKE0a1B" * 4 + "a1B2"
    assert redactor.redact(f"Schlüssel für CI — {token} ✓") == (
        "Schlüssel für CI — [REDACTED:github-token] ✓"
    )
    # "İ".lower() is two characters long, so keyword offsets need the fallback path.
    assert redactor.redact("İstanbul DB_PASSWORD=FAKEpw123") == (
        "İstanbul DB_PASSWORD=[REDACTED:password]"
    )


def test_redaction_is_idempotent_on_the_corpus(redactor: Redactor) -> None:
    """Redacting twice gives the same text as redacting once, for every corpus line."""
    for text in [s.text for s in SECRETS] + CLEAN:
        once = redactor.redact(text)
        assert redactor.redact(once) == once


# --- properties -------------------------------------------------------------------------

_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from([s.text for s in SECRETS]),
    st.sampled_from(CLEAN),
)
_keys = st.one_of(st.text(max_size=12), st.sampled_from(["password", "token", "Authorization"]))
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_redact_json_keeps_json_valid_and_shaped(value: Any) -> None:
    """For any JSON value, redact_json returns canonical JSON of the same shape."""
    out = default_redactor().redact_json(canonical(value))
    decoded = json.loads(out)
    assert shape(decoded) == shape(value)
    assert out == canonical(decoded)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.sampled_from(SECRETS), st.text(max_size=30))
def test_secret_disappears_whatever_surrounds_it(before: str, fake: FakeSecret, after: str) -> None:
    """A fake secret line between arbitrary text (space-separated) still loses its secret."""
    text = f"{before} {fake.text} {after}"
    redactor = default_redactor()
    assert fake.secret not in redactor.redact(text)
    decoded = json.loads(redactor.redact_json(canonical({"t": text})))
    assert fake.secret not in decoded["t"]


@settings(max_examples=300, deadline=None)
@given(st.lists(_texts, max_size=4).map(" ".join))
def test_redaction_is_idempotent(text: str) -> None:
    """``redact(redact(x)) == redact(x)`` for arbitrary text mixed with corpus lines."""
    redactor = default_redactor()
    once = redactor.redact(text)
    assert redactor.redact(once) == once


def test_personal_redact_patterns_add_to_the_teams(git_repo: Path) -> None:
    """Patterns from settings.local.json and the environment extend the shared ones."""
    folder = git_repo / ".bitloops"
    folder.mkdir()
    (folder / "settings.json").write_text('{"redact": {"extra_patterns": ["team-[0-9]+"]}}')
    (folder / "settings.local.json").write_text(
        '{"redact": {"extra_patterns": ["mine-[0-9]+"], "typo": 1}}'
    )
    settings = load_settings(git_repo, environ={"BITLOOPS_REDACT": "env-[0-9]+"})
    assert settings.redact_patterns == ("team-[0-9]+", "mine-[0-9]+", "env-[0-9]+")
    assert any("redact.typo" in w for w in settings.warnings)
    repo = bitloops.Repository.open(git_repo)
    event = repo.start_session(agent="a").prompt("team-1 mine-2 fine-3")
    assert "team-1" not in event.payload["text"] and "mine-2" not in event.payload["text"]
    assert "fine-3" in event.payload["text"]
    repo.close()


def test_the_gates_are_the_keyword_rules_gates() -> None:
    """``_gates`` (spelled out for speed) finds each rule's gate, and only those."""
    from bitloops.redact import _KEYWORD_RULES, _gates

    wanted = list(dict.fromkeys(gate for gate, _, _ in _KEYWORD_RULES))
    texts = {"pass": "the passphrase", "q~": "abc1q~x", "sig=": "?a=1&sig=x"}
    for gate in wanted:
        assert _gates(f"x {texts.get(gate, gate)} y") == [gate], gate
    assert _gates(" ".join(texts.get(g, g) for g in wanted)) == wanted
    assert _gates("34 passed, 2 passing, nothing else") == []
