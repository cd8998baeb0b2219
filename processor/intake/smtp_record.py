"""Synchronous SMTP rejection records, as logged by the sending MTA (JSON objects).

Required: ``recipient`` and ``diagnostic`` (the server's reply text). Optional:
``smtp_code``, ``enhanced_status``, ``mx``, ``sending_ip``, ``timestamp`` (ISO 8601,
RFC 5322, Unix seconds or milliseconds) and ``message_id``. Every other key is passed
through as metadata. A reply code or enhanced status missing from the record is read out
of the diagnostic text, which also wins over a stated status that is only a class
(``5.0.0``) or whose class contradicts the reply. A multi-line reply logged as one string
(``550-5.1.1 ... 550 5.1.1 ...``, with or without its line breaks) is joined into one line.
Records should be UTF-8 (RFC 8259). A recipient that is not is an error (undecodable bytes
would make up an address); other strings with 8-bit bytes that are not UTF-8 (a reply
logged in Latin-1) are read as Windows-1252.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from processor.intake.record import BounceRecord, ParseError, ParseResult, RecordKind
from processor.intake.text import (
    best_status,
    clean_status,
    find_reply_code,
    find_status,
    first_line,
    join_reply_lines,
    normalize_address,
    parse_date,
)

NAME = "smtp_record"

_KNOWN_KEYS = frozenset(
    {
        "recipient",
        "diagnostic",
        "smtp_code",
        "enhanced_status",
        "mx",
        "sending_ip",
        "timestamp",
        "message_id",
    }
)


def parse_smtp_record(obj: Any) -> ParseResult:
    """One SMTP rejection record to a result with one record, or a clear error."""
    if not isinstance(obj, dict):
        return _error("bad_record", f"an SMTP record is a JSON object, not {type(obj).__name__}")
    missing = [key for key in ("recipient", "diagnostic") if not obj.get(key)]
    if missing:
        return _error("missing_field", f"SMTP record lacks required field(s): {', '.join(missing)}")
    recipient = normalize_address(str(obj["recipient"]))
    if recipient is None:
        return _error("bad_recipient", f"not an e-mail address: {str(obj['recipient'])[:200]!r}")
    diagnostic = str(obj["diagnostic"])
    smtp_code = _reply_code(obj.get("smtp_code"))
    if smtp_code is None:
        smtp_code = find_reply_code(diagnostic)
    stated = clean_status(str(obj["enhanced_status"])) if obj.get("enhanced_status") else None
    status = best_status(stated, diagnostic)
    in_text = find_status(diagnostic)
    if (
        status is not None
        and in_text is not None
        and smtp_code is not None
        and status[0] != str(smtp_code)[0] == in_text[0]
    ):
        status = in_text  # "4.0.0" stated for a "550 5.1.1" reply: the server's words win
    timestamp = _timestamp(obj.get("timestamp"))
    mx = _text(obj.get("mx"))
    record = BounceRecord(
        kind=RecordKind.SMTP,
        recipient=recipient,
        action="failed",
        status=status,
        smtp_code=smtp_code,
        diagnostic=first_line(join_reply_lines(diagnostic.strip())),
        diagnostic_type="smtp",
        dialect=NAME,
        remote_mta=mx,
        mx=mx,
        sending_ip=_text(obj.get("sending_ip")),
        original_message_id=_text(obj.get("message_id")),
        last_attempt_date=timestamp,
        event_time=timestamp,
        metadata={
            str(key): value if isinstance(value, str) else json.dumps(value, default=str)
            for key, value in obj.items()
            if key not in _KNOWN_KEYS
        },
    )
    return ParseResult(records=[record])


def parse_json(data: bytes) -> ParseResult:
    """Bytes holding one JSON object to a result (``bad_json`` when they do not).

    orjson reads it (about six times faster than the standard library, a tenth of an SMTP
    record's work); what orjson refuses or may read differently goes to the standard
    library, so the result is always the one ``json`` gives."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if _exact(obj):
            return parse_smtp_record(obj)
    return _parse_json_slowly(data)


def _exact(value: Any) -> bool:
    """Whether orjson read ``value`` as the standard library would: no float anywhere
    (orjson reads an integer beyond 64 bits as a float, json keeps it whole)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            return False
    return True


def _parse_json_slowly(data: bytes) -> ParseResult:
    """:func:`parse_json` by the standard library: a byte order mark, bytes that are not
    UTF-8, NaN, lone surrogates and big numbers, and the error message of bad JSON."""
    try:
        text = data.decode("utf-8-sig")
        clean = True
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", "surrogateescape")
        clean = False
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return _error("bad_json", f"not valid JSON: {exc}")
    if not clean:
        recipient = obj.get("recipient") if isinstance(obj, dict) else None
        if isinstance(recipient, str) and _UNDECODED.search(recipient):
            raw = recipient.encode("utf-8", "surrogateescape")
            return _error(
                "bad_recipient",
                f"the recipient is not valid UTF-8: {raw!r}; SMTP records must be UTF-8 JSON",
            )
        obj = _repaired(obj)
    return parse_smtp_record(obj)


# bytes that were not UTF-8, kept by the "surrogateescape" decoding as U+DC80..U+DCFF
_UNDECODED = re.compile("[\udc80-\udcff]")


def _repaired(value: Any) -> Any:
    """``value`` with every string's non-UTF-8 bytes read as Windows-1252 (Latin-1 where
    that has no character): a server reply logged in an 8-bit charset ("Boîte pleine")
    keeps its words. Only the recipient must be UTF-8 (it is the key downstream)."""
    if isinstance(value, str):
        if not _UNDECODED.search(value):
            return value
        raw = value.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    if isinstance(value, dict):
        return {_repaired(key): _repaired(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_repaired(item) for item in value]
    return value


def _reply_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        code = int(str(value).strip()[:3]) if value is not None and str(value).strip() else None
    except ValueError:
        return None
    return code if code is not None and 200 <= code <= 599 else None


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return _timestamp(float(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parse_date(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _error(error_class: str, message: str) -> ParseResult:
    return ParseResult(error=ParseError(error_class=error_class, message=message))
