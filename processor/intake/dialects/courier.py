"""Courier MTA delivery status notifications read from their text part.

Shape: "This is a delivery status notification from host, running the Courier mail
server, version ...", a dashed rule, "UNDELIVERABLE MAIL" (or "DELAYED MAIL"), "Your
message to the following recipients cannot be delivered:" then per recipient
``<address>:``, an indented ``mx.example.org [192.0.2.1]:`` line naming the remote
server and the transcript (``>>> RCPT TO:<address>`` / ``<<< 550 ...``), and a closing
dashed rule before boilerplate about other recipients.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import HOST_NAME, listed_recipients, section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "courier"

_SIGNATURE = ("running the courier mail server",)
_START = re.compile(r"following recipients? (?:cannot|could not) be delivered[^\n]*\n", re.I)
_END = re.compile(r"^-{10,}\s*$", re.MULTILINE)
_RECIPIENT_LINE = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:\s*$", re.MULTILINE)
_HOST_LINE = re.compile(r"^\s+(" + HOST_NAME + r") \[[\d.:a-fA-F]+\]:\s*$", re.MULTILINE)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    listed = listed_recipients(_RECIPIENT_LINE, view.body_before_original)
    records = section_records(
        view,
        dialect=NAME,
        start=_START,
        end=_END,
        recipients=listed or None,
        action="delayed" if "delayed" in view.opening[:2000] else "failed",
    )
    body = view.body_before_original
    lowered = body.lower()
    return [_with_remote_host(body, lowered, record) for record in records]


def _with_remote_host(body: str, lowered: str, record: BounceRecord) -> BounceRecord:
    """The ``host [ip]:`` line under the recipient names the server that refused it."""
    if record.remote_mta or not record.recipient:
        return record
    at = lowered.find(f"<{record.recipient}>:")
    host = _HOST_LINE.search(body, at) if at != -1 else None
    if host is None or body[at : host.start()].count("\n") > 2:
        return record
    return record.model_copy(update={"remote_mta": host.group(1).lower()})
