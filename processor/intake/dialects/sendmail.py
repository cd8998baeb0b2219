"""Sendmail (8.x and the older V5 / V8 "Returned mail" format) without a usable DSN part.

Shape: "----- The following addresses had permanent fatal errors -----" listing
recipients, each optionally followed by "(reason: 550 ...)", then "----- Transcript of
session follows -----" with lines like ``550 5.1.1 <addr>... User unknown``. Old V5
bounces only have the transcript, with ``554 <addr>... reason`` lines.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import (
    listed_recipients,
    reason_text,
    recipient_blocks,
    records_from_blocks,
)
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "sendmail"

_SIGNATURE = (
    "- the following addresses had",
    "-- the following addresses had",
    "transcript of session follows",
    "unsent message follows",
    "-- original message follows",
)
_ADDRESSES = re.compile(
    r"-+ ?The following addresses had [^\n]*-+\n(.*?)(?:\n\s*\n|\n\s*-{3,}|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_TRANSCRIPT = re.compile(
    r"-+ ?Transcript of session follows ?-+\n(.*?)(?:\n\s*-{3,}|\Z)", re.IGNORECASE | re.DOTALL
)
_TRANSCRIPT_RECIPIENT = re.compile(
    r"^\d{3}[ \-](?:\d\.\d+\.\d+ )?<?([^<>\s]+@[^<>\s]+?)>?\.\.\.", re.MULTILINE
)
_RELAYED_REPLY = re.compile(
    r"\b[45]\d\d <?[^\s<>]+@[^\s<>]+?>?\.\.\. (?:[45]\.\d{1,3}\.\d{1,3} )?([45]\d\d)\b"
)
_DELAYED = re.compile(r"warning: could not send|delayed|deferred", re.IGNORECASE)


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    listed_section = _ADDRESSES.search(body)
    transcript_match = _TRANSCRIPT.search(body)
    transcript = transcript_match.group(1) if transcript_match else ""
    recipients = find_addresses(listed_section.group(1)) if listed_section else []
    if not recipients:
        recipients = listed_recipients(_TRANSCRIPT_RECIPIENT, transcript)
    recipients = [r for r in recipients if r not in view.sender_addresses] or recipients
    if not recipients:
        return []
    listed = recipient_blocks(
        view, listed_section.group(1) if listed_section else "", recipients=recipients
    )
    in_transcript = dict(recipient_blocks(view, transcript, recipients=recipients))
    blocks = []
    for recipient, block in listed:
        about = in_transcript.get(recipient, "")
        lines = [
            line for line in about.split("\n") if recipient in line.lower() or line[:3].isdigit()
        ]
        blocks.append((recipient, "\n".join(filter(None, [block, *lines[:3]]))))
    delayed = bool(_DELAYED.search(view.subject))
    records = records_from_blocks(
        view,
        blocks,
        dialect=NAME,
        fallback_diagnostic=reason_text(transcript or body),
        action="delayed" if delayed else "failed",
    )
    return [_remote_reply(record) for record in records]


def _remote_reply(record: BounceRecord) -> BounceRecord:
    """``554 <a@b>... 550 Host unknown``: sendmail's own code wraps the remote one."""
    relayed = _RELAYED_REPLY.search(record.diagnostic or "")
    if relayed is None:
        return record
    return record.model_copy(update={"smtp_code": int(relayed.group(1))})
