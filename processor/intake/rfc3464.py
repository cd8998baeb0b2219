"""RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``).

Reads the per-message fields (Reporting-MTA, Arrival-Date) and every per-recipient block
(Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code, Remote-MTA,
Last-Attempt-Date). The field reader is tolerant: blocks need not be separated by blank
lines, fields may be folded, and the same reader serves DSN fields quoted in a plain-text
body by MTAs that do not build a proper ``multipart/report``.
"""

from __future__ import annotations

import re

from processor.intake.dialects.common import connected_host
from processor.intake.mime import filename_of
from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import (
    clean_status,
    decode_utf8_xtext,
    decode_xtext,
    find_addresses,
    find_reply_code,
    find_status,
    join_reply_lines,
    normalize_address,
    parse_date,
    part_text,
)
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


def attached_fields_text(view: MessageView) -> str | None:
    """The text of a ``text/plain`` attachment holding the report's fields.

    Some gateways attach the delivery-status fields as a file (``details.txt``) instead of
    a ``message/delivery-status`` part; the body text skips named attachments, so they are
    looked up here.
    """
    for part in view.parts_of_type("text", {"plain"}):
        if not filename_of(part):
            continue
        text = part_text(part)
        if has_dsn_fields(text):
            return text
    return None


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
    reporting_mta = _mta_name(message_fields.get("reporting-mta"))
    arrival_date = parse_date(message_fields.get("arrival-date"))
    records = []
    for block in blocks:
        recipient = _recipient(block)
        if recipient is None:
            continue
        action = (block.get("action") or "").split()[0].lower() if block.get("action") else None
        diagnostic_type, diagnostic = _type_and_value(block.get("diagnostic-code"))
        diagnostic = join_reply_lines(diagnostic)
        status = clean_status(block.get("status"))
        if action is None:
            action = _implied_action(status, diagnostic)
        kind = RecordKind.DELIVERED if action in _SUCCESS_ACTIONS else RecordKind.DSN
        if status and status.startswith("2.") and action not in {"failed", "delayed"}:
            kind = RecordKind.DELIVERED  # also Postfix's "deliverable" (address verification)
        records.append(
            view.record(
                recipient=recipient,
                kind=kind,
                dialect=dialect,
                action=action,
                status=status,
                diagnostic=diagnostic,
                diagnostic_type=diagnostic_type,
                original_recipient=_field_address(block, "original-recipient"),
                remote_mta=_mta_name(block.get("remote-mta")) or connected_host(diagnostic),
                reporting_mta=reporting_mta,
                arrival_date=arrival_date,
                last_attempt_date=parse_date(block.get("last-attempt-date")),
            )
        )
    return records


_MTA_COMMENT = re.compile(r"\s*\(.*$", re.DOTALL)


def _mta_name(value: str | None) -> str | None:
    """The host of a Reporting-MTA / Remote-MTA field, without a comment after it and
    the root dot (``dns; mx.example.com. (192.0.2.1, the server for ...)``)."""
    name = _type_and_value(value)[1]
    if name is None:
        return None
    return _MTA_COMMENT.sub("", name).rstrip(".") or name


def _implied_action(status: str | None, diagnostic: str | None) -> str | None:
    """``failed`` for a block without its (required) Action field whose status or reply
    is permanent; a transient one may be a delay or a final failure, so it stays unsaid."""
    code = status or find_status(diagnostic)
    if code is not None:
        return "failed" if code.startswith("5") else None
    reply = find_reply_code(diagnostic)
    return "failed" if reply is not None and reply >= 500 else None


def _recipient(block: dict[str, str]) -> str | None:
    for name in ("final-recipient", "original-recipient", "x-actual-recipient"):
        address = _field_address(block, name)
        if address:
            return address
    return None


def _field_address(block: dict[str, str], name: str) -> str | None:
    """The address of a recipient field, its encoding undone.

    ``utf-8`` addresses (RFC 6533) may be written with ``\\x{HHHH}`` escapes and may
    hold non-ASCII letters; an Original-Recipient repeats the ORCPT parameter, which is
    RFC 3461 xtext (``user+2Btag@example.com`` is ``user+tag@example.com``).
    """
    address_type, value = _type_and_value(block.get(name))
    if not value:
        return None
    if address_type == "utf-8" or "\\x{" in value:
        value = decode_utf8_xtext(value)
    elif name == "original-recipient":
        value = decode_xtext(value)
    if not value.isascii():
        address = normalize_address(value)
        if address is not None and not address.isascii():
            return address
    if "_" in value.rpartition("@")[2]:
        whole = normalize_address(value)
        if whole is not None and "_" in whole.partition("@")[2]:
            return whole  # as written: "user@example.com_" is not user@example.com
    addresses = find_addresses(value)
    return addresses[0] if addresses else None


def matches(view: MessageView) -> bool:
    return view.delivery_status_text is not None


def parse(view: MessageView) -> list[BounceRecord]:
    text = view.delivery_status_text
    return records_from_fields(view, text) if text else []
