"""Feedback-loop complaints: RFC 5965 ARF reports and the common non-standard FBLs.

An ARF report is a ``multipart/report; report-type=feedback-report`` with a
``message/feedback-report`` part (Feedback-Type, Original-Rcpt-To, Source-IP,
Reported-Domain, Arrival-Date, ...) and the complained-about message. Non-standard
FBLs (Microsoft JMRP/SNDS ``staff@hotmail.com`` reports, "email abuse report" bodies)
carry the original only; its ``X-HmXmrOriginalRecipient`` or To header names the
complainant. One record per complained-about recipient (one with no recipient when the
report has been redacted).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import find_addresses, parse_date
from processor.intake.view import MessageView

NAME = "arf"

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)[ \t]*:[ \t]*(.*)$")
_ABUSE_REPORT_PHRASES = (
    "abuse report",
    "complaint about message from",
    "feedback loop",
    "junk mail reporting program",
)
_ORIGINAL_RECIPIENT_HEADERS = ("X-HmXmrOriginalRecipient", "To", "X-Original-To", "Delivered-To")
# Report fields pasted or forwarded as plain text: a Feedback-Type line at a line start and
# one of the other fields every report generator writes next to it.
_PASTED_FEEDBACK_TYPE = re.compile(
    r"^[ \t]*Feedback-Type[ \t]*:[ \t]*[A-Za-z]", re.MULTILINE | re.IGNORECASE
)
_PASTED_COMPANION = re.compile(
    r"^[ \t]*(?:User-Agent|Version|Original-Rcpt-To|Original-Mail-From)[ \t]*:",
    re.MULTILINE | re.IGNORECASE,
)
# The sentence RFC 5965 suggests for the human-readable part, which FBLs that send no
# attachment (AOL's old SCOMP reports, a forwarded first part) still write: first, or on a
# line of its own after a notice (AOL's ARF conversion notice put it under its own text).
_REPORT_OPENING = re.compile(
    r"^[ \t]*this is an? (?:e-?mail )?abuse report for an? (?:e-?mail )?message",
    re.IGNORECASE | re.MULTILINE,
)
# SpamCop's plain-text reports to a network's abuse address: "[SpamCop (ip) id:n]subject"
# from <n>@reports.spamcop.net, "Email from <ip> / <date>", then the offending message quoted.
_SPAMCOP_SUBJECT = re.compile(r"\A\s*\[SpamCop \(", re.IGNORECASE)
_SPAMCOP_SOURCE = re.compile(
    r"^[ \t]*Email from \[?(\d{1,3}(?:\.\d{1,3}){3})\]? /", re.IGNORECASE | re.MULTILINE
)


def read_fields(text: str) -> dict[str, list[str]]:
    """Fields of a ``message/feedback-report`` part; repeated fields keep every value."""
    fields: dict[str, list[str]] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in {" ", "\t"} and last is not None and line.strip():
            fields[last][-1] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match is None:
            last = None
            continue
        last = match.group(1).lower()
        fields.setdefault(last, []).append(match.group(2).strip())
    return fields


def _is_report_type_feedback(view: MessageView) -> bool:
    content_type = (view.header("Content-Type") or "").lower()
    return "report-type" in content_type and "feedback-report" in content_type


def matches(view: MessageView) -> bool:
    if view.feedback_report_text is not None or _is_report_type_feedback(view):
        return True
    if view.delivery_status_text is None and has_pasted_fields(view.body_before_original):
        return True
    return _is_non_standard_fbl(view)


def has_pasted_fields(text: str) -> bool:
    """Whether ``text`` carries feedback-report fields outside a ``message/feedback-report``
    part (a report pasted into, or forwarded as, a text body)."""
    if "feedback-type" not in text.lower():  # a lower-cased copy is cheaper than the regex
        return False
    return bool(_PASTED_FEEDBACK_TYPE.search(text) and _PASTED_COMPANION.search(text))


def _is_non_standard_fbl(view: MessageView) -> bool:
    """A complaint without a feedback-report part: the report's opening sentence, or an
    attached original plus a telltale."""
    if view.delivery_status_text is not None:
        return False
    if _REPORT_OPENING.search(view.body_before_original):
        return True  # the report's own sentence, with or without the original
    if _is_spamcop_report(view):
        return True
    attached = view.parts_of_type("message", frozenset({"rfc822", "global"}))
    if not attached:
        return False
    if (view.from_address or "").startswith(("staff@hotmail.com", "complaints@")):
        return True
    subject = view.subject.lower()
    if view.says_any(_ABUSE_REPORT_PHRASES) or any(p in subject for p in _ABUSE_REPORT_PHRASES):
        return True
    original = view.original
    return original is not None and original.get("X-HmXmrOriginalRecipient") is not None


def _is_spamcop_report(view: MessageView) -> bool:
    """A SpamCop report: sent from reports.spamcop.net or with SpamCop's subject tag, and
    naming SpamCop in its text."""
    sender = (view.from_address or "").lower()
    if not (sender.endswith("@reports.spamcop.net") or _SPAMCOP_SUBJECT.match(view.subject)):
        return False
    return "spamcop" in view.opening


def parse(view: MessageView) -> list[BounceRecord]:
    report_text = view.feedback_report_text
    if report_text is None and has_pasted_fields(view.body_before_original):
        report_text = view.body_before_original
    fields = read_fields(report_text or "")
    feedback_type = _first(fields, "feedback-type")
    feedback_type = feedback_type.split()[0].lower() if feedback_type else "abuse"
    # Removal-Recipient often repeats Original-Rcpt-To: one complaint per address.
    recipients = list(
        dict.fromkeys(
            address
            for value in fields.get("original-rcpt-to", []) + fields.get("removal-recipient", [])
            for address in find_addresses(value)
        )
    )
    if not recipients:
        recipients = _recipients_from_original(view)
    source_ip = _ip_only(_first(fields, "source-ip"))
    if source_ip is None:
        ip_in_text = re.search(
            r"\bfrom IP(?: address)?\s*\[?(\d{1,3}(?:\.\d{1,3}){3})", view.body_before_original
        ) or _SPAMCOP_SOURCE.search(view.body_before_original)
        source_ip = ip_in_text.group(1) if ip_in_text else None
    arrival_date = parse_date(_first(fields, "arrival-date") or _first(fields, "received-date"))
    common: dict[str, Any] = {
        "kind": RecordKind.ARF,
        "dialect": NAME,
        "action": None,
        "feedback_type": feedback_type,
        "source_ip": source_ip,
        "reported_domain": _first(fields, "reported-domain"),
        "arrival_date": arrival_date,
        "diagnostic": view.body_before_original.strip() or None,
        "reporting_mta": _first(fields, "reporting-mta"),
    }
    if not recipients:
        return [view.record(recipient=None, **common)]
    return [view.record(recipient=r, **common) for r in recipients]


def _recipients_from_original(view: MessageView) -> list[str]:
    original = view.original
    if original is None:
        return []
    for name in _ORIGINAL_RECIPIENT_HEADERS:
        found = find_addresses(view.original_header(name) or "")
        if found:
            return found[:1] if name != "To" else found
    return []


def _ip_only(value: str | None) -> str | None:
    """A Source-IP value without what generators append to it: "127.0.0.1 (localhost)",
    "54.240.8.61 (a8-61.smtp-out.amazonses.com)", "[192.0.2.1]". Kept as given when its
    first word is not an address."""
    if not value:
        return value
    token = value.split()[0].strip("[]")
    try:
        return str(ipaddress.ip_address(token))
    except ValueError:
        return value


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None
