"""Intake: raw bounce inputs (bytes) to typed :class:`BounceRecord` objects.

:func:`parse` is the single entry point. It sniffs the format (a JSON SMTP rejection
record or an RFC 5322 message), then tries, in order: ARF feedback reports, RFC 3464
delivery-status reports (also when a gateway attached the real report, or when the
fields were pasted into a text body), the MTA dialects for non-standard bodies, RFC 3834
auto-replies and finally the generic bounce reader. It never raises: every failure comes
back as a :class:`ParseError` in the result, which the streaming path dead-letters.
"""

from __future__ import annotations

import re
from typing import Any

from processor.intake import arf, autoreply, rfc3464, smtp_record
from processor.intake.dialects import DIALECTS, FALLBACK
from processor.intake.dialects.common import reason_lines, reason_text, recipient_blocks
from processor.intake.mime import content_type_of, raw_payload, read_message
from processor.intake.record import BounceRecord, ParseError, ParseResult, RecordKind
from processor.intake.smtp_record import parse_smtp_record
from processor.intake.text import (
    find_addresses,
    find_reply_code,
    find_smtp_command,
    find_status,
    is_generic_status,
    is_system_address,
)
from processor.intake.view import IntakeOptions, MessageView

__all__ = [
    "BounceRecord",
    "IntakeOptions",
    "ParseError",
    "ParseResult",
    "RecordKind",
    "parse",
    "parse_message",
    "parse_smtp_record",
]

FORMATS = ("auto", "email", "json")
_JSON_START = re.compile(rb"\s*\{")
_DEFAULT_OPTIONS = IntakeOptions()


def parse(
    data: bytes, *, options: IntakeOptions | None = None, format: str | None = None
) -> ParseResult:
    """Read one input. ``format`` is ``"email"``, ``"json"`` or None/``"auto"`` to sniff."""
    options = options or _DEFAULT_OPTIONS
    try:
        if not isinstance(data, bytes | bytearray | memoryview):
            return _error("bad_input", f"expected bytes, got {type(data).__name__}")
        if len(data) > options.max_bytes:
            return _error(
                "too_large", f"input is {len(data)} bytes, above the cap of {options.max_bytes}"
            )
        if type(data) is not bytes:
            data = bytes(data)
        if format not in (None, *FORMATS):
            return _error("bad_format", f"unknown format {format!r}; use one of {FORMATS}")
        if not data or data.isspace():
            return _error("empty", "input is empty")
        if format == "json" or (format in (None, "auto") and _JSON_START.match(data)):
            return smtp_record.parse_json(data)
        return parse_message(data, options=options)
    except Exception as exc:  # the contract: never raise to the caller
        return _error("internal_error", f"{type(exc).__name__}: {exc}"[:500])


def parse_message(data: bytes, *, options: IntakeOptions | None = None) -> ParseResult:
    """Read one RFC 5322 message (a bounce, a feedback report or an auto-reply)."""
    message = read_message(data)
    view = MessageView(message, options or _DEFAULT_OPTIONS)
    if not message.keys() and not raw_payload(message):
        return _error("not_an_email", "no headers and no body")
    records = read_view(view)
    if records:
        return ParseResult(records=records)
    return _error("not_a_bounce", "no bounce, feedback report or auto-reply found")


def read_view(view: MessageView, depth: int = 0) -> list[BounceRecord]:
    """The records of a parsed message, trying each reader in order of certainty."""
    if arf.matches(view):
        records = arf.parse(view)
        if records:
            return records
    if rfc3464.matches(view):
        records = rfc3464.parse(view)
        if records:
            return _enrich_from_body(view, records)
    inner = view.original
    if inner is not None and content_type_of(inner) == "multipart/report" and depth < 3:
        # a gateway that wraps the real delivery report as an attachment
        records = read_view(MessageView(inner, view.options), depth=depth + 1)
        if records:
            return records
    if inner is not None and depth < 3 and _wraps_a_bounce(view, inner):
        # a list manager's "uncaught bounce" or a user forwarding the bounce as attachment
        records = read_view(MessageView(inner, view.options), depth=depth + 1)
        if records:
            return records
    quoted_report = unquote(view.body_text)
    if rfc3464.has_dsn_fields(quoted_report):  # a report pasted into (or forwarded as) text
        records = rfc3464.records_from_fields(view, quoted_report)
        if records:
            listed = _listed_without_fields(view, quoted_report, records)
            return _enrich_from_body(view, records) + listed
    attached_report = rfc3464.attached_fields_text(view)
    if attached_report is not None:  # the report attached as a text file
        records = rfc3464.records_from_fields(view, attached_report)
        if records:
            return _enrich_from_body(view, records)
    records = _dialect_records(view)
    if records:
        return records
    if autoreply.matches(view):
        return autoreply.parse(view)
    if FALLBACK.matches(view):
        return FALLBACK.parse(view)
    if autoreply.says_away(view):  # an absence notice without auto-reply headers
        return autoreply.parse(view)
    return []


def _listed_without_fields(
    view: MessageView, text: str, records: list[BounceRecord]
) -> list[BounceRecord]:
    """Records for the failed recipients the notice above a pasted report lists with a
    reason of their own but the pasted fields leave out (a paste cut short after the first
    recipient block), read by the dialect that knows the notice."""
    known = {record.recipient for record in records} | view.sender_addresses
    notice = _human_readable_part(text)
    if all(a in known or is_system_address(a) for a in find_addresses(notice)):
        return []  # the notice names no one else (the common case: no dialect pass)
    return [r for r in _dialect_records(view) if r.recipient and r.recipient not in known]


def _dialect_records(view: MessageView) -> list[BounceRecord]:
    """The records of the first dialect that knows the message and reads any."""
    for dialect in DIALECTS:
        if dialect.matches(view):
            records = dialect.parse(view)
            if records:
                return records
    return []


def _enrich_from_body(view: MessageView, records: list[BounceRecord]) -> list[BounceRecord]:
    """Fill a DSN record's missing or vague diagnostic from the human-readable part."""
    vague = [
        r
        for r in records
        if r.kind is RecordKind.DSN
        and r.recipient
        and (
            not r.diagnostic or (not find_reply_code(r.diagnostic) and is_generic_status(r.status))
        )
    ]
    if not vague:
        return records
    text = _human_readable_part(view.body_before_original)
    blocks = dict(
        recipient_blocks(view, text, recipients=[r.recipient for r in vague if r.recipient])
    )
    vague_ids = {id(record) for record in vague}
    enriched = []
    for record in records:
        if id(record) not in vague_ids:
            enriched.append(record)
            continue
        block = blocks.get(record.recipient or "") or ""
        reason = reason_lines(block)
        if not reason and len(records) == 1:
            reason = reason_lines(text)
        if not reason and not record.diagnostic:  # no codes anywhere: take the sentence
            reason = reason_text(block) or (reason_text(text) if len(records) == 1 else "") or ""
        if not reason:
            enriched.append(record)
            continue
        diagnostic = " ".join(filter(None, [record.diagnostic, " ".join(reason.split())]))
        status = record.status
        if is_generic_status(status):
            found = find_status(reason)
            if found and (status is None or found[0] == status[0]):
                status = found
        update: dict[str, Any] = {
            "diagnostic": diagnostic[:1000],
            "status": status,
            "smtp_command": record.smtp_command or find_smtp_command(reason),
        }
        if record.smtp_code is None:
            update["smtp_code"] = find_reply_code(reason)
        enriched.append(record.model_copy(update=update))
    return enriched


# the first field of a delivery-status report pasted below the notice in the same text
# ("Reporting-MTA: dns; ...", "Final-Recipient: rfc822; ...", Postfix's "X-Postfix-...")
_REPORT_FIELD_LINE = re.compile(
    r"^[ \t>]*(?:Reporting-MTA|Received-From-MTA|Arrival-Date|X-Postfix-[A-Za-z-]+|"
    r"(?:Final|Original)-Recipient|Action)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)


def _human_readable_part(text: str) -> str:
    """``text`` up to the report's fields when they were pasted below the notice: the
    fields are not the reason (a pasted ``Status: 5.0.0`` line is no diagnostic), the
    notice above them is. The whole text when nothing stands above the fields."""
    fields = _REPORT_FIELD_LINE.search(text)
    if fields is None or not text[: fields.start()].strip():
        return text
    return text[: fields.start()]


# "Fwd:" / "Fw:" and their translations (WG: German, TR: French, RV: Spanish, ENC:
# Portuguese, Doorst: Dutch, VS: Finnish, VB: Swedish)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|doorst|vs|vb|i)\s*:", re.IGNORECASE)
_WRAPPER_PHRASES = ("received as a bounce", "uncaught bounce")


def _wraps_a_bounce(view: MessageView, inner: Any) -> bool:
    """True when ``view`` only carries an attached bounce: a forward ("Fwd: ...") or a
    mailing-list manager's "uncaught bounce notification", and the attachment comes from
    a mailer daemon (or names its failed recipients)."""
    if not (
        _FORWARD_SUBJECT.match(view.subject)
        or "uncaught bounce" in view.subject.lower()
        or view.says_any(_WRAPPER_PHRASES)
    ):
        return False
    if inner.get("X-Failed-Recipients"):
        return True
    sender = find_addresses(str(inner.get("From") or ""))
    return bool(sender) and is_system_address(sender[0])


_QUOTE_PREFIX = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)


def unquote(text: str) -> str:
    """``text`` without e-mail quoting (``> ``), for bounces forwarded inline."""
    return _QUOTE_PREFIX.sub("", text) if "\n>" in text or text.startswith(">") else text


def _error(error_class: str, message: str) -> ParseResult:
    return ParseResult(error=ParseError(error_class=error_class, message=message))
