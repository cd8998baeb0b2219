"""Yahoo! Mail (and AOL / Verizon Media) "Failure Notice" bodies.

Shape: "Sorry, we were unable to deliver your message to the following address." then
``<address>:`` and "Remote host said: 550 ... [RCPT_TO]" (or the local reason).
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "yahoo"

_START = re.compile(
    r"Sorry,? we were unable to deliver your message to the following address[^\n]*\n",
    re.IGNORECASE,
)
_END = re.compile(r"^-{2,} ?(?:Below this line|Original message)", re.IGNORECASE | re.MULTILINE)


def matches(view: MessageView) -> bool:
    return view.says_any(("we were unable to deliver your message to the following address",))


def parse(view: MessageView) -> list[BounceRecord]:
    return section_records(view, dialect=NAME, start=_START, end=_END)
