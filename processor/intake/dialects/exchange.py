"""Microsoft Exchange 2003-2019 / Office 365 / Outlook.com bodies without a usable DSN.

Shapes: Exchange 2003 "Your message ... did not reach the following recipient(s):" with
``address on <date>`` lines, the reason and an ``MSEXCH:`` code below; Exchange 2007+
and Office 365 "Delivery has failed to these recipients or groups:" / "Your message to
... couldn't be delivered." with the remote server's reply under "Diagnostic
information for administrators" / "Remote Server returned '550 5.1.1 ...'".

In the administrators' section each recipient is followed by its own "Remote Server
returned" line: that line is the recipient's reply, whatever the order of the summary
above. When Exchange relays a downstream hop's rejection it wraps it
(``'554 5.7.0 < #5.7.133 smtp;550 5.7.133 RESOLVER.RST...>'``): the inner reply is the
real one, the outer 5.7.0 only says "rejected".
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses, find_reply_code, find_status
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


_REMOTE_REPLY = re.compile(
    r"^\s*Remote Server returned '(?P<reply>[^\n]+)", re.IGNORECASE | re.MULTILINE
)
# "554 5.7.0 < #5.7.133 smtp;550 5.7.133 ...>": the wrapped reply of a downstream hop.
_WRAPPED = re.compile(
    r"<\s*#(?P<status>[245]\.\d{1,3}\.\d{1,3})\s+smtp;\s*(?P<reply>.+?)>?'?\s*$", re.I
)


def parse(view: MessageView) -> list[BounceRecord]:
    records = section_records(view, dialect=NAME, start=_START)
    replies = _replies_by_recipient(view.body_before_original)
    if not replies:
        return records
    updated = []
    for record in records:
        reply = replies.get(record.recipient or "")
        if reply is None:
            updated.append(record)
            continue
        wrapped = _WRAPPED.search(reply)
        inner = wrapped.group("reply") if wrapped else reply
        status = find_status(inner) or (wrapped.group("status") if wrapped else None)
        update = {
            "diagnostic": " ".join(reply.rstrip("'").split())[:1000],
            "status": status or record.status,
            "smtp_code": find_reply_code(inner) or record.smtp_code,
        }
        updated.append(record.model_copy(update=update))
    return updated


def _replies_by_recipient(body: str) -> dict[str, str]:
    """Recipient -> its "Remote Server returned" line, from the administrators' section."""
    replies: dict[str, str] = {}
    lines = body.split("\n")
    for number, line in enumerate(lines):
        match = _REMOTE_REPLY.match(line)
        if match is None or number == 0:
            continue
        named = find_addresses(lines[number - 1])
        if len(named) == 1 and named[0] not in replies:
            replies[named[0]] = match.group("reply")
    return replies
