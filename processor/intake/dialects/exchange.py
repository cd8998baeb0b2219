"""Microsoft Exchange 2003-2019 / Office 365 / Outlook.com bodies without a usable DSN.

Shapes: Exchange 2003 "Your message ... did not reach the following recipient(s):" with
``address on <date>`` lines, the reason and an ``MSEXCH:`` code below; Exchange 2007+
and Office 365 "Delivery has failed to these recipients or groups:" / "Your message to
... couldn't be delivered." with the remote server's reply under "Diagnostic
information for administrators" / "Remote Server returned '550 5.1.1 ...'".
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "exchange"

_SIGNATURE = (
    "did not reach the following recipient",
    "delivery has failed to these recipients",
    "couldn't be delivered to",
    "could not be delivered to",
    "remote server returned",
    "diagnostic information for administrators",
    "msexch:",
    "the following recipient(s) cannot be reached",
    "your message wasn't delivered",
)
_STRONG_SIGNATURE = (
    "msexch:",
    "did not reach the following recipient",
    "delivery has failed to these",
    "diagnostic information for administrators",
    "remote server returned '",
)
_START = re.compile(
    r"did not reach the following recipient\(s\):|"
    r"Delivery has failed to these recipients or groups:|"
    r"The following recipient\(s\) cannot be reached:|"
    r"Your message (?:to [^\n]* )?(?:couldn't|could not) be delivered[^\n]*",
    re.IGNORECASE,
)


def matches(view: MessageView) -> bool:
    if view.has_header("X-MS-Exchange-Message-Is-Ndr"):
        return True
    mailer = (view.header("X-Mailer") or "") + (view.header("X-MimeOLE") or "")
    if "Exchange" in mailer or "microsoftexchange" in view.from_header.lower():
        return view.says_any(_SIGNATURE)
    return view.says_any(_STRONG_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    return section_records(view, dialect=NAME, start=_START)
