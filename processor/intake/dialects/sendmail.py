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
from processor.intake.text import find_addresses, find_smtp_command, transcript_command
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
# "... while talking to mx.example.org.:" opens the part of the transcript spent with
# one remote server; "(reason: 550 ...)" wraps the reply in the list of addresses.
_TALKING_TO = re.compile(r"^\.{3} while talking to ([^\s:\[\]]+?)\.?:[ \t]*$", re.MULTILINE)
_REASON_WRAPPER = re.compile(r"^(\s*)\(reason: ([^\n]*)\)[ \t]*$", re.MULTILINE)


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
    commands: dict[str, str] = {}
    for recipient, block in listed:
        block = _REASON_WRAPPER.sub(r"\1\2", block)
        about = in_transcript.get(recipient, "")
        lines = [
            line for line in about.split("\n") if recipient in line.lower() or line[:3].isdigit()
        ]
        blocks.append((recipient, "\n".join(filter(None, [block, *_new_lines(block, lines)]))))
        # the command our side sent last (">>> RCPT To:<...>") is read before those
        # lines leave the diagnostic
        command = transcript_command(_talk_about(transcript, recipient), recipient)
        command = command or find_smtp_command("\n".join([block, *lines[:3]]))
        if command is not None:
            commands[recipient] = command
    delayed = bool(_DELAYED.search(view.subject))
    records = records_from_blocks(
        view,
        blocks,
        dialect=NAME,
        fallback_diagnostic=reason_text(transcript or body),
        action="delayed" if delayed else "failed",
    )
    hosts = _servers_by_recipient(transcript, [recipient for recipient, _ in blocks])
    return [
        _remote_reply(
            record, hosts.get(record.recipient or ""), commands.get(record.recipient or "")
        )
        for record in records
    ]


def _new_lines(block: str, lines: list[str]) -> list[str]:
    """The first three transcript ``lines`` that say something the block does not: the
    reply quoted as ``<<< 550 ...`` and repeated as ``550 ...`` is the reason the list
    already gave, and a ``>>>`` line is what our side sent."""
    said = [block]
    for line in lines:
        text = line.removeprefix("<<<").strip()
        if text and not text.startswith(">>>") and not any(text in earlier for earlier in said):
            said.append(line)
        if len(said) > 3:
            break
    return said[1:]


def _talk_about(transcript: str, recipient: str) -> str:
    """The part of the transcript spent with the server that refused ``recipient`` (the
    ``while talking to`` part naming it), else the whole transcript."""
    marks = list(_TALKING_TO.finditer(transcript))
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(transcript)
        if recipient in transcript[mark.end() : end].lower():
            return transcript[mark.end() : end]
    return transcript


def _servers_by_recipient(transcript: str, recipients: list[str]) -> dict[str, str]:
    """The remote server each recipient was refused by: the ``while talking to`` host of
    the transcript part that names it (with one part and one recipient, that part's)."""
    marks = list(_TALKING_TO.finditer(transcript))
    found: dict[str, str] = {}
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(transcript)
        part = transcript[mark.end() : end].lower()
        for recipient in recipients:
            if recipient in part:
                found.setdefault(recipient, mark.group(1).lower())
    if len(marks) == 1 and len(recipients) == 1:
        found.setdefault(recipients[0], marks[0].group(1).lower())
    return found


def _remote_reply(record: BounceRecord, server: str | None, command: str | None) -> BounceRecord:
    """``554 <a@b>... 550 Host unknown``: sendmail's own code wraps the remote one. The
    remote server comes from the transcript when the reply did not name it."""
    update: dict[str, object] = {}
    if command is not None:
        update["smtp_command"] = command
    if server and not record.remote_mta:
        update["remote_mta"] = server
    relayed = _RELAYED_REPLY.search(record.diagnostic or "")
    if relayed is not None:
        update["smtp_code"] = int(relayed.group(1))
    return record.model_copy(update=update) if update else record
