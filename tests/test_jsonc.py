"""bitloops._jsonc gives what json gives: the same values, texts and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitloops import _jsonc

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
OPTIONS: list[dict[str, Any]] = [
    {},
    {"ensure_ascii": False},
    {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "allow_nan": False},
    {"default": str},
    {"indent": 2},  # not the C encoder's: json's own
]


def _outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "value", call(*args, **kwargs)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.sampled_from(range(len(OPTIONS))))
def test_dumps_is_json_dumps(value: Any, which: int) -> None:
    """Same text for every value json can encode, same error for the rest."""
    options = OPTIONS[which]
    assert _outcome(_jsonc.dumps, value, **options) == _outcome(json.dumps, value, **options)


@settings(max_examples=300, deadline=None)
@given(VALUES.map(json.dumps) | st.text(max_size=40) | st.binary(max_size=40))
def test_loads_is_json_loads(text: str | bytes) -> None:
    """Same value (NaN aside, compared by its text) or the same error, for any input."""
    want, got = _outcome(json.loads, text), _outcome(_jsonc.loads, text)
    assert repr(got) == repr(want)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1}',
        ' {"a":1}',
        '{"a":1}\n',
        '{"a":1} x',
        "",
        "NaN",
        "[1,2",
        "\ufeff{}",
        '{"a":"\\ud800"}',
        '{"a":1,"a":2}',
        '{"hook_event_name": "PostToolUse", "tool_na',
        b'{"a": "\xc3\xa9"}',
        b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"),
        b"\xff",
    ],
)
def test_edge_cases(text: str | bytes) -> None:
    """Whitespace, BOMs, encodings, surrogates, truncation, extra data."""
    assert repr(_outcome(_jsonc.loads, text)) == repr(_outcome(json.loads, text))


def test_object_pairs_hook_is_the_c_scanners() -> None:
    """``object_pairs_hook`` (redaction's duplicate-key check) gives json's pairs."""

    def pairs(items: list[tuple[str, Any]]) -> Any:
        return ("pairs", items)

    text = '{"b": 1, "a": {"c": [1, {"d": 2}]}}'
    assert _jsonc.loads(text, object_pairs_hook=pairs) == json.loads(text, object_pairs_hook=pairs)


def test_cycles_are_json_errors() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert _outcome(_jsonc.dumps, loop) == _outcome(json.dumps, loop)


def test_no_json_package_until_an_error() -> None:
    """Reading and writing load neither json nor re; a malformed text then gets json's
    own error (json loaded to say it)."""
    code = (
        "import sys\n"
        "from bitloops import _jsonc\n"
        'v = _jsonc.loads(\'{"a": [1, 2.5, null, "\\\\u00e9"]}\')\n'
        "t = _jsonc.dumps(v, sort_keys=True, ensure_ascii=False, separators=(',', ':'))\n"
        "print(t, 'json' in sys.modules, 're' in sys.modules)\n"
        "try:\n"
        "    _jsonc.loads('{\"a\": [1,')\n"
        "except _jsonc.JSONDecodeError as exc:\n"
        "    print(type(exc).__module__, exc.pos)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ['{"a":[1,2.5,null,"é"]} False False', "json.decoder 9"]


@settings(max_examples=300, deadline=None)
@given(VALUES.map(json.dumps) | st.text(max_size=40) | VALUES.map(lambda v: f" {json.dumps(v)}\n"))
def test_parsed_is_json_loads_or_missing(text: str) -> None:
    """``parsed`` gives json.loads's value, or ``missing`` exactly where json.loads fails."""
    missing = object()
    want = _outcome(json.loads, text)
    got = _jsonc.parsed(text, missing)
    if want[0] == "value":
        assert repr(got) == repr(want[1])
    else:
        assert got is missing


def test_parsed_never_imports_json() -> None:
    """Tool output that starts like JSON and half-written lines: refused, json not loaded
    (on every Python: 3.12+ scanners load json to report an error, so a text whose end
    cannot close its first value is refused before it is scanned)."""
    code = (
        "import sys\n"
        "from bitloops import _jsonc\n"
        "texts = ['[main 1a2b3c4] fix the thing', '{\"a\": 1', '{\"a\": [1, 2', '[INFO] x',"
        " '{\"a\": 1}\\n', '\"x', '12 apples', 'nope', '', ' \\n']\n"
        "print([_jsonc.parsed(t, '-') for t in texts], 'json' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "['-', '-', '-', '-', {'a': 1}, '-', '-', '-', '-', '-'] False\n"
