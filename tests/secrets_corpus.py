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
]
