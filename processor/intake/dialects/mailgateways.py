"""Mail security gateways and small servers that transcribe the SMTP dialogue.

Trend Micro InterScan MSS ("Sent <<< RCPT TO:<address>" / "Received >>> 550 ..."),
Ipswitch IMail ("Unknown user: address", "Body of message generated response:"),
MailFoundry ("Unable to deliver message to: <address>"), McAfee / MXLogic,
SurfControl, MailMarshal: the failed recipient is the one in the transcribed
``RCPT TO`` or named right before the reason.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "mailgateway"

_SIGNATURE = re.compile(
    r"Sent <<< RCPT TO:|Received >>> \d{3}|Unknown user: \S+@|Body of message generated response|"
    r"Unable to deliver message to: |Delivery failed for the following reason|"
    r"original message (?:was|could) not be delivered|"
    r"InterScan|MailMarshal|SurfControl|McAfee",
    re.IGNORECASE,
)
_RCPT = re.compile(
    r"(?:Sent <<< |>>> |^\s*)RCPT TO:\s*<?([^<>\s]+@[^<>\s]+)>?", re.IGNORECASE | re.MULTILINE
)


def matches(view: MessageView) -> bool:
    return bool(_SIGNATURE.search(view.body_before_original[:4000]))


def parse(view: MessageView) -> list[BounceRecord]:
    listed = [
        a for value in _RCPT.findall(view.body_before_original) for a in find_addresses(value)
    ]
    return section_records(view, dialect=NAME, recipients=list(dict.fromkeys(listed)) or None)
