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


# the legacy notice's lead-in to the remote reply: Google's own prose before it ("Google
# tried to deliver your message, but it was rejected by the server for the recipient
# domain example.org by mx.example.org. [192.0.2.1].") is not the reason
_REPLY_LEAD = re.compile(r"\bThe error that the other server returned was:\s*", re.IGNORECASE)
# "... rejected by the server for the recipient domain example.org by mx.example.org. [ip]."
_REJECTED_BY = re.compile(
    r"\bfor the recipient domain \S+ by ([A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9])\.? \[",
    re.IGNORECASE,
)


def _remote_reply(record: BounceRecord) -> BounceRecord:
    """The legacy notice's record with the remote server's reply as its diagnostic and
    the host Google named as its remote MTA."""
    diagnostic = record.diagnostic or ""
    lead = _REPLY_LEAD.search(diagnostic)
    if lead is None or not diagnostic[lead.end() :].strip():
        return record
    update: dict[str, object] = {"diagnostic": diagnostic[lead.end() :].strip()}
    host = _REJECTED_BY.search(diagnostic[: lead.start()])
    if host and not record.remote_mta:
        update["remote_mta"] = host.group(1).lower()
    return record.model_copy(update=update)


def matches(view: MessageView) -> bool:
    sender = view.from_address or ""
    if not sender.endswith(("@googlemail.com", "@google.com", "@gmail.com")):
        return False
    return "Google Groups" not in view.body_before_original


def parse(view: MessageView) -> list[BounceRecord]:
    failed = find_addresses(view.header("X-Failed-Recipients") or "")
    delayed = "delayed" in view.body_before_original[:500] or "Delay" in view.subject
    records = section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=failed or None,
        action="delayed" if delayed else "failed",
    )
    return [_remote_reply(record) for record in records]
