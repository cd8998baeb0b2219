"""Postfix bounce bodies without (or with an unusable) delivery-status part.

Shape: "This is the mail system at host X." (older: "This is the Postfix program at
host X."), a boilerplate paragraph ending "The mail system", then one paragraph per
recipient: ``<address>: host mx[ip] said: 550 5.1.1 ... (in reply to RCPT TO command)``
or ``<address> (expanded from <alias>): ...``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import listed_recipients, section_records
from processor.intake.record import BounceRecord, RecordKind
from processor.intake.view import MessageView

NAME = "postfix"

_SIGNATURE = (
    "this is the mail system at host",
    "this is the postfix program at host",
    "could not be delivered to one or more recipients. it's attached below",
    # the delay notice's banner and first line (a paste may start there)
    "# this is a warning only.  you do not need to resend your message. #",
)
# "Your message could not be delivered for more than 4 hour(s). It will be retried until
# it is 5 day(s) old." - the delay notice, whatever its subject
_DELAY_NOTICE = re.compile(
    r"\bTHIS IS A WARNING ONLY\b|could not be delivered for more than \d+ hour\(s\)\.\s+"
    r"It will be retried",
    re.IGNORECASE,
)
# Postfix's success notice (``NOTIFY=SUCCESS``, subject "Successful Mail Delivery Report"):
# the same layout, but every listed recipient was delivered, not failed.
_SUCCESS_NOTICE = re.compile(
    r"\bYour\s+message\s+was\s+successfully\s+delivered\s+to\s+the\s+destination\(s\)\s+listed\s+below\b",
    re.IGNORECASE,
)
_DELAY_NOTICE_START = re.compile(
    r"could not be delivered for more than \d+ hour\(s\)\.\s+it will be retried until"
)
_START = re.compile(r"^\s*The (?:mail system|Postfix program)\s*$", re.IGNORECASE | re.MULTILINE)
_RECIPIENT_LINE = re.compile(r"^<([^<>\s]+@[^<>\s]+)>(?: \(expanded from [^)]*\))?:", re.MULTILINE)


def matches(view: MessageView) -> bool:
    # a pasted delay notice may start at its first sentence, without the intro line
    return view.says_any(_SIGNATURE) or bool(_DELAY_NOTICE_START.search(view.opening[:2000]))


def parse(view: MessageView) -> list[BounceRecord]:
    listed = listed_recipients(_RECIPIENT_LINE, view.body_before_original)
    if _SUCCESS_NOTICE.search(view.body_before_original[:2000]):
        return section_records(
            view,
            dialect=NAME,
            start=_START,
            recipients=listed or None,
            kind=RecordKind.DELIVERED,
            action="delivered",
        )
    delayed = "delayed" in view.subject.lower() or bool(
        _DELAY_NOTICE.search(view.body_before_original[:2000])
    )
    return section_records(
        view,
        dialect=NAME,
        start=_START,
        recipients=listed or None,
        action="delayed" if delayed else "failed",
    )
