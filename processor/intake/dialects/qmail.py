"""qmail and its descendants (netqmail, vpopmail, Yahoo's old qmail-based relays).

Shape: "Hi. This is the qmail-send program at host." then, per failed recipient, a
line ``<address>:`` followed by the reason, and "--- Below this line is a copy of the
message." Reasons carry codes like ``(#5.1.1)`` and "Remote host said: 550 ...".
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import listed_recipients, section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "qmail"

_SIGNATURE = (
    "qmail-send program",
    "i'm afraid i wasn't able to deliver your message",
    "this message has been in the queue too long",
)
_START = re.compile(r"(?:following addresses|wasn't able to deliver)[^\n]*\n", re.IGNORECASE)
_RECIPIENT_LINE = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:", re.MULTILINE)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    listed = listed_recipients(_RECIPIENT_LINE, view.body_before_original)
    delayed = "too long" in view.body_before_original or "temporary" in view.subject.lower()
    return section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=listed or None,
        action="delayed" if delayed and "permanent" not in view.body_before_original else "failed",
    )
