"""Secret redaction: every event payload passes through here before its first write.

A :class:`Redactor` finds secrets and replaces each with ``[REDACTED:<rule>]``. Where
a secret sits in a recognisable context (a key name, a URL, a header) only the value
is replaced, so a reader still sees what was there.

How it stays fast (a typical 300-byte payload costs 2-3 µs): Python's regex engine
spends 3-5 ns per character on a pattern that may start at many characters, so no rule
scans the text that way. Each rule family has a trigger that runs in C at memory speed:

* Token rules (cloud and SaaS keys, JWTs) and the high-entropy rule look only at runs
  of base64-like characters, 16+ long, in which a capital has another capital or a
  digit at most five places on (random tokens virtually always do; paths, CamelCase
  names, hex hashes and prose do not). One ``bytes.translate`` maps the text to a
  four-letter "shape" in which a regex starting with a literal finds such runs.
* Private keys and URLs are found by regexes that start with a literal
  (``-----BEGIN``, ``://``), which the engine searches for like ``str.find``.
* Assignments (``password=...``) and ``Authorization`` headers are found in the
  lower-cased text, each keyword by a regex that starts with that keyword, run only
  when the keyword occurs at all.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import re

# Agent hooks redact every payload in a new process: attrs and typing would cost them
# more than the redaction itself, so neither is imported at run time.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any, NamedTuple

__all__ = ["RULES", "Finding", "Redactor", "default_redactor"]

if TYPE_CHECKING:

    class Finding(NamedTuple):
        """One secret found: the rule that matched and its ``[start, end)`` offsets."""

        rule: str
        start: int
        end: int

else:
    # The same class typing.NamedTuple would build, without importing typing.
    Finding = collections.namedtuple("Finding", ("rule", "start", "end"))
    Finding.__doc__ = (
        "One secret found: the rule that matched and its ``[start, end)`` offsets in the text."
    )


#: Every rule name a :class:`Finding` can carry.
RULES: tuple[str, ...] = (
    "private-key",
    "aws-access-key",
    "aws-secret-key",
    "google-api-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "anthropic-key",
    "openai-key",
    "jwt",
    "url-password",
    "auth-header",
    "password",
    "secret",
    "high-entropy",
    "custom",
)

_MARK = "[REDACTED:"
_RUN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"

# --- Runs: token rules and the high-entropy rule -------------------------------------


def _shape_table() -> bytes:
    """A ``bytes.translate`` table: capital -> U, digit -> d, other run char -> a, else space."""
    table = bytearray(b" " * 256)
    for ch in _RUN_CHARS:
        table[ord(ch)] = ord("U" if ch.isupper() else "d" if ch.isdigit() else "a")
    return bytes(table)


class _Lazy:
    """A regex compiled on first use.

    An agent hook is a new process per event, and a typical payload needs two or three
    of these rules: compiling all of them up front would cost the hook more than its
    other imports together. A module-level one puts the compiled pattern in its place
    on first use, so later uses cost nothing extra; others are read through :meth:`compiled`.
    """

    __slots__ = ("_args", "_name", "_rx")

    def __init__(self, name: str | None, pattern: Any, flags: int) -> None:
        self._name = name
        self._args = (pattern, flags)
        self._rx: re.Pattern[Any] | None = None

    def compiled(self) -> re.Pattern[Any]:
        """The compiled pattern."""
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(*self._args)
            if self._name is not None:
                globals()[self._name] = rx
        return rx

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.compiled(), attr)


def _lazy(name: str | None, pattern: Any, flags: int = 0) -> Any:
    """``re.compile(pattern, flags)``, when first used (see :class:`_Lazy`)."""
    return _Lazy(name, pattern, flags)


_SHAPE = _shape_table()
# A run of 16+ characters in which a capital is followed, at most five places on, by
# another capital or a digit. Random tokens nearly always have one (a 20-character
# base64 body lacks it with probability about 3e-4, longer bodies far less); paths and
# CamelCase names ("/Users/alice/Projects", "SessionStore") do not, so typical payloads
# skip the token rules entirely. Starting with a literal U lets the engine jump from U
# to U at memchr speed; the possessive a{0,4}+ never backtracks.
_SHAPE_RUN: re.Pattern[bytes] = _lazy("_SHAPE_RUN", rb"Ua{0,4}+[Ud][aUd]*+(?<=[aUd]{16})")
# Candidate runs in the text itself, for text that is not ASCII (shape offsets are bytes).
_TEXT_RUN: re.Pattern[str] = _lazy("_TEXT_RUN", r"[A-Za-z0-9+/_-]{16,}")
_HAS_UPPER: re.Pattern[str] = _lazy("_HAS_UPPER", r"[A-Z]")

# Token formats, tried inside candidate runs only: (rule, regex). Every regex starts
# with a literal character, so the engine jumps straight to the possible starts.
_TOKEN_RULES: tuple[tuple[str, str], ...] = (
    (
        "aws-access-key",
        r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    ),
    ("google-api-key", r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    ("github-token", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("github-token", r"github_pat_[A-Za-z0-9_]{36,}"),
    ("gitlab-token", r"gl(?:pat|dt|rt|ptt|ft|cbt|imt|soat|oas|agent|ffct)-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-token", r"xapp-[A-Za-z0-9-]{10,}"),
    ("stripe-key", r"sk_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("stripe-key", r"rk_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("anthropic-key", r"sk-ant-[a-z0-9]{2,12}-[A-Za-z0-9_-]{20,}"),
    # OpenAI keys are random base62; demanding a digit and a capital keeps kebab-case
    # names such as "sk-learn-pipeline-defaults" out.
    (
        "openai-key",
        r"sk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Z])"
        r"[A-Za-z0-9_-]{20,}",
    ),
)
# Each alternative ends with an empty group named after its index, so ``lastindex``
# names the rule without a group at the alternative's start (which would cost speed).
_TOKENS: re.Pattern[str] = _lazy(
    "_TOKENS", "|".join(f"{rx}(?P<t{i}>)" for i, (_, rx) in enumerate(_TOKEN_RULES))
)


@functools.cache
def _token_names() -> dict[int, str]:
    """The token rule named by each ``lastindex`` of :data:`_TOKENS`."""
    return {_TOKENS.groupindex[f"t{i}"]: rule for i, (rule, _) in enumerate(_TOKEN_RULES)}


_JWT: re.Pattern[str] = _lazy("_JWT", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")

_WORDY: re.Pattern[str] = _lazy("_WORDY", r"[a-z]{4,}|[A-Z][a-z]{3,}")
_HEX: re.Pattern[str] = _lazy("_HEX", r"[0-9a-fA-F]+")
_MIXED: re.Pattern[str] = _lazy("_MIXED", r"(?=[^0-9]*[0-9])(?=[^a-z]*[a-z])(?=[^A-Z]*[A-Z])")

# --- Literal-anchored rules ----------------------------------------------------------

_PEM: re.Pattern[str] = _lazy(
    "_PEM",
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
    # Up to the matching END line; a block cut short (``head id_rsa``) is redacted as
    # far as its base64 body goes.
    r"(?:[\s\S]{0,65536}?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
    r"|[A-Za-z0-9+/=\s\\:,.-]*)",
)
_NOT_DONE = r"(?!\[REDACTED:)"
_URL: re.Pattern[str] = _lazy(
    "_URL",
    r"://(?:"
    r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<hook>[A-Za-z0-9_/+-]{16,})"
    # user:password@host; the user may be empty (redis://:pw@host). RFC 3986 forbids a
    # raw "@" or "/" in the password, so they end it.
    r"""|[^\s:@/"'\\]*:""" + _NOT_DONE + r"""(?P<pw>[^\s@/"'\\]+)(?=@))""",
)

# --- Keyword rules, matched in the lower-cased text ----------------------------------

_ND = r"(?!\[redacted:)"
# The key ends here: ``password=`` yes, ``password_hash=`` or ``passwords:`` no.
_KEY_END = r"(?![a-z0-9_.-])"
# ``=`` or ``:``, after an optional closing quote of the key (also ``\"`` inside JSON).
_OP = r"""(?:\\?["'])?[ \t]*+[:=](?!=)[ \t]*+"""
_VALUE = (
    r"(?:"
    r'\\"' + _ND + r'(?P<ve>(?:[^"\\\n]|\\[^"])+)'  # \"value\" inside a JSON string
    # "value"; in JSON text a quote followed by , : } ] closes a string instead
    r'|"(?![,:}\]])' + _ND + r'(?P<vd>(?:[^"\\\n]|\\.)+)'
    r"|'" + _ND + r"(?P<vs>[^'\\\n]+)"  # 'value'
    r"|" + _ND + r"""(?P<vu>[^\s"'\\,;&})\]]+)"""  # value, up to a separator
    r")"
)
_KV_TAIL = _KEY_END + _OP + _VALUE
_AUTH_SCHEMES = r"(?:bearer|basic|token|digest|bot|negotiate)"

# (gate substring, regex, rule); the regex starts with the gate so it is found quickly.
_KEYWORD_RULES: tuple[tuple[str, _Lazy, str], ...] = (
    ("pass", _lazy(None, r"pass(?:w(?:or)?d|phrase)" + _KV_TAIL), "password"),
    ("pwd", _lazy(None, r"pwd" + _KV_TAIL), "password"),
    (
        "secret",
        _lazy(None, r"secret(?:(?P<aws>[_.-]?access[_.-]?key)|[_.-]?key)?" + _KV_TAIL),
        "secret",
    ),
    ("token", _lazy(None, r"token" + _KV_TAIL), "secret"),
    (
        "key",
        _lazy(
            None,
            r"key(?:(?<=api[_.-]key)|(?<=apikey)|(?<=access[_.-]key)|(?<=accesskey)"
            r"|(?<=private[_.-]key)|(?<=privatekey))" + _KV_TAIL,
        ),
        "secret",
    ),
    (
        "authorization",
        _lazy(
            None,
            r"authorization" + _KEY_END + _OP + r"""(?:\\?["'])?"""
            # Possessive, so "Bearer [REDACTED:...]" is not re-read as the value "Bearer".
            rf"(?:{_AUTH_SCHEMES}[ \t]+)?+" + _ND + r"""(?P<va>[^\s"'\\]{4,})""",
        ),
        "auth-header",
    ),
)
_VALUE_GROUPS = ("vd", "ve", "vs", "vu", "va")

# Values that name a secret rather than contain one.
_PLACEHOLDER_WORDS = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "required", "changeme", "redacted"}
    # type annotations: ``def login(password: str)``
    | {"str", "bytes", "string", "int", "bool", "any", "optional", "secretstr"}
)
# Unquoted values that are code, not secrets: ``password=getpass.getpass()``,
# ``token=os.environ["TOKEN"]``, ``api_key=settings.API_KEY``, ``password=db_password``.
_CODE: re.Pattern[str] = _lazy(
    "_CODE", r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?P<call>[(\[])?", re.ASCII
)
_VARIABLE: re.Pattern[str] = _lazy("_VARIABLE", r"[a-z_][a-z0-9_]*|[A-Z_][A-Z0-9_]*")
_VARIABLE_WORDS: re.Pattern[str] = _lazy(
    "_VARIABLE_WORDS", r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE
)

# For dict entries in redact_value: keys whose string value is a secret as a whole.
_SECRET_KEY: re.Pattern[str] = _lazy(
    "_SECRET_KEY",
    r"(?:pass(?:w(?:or)?d|phrase)|pwd|secret(?:[_.-]?(?:access[_.-]?)?key)?|token"
    r"|api[_.-]?key|access[_.-]?key|private[_.-]?key|authorization)\Z",
    re.IGNORECASE,
)
_AUTH_SCHEME: re.Pattern[str] = _lazy("_AUTH_SCHEME", _AUTH_SCHEMES + r"[ \t]+", re.IGNORECASE)


def _is_placeholder(value: str) -> bool:
    """Whether an assigned value is a stand-in (``${X}``, ``<token>``, ``None``, ``****``)."""
    if value[0] in "$%{<[(*" or value.lower() in _PLACEHOLDER_WORDS:
        return True
    return not value.strip("*xX.#_ -")


def _is_code(value: str) -> bool:
    """Whether an unquoted assigned value is an expression (a call, an attribute, a variable)."""
    m = _CODE.match(value)
    if m is None:
        return False
    if m.group("call"):
        return True
    if m.end() != len(value):
        return False
    return "." in value or bool(_VARIABLE.fullmatch(value) and _VARIABLE_WORDS.search(value))


def _looks_random(run: str) -> bool:
    """Whether a long run reads as a random token rather than words, a path or a hash.

    Shannon entropy alone cannot tell ``src/main/java/com/Example/Foo2Bar`` from a key,
    so the share of characters in word-like stretches (``java``, ``Example``) decides,
    with an entropy floor against repetitive strings.
    """
    n = len(run)
    if not 32 <= n <= 512:
        return False
    if not _MIXED.match(run) or _HEX.fullmatch(run):
        return False
    if sum(map(len, _WORDY.findall(run))) >= 0.45 * n:
        return False
    entropy = -sum(c / n * math.log2(c / n) for c in map(run.count, set(run)))
    return entropy >= 3.9


def _token_rule(value: str, default: str) -> str:
    """The token rule ``value`` matches in full (``GITHUB_TOKEN=ghp_...``), else ``default``."""
    m = _TOKENS.fullmatch(value)
    if m is not None and m.lastindex is not None:
        return _token_names()[m.lastindex]
    if _JWT.fullmatch(value):
        return "jwt"
    return default


def _keyword_rule(
    text: str, m: re.Match[str], gate: str, rule: str, group: str, value: str
) -> str | None:
    """The rule name for a value assigned to a keyword, or None when it is no secret."""
    if _is_placeholder(value):
        return None
    if gate == "pwd" and value[0] in "/~":
        return None  # PWD=/home/alice is the working directory
    if m.start() and text[m.start() - 1] == "/":
        return None  # "/etc/passwd: ..." names a file
    if group == "vu" and _is_code(value):
        return None
    if gate == "secret" and m.group("aws"):
        rule = "aws-secret-key"
    return _token_rule(value, rule)


@functools.cache
def _case_free(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` (written for lower-case text) made case-insensitive."""
    return re.compile(pattern.pattern, re.IGNORECASE)


def _escaped(text: str, i: int) -> bool:
    """Whether ``text[i]`` follows an unescaped backslash (so it is an escape letter)."""
    j = i
    while j > 0 and text[j - 1] == "\\":
        j -= 1
    return (i - j) % 2 == 1


class Redactor:
    """Finds and replaces secrets in text, JSON text and JSON-like values.

    ``extra_patterns`` are user regexes (the ``redact.extra_patterns`` setting); each of
    their matches is redacted as rule ``custom``. ``entropy=False`` turns the
    high-entropy rule off, keeping only rules with a recognisable format or context.
    """

    def __init__(self, extra_patterns: Sequence[str] = (), *, entropy: bool = True) -> None:
        self._extra = tuple(re.compile(p) for p in extra_patterns)
        self._entropy = entropy

    def findings(self, text: str) -> list[Finding]:
        """Every secret in ``text``, sorted by position; overlapping matches are joined."""
        found: list[Finding] = []
        if "-----BEGIN" in text:
            found += (Finding("private-key", *m.span()) for m in _PEM.finditer(text))
        self._run_findings(text, found)
        self._url_findings(text, found)
        self._keyword_findings(text, found)
        if self._extra:
            self._extra_findings(text, found)
        if len(found) > 1:
            found = _merge(found)
        return found

    def redact(self, text: str) -> str:
        """``text`` with each secret replaced by ``[REDACTED:<rule>]``."""
        found = self.findings(text)
        return _substitute(text, found) if found else text

    def redact_json(self, text: str) -> str:
        """Canonical JSON ``text`` with every secret inside its strings redacted.

        Returns ``text`` itself (the same object) when nothing matches. Otherwise
        substitutes on the text and checks the result still parses to the same keys;
        if a match crossed a quote or an escape, decodes, applies :meth:`redact_value`
        and encodes again the canonical way.
        """
        found = self.findings(text)
        if not found:
            return text
        if all(_safe_in_json(text, f) for f in found):
            result = _substitute(text, found)
            try:
                json.loads(result, object_pairs_hook=_no_duplicate_keys)
            except ValueError:
                pass
            else:
                return result
        value = self.redact_value(json.loads(text))
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )

    def redact_value(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every string redacted, dict keys included.

        A string stored under a secret-looking key (``{"password": "hunter2"}``) is
        redacted as a whole, as ``"password":"hunter2"`` would be in text. Keys that
        become equal after redaction get a ``#2``, ``#3``... suffix so no entry is lost.
        Tuples become lists; other values are returned as they are.
        """
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self.redact(key) if isinstance(key, str) else key
                if new_key in out:
                    n = 2
                    while f"{new_key}#{n}" in out:
                        n += 1
                    new_key = f"{new_key}#{n}"
                if isinstance(key, str) and isinstance(item, str) and item:
                    out[new_key] = self._redact_keyed(key, item)
                else:
                    out[new_key] = self.redact_value(item)
            return out
        if isinstance(value, (list, tuple)):
            return [self.redact_value(item) for item in value]
        return value

    # --- the rule families ------------------------------------------------------------

    def _run_findings(self, text: str, found: list[Finding]) -> None:
        """Token and high-entropy findings, from runs of 16+ run characters with a capital."""
        if text.isascii():
            shape = text.encode("ascii").translate(_SHAPE)
            first = _SHAPE_RUN.search(shape)
            if first is None:
                return
            spans: Iterator[tuple[int, int]] = (
                (shape.rfind(b" ", 0, m.start()) + 1, m.end())
                for m in _SHAPE_RUN.finditer(shape, first.start())
            )
        else:
            shape = text.encode("utf-8", "surrogatepass").translate(_SHAPE)
            if _SHAPE_RUN.search(shape) is None:
                return
            spans = (m.span() for m in _TEXT_RUN.finditer(text) if _HAS_UPPER.search(m.group()))
        covered = 0
        for start, end in spans:
            if start < covered:
                continue
            if text[start] in "nrtbfu" and start and _escaped(text, start):
                # "\nAKIA..." in JSON: the escape letter is not part of the token.
                start += 5 if text[start] == "u" else 1
            covered = self._classify_run(text, start, end, found)

    def _classify_run(self, text: str, start: int, end: int, found: list[Finding]) -> int:
        """Add the findings in one run; return where the last one ends (at least ``end``)."""
        if text.startswith("eyJ", start):
            m = _JWT.match(text, start)
            if m is not None:
                found.append(Finding("jwt", start, m.end()))
                return m.end()
        hit = False
        m = _TOKENS.search(text, start, end)
        while m is not None:
            s = m.start()
            # Inside a run a token must start a word: "AKIA..." yes, "xAKIA..." no.
            if s == start or not text[s - 1].isalnum():
                assert m.lastindex is not None
                found.append(Finding(_token_names()[m.lastindex], s, m.end()))
                hit = True
            m = _TOKENS.search(text, m.end(), end)
        if hit or not self._entropy or end - start < 32:
            return end
        while end < len(text) and text[end] == "=":
            end += 1
        run = text[start:end]
        if _looks_random(run.rstrip("=")):
            found.append(Finding("high-entropy", start, end))
        elif "/" in run and len(run) <= 1024:
            # A token inside a path or URL: judge each segment on its own. (Longer runs
            # are data, such as a base64 image, and are left whole.)
            pos = start
            for segment in run.split("/"):
                if _looks_random(segment.rstrip("=")):
                    found.append(Finding("high-entropy", pos, pos + len(segment)))
                pos += len(segment) + 1
        return end

    def _url_findings(self, text: str, found: list[Finding]) -> None:
        """Passwords in ``scheme://user:password@host`` and Slack webhook paths."""
        first = _URL.search(text) if "://" in text else None
        if first is None:
            return
        for m in _URL.finditer(text, first.start()):
            if m.group("hook") is not None:
                found.append(Finding("slack-webhook", *m.span("hook")))
            elif not _is_placeholder(pw := m.group("pw")):
                found.append(Finding(_token_rule(pw, "url-password"), *m.span("pw")))

    def _keyword_findings(self, text: str, found: list[Finding]) -> None:
        """Assigned values (``password=...``) and ``Authorization`` header values."""
        low = text.lower()
        flags = 0
        if len(low) != len(text):
            # Lower-casing changed the length (rare non-ASCII letters): offsets would
            # drift, so match the original text case-insensitively instead.
            low, flags = text, re.IGNORECASE
        for gate, lazy, rule in _KEYWORD_RULES:
            if flags:
                pattern = _case_free(lazy.compiled())
            elif gate not in low:
                continue
            else:
                pattern = lazy.compiled()
            for m in pattern.finditer(low):
                group = next(g for g in _VALUE_GROUPS if g in pattern.groupindex and m.group(g))
                start, end = m.span(group)
                name = _keyword_rule(text, m, gate, rule, group, text[start:end])
                if name is not None:
                    found.append(Finding(name, start, end))

    def _extra_findings(self, text: str, found: list[Finding]) -> None:
        """Matches of the user's extra patterns, except inside an earlier marker."""
        markers = (
            [(m.start(), m.end()) for m in re.finditer(r"\[REDACTED:[a-z-]+\]", text)]
            if _MARK in text
            else []
        )
        for rx in self._extra:
            for m in rx.finditer(text):
                s, e = m.span()
                if e > s and not any(a <= s and e <= b for a, b in markers):
                    found.append(Finding("custom", s, e))

    def _redact_keyed(self, key: str, value: str) -> str:
        """Redact ``value`` knowing it is stored under ``key`` in a dict."""
        redacted = self.redact(value)
        if not _SECRET_KEY.search(key) or redacted.startswith(_MARK):
            return redacted
        if key.lower().endswith("authorization"):
            scheme = _AUTH_SCHEME.match(value)
            head = scheme.group() if scheme else ""
            rest = value[len(head) :]
            if not rest or rest.startswith(_MARK) or _is_placeholder(rest):
                return redacted
            return f"{head}{_MARK}{_token_rule(rest, 'auth-header')}]"
        low = key.lower()
        if _is_placeholder(value) or (low.endswith("pwd") and value[0] in "/~"):
            return redacted
        if re.search(r"secret[_.-]?access[_.-]?key\Z", low):
            rule = "aws-secret-key"
        elif re.search(r"pass(?:w(?:or)?d|phrase)\Z|pwd\Z", low):
            rule = "password"
        else:
            rule = "secret"
        return f"{_MARK}{_token_rule(value, rule)}]"


# When findings overlap, the joined one is named by the most specific rule.
_GENERIC = {"aws-secret-key": 1, "password": 2, "secret": 2, "url-password": 2, "auth-header": 2}
_GENERIC |= {"high-entropy": 3, "custom": 4}


def _merge(found: list[Finding]) -> list[Finding]:
    """Sort findings and join overlapping ones, so every secret character stays covered."""
    found.sort(key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            last = out[-1]
            rule = min(last.rule, f.rule, key=lambda r: _GENERIC.get(r, 0))
            out[-1] = Finding(rule, last.start, max(last.end, f.end))
        else:
            out.append(f)
    return out


def _substitute(text: str, found: Sequence[Finding]) -> str:
    """``text`` with each finding replaced by its marker."""
    parts: list[str] = []
    pos = 0
    for f in found:
        parts.append(text[pos : f.start])
        parts.append(f"{_MARK}{f.rule}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def _safe_in_json(text: str, f: Finding) -> bool:
    """Whether replacing ``f`` in JSON text stays inside one string and keeps escapes whole."""
    span = text[f.start : f.end]
    return '"' not in span and not span.endswith("\\") and not _escaped(text, f.start)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` rejecting an object whose keys collided after redaction."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate keys after redaction")
    return out


@functools.cache
def default_redactor() -> Redactor:
    """The shared redactor: built-in rules, entropy on, no extra patterns."""
    return Redactor()
