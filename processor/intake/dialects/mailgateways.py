"""Mail security gateways and small servers that transcribe the SMTP dialogue.

Trend Micro InterScan MSS ("Sent <<< RCPT TO:<address>" / "Received >>> 550 ..."),
Ipswitch IMail ("Unknown user: address", "Body of message generated response:"),
MailFoundry ("Unable to deliver message to: <address>"), McAfee / MXLogic,
SurfControl, MailMarshal: the failed recipient is the one in the transcribed
``RCPT TO`` or named right before the reason.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import listed_recipients, section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "mailgateway"

_SIGNATURE = (
    "sent <<< rcpt to:",
    "received >>> ",
    "unknown user: ",
    "body of message generated response",
    "unable to deliver message to: ",
    "delivery failed for the following reason",
    "original message was not delivered",
    "original message could not be delivered",
    "interscan",
    "mailmarshal",
    "surfcontrol",
    "mcafee",
)
_RCPT = re.compile(
    r"(?:Sent <<< |>>> |^\s*)RCPT TO:\s*<?([^<>\s]+@[^<>\s]+)>?", re.IGNORECASE | re.MULTILINE
)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    listed = listed_recipients(_RCPT, view.body_before_original)
    return section_records(view, dialect=NAME, recipients=listed or None)
