"""Small, pure text helpers shared by every intake format and dialect.

Reading addresses, SMTP reply codes, RFC 3463 enhanced status codes and dates out of
free text, decoding MIME header words and MIME parts to ``str`` whatever their charset or
transfer encoding. Nothing here knows about one particular MTA.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from processor.intake.mime import (
    content_charset,
    content_type_of,
    decoded_payload,
    first_header,
    raw_payload,
)

# -- addresses -------------------------------------------------------------------------

_DOMAIN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
)
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@" + _DOMAIN)
# a whole value (a DSN recipient field) whose domain holds an underscore, a character the
# hostname syntax of _DOMAIN leaves out: the address as written, not its part before "_"
_UNDERSCORED_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@(?=[A-Za-z0-9.\-]*_)[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?"
)
# a quoted local part (RFC 5321 Quoted-string): "first last"@example.org
_QUOTED_ADDRESS = re.compile(r'"(?:[^"\\\n]|\\.){1,64}"@' + _DOMAIN)
# an address in angle brackets, whatever its characters (RFC 6531 paths hold UTF-8)
_BRACKETED = re.compile(r"<([^\s<>]{1,254})>")
_NON_RECIPIENT_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "mailerdaemon", "mail-daemon", "double-bounce"}
)


def find_addresses(text: str) -> list[str]:
    """Every e-mail address in ``text``, in order, normalised, without duplicates."""
    if '"@' in text or not text.isascii():
        return _find_unusual_addresses(text)
    seen: dict[str, None] = {}
    for match in _ADDRESS.finditer(text):
        # what normalize_address gives for a text that is one whole address match
        address = match.group(0).strip(".'\"").lower()
        local, _, domain = address.partition("@")
        if local and "." in domain:
            seen.setdefault(address, None)
    return list(seen)


def _find_unusual_addresses(text: str) -> list[str]:
    """:func:`find_addresses` for text that may hold a quoted local part or non-ASCII
    letters: quoted addresses and UTF-8 addresses (in ``<>``, or glued to the ASCII part
    of a match by letters of an alphabetic script) are read whole, never as the ASCII
    tail of their local part (``jürgen@example.de`` is not ``rgen@example.de``)."""
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    if '"@' in text:
        for match in _QUOTED_ADDRESS.finditer(text):
            found.append((match.start(), match.group(0).lower()))
            spans.append(match.span())
    if not text.isascii():
        for match in _BRACKETED.finditer(text):
            inner = match.group(1)
            if not inner.isascii() and _INTERNATIONAL_ADDRESS.fullmatch(inner):
                found.append((match.start(1), inner.lower()))
                spans.append(match.span(1))
    for match in _ADDRESS.finditer(text):
        start, end = match.span()
        if any(low <= start < high for low, high in spans):
            continue
        if (start and _glued(text[start - 1])) or (end < len(text) and _glued(text[end])):
            token = _token_around(text, start, end)
            if _INTERNATIONAL_ADDRESS.fullmatch(token):
                found.append((start, token.lower()))
            continue
        address = match.group(0).strip(".'\"").lower()
        local, _, domain = address.partition("@")
        if local and "." in domain:
            found.append((start, address))
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(address for _, address in found))


def _glued(character: str) -> bool:
    """A letter of an alphabetic script (not ASCII, not CJK): it continues the address
    (``ü`` in ``jürgen@...``); CJK text may abut an address without a space."""
    return not character.isascii() and character.isalpha() and ord(character) < 0x2E80


_TOKEN_END = frozenset(" \t\n<>()[],;:\"'")


def _token_around(text: str, start: int, end: int) -> str:
    """The run of characters around ``text[start:end]`` up to a space or punctuation."""
    while start > 0 and text[start - 1] not in _TOKEN_END:
        start -= 1
    while end < len(text) and text[end] not in _TOKEN_END:
        end += 1
    return text[start:end].rstrip(".")


# an address in angle brackets that a line wrap split ("<long.name@sub-\n    domain.example>")
_WRAPPED_ADDRESS = re.compile(r"<([^\s<>]{1,200})\n[ \t]*([^\s<>]{1,200})>")


def join_wrapped_addresses(text: str) -> str:
    """``text`` with the angle-bracketed addresses that a hard line wrap split (a bounce
    forwarded or re-wrapped at 76 columns) joined back onto one line."""
    if "<" not in text:
        return text

    def join(match: re.Match[str]) -> str:
        joined = match.group(1) + match.group(2)
        if joined.count("@") == 1 and find_addresses(f"<{joined}>") == [joined.lower()]:
            return f"<{joined}>"
        return match.group(0)

    return _WRAPPED_ADDRESS.sub(join, text)


def normalize_address(value: str | None) -> str | None:
    """Lower-case an address and strip ``<>``, quotes, ``rfc822;`` and a trailing dot."""
    if not value:
        return None
    text = value.strip()
    if ";" in text:
        kind, _, rest = text.partition(";")
        if kind.strip().lower() in {"rfc822", "rfc-822", "x-unknown", "unknown", "utf-8"}:
            text = rest.strip()
    if '"@' in text:
        quoted = _QUOTED_ADDRESS.search(text)
        if quoted is not None:
            return quoted.group(0).lower()
    if "_" in text.rpartition("@")[2]:  # (a plain test first: this runs once per record)
        whole = _UNDERSCORED_ADDRESS.fullmatch(text.strip("<>"))
        if whole is not None:  # kept whole: "user@example.com_" is not "user@example.com"
            return whole.group(0).lower()
    match = _ADDRESS.search(text) if text.isascii() else _international_address(text)
    if match is None:
        return None
    address = match.group(0).strip(".'\"").lower()
    local, _, domain = address.partition("@")
    if not local or not domain:
        return None
    return address


# An address with UTF-8 in its local part or domain (RFC 6531/6532), accepted only as
# the whole of a value (a DSN recipient field): in free text, non-ASCII letters next to
# an address are words of the sentence, not part of the address.
_INTERNATIONAL_ADDRESS = re.compile(
    r"[^\s<>()\[\]\\,;:@\"]+@(?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W_](?:[\w\-]*[^\W_])?"
)
_TRAILING_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")


def _international_address(text: str) -> re.Match[str] | None:
    """The address of a non-ASCII value that is one address (in ``<>``, with an optional
    trailing comment), else the first ASCII address in it."""
    value = _TRAILING_COMMENT.sub("", text).strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    whole = _INTERNATIONAL_ADDRESS.fullmatch(value)
    return whole if whole is not None else _ADDRESS.search(text)


_XTEXT_CHARACTERS = {"+2B": "+", "+3D": "="}
_XTEXT_ADDRESS_ESCAPE = re.compile(r"\+(?:2B|3D)")
_UNITEXT_HEX = re.compile(r"\\x\{([0-9A-Fa-f]{2,6})\}")


def decode_xtext(value: str) -> str:
    """RFC 3461 xtext (``user+2Btag@example.com``) to text (``user+tag@example.com``).

    Only ``+2B`` (``+``) and ``+3D`` (``=``), the escapes an address can hold, are
    undone, so that a plain address with a ``+`` tag is left as it was.
    """
    return _XTEXT_ADDRESS_ESCAPE.sub(lambda match: _XTEXT_CHARACTERS[match[0]], value)


def decode_utf8_xtext(value: str) -> str:
    """RFC 6533 ``utf-8-addr-xtext`` / ``-unitext`` (``j\\x{F6}ran@example.de``) to text."""
    if "\\x{" not in value:
        return value

    def unescape(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match[0]

    return _UNITEXT_HEX.sub(unescape, value)


def is_system_address(address: str) -> bool:
    """True for MAILER-DAEMON, postmaster and the like: never the failed recipient."""
    return address.split("@", 1)[0] in _NON_RECIPIENT_LOCAL_PARTS


# -- SMTP reply codes and enhanced status codes ----------------------------------------

# Each pattern starts with its digit class (so the regex engine can skip ahead fast); the
# character before a match is checked in Python instead of with a leading look-behind.
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_FAILURE_STATUS = re.compile(r"([45])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_REPLY_THEN_STATUS = re.compile(
    r"([45][0-5]\d)[\s\-]+['\"(#]?([45]\.\d{1,3}\.\d{1,3})(?![\d]|\.\d)"
)
_REPLY_CODE = re.compile(r"([45][0-5]\d)(?=[\s\-:.,)\]\"']|$)")
_SUCCESS_REPLY = re.compile(r"(2[0-5]\d)(?=[\s\-:.,)\]\"']|$)")
_NOT_BEFORE_NUMBER = frozenset("0123456789.")
_BEFORE_REPLY_CODE = frozenset(" \t\n\r:;([\"'<=#")


def _first_match(
    pattern: re.Pattern[str], text: str, *, after: frozenset[str] | None = None
) -> re.Match[str] | None:
    """The first match not glued to a preceding number (or, with ``after``, preceded by
    one of those characters or the start of the text)."""
    for match in pattern.finditer(text):
        start = match.start()
        if start == 0:
            return match
        before = text[start - 1]
        if (before in after) if after is not None else (before not in _NOT_BEFORE_NUMBER):
            return match
    return None


def find_status(text: str | None, *, failure_only: bool = True) -> str | None:
    """The best enhanced status code in ``text``.

    A code right after a reply code (``550 5.1.1``, ``550-'5.7.1``) is preferred over
    one elsewhere, as it is the receiving server's own verdict.
    """
    if not text or "." not in text:  # cheap pre-check: most lines have no code at all
        return None
    paired = _first_match(_REPLY_THEN_STATUS, text)
    if paired is not None:
        return paired.group(2)
    match = _first_match(_FAILURE_STATUS if failure_only else _STATUS, text)
    return ".".join(match.groups()) if match else None


def find_reply_code(text: str | None, *, success: bool = False) -> int | None:
    """The SMTP reply code in ``text``: one paired with a status, else the first one.

    Only failure (4xx/5xx) codes unless ``success`` asks for a 2xx one.
    """
    if not text or ("4" not in text and "5" not in text and not success):
        return None
    if success:
        match = _first_match(_SUCCESS_REPLY, text, after=_BEFORE_REPLY_CODE)
        return int(match.group(1)) if match else None
    paired = _first_match(_REPLY_THEN_STATUS, text)
    if paired is not None:
        return int(paired.group(1))
    match = _first_match(_REPLY_CODE, text, after=_BEFORE_REPLY_CODE)
    return int(match.group(1)) if match else None


def is_generic_status(status: str | None) -> bool:
    """``5.0.0`` / ``4.0.0``: says nothing beyond permanent or temporary."""
    return status is None or status.endswith(".0.0")


def clean_status(value: str | None) -> str | None:
    """The ``x.y.z`` code of a ``Status:`` field value (``5.0.0 (permanent failure)``)."""
    if not value:
        return None
    match = _first_match(_STATUS, value)
    return ".".join(match.groups()) if match else None


def best_status(field_status: str | None, diagnostic: str | None) -> str | None:
    """The reported ``Status``, unless generic while the diagnostic says more."""
    if field_status is not None and not is_generic_status(field_status):
        return field_status
    return preferred_status(field_status, find_status(diagnostic))


def preferred_status(field_status: str | None, from_diagnostic: str | None) -> str | None:
    """:func:`best_status` with the diagnostic's status already found."""
    if field_status is not None and not is_generic_status(field_status):
        return field_status
    if field_status is None:
        return from_diagnostic
    if (
        is_generic_status(field_status)
        and from_diagnostic is not None
        and from_diagnostic[0] == field_status[0]
        and not is_generic_status(from_diagnostic)
    ):
        return from_diagnostic
    return field_status


# -- the SMTP command a reply answered ------------------------------------------------

# The phrasings that name the SMTP command a reply answered, as (lead-in, what follows
# it, what must precede it). Lead-ins are found with ``str.find`` in the lower-cased text
# and the rest is matched at that spot: a case-insensitive regex alternation of all the
# phrasings, tried at every position, cost more than the rest of a message's parsing.
_AFTER_REPLY = re.compile(
    r"(?:the )?(rcpt to|mail from|end of data|data|helo|ehlo|message text|bdat)\b"
)
_AFTER_STEP = re.compile(
    r"(?:the |pipelined )?(rcpt to|mail from|end of data|data|initial connection|helo|ehlo|"
    r"greeting|message data|bdat)\b"
)
_AFTER_TRANSCRIPT = re.compile(r"(rcpt|mail|data|helo|ehlo|bdat)\b")
_WORD_START, _LINE_OR_SPACE, _ANYWHERE = 0, 1, 2
_COMMAND_LEAD_INS: tuple[tuple[str, re.Pattern[str] | None, int], ...] = (
    ("in reply to ", _AFTER_REPLY, _WORD_START),
    ("after ", _AFTER_STEP, _WORD_START),
    ("during ", _AFTER_STEP, _WORD_START),
    ("while sending ", _AFTER_STEP, _WORD_START),
    ("in response to ", _AFTER_STEP, _WORD_START),
    (">>> ", _AFTER_TRANSCRIPT, _LINE_OR_SPACE),
    ("--> ", _AFTER_TRANSCRIPT, _LINE_OR_SPACE),
    ("sent <<< ", _AFTER_TRANSCRIPT, _LINE_OR_SPACE),
    ("[rcpt_to]", None, _ANYWHERE),
    ("[mail_from]", None, _ANYWHERE),
    ("[data]", None, _ANYWHERE),
    # Postfix "host mx.example.org[192.0.2.1] refused to talk to me: 554 ..." (the greeting)
    ("refused to talk to me", None, _WORD_START),
)
_COMMAND_NAMES = {
    "rcpt to": "RCPT",
    "rcpt_to": "RCPT",
    "rcpt": "RCPT",
    "mail from": "MAIL",
    "mail_from": "MAIL",
    "mail": "MAIL",
    "end of data": "DATA",
    "data": "DATA",
    "message text": "DATA",
    "message data": "DATA",
    "bdat": "DATA",
    "helo": "HELO",
    "ehlo": "EHLO",
    "initial connection": "CONN",
    "greeting": "CONN",
    "refused to talk to me": "CONN",
}


def command_at(phrase: str) -> str | None:
    """The SMTP command that ``phrase`` starts with, where an MTA's own words name the
    step it was at (``RCPT TO:<a@example.org>``, ``end of DATA command)``, ``pipelined
    end of data``): what follows its "in reply to" / "after", without searching."""
    head = phrase[:40].lower()
    match = _AFTER_STEP.match(head) or _AFTER_REPLY.match(head)
    return _COMMAND_NAMES[match.group(1)] if match is not None else None


def find_smtp_command(text: str | None) -> str | None:
    """The SMTP command a failure answered (``RCPT``, ``DATA``...), the last one named."""
    if not text:
        return None
    lowered = text.lower()
    last_at, found = -1, None
    for lead_in, rest, before in _COMMAND_LEAD_INS:
        at = lowered.find(lead_in)
        while at != -1:
            if at > last_at and _command_lead_in_starts(lowered, at, before):
                if rest is None:
                    last_at, found = at, _COMMAND_NAMES[lead_in.strip("[] ")]
                else:
                    match = rest.match(lowered, at + len(lead_in))
                    if match is not None:
                        last_at, found = at, _COMMAND_NAMES[match.group(1)]
            at = lowered.find(lead_in, at + 1)
    return found


# a line of an SMTP transcript: what the sending side sent (">>> RCPT To:<a@example.org>")
# or the last line of a reply ("<<< 550 5.1.1 <a@example.org>... User unknown", not
# "<<< 250-SIZE 10240000"), as Sendmail writes them
_TRANSCRIPT_LINE = re.compile(
    r"^[ \t]*(?:>>> ?([^\n]*)|<<< ?([2-5]\d\d)(?: ([^\n]*))?)$", re.MULTILINE
)
_SENT_COMMAND = re.compile(r"(mail|rcpt|data|bdat|helo|ehlo|\.)(?=\s|:|$)", re.IGNORECASE)


def sent_command(line: str) -> str | None:
    """The command a line the sending side sent starts with: ``RCPT`` for ``RCPT
    To:<a@example.org>``, ``DATA`` for ``DATA``, ``BDAT 100 LAST`` or the ``.`` ending the
    data; None for anything else."""
    word = _SENT_COMMAND.match(line.strip())
    if word is None:
        return None
    verb = word.group(1).lower()
    return "DATA" if verb == "." else _COMMAND_NAMES[verb]


def transcript_command(text: str, recipient: str) -> str | None:
    """The command that the failed reply for ``recipient`` answered in a session
    transcript, from the order of its ``>>>`` (sent) and ``<<<`` (received) lines: the
    replies to pipelined commands come in the order the commands went, so after ``>>> MAIL
    From:<...>``, ``>>> RCPT To:<a@example.org>``, ``>>> DATA`` the replies ``<<< 250``,
    ``<<< 550 5.1.1 <a@example.org>... User unknown`` and ``<<< 554 5.5.1 no valid
    recipients`` answer MAIL, RCPT and DATA (the last command named is DATA).

    The failed reply is the first 4xx / 5xx one naming the recipient, else the one
    answering a command naming it, else, when no other recipient was sent, the first 4xx /
    5xx one. A reply beyond the echoed commands has no command. Sendmail sometimes echoes
    only the last command of a pipelined group (``>>> DATA``, then the RCPT reply naming
    the recipient): that reply is read as answering DATA, as Sisimai and the labelled
    corpus read it. None when the text is no transcript or the command is not read so.
    """
    if ">>>" not in text or "<<<" not in text:
        return None
    recipient = recipient.lower()
    groups: list[tuple[list[tuple[str | None, str]], list[str]]] = []
    for match in _TRANSCRIPT_LINE.finditer(text):
        sent, code = match.group(1), match.group(2)
        if sent is not None:
            if not groups or groups[-1][1]:
                groups.append(([], []))
            groups[-1][0].append((sent_command(sent), sent.lower()))
        elif groups:
            groups[-1][1].append(f"{code} {match.group(3) or ''}".lower())
    failed: list[tuple[str, str, str | None]] = []  # (reply, the line sent, its command)
    other_recipients = False
    for commands, replies in groups:
        other_recipients = other_recipients or any(
            name == "RCPT" and recipient not in line for name, line in commands
        )
        for n, reply in enumerate(replies):
            if reply[0] in "45":
                command, line = commands[n] if n < len(commands) else (None, "")
                failed.append((reply, line, command))
    for reply, _, command in failed:
        if recipient in reply:
            return command
    for _, line, command in failed:
        if recipient in line:
            return command
    return failed[0][2] if failed and not other_recipients else None


def _command_lead_in_starts(text: str, at: int, before: int) -> bool:
    if at == 0 or before == _ANYWHERE:
        return True
    previous = text[at - 1]
    if before == _WORD_START:
        return not (previous.isalnum() or previous == "_")
    return previous.isspace()


# -- dates -----------------------------------------------------------------------------


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# The RFC 5322 date as nearly every MTA writes it ("Thu, 29 Apr 2010 23:34:45 +0900",
# optionally with a "(JST)" comment); anything else goes to the stdlib's lenient reader.
_RFC5322_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ?)?(\d{1,2}) ([A-Z][a-z]{2}) ([1-9]\d{3}) "
    r"(\d{2}):(\d{2})(?::(\d{2}))? ([+-])(\d{2})(\d{2})(?: \([^()]*\))?"
)


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date (as in DSN fields and Date headers), timezone-aware, or None."""
    if not value:
        return None
    text = " ".join(value.split())
    match = _RFC5322_DATE.fullmatch(text)
    if match is not None:
        day, month, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
        number = _MONTHS.get(month.lower())
        offset = int(tz_hours) * 3600 + int(tz_minutes) * 60
        if number is not None:
            try:
                return datetime(
                    int(year),
                    number,
                    int(day),
                    int(hour),
                    int(minute),
                    int(second or 0),
                    tzinfo=timezone(timedelta(seconds=-offset if sign == "-" else offset)),
                )
            except ValueError:
                pass  # out of range: the stdlib decides
    return _parse_date_leniently(text)


def _parse_date_leniently(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# -- headers and MIME parts ------------------------------------------------------------


def header_text(message: Message, name: str) -> str | None:
    """A header decoded to ``str`` (RFC 2047 words, any charset), unfolded, or None."""
    raw = message.get(name)
    if raw is None:
        return None
    if isinstance(raw, Header):  # compat32 hands 8-bit header bytes over as a Header
        return decode_words(_header_object_text(raw))
    return decode_words(str(raw))


def _header_object_text(header: Header) -> str:
    pieces = []
    for chunk, charset in decode_header(header):
        if isinstance(chunk, bytes):
            known = charset if charset and charset != "unknown-8bit" else None
            pieces.append(decode_bytes(chunk, known))
        else:
            pieces.append(chunk)
    return "".join(pieces)


_SURROGATE = re.compile("[\udc80-\udcff]")


def decode_words(raw: str) -> str:
    """Decode RFC 2047 encoded words; undecodable input comes back as it was."""
    text = raw
    if not raw.isascii() and _SURROGATE.search(raw):  # raw 8-bit header bytes
        text = raw = decode_bytes(raw.encode("ascii", "surrogateescape"), None)
    if "=?" in raw:
        try:
            text = str(make_header(decode_header(raw)))
        except (LookupError, UnicodeError, ValueError, AssertionError, HeaderParseError):
            text = _ENCODED_WORD.sub(_decode_one_word, raw)  # each word alone
    return " ".join(text.split())


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _decode_one_word(match: re.Match[str]) -> str:
    """One RFC 2047 encoded word decoded, or left as it was when it cannot be (a base64
    word cut short, an unknown charset): one broken word must not cost the others."""
    try:
        return str(make_header(decode_header(match.group(0))))
    except (LookupError, UnicodeError, ValueError, AssertionError, HeaderParseError):
        return match.group(0)


_UNDECLARED_FALLBACKS = ("euc_jp", "cp932")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to ``str`` in the declared charset, falling back to UTF-8 then Latin-1."""
    if charset is None and b"\x1b$" in data:  # undeclared ISO-2022-JP
        charset = "iso-2022-jp"
    for candidate in (charset, "utf-8", *(_UNDECLARED_FALLBACKS if charset is None else ())):
        if not candidate:
            continue
        try:
            return data.decode(_charset_alias(candidate))
        except (LookupError, ValueError):  # ValueError: a NUL in the charset name, bad bytes
            continue
    return data.decode("latin-1")


def _charset_alias(charset: str) -> str:
    name = charset.strip().strip("\"'").lower()
    return {"iso-2022-jp": "iso2022_jp_ext", "cp932": "cp932", "shift-jis": "cp932"}.get(
        name, "cp932" if name in {"shift_jis", "sjis", "x-sjis"} else name
    )


def part_text(part: Message) -> str:
    """The decoded body of a non-multipart part as ``str``; HTML reduced to text."""
    raw = raw_payload(part)
    if isinstance(raw, str) and _is_plain_ascii_text(part, raw):
        text = raw  # what decoding would give, without the round trip through bytes
    else:
        payload = decoded_payload(part)
        if isinstance(payload, bytes):
            text = decode_bytes(payload, content_charset(part))
        else:
            text = raw if isinstance(raw, str) else ""
    if content_type_of(part) == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Encodings that get_payload(decode=True) undoes (it compares the lower-cased raw value).
_DECODED_ENCODINGS = frozenset(
    {"quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue"}
)
# Charsets in which ASCII bytes (without ESC) decode to the same characters.
_ASCII_COMPATIBLE = re.compile(
    r"us-?ascii|ascii|utf-?8|iso[-_]?8859-\d{1,2}|latin-?1|windows-125\d|cp125\d|"
    r"iso-2022-jp|shift[-_]jis|euc-jp|euc-kr|gb2312|gbk|gb18030|big5|koi8-[ru]"
)


def _is_plain_ascii_text(part: Message, raw: str) -> bool:
    """True when decoding ``raw`` (the part's stored payload) would return it unchanged."""
    if not raw.isascii() or "\x1b" in raw:
        return False
    if (first_header(part, "content-transfer-encoding") or "").lower() in _DECODED_ENCODINGS:
        return False
    charset = content_charset(part)
    return charset is None or _ASCII_COMPATIBLE.fullmatch(charset) is not None


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.DOTALL | re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]*>", re.IGNORECASE)


# a link to an address: its words may not name it ("this recipient")
_MAILTO_LINK = re.compile(
    r"<a\b[^>]*?\bhref\s*=\s*[\"']?mailto:([^\"'?>\s]+)[^>]*>(.*?)</a\s*>",
    re.IGNORECASE | re.DOTALL,
)


def _mailto_text(match: re.Match[str]) -> str:
    address, words = unquote(html.unescape(match.group(1))), match.group(2)
    return words if address.lower() in html.unescape(words).lower() else f"{words} ({address})"


def html_to_text(markup: str) -> str:
    """Crude but safe HTML to text: block tags become newlines, entities decoded, and
    the address of a ``mailto:`` link written out when its words do not show it."""
    if "mailto:" in markup:
        markup = _MAILTO_LINK.sub(_mailto_text, markup)
    text = _BLOCK_TAG.sub("\n", markup)
    text = _TAG.sub(" ", text)
    return html.unescape(text)


def first_line(text: str | None, limit: int = 1000) -> str | None:
    """``text`` collapsed to one line of at most ``limit`` characters, or None."""
    if not text:
        return None
    if not text.isprintable():  # NUL and other control bytes of a damaged message
        text = _CONTROL.sub(" ", text)
    collapsed = " ".join(text.split())
    return collapsed[:limit] or None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


_MULTILINE_REPLY = re.compile(r"([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3})(?=\s))?")


def join_reply_lines(diagnostic: str | None) -> str | None:
    """A multi-line SMTP reply folded into one field, without the code that each of its
    lines repeats: ``550-5.1.1 The account 550-5.1.1 does not 550 5.1.1 exist`` becomes
    ``550 5.1.1 The account does not exist`` (RFC 5321 §4.2.1, RFC 2034 §3); lines a log
    joined with ``"; "`` (``550-5.1.1 The account; 550 5.1.1 does not exist``) as well."""
    if not diagnostic:
        return diagnostic
    match = _MULTILINE_REPLY.match(diagnostic)
    if match is None:
        return diagnostic
    code, status = match.groups()
    with_status = rf"[ -][ \t]*{re.escape(status)}(?=\s|$)|" if status else ""
    rest = diagnostic[match.end() :]
    # each line's code after a line break or a space, or the "; " that some logs join with
    before = r"(?:;[ \t]+|\s+)" if f"; {code}" in rest else r"\s+"
    rest = re.sub(rf"{before}{re.escape(code)}(?:{with_status}-|(?=\s|$))", " ", rest)
    head = f"{code} {status}" if status else code
    return " ".join(f"{head} {rest}".split())
