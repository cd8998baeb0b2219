"""IBM / HCL Notes and Domino bounces.

Notes: "------- Failure Reasons --------" followed, per recipient, by the reason line(s)
and then the address. Domino: "Your message ... was not delivered to: <address>
because: <reason>" (often beside a proper DSN, whose per-recipient fields then win).
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import candidate_recipients, section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "notes"

_FAILURE_REASONS = re.compile(r"-{3,}\s*Failure Reasons\s*-{3,}[^\n]*\n", re.IGNORECASE)
_DOMINO_START = re.compile(r"was not delivered to:\s*\n?", re.IGNORECASE)
_BECAUSE = re.compile(r"^because:\s*", re.IGNORECASE)
_END = re.compile(r"^-{3,}\s*(?:Returned|Original) ", re.IGNORECASE | re.MULTILINE)


def matches(view: MessageView) -> bool:
    body = view.body_before_original[:3000]
    if "Failure Reasons" in body:
        return True
    return "was not delivered to:" in body and "because:" in body


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    reasons = _FAILURE_REASONS.search(body)
    if reasons is None:
        records = section_records(view, dialect=NAME, start=_DOMINO_START, end=_END)
        # the template's own "because:" heads the reason: it is no part of it
        return [
            record.model_copy(update={"diagnostic": _BECAUSE.sub("", record.diagnostic)})
            if record.diagnostic and _BECAUSE.match(record.diagnostic)
            else record
            for record in records
        ]
    # Notes puts each reason *before* the address it concerns.
    records = []
    pending: list[str] = []
    for line in body[reasons.end() :].split("\n"):
        found = candidate_recipients(view, line, include_parties=False)
        if found:
            diagnostic = " ".join(pending) or None
            records.append(view.record(recipient=found[0], dialect=NAME, diagnostic=diagnostic))
            pending = []
        elif line.strip() and not line.strip().startswith("---"):
            pending.append(line.strip())
    return records
