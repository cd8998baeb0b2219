"""Gmail / Google Workspace bounces from ``mailer-daemon@googlemail.com`` without a DSN.

Shape: "Delivery to the following recipient failed permanently:" (or "... has been
delayed", "... failed"), the address indented on the next line, then "Technical
details of permanent failure:" with "The error that the other server returned was:"
and the remote reply. Newer ones ("Address not found", "Message not delivered") put the
address in prose and the reply under "The response was:" / "The response from the
remote server was:". Google sets ``X-Failed-Recipients``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "gmail"

_START = re.compile(
    r"Delivery to the following recipients? (?:failed|has been delayed)[^\n]*\n|"
    r"(?:Address not found|Message not delivered|Message blocked)\s*\n",
    re.IGNORECASE,
)


def matches(view: MessageView) -> bool:
    sender = view.from_address or ""
    if not sender.endswith(("@googlemail.com", "@google.com", "@gmail.com")):
        return False
    return "Google Groups" not in view.body_before_original


def parse(view: MessageView) -> list[BounceRecord]:
    failed = find_addresses(view.header("X-Failed-Recipients") or "")
    delayed = "delayed" in view.body_before_original[:500] or "Delay" in view.subject
    return section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=failed or None,
        action="delayed" if delayed else "failed",
    )
