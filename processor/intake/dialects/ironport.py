"""A gateway bounce template named after Cisco Secure Email (IronPort AsyncOS), whose
default bounce it follows as far as we know that template's wording (written from the
wording, not from a captured sample; other gateways send the same text).

Shape: "This Message was undeliverable due to the following reason:" then one or more
paragraphs stating the reason (a queue expiry: "Your message was not delivered within
3 days: Host 192.0.2.1 is not responding."; a remote refusal with its reply), then "The
following recipients did not receive this message:" listing the addresses, and "Please
reply to postmaster@... if you feel this message to be in error." The reason is said once
for every listed recipient.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import (
    candidate_recipients,
    reason_lines,
    remote_host,
    section,
)
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "ironport"

_SIGNATURE = ("this message was undeliverable due to the following reason",)
_REASON_START = re.compile(r"undeliverable due to the following reasons?:", re.IGNORECASE)
_RECIPIENTS_START = re.compile(
    r"^\s*The following recipients? did not receive this message:", re.IGNORECASE | re.MULTILINE
)
_RECIPIENTS_END = re.compile(r"^\s*Please reply to ", re.IGNORECASE | re.MULTILINE)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    listed = section(body, _RECIPIENTS_START, _RECIPIENTS_END)
    recipients = candidate_recipients(view, listed, include_parties=False)
    if not recipients:
        return []
    reason = section(body, _REASON_START, _RECIPIENTS_START)
    # the remote reply when one is quoted, else the whole explanation (a queue expiry)
    diagnostic = reason_lines(reason) or " ".join(reason.split()) or None
    return [
        view.record(
            recipient=recipient,
            dialect=NAME,
            diagnostic=diagnostic,
            remote_mta=remote_host(diagnostic or ""),
        )
        for recipient in recipients
    ]
