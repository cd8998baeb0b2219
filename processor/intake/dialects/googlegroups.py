"""Google Groups rejections: a post to a group that does not exist or refuses the sender.

Sent from ``mailer-daemon@googlemail.com`` with ``X-Failed-Recipients`` naming the group
address; the body is localised prose ("Google Groups") with no SMTP reply, so the
diagnostic is the explanatory text.
"""

from __future__ import annotations

from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "googlegroups"


def matches(view: MessageView) -> bool:
    body = view.body_before_original
    return "Google Groups" in body or (
        "groups.google." in body and view.has_header("X-Failed-Recipients")
    )


def parse(view: MessageView) -> list[BounceRecord]:
    recipients = (
        find_addresses(view.header("X-Failed-Recipients") or "") or view.original_recipients[:1]
    )
    diagnostic = " ".join(view.body_before_original.split())[:1000]
    return [view.record(recipient=r, dialect=NAME, diagnostic=diagnostic) for r in recipients]
