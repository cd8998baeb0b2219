"""Microsoft Exchange 2003-2019 / Office 365 / Outlook.com bodies without a usable DSN.

Shapes: Exchange 2003 "Your message ... did not reach the following recipient(s):" with
``address on <date>`` lines, the reason and an ``MSEXCH:`` code below; Exchange 2007+
and Office 365 "Delivery has failed to these recipients or groups:" / "Your message to
... couldn't be delivered." with the remote server's reply under "Diagnostic
information for administrators" / "Remote Server returned '550 5.1.1 ...'".

In the administrators' section each recipient is followed by its own reply line
("Remote Server returned '...'", its translation in a localized NDR, or Exchange 2010's
"#550 5.1.1 ... ##", Exchange 2007's "#< #5.1.1 smtp;550 5.1.1 ...> #SMTP#"): that line
is the recipient's reply, whatever the order of the
summary above and whatever the language. When Exchange relays a downstream hop's
rejection it wraps it (``'554 5.7.0 < #5.7.133 smtp;550 5.7.133 RESOLVER.RST...>'``):
the inner reply is the real one, the outer 5.7.0 only says "rejected".
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
    sender = view.from_header.lower()
    if "Exchange" in mailer or "microsoftexchange" in sender or "microsoft outlook" in sender:
        # an NDR in another language: its administrators' section gives it away
        return view.says_any(_SIGNATURE) or bool(_replies_by_recipient(view.body_before_original))
    return view.says_any(_STRONG_SIGNATURE)


# A recipient's reply in the administrators' section, on the line after its address:
# "Remote Server returned '550 5.1.1 ...'" and its translations ("Le serveur distant a
# retourné '...'", "Remoteserver hat '...' zurückgegeben"): whatever the words, the reply
# is the quoted text that starts with a reply code; Exchange 2010 writes it between "#"
# and "##" instead ("#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", after the
# remote host when the remote server refused).
_QUOTED_REPLY = re.compile(r"^[^\n']{0,80}'(?P<reply>[245]\d\d[ -][^\n]*)$", re.MULTILINE)
_HASHED_REPLY = re.compile(
    r"^[ \t]*(?:(?P<host>[\w.-]+)[ \t]+)?#(?P<reply>[245]\d\d[ -][^\n]*?)[ \t]*##", re.MULTILINE
)
# Exchange 2007: "#< #5.1.1 smtp;550 5.1.1 User unknown> #SMTP#" (the status, then the
# reply after "smtp;", up to the closing "> #SMTP#")
_SMTP_TAGGED_REPLY = re.compile(
    r"^[ \t]*(?:(?P<host>[\w.-]+)[ \t]+)?#<[ \t]*#[245]\.\d{1,3}\.\d{1,3}[ \t]+smtp;[ \t]*"
    r"(?P<reply>[245]\d\d[ -][^\n]*?)>[ \t]*#SMTP#",
    re.MULTILINE | re.IGNORECASE,
)
# "554 5.7.0 < #5.7.133 smtp;550 5.7.133 ...>": the wrapped reply of a downstream hop.
# Exchange 2010-2016 put the remote host before the "#" ("554 5.0.0 <mx.example.org
# #5.0.0 smtp; 550-5.7.1 ...>").
_WRAPPED = re.compile(
    r"<\s*(?:[\w.-]+\s+)?#(?P<status>[245]\.\d{1,3}\.\d{1,3})\s+smtp;\s*(?P<reply>.+?)>?'?\s*$",
    re.I,
)


def parse(view: MessageView) -> list[BounceRecord]:
    records = section_records(view, dialect=NAME, start=_START)
    replies = _replies_by_recipient(view.body_before_original)
    if not replies:
        return records
    updated = []
    for record in records:
        found = replies.get(record.recipient or "")
        if found is None:
            updated.append(record)
            continue
        reply, host = found
        wrapped = _WRAPPED.search(reply)
        inner = wrapped.group("reply") if wrapped else reply
        status = find_status(inner) or (wrapped.group("status") if wrapped else None)
        update = {
            "diagnostic": " ".join(reply.split())[:1000],
            "status": status or record.status,
            "smtp_code": find_reply_code(inner) or record.smtp_code,
            "remote_mta": host or record.remote_mta,
        }
        updated.append(record.model_copy(update=update))
    return updated


def _replies_by_recipient(body: str) -> dict[str, tuple[str, str | None]]:
    """Recipient -> its reply line and the remote server that gave it (the host before an
    Exchange 2010 ``#...##`` reply), from the administrators' section: a line holding a
    quoted (or ``#...##``) reply right below a line that names one address."""
    found: list[tuple[int, str, str | None]] = []
    for pattern in (_QUOTED_REPLY, _HASHED_REPLY, _SMTP_TAGGED_REPLY):
        for match in pattern.finditer(body):
            reply = match.group("reply")
            if pattern is _QUOTED_REPLY and "'" in reply:
                reply = reply[: reply.rindex("'")]  # the words after the closing quote
            host = match.group("host") if pattern is not _QUOTED_REPLY else None
            found.append((match.start(), reply, _host_name(host)))
    replies: dict[str, tuple[str, str | None]] = {}
    for start, reply, host in sorted(found, key=lambda item: item[0]):
        line, above = _line_above(body, start)
        named = find_addresses(line)
        if not named and host is None and " " not in line.strip():
            host = _host_name(line.strip())  # Exchange 2010-2016: the address, the remote
            if host is not None:  # host on a line of its own, then the reply
                named = find_addresses(_line_above(body, above)[0])
        if len(named) == 1 and named[0] not in replies:
            replies[named[0]] = (reply, host)
    return replies


def _line_above(body: str, start: int) -> tuple[str, int]:
    """The last non-blank line before offset ``start`` (a line start) and its offset."""
    end = start - 1  # the newline before the line at ``start``; then skip blank lines
    while end > 0 and body[end - 1] == "\n":
        end -= 1
    end = max(end, 0)
    begin = body.rfind("\n", 0, end) + 1
    return body[begin:end], begin


def _host_name(word: str | None) -> str | None:
    """``word`` lower-cased when it is a dotted host name, else None."""
    if not word or "." not in word.strip("."):
        return None
    return word.lower().rstrip(".")
