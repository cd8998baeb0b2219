"""MDaemon (Alt-N / MDaemon Technologies) delivery failure reports.

Shape: "The attached message had PERMANENT fatal delivery errors!" (or a warning that it
is still queued), then "--- Session Transcript ---" with time-stamped lines of the
SMTP dialogue: ``<-- 220 mx.example.com ESMTP`` (the remote server's greeting),
``--> RCPT To:<address>``, ``<-- 550 5.1.1 ...`` and "--- End Transcript ---". The
transcript's "*  To:" / "*  Message-ID:" lines restate the message's headers and name
no failed recipient: the failed recipients are those of the RCPT commands refused, or
all the accepted ones when the message data was refused.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import reason_text
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses, find_reply_code
from processor.intake.view import MessageView

NAME = "mdaemon"

_SIGNATURE = ("--- session transcript ---",)
_TRANSCRIPT = re.compile(
    r"^-{3,}\s*Session Transcript\s*-{3,}[^\n]*\n(.*?)(?:^-{3,}\s*End Transcript|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
# " Tue 2025-03-04 09:13:40.112: " before every transcript line
_STAMP = re.compile(r"^\s*(?:[A-Za-z]{3},? )?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?:[ \t]?")
_RCPT = re.compile(r"^-->\s*RCPT TO:\s*<?([^<>\s]+@[^<>\s]+?)>?(?:\s|$)", re.IGNORECASE)
_DATA = re.compile(r"^-->\s*(?:DATA|BDAT)\b", re.IGNORECASE)
_REPLY = re.compile(r"^<--\s*([2-5]\d\d)([ -])(.*)$")
_LEADING_STATUS = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}\s+")
_HEADER_RESTATED = re.compile(r"^\*\s+[A-Za-z-]+:")
_TEMPORARY = ("warning", "delayed", "still queued", "will be retried", "held for re")


def matches(view: MessageView) -> bool:
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    body = view.body_before_original
    found = _TRANSCRIPT.search(body)
    if found is None:
        return []
    lines = [_STAMP.sub("", line).strip() for line in found.group(1).split("\n")]
    opening = view.opening.split("--- session transcript ---", 1)[0]
    temporary = "permanent" not in opening and (
        any(word in opening for word in _TEMPORARY) or "warning" in view.subject.lower()
    )
    action = "delayed" if temporary else "failed"
    host, failed = _refused(lines)
    if not failed:  # no reply refused a recipient: the connection or the session failed
        told = "\n".join(line for line in lines if not _HEADER_RESTATED.match(line))
        restated = [a for line in lines if _HEADER_RESTATED.match(line) for a in _to(line)]
        diagnostic = reason_text(told)
        return [
            view.record(
                recipient=recipient,
                dialect=NAME,
                diagnostic=diagnostic,
                remote_mta=host,
                action=action,
            )
            for recipient in restated or view.original_recipients[:1]
        ]
    return [
        view.record(
            recipient=recipient,
            dialect=NAME,
            diagnostic=reply,
            smtp_command=command,
            remote_mta=host,
            action=action,
        )
        for recipient, (reply, command) in failed.items()
    ]


def _to(line: str) -> list[str]:
    name = line.lstrip("* \t").split(":", 1)[0].lower()
    return find_addresses(line) if name == "to" else []


def _refused(lines: list[str]) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """The remote server (from its greeting) and recipient -> (refusal, SMTP command)."""
    host: str | None = None
    accepted: list[str] = []
    failed: dict[str, tuple[str, str]] = {}
    command: str | None = None
    recipient: str | None = None
    reply: list[str] = []
    for line in lines:
        rcpt = _RCPT.match(line)
        if rcpt is not None:
            command, recipient, reply = "RCPT", rcpt.group(1).lower(), []
            continue
        if _DATA.match(line):
            command, recipient, reply = "DATA", None, []
            continue
        if line.startswith("-->") and line[3:].strip() != ".":  # "." ends the DATA
            command, recipient, reply = None, None, []
            continue
        answer = _REPLY.match(line)
        if answer is None:
            continue
        code, more, text = answer.groups()
        if code == "220" and host is None:
            first = text.split(maxsplit=1)[0] if text.strip() else ""
            host = first.lower().rstrip(".") if "." in first else None
        # a continuation line repeats the code (and status): keep only its words
        reply.append(_LEADING_STATUS.sub("", text) if reply else f"{code} {text}".strip())
        if more == "-":  # a multi-line reply continues
            continue
        whole = " ".join(reply)
        reply = []
        if command == "RCPT" and recipient:
            if find_reply_code(whole):
                failed.setdefault(recipient, (whole, "RCPT"))
            else:
                accepted.append(recipient)
        elif command == "DATA" and find_reply_code(whole):
            for address in accepted:
                failed.setdefault(address, (whole, "DATA"))
    return host, failed
