"""Amazon SES notifications: JSON (SNS-wrapped or bare) Bounce / Complaint / Delivery.

SES reports through SNS as an e-mail whose body is a JSON notification; the inner
``Message`` is itself JSON. ``notificationType`` (or ``eventType`` for event
publishing) says what it is. SES's own DSN e-mails are plain RFC 3464 and are read by
:mod:`processor.intake.rfc3464`.
"""

from __future__ import annotations

import json
from typing import Any

from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import find_status, parse_date
from processor.intake.view import MessageView

NAME = "amazonses"

_DECODER = json.JSONDecoder(strict=False)


def matches(view: MessageView) -> bool:
    text = view.body_text
    return "{" in text and ("notificationType" in text or "eventType" in text)


def parse(view: MessageView) -> list[BounceRecord]:
    notification = _notification(view.body_text)
    if notification is None:
        return []
    kind = str(notification.get("notificationType") or notification.get("eventType") or "")
    mail: dict[str, Any] = notification.get("mail") or {}
    if not isinstance(mail, dict):
        mail = {}
    common: dict[str, Any] = {"dialect": NAME, "original_message_id": _text(mail.get("messageId"))}
    headers: dict[str, Any] = mail.get("commonHeaders") or {}
    if not isinstance(headers, dict):
        headers = {}
    if headers:
        common["original_subject"] = _text(headers.get("subject"))
        common["original_from"] = _text(", ".join(map(str, headers.get("from") or [])))
    if kind == "Bounce":
        return _bounces(view, notification.get("bounce") or {}, common)
    if kind == "Complaint":
        return _complaints(view, notification.get("complaint") or {}, common)
    if kind == "Delivery":
        return _deliveries(view, notification.get("delivery") or {}, common)
    return []


def _bounces(
    view: MessageView, bounce: dict[str, Any], common: dict[str, Any]
) -> list[BounceRecord]:
    reporting_mta = _after_semicolon(bounce.get("reportingMTA"))
    when = parse_date(_text(bounce.get("timestamp")))
    records = []
    for entry in bounce.get("bouncedRecipients") or []:
        if not isinstance(entry, dict):
            continue
        diagnostic = _text(entry.get("diagnosticCode"))
        diagnostic_type = None
        if diagnostic and ";" in diagnostic[:20]:
            diagnostic_type, _, diagnostic = (part.strip() for part in diagnostic.partition(";"))
            diagnostic_type = diagnostic_type.lower()
        if not diagnostic:
            diagnostic = " ".join(
                filter(None, [_text(bounce.get("bounceType")), _text(bounce.get("bounceSubType"))])
            )
        action = _text(entry.get("action")) or "failed"
        records.append(
            view.record(
                recipient=_text(entry.get("emailAddress")),
                action=action,
                status=_text(entry.get("status")),
                diagnostic=diagnostic,
                diagnostic_type=diagnostic_type,
                reporting_mta=reporting_mta,
                last_attempt_date=when,
                event_time=when,
                **common,
            )
        )
    return records


def _complaints(
    view: MessageView, complaint: dict[str, Any], common: dict[str, Any]
) -> list[BounceRecord]:
    when = parse_date(_text(complaint.get("arrivalDate")) or _text(complaint.get("timestamp")))
    feedback_type = _text(complaint.get("complaintFeedbackType")) or "abuse"
    return [
        view.record(
            recipient=_text(entry.get("emailAddress")),
            kind=RecordKind.ARF,
            action=None,
            feedback_type=feedback_type,
            diagnostic=_text(complaint.get("userAgent")),
            arrival_date=when,
            event_time=when,
            **common,
        )
        for entry in complaint.get("complainedRecipients") or []
        if isinstance(entry, dict)
    ]


def _deliveries(
    view: MessageView, delivery: dict[str, Any], common: dict[str, Any]
) -> list[BounceRecord]:
    response = _text(delivery.get("smtpResponse"))
    when = parse_date(_text(delivery.get("timestamp")))
    return [
        view.record(
            recipient=_text(recipient),
            kind=RecordKind.DELIVERED,
            action="delivered",
            status=find_status(response, failure_only=False),
            diagnostic=response,
            reporting_mta=_after_semicolon(delivery.get("reportingMTA")),
            event_time=when,
            **common,
        )
        for recipient in delivery.get("recipients") or []
    ]


def _notification(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        outer, _ = _DECODER.raw_decode(text[start:])
    except ValueError:
        return None
    if not isinstance(outer, dict):
        return None
    inner = outer.get("Message", outer)
    if isinstance(inner, str):
        try:
            inner, _ = _DECODER.raw_decode(inner.strip())
        except ValueError:
            return None
    return inner if isinstance(inner, dict) else None


def _after_semicolon(value: Any) -> str | None:
    text = _text(value)
    return text.split(";", 1)[-1].strip() if text else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return " ".join(str(value).split()) or None
