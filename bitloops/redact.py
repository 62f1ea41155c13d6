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
* Lower-case hex tokens (``dop_v1_...``, ``dapi...``, ``sk-or-v1-...``) have no capital:
  a second ``bytes.translate`` marks hex digits, ``bytes.find`` looks for 32 in a row,
  and only a run with a known prefix character before it is tried against the token
  rules. A text that holds a ``\\u`` escape is also judged with its JSON escapes decoded
  (two levels deep), offsets mapped back.
* Assignments (``password=...``), ``Authorization`` headers and cue phrases ("the
  password is ...", ``mysql -p...``, ``&sig=...``) are found in the lower-cased text,
  each keyword by a regex that starts with that keyword, run only when the keyword
  occurs at all (behind a memchr for a rare character where there is one).
"""

from __future__ import annotations

import bisect
import math

from bitloops import _jsonc, _rx

# Agent hooks redact every payload in a new process: attrs, typing, collections and even
# re would cost them more than the redaction itself, so none is imported at run time
# (patterns come compiled from bitloops._rx).
TYPE_CHECKING = False

if TYPE_CHECKING:
    import re
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
    # The same class typing.NamedTuple would build, without importing typing (collections
    # is loaded anyway: apsw imports it).
    from collections import namedtuple

    Finding = namedtuple("Finding", ("rule", "start", "end"))
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
    "age-secret-key",
    "alibaba-key",
    "artifactory-key",
    "atlassian-token",
    "azure-client-secret",
    "azure-sas",
    "databricks-token",
    "digitalocean-token",
    "discord-token",
    "doppler-token",
    "dynatrace-token",
    "flyio-token",
    "google-oauth-secret",
    "grafana-token",
    "groq-key",
    "heroku-key",
    "huggingface-token",
    "linear-key",
    "mailgun-key",
    "newrelic-key",
    "notion-token",
    "npm-token",
    "openrouter-key",
    "perplexity-key",
    "planetscale-token",
    "postman-key",
    "pulumi-token",
    "pypi-token",
    "replicate-token",
    "rubygems-token",
    "sendgrid-key",
    "sendinblue-key",
    "sentry-dsn",
    "sentry-token",
    "shippo-token",
    "shopify-token",
    "square-token",
    "telegram-bot-token",
    "twilio-key",
    "vault-token",
    "xai-key",
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
            rx = self._rx = _rx.compile(*self._args)
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
    ("openrouter-key", r"sk-or-v1-[0-9a-f]{64}"),
    # OpenAI keys are random base62; demanding a digit and a capital keeps kebab-case
    # names such as "sk-learn-pipeline-defaults" out.
    (
        "openai-key",
        r"sk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Z])"
        r"[A-Za-z0-9_-]{20,}",
    ),
    ("age-secret-key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("alibaba-key", r"LTAI[A-Za-z0-9]{20}(?![A-Za-z0-9])"),
    ("artifactory-key", r"AKCp[A-Za-z0-9]{69}"),
    ("atlassian-token", r"ATATT3[A-Za-z0-9_=-]{100,}"),
    ("databricks-token", r"dapi[0-9a-f]{32}(?:-[0-9])?(?![A-Za-z0-9])"),
    ("digitalocean-token", r"do[opr]_v1_[0-9a-f]{64}"),
    # The first part is the bot's id in base64, which starts with M, N or O.
    *(
        ("discord-token", rf"{c}[A-Za-z0-9_-]{{23,27}}\.[A-Za-z0-9_-]{{6}}\.[A-Za-z0-9_-]{{27,40}}")
        for c in "MNO"
    ),
    ("doppler-token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"),
    ("dynatrace-token", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    ("flyio-token", r"fo1_[A-Za-z0-9_-]{43}"),
    ("flyio-token", r"fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3}"),
    ("google-oauth-secret", r"GOCSPX-[A-Za-z0-9_-]{28}"),
    ("grafana-token", r"glc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("grafana-token", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("grafana-token", r"eyJrIjoi[A-Za-z0-9]{70,}={0,2}"),
    ("groq-key", r"gsk_[A-Za-z0-9]{52}"),
    ("heroku-key", r"HRKU-AA[A-Za-z0-9_-]{58}"),
    ("huggingface-token", r"hf_[A-Za-z]{34}(?![A-Za-z0-9])"),
    ("huggingface-token", r"api_org_[A-Za-z]{34}(?![A-Za-z0-9])"),
    ("linear-key", r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    ("mailgun-key", r"key-(?=[a-z]*[0-9])[a-z0-9]{32}(?![A-Za-z0-9])"),
    ("newrelic-key", r"NR(?:AK|AA|II|JS)-[A-Z0-9]{27}(?![A-Za-z0-9])"),
    ("notion-token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    ("npm-token", r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    ("perplexity-key", r"pplx-[A-Za-z0-9]{48}"),
    ("planetscale-token", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64}"),
    ("postman-key", r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    ("pulumi-token", r"pul-[0-9a-f]{40}"),
    ("pypi-token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("replicate-token", r"r8_[A-Za-z0-9]{37}"),
    ("rubygems-token", r"rubygems_[0-9a-f]{48}"),
    ("sendgrid-key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    ("sendinblue-key", r"xkeysib-[0-9a-f]{64}-[A-Za-z0-9]{16}"),
    ("sentry-token", r"sntryu_[0-9a-f]{64}"),
    ("sentry-token", r"sntrys_eyJ[A-Za-z0-9+/_=]{40,}"),
    ("shippo-token", r"shippo_(?:live|test)_[0-9a-fA-F]{40}"),
    ("shopify-token", r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}"),
    ("square-token", r"EAAA[A-Za-z0-9_-]{60}"),
    ("square-token", r"sq0(?:atp-[A-Za-z0-9_-]{22}|csp-[A-Za-z0-9_-]{43})"),
    # The secret half of a bot token, after "<bot id>:".
    ("telegram-bot-token", r"A[A-Za-z0-9_-]{34}(?![A-Za-z0-9_-])(?<=[0-9]:.{35})"),
    ("twilio-key", r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
    ("vault-token", r"hv[sb]\.[A-Za-z0-9_-]{90,}"),
    ("xai-key", r"xai-[A-Za-z0-9]{80}"),
)


def _token_pattern() -> str:
    """One regex for all token rules, its alternatives grouped by their first character.

    Grouped, the engine tries at each position only the rules that start with the
    character there, instead of every rule in turn. Each alternative ends with an empty
    group named after its index, so ``lastindex`` names the rule without a group at the
    alternative's start (which would cost speed).
    """
    groups: dict[str, list[str]] = {}
    for i, (_, rx) in enumerate(_TOKEN_RULES):
        groups.setdefault(rx[0], []).append(f"{rx[1:]}(?P<t{i}>)")
    return "|".join(f"{first}(?:{'|'.join(alts)})" for first, alts in groups.items())


_TOKENS: re.Pattern[str] = _lazy("_TOKENS", _token_pattern())


_NAMES: dict[int, str] = {}


def _token_names() -> dict[int, str]:
    """The token rule named by each ``lastindex`` of :data:`_TOKENS`."""
    if not _NAMES:
        index = _TOKENS.groupindex
        names = {index[f"t{i}"]: rule for i, (rule, _) in enumerate(_TOKEN_RULES)}
        _NAMES.update(names)  # whole, in one call: another thread never sees it half-built
    return _NAMES


# Lower-case hex digits -> "h", backslash and "u" kept (they end no run: the runs found
# stay as they were), everything else -> space: 32 "h" in a row is a hex run.
_HEX_SHAPE = bytes(
    ord("h") if chr(i) in "0123456789abcdef" else i if chr(i) in "\\u" else ord(" ")
    for i in range(256)
)
_HEX_NEEDLE = b"h" * 32
_HEX_RUN: re.Pattern[str] = _lazy("_HEX_RUN", r"[0-9a-f]{32,}")
_RUN_SET = frozenset(_RUN_CHARS)
_RUN_AT: re.Pattern[str] = _lazy("_RUN_AT", r"[A-Za-z0-9+/_=-]*")


def _hex_runs(hexes: bytes) -> Iterator[tuple[int, int]]:
    """The ``[start, end)`` of each run of 32+ hex digits, from :data:`_HEX_SHAPE` bytes."""
    i = hexes.find(_HEX_NEEDLE)
    while i >= 0:
        stop = hexes.find(b" ", i)
        if stop < 0:
            yield i, len(hexes)
            return
        yield i, stop
        i = hexes.find(_HEX_NEEDLE, stop)


def _run_start(text: str, i: int) -> int:
    """Where the run of run characters holding ``text[i]`` starts (at most 100 back)."""
    limit = max(0, i - 100)
    while i > limit and text[i - 1] in _RUN_SET:
        i -= 1
    return i


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened over neighbouring runs joined to it by "." or "~"."""
    lo = start
    for _ in range(6):
        if lo < 2 or text[lo - 1] not in ".~" or text[lo - 2] not in _RUN_SET:
            break
        lo = _run_start(text, lo - 1)
    hi = end
    for _ in range(6):
        if hi + 1 >= len(text) or text[hi] not in ".~" or text[hi + 1] not in _RUN_SET:
            break
        m = _RUN_AT.match(text, hi + 1)
        hi = hi + 1 if m is None else m.end()
    return lo, hi


# Long base64 that is no secret, known by what precedes it: npm/SRI integrity hashes
# (sha512-...), go.sum hashes (h1:...), data: URIs (images, source maps), SSH public keys.
_BENIGN_BEFORE: re.Pattern[str] = _lazy(
    "_BENIGN_BEFORE",
    r"(?:\bh1:|base64,|\b(?:ssh|ecdsa-sha2|sk-ssh|sk-ecdsa-sha2)-[a-z0-9@.-]+ )\Z",
)
_BENIGN_PREFIXES: tuple[str, ...] = (
    "sha1-",
    "sha256-",
    "sha384-",
    "sha512-",
    "AAAAB3NzaC1",
    "AAAAC3NzaC1",
    "AAAAE2VjZHNh",
)
_UUID: re.Pattern[str] = _lazy(
    "_UUID", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _benign_context(text: str, start: int, run: str) -> bool:
    """Whether the run starting at ``start`` is known data rather than a secret."""
    if run.startswith(_BENIGN_PREFIXES):
        return True
    return _BENIGN_BEFORE.search(text, max(0, start - 40), start) is not None


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
    r"""|[^\s:@/"'\\\[]*:""" + _NOT_DONE + r"""(?P<pw>[^\s@/"'\\]+)(?=@)"""
    # A Sentry DSN's key sits where the user would: https://<32 hex>@o1.ingest.sentry.io/2
    r"|(?P<dsn>[0-9a-f]{32})(?=@))",
)

# --- Keyword rules, matched in the lower-cased text ----------------------------------

_ND = r"(?!\[redacted:)"
# The key ends here: ``password=`` yes, ``password_hash=`` or ``passwords:`` no.
_KEY_END = r"(?![a-z0-9_.-])"
# ``=`` or ``:``, after an optional closing quote of the key (also ``\"`` inside JSON,
# ``\\\"`` inside JSON inside JSON).
_OP = r"""(?:\\*["']\]?)?[ \t]*+[:=](?!=)[ \t]*+(?:\((?=\\*["'])[ \t]*)?"""
_VALUE = (
    r"(?:"
    # \"value\" inside a JSON string, \\\"value\\\" one level deeper
    r'\\+"' + _ND + r'(?P<ve>(?:[^"\\\n]|\\++(?!"))+)'
    # "value"; in JSON text a quote followed by , : } ] closes a string instead
    r'|"(?![,:}\]])' + _ND + r'(?P<vd>(?:[^"\\\n]|\\.)+)'
    r"|'" + _ND + r"(?P<vs>[^'\\\n]+)"  # 'value'
    r"|" + _ND + r"""(?P<vu>[^\s"'\\,;&})\]]+)"""  # value, up to a separator
    r")"
)
_KV_TAIL = _KEY_END + _OP + _VALUE
# A password in a sentence: "the password is X", "password for the db: X", "use
# password `X`". Unquoted, the value needs a digit or a symbol, so prose such as
# "the password is wrong" is left alone.
_PROSE_TAIL = (
    r"(?:[ \t]+(?:for|of)[ \t]+[^\s:=]+(?:[ \t]+[^\s:=]+){0,3}?)??"
    r"(?:[ \t]*:[ \t]*|[ \t]+(?:(?:is|was|will[ \t]+be|should[ \t]+be)(?:[ \t]*:)?[ \t]+"
    r"|(?:(?:is|was|has[ \t]+been)[ \t]+)?(?:changed|set|reset|updated)[ \t]+to[ \t]+)?)"
    + _ND
    + r"""(?:`(?P<pb>[^`\s]{4,})`|"(?P<pd>[^"\s]{4,})"|'(?P<ps>[^'\s]{4,})'"""
    r"""|(?P<pu>(?=[^\s"'`]*[0-9!#$%^&*@~+=?_-])[^\s"'`]{4,}))"""
)
_AUTH_SCHEMES = r"(?:bearer|basic|token|digest|bot|negotiate|ssws|apikey)"

# (gate substring, regex, rule); the regex starts with the gate so it is found quickly.
# A new gate goes in _gates too (tests/test_redact.py checks they agree).
# The value group that matched tells how to judge it (see _keyword_rule).
_KEYWORD_RULES: tuple[tuple[str, _Lazy, str], ...] = (
    (
        "pass",
        _lazy(None, r"pass(?:w(?:or)?d|phrase)(?:" + _KV_TAIL + "|" + _PROSE_TAIL + ")"),
        "password",
    ),
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
            r"|(?<=private[_.-]key)|(?<=privatekey)|(?<=app[_.-]key)|(?<=appkey)"
            r"|(?<=application[_.-]key)|(?<=applicationkey))" + _KV_TAIL,
        ),
        "secret",
    ),
    # Mailgun keys are lower-case, so no capital triggers a run for them.
    ("key", _lazy(None, r"(?P<vt>key-[a-z0-9]{32})"), "mailgun-key"),
    (
        "authorization",
        _lazy(
            None,
            r"authorization" + _KEY_END + _OP + r"""(?:\\*["'])?"""
            # Possessive, so "Bearer [REDACTED:...]" is not re-read as the value "Bearer".
            rf"(?:{_AUTH_SCHEMES}[ \t]+)?+" + _ND + r"""(?P<va>[^\s"'\\]{4,})""",
        ),
        "auth-header",
    ),
    # mysql -pSECRET (matched in the original text: -P is the port).
    (
        "mysql",
        _lazy(
            None,
            r"""mysql(?:dump|admin|import|slap|sh)?[ \t][^\n|;&"\\]*?(?<=[ \t])-p"""
            + _ND
            + r"""(?:\\?"(?![,:}\]])(?P<md>[^"\\\n]+)\\?"|'(?P<ms>[^'\n]+)'"""
            + r"""|(?P<mu>[^\s"'`;|&\\]+))""",
        ),
        "password",
    ),
    # Entra ID (Azure AD) client secrets: three characters, a digit, "Q~", 31-34 more,
    # "~" and "." among them (so no run need be long enough to trigger). Matched in the
    # original text from the "Q"; the four characters before it are added back.
    (
        "q~",
        _lazy(
            None,
            r"Q(?<=[A-Za-z0-9_.]{3}[0-9]Q)~(?P<vz>[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])",
        ),
        "azure-client-secret",
    ),
    # The signature of an Azure shared access signature (?sv=...&sig=...).
    ("sig=", _lazy(None, r"sig=" + _ND + r"(?P<sg>[a-z0-9%+/=_-]{16,})"), "azure-sas"),
)
_CASED_GATES = frozenset({"mysql", "q~"})


def _gates(low: str) -> list[str]:
    """The gates of :data:`_KEYWORD_RULES` that lower-cased text holds, in their order.

    Spelled out, one ``in`` each, rather than a test per gate: this runs for every
    recorded payload, most of which hold none. (``tests/test_redact.py`` checks the list
    is the rules' gates.)
    """
    found = []
    # The password rule needs "passw" or "passphrase": tool output is full of "passed"
    # and "passing", and its regex would run over every test log.
    if "passw" in low or "passphrase" in low:
        found.append("pass")
    if "pwd" in low:
        found.append("pwd")
    if "secret" in low:
        found.append("secret")
    if "token" in low:
        found.append("token")
    if "key" in low:
        found.append("key")
    # A rare character first ("z", the "~" of "q~", the "&" of a query): memchr is
    # cheaper than a substring search.
    if "z" in low and "authorization" in low:
        found.append("authorization")
    if "mysql" in low:
        found.append("mysql")
    if "~" in low and "q~" in low:
        found.append("q~")
    if "&" in low and "sig=" in low:
        found.append("sig=")
    return found


_LABEL: re.Pattern[str] = _lazy("_LABEL", r"(?P<ident>[A-Za-z_][A-Za-z0-9_.-]*)[=:]")

# Values that name a secret rather than contain one.
_PLACEHOLDER_WORDS = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "required", "changeme", "redacted"}
    # type annotations: ``def login(password: str)``
    | {"str", "bytes", "string", "int", "bool", "any", "optional", "secretstr"}
)
# Unquoted values that are code, not secrets: ``password=getpass.getpass()``,
# ``token=os.environ["TOKEN"]``, ``api_key=settings.API_KEY``, ``password=db_password``.
_CODE: re.Pattern[str] = _lazy(
    "_CODE", r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?P<call>[(\[])?", _rx.ASCII
)
_VARIABLE: re.Pattern[str] = _lazy("_VARIABLE", r"[a-z_][a-z0-9_]*|[A-Z_][A-Z0-9_]*")
_VARIABLE_WORDS: re.Pattern[str] = _lazy(
    "_VARIABLE_WORDS", r"pass|pwd|secret|token|key|auth|cred", _rx.IGNORECASE
)

# For dict entries in redact_value: keys whose string value is a secret as a whole.
_SECRET_KEY: re.Pattern[str] = _lazy(
    "_SECRET_KEY",
    r"(?:pass(?:w(?:or)?d|phrase)|pwd|secret(?:[_.-]?(?:access[_.-]?)?key)?|token"
    r"|api[_.-]?key|access[_.-]?key|private[_.-]?key|app(?:lication)?[_.-]?key"
    r"|authorization)\Z",
    _rx.IGNORECASE,
)
_AUTH_SCHEME: re.Pattern[str] = _lazy("_AUTH_SCHEME", _AUTH_SCHEMES + r"[ \t]+", _rx.IGNORECASE)


_PERCENT: re.Pattern[str] = _lazy("_PERCENT", r"%(?:\w+%|\(\w+\)[sdr]|[sdr])")


def _is_placeholder(value: str) -> bool:
    """Whether an assigned value is a stand-in (``${X}``, ``<token>``, ``None``, ``****``)."""
    if value[0] in "${<[(" or value.lower() in _PLACEHOLDER_WORDS:
        return True
    if value[0] == "%" and _PERCENT.fullmatch(value):
        return True  # %DB_PASSWORD%, %s, %(password)s
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
    if "-" in run and _UUID.search(run):
        # A name built around a UUID (rollout-2025-01-01T10-00-00-<uuid>.jsonl).
        run = _UUID.sub("", run)
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
    """The rule name for a value found after a keyword, or None when it is no secret."""
    if group == "vt":  # a token found by its prefix: it must start a word
        if m.start() and text[m.start() - 1].isalnum():
            return None
        return _token_rule(value, "") or None
    if group == "vz":
        return rule
    if group == "sg":  # a signature in a query string
        return rule if not m.start() or not text[m.start() - 1].isalnum() else None
    if _is_placeholder(value):
        return None
    if gate == "pwd" and value[0] in "/~":
        return None  # PWD=/home/alice is the working directory
    if m.start() and text[m.start() - 1] == "/":
        return None  # "/etc/passwd: ..." names a file
    if group == "vu":
        if _is_code(value):
            return None
        label = _LABEL.match(value)
        if label is not None and _VARIABLE_WORDS.search(label.group("ident")):
            # "the password: DB_PASSWORD=..." labels an assignment, found on its own.
            return None
    if gate == "secret" and m.group("aws"):
        rule = "aws-secret-key"
    return _token_rule(value, rule)


def _case_free(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` (written for lower-case text) made case-insensitive."""
    return _rx.compile(pattern.pattern, _rx.IGNORECASE)


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
        # Not kept in the regex cache: a user's patterns may spell out what they hide.
        self._extra = tuple(_rx.compile(p, keep=False) for p in extra_patterns)
        self._entropy = entropy

    def findings(self, text: str) -> list[Finding]:
        """Every secret in ``text``, sorted by position; overlapping matches are joined."""
        return self._findings(text, 0)

    def _findings(self, text: str, depth: int) -> list[Finding]:
        """:meth:`findings`, ``depth`` levels of escapes deep."""
        # Each rule family's trigger is tested here and its method called only when it
        # fires: most payloads fire none, and are judged in this one frame.
        found: list[Finding] = []
        if "-----BEGIN" in text:
            found += (Finding("private-key", *m.span()) for m in _PEM.finditer(text))
        ascii_text = text.isascii()
        raw = text.encode("ascii") if ascii_text else text.encode("utf-8", "surrogatepass")
        shape = raw.translate(_SHAPE)
        if _SHAPE_RUN.search(shape) is not None:
            self._run_findings(text, ascii_text, shape, found)
        # Lower-case hex tokens (dop_v1_..., dapi...) have no capital to trigger a run:
        # 32+ hex characters, found at memory speed, do.
        hexes = raw.translate(_HEX_SHAPE)
        if _HEX_NEEDLE in hexes:
            self._hex_findings(text, ascii_text, hexes, found)
        if "://" in text:
            self._url_findings(text, found)
        low = text.lower()
        present = _gates(low)  # one look for each keyword, none of the rules' work if absent
        if present:
            self._keyword_findings(text, low, present, found)
        if depth < 2 and "\\u" in text:
            # "password\u003d\u0022...": judge the text with its escapes decoded too.
            self._unescaped_findings(text, depth, found)
        if self._extra:
            self._extra_findings(text, found)
        if found:
            # A value cut over lines ("...\\\n", '"..."\n "..."') goes on there.
            found = [_continued(text, f) for f in found]
        if len(found) > 1:
            found = _merge(found)
        return found

    def _unescaped_findings(self, text: str, depth: int, found: list[Finding]) -> None:
        """Findings in ``text`` read with its JSON escapes decoded, mapped back to it."""
        view = _Unescaped(text)
        if view.text != text:
            for f in self._findings(view.text, depth + 1):
                found.append(Finding(f.rule, view.start(f.start), view.end(f.end)))

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
        found = self._findings(text, 0)
        if not found:
            return text
        if all(_safe_in_json(text, f) for f in found):
            result = _substitute(text, found)
            try:
                _jsonc.loads(result, object_pairs_hook=_no_duplicate_keys)
            except ValueError:
                pass
            else:
                return result
        value = self.redact_value(_jsonc.loads(text))
        return _jsonc.dumps(
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

    def _run_findings(
        self, text: str, ascii_text: bool, shape: bytes, found: list[Finding]
    ) -> None:
        """Token and high-entropy findings, from runs of 16+ run characters with a capital
        (``shape``: the text's bytes translated by :data:`_SHAPE`, which hold one)."""
        covered = 0
        spans: Iterator[tuple[int, int]]
        if ascii_text:
            spans = (
                (shape.rfind(b" ", 0, m.start()) + 1, m.end()) for m in _SHAPE_RUN.finditer(shape)
            )
        else:  # shape offsets are bytes: find the runs in the text itself
            spans = (m.span() for m in _TEXT_RUN.finditer(text) if _HAS_UPPER.search(m.group()))
        for start, end in spans:
            if start < covered:
                continue
            if text[start] in "nrtbfu" and start and text[start - 1] == "\\":
                # "\nAKIA..." in JSON (or "\\nAKIA..." in JSON inside JSON): the
                # escape letter is not part of the token.
                start += 5 if text[start] == "u" else 1
            covered = self._classify_run(text, start, end, found)

    def _hex_findings(
        self, text: str, ascii_text: bool, hexes: bytes, found: list[Finding]
    ) -> None:
        """Lower-case hex tokens with a known prefix (``hexes``: the text's bytes
        translated by :data:`_HEX_SHAPE`, which hold 32 hex digits in a row)."""
        hex_covered = 0
        hex_spans = _hex_runs(hexes) if ascii_text else (m.span() for m in _HEX_RUN.finditer(text))
        for i, stop in hex_spans:
            if i < hex_covered or not i or text[i - 1] not in "_-iK":
                continue  # a bare hash, not a prefixed token
            # The token starts where its run does ("xoxp-1-2-3-<hex>", "dapi<hex>").
            lo, hi = _run_start(text, i), min(len(text), stop + 24)
            m = _TOKENS.search(text, lo, hi)
            while m is not None and m.start() <= i:
                s = m.start()
                if m.end() > i and (s == lo or not text[s - 1].isalnum()):
                    assert m.lastindex is not None
                    found.append(Finding(_token_names()[m.lastindex], s, m.end()))
                    hex_covered = m.end()
                m = _TOKENS.search(text, m.end(), hi)

    def _classify_run(self, text: str, start: int, end: int, found: list[Finding]) -> int:
        """Add the findings in one run; return where the last one ends (at least ``end``)."""
        if text.startswith("eyJ", start):
            m = _JWT.match(text, start)
            if m is not None:
                found.append(Finding("jwt", start, m.end()))
                return m.end()
        # Some tokens span several runs joined by "." or "~" (SG.x.y, dp.pt.x, a.b.c):
        # search a window widened over such joins.
        lo, hi = _widen(text, start, end)
        hit = False
        m = _TOKENS.search(text, lo, hi)
        while m is not None:
            s = m.start()
            # Inside a run a token must start a word: "AKIA..." yes, "xAKIA..." no.
            if (s == lo or not text[s - 1].isalnum()) and m.end() > start:
                assert m.lastindex is not None
                found.append(Finding(_token_names()[m.lastindex], s, m.end()))
                hit = True
                end = max(end, m.end())
            m = _TOKENS.search(text, m.end(), hi)
        if hit or not self._entropy or end - start < 32:
            return end
        while end < len(text) and text[end] == "=":
            end += 1
        run = text[start:end]
        if _benign_context(text, start, run):
            return end
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
            elif m.group("dsn") is not None:
                found.append(Finding("sentry-dsn", *m.span("dsn")))
            elif not _is_placeholder(pw := m.group("pw")):
                found.append(Finding(_token_rule(pw, "url-password"), *m.span("pw")))

    def _keyword_findings(
        self, text: str, low: str, present: list[str], found: list[Finding]
    ) -> None:
        """Values after keywords: assignments, ``Authorization`` headers, cue phrases
        (``low``: the text lower-cased; ``present``: the gates it holds, see :func:`_gates`)."""
        flags = 0
        if len(low) != len(text):
            # Lower-casing changed the length (rare non-ASCII letters): offsets would
            # drift, so match the original text case-insensitively instead.
            low, flags = text, _rx.IGNORECASE
        for gate, lazy, rule in _KEYWORD_RULES:
            if gate not in present:
                continue
            subject = low
            if gate in _CASED_GATES:
                pattern, subject = lazy.compiled(), text
            elif flags:
                pattern = _case_free(lazy.compiled())
            else:
                pattern = lazy.compiled()
            pos = 0
            while (m := pattern.search(subject, pos)) is not None:
                group = m.lastgroup
                assert group is not None
                start, end = m.span(group)
                if group == "pu":
                    end = start + len(text[start:end].rstrip(".,;:)"))
                elif group == "vz":
                    start = m.start() - 4
                name = _keyword_rule(text, m, gate, rule, group, text[start:end])
                if name is not None:
                    found.append(Finding(name, start, end))
                    pos = end
                else:
                    # Rejected values may hold the real assignment: "token: GITLAB_TOKEN=x".
                    pos = max(start, m.start() + 1)

    def _extra_findings(self, text: str, found: list[Finding]) -> None:
        """Matches of the user's extra patterns, except inside an earlier marker."""
        markers = [(m.start(), m.end()) for m in _MARKER.finditer(text)] if _MARK in text else []
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
        if _AWS_KEY_END.search(low):
            rule = "aws-secret-key"
        elif _PASSWORD_END.search(low):
            rule = "password"
        else:
            rule = "secret"
        return f"{_MARK}{_token_rule(value, rule)}]"


_MARKER: re.Pattern[str] = _lazy("_MARKER", r"\[REDACTED:[a-z-]+\]")
_AWS_KEY_END: re.Pattern[str] = _lazy("_AWS_KEY_END", r"secret[_.-]?access[_.-]?key\Z")
_PASSWORD_END: re.Pattern[str] = _lazy("_PASSWORD_END", r"pass(?:w(?:or)?d|phrase)\Z|pwd\Z")

_ESCAPE: re.Pattern[str] = _lazy("_ESCAPE", r"""\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))""")
_ESCAPED_CHARS = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
_ESCAPED_CHARS |= {"r": "\r", "t": "\t"}


class _Unescaped:
    """A text with its JSON escapes decoded, and the way back to offsets in the original."""

    __slots__ = ("_lens", "_orig", "_view", "text")

    def __init__(self, text: str) -> None:
        parts: list[str] = []
        # For each escape: its offset in the decoded text, in the original, its length.
        self._view: list[int] = []
        self._orig: list[int] = []
        self._lens: list[int] = []
        pos = shift = 0
        for m in _ESCAPE.finditer(text):
            s = m.start()
            parts.append(text[pos:s])
            hexa = m.group(1)
            parts.append(chr(int(hexa, 16)) if hexa else _ESCAPED_CHARS[m.group(2)])
            self._view.append(s - shift)
            self._orig.append(s)
            self._lens.append(m.end() - s)
            shift += m.end() - s - 1
            pos = m.end()
        parts.append(text[pos:])
        self.text = "".join(parts)

    def start(self, i: int) -> int:
        """The original offset of decoded character ``i``."""
        k = bisect.bisect_right(self._view, i) - 1
        if k < 0:
            return i
        if self._view[k] == i:
            return self._orig[k]
        return self._orig[k] + self._lens[k] + (i - self._view[k] - 1)

    def end(self, i: int) -> int:
        """The original offset just after decoded character ``i - 1``."""
        if i == 0:
            return 0
        k = bisect.bisect_right(self._view, i - 1) - 1
        if k >= 0 and self._view[k] == i - 1:
            return self._orig[k] + self._lens[k]
        return self.start(i - 1) + 1


# What may follow a value cut over two lines: a closing quote, a "+" or a backslash, the
# line break (raw or escaped), indentation and an opening quote, then the rest, which
# must end a word and hold a capital or a digit.
_CONTINUATION: re.Pattern[str] = _lazy(
    "_CONTINUATION",
    r"""(?:\\*["'])?[ \t]*(?:\+[ \t]*)?\\{0,3}(?:\r?\n|\\r\\n|\\n)[ \t]*(?:\+[ \t]*)?"""
    r"""(?:\\*["'])?(?=[a-z_+/=-]*[A-Z0-9])([A-Za-z0-9+/_=-]{6,})"""
    r"""(?=(?:\\*["'])?(?:[ \t),;\\"']|\r?\n|\Z))""",
)
_NOT_CONTINUED = frozenset({"private-key", "slack-webhook", "sentry-dsn", "url-password"})


def _continued(text: str, f: Finding) -> Finding:
    """``f`` extended over the rest of its value on the next line, if it goes on there."""
    if f.end >= len(text) or text[f.end] not in "\"' \t+\\\r\n" or f.rule in _NOT_CONTINUED:
        return f
    m = _CONTINUATION.match(text, f.end)
    return f if m is None else Finding(f.rule, f.start, m.end(1))


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


_DEFAULT: list[Redactor] = []


def default_redactor() -> Redactor:
    """The shared redactor: built-in rules, entropy on, no extra patterns."""
    if not _DEFAULT:
        _DEFAULT.append(Redactor())
    return _DEFAULT[0]
