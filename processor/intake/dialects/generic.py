"""The fallback for bounce bodies no dialect claims: recipients plus whatever reason is there.

It finds the failed recipients (``X-Failed-Recipients``, else addresses named in the
body that are not the bounce's own parties, else the returned original's To) and, for
each, the SMTP reply, enhanced status and sentence near it. It only runs on messages
that look like a bounce, so it never turns ordinary mail into failures.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import section_records
from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses
from processor.intake.view import MessageView

NAME = "generic"

_BOUNCE_SENDER = re.compile(
    r"mailer-daemon|post_?master|mail delivery|mail administrator|mail system|"
    r"delivery subsystem|mdaemon|mailer_daemon|bounce",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|problem|notification|report)|"
    r"returned mail|return(?:ed|ing) (?:mail|message)|failure notice|non.?deliver|"
    r"could not (?:be )?deliver|delivery has failed|mail delivery failed|not delivered|"
    r"rejected|bounce|unzustellbar|nicht zugestellt|non remis|no entregado|"
    r"non recapitabile|配信|不達|未達|エラー|失敗|error",
    re.IGNORECASE,
)
_BOUNCE_BODY = (
    "could not be delivered",
    "couldn't be delivered",
    "undeliverable",
    "delivery failed",
    "delivery has failed",
    "permanent error",
    "permanent fatal",
    "permanent failure",
    "following addresses",
    "following recipients",
    "these recipients",
    "was not delivered",
    "delivery to the following",
    "not be delivered",
    "unable to deliver",
    "returned to sender",
    "user unknown",
    "mailbox full",
    "mailbox is full",
    "mailbox unavailable",
    "no such user",
    "invalid user",
    "invalid recipient",
    "invalid address",
    "送信できませんでした",
    "配信できませんでした",
    "届きませんでした",
    "宛先不明",
)


def looks_like_bounce(view: MessageView) -> bool:
    """True when the sender, subject, headers or opening text say this is a delivery report."""
    if view.has_header("X-Failed-Recipients"):
        return True
    if view.content_type == "multipart/report":
        return True
    if _BOUNCE_SENDER.search(view.from_header) or _BOUNCE_SUBJECT.search(view.subject):
        return True
    return view.says_any(_BOUNCE_BODY)


def matches(view: MessageView) -> bool:
    return looks_like_bounce(view)


def parse(view: MessageView) -> list[BounceRecord]:
    failed_header = find_addresses(view.header("X-Failed-Recipients") or "")
    return section_records(view, dialect=NAME, recipients=failed_header or None)
