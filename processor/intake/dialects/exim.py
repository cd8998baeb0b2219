"""Exim (and Exim-based hosts such as 1&1, MXLogic): "Mail delivery failed" bodies.

Shape: "This message was created automatically by mail delivery software." then
"The following address(es) failed:" with each address indented on its own line and the
remote server's reply below it; delays say "has not yet been delivered". Exim also
sets ``X-Failed-Recipients``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "exim"

_SIGNATURE = (
    "this message was created automatically by mail delivery software",
    "could not be delivered to one or more of its",
    "has not yet been delivered to the following",
)
_START = re.compile(
    r"following address(?:\(es\)|es)? (?:failed|deferred|has been deferred|have been deferred)\s*:|"
    r"has not yet been delivered to the following[^\n]*:|"
    r"could not be delivered to one or more[^\n]*\n(?:[^\n]*\n)?",
    re.IGNORECASE,
)
_END = re.compile(
    r"^[ \t]*-{3,}|^Reporting-MTA:|^\s*The following text was generated|"
    r"^Included is a copy of the message",
    re.IGNORECASE | re.MULTILINE,
)
_DELAYED = re.compile(r"has not yet been delivered|delayed", re.IGNORECASE)
# Exim's deferral notice: "This is a temporary error. The following address(es) deferred:"
_DEFERRED = re.compile(
    r"\bthis is a temporary error\b|"
    r"following address(?:\(es\)|es)? (?:deferred|ha(?:s|ve) been deferred)",
    re.IGNORECASE,
)


def matches(view: MessageView) -> bool:
    if "exim" in (view.header("X-Mailer") or "").lower():
        return True
    return view.says_any(_SIGNATURE)


def parse(view: MessageView) -> list[BounceRecord]:
    delayed = (
        bool(_DELAYED.search(view.subject))
        or "has not yet been delivered" in (view.body_before_original[:2000])
        or bool(_DEFERRED.search(view.body_before_original[:2000]))
    )
    return section_records(
        view, dialect=NAME, start=_START, end=_END, action="delayed" if delayed else "failed"
    )
