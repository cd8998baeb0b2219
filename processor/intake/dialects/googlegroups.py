"""Google Groups rejections: a post to a group that does not exist or refuses the sender.

Sent from ``mailer-daemon@googlemail.com`` with ``X-Failed-Recipients`` naming the group
address; the body is localised prose ("Google Groups") with no SMTP reply, so the
diagnostic is the explanatory text. When the notice comes without that header and the
quoted original has no ``To`` (a paste, often ``> ``-quoted), the group address is the
``for <address>`` clause of the original's ``Received`` line (Google's MX names the group
it was delivering to).
"""

from __future__ import annotations

import re

from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "googlegroups"

# "by gmr-mx.google.com with ESMTP id ...\n  for group@googlegroups.com;" in the original.
_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;@]+@[^\s<>;]+?)>?\s*;", re.IGNORECASE)


def matches(view: MessageView) -> bool:
    body = view.body_before_original
    return "Google Groups" in body or (
        "groups.google." in body and view.has_header("X-Failed-Recipients")
    )


def parse(view: MessageView) -> list[BounceRecord]:
    recipients = (
        find_addresses(view.header("X-Failed-Recipients") or "")
        or view.original_recipients[:1]
        or _received_for(view)
    )
    diagnostic = " ".join(view.body_before_original.split())[:1000]
    return [view.record(recipient=r, dialect=NAME, diagnostic=diagnostic) for r in recipients]


def _received_for(view: MessageView) -> list[str]:
    """The first ``Received: ... for <address>;`` address in the quoted original."""
    quoted = view.body_text[len(view.body_before_original) :]
    for match in _RECEIVED_FOR.finditer(quoted):
        addresses = [a for a in find_addresses(match.group(1)) if a not in view.sender_addresses]
        if addresses:
            return addresses[:1]
    return []
