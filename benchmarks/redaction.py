"""Redaction: bitloops' Redactor against detect-secrets 1.5.0, on the same corpus, same run.

* recall: share of the fake secrets in ``tests/secrets_corpus.py`` caught. Ours catches a
  secret when it is gone after ``redact``; detect-secrets when it flags a line of the
  text (its own verdict, as ``detect-secrets scan --string`` prints it).
* false positives: clean corpus strings changed (ours) or flagged (detect-secrets).
* speed: µs per corpus line, and µs per typical ~300-byte payload as canonical JSON
  (``redact_json`` for ours, ``scan_line`` on the JSON text for detect-secrets).

detect-secrets is only needed here; without it the script measures ours alone.
Run: ``python benchmarks/redaction.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import PAYLOAD, machine, median, table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from secrets_corpus import CLEAN, SECRETS

from bitloops.codec import canonical_dumps
from bitloops.redact import default_redactor

ROUNDS = 7

Scanner = Callable[[str], bool]


def per_call_us(fn: Callable[[str], object], inputs: Sequence[str], min_seconds: float) -> float:
    """Median over ROUNDS of the mean time of ``fn`` per input, in µs."""
    loops = 1
    while True:  # size one round to take at least min_seconds
        start = time.perf_counter()
        for _ in range(loops):
            for item in inputs:
                fn(item)
        if time.perf_counter() - start >= min_seconds:
            break
        loops *= 2
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(loops):
            for item in inputs:
                fn(item)
        rounds.append((time.perf_counter() - start) / (loops * len(inputs)))
    return median(rounds) * 1e6


def detect_secrets_scanner() -> tuple[Scanner, Callable[[], Any]] | None:
    """A line flagger using detect-secrets' ad-hoc API with all plugins, or None."""
    try:
        from detect_secrets.core.plugins import initialize
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    plugins: dict[str, Any] = {}

    def flags(line: str) -> bool:
        # scan_line reports every entropy candidate and leaves the limit to the caller;
        # format_scan_result gives the plugin's own verdict, as the CLI prints it.
        for secret in scan_line(line):
            plugin = plugins.get(secret.type)
            if plugin is None:
                plugin = plugins[secret.type] = initialize.from_secret_type(secret.type)
            if plugin.format_scan_result(secret).startswith("True"):
                return True
        return False

    return flags, default_settings


def main() -> None:
    """Measure both tools and print the comparison."""
    redactor = default_redactor()
    payload = canonical_dumps(PAYLOAD)
    lines = [line for s in SECRETS for line in s.text.splitlines() if line] + CLEAN
    families = sorted({s.family for s in SECRETS})

    ours_found = [s.secret not in redactor.redact(s.text) for s in SECRETS]
    ours_fp = sum(redactor.redact(c) != c for c in CLEAN)
    ours_line = per_call_us(redactor.redact, lines, 0.2)
    ours_payload = per_call_us(redactor.redact_json, [payload], 0.2)
    assert redactor.redact_json(payload) is payload, "the typical payload holds no secret"

    headers = ["", "bitloops Redactor"]
    rows: list[list[object]] = [
        ["recall (fake secrets caught)", f"{sum(ours_found)}/{len(SECRETS)}"],
        ["false positives (clean strings)", f"{ours_fp}/{len(CLEAN)}"],
        ["µs per line", f"{ours_line:.1f}"],
        [f"µs per {len(payload.encode())}-byte payload", f"{ours_payload:.1f}"],
    ]
    by_family = {
        f: [sum(ok for s, ok in zip(SECRETS, ours_found, strict=True) if s.family == f)]
        for f in families
    }

    ds = detect_secrets_scanner()
    if ds is None:
        print("detect-secrets is not installed: pip install detect-secrets==1.5.0 to compare.")
        conclusion = ""
    else:
        flags, default_settings = ds
        with default_settings():
            ds_found = [any(flags(line) for line in s.text.splitlines()) for s in SECRETS]
            ds_fp = sum(flags(c) for c in CLEAN)
            ds_line = per_call_us(flags, lines, 1.0)
            ds_payload = per_call_us(flags, [payload], 1.0)
        headers.append("detect-secrets 1.5.0")
        for row, value in zip(
            rows,
            [
                f"{sum(ds_found)}/{len(SECRETS)}",
                f"{ds_fp}/{len(CLEAN)}",
                f"{ds_line:.1f}",
                f"{ds_payload:.1f}",
            ],
            strict=True,
        ):
            row.append(value)
        for f in families:
            by_family[f].append(
                sum(ok for s, ok in zip(SECRETS, ds_found, strict=True) if s.family == f)
            )
        conclusion = (
            f"Conclusion: ours caught {sum(ours_found)}/{len(SECRETS)} with {ours_fp} false "
            f"positives vs {sum(ds_found)}/{len(SECRETS)} with {ds_fp}/{len(CLEAN)} for "
            f"detect-secrets, and is {ds_payload / ours_payload:.0f}x faster per payload "
            f"({ours_payload:.1f} µs vs {ds_payload:.0f} µs)."
        )

    print(f"Redaction benchmark ({machine()})")
    print(f"{len(SECRETS)} fake secrets, {len(CLEAN)} clean strings, {len(lines)} lines timed\n")
    print(table(headers, rows))
    print()
    counts = {f: sum(s.family == f for s in SECRETS) for f in families}
    print(
        table(
            ["caught, by family", *headers[1:]],
            [[f"{f} ({counts[f]})", *by_family[f]] for f in families],
        )
    )
    if conclusion:
        print()
        print(conclusion)


if __name__ == "__main__":
    main()
