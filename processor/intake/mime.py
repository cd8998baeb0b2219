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
    payload = message.get_payload()
    if not isinstance(payload, str):
        return
    content_type = message.get_content_type()
    if content_type.startswith("multipart/"):
        parts = _split(message, payload)
        if parts is not None:
            message.set_payload(parts)
            for part in parts:
                if isinstance(part, Message):
                    expand(part, depth + 1)
    elif content_type in {"message/rfc822", "message/global"} and payload.strip():
        if message.get("Content-Transfer-Encoding", "").lower() in {"base64", "quoted-printable"}:
            raw = message.get_payload(decode=True)
            text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else payload
        else:
            text = payload
        inner = parse_headers_then_body(text.lstrip("\n"))
        message.set_payload([inner])
        if inner.get_content_type() in _EXPANDED_ORIGINALS:
            expand(inner, depth + 1)


def _split(message: Message, body: str) -> list[Message | str] | None:
    """The parts of a multipart body, at the declared delimiter or the one actually used."""
    declared = message.get_boundary()
    boundary = declared if declared and f"--{declared}" in body else _used_boundary(body)
    if boundary is None:
        return None
    if boundary != declared:
        content_type = str(message.get("Content-Type", "multipart/mixed"))
        content_type = re.sub(r"(?is);?\s*boundary\s*=\s*(\"[^\"]*\"|[^;\s]*)", "", content_type)
        del message["Content-Type"]
        message["Content-Type"] = f'{content_type}; boundary="{boundary}"'
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
    if text.startswith("\n") or not text.strip():
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
    for name, value in _HEADER_FIELD.findall(block):
        message.set_raw(name, value.rstrip("\n"))
    return message


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def content_charset(part: Message) -> str | None:
    """The ``charset`` parameter of a part's Content-Type, lower-cased, or None.

    The same answer as :meth:`Message.get_content_charset` for the values seen in mail,
    without parsing every parameter.
    """
    content_type = part.get("Content-Type")
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


def _drop_stray_params(text: str) -> str:
    """Drop header-parameter lines left outside their header (an unfolded ``boundary=``)."""
    return re.sub(r"\A\s*(?:[A-Za-z\-]+=\"[^\"\n]*\";?\s*\n)+", "", text)


def _plain_structural_headers(message: Message) -> None:
    """Turn 8-bit MIME headers (stdlib ``Header`` objects) into ``str`` the stdlib can read."""
    for name in _STRUCTURAL_HEADERS:
        value = message.get(name)
        if value is not None and not isinstance(value, str):
            message.replace_header(name, str(value).encode("ascii", "replace").decode("ascii"))
