"""IBM / HCL Notes and Domino bounces.

Notes: "------- Failure Reasons --------" with the reason then the address. Domino:
"Your message ... was not delivered to: <address> because: <reason>" (often beside a
proper DSN, whose per-recipient fields then win).
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "notes"

_START = re.compile(r"-{3,}\s*Failure Reasons\s*-{3,}\n|was not delivered to:\s*\n?", re.IGNORECASE)
_END = re.compile(r"^-{3,}\s*(?:Returned|Original) ", re.IGNORECASE | re.MULTILINE)


def matches(view: MessageView) -> bool:
    body = view.body_before_original[:3000]
    if "Failure Reasons" in body:
        return True
    return "was not delivered to:" in body and "because:" in body


def parse(view: MessageView) -> list[BounceRecord]:
    return section_records(view, dialect=NAME, start=_START, end=_END)
