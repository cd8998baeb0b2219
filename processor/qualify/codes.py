"""Fallback tables: enhanced status codes and SMTP reply codes to a detail.

Used when no explicit rule matched. Each code maps to a detail; ``rules/details.yaml``
then gives the reason and failure type. Sources: RFC 3463 (enhanced status codes),
RFC 5248 (the IANA registry, adds X.7.8-X.7.14 and others), RFC 7372 (X.7.20-X.7.26,
email authentication), RFC 7505 (X.1.10 / X.7.27, null MX), RFC 7504 (521 / 556), RFC
8689 (X.7.30 REQUIRETLS) and the IANA registry's later entries. Codes whose meaning is
too vague to say anything (X.0.0, X.1.0, X.2.0, X.5.0) are deliberately absent: the
record falls through to its reply code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

# subject.detail -> detail (class 4 or 5 is applied by the caller)
STATUS_DETAILS: Final[dict[str, str]] = {
    # X.1 addressing
    "1.1": "userunknown",  # bad destination mailbox address
    "1.2": "hostunknown",  # bad destination system address
    "1.3": "userunknown",  # bad destination mailbox address syntax
    "1.4": "userunknown",  # destination mailbox address ambiguous
    "1.5": "delivered",  # destination address valid
    "1.6": "hasmoved",  # destination mailbox has moved, no forwarding address
    "1.7": "rejected",  # bad sender's mailbox address syntax
    "1.8": "rejected",  # bad sender's system address
    "1.9": "systemerror",  # message relayed to non-compliant mailer
    "1.10": "notaccept",  # recipient address has null MX (RFC 7505)
    # X.2 mailbox
    "2.1": "suspend",  # mailbox disabled, not accepting messages
    "2.2": "mailboxfull",  # mailbox full
    "2.3": "emailtoolarge",  # message length exceeds administrative limit
    "2.4": "systemerror",  # mailing list expansion problem
    # X.3 mail system
    "3.0": "systemerror",
    "3.1": "systemfull",  # mail system full
    "3.2": "systemerror",  # system not accepting network messages
    "3.3": "systemerror",  # system not capable of selected features
    "3.4": "emailtoolarge",  # message too big for system
    "3.5": "systemerror",  # system incorrectly configured
    "3.6": "systemerror",  # requested priority was changed
    # X.4 network and routing
    "4.0": "networkerror",
    "4.1": "networkerror",  # no answer from host
    "4.2": "networkerror",  # bad connection
    "4.3": "networkerror",  # directory server failure
    "4.4": "hostunknown",  # unable to route
    "4.5": "networkerror",  # mail system congestion
    "4.6": "networkerror",  # routing loop detected
    "4.7": "expired",  # delivery time expired
    # X.5 mail delivery protocol
    "5.1": "syntaxerror",  # invalid command
    "5.2": "syntaxerror",  # syntax error
    "5.3": "ratelimited",  # too many recipients
    "5.4": "syntaxerror",  # invalid command arguments
    "5.5": "systemerror",  # wrong protocol version
    "5.6": "syntaxerror",  # authentication exchange line too long
    # X.6 message content or media
    "6.0": "contenterror",
    "6.1": "contenterror",  # media not supported
    "6.2": "contenterror",  # conversion required and prohibited
    "6.3": "contenterror",  # conversion required but not supported
    "6.4": "contenterror",  # conversion with loss performed
    "6.5": "contenterror",  # conversion failed
    "6.6": "contenterror",  # message content not available
    "6.7": "contenterror",  # non-ASCII addresses not permitted (RFC 6531)
    "6.8": "contenterror",  # UTF-8 string reply required
    "6.9": "contenterror",  # UTF-8 header message cannot be transferred
    "6.10": "contenterror",
    # X.7 security or policy
    "7.0": "policyviolation",  # other security or policy status
    "7.1": "policyviolation",  # delivery not authorized, message refused
    "7.2": "securityerror",  # mailing list expansion prohibited
    "7.3": "securityerror",  # security conversion required but not possible
    "7.4": "securityerror",  # security features not supported
    "7.5": "securityerror",  # cryptographic failure
    "7.6": "securityerror",  # cryptographic algorithm not supported
    "7.7": "securityerror",  # message integrity failure
    "7.8": "securityerror",  # authentication credentials invalid
    "7.9": "securityerror",  # authentication mechanism is too weak
    "7.10": "securityerror",  # encryption needed
    "7.11": "securityerror",  # encryption required for requested auth mechanism
    "7.12": "securityerror",  # a password transition is needed
    "7.13": "suspend",  # user account disabled
    "7.14": "securityerror",  # trust relationship required
    "7.15": "policyviolation",  # priority level is too low
    "7.16": "emailtoolarge",  # message is too big for the specified priority
    "7.17": "hasmoved",  # mailbox owner has changed (RFC 7293)
    "7.18": "hasmoved",  # domain owner has changed (RFC 7293)
    "7.19": "securityerror",  # RRVS test cannot be completed
    "7.20": "authfailure",  # no passing DKIM signature found (RFC 7372)
    "7.21": "authfailure",  # no acceptable DKIM signature found
    "7.22": "authfailure",  # no valid author-matched DKIM signature found
    "7.23": "authfailure",  # SPF validation failed
    "7.24": "authfailure",  # SPF validation error
    "7.25": "requireptr",  # reverse DNS validation failed
    "7.26": "authfailure",  # multiple authentication checks failed
    "7.27": "rejected",  # sender address has null MX (RFC 7505)
    "7.28": "spamdetected",  # mail flood detected (RFC 8904 registry)
    "7.29": "securityerror",  # arc validation failure
    "7.30": "securityerror",  # REQUIRETLS support required (RFC 8689)
}

# SMTP reply code -> detail (RFC 5321 section 4.2, RFC 7504, RFC 4954, RFC 3207)
REPLY_DETAILS: Final[dict[int, str]] = {
    421: "networkerror",  # service not available, closing transmission channel
    450: "onhold",  # mailbox unavailable (busy, or temporarily blocked for policy)
    451: "systemerror",  # local error in processing
    452: "systemfull",  # insufficient system storage
    454: "securityerror",  # TLS not available / temporary authentication failure
    455: "syntaxerror",  # server unable to accommodate parameters
    500: "syntaxerror",
    501: "syntaxerror",
    502: "syntaxerror",
    503: "syntaxerror",
    504: "syntaxerror",
    521: "notaccept",  # host does not accept mail (RFC 7504)
    530: "securityerror",  # authentication required
    534: "securityerror",  # authentication mechanism is too weak
    535: "securityerror",  # authentication credentials invalid
    538: "securityerror",  # encryption required for requested auth mechanism
    551: "hasmoved",  # user not local
    552: "mailboxfull",  # exceeded storage allocation
    553: "userunknown",  # mailbox name not allowed
    555: "syntaxerror",  # MAIL FROM / RCPT TO parameters not recognized
    556: "notaccept",  # domain does not accept mail (RFC 7504)
}

# reply class -> detail when the code itself is not in the table (550, 554, 5xx, 4xx):
# the receiver refused or deferred without saying why in a way we recognise.
REPLY_CLASS_DETAILS: Final[dict[int, str]] = {4: "onhold", 5: "undefined"}

_STATUS_RE: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_RE: Final = re.compile(r"^\W{0,4}([245]\d\d)(?![\d.])")
_REPLY_ANY_RE: Final = re.compile(r"(?<![\w.#-])([45][0-5]\d)(?:[ -]|$)(?![\d.])")


def normalize_status(value: str | None) -> str | None:
    """``"5.1.1 (bad destination)"`` -> ``"5.1.1"``; ``None`` when there is no code."""
    if not value:
        return None
    return _normalize_status(value[:64])


@lru_cache(maxsize=4096)
def _normalize_status(value: str) -> str | None:
    # a record's status field holds one of a few hundred values: read each once
    m = _STATUS_RE.search(value)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def status_from_text(text: str | None) -> str | None:
    """The first enhanced status code written in a diagnostic text, if any."""
    if not text:
        return None
    m = _STATUS_RE.search(text[:1024])
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def reply_from_text(text: str | None) -> int | None:
    """The SMTP reply code a diagnostic text starts with (or, failing that, the first
    3-digit 4xx / 5xx code standing alone in its first 256 characters)."""
    if not text:
        return None
    m = _REPLY_RE.match(text) or _REPLY_ANY_RE.search(text[:256])
    return int(m.group(1)) if m else None


def status_detail(status: str) -> str | None:
    """Detail for an enhanced status code (``"5.1.1"`` -> ``"userunknown"``)."""
    cls, _, rest = status.partition(".")
    if cls not in ("4", "5"):
        return "delivered" if cls == "2" else None
    return STATUS_DETAILS.get(rest)


def reply_detail(code: int) -> tuple[str, str] | None:
    """``(detail, rule id)`` for an SMTP reply code, by code then by class."""
    detail = REPLY_DETAILS.get(code)
    if detail is not None:
        return detail, f"reply:{code}"
    cls = code // 100
    detail = REPLY_CLASS_DETAILS.get(cls)
    if detail is not None:
        return detail, f"reply:{cls}xx"
    if cls == 2:
        return "delivered", "reply:2xx"
    return None
