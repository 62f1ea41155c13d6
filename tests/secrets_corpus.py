"""Fake secrets (and look-alikes that are not secrets) for the redaction tests.

Every secret here is FAKE: it follows the real format closely enough to be recognised
but carries FAKE or EXAMPLE in its body wherever the format allows, and none was ever
issued by a provider.

Stable shape, imported by other tests and by ``benchmarks/redaction.py``:

* ``SECRETS: list[FakeSecret]``: ``family`` is the rule name the redactor should report
  for it (see :data:`bitloops.redact.RULES`), ``text`` a realistic line (or block)
  containing it, ``secret`` the exact substring of ``text`` that must not survive.
* ``CLEAN: list[str]``: realistic strings that contain no secret and must come out of
  the redactor unchanged.
"""

from __future__ import annotations

import random
import string

import attrs

__all__ = ["CLEAN", "SECRETS", "FakeSecret"]


@attrs.frozen
class FakeSecret:
    """One fake secret: its rule family, a line containing it, and the secret itself."""

    family: str
    text: str
    secret: str

    def __attrs_post_init__(self) -> None:
        """Refuse an entry whose secret is not part of its text."""
        if self.secret not in self.text:
            raise ValueError(f"{self.family}: secret not found in its text")


def _pem(kind: str, body: str, *, end: bool = True) -> str:
    """A PEM block of ``kind`` around ``body`` (lines joined with newlines)."""
    block = f"-----BEGIN {kind}-----\n{body}\n"
    return block + f"-----END {kind}-----\n" if end else block


_RSA_BODY = (
    "MIIEowIBAAKCAQEAs1VOqg6YYZYn9ZhyiA4uoRgnatmUdjAWtGSU8po+799NksnR\n"
    "H9ucAUsdMlHUvTCQCyEZFAKEKEYFORTESTSONLYzRA9a9SkpXz9w3QlY7Zkuvqdt\n"
    "7s8Stqcbnr3yBdGBLEPH1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY\n"
    "HkCiHp6bR1IqfEouHgxzNNAL5=="
)
_OPENSSH_BODY = (
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQwIScGebcy8F5n3/YNBDRzr\n"
    "ZSgqbjG3uhkWKFLf6xuIEXAMPLEONLYNOTAKEYzFalHlsZfYcMMDktXP/tKsf2rc\n"
    "05rK+gqv81RKMGHZEM9Ypvu=="
)
_EC_BODY = (
    "MHcCAQEEIjA/C5Q52ryFlwRlOEVHzc0X0AWIRh/JUqBlIFXZ53Ncqe28+ajY75Fn\n"
    "Cttn6kfaqDeMqG3omjMyFAKEECKEYF8EFd0Nhcy/1kGD2VD/eR1UYzaLiA/zNyD7\n"
    "HLn/xC+1hsYgBds1ghxY5OokvQyx7eNWVQ=="
)
_PGP_BODY = (
    "lQOYBGF4vnakJkS1pAWTN3lg8zV5yPU8d0FZfWe7ihGyiRUIQfHOJMaidDn87XG3\n"
    "/q/xbMtEPO6UkzYuF0ieFAKEPGPKEYBLOCKr16EpLLJIVGHz4FxFEtKyPiYGFDm7\n"
    "F2XV54wca+7E56w8ZniqT3Ul4ffqkOkgWrdioyq+KvCiSGuPJ6sG9AHEO==\n"
    "=FAKE"
)
_PKCS8_BODY = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCVezxZuJPWvHogU5nGYVHWVsUQk4DwgLG\n"
    "NOaeCtL31Ugq+DfcgaTMFAKEPKCS8KEYFt5misIZHbhS4/FvafhdZxEuhnbzs0z1\n"
    "/vok+nPTmZYl2dVAMH2vWD6qeSPt5Pv74G=="
)
_ENCRYPTED_BODY = (
    "MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiGDqQ7EyIMttFPSuEPyHnvnzXtsMM3\n"
    "JznnJAX7ebZ3CL7csGZaFAKEENCRYPTEDFZuG296c0xPbX+neGBuzSm6A8cVR06A"
)
_JWT_HS = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJGQUtFLXVzZXItMTIzNCIsIm5hbWUiOiJFeGFtcGxlIEZha2UiLCJpYXQiOjE3MTYyMzkwMjJ9."
    "PtYgjmUhBeFAKEl31iEl2hpChYgCfrL1spNxnyVmihA"
)
_JWT_RS = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2Uta2V5LTEifQ."
    "eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJhdWQiOiJiaXRsb29wcy10ZXN0IiwiZXhwIjox"
    "ODkzNDU2MDAwLCJlbWFpbCI6ImZha2VAZXhhbXBsZS5jb20ifQ."
    "-2O76UMFxFkM-R5Kjp1vRt_1fjORS-EXAMPLE6ilI8ihN5KXSc7Tvo-hBKqFYY-kv5ZJr3J1TWDtkwtDDb_xHKa"
)
_OPENAI_PROJ = (
    "sk-proj-KLQZdItNbDfBSt3LR9ZFbl0C866lvCGHizz5V2Bm_DzxCRhncSbLvFAKEiOWGBxFGrnyzDer-b"
    "T3BlbkFJxMh5-S8d9mnxbyc6UGHfp-tA7TEXMKFH6pAE_kEXAMPLERtecmh545cp_Qo5ouzIaujgTpK_DU"
)
_ANTHROPIC = (
    "sk-ant-api03-YHf35Wgi8RLlWKntJU_cOCSo9TDeM9b93xBIN478bvk4hGFAKEcvHi-I97z5-vHjw7n0VAyN"
    "-FJ_wDh3gytSOCENrF0BLAA"
)
_ANTHROPIC_ADMIN = (
    "sk-ant-admin01-Rjq4F6anBBbyWb6nX3PZ8XGqsG-VAF4Vx49cGVRTg1OnEXAMPLE-0DU0bLLTLSmBQLIJ"
    "-nnTYECpxfHJy0h16rxAhlA5kAA"
)
_AZURE_KEY = (
    "1zMti7K+uka0rpsNacIWrh+dbmO72sc9k0HqvtwfGOL1yFJjp0seuiXVc43QVlOeH5kNN1rkG2uIHh8zRkFLRQ=="
)


def _s(family: str, text: str, secret: str) -> FakeSecret:
    """Shorthand for one corpus entry."""
    return FakeSecret(family, text, secret)


_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_B64URL = _ALNUM + "-_"


def _fake(alphabet: str, n: int, tag: str) -> str:
    """``n`` characters of ``alphabet``, the same for the same ``tag``, starting with FAKE
    (or fake) where the alphabet has those letters."""
    rng = random.Random(tag)
    body = "".join(rng.choice(alphabet) for _ in range(n))
    for word in ("FAKE", "fake"):
        if all(c in alphabet for c in word):
            return word + body[4:]
    return body


def _t(family: str, template: str, token: str) -> FakeSecret:
    """A corpus entry for a token placed in ``template`` at ``{t}``."""
    return FakeSecret(family, template.format(t=token), token)


#: Token families with a recognisable prefix: (family, token), each used in two lines.
_PREFIXED: list[tuple[str, str]] = [
    ("age-secret-key", "AGE-SECRET-KEY-1" + _fake("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, "age")),
    ("alibaba-key", "LTAI" + _fake(_ALNUM, 20, "ali")),
    ("artifactory-key", "AKCp" + _fake(_ALNUM, 69, "art")),
    ("atlassian-token", "ATATT3" + _fake(_B64URL, 186, "atl")),
    ("databricks-token", "dapi" + _fake(_HEX, 32, "dbx")),
    ("databricks-token", "dapi" + _fake(_HEX, 32, "dbx2") + "-2"),
    ("digitalocean-token", "dop_v1_" + _fake(_HEX, 64, "do")),
    ("digitalocean-token", "doo_v1_" + _fake(_HEX, 64, "doo")),
    (
        "discord-token",
        f"MTEzNDU2Nzg5MDEyMzQ1Njc4.{_fake(_B64URL, 6, 'dc1')}.{_fake(_B64URL, 38, 'dc2')}",
    ),
    ("doppler-token", "dp.pt." + _fake(_ALNUM, 43, "dp")),
    (
        "dynatrace-token",
        f"dt0c01.{_fake('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 24, 'dt1')}."
        f"{_fake('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 64, 'dt2')}",
    ),
    ("flyio-token", "fo1_" + _fake(_B64URL, 43, "fly")),
    ("google-oauth-secret", "GOCSPX-" + _fake(_B64URL, 28, "gcs")),
    ("grafana-token", "glc_" + _fake(_ALNUM + "+/", 80, "glc")),
    ("grafana-token", f"glsa_{_fake(_ALNUM, 32, 'glsa')}_{_fake(_HEX, 8, 'glsa2')}"),
    ("groq-key", "gsk_" + _fake(_ALNUM, 52, "groq")),
    ("heroku-key", "HRKU-AA" + _fake(_B64URL, 58, "hrku")),
    ("huggingface-token", "hf_" + _fake(string.ascii_letters, 34, "hf")),
    ("linear-key", "lin_api_" + _fake(_ALNUM, 40, "lin")),
    ("mailgun-key", "key-" + _fake(string.ascii_lowercase + string.digits, 32, "mg")),
    ("newrelic-key", "NRAK-" + _fake("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 27, "nr")),
    ("notion-token", "ntn_" + "12345678901" + _fake(_ALNUM, 35, "ntn")),
    ("npm-token", "npm_" + _fake(_ALNUM, 36, "npm")),
    ("openrouter-key", "sk-or-v1-" + _fake(_HEX, 64, "or")),
    ("perplexity-key", "pplx-" + _fake(_ALNUM, 48, "pplx")),
    ("planetscale-token", "pscale_tkn_" + _fake(_B64URL, 43, "ps")),
    ("postman-key", f"PMAK-{_fake(_HEX, 24, 'pm1')}-{_fake(_HEX, 34, 'pm2')}"),
    ("pulumi-token", "pul-" + _fake(_HEX, 40, "pul")),
    ("pypi-token", "pypi-AgEIcHlwaS5vcmc" + _fake(_B64URL, 80, "pypi")),
    ("replicate-token", "r8_" + _fake(_ALNUM, 37, "r8")),
    ("rubygems-token", "rubygems_" + _fake(_HEX, 48, "gem")),
    ("sendgrid-key", f"SG.{_fake(_B64URL, 22, 'sg1')}.{_fake(_B64URL, 43, 'sg2')}"),
    ("sendinblue-key", f"xkeysib-{_fake(_HEX, 64, 'sib1')}-{_fake(_ALNUM, 16, 'sib2')}"),
    ("sentry-token", "sntryu_" + _fake(_HEX, 64, "sntry")),
    ("shippo-token", "shippo_live_" + _fake(_HEX, 40, "shippo")),
    ("shopify-token", "shpat_" + _fake(_HEX, 32, "shpat")),
    ("shopify-token", "shpss_" + _fake(_HEX, 32, "shpss")),
    ("square-token", "EAAA" + _fake(_B64URL, 60, "sq")),
    ("square-token", "sq0csp-" + _fake(_B64URL, 43, "sqc")),
    ("twilio-key", "SK" + _fake(_HEX, 32, "tw")),
    ("vault-token", "hvs." + _fake(_B64URL, 95, "hvs")),
    ("xai-key", "xai-" + _fake(_ALNUM, 80, "xai")),
]
_PREFIXED_LINES = (
    "export TOOL_CREDENTIAL={t}",
    'client = Client("{t}")  # for the demo only',
)


#: Fake secrets, each in a realistic line, covering every built-in rule.
SECRETS: list[FakeSecret] = [
    # AWS access key ids (AWS documents AKIAIOSFODNN7EXAMPLE as its example)
    _s(
        "aws-access-key",
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    _s(
        "aws-access-key",
        "[default]\naws_access_key_id = ASIAFAKE2EXAMPLE7QZX\nregion = eu-west-1",
        "ASIAFAKE2EXAMPLE7QZX",
    ),
    _s(
        "aws-access-key",
        '{"Credentials": {"AccessKeyId": "AKIAZ3FAKEEXAMPLE4Q7", "Expiration": "2024-05-01"}}',
        "AKIAZ3FAKEEXAMPLE4Q7",
    ),
    # AWS secret access keys, recognised by their key name
    _s(
        "aws-secret-key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    _s(
        "aws-secret-key",
        'AWS_SECRET_ACCESS_KEY="9qO3B7H5LFAKEemN/4XG4/5+ERpjS5ObaT+/DPze" ./deploy.sh',
        "9qO3B7H5LFAKEemN/4XG4/5+ERpjS5ObaT+/DPze",
    ),
    _s(
        "aws-secret-key",
        '    "SecretAccessKey": "Z46CTkubsKVJIchOpF1Y0CxYH80EXAMPLE5lh0a5",',
        "Z46CTkubsKVJIchOpF1Y0CxYH80EXAMPLE5lh0a5",
    ),
    # GitHub
    _s(
        "github-token",
        "GITHUB_TOKEN=ghp_5yFAKEtzwHhANLUH8nLYuJoEoxq0bUfEJ0dp gh pr create --fill",
        "ghp_5yFAKEtzwHhANLUH8nLYuJoEoxq0bUfEJ0dp",
    ),
    _s(
        "github-token",
        "oauth_token: gho_yuXqVvdnmFAKEzd0h8VolDNmUWeJR94GYKec",
        "gho_yuXqVvdnmFAKEzd0h8VolDNmUWeJR94GYKec",
    ),
    _s(
        "github-token",
        "git clone https://x-access-token:ghs_FUojYnzO1FAKED2CwxmKkPZwYuSIe2MHEQdp@github.com/o/r",
        "ghs_FUojYnzO1FAKED2CwxmKkPZwYuSIe2MHEQdp",
    ),
    _s(
        "github-token",
        'curl -H "Authorization: token ghu_hoc3XDkEXAMPLE6a79UEE81px8SFWlP1vkHC" api.github.com',
        "ghu_hoc3XDkEXAMPLE6a79UEE81px8SFWlP1vkHC",
    ),
    _s(
        "github-token",
        "Created github_pat_COUy1FAKE0SPrlK5YrOqGQ_7IUQLHU1RsYl7dyPy7VtUmjYX6DlxvP5bEXAMPLE7bd7k"
        "Mvr8LyDfZvKex8 for the release bot.",
        "github_pat_COUy1FAKE0SPrlK5YrOqGQ_7IUQLHU1RsYl7dyPy7VtUmjYX6DlxvP5bEXAMPLE7bd7kMvr8LyDfZvKex8",
    ),
    # GitLab
    _s(
        "gitlab-token",
        "glab auth login --token glpat-Nd_dOFAKEX4D1ZJza-2k",
        "glpat-Nd_dOFAKEX4D1ZJza-2k",
    ),
    _s(
        "gitlab-token",
        "deploy token for the registry: gldt-fePOFAKECSBsj858RUDJ (read_registry)",
        "gldt-fePOFAKECSBsj858RUDJ",
    ),
    # Slack
    _s(
        "slack-token",
        "SLACK_BOT=xoxb-882974963447-6386297649000-zlJxj0FAKEmWsIUOmE0au988",
        "xoxb-882974963447-6386297649000-zlJxj0FAKEmWsIUOmE0au988",
    ),
    _s(
        "slack-token",
        "client = WebClient('xoxp-291645509942-857221840202-0985861598595-f45d4FAKE7bda60f232bb"
        "24be3398491')",
        "xoxp-291645509942-857221840202-0985861598595-f45d4FAKE7bda60f232bb24be3398491",
    ),
    _s(
        "slack-webhook",
        "curl -X POST https://hooks.slack.com/services/T0DVFAKEQKL/B0HFFAKEZY8/MPpY1oxPjvgu4RKFA"
        "KEIRxJi -d @msg.json",
        "T0DVFAKEQKL/B0HFFAKEZY8/MPpY1oxPjvgu4RKFAKEIRxJi",
    ),
    _s(
        "slack-webhook",
        '{"url": "https://hooks.slack.com/workflows/T0FAKEQKL2/A0FAKEZY8/4561/Xk9pFAKEz2Lw0bVt"}',
        "T0FAKEQKL2/A0FAKEZY8/4561/Xk9pFAKEz2Lw0bVt",
    ),
    # Stripe
    _s(
        "stripe-key",
        'stripe.api_key = "sk_live_IHBYZFAKEV3WgPAJCwKCe9z4"',
        "sk_live_IHBYZFAKEV3WgPAJCwKCe9z4",
    ),
    _s(
        "stripe-key",
        "Restricted key rk_live_yVNslbh6owwFAKEVzO5xMn0n can read charges only.",
        "rk_live_yVNslbh6owwFAKEVzO5xMn0n",
    ),
    _s(
        "stripe-key",
        "STRIPE_SECRET=sk_test_UqKJHFSGMvEXAMPLE6gUDiXg npm test",
        "sk_test_UqKJHFSGMvEXAMPLE6gUDiXg",
    ),
    # Google
    _s(
        "google-api-key",
        '<script src="https://maps.googleapis.com/maps/api/js?key=AIza8cFAKEDo6_FqkWhA54D-5PNH4'
        'pfEQfL9I8d"></script>',
        "AIza8cFAKEDo6_FqkWhA54D-5PNH4pfEQfL9I8d",
    ),
    _s(
        "google-api-key",
        "GEMINI_KEY: AIzaQJF8MjwAQwplbi-Ev3Jf2EXAMPLEkZwh4Uf",
        "AIzaQJF8MjwAQwplbi-Ev3Jf2EXAMPLEkZwh4Uf",
    ),
    # OpenAI
    _s("openai-key", f"export OPENAI_API_KEY={_OPENAI_PROJ}", _OPENAI_PROJ),
    _s(
        "openai-key",
        "client = OpenAI(api_key='sk-cC612fbBbEz59FAKE9xrT3BlbkFJ9hOe0YFAKE1aUqM2tyHC')",
        "sk-cC612fbBbEz59FAKE9xrT3BlbkFJ9hOe0YFAKE1aUqM2tyHC",
    ),
    _s(
        "openai-key",
        "service account key sk-svcacct-0EkfBSZKyFQFp75FAKEplcOJq7Y29PxxvjazyHOKJEBD-qMIevfta"
        "HKdUUSm",
        "sk-svcacct-0EkfBSZKyFQFp75FAKEplcOJq7Y29PxxvjazyHOKJEBD-qMIevftaHKdUUSm",
    ),
    # Anthropic
    _s("anthropic-key", f"ANTHROPIC_API_KEY={_ANTHROPIC}", _ANTHROPIC),
    _s("anthropic-key", f'curl -H "x-api-key: {_ANTHROPIC_ADMIN}" ...', _ANTHROPIC_ADMIN),
    # PEM private keys: the key material must go (the whole block is replaced)
    _s("private-key", "$ cat ~/.ssh/id_rsa\n" + _pem("RSA PRIVATE KEY", _RSA_BODY), _RSA_BODY),
    _s("private-key", _pem("OPENSSH PRIVATE KEY", _OPENSSH_BODY), _OPENSSH_BODY),
    _s("private-key", "key.pem:\n" + _pem("EC PRIVATE KEY", _EC_BODY), _EC_BODY),
    _s("private-key", _pem("PGP PRIVATE KEY BLOCK", _PGP_BODY), _PGP_BODY),
    _s("private-key", _pem("PRIVATE KEY", _PKCS8_BODY) + "(written by openssl)", _PKCS8_BODY),
    _s(
        "private-key",
        "$ head -3 server.key\n" + _pem("ENCRYPTED PRIVATE KEY", _ENCRYPTED_BODY, end=False),
        _ENCRYPTED_BODY,
    ),
    # JWTs
    _s("jwt", f"Set-Cookie: session={_JWT_HS}; HttpOnly; Secure", _JWT_HS),
    _s("jwt", f"The id_token {_JWT_RS} decodes to the test user.", _JWT_RS),
    # Passwords in URLs and connection strings
    _s(
        "url-password",
        "DATABASE_URL=postgres://app:S3cretFAKEpw@db.internal:5432/prod",
        "S3cretFAKEpw",
    ),
    _s(
        "url-password", "redis-cli -u redis://:FAKEredisPass99@cache:6379/0 ping", "FAKEredisPass99"
    ),
    _s(
        "url-password",
        'MONGO_URI="mongodb+srv://admin:FAKE-m0ngo-pass@cluster0.example.net/test"',
        "FAKE-m0ngo-pass",
    ),
    _s(
        "url-password",
        "pip install --index-url https://deploy:FAKEhttpPW42@pypi.example.com/simple pkg",
        "FAKEhttpPW42",
    ),
    # password assignments
    _s("password", "DB_PASSWORD=FAKEdbPass2024!", "FAKEdbPass2024!"),
    _s(
        "password",
        'database:\n  user: app\n  password: "c0rrect-horse-FAKE"\n',
        "c0rrect-horse-FAKE",
    ),
    _s("password", "[mysql]\nuser = root\npasswd = FAKEpasswd_123\n", "FAKEpasswd_123"),
    _s("password", '{"username": "bob", "password": "FAKE json pw 77"}', "FAKE json pw 77"),
    _s("password", "SMB_PWD='FAKEsmb-pwd-9'", "FAKEsmb-pwd-9"),
    _s(
        "password",
        "Server=db;Database=shop;User Id=sa;Password=FAKEsqlPass#1;",
        "FAKEsqlPass#1",
    ),
    # other secret assignments
    _s("secret", "client_secret: FAKEclientSecret0123456789", "FAKEclientSecret0123456789"),
    _s(
        "secret",
        "SECRET_KEY = 'django-insecure-FAKE0example0key0value'",
        "django-insecure-FAKE0example0key0value",
    ),
    _s(
        "secret",
        "GET https://api.example.com/v1/items?api_key=FAKEapikey123456&limit=10",
        "FAKEapikey123456",
    ),
    _s("secret", '{"apikey": "FAKE-apikey-value-42"}', "FAKE-apikey-value-42"),
    _s("secret", "access_key: FAKEaccesskeyvalue77", "FAKEaccesskeyvalue77"),
    _s("secret", "NPM_TOKEN=FAKEnpmtoken0000aaaa1111", "FAKEnpmtoken0000aaaa1111"),
    _s("secret", "private_key = 'FAKE-raw-private-key-value'", "FAKE-raw-private-key-value"),
    # Authorization headers
    _s(
        "auth-header",
        "Authorization: Bearer FAKEbearer.token-value_123",
        "FAKEbearer.token-value_123",
    ),
    _s(
        "auth-header",
        "curl -H 'Authorization: Basic ZmFrZXVzZXI6RkFLRS1iYXNpYy1wYXNz' https://ci.example.com",
        "ZmFrZXVzZXI6RkFLRS1iYXNpYy1wYXNz",
    ),
    _s(
        "auth-header",
        'headers = {"Authorization": "Bearer fake0bearer0value0lowercase"}',
        "fake0bearer0value0lowercase",
    ),
    # high-entropy tokens with no recognisable format or context
    _s(
        "high-entropy",
        "export SIGNING_SEED=WjBtnJk4qbUeC3qnhz5gONLMhd5YFRFAKE4Fz3RW",
        "WjBtnJk4qbUeC3qnhz5gONLMhd5YFRFAKE4Fz3RW",
    ),
    _s(
        "high-entropy",
        f"DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey={_AZURE_KEY};",
        _AZURE_KEY,
    ),
    _s(
        "high-entropy",
        "the webhook signs with 6HFlFAKEhfu9q+pFr/qtL//RmxfvJ5cX4T3EgFO0XBR8 (rotate monthly)",
        "6HFlFAKEhfu9q+pFr/qtL//RmxfvJ5cX4T3EgFO0XBR8",
    ),
    _s(
        "high-entropy",
        "license: anxRjijXCFZ4u3lfvfEwL2o7zd_kHWXUFAKEZ_XyRJkS3Dk8",
        "anxRjijXCFZ4u3lfvfEwL2o7zd_kHWXUFAKEZ_XyRJkS3Dk8",
    ),
    # token families known by their prefix, each in two lines
    *(_t(family, line, token) for family, token in _PREFIXED for line in _PREFIXED_LINES),
    # ... and in their own surroundings
    _s(
        "telegram-bot-token",
        "curl https://api.telegram.org/bot123456789:AAFAKEx8Zq3Lw0bVtR5mYc2NdJ7kPe1sGhQ/getMe",
        "AAFAKEx8Zq3Lw0bVtR5mYc2NdJ7kPe1sGhQ",
    ),
    _s(
        "telegram-bot-token",
        "TELEGRAM_BOT=7012345678:AAHFAKE_9pXr2LmQw8VtZc4NbJ6kYe0sDfg",
        "AAHFAKE_9pXr2LmQw8VtZc4NbJ6kYe0sDfg",
    ),
    _s(
        "azure-client-secret",
        "AZURE_CLIENT_SECRET=Abc8Q~FAKE.rNaW1HQTLk~arwS.uwyrvmSxWbQ",
        "Abc8Q~FAKE.rNaW1HQTLk~arwS.uwyrvmSxWbQ",
    ),
    _s(
        "azure-client-secret",
        '{"clientSecret": "x9Z7Q~FAKEq2Lw0bVtR5mYc2NdJ7kPe1sGhAbC"}',
        "x9Z7Q~FAKEq2Lw0bVtR5mYc2NdJ7kPe1sGhAbC",
    ),
    _s(
        "azure-sas",
        "https://acct.blob.core.windows.net/logs/a.log?sv=2022-11-02&ss=b&sp=rl"
        "&se=2026-01-01T00:00:00Z&sig=FAKEk2%2BVq9Zr8Lw0bVtR5mYc2NdJ7kPe1sGhAbCdEf%3D",
        "FAKEk2%2BVq9Zr8Lw0bVtR5mYc2NdJ7kPe1sGhAbCdEf%3D",
    ),
    _s(
        "azure-sas",
        'AZURE_SAS="?sv=2022-11-02&spr=https&sig=fake0Vq9Zr8Lw0bVtR5mYc2NdJ7kPe1sGhAbCdEfGh%3D"',
        "fake0Vq9Zr8Lw0bVtR5mYc2NdJ7kPe1sGhAbCdEfGh%3D",
    ),
    _s(
        "sentry-dsn",
        'sentry_sdk.init(dsn="https://fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d0@o123456.ingest.sentry.io/42")',
        "fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d0",
    ),
    _s(
        "sentry-dsn",
        "SENTRY_DSN=https://0fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d@sentry.example.com/7",
        "0fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d",
    ),
    # Datadog keys in their headers (the key name is the context)
    _s(
        "secret",
        'curl -H "DD-APPLICATION-KEY: fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d09a8b7c6d" https://api.datadoghq.com',
        "fa4e0d1c2b3a49f8e7d6c5b4a3f2e1d09a8b7c6d",
    ),
    _s(
        "secret",
        '{"headers": {"DD-API-KEY": "0d1c2b3a49f8e7d6c5b4a3f2e1d0fa4e"}}',
        "0d1c2b3a49f8e7d6c5b4a3f2e1d0fa4e",
    ),
    # a label before an assignment (issue 15, item 1)
    _s("password", 'the password: DB_PASSWORD="FAKE-label-pw-1"', "FAKE-label-pw-1"),
    _s("secret", 'token: GITLAB_TOKEN = "FAKE-label-token-2"', "FAKE-label-token-2"),
    _s("secret", "# secret: SECRET_KEY = 'FAKE-label-secret-3'", "FAKE-label-secret-3"),
    # passwords given in prose, and on a MySQL command line
    _s("password", "the password is FAKEprose#42", "FAKEprose#42"),
    _s(
        "password",
        "The password for the staging db is FAKE-st4ging! (don't share it)",
        "FAKE-st4ging!",
    ),
    _s("password", "use password `FAKEtick9` to log in", "FAKEtick9"),
    _s("password", "mysql -u root -pFAKEmysql77 shop", "FAKEmysql77"),
    _s("password", "mysqldump -h db -uadmin -p'FAKE dump pw' shop > dump.sql", "FAKE dump pw"),
    _s(
        "password", "docker login -u bob --password FAKEd0cker! registry.example.com", "FAKEd0cker!"
    ),
    # a token split across lines (the second half must go too)
    _s("secret", "export API_TOKEN=FAKEsplit0aB1\\\ncD2eF3gH4iJ5kL6", "cD2eF3gH4iJ5kL6"),
    _s("secret", 'api_key = ("FAKEsplit1xY2"\n           "zW3vU4tS5rQ6pO7")', "zW3vU4tS5rQ6pO7"),
    # escaped twice (JSON in a JSON string in JSON), and \u-escaped
    _s(
        "password",
        '{"payload": "{\\"body\\": \\"{\\\\\\"password\\\\\\": \\\\\\"FAKEdouble7\\\\\\"}\\"}"}',
        "FAKEdouble7",
    ),
    _s("password", "password\\u003d\\u0022FAKEunicode8\\u0022", "FAKEunicode8"),
    _s("secret", "\\u0022api_key\\u0022:\\u0022FAKEunicode9\\u0022", "FAKEunicode9"),
    # a GCP service-account file, as an agent might cat it
    _s(
        "private-key",
        '{\n  "type": "service_account",\n  "private_key_id": "fa4e0d1c2b3a49f8e7d6",\n'
        '  "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + _PKCS8_BODY.replace("\n", "\\n")
        + '\\n-----END PRIVATE KEY-----\\n",\n  "client_email": "svc@p.iam.gserviceaccount.com"\n}',
        _PKCS8_BODY.split("\n")[1],
    ),
    # an Okta API token in its own header scheme
    _s(
        "auth-header",
        "Authorization: SSWS 00FAKEokta0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT",
        "00FAKEokta0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT",
    ),
]

#: Realistic strings with no secret in them; the redactor must leave them unchanged.
CLEAN: list[str] = [
    # hashes and identifiers
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (HEAD -> main, origin/main)",
    "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
    "Merge 3f2a9c1 into 7b4e0d2",
    "550e8400-e29b-41d4-a716-446655440000",
    "session 6F9619FF-8B86-D011-B42D-00C04FC964FF started",
    "d41d8cd98f00b204e9800998ecf8427e  empty.txt",
    "test_concurrent_promotion_with_many_writers",
    "tests/test_store.py::test_concurrent_promotion_with_many_writers PASSED",
    "AbstractSingletonProxyFactoryBean",
    "HTTP2ConnectionManagerFactoryBuilderV3Implementation",
    "com.example.bitloops.store.SqliteCheckpointRepositoryImpl2",
    "DEFAULT_MAX_PAYLOAD_BYTES_FOR_THE_RECORDING_PATH",
    # paths
    "/work/main/bitloops/store/sqlite.py",
    "/Users/Alice/Projects/MyApp2/src/main/java/com/Example/Foo2Bar/BazQuux.java",
    "C:\\Users\\Bob\\AppData\\Local\\Programs\\Python\\Python311\\python.exe",
    "node_modules/@types/node/v20/IncomingMessage.d.ts",
    "~/.cache/pip/wheels/7b/4e/0d/2a9c1f3e5d7b9a0c2e4f6a8b0d2f4a6c8e0b2d4f6a8c0e2",
    # base64 of short text
    "aGVsbG8gd29ybGQ=",
    "echo dGVzdA== | base64 -d",
    # prose
    "Reset the password via the admin panel, then rotate the token.",
    "The secret to fast tests is fewer fixtures; the password prompt only appears once.",
    "Use a bearer token for service-to-service calls and basic auth nowhere.",
    "GitHub tokens start with ghp_ or github_pat_, AWS key ids with AKIA.",
    "I renamed the function and updated the 14 call sites; all tests pass.",
    "5 passed, 1 skipped in 0.42s",
    # URLs without a password
    "https://github.com/bitloops/bitloops/pull/42#discussion_r1234567",
    "https://alice@example.com/repo.git",
    "postgres://localhost:5432/dev",
    "ssh://git@github.com:22/org/repo.git",
    "http://[::1]:8080/health?verbose=true",
    "https://example.com/search?q=password+reset&page=2",
    # code and configuration
    "def login(user: str, password: str) -> None:",
    "password = getpass.getpass()",
    'token = os.environ["GITHUB_TOKEN"]',
    "api_key=settings.API_KEY,",
    'headers = {"Authorization": f"Bearer {token}"}',
    "Authorization: Bearer <token>",
    'if password == "":',
    "password: ${DB_PASSWORD}",
    "PWD=/work/main",
    "OLDPWD=/home/alice",
    '{"usage": {"input_tokens": 1234, "output_tokens": 567}}',
    "max_tokens=4096, temperature=0.2",
    "PRAGMA journal_mode=WAL;",
    "pip install scikit-learn sk-learn-pipeline-defaults-for-testing",
    "2024-05-01T12:34:56.789Z INFO store: promoted checkpoint 42 in 3.1ms",
    "alice@example.com, 192.168.1.20, v1.2.3-rc.1",
    "grep root /etc/passwd",
    # lock files and checksums (issue 15, item 3)
    (
        '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcX'
        'Ps17LhbZVGedAJv8XZ1tvj5FvSg=="'
    ),
    (
        "  integrity sha512-ZmFrZWhhc2hmb3J0ZXN0cw0K3kLx9q+Qw7Rt2YbN1cV8dF0gH4jK6lM8nP0rS"
        "2tU4vW6xY8zA1bC3dE5fG7hI9jK1lM3nO5pQ=="
    ),
    "github.com/stretchr/testify v1.8.4 h1:CcVxjf3Q8PM0mHUKJCdn+eZZtm5yQwehR5yeSVQQcUk=",
    "golang.org/x/sys v0.15.0/go.mod h1:/VUhepiaJMQUp4+oa/7Zr1D23ma6VTLIYjOOTFZPUcA=",
    (
        '<script src="app.js" integrity="sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7H'
        'NQlGYl1kPzQho1wx4JwY8wC" crossorigin="anonymous"></script>'
    ),
    "--hash=sha256:99b87a485a5820b23b879f04c2305b44b951b502fd64be915879d77a7e8fc6f1",
    "uses: actions/checkout@b4ffde65f46336ab88eb53be808477a3936bae11",
    "FROM python:3.12-slim@sha256:2bac43769ace90ebd3ad83e5392295e25dfc58e58543d3ab326c3330b505283d",
    "golang.org/x/sys v0.0.0-20240318150000-3b4f5c6d7e8f // indirect",
    # embedded data: images, fonts, source maps
    (
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAA'
        "GXRFWHRTb2Z0d2FyZQBBZG9iZSBJbWFnZVJlYWR5ccllPAAAAUJJREFUeNqkU7FKA0EQfbu5u5xJMBqM"
        "hYVgoYWFhZ2ChYJg/oIBv0GwsLBQG0XBRhDEQrRQLAQbwUJBUcFG0EpRiMGYaKL3f8fd3Z7zgZk3M2/e"
        'm90FEQkDkUgkEolEIpFIJBKJRCKRSCT9H0TAKRkYGnZGAAAAAElFTkSuQmCC" alt="logo">'
    ),
    (
        "//# sourceMappingURL=data:application/json;charset=utf-8;base64,eyJ2ZXJzaW9uIjoz"
        "LCJzb3VyY2VzIjpbImluZGV4LnRzIl0sIm5hbWVzIjpbXSwibWFwcGluZ3MiOiJBQUFBLE9BQU8sQ0FB"
        "QyxHQUFHLENBQUMsT0FBTyxDQUFDLENBQUMifQ=="
    ),
    (
        "src: url(data:font/woff2;base64,d09GMgABAAAAAAnUAA4AAAAAEHAAAAl/AAEAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAP0ZGVE0cGh4GYACCehEICpQ0kCMLCgABNgIkAxAEIAWDJAeBHBtzBsgOJUHBwGBQ"
        "Kh4+FGQbCA==) format('woff2');"
    ),
    # public keys are not secrets
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop",
    (
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENj"
        "QEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg="
        " bob@ci"
    ),
    # Codex rollout files: the UUID is how bitloops finds them again
    "rollout-2025-01-01T10-00-00-550e8400-e29b-41d4-a716-446655440000.jsonl",
    (
        "/home/alice/.codex/sessions/2025/01/01/rollout-2025-01-01T10-00-00-0199a1b2-c3d4"
        "-7e5f-8a9b-0c1d2e3f4a5b.jsonl"
    ),
    '{"sessionId": "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "cwd": "/work/main"}',
    # prose and commands near the new cues
    "If the password is incorrect, the CLI exits with status 2.",
    "The token is valid for 3600 seconds; the password is never logged.",
    "mysql -u root -p",
    "mysql -h db.internal -P 3306 -u app shop < schema.sql",
    "Use --password-stdin instead of --password on the command line.",
    "def reset_password(user: User, new_password: str) -> None:",
    "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
    "the key-value store keeps 32 shards; monkey-patching the client is not needed",
    # identifiers and logs
    "arn:aws:iam::123456789012:role/DeployRole",
    "web-7d4b9c8f6d-x2k9p   1/1   Running   0   3d",
    "at com.example.billing.InvoiceServiceImpl2.render(InvoiceServiceImpl2.java:42)",
    "dist/assets/index-DiwrgTda.js   143.21 kB │ gzip: 46.10 kB",
    "Set-Cookie: theme=dark; Path=/; SameSite=Lax",
    '{"usage": {"cache_read_input_tokens": 20480, "cache_creation_input_tokens": 512}}',
]
