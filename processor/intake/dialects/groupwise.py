"""Novell / Micro Focus GroupWise Internet Agent (GWIA) "Message status - undeliverable".

Shape: "The message that you sent was undeliverable to the following:" then one line
per recipient, ``address (reason)`` ("user not found", "host not found", "mailbox
full"...), sometimes a "Possible Reason:" hint written for the whole message, then
"Possibly truncated original message follows:". Each recipient's reason is the one in
parentheses on its own line; the shared hint only fills in for a line without one.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import normalize_address
from processor.intake.view import MessageView

NAME = "groupwise"

_SIGNATURE = ("was undeliverable to the following",)
_START = re.compile(r"was undeliverable to the following:?[^\n]*\n", re.IGNORECASE)
_RECIPIENT_LINE = re.compile(
    r"^[ \t]*<?([^<>()\s]+@[^<>()\s]+?)>?[ \t]+\(([^()\n]+)\)[ \t]*$", re.M
)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    start = _START.search(body)
    listed = _RECIPIENT_LINE.findall(body[start.end() :]) if start else []
    if not listed:
        return section_records(view, dialect=NAME, start=_START)
    records: dict[str, BounceRecord] = {}
    for address, reason in listed:
        recipient = normalize_address(address)
        if recipient and recipient not in records and recipient not in view.sender_addresses:
            records[recipient] = view.record(
                recipient=recipient, dialect=NAME, diagnostic=reason.strip()
            )
    return list(records.values())
