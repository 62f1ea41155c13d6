"""Secret redaction: every event payload passes through here before its first write.

A :class:`Redactor` finds secrets (cloud and SaaS keys, private key blocks, JWTs,
passwords in URLs, ``password=...`` style assignments, ``Authorization`` headers and
high-entropy tokens) and replaces each with ``[REDACTED:<rule>]``. Where a secret
sits in a recognisable context (a key name, a URL, a header), only the value is
replaced so a reader still sees what was there.

All built-in rules live in one compiled regular expression. Every alternative of it
starts right after a *delimiter* (a character that cannot be part of a token), so the
regex engine skips runs of ordinary token characters in C and only tries the rules
at word boundaries; rule-specific checks in Python (entropy, placeholders) run on
candidates only. That keeps a typical secret-free payload at a few microseconds.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

__all__ = ["RULES", "Finding", "Redactor", "default_redactor"]


@attrs.frozen
class Finding:
    """One secret found: the rule that matched and its ``[start, end)`` offsets in the text."""

    rule: str
    start: int
    end: int


#: Every rule name a :class:`Finding` can carry, in the order the rules are tried.
RULES: tuple[str, ...] = (
    "private-key",
    "aws-access-key",
    "google-api-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "anthropic-key",
    "openai-key",
    "jwt",
    "bearer-token",
    "url-password",
    "auth-header",
    "aws-secret-key",
    "password",
    "secret",
    "high-entropy",
    "custom",
)

_MARK = "[REDACTED:"


def _ci(word: str) -> str:
    """``word`` as a case-insensitive regex built from character classes.

    Classes (``[Pp]``) rather than the ``(?i)`` flag, because the regex engine can
    only skip a failing alternative cheaply when it starts with a plain class.
    """
    out = []
    for ch in word:
        if ch.isalpha():
            out.append(f"[{ch.upper()}{ch.lower()}]")
        elif ch == "_":
            out.append("[_.-]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


# Characters of a base64 / base64url run. Anything else ends a token.
_RUN = r"A-Za-z0-9+/_\-"
# An optional, possibly backslash-escaped quote, as found around keys in code and JSON.
_Q = r"""(?:\\?["'])?"""
# A value that was already redacted is left alone, so redaction is idempotent.
_NOT_DONE = r"(?!\[REDACTED:)"

# Suffixes that make an identifier name a secret (``DB_PASSWORD``, ``clientSecret``).
# Lookbehinds must have a fixed width, hence one per spelling.
_KEY_SUFFIXES = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "secretkey",
    "secret_key",
    "privatekey",
    "private_key",
)
_KEY_LOOKBEHIND = "|".join(
    [f"(?<={_ci(s)})" for s in _KEY_SUFFIXES]
    # "pass" only as a whole word part: DB_PASS, --pass, but not bypass.
    + [f"(?<=[^A-Za-z0-9]{_ci('pass')})"]
)

# Whole-token rules: (rule, regex). Each must start with a literal or a plain class.
_TOKEN_RULES: tuple[tuple[str, str], ...] = (
    (
        "private-key",
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
        # Up to the matching END line; a block cut short (``head id_rsa``) is redacted
        # as far as its base64 body goes.
        r"(?:[\s\S]{0,65536}?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
        r"|[A-Za-z0-9+/=\s\\:,.-]*)",
    ),
    (
        "aws-access-key",
        r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}"
        r"(?![A-Za-z0-9])",
    ),
    ("google-api-key", r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    ("github-token", r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{36,}"),
    ("gitlab-token", r"gl[a-z]{2,6}-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"),
    ("stripe-key", r"[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("anthropic-key", r"sk-ant-[A-Za-z0-9]{2,12}-[A-Za-z0-9_-]{20,}"),
    ("openai-key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)

# Rules where only a value inside the match is redacted: (group name, rule, regex).
_VALUE_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "v_slackhook",
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/"
        + _NOT_DONE
        + r"(?P<v_slackhook>[A-Za-z0-9_/+-]{16,})",
    ),
    (
        "v_bearer",
        "bearer-token",
        r"[Bb]earer[ \t]+" + _NOT_DONE + r"(?P<v_bearer>[A-Za-z0-9._~+/-]{16,}=*)",
    ),
)

# An identifier followed by a URL tail, a header value or an assignment. The
# identifier is scanned once; the tails decide what it was.
_WORD = (
    r"[A-Za-z_][A-Za-z0-9_.+-]*+(?P<k_end>)"
    r"(?:"
    # scheme://user:password@host (user may be empty, as in redis://:pw@host)
    r"""://[^\s:@/"'\\]*:""" + _NOT_DONE + r"""(?P<v_url>[^\s@/"'\\]+)(?=@)"""
    r"|(?=" + _Q + r"[ \t]*[:=])(?:"
    # Authorization: Bearer <token>  (the scheme word stays visible)
    r"(?<="
    + _ci("authorization")
    + r")"
    + _Q
    + r"[ \t]*[:=][ \t]*"
    + _Q
    + r"(?:(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest|[Bb]ot|[Nn]egotiate)[ \t]+)?"
    + _NOT_DONE
    + r"""(?P<v_auth>[^\s"'\\]{4,})"""
    # password = "...", SECRET_KEY: ..., "api_key":"..."
    r"|(?:" + _KEY_LOOKBEHIND + r")" + _Q + r"[ \t]*[:=](?!=)[ \t]*(?:"
    r'\\"' + _NOT_DONE + r'(?P<v_kve>(?:[^"\\\n]|\\[^"])+)'
    r'|"' + _NOT_DONE + r'(?P<v_kvd>(?:[^"\\\n]|\\.)+)'
    r"|'" + _NOT_DONE + r"(?P<v_kvs>[^'\\\n]+)"
    r"|" + _NOT_DONE + r"""(?P<v_kvu>[^\s"'\\,;&}\])(]+)"""
    r")))"
)

# A long run mixing upper case, lower case and digits: judged in Python by entropy.
_ENTROPY = (
    rf"[{_RUN}](?=[{_RUN}]{{31}})"
    rf"(?=[{_RUN}]*?[A-Z])(?=[{_RUN}]*?[a-z])(?=[{_RUN}]*?[0-9])"
    rf"[{_RUN}]{{31,511}}+(?![{_RUN}])={{0,2}}"
)


def _build() -> tuple[re.Pattern[str], dict[int, tuple[str, bool]]]:
    """Compile the scanner; map each rule's closing group index to (rule, value-only)."""
    alternatives: list[str] = []
    ends: list[tuple[str, str, bool]] = []
    for i, (rule, rx) in enumerate(_TOKEN_RULES):
        alternatives.append(f"(?:{rx})(?P<t{i}>)")
        ends.append((f"t{i}", rule, False))
    for group, rule, rx in _VALUE_RULES:
        alternatives.append(rx)
        ends.append((group, rule, True))
    alternatives.append(_WORD)
    ends += [
        ("v_url", "url-password", True),
        ("v_auth", "auth-header", True),
        ("v_kve", "secret", True),
        ("v_kvd", "secret", True),
        ("v_kvs", "secret", True),
        ("v_kvu", "secret", True),
    ]
    alternatives.append(f"{_ENTROPY}(?P<e>)")
    ends.append(("e", "high-entropy", False))
    # The leading delimiter is what makes the search fast (see module docstring);
    # an escape letter after a backslash (JSON "\n") counts as part of it.
    source = rf"[^{_RUN}][nrtbf]?(?P<s>)(?:" + "|".join(alternatives) + ")"
    pattern = re.compile(source)
    table = {pattern.groupindex[g]: (rule, value) for g, rule, value in ends}
    return pattern, table


_SCANNER, _ENDS = _build()
_G_START = _SCANNER.groupindex["s"]
_G_KEY_END = _SCANNER.groupindex["k_end"]
_KV_GROUPS = frozenset(_SCANNER.groupindex[g] for g in ("v_kve", "v_kvd", "v_kvs", "v_kvu"))
_G_UNQUOTED = _SCANNER.groupindex["v_kvu"]
_G_ENTROPY = _SCANNER.groupindex["e"]
_G_BEARER = _SCANNER.groupindex["v_bearer"]
_G_OPENAI = _SCANNER.groupindex[f"t{[r for r, _ in _TOKEN_RULES].index('openai-key')}"]

# Tells which token rule a value (from an assignment or URL) is, to name it precisely.
_TOKEN_ONLY = re.compile(
    "|".join(f"(?P<t{i}>{rx})" for i, (_, rx) in enumerate(_TOKEN_RULES) if i > 0)
)

_PASSWORDISH = re.compile(r"(?:password|passwd|pwd|pass|passphrase)\Z", re.IGNORECASE)
_AWS_SECRET = re.compile(r"secret[_.-]?access[_.-]?key\Z", re.IGNORECASE)
_KEY_NAME = re.compile(
    r"(?:password|passwd|pwd|passphrase|(?:^|[^a-z0-9])pass|secret|token|api[_.-]?key"
    r"|access[_.-]?key|secret[_.-]?key|private[_.-]?key|authorization)\Z",
    re.IGNORECASE,
)
# Values that name a secret rather than contain one.
_PLACEHOLDER_WORDS = frozenset(
    [
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "str",
        "bytes",
        "string",
        "int",
        "bool",
        "any",
        "optional",
        "secretstr",
        "required",
        "redacted",
        "changeme",
    ]
)
# ``password=self.password``, ``token=args.api_token``: a reference to a variable.
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z", re.ASCII)
_REFERENCE_WORDS = re.compile(r"pass|pwd|secret|token|key|auth|cred|environ", re.IGNORECASE)
_WORDY = re.compile(r"[a-z]{4,}|[A-Z][a-z]{3,}")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_AUTH_SCHEME = re.compile(r"(?:Bearer|Basic|Token|Digest|Bot|Negotiate)[ \t]+", re.IGNORECASE)


def _is_placeholder(value: str) -> bool:
    """Whether an assigned value is a stand-in (``${X}``, ``<token>``, ``None``, ``****``)."""
    if value[0] in "$%{<[(*" or value.lower() in _PLACEHOLDER_WORDS:
        return True
    return not value.strip("*xX•.#-_ ")


def _looks_random(run: str) -> bool:
    """Whether a long mixed-case run reads as a random token rather than words or a path.

    Shannon entropy alone cannot tell ``src/main/java/com/Example/Foo2Bar`` from a key,
    so the share of characters sitting in word-like stretches (``java``, ``Example``)
    decides, with an entropy floor against repetitive strings.
    """
    run = run.rstrip("=")
    n = len(run)
    if _HEX.match(run):
        return False
    if sum(map(len, _WORDY.findall(run))) >= 0.45 * n:
        return False
    entropy = -sum(c / n * math.log2(c / n) for c in map(run.count, set(run)))
    return entropy >= 3.9


def _refine(value: str, rule: str) -> str:
    """The precise token rule ``value`` matches in full, else ``rule``."""
    m = _TOKEN_ONLY.fullmatch(value)
    if m is not None and m.lastgroup is not None:
        return _TOKEN_RULES[int(m.lastgroup[1:])][0]
    return rule


def _key_rule(key: str) -> str:
    """The rule for a value assigned to ``key`` (already known to be secret-like)."""
    if _AWS_SECRET.search(key):
        return "aws-secret-key"
    if _PASSWORDISH.search(key):
        return "password"
    return "secret"


class Redactor:
    """Finds and replaces secrets in text, JSON text and JSON-like values.

    ``extra_patterns`` are user regexes (from the ``redact.extra_patterns`` setting);
    each of their matches is redacted as rule ``custom``. ``entropy=False`` turns the
    high-entropy rule off, keeping only rules with a recognisable shape or context.
    """

    def __init__(self, extra_patterns: Sequence[str] = (), *, entropy: bool = True) -> None:
        self._extra = tuple(re.compile(p) for p in extra_patterns)
        self._entropy = entropy

    def findings(self, text: str) -> list[Finding]:
        """Every secret in ``text``, sorted by position and never overlapping."""
        # A newline in front gives a secret at the very start its delimiter.
        return self._findings("\n" + text, 1)

    def redact(self, text: str) -> str:
        """``text`` with each secret replaced by ``[REDACTED:<rule>]``."""
        found = self._findings("\n" + text, 1)
        return _substitute(text, found) if found else text

    def redact_json(self, text: str) -> str:
        """Canonical JSON ``text`` with every secret inside its strings redacted.

        Returns ``text`` itself (the same object) when nothing matches. Otherwise
        substitutes on the text directly and falls back to decode, :meth:`redact_value`,
        encode when a match crossed a string boundary or an escape.
        """
        # JSON text never starts inside a string, so no delimiter needs adding.
        found = self._findings(text, 0)
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
        """A copy of a JSON-like ``value`` with every string redacted, dict keys included.

        A string stored under a secret-looking key (``"password": "hunter2"``) is
        redacted whole, as it would be in text. Keys that become equal after redaction
        get a ``#2``, ``#3`` suffix so no entry is lost.
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

    def _redact_keyed(self, key: str, value: str) -> str:
        """Redact ``value`` knowing it was stored under ``key``."""
        redacted = self.redact(value)
        if not _KEY_NAME.search(key) or key.upper() in ("PWD", "OLDPWD"):
            return redacted
        if redacted.startswith(_MARK) and redacted.endswith("]") and "]" not in redacted[:-1]:
            return redacted
        if key.lower().endswith("authorization"):
            scheme = _AUTH_SCHEME.match(value)
            head = scheme.group() if scheme else ""
            rest = value[len(head) :]
            if not rest or _is_placeholder(rest):
                return redacted
            return f"{head}{_MARK}{_refine(rest, 'auth-header')}]"
        if _is_placeholder(value):
            return redacted
        return f"{_MARK}{_refine(value, _key_rule(key))}]"

    def _findings(self, text: str, shift: int) -> list[Finding]:
        """Findings in ``text``, offsets moved back by ``shift`` (a prepended delimiter)."""
        found = list(self._builtin(text, shift))
        if self._extra:
            for rx in self._extra:
                for m in rx.finditer(text, shift):
                    if m.end() > m.start():
                        found.append(Finding("custom", m.start() - shift, m.end() - shift))
            found = _merge(found)
        return found

    def _builtin(self, text: str, shift: int) -> Iterator[Finding]:
        """The built-in rules' findings, in order."""
        search = _SCANNER.search
        pos = 0
        while True:
            m = search(text, pos)
            if m is None:
                return
            idx = m.lastindex
            assert idx is not None
            rule, value_only = _ENDS[idx]
            if value_only:
                start, end = m.span(idx)
            else:
                start, end = m.start(_G_START), m.end()
            checked = self._check(m, idx, rule, text[start:end])
            if checked is None:
                # Rejected: the next delimiter may still start a secret.
                pos = m.start() + 1
                continue
            yield Finding(checked, start - shift, end - shift)
            pos = end

    def _check(self, m: re.Match[str], idx: int, rule: str, value: str) -> str | None:
        """The rule name for a candidate, or None when it is not a secret after all."""
        if idx == _G_ENTROPY:
            return rule if self._entropy and _looks_random(value) else None
        if idx in _KV_GROUPS:
            key = m.string[m.start(_G_START) : m.start(_G_KEY_END)]
            if key.upper() in ("PWD", "OLDPWD") or _is_placeholder(value):
                return None
            if idx == _G_UNQUOTED and _REFERENCE.match(value):
                follows = m.string[m.end() : m.end() + 1]
                if follows in ("(", "[") or _REFERENCE_WORDS.search(value):
                    return None
            return _refine(value, _key_rule(key))
        if rule in ("url-password", "auth-header"):
            return None if _is_placeholder(value) else _refine(value, rule)
        if idx == _G_BEARER:
            return rule if any(c.isdigit() for c in value) else None
        if idx == _G_OPENAI:
            body = value[3:]
            ok = any(c.isdigit() for c in body) and any(c.isupper() for c in body)
            return rule if ok else None
        return rule


def _merge(found: list[Finding]) -> list[Finding]:
    """Sort findings and join overlapping ones, so every secret byte stays covered."""
    found.sort(key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            last = out[-1]
            if f.end > last.end:
                out[-1] = Finding(last.rule, last.start, f.end)
            continue
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
    """Whether replacing ``f`` inside JSON text keeps it inside one string, escapes intact."""
    span = text[f.start : f.end]
    if '"' in span or span.endswith("\\"):
        return False
    # An odd run of backslashes before the span means it starts inside an escape.
    i = f.start
    while i > 0 and text[i - 1] == "\\":
        i -= 1
    return (f.start - i) % 2 == 0


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that rejects objects whose keys collided after redaction."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate keys")
    return out


@functools.cache
def default_redactor() -> Redactor:
    """The shared redactor with the built-in rules and no extra patterns."""
    return Redactor()
