"""Stalwart Mail Server delivery failure notices read from their text part.

Shape: "Your message could not be delivered to the following recipients:" then one line
per recipient, the address (``<a@b>`` or bare) followed by the reason in parentheses:
``(host 'mx.example.org' rejected command 'RCPT TO:<a@b>' with code 550 (5.1.1) 'User
unknown')``. The code in parentheses after the reply code is the enhanced status;
Stalwart writes ``0.0.0`` when the remote server gave none. Other reasons (a connection
or DNS failure) are kept as the line's words.
"""

from __future__ import annotations

import re

from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses, sent_command
from processor.intake.view import MessageView

NAME = "stalwart"

_SIGNATURE = ("could not be delivered to the following recipients:",)
_RECIPIENT_LINE = re.compile(
    r"^[ \t]*<?(?P<address>[^\s<>()]+@[^\s<>()]+?)>?[ \t]+\((?P<reason>.+)\)[ \t]*$",
    re.MULTILINE,
)
_REJECTED = re.compile(
    r"^host '(?P<host>[^']+)' rejected command '(?P<command>[^']*)' with code "
    r"(?P<code>[245]\d\d) \((?P<status>\d\.\d{1,3}\.\d{1,3})\) '(?P<reply>.*)'$",
    re.DOTALL,
)


def matches(view: MessageView) -> bool:
    return (
        view.says_any(_SIGNATURE) and _RECIPIENT_LINE.search(view.body_before_original) is not None
    )


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    start = body.lower().find(_SIGNATURE[0])
    records: list[BounceRecord] = []
    seen: set[str] = set()
    for line in _RECIPIENT_LINE.finditer(body, max(start, 0)):
        named = find_addresses(line.group("address"))
        if len(named) != 1 or named[0] in seen:
            continue
        seen.add(named[0])
        reason = line.group("reason").strip()
        rejected = _REJECTED.match(reason)
        if rejected is None:
            records.append(view.record(recipient=named[0], dialect=NAME, diagnostic=reason))
            continue
        status = rejected.group("status")
        records.append(
            view.record(
                recipient=named[0],
                dialect=NAME,
                diagnostic=f"{rejected.group('code')} {rejected.group('reply')}",
                smtp_code=int(rejected.group("code")),
                status=None if status == "0.0.0" else status,
                smtp_command=sent_command(rejected.group("command")),
                remote_mta=rejected.group("host").lower(),
            )
        )
    return records
