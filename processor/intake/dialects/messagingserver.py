"""Oracle (Sun, iPlanet) Communications Messaging Server and PMDF notifications.

Shape: "This report relates to a message you sent with the following header fields:"
then "Your message cannot be delivered to the following recipients:" and per recipient
``Recipient address:``, ``Reason:``, ``Diagnostic code: smtp; 550 ...``, ``Remote
system: dns; host``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "messagingserver"

_START = re.compile(
    r"(?:cannot|could not) be delivered to the following recipients?:|"
    r"has been delayed to the following recipients?:",
    re.IGNORECASE,
)
_RECIPIENT = re.compile(
    r"^\s*(?P<label>Original|Recipient) address:\s*(?P<value>\S+)", re.IGNORECASE | re.MULTILINE
)


def matches(view: MessageView) -> bool:
    return view.says_any(
        ("this report relates to a message you sent", "recipient address:", "original address:")
    )


def parse(view: MessageView) -> list[BounceRecord]:
    originals = _recipients(view.body_before_original)
    delayed = "delayed" in view.subject.lower()
    records = section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=list(originals) or None,
        action="delayed" if delayed else "failed",
    )
    updated = []
    for record in records:
        original = originals.get(record.recipient or "")
        updated.append(
            record.model_copy(update={"original_recipient": original}) if original else record
        )
    return updated


def _recipients(body: str) -> dict[str, str | None]:
    """Recipient -> its original address (``None`` when the same or not given).

    Each entry names the recipient as the server rewrote it ("Recipient address:") and,
    usually, as the sender wrote it ("Original address:"): one recipient, not two. An
    entry with only an "Original address:" is reported under that address.
    """
    entries: list[dict[str, str]] = []
    for match in _RECIPIENT.finditer(body):
        label = match.group("label").lower()
        address = next(iter(find_addresses(match.group("value"))), None)
        if address is None:
            continue
        if not entries or label in entries[-1]:  # a second label of a kind: the next entry
            entries.append({})
        entries[-1][label] = address
    found: dict[str, str | None] = {}
    for entry in entries:
        recipient = entry.get("recipient") or entry["original"]
        original = entry.get("original")
        found.setdefault(recipient, original if original != recipient else None)
    return found
