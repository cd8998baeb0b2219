"""Bytes to a stdlib :class:`email.message.Message` tree, fast and forgiving.

The stdlib parses every header block and does all decoding (RFC 2047 words, parameters,
transfer encodings, charsets). What this module adds is *lazy structure*: the stdlib's
full parser walks every line of every part, including the returned original message
(often a large newsletter with images) that a bounce reader never needs beyond its
headers, and it caps intake at about 2000 messages/s. So each header block is parsed
with the stdlib in ``headersonly`` mode, and a multipart body is split at its delimiter
lines (RFC 2046 §5.1.1) into parts that are parsed the same way. A returned original
(``message/rfc822``) gets its headers parsed and its body left alone, unless it is
itself a delivery report (a gateway wrapping the real DSN).

Repairs on the way: CR / CRLF line endings, multiparts whose declared boundary does not
match the delimiter lines actually used (the delimiter found in the body wins), and
8-bit bytes in MIME headers.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from email import policy as email_policy
from email.message import Message
from email.parser import Parser

MAX_DEPTH = 8
MAX_PARTS = 500

_COMPAT32 = email_policy.compat32
_TEXT_PARSER = Parser(policy=_COMPAT32)
_DELIMITER = re.compile(r"^--([^\s][^\r\n]{0,200}?)(--)?[ \t]*$", re.MULTILINE)
_STRUCTURAL_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition")
_EXPANDED_ORIGINALS = frozenset({"multipart/report"})
_ATTACHED_MESSAGES = frozenset({"message/rfc822", "message/global"})


def read_message(data: bytes) -> Message:
    """Parse ``data`` (any line endings) into a message tree with lazily read originals."""
    if b"\r" in data:
        data = data.replace(b"\r\r\n", b"\n").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    message = parse_headers_then_body(data.decode("ascii", "surrogateescape"))
    expand(message)
    return message


def expand(message: Message, depth: int = 0) -> None:
    """Split the multipart bodies of ``message`` (parsed headers-only) into parts."""
    if depth > MAX_DEPTH:
        return
    payload = raw_payload(message)
    if not isinstance(payload, str):
        return
    content_type = content_type_of(message)
    if content_type.startswith("multipart/"):
        parts = _split(message, payload)
        if parts is not None:
            message.set_payload(parts)
            for part in parts:
                if isinstance(part, Message):
                    expand(part, depth + 1)
    elif content_type in _ATTACHED_MESSAGES and payload and not payload.isspace():
        encoding = first_header(message, "content-transfer-encoding") or ""
        if encoding.strip().lower() in {"base64", "quoted-printable"}:
            raw = decoded_payload(message)
            text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else payload
        else:
            text = payload
        inner = parse_headers_then_body(text.lstrip("\n"))
        message.set_payload([inner])
        if content_type_of(inner) in _EXPANDED_ORIGINALS:
            expand(inner, depth + 1)


def _split(message: Message, body: str) -> list[Message | str] | None:
    """The parts of a multipart body, at the declared delimiter or the one actually used."""
    declared = boundary_of(message)
    boundary = declared if declared and f"--{declared}" in body else _used_boundary(body)
    if boundary is None:
        return None
    if boundary != declared:
        content_type = str(message.get("Content-Type", "multipart/mixed"))
        content_type = re.sub(r"(?is);?\s*boundary\s*=\s*(\"[^\"]*\"|[^;\s]*)", "", content_type)
        del message["Content-Type"]
        message["Content-Type"] = f'{content_type}; boundary="{boundary}"'
        message.__dict__.pop(_TYPE_CACHE, None)
        message.__dict__.pop(_HEADER_CACHE, None)
    parts: list[Message | str] = []
    start: int | None = None
    for line_start, line_end, closing in _delimiters(body, boundary):
        if start is not None:
            parts.append(_part(body[start : max(start, line_start - 1)]))
        if closing or len(parts) >= MAX_PARTS:
            start = None
            break
        start = line_end + 1
    if start is not None and start < len(body):  # truncated: no close delimiter
        parts.append(_part(body[start:]))
    return parts or None


def _delimiters(body: str, boundary: str) -> list[tuple[int, int, bool]]:
    """(line start, line end, is close delimiter) of each ``--boundary`` line."""
    marker = "--" + boundary
    found = []
    position = 0 if body.startswith(marker) else body.find("\n" + marker)
    while position != -1:
        line_start = position if position == 0 and body.startswith(marker) else position + 1
        line_end = body.find("\n", line_start)
        line_end = len(body) if line_end == -1 else line_end
        rest = body[line_start + len(marker) : line_end].rstrip(" \t")
        if rest in {"", "--"}:
            found.append((line_start, line_end, rest == "--"))
        position = body.find("\n" + marker, line_end)
    return found


def _part(text: str) -> Message:
    if text.startswith("\n") or not text or text.isspace():
        # no header block: RFC 2046 default (text/plain; charset=us-ascii)
        part = Message()
        part.set_payload(text[1:] if text.startswith("\n") else text)
        return part
    return parse_headers_then_body(_drop_stray_params(text))


def parse_headers_then_body(text: str) -> Message:
    """A message whose header block is read into a stdlib message and whose body is kept raw.

    Well-formed header blocks (``Name: value`` lines, folded continuations, a blank line
    at the end) are unfolded here and stored with :meth:`Message.set_raw` through the
    compat32 policy, which is several times faster than the feed parser; anything else
    (no blank line, a stray body line, obsolete syntax) is left to the stdlib parser.
    """
    end = text.find("\n\n")
    block = text[: end + 1] if end != -1 else text
    message = _fast_headers(block)
    if message is None and block.startswith("From "):  # an mbox envelope line, then headers
        line_end = block.find("\n")
        message = _fast_headers(block[line_end + 1 :]) if line_end != -1 else None
        if message is not None:
            message.set_unixfrom(block[:line_end])
    if message is None:
        message = _TEXT_PARSER.parsestr(block, headersonly=True)
        if message.defects:  # e.g. a body line before the blank line: let the stdlib split
            return _TEXT_PARSER.parsestr(text, headersonly=True)
    if not block.isascii():
        _plain_structural_headers(message)
    if end != -1:
        message.set_payload(text[end + 2 :])
    return message


_HEADER_BLOCK = re.compile(r"(?:[!-9;-~]+:[^\n]*\n(?:[ \t][^\n]*\n)*)*")
_HEADER_FIELD = re.compile(r"^([!-9;-~]+):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)


def _fast_headers(block: str) -> Message | None:
    """A message with the headers of ``block``, or None when the block needs the stdlib.

    One regex checks that the block is plain ``Name: value`` fields with folded
    continuations; another yields (name, raw value) pairs stored as compat32 would store
    them (value with its folding, leading blanks stripped).
    """
    if not block.isascii():
        return None  # 8-bit headers: the stdlib's sanitising applies
    if not block.endswith("\n"):
        block += "\n"
    if _HEADER_BLOCK.fullmatch(block) is None:
        return None
    message = Message()
    fields = _HEADER_FIELD.findall(block)
    # what ``set_raw`` would append one by one: compat32 stores (name, value) unchanged
    # (the value never ends with a newline: it is not in the match)
    message._headers = fields  # type: ignore[attr-defined]
    # the header map, built here from the same pairs (reversed: the first of repeats wins)
    message.__dict__[_HEADER_CACHE] = {name.lower(): value for name, value in reversed(fields)}
    return message


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)

# -- cheap readers of what the stdlib re-reads on every call ---------------------------
#
# ``Message.get`` lower-cases every header name up to the one asked for, and
# ``get_payload()`` looks up Content-Transfer-Encoding and scans the whole payload for
# 8-bit bytes on each call; ``get_boundary`` runs the full RFC 2231 parameter parser.
# Intake asks these questions of every part several times, so the answers below are
# read directly (with the stdlib's result wherever a value is unusual).

_TYPE_CACHE = "_intake_content_type"


def raw_payload(part: Message) -> list[Message] | str | None:
    """The payload as stored: a list of parts, or the body text (8-bit bytes kept as
    surrogate escapes).

    Unlike ``get_payload()``, 8-bit text is not re-decoded with the container's charset
    (for a multipart, ASCII with replacement characters, which destroyed the UTF-8 of
    its parts); :func:`processor.intake.text.part_text` decodes each leaf in its own.
    """
    payload: list[Message] | str | None = getattr(part, "_payload", None)
    return payload


_HEADER_CACHE = "_intake_headers"


def header_map(part: Message) -> dict[str, str]:
    """Lower-cased header name to its first raw value, built once per part.

    Intake never changes a part's headers after reading them, except :func:`_split`
    repairing a boundary, which drops this cache.
    """
    cached: dict[str, str] | None = part.__dict__.get(_HEADER_CACHE)
    if cached is not None:
        return cached
    # reversed, so that the first of repeated headers is the one kept
    headers = {name.lower(): value for name, value in reversed([*part.raw_items()])}
    for name, value in headers.items():
        if not isinstance(value, str):  # a stdlib Header object
            headers[name] = str(value)
    part.__dict__[_HEADER_CACHE] = headers
    return headers


def first_header(part: Message, name: str) -> str | None:
    """The first raw value of header ``name`` (given lower-case) as ``str``, or None."""
    return header_map(part).get(name)


def content_type_of(part: Message) -> str:
    """:meth:`Message.get_content_type`, computed once per part."""
    cached: str | None = part.__dict__.get(_TYPE_CACHE)
    if cached is not None:
        return cached
    value = first_header(part, "content-type")
    if value is None:
        found = part.get_default_type()
    elif value.isascii():
        found = value.partition(";")[0].strip().lower()
        if found.count("/") != 1:
            found = "text/plain"  # RFC 2045 §5.2, as the stdlib does
    else:  # 8-bit bytes: the stdlib's sanitising applies
        found = part.get_content_type()
    part.__dict__[_TYPE_CACHE] = found
    return found


_BOUNDARY = re.compile(
    r';[ \t\n]*boundary[ \t\n]*=[ \t\n]*(?:"([^"\\\n]*)"|([^";\s]+))[ \t\n]*(?:;|$)', re.IGNORECASE
)


def boundary_of(part: Message) -> str | None:
    """:meth:`Message.get_boundary` without the full parameter parser for plain values.

    A ``boundary=value`` or ``boundary="value"`` parameter outside any other quoted
    value is read directly; anything else (RFC 2231 ``boundary*``, escapes, angle
    brackets, 8-bit bytes) goes to the stdlib.
    """
    value = first_header(part, "content-type")
    if value is None:
        return None
    match = _BOUNDARY.search(value)
    if (
        match is None
        or not value.isascii()
        or "*" in value
        or "\\" in value
        or value.count('"', 0, match.start()) % 2
        or value.lower().count("boundary") != 1
    ):
        return part.get_boundary()
    found = match.group(1) if match.group(1) is not None else match.group(2)
    if found.startswith("<") and found.endswith(">"):
        return part.get_boundary()
    return found.rstrip()


def filename_of(part: Message) -> str | None:
    """:meth:`Message.get_filename`, without its parameter parser for the many parts
    whose Content-Disposition and Content-Type hold no ``name`` at all (the parameter
    names ``filename`` and ``name``, also in their RFC 2231 forms, all contain it)."""
    headers = header_map(part)
    disposition = headers.get("content-disposition")
    content_type = headers.get("content-type")
    if (disposition is None or "name" not in disposition.lower()) and (
        content_type is None or "name" not in content_type.lower()
    ):
        return None
    return part.get_filename()


def content_charset(part: Message) -> str | None:
    """The ``charset`` parameter of a part's Content-Type, lower-cased, or None.

    The same answer as :meth:`Message.get_content_charset` for the values seen in mail,
    without parsing every parameter.
    """
    content_type = first_header(part, "content-type")
    if content_type is None:
        return None
    match = _CHARSET.search(str(content_type))
    return match.group(1).lower() if match else None


def _used_boundary(body: str) -> str | None:
    """The delimiter that the body actually uses: the most frequent ``--x`` line."""
    counts: Counter[str] = Counter()
    for match in _DELIMITER.finditer(body):
        counts[match.group(1)] += 1
    for candidate, count in counts.most_common():
        if count >= 2 or f"--{candidate}--" in body:
            return candidate
    return None


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")


_BASE64_LINE = 76  # characters of one line of base64 (RFC 2045 §6.8)


def decoded_payload(part: Message) -> bytes | None:
    """:meth:`Message.get_payload` with ``decode=True``, except for a base64 body cut one
    character into a group (a truncated bounce ends mid-line): the stdlib hands that back
    still encoded; here the complete groups are decoded and the lone character dropped.
    Only past one full base64 line: a few characters that do not decode (a body that only
    claims to be base64) stay as the stdlib gives them."""
    payload = raw_payload(part)
    if isinstance(payload, str) and (
        (first_header(part, "content-transfer-encoding") or "").strip().lower() == "base64"
    ):
        encoded = _NOT_BASE64.sub(b"", payload.encode("ascii", "surrogateescape"))
        if len(encoded) % 4 == 1 and len(encoded) > _BASE64_LINE:
            return base64.b64decode(encoded[:-1])
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


_STRAY_PARAMS = re.compile(r"\s*(?:[A-Za-z\-]+=\"[^\"\n]*\";?\s*\n)+")


def _drop_stray_params(text: str) -> str:
    """Drop header-parameter lines left outside their header (an unfolded ``boundary=``)."""
    match = _STRAY_PARAMS.match(text)
    return text[match.end() :] if match else text


def _plain_structural_headers(message: Message) -> None:
    """Turn 8-bit MIME headers (stdlib ``Header`` objects) into ``str`` the stdlib can read."""
    for name in _STRUCTURAL_HEADERS:
        value = message.get(name)
        if value is not None and not isinstance(value, str):
            message.replace_header(name, str(value).encode("ascii", "replace").decode("ascii"))
            message.__dict__.pop(_HEADER_CACHE, None)
            message.__dict__.pop(_TYPE_CACHE, None)
