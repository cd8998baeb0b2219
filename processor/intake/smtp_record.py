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
from typing import Any, NamedTuple

import orjson

from processor.intake.record import BounceRecord, ParseError, ParseResult, RecordKind
from processor.intake.text import (
    clean_status,
    command_at,
    find_reply_code,
    find_smtp_command,
    find_status,
    first_line,
    join_reply_lines,
    normalize_address,
    parse_date,
    preferred_status,
)
from processor.memo import MAX_KEY_TEXT, Memo

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
    if not (obj.get("recipient") and obj.get("diagnostic")):
        missing = [key for key in ("recipient", "diagnostic") if not obj.get(key)]
        return _error("missing_field", f"SMTP record lacks required field(s): {', '.join(missing)}")
    recipient = normalize_address(str(obj["recipient"]))
    if recipient is None:
        return _error("bad_recipient", f"not an e-mail address: {str(obj['recipient'])[:200]!r}")
    diagnostic_raw, code_raw, status_raw, mx_raw = (
        obj["diagnostic"],
        obj.get("smtp_code"),
        obj.get("enhanced_status"),
        obj.get("mx"),
    )
    memo = _REPLIES
    if memo.resting:
        memo.resting -= 1
        reply = _read_reply(diagnostic_raw, code_raw, status_raw, mx_raw)
    elif (
        _cacheable(diagnostic_raw)
        and _cacheable(code_raw)
        and _cacheable(status_raw)
        and _cacheable(mx_raw)
    ):
        key = (diagnostic_raw, code_raw, status_raw, mx_raw)
        found = memo.entries.get(key)
        if found is None:
            reply = _read_reply(diagnostic_raw, code_raw, status_raw, mx_raw)
            memo.keep(key, reply)
        else:
            memo.hits += 1
            reply = found
    else:
        reply = _read_reply(diagnostic_raw, code_raw, status_raw, mx_raw)
    timestamp = _timestamp(obj.get("timestamp"))
    record = BounceRecord.model_validate(
        {
            "kind": RecordKind.SMTP,
            "recipient": recipient,
            "action": "failed",
            "status": reply.status,
            "smtp_code": reply.smtp_code,
            "diagnostic": reply.diagnostic,
            "diagnostic_type": "smtp",
            "smtp_command": reply.command,
            "dialect": NAME,
            "remote_mta": reply.remote_mta,
            "mx": reply.mx,
            "sending_ip": _text(obj.get("sending_ip")),
            "original_message_id": _text(obj.get("message_id")),
            "last_attempt_date": timestamp,
            "event_time": timestamp,
            "metadata": {
                str(key): value if isinstance(value, str) else json.dumps(value, default=str)
                for key, value in obj.items()
                if key not in _KNOWN_KEYS
            },
        }
    )
    return ParseResult(records=[record])


class _Reply(NamedTuple):
    """What a record's reply fields say, read out of them once (see _read_reply)."""

    diagnostic: str | None  # the reply alone, on one line
    command: str | None
    remote_mta: str | None
    mx: str | None
    smtp_code: int | None
    status: str | None


def _read_reply(diagnostic_raw: Any, code_raw: Any, status_raw: Any, mx_raw: Any) -> _Reply:
    """The reply, command, hosts, reply code and enhanced status of a record, from its
    ``diagnostic``, ``smtp_code``, ``enhanced_status`` and ``mx`` values as logged."""
    logged = str(diagnostic_raw).strip()
    diagnostic, command, host = read_logged_reply(logged)
    smtp_code = _reply_code(code_raw)
    if smtp_code is None:
        smtp_code = find_reply_code(diagnostic)
    stated = clean_status(str(status_raw)) if status_raw else None
    in_text = find_status(diagnostic)
    status = preferred_status(stated, in_text)
    if status is None and diagnostic is not logged:
        # a status only in the log's own fields (Sendmail "dsn=5.1.1, stat=User unknown")
        status = in_text = find_status(logged)
    if (
        status is not None
        and in_text is not None
        and smtp_code is not None
        and status[0] != str(smtp_code)[0] == in_text[0]
    ):
        status = in_text  # "4.0.0" stated for a "550 5.1.1" reply: the server's words win
    mx = host_name(_text(mx_raw))
    return _Reply(
        diagnostic=first_line(join_reply_lines(diagnostic)),
        command=command,
        remote_mta=mx or host,
        mx=mx,
        smtp_code=smtp_code,
        status=status,
    )


# Sending MTAs log the same few replies over and over (one per receiving platform and
# failure): :func:`_read_reply` is a pure function of four logged values, so its result
# for a recurring set is kept (:mod:`processor.memo`: bounded, and resting while replies
# do not recur). Only small values of plain types are keys.
REPLY_MEMO_SIZE = 4096
_REPLIES: Memo[tuple[Any, ...], _Reply] = Memo(REPLY_MEMO_SIZE)


def reply_memo_counts() -> tuple[int, int, int]:
    """Hits, misses and rests of this process's reply memo (see :class:`Memo`)."""
    return _REPLIES.counts()


def _cacheable(value: Any) -> bool:
    """A logged value the reply memo may key on: None, a plain int, a short plain str.
    No two of these types have equal values (a bool or a float would: ``1 == True ==
    1.0``; they, lists and objects are read afresh)."""
    kind = type(value)
    return value is None or kind is int or (kind is str and len(value) <= MAX_KEY_TEXT)


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


# -- the sending MTA's words around the remote server's reply --------------------------

# A DSN-style type before the reply (PowerMTA "smtp;550 ...", Amazon SES "smtp; 550 ...")
_REPLY_TYPE = re.compile(r"(?:smtp|x-[a-z0-9\-]{1,20});[ \t]*", re.IGNORECASE)
# Exim's main log line before its message: "** a@example.org <b@example.org> R=dnslookup
# T=remote_smtp H=mx.example.org [192.0.2.1] X=TLS1.3:...: " ("**" failed, "==" deferred)
_EXIM_LOG_PREFIX = re.compile(
    r"(?:\*\*|==)[ \t]+[^\s:]+(?:[ \t]+<[^<>\s]*>)?"
    r"(?:[ \t]+(?:[A-Za-z]{1,3}=(?:\"[^\"]*\"|[^\s:\"]+(?::+[^\s:\"]+)*)(?:[ \t]+\[[^\]\s]*\])?"
    r"|defer[ \t]+\(-?\d+\)))*"
    r"[ \t]*:[ \t]+"
)
# Exim's "SMTP error from remote mail server after RCPT TO:<a@example.org>: " (and the
# "host mx.example.org [192.0.2.1]: " line of its bounce text that may follow)
_EXIM_SMTP_ERROR = re.compile(
    r"SMTP error from remote mail(?:er| server) after ([^\n]{0,300}?):\s+"
    r"(?:host\s+\S+\s*\[[^\]\s]*\]:\s+)?",
    re.IGNORECASE,
)
# Haraka outbound: a deferral is "Upstream error: 421 4.7.0 ..." (its log line "Temp failing
# <queue file> for 60 seconds: " before it), a bounce after the last deferral "Too many
# failures (Upstream error: 451 ...)"; the text names neither the command nor the host
# (https://github.com/haraka/Haraka/blob/master/outbound/hmail.js, temp_fail and
# convert_temp_failed_to_bounce)
_HARAKA_UPSTREAM = re.compile(
    r"(?:Temp failing [^\s:]{1,200} for \d{1,9} seconds: )?(Too many failures \()?"
    r"Upstream error: (?=\d)"
)
# Postfix "host mx.example.org[192.0.2.1]" (before " said: " / " refused to talk to me: ")
_POSTFIX_HOST = re.compile(r"host[ \t]+([^\s\[\]]+?)\.?(?:[ \t]?\[[^\]\s]*\])?")
_POSTFIX_SAID = ((" said: ", None), (" refused to talk to me: ", "CONN"))
# Postfix's note of the command the reply answered, ending the text
_IN_REPLY_TO = "(in reply to "
_IN_REPLY_TO_END = re.compile(r"[^()]{1,40}\)\s*")
# The remote host as sending MTAs name it, after one of these lead-ins: Postfix "host
# mx.example.org[192.0.2.1]", "connect to mx.example.org[192.0.2.1]:25", "lost connection
# with mx.example.org[...]", Exim "H=mx.example.org [192.0.2.1]", Sendmail "relay=
# mx.example.org. [192.0.2.1]" (a bare "[192.0.2.1]" after "host" is Postfix's "Client
# host [192.0.2.1] blocked": the client, not the server). An internationalized host name
# is kept in the form written, Unicode (U-labels) or ASCII (A-labels), lower-cased; its
# last label is ASCII (as HOST_NAME in dialects/common.py).
_HOST_LEAD_INS = ("host ", "connect to ", "with ", "H=", "relay=")
_LOGGED_HOST = re.compile(
    r"\[(?:IPv6:)?([\d.:a-fA-F]+)\]|([^\W_][\w\-]*(?:\.[^\W_][\w\-]*)*\.[A-Za-z0-9][A-Za-z0-9\-]*)"
    r"\.?(?=[ \t]?\[|:\d|[ \t]*[,:]|[ \t]|$)"
)


def read_logged_reply(text: str) -> tuple[str, str | None, str | None]:
    """The remote server's reply in a sending MTA's log text without the MTA's own words
    around it, the SMTP command and the remote host those words name (or None).

    ``host mx.example.org[192.0.2.1] said: 550 5.1.1 ... (in reply to RCPT TO command)``
    (Postfix), ``** a@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.1]:
    SMTP error from remote mail server after RCPT TO:<a@example.org>: 550 ...`` (Exim),
    ``relay=mx.example.org. [192.0.2.1], dsn=5.1.1, stat=User unknown`` (Sendmail),
    ``Upstream error: 550 ...`` (Haraka) and ``smtp;550 ...`` (PowerMTA, Amazon SES) give
    ``550 ...``. A text that is the MTA's own
    (``connect to mx.example.org[192.0.2.1]:25: Connection timed out``) stays whole. The
    command and host are read in the MTA's words only (a reply may name hosts of its own,
    such as the client's). A text that starts with the reply (the common case) costs two
    string tests; one with a known prefix a few anchored matches, no search.
    """
    if not text:
        return text, None, None
    reply = text
    if not text[0].isdigit():
        match = _REPLY_TYPE.match(reply)
        if match is not None:
            reply = reply[match.end() :]
    if not reply or reply[0].isdigit():
        if _IN_REPLY_TO not in reply:
            return reply or text, None, None
        reply, command = _without_note(reply, None)
        return reply, command, None
    host = command = None
    if reply.startswith(("** ", "== ")):
        match = _EXIM_LOG_PREFIX.match(reply)
        if match is not None:
            host = _host_after(reply, " H=", match.end())
            reply = reply[match.end() :]
    elif "stat=" in reply:  # Sendmail: "to=<...>, ..., relay=..., dsn=5.1.1, stat=..."
        at = reply.rfind("stat=")
        if at == 0 or reply[at - 1] in " \t,":
            host = _host_after(reply, "relay=", at)
            reply = reply[at + 5 :].strip()
    if reply.startswith("delivery temporarily suspended: "):  # Postfix, a site marked dead
        reply = reply[32:]
    elif reply.startswith(("Upstream error: ", "Too many failures (", "Temp failing ")):
        match = _HARAKA_UPSTREAM.match(reply)
        if match is not None:
            wrapped = match.group(1) is not None and reply.endswith(")")
            reply = reply[match.end() : -1 if wrapped else None]
    if "SMTP error from remote mail" in reply:
        match = _EXIM_SMTP_ERROR.search(reply)
        if match is not None:
            command = command_at(match.group(1))
            reply = reply[match.end() :]
    else:
        for said, said_command in _POSTFIX_SAID:
            at = reply.find(said)
            if at == -1:
                continue
            lead = reply.rfind("host", 0, at)
            if lead == 0 or (lead > 0 and reply[lead - 1].isspace()):
                match = _POSTFIX_HOST.fullmatch(reply, lead, at)
                if match is not None:
                    host, command = match.group(1).lower(), said_command
                    reply = reply[at + len(said) :]
            break
    if not reply or not reply[0].isdigit():
        # no reply: the MTA's own words ("lost connection with mx.example.org[192.0.2.1]
        # while sending end of data"); the host and the step they name
        reply = _without_note(reply, None)[0] if _IN_REPLY_TO in reply else reply
        return reply or text, command or find_smtp_command(text), host or _logged_host(text)
    if _IN_REPLY_TO in reply:
        reply, command = _without_note(reply, command)
    return reply, command, host


def _without_note(reply: str, command: str | None) -> tuple[str, str | None]:
    """``reply`` without Postfix's ``(in reply to RCPT TO command)`` at its end, and the
    command that note names (else ``command``)."""
    at = reply.rfind(_IN_REPLY_TO)
    start = at + len(_IN_REPLY_TO)
    if not _IN_REPLY_TO_END.fullmatch(reply, start):
        return reply, command
    return reply[:at].rstrip() or reply, command_at(reply[start:]) or command


def _host_after(text: str, lead_in: str, end: int) -> str | None:
    """The host after the first ``lead_in`` in ``text[:end]`` (Exim "H=", Sendmail "relay=")."""
    at = text.find(lead_in, 0, end)
    if at == -1:
        return None
    match = _LOGGED_HOST.match(text, at + len(lead_in), end)
    return (match.group(1) or match.group(2)).lower() if match is not None else None


def _logged_host(words: str) -> str | None:
    """The first remote host that the MTA's ``words`` name after a lead-in."""
    found, host = len(words), None
    for lead_in in _HOST_LEAD_INS:
        at = words.find(lead_in)
        while at != -1 and at < found:
            if at == 0 or not (words[at - 1].isalnum() or words[at - 1] in "_."):
                match = _LOGGED_HOST.match(words, at + len(lead_in))
                if match is not None and (match.group(2) or lead_in != "host "):
                    found, host = at, (match.group(1) or match.group(2)).lower()
                    break
            at = words.find(lead_in, at + 1)
    return host


# "mx.example.org[192.0.2.1]:25", "mx.example.org:25", "mx.example.org. (192.0.2.1)",
# "dns; mx.example.org", "[192.0.2.1]", "[IPv6:2001:db8::1]"
_MX_VALUE = re.compile(
    r"(?:dns;[ \t]*)?\[?(?:IPv6:)?([^\s\[\]()]+?)\]?\.?(?::\d{1,5})?(?=[ \t]*[\[(]|$)",
    re.IGNORECASE,
)


def host_name(value: str | None) -> str | None:
    """The host of an ``mx`` value as MTAs log it, lower-cased, without the address in
    brackets, the port or the root dot (``mx.example.org[192.0.2.1]:25`` is
    ``mx.example.org``). A plain host name (the common case) costs no regex."""
    if not value:
        return None
    if not ("[" in value or ":" in value or " " in value or "(" in value or ";" in value):
        return value.rstrip(".").lower() or value
    match = _MX_VALUE.match(value)
    return match.group(1).lower() if match is not None else value


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
