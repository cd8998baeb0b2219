"""Oracle (Sun, iPlanet) Communications Messaging Server and PMDF notifications.

Shape: "This report relates to a message you sent with the following header fields:"
then "Your message cannot be delivered to the following recipients:" and per recipient
``Recipient address:``, ``Reason:``, ``Diagnostic code: smtp; 550 ...``, ``Remote
system: dns; host``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "messagingserver"

_START = re.compile(
    r"(?:cannot|could not) be delivered to the following recipients?:|"
    r"has been delayed to the following recipients?:",
    re.IGNORECASE,
)
_RECIPIENT = re.compile(
    r"^\s*(?:Original|Recipient) address:\s*(\S+)", re.IGNORECASE | re.MULTILINE
)


def matches(view: MessageView) -> bool:
    return view.says_any(
        ("this report relates to a message you sent", "recipient address:", "original address:")
    )


def parse(view: MessageView) -> list[BounceRecord]:
    listed = [
        a for value in _RECIPIENT.findall(view.body_before_original) for a in find_addresses(value)
    ]
    delayed = "delayed" in view.subject.lower()
    return section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=list(dict.fromkeys(listed)) or None,
        action="delayed" if delayed else "failed",
    )
