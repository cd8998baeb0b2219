"""Parsing bytes into a stdlib :class:`email.message.Message`, repairing what is common.

The stdlib parser does the MIME work; this module only normalises line endings first and
afterwards repairs multiparts whose declared boundary does not match the delimiter lines
actually used (a frequent defect of hand-written bounce generators), by re-parsing such
a part with the delimiter found in its body.
"""

from __future__ import annotations

import email
import re
from collections import Counter
from email import policy as email_policy
from email.message import Message

MAX_REPAIR_DEPTH = 5
_DELIMITER = re.compile(r"^--([^\s][^\r\n]{0,200}?)(--)?[ \t]*$", re.MULTILINE)


def read_message(data: bytes) -> Message:
    """Parse ``data`` (any line endings) and repair mismatched multipart boundaries."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    message = email.message_from_bytes(data, policy=email_policy.compat32)
    _plain_structural_headers(message)
    _repair(message, depth=0)
    return message


_STRUCTURAL_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition")


def _plain_structural_headers(message: Message) -> None:
    """Turn 8-bit MIME headers (stdlib ``Header`` objects) into ``str`` the stdlib can read."""
    for part in message.walk():
        for name in _STRUCTURAL_HEADERS:
            value = part.get(name)
            if value is not None and not isinstance(value, str):
                part.replace_header(name, str(value).encode("ascii", "replace").decode("ascii"))


def _repair(message: Message, depth: int) -> None:
    if depth > MAX_REPAIR_DEPTH or message.get_content_maintype() != "multipart":
        return
    payload = message.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                _repair(part, depth + 1)
        return
    if not isinstance(payload, str):
        return
    boundary = _used_boundary(payload)
    if boundary is None:
        return
    content_type = str(message.get("Content-Type", "multipart/mixed"))
    content_type = re.sub(r"(?is);?\s*boundary\s*=\s*(\"[^\"]*\"|[^;\s]*)", "", content_type)
    rebuilt = email.message_from_string(
        f'Content-Type: {content_type}; boundary="{boundary}"\n\n{_drop_stray_params(payload)}',
        policy=email_policy.compat32,
    )
    parts = rebuilt.get_payload()
    if isinstance(parts, list) and parts:
        message.set_payload(parts)
        del message["Content-Type"]
        message["Content-Type"] = f'{content_type}; boundary="{boundary}"'
        for part in parts:
            if isinstance(part, Message):
                _repair(part, depth + 1)


def _used_boundary(body: str) -> str | None:
    """The delimiter that the body actually uses: the most frequent ``--x`` line."""
    counts: Counter[str] = Counter()
    for match in _DELIMITER.finditer(body):
        counts[match.group(1)] += 1
    for candidate, count in counts.most_common():
        if count >= 2 or f"--{candidate}--" in body:
            return candidate
    return None


def _drop_stray_params(body: str) -> str:
    """Drop header-parameter lines that ended up in the body (an unfolded ``boundary=``)."""
    return re.sub(r"\A\s*(?:[A-Za-z\-]+=\"[^\"\n]*\";?\s*\n)+", "", body)
