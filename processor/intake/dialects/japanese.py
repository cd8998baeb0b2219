"""Japanese mobile carriers: au / KDDI (ezweb.ne.jp, dion.ne.jp), NTT docomo, SoftBank.

Their bounces mix Japanese boilerplate (ISO-2022-JP, EUC-JP or Shift_JIS, often
undeclared) with short English lines: "Each of the following recipients was rejected
by a remote mail server.", "Could not be delivered to: <address>", "The user(s)
account is disabled.", ``<address>: unknown user``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "japanese"

_CARRIER_DOMAINS = re.compile(
    r"@(?:[\w.-]+\.)?(?:ezweb\.ne\.jp|au\.com|dion\.ne\.jp|docomo\.ne\.jp|softbank\.ne\.jp|"
    r"i\.softbank\.jp|vodafone\.ne\.jp|disney\.ne\.jp|biglobe\.ne\.jp)\b",
    re.IGNORECASE,
)
_START = re.compile(
    r"Each of the following recipients was rejected[^\n]*(?:\n[^\n]*server\.)?|"
    r"Could not be delivered to:|The user\(s\) account is (?:disabled|temporarily)[^\n]*",
    re.IGNORECASE,
)


def matches(view: MessageView) -> bool:
    return (
        bool(_CARRIER_DOMAINS.search(view.from_header)) or "(EZweb Mail)" in view.body_text[:3000]
    )


def parse(view: MessageView) -> list[BounceRecord]:
    return section_records(view, dialect=NAME, start=_START)
