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

_SIGNATURE = re.compile(
    r"did not reach the following recipient|Delivery has failed to these recipients|"
    r"couldn't be delivered to|could not be delivered to|Remote Server returned|"
    r"Diagnostic information for administrators|MSEXCH:|"
    r"The following recipient\(s\) cannot be reached|Your message wasn't delivered",
    re.IGNORECASE,
)
_STRONG_SIGNATURE = re.compile(
    r"MSEXCH:|did not reach the following recipient|Delivery has failed to these|"
    r"Diagnostic information for administrators|Remote Server returned '",
    re.IGNORECASE,
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
    body = view.body_before_original[:4000]
    if "Exchange" in mailer or "microsoftexchange" in view.from_header.lower():
        return bool(_SIGNATURE.search(body))
    return bool(_STRONG_SIGNATURE.search(body))


def parse(view: MessageView) -> list[BounceRecord]:
    return section_records(view, dialect=NAME, start=_START)
