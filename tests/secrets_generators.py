"""Random secrets of every supported type, for measuring recall over many instances.

Each generator takes a seeded :class:`random.Random` and returns one :class:`Instance`:
a realistic text holding a freshly drawn secret, and the fragments of it that must not
survive redaction (usually the secret itself; for a secret split across lines, each
piece). Nothing here was ever issued by a provider: the bodies are random draws in the
provider's published format (prefix, alphabet, length).

Stable shape, used by ``benchmarks/redaction.py`` and ``tests/test_redact.py``:

* ``GENERATORS: dict[str, Generator]``: type name -> generator.
* ``instances(type_name, n, seed)``: ``n`` instances of one type, reproducibly.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

import attrs

__all__ = ["GENERATORS", "Generator", "Instance", "instances"]

_UPPER = string.ascii_uppercase
_LOWER = string.ascii_lowercase
_DIGITS = string.digits
_ALNUM = _UPPER + _LOWER + _DIGITS
_LOWER_ALNUM = _LOWER + _DIGITS
_UPPER_ALNUM = _UPPER + _DIGITS
_HEX = "0123456789abcdef"
_B64 = _ALNUM + "+/"
_B64URL = _ALNUM + "-_"
_PUNCT = "!#%^*-_+.@~"


@attrs.frozen
class Instance:
    """One generated secret: the text that holds it and the fragments that must vanish."""

    text: str
    fragments: tuple[str, ...]


Generator = Callable[[random.Random], Instance]


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    """``n`` characters drawn from ``alphabet``."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64(rng: random.Random, nbytes: int) -> str:
    """Standard base64 of ``nbytes`` random bytes."""
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def _b64url(rng: random.Random, nbytes: int) -> str:
    """Unpadded base64url of ``nbytes`` random bytes."""
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).decode().rstrip("=")


def _password(rng: random.Random) -> str:
    """A password as people pick them: words, digits and a symbol, or a random string."""
    kind = rng.randrange(3)
    if kind == 0:
        word = rng.choice(["Summer", "dragon", "Monkey", "sunshine", "Falcon", "tiger", "Orange"])
        return f"{word}{rng.randrange(10, 9999)}{rng.choice('!#$%&*?@')}"
    if kind == 1:
        return _r(rng, _ALNUM + _PUNCT, rng.randrange(10, 24))
    return _r(rng, _ALNUM, rng.randrange(12, 32))


# Neutral surroundings: none of them names a secret, so a token is caught by its format.
_NEUTRAL = (
    "{t}",
    "found {t} in the build log",
    "export VALUE={t}",
    'config = {{"value": "{t}"}}',
    "value: '{t}'",
    "curl -d 'x={t}' https://api.example.com/v1/items",
    'client.init("{t}")',
    "  - {t}\n",
    "echo {t} | pbcopy",
    "[{t}]",
)


def _token(make: Callable[[random.Random], str]) -> Generator:
    """A generator placing a token from ``make`` in a random neutral surrounding."""

    def generate(rng: random.Random) -> Instance:
        token = make(rng)
        return Instance(rng.choice(_NEUTRAL).format(t=token), (token,))

    return generate


def _context(*templates: str, value: Callable[[random.Random], str]) -> Generator:
    """A generator putting ``value`` into one of ``templates`` (``{v}`` marks it)."""

    def generate(rng: random.Random) -> Instance:
        v = value(rng)
        return Instance(rng.choice(templates).format(v=v), (v,))

    return generate


def _bech32(rng: random.Random, n: int) -> str:
    """``n`` characters of the upper-case bech32 alphabet."""
    return _r(rng, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", n)


def _jwt(rng: random.Random) -> str:
    """A JWT with a random payload and signature."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    claims = {"sub": _r(rng, _ALNUM, 12), "iat": rng.randrange(1_600_000_000, 1_800_000_000)}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{body}.{_b64url(rng, 32)}"


def _pem(rng: random.Random) -> Instance:
    """A private key block of a random kind."""
    kind = rng.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY"])
    raw = _b64(rng, rng.randrange(90, 400))
    body = "\n".join(raw[i : i + 64] for i in range(0, len(raw), 64))
    text = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    return Instance(
        rng.choice(["{t}", "$ cat key.pem\n{t}", "key = '''{t}'''"]).format(t=text), (raw[:40],)
    )


def _gcp_service_account(rng: random.Random) -> Instance:
    """A GCP service-account JSON file, as a string (newlines escaped inside it)."""
    raw = _b64(rng, 300)
    body = "\n".join(raw[i : i + 64] for i in range(0, len(raw), 64))
    key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    doc = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": _r(rng, _HEX, 40),
        "private_key": key,
        "client_email": "svc@demo-project.iam.gserviceaccount.com",
    }
    return Instance(json.dumps(doc, indent=2), (raw[64:104],))


def _openai(rng: random.Random) -> str:
    """An OpenAI key in one of its published shapes."""
    if rng.random() < 0.5:
        kind = rng.choice(["proj", "svcacct", "admin"])
        return f"sk-{kind}-{_r(rng, _B64URL, 74)}T3BlbkFJ{_r(rng, _B64URL, 74)}"
    return f"sk-{_r(rng, _ALNUM, 20)}T3BlbkFJ{_r(rng, _ALNUM, 20)}"


def _slack(rng: random.Random) -> str:
    """A Slack bot, user or app token."""

    def d(n: int) -> str:
        return _r(rng, _DIGITS, n)

    match rng.randrange(3):
        case 0:
            return f"xoxb-{d(12)}-{d(13)}-{_r(rng, _ALNUM, 24)}"
        case 1:
            return f"xoxp-{d(12)}-{d(12)}-{d(13)}-{_r(rng, _HEX, 32)}"
        case _:
            return f"xapp-1-A{_r(rng, _UPPER_ALNUM, 10)}-{d(13)}-{_r(rng, _HEX, 64)}"


def _split(rng: random.Random) -> Instance:
    """A token broken over two lines, with a cue: a key name and a continuation."""
    makers: list[Callable[[], str]] = [
        lambda: "ghp_" + _r(rng, _ALNUM, 36),
        lambda: _r(rng, _ALNUM, 40),
        lambda: "sk-proj-" + _r(rng, _B64URL, 60),
    ]
    token = rng.choice(makers)()
    cut = rng.randrange(12, len(token) - 12)
    a, b = token[:cut], token[cut:]
    template = rng.choice(
        [
            "export API_TOKEN={a}\\\n{b}",
            'api_key = ("{a}"\n           "{b}")',
            'token = "{a}" \\\n    "{b}"',
            "SECRET_KEY={a}\n{b}\n",
            'const apiKey = "{a}" +\n  "{b}";',
        ]
    )
    return Instance(template.format(a=a, b=b), (a, b))


def _double_escaped(rng: random.Random) -> Instance:
    """A secret in JSON inside a JSON string inside JSON (every quote escaped twice)."""
    key = rng.choice(["password", "api_key", "token", "client_secret", "secret"])
    v = _password(rng).replace("\\", "")
    inner = json.dumps({"body": json.dumps({"user": "bob", key: v})})
    return Instance(json.dumps({"payload": inner}), (v,))


def _u_escaped(rng: random.Random) -> Instance:
    """A secret assignment written with ``\\u`` escapes (HTML-safe JSON encoders do this)."""
    v = _r(rng, _ALNUM, rng.randrange(12, 30))
    key = rng.choice(["password", "api_key", "token", "secret"])
    template = rng.choice(
        [
            "{k}\\u003d{v}",
            "\\u0022{k}\\u0022:\\u0022{v}\\u0022",
            "\\u003cinput name={k} value\\u003d\\u0022x\\u0022\\u003e {k}\\u003d\\u0022{v}\\u0022",
            "echo \\u0027{k}={v}\\u0027",
        ]
    )
    return Instance(template.format(k=key, v=v), (v,))


def _prose(rng: random.Random) -> Instance:
    """A password given in a sentence."""
    v = _password(rng)
    template = rng.choice(
        [
            "the password is {v}",
            "The password for the staging db is {v} (don't share it)",
            "use password `{v}` to log in",
            "My passphrase is: {v}",
            "password was changed to {v}.",
            "login with the password '{v}' and then rotate it",
        ]
    )
    return Instance(template.format(v=v), (v,))


def _label(rng: random.Random) -> Instance:
    """An assignment after a label that itself names a secret (issue 15, item 1)."""
    v = _password(rng)
    template = rng.choice(
        [
            'the password: DB_PASSWORD="{v}"',
            'token: GITLAB_TOKEN = "{v}"',
            "# secret: SECRET_KEY = '{v}'",
            "password -> PASSWORD={v}",
            "api key: API_KEY={v}",
        ]
    )
    return Instance(template.format(v=v), (v,))


def _mysql(rng: random.Random) -> Instance:
    """A MySQL password on the command line."""
    v = _password(rng).replace("'", "")
    template = rng.choice(
        [
            "mysql -u root -p{v} shop",
            "mysqldump -h db.internal -uadmin -p'{v}' shop > dump.sql",
            'mysql --host=db -u app -p"{v}" -e "select 1"',
            "mysqladmin -uroot -p{v} status",
        ]
    )
    return Instance(template.format(v=v), (v,))


def _azure_sas(rng: random.Random) -> Instance:
    """An Azure SAS URL; the signature is URL-encoded base64 of an HMAC."""
    sig = _b64(rng, 32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    query = f"sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2026-01-01T00:00:00Z&spr=https&sig={sig}"
    template = rng.choice(
        [
            "https://acct.blob.core.windows.net/logs/app.log?{q}",
            'AZURE_SAS="?{q}"',
            "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature={q}",
        ]
    )
    return Instance(template.format(q=query), (sig,))


def _sentry_dsn(rng: random.Random) -> Instance:
    """A Sentry DSN: the public key sits where a URL's user would."""
    key = _r(rng, _HEX, 32)
    dsn = f"https://{key}@o{rng.randrange(10**5, 10**7)}.ingest.sentry.io/{rng.randrange(10**6)}"
    text = rng.choice(["SENTRY_DSN={d}", 'sentry_sdk.init(dsn="{d}")', "dsn: {d}"]).format(d=dsn)
    return Instance(text, (key,))


def _datadog(rng: random.Random) -> Instance:
    """A Datadog API or application key in its HTTP header."""
    if rng.random() < 0.5:
        header, v = "DD-APPLICATION-KEY", _r(rng, _HEX, 40)
    else:
        header, v = "DD-API-KEY", _r(rng, _HEX, 32)
    text = rng.choice(
        [
            'curl -H "{h}: {v}" https://api.datadoghq.com/api/v1/validate',
            "{h}: {v}",
            '{{"headers": {{"{h}": "{v}"}}}}',
        ]
    ).format(h=header, v=v)
    return Instance(text, (v,))


def _telegram(rng: random.Random) -> Instance:
    """A Telegram bot token: the bot id, a colon, and the secret part."""
    secret = "AA" + _r(rng, _B64URL, 33)
    token = f"{rng.randrange(10**8, 10**10)}:{secret}"
    text = rng.choice(_NEUTRAL).format(t=f"https://api.telegram.org/bot{token}/getMe")
    return Instance(text, (secret,))


def _discord(rng: random.Random) -> str:
    """A Discord bot token: base64 of the bot id, a timestamp, an HMAC."""
    first = base64.b64encode(str(rng.randrange(10**17, 10**19)).encode()).decode().rstrip("=")
    return f"{first}.{_r(rng, _B64URL, 6)}.{_r(rng, _B64URL, 38)}"


def _azure_client_secret(rng: random.Random) -> str:
    """An Entra ID (Azure AD) client secret, with its ``Q~`` marker."""
    head = _r(rng, _ALNUM, 3) + rng.choice(_DIGITS)
    return f"{head}Q~{_r(rng, _ALNUM + '_~.-', 34)}"


def _kv(
    key_templates: tuple[str, ...], value: Callable[[random.Random], str] = _password
) -> Generator:
    """A generator of ``key = value`` lines in many syntaxes."""
    return _context(*key_templates, value=value)


_PASSWORD_LINES = (
    "DB_PASSWORD={v}",
    'password: "{v}"',
    "passwd = {v}",
    '{{"username": "bob", "password": "{v}"}}',
    "Server=db;User Id=sa;Password={v};",
    "PGPASSWORD='{v}' psql -h db",
    "spring.datasource.password={v}",
    "docker login -u bob --password {v} registry.example.com",
)
_SECRET_LINES = (
    "client_secret: {v}",
    "SECRET_KEY = '{v}'",
    "https://api.example.com/v1/items?api_key={v}&limit=10",
    '{{"apikey": "{v}"}}',
    "NPM_TOKEN={v}",
    'headers["X-Api-Key"] = "{v}"',
    "app_key = {v}",
)

#: Type name -> generator of random instances.
GENERATORS: dict[str, Generator] = {
    # cloud providers
    "aws-access-key": _token(
        lambda r: rng_pick(r, ["AKIA", "ASIA"]) + _r(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    ),
    "aws-secret-key": _kv(
        ("aws_secret_access_key = {v}", 'AWS_SECRET_ACCESS_KEY="{v}"', '"SecretAccessKey": "{v}"'),
        lambda r: _r(r, _B64, 40),
    ),
    "google-api-key": _token(lambda r: "AIza" + _r(r, _B64URL, 35)),
    "google-oauth-secret": _token(lambda r: "GOCSPX-" + _r(r, _B64URL, 28)),
    "gcp-service-account": _gcp_service_account,
    "azure-storage-key": _kv(
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={v};",),
        lambda r: _b64(r, 64),
    ),
    "azure-sas": _azure_sas,
    "azure-client-secret": _token(_azure_client_secret),
    "digitalocean-pat": _token(lambda r: "dop_v1_" + _r(r, _HEX, 64)),
    "digitalocean-oauth": _token(lambda r: rng_pick(r, ["doo_v1_", "dor_v1_"]) + _r(r, _HEX, 64)),
    "alibaba-key": _token(lambda r: "LTAI" + _r(r, _ALNUM, 20)),
    "heroku-key": _token(lambda r: "HRKU-AA" + _r(r, _B64URL, 58)),
    "flyio-token": _token(lambda r: "fo1_" + _r(r, _B64URL, 43)),
    # source hosting and package registries
    "github-pat": _token(lambda r: "ghp_" + _r(r, _ALNUM, 36)),
    "github-oauth": _token(
        lambda r: rng_pick(r, ["gho_", "ghu_", "ghs_", "ghr_"]) + _r(r, _ALNUM, 36)
    ),
    "github-fine-grained": _token(lambda r: f"github_pat_{_r(r, _ALNUM, 22)}_{_r(r, _ALNUM, 59)}"),
    "gitlab-pat": _token(lambda r: "glpat-" + _r(r, _B64URL, 20)),
    "gitlab-other": _token(
        lambda r: rng_pick(r, ["gldt-", "glrt-", "glft-", "glsoat-"]) + _r(r, _B64URL, 20)
    ),
    "gitlab-ptt": _token(lambda r: "glptt-" + _r(r, _HEX, 40)),
    "npm-token": _token(lambda r: "npm_" + _r(r, _ALNUM, 36)),
    "pypi-token": _token(lambda r: "pypi-AgEIcHlwaS5vcmc" + _r(r, _B64URL, rng_int(r, 60, 160))),
    "rubygems-token": _token(lambda r: "rubygems_" + _r(r, _HEX, 48)),
    "artifactory-key": _token(lambda r: "AKCp" + _r(r, _ALNUM, 69)),
    # AI providers
    "openai-key": _token(_openai),
    "anthropic-key": _token(
        lambda r: f"sk-ant-{rng_pick(r, ['api03', 'admin01'])}-{_r(r, _B64URL, 93)}AA"
    ),
    "huggingface-token": _token(
        lambda r: rng_pick(r, ["hf_", "api_org_"]) + _r(r, _UPPER + _LOWER, 34)
    ),
    "groq-key": _token(lambda r: "gsk_" + _r(r, _ALNUM, 52)),
    "openrouter-key": _token(lambda r: "sk-or-v1-" + _r(r, _HEX, 64)),
    "perplexity-key": _token(lambda r: "pplx-" + _r(r, _ALNUM, 48)),
    "xai-key": _token(lambda r: "xai-" + _r(r, _ALNUM, 80)),
    "replicate-token": _token(lambda r: "r8_" + _r(r, _ALNUM, 37)),
    # SaaS
    "slack-token": _token(_slack),
    "slack-webhook": _token(
        lambda r: (
            f"https://hooks.slack.com/services/T{_r(r, _UPPER_ALNUM, 10)}/"
            f"B{_r(r, _UPPER_ALNUM, 10)}/{_r(r, _ALNUM, 24)}"
        )
    ),
    "stripe-key": _token(
        lambda r: (
            rng_pick(r, ["sk_live_", "sk_test_", "rk_live_"]) + _r(r, _ALNUM, rng_int(r, 24, 99))
        )
    ),
    "twilio-key": _token(lambda r: "SK" + _r(r, _HEX, 32)),
    "sendgrid-key": _token(lambda r: f"SG.{_r(r, _B64URL, 22)}.{_r(r, _B64URL, 43)}"),
    "mailgun-key": _token(lambda r: "key-" + _r(r, _LOWER_ALNUM, 32)),
    "databricks-token": _token(lambda r: "dapi" + _r(r, _HEX, 32) + rng_pick(r, ["", "-2"])),
    "datadog-key": _datadog,
    "sentry-dsn": _sentry_dsn,
    "sentry-token": _token(lambda r: "sntryu_" + _r(r, _HEX, 64)),
    "shopify-token": _token(
        lambda r: rng_pick(r, ["shpat_", "shpca_", "shppa_", "shpss_"]) + _r(r, _HEX, 32)
    ),
    "square-token": _token(
        lambda r: rng_pick(
            r,
            [
                "EAAA" + _r(r, _B64URL, 60),
                "sq0atp-" + _r(r, _B64URL, 22),
                "sq0csp-" + _r(r, _B64URL, 43),
            ],
        )
    ),
    "telegram-bot-token": _telegram,
    "discord-token": _token(_discord),
    "postman-key": _token(lambda r: f"PMAK-{_r(r, _HEX, 24)}-{_r(r, _HEX, 34)}"),
    "doppler-token": _token(
        lambda r: rng_pick(r, ["dp.pt.", "dp.st.", "dp.sa."]) + _r(r, _ALNUM, 43)
    ),
    "grafana-token": _token(
        lambda r: rng_pick(
            r,
            [
                "glc_" + _b64(r, 60).rstrip("="),
                f"glsa_{_r(r, _ALNUM, 32)}_{_r(r, _HEX, 8)}",
            ],
        )
    ),
    "linear-key": _token(lambda r: "lin_api_" + _r(r, _ALNUM, 40)),
    "vault-token": _token(lambda r: "hvs." + _r(r, _B64URL, rng_int(r, 90, 120))),
    "pulumi-token": _token(lambda r: "pul-" + _r(r, _HEX, 40)),
    "newrelic-key": _token(lambda r: "NRAK-" + _r(r, _UPPER_ALNUM, 27)),
    "atlassian-token": _token(lambda r: "ATATT3" + _r(r, _B64URL, 186)),
    "sendinblue-key": _token(lambda r: f"xkeysib-{_r(r, _HEX, 64)}-{_r(r, _ALNUM, 16)}"),
    "planetscale-token": _token(
        lambda r: rng_pick(r, ["pscale_tkn_", "pscale_pw_"]) + _r(r, _B64URL, 43)
    ),
    "notion-token": _token(lambda r: f"ntn_{_r(r, _DIGITS, 11)}{_r(r, _ALNUM, 35)}"),
    "dynatrace-token": _token(
        lambda r: f"dt0c01.{_r(r, _UPPER_ALNUM, 24)}.{_r(r, _UPPER_ALNUM, 64)}"
    ),
    "shippo-token": _token(
        lambda r: rng_pick(r, ["shippo_live_", "shippo_test_"]) + _r(r, _HEX, 40)
    ),
    "age-secret-key": _token(lambda r: "AGE-SECRET-KEY-1" + _bech32(r, 58)),
    # formats and contexts
    "jwt": _token(_jwt),
    "private-key": _pem,
    "url-password": _context(
        "DATABASE_URL=postgres://app:{v}@db.internal:5432/prod",
        "redis-cli -u redis://:{v}@cache:6379/0 ping",
        "git clone https://deploy:{v}@git.example.com/org/repo.git",
        value=lambda r: _r(r, _ALNUM + "-_.~!*", rng_int(r, 8, 24)),
    ),
    "auth-header": _context(
        "Authorization: Bearer {v}",
        "curl -H 'Authorization: Basic {v}' https://ci.example.com",
        '{{"Authorization": "Token {v}"}}',
        "Authorization: SSWS {v}",
        value=lambda r: _r(r, _ALNUM + "-._", rng_int(r, 16, 60)),
    ),
    "password": _kv(_PASSWORD_LINES),
    "secret": _kv(_SECRET_LINES, lambda r: _r(r, _ALNUM + "-_", rng_int(r, 12, 40))),
    "labelled-assignment": _label,
    "password-in-prose": _prose,
    "mysql-password": _mysql,
    "split-token": _split,
    "double-escaped-json": _double_escaped,
    "u-escaped": _u_escaped,
    "high-entropy": _token(lambda r: _b64(r, rng_int(r, 24, 48)).rstrip("=")),
}


def rng_pick(rng: random.Random, options: list[str]) -> str:
    """One of ``options``."""
    return rng.choice(options)


def rng_int(rng: random.Random, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    return rng.randint(low, high)


def instances(type_name: str, n: int, seed: int = 15) -> list[Instance]:
    """``n`` instances of ``type_name``, the same ones for the same seed."""
    rng = random.Random(f"{seed}:{type_name}")
    return [GENERATORS[type_name](rng) for _ in range(n)]
