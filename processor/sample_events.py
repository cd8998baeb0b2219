"""Raw bounce events made from the samples the project ships (``samples/``).

Used by the demo, the integration tests and the benchmarks: each shipped email or SMTP
record is a template whose recipient addresses are rewritten to ``<name>+<n>@<domain>``,
so a few templates give any number of distinct raw events, every one of them real-shaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processor.paths import PROJECT_ROOT

SAMPLES_DIR = PROJECT_ROOT / "samples"
_ADDRESS = re.compile(
    rb"([A-Za-z0-9._%-]+)@((?:receiver|old-company|strict|mailbox-provider|customer)\.example)"
)

GARBAGE: list[bytes] = [
    b"\x00\x01\x02 not a bounce at all \xff\xfe",
    b'{"recipient": "broken-json@example.com", "diagnostic": ',
    b"Subject: hello\n\nJust a normal message, nobody bounced.\n",
    b"",
]


@dataclass(frozen=True)
class RawEvent:
    value: bytes
    content_type: str  # message/rfc822 | application/json | garbage
    template: str


def templates(samples_dir: Path = SAMPLES_DIR) -> list[RawEvent]:
    events = [
        RawEvent(path.read_bytes(), "message/rfc822", path.name)
        for path in sorted((samples_dir / "emails").glob("*.eml"))
    ]
    for number, line in enumerate(
        (samples_dir / "smtp-rejections.jsonl").read_text().splitlines(), 1
    ):
        if line.strip():
            events.append(
                RawEvent(line.encode(), "application/json", f"smtp-rejections.jsonl:{number}")
            )
    return events


def _vary(event: RawEvent, n: int) -> bytes:
    if event.content_type == "application/json":
        record = json.loads(event.value)
        local, _, domain = record["recipient"].partition("@")
        record["recipient"] = f"{local}+{n}@{domain}"
        return json.dumps(record).encode()
    return _ADDRESS.sub(
        lambda m: m.group(1) + b"+" + str(n).encode() + b"@" + m.group(2), event.value
    )


def generate(
    count: int, *, garbage_every: int = 0, kinds: str = "all", start: int = 0
) -> Iterator[RawEvent]:
    """``count`` raw events cycling through the templates; every ``garbage_every``-th one
    (if > 0) is garbage instead. ``kinds``: all | smtp | email. Addresses are numbered
    from ``start``, so runs with different starts touch different addresses."""
    pool = templates()
    if kinds == "smtp":
        pool = [e for e in pool if e.content_type == "application/json"]
    elif kinds == "email":
        pool = [e for e in pool if e.content_type == "message/rfc822"]
    for n in range(count):
        if garbage_every and n % garbage_every == garbage_every - 1:
            yield RawEvent(GARBAGE[(n // garbage_every) % len(GARBAGE)], "garbage", "garbage")
            continue
        template = pool[n % len(pool)]
        yield RawEvent(_vary(template, start + n), template.content_type, template.template)
