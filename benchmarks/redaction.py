"""Redaction: bitloops' Redactor against detect-secrets 1.5.0, on the same corpus, same run.

* recall: share of the fake secrets in ``tests/secrets_corpus.py`` caught. Ours catches a
  secret when it is gone after ``redact``; detect-secrets when it flags a line of the
  text (its own verdict, as ``detect-secrets scan --string`` prints it).
* false positives: clean corpus strings changed (ours) or flagged (detect-secrets).
* speed: µs per corpus line, and µs per typical ~300-byte payload as canonical JSON
  (``redact_json`` for ours, ``scan_line`` on the JSON text for detect-secrets).
* recall over random instances (ours): for every secret type in
  ``tests/secrets_generators.py``, 200 seeded random instances, each caught when none of
  its fragments survives, both as text (``redact``) and inside canonical JSON
  (``redact_json``); overall, per type, and the lowest type.

detect-secrets is only needed here; without it the script measures ours alone.
Run: ``python benchmarks/redaction.py``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import PAYLOAD, machine, median, table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from secrets_corpus import CLEAN, SECRETS
from secrets_generators import GENERATORS, instances

from bitloops._codec import canonical_dumps
from bitloops.redact import default_redactor

ROUNDS = 7
PER_TYPE = 200

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


def generated_recall(redactor: Any) -> dict[str, tuple[float, float]]:
    """Per secret type: the share of random instances caught in text, and in JSON."""
    out = {}
    for name in GENERATORS:
        text_ok = json_ok = 0
        for item in instances(name, PER_TYPE):
            redacted = redactor.redact(item.text)
            text_ok += all(f not in redacted for f in item.fragments)
            in_json = redactor.redact_json(canonical_dumps({"x": item.text}))
            decoded = json.loads(in_json)["x"]
            json_ok += all(f not in decoded for f in item.fragments)
        out[name] = (text_ok / PER_TYPE, json_ok / PER_TYPE)
    return out


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

    recall = generated_recall(redactor)
    print(f"\nRecall over random instances ({PER_TYPE} per type, seeded), bitloops Redactor")
    print(
        table(
            ["type", "text", "json"],
            [[name, f"{t:.1%}", f"{j:.1%}"] for name, (t, j) in sorted(recall.items())],
        )
    )
    text_rates = [t for t, _ in recall.values()]
    json_rates = [j for _, j in recall.values()]
    low_text = min(recall, key=lambda n: recall[n][0])
    low_json = min(recall, key=lambda n: recall[n][1])
    print(
        f"\n{len(recall)} types, {len(recall) * PER_TYPE} instances: overall recall "
        f"{sum(text_rates) / len(text_rates):.2%} as text, {sum(json_rates) / len(json_rates):.2%} "
        f"in JSON; lowest type {low_text} {recall[low_text][0]:.1%} (text), "
        f"{low_json} {recall[low_json][1]:.1%} (JSON); false positives {ours_fp}/{len(CLEAN)}; "
        f"{ours_payload:.1f} µs per {len(payload.encode())}-byte payload."
    )


if __name__ == "__main__":
    main()
