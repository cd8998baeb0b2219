"""RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``).

Reads the per-message fields (Reporting-MTA, Arrival-Date) and every per-recipient block
(Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code, Remote-MTA,
Last-Attempt-Date). The field reader is tolerant: blocks need not be separated by blank
lines, fields may be folded, and the same reader serves DSN fields quoted in a plain-text
body by MTAs that do not build a proper ``multipart/report``.
"""

from __future__ import annotations

import re

from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import clean_status, find_addresses, parse_date
from processor.intake.view import MessageView

NAME = "rfc3464"

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)[ \t]*:[ \t]*(.*)$")
_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient", "x-actual-recipient"})
_BLOCK_START = frozenset({"final-recipient", "original-recipient"})
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_MESSAGE_FIELDS = frozenset(
    {
        "reporting-mta",
        "arrival-date",
        "received-from-mta",
        "original-envelope-id",
        "x-postfix-queue-id",
        "x-postfix-sender",
        "dsn-gateway",
    }
)
_DSN_FIELD_IN_TEXT = re.compile(
    r"^\s*(?:Final|Original)-Recipient\s*:", re.IGNORECASE | re.MULTILINE
)


def read_fields(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Per-message fields and per-recipient blocks of a delivery-status body.

    A new recipient block starts at a blank line, or at a recipient field when the
    current block already has one (some MTAs forget the blank line).
    """
    message_fields: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    has_recipient = False  # whether ``current`` holds a recipient field
    last_name: str | None = None

    def close(current: dict[str, str], has_recipient: bool) -> None:
        if has_recipient or "action" in current or "status" in current:
            blocks.append(current)
        else:
            for name, value in current.items():
                message_fields.setdefault(name, value)

    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for line in text.split("\n"):
        if not line or line.isspace():
            if current:
                close(current, has_recipient)
                current, has_recipient = {}, False
            last_name = None
            continue
        if last_name is not None and line[0] in " \t":
            current[last_name] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match is None:
            last_name = None
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if name in current:
            if name in _BLOCK_START:
                close(current, has_recipient)
                current, has_recipient = {}, False
            else:
                last_name = None
                continue
        if name in _MESSAGE_FIELDS and not has_recipient:
            message_fields.setdefault(name, value)
            last_name = None
            continue
        current[name] = value
        last_name = name
        if name in _RECIPIENT_FIELDS:
            has_recipient = True
    if current:
        close(current, has_recipient)
    return message_fields, _merge_split_blocks(blocks)


def _merge_split_blocks(blocks: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join a block holding only recipient fields with the block after it.

    A stray blank line inside a block (seen with doubled line endings) must not turn
    one recipient into two half-records.
    """
    merged: list[dict[str, str]] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.keys() <= _RECIPIENT_FIELDS
            and "final-recipient" not in block
            and not (previous.keys() & block.keys())
        ):
            previous.update(block)
            continue
        merged.append(block)
    return merged


def has_dsn_fields(text: str) -> bool:
    """True when ``text`` quotes RFC 3464 recipient fields (a report in a text body)."""
    if "-recipient" not in text and "-Recipient" not in text and "-RECIPIENT" not in text:
        return False
    return _DSN_FIELD_IN_TEXT.search(text) is not None


_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-]{0,19}")


def _type_and_value(value: str | None) -> tuple[str | None, str | None]:
    """``smtp; 550 ...`` to ``("smtp", "550 ...")``; a value without a type stays whole."""
    if not value:
        return None, None
    kind, separator, rest = value.partition(";")
    if separator and _TYPE_NAME.fullmatch(kind.strip()):
        return kind.strip().lower(), rest.strip() or None
    return None, value.strip() or None


def records_from_fields(view: MessageView, text: str, *, dialect: str = NAME) -> list[BounceRecord]:
    """One record per recipient block of a delivery-status body."""
    message_fields, blocks = read_fields(text)
    reporting_mta = _type_and_value(message_fields.get("reporting-mta"))[1]
    arrival_date = parse_date(message_fields.get("arrival-date"))
    records = []
    for block in blocks:
        recipient = _recipient(block)
        if recipient is None:
            continue
        action = (block.get("action") or "").split()[0].lower() if block.get("action") else None
        diagnostic_type, diagnostic = _type_and_value(block.get("diagnostic-code"))
        status = clean_status(block.get("status"))
        kind = RecordKind.DELIVERED if action in _SUCCESS_ACTIONS else RecordKind.DSN
        if status and status.startswith("2.") and action not in {"failed", "delayed"}:
            kind = RecordKind.DELIVERED  # also Postfix's "deliverable" (address verification)
        original_recipient = _type_and_value(block.get("original-recipient"))[1]
        records.append(
            view.record(
                recipient=recipient,
                kind=kind,
                dialect=dialect,
                action=action,
                status=status,
                diagnostic=diagnostic,
                diagnostic_type=diagnostic_type,
                original_recipient=next(iter(find_addresses(original_recipient or "")), None),
                remote_mta=_type_and_value(block.get("remote-mta"))[1],
                reporting_mta=reporting_mta,
                arrival_date=arrival_date,
                last_attempt_date=parse_date(block.get("last-attempt-date")),
            )
        )
    return records


def _recipient(block: dict[str, str]) -> str | None:
    for name in ("final-recipient", "original-recipient", "x-actual-recipient"):
        addresses = find_addresses(_type_and_value(block.get(name))[1] or "")
        if addresses:
            return addresses[0]
    return None


def matches(view: MessageView) -> bool:
    return view.delivery_status_text is not None


def parse(view: MessageView) -> list[BounceRecord]:
    text = view.delivery_status_text
    return records_from_fields(view, text) if text else []
