"""Qualification speed: default rules, then 50 / 500 / 5000 generated rules.

Prints records per CPU-second (median of interleaved runs) for SMTP records qualified with
the default rule set, then for synthetic rule sets of 50, 500 and 5000 rules over a
realistic mix of diagnostics, and the 5000 / 50 cost ratio (target: at most 2x). The
default rules also run on the same mix with every text made unique (a queue id of its
own), as most real replies are: they name the recipient or carry a queue id.

    .venv/bin/python benchmarks/bench_rules.py [--runs 5] [--records 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import timeit
from typing import Any

from processor.intake.record import BounceRecord, RecordKind
from processor.qualify import Engine, build_ruleset, load_engine, load_ruleset

DIAGNOSTICS = [
    "550 5.1.1 <{u}@example.com>: Recipient address rejected: User unknown in virtual "
    "mailbox table",
    "550-5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos. gsmtp",
    "552 5.2.2 <{u}@example.org>: user is over quota",
    "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
    "volume or user complaints",
    "550 5.7.606 Access denied, banned sending IP [198.51.100.2]. To request removal from "
    "this list please visit https://sender.office.com/",
    "554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using zen.spamhaus.org",
    "451 4.3.0 Temporary lookup failure",
    "550 Requested action not taken: mailbox unavailable",
    "421 4.4.2 Connection timed out while talking to mx.example.net",
    "250 2.0.0 OK queued as 4B7C1",
]
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "mailbox",
    "account",
    "domain",
    "server",
    "sender",
    "relay",
    "quota",
    "policy",
    "message",
    "content",
    "address",
    "network",
    "session",
    "storage",
    "archive",
    "transfer",
    "routing",
    "signature",
    "reputation",
]


def records(n: int, seed: int = 7, *, unique: bool = False) -> list[BounceRecord]:
    """``n`` SMTP records over a mix of real-looking diagnostics: two in ten name their
    recipient, the others repeat word for word. ``unique``: every diagnostic ends with a
    queue id of its own, so that no text repeats."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        diag = rng.choice(DIAGNOSTICS).format(u=f"user{i}")
        if unique:
            diag += f" (queue id {i:08X})"
        out.append(
            BounceRecord(
                kind=RecordKind.SMTP,
                recipient=f"user{i}@example.com",
                diagnostic=diag,
                smtp_code=int(diag[:3]),
            )
        )
    return out


def generated_rules(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` synthetic rules in the style of real ones: two or three word phrases made of
    a random made-up word and common words, some anchored with \\b, some not."""
    rng = random.Random(seed)
    rules = []
    for i in range(n):
        made_up = "".join(
            rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3)
        )
        words = [rng.choice(WORDS), made_up, rng.choice(WORDS)]
        rng.shuffle(words)
        phrase = r"\s".join(words[: rng.choice((2, 3))])
        pattern = rf"\b{phrase}\b" if i % 2 else phrase
        rules.append(
            {
                "id": f"gen.rule-{i:05d}",
                "description": "generated",
                "pattern": pattern,
                "detail": rng.choice(["userunknown", "mailboxfull", "blocked", "spamdetected"]),
                "priority": rng.randint(1, 300),
                "examples": [" ".join(words[: rng.choice((2, 3))])],
            }
        )
    return rules


def engine_with(n: int) -> Engine:
    """The default rule set's manifest and details with ``n`` generated rules."""
    base = load_ruleset()
    docs = {
        "manifest.yaml": base.documents["manifest.yaml"],
        "details.yaml": base.documents["details.yaml"],
        "bounce/generated.yaml": {"rules": generated_rules(n)},
    }
    return Engine(build_ruleset(docs))


def one_pass(engine: Engine, recs: list[BounceRecord]) -> float:
    """Records per CPU-second of one pass (process CPU time: robust on a shared machine)."""
    qualify = engine.qualify
    start = time.process_time()
    for r in recs:
        qualify(r)
    return len(recs) / max(time.process_time() - start, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()
    recs = records(args.records)
    unique = records(args.records, unique=True)

    engines: dict[str, Engine] = {"default": load_engine()}
    for n in (50, 500, 5000):
        engines[str(n)] = engine_with(n)
    for e in engines.values():  # warm-up
        for r in recs[:2000]:
            e.qualify(r)
    # interleave the runs so that load changes on the machine hit every size alike
    samples: dict[str, list[float]] = {k: [] for k in [*engines, "default, unique"]}
    for _ in range(args.runs):
        for name, e in engines.items():
            samples[name].append(one_pass(e, recs))
        samples["default, unique"].append(one_pass(engines["default"], unique))
    rates = {k: statistics.median(v) for k, v in samples.items()}
    # how fast this machine runs plain Python, to compare figures across machines
    calib = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(f"calibration: sum(range(1000)) = {calib:.1f} us on this machine")
    default = engines["default"]
    print(
        f"default rules ({len(default.rules)} rules, {default.version}): "
        f"{rates['default']:,.0f} records/s per core (median of {args.runs}; "
        f"best run {max(samples['default']):,.0f}, the least disturbed on a shared machine)"
    )
    print(
        f"default rules, every text unique: {rates['default, unique']:,.0f} records/s per "
        f"core (best run {max(samples['default, unique']):,.0f})"
    )
    for n in (50, 500, 5000):
        print(f"{n:>5} generated rules: {rates[str(n)]:,.0f} records/s")
    ratio = rates["50"] / rates["5000"]
    print(f"cost ratio 5000/50: {ratio:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
