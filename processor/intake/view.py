"""A read-only view of one parsed e-mail, shared by every format and dialect parser.

The view computes, once and lazily, what all parsers need: the decoded bounce headers,
the leaf MIME parts (not descending into the returned original), the human-readable body
text, the machine-readable report parts and the returned original message's headers.
It also builds :class:`BounceRecord` objects with the common fields already filled in,
so a dialect parser only says what is special about its MTA.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from email.message import Message
from typing import Any, Generic, NamedTuple, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field

from processor.intake.mime import (
    content_charset,
    content_type_of,
    decoded_payload,
    filename_of,
    header_map,
    parse_headers_then_body,
    raw_payload,
)
from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import (
    best_status,
    decode_bytes,
    decode_words,
    find_addresses,
    find_reply_code,
    find_smtp_command,
    first_line,
    join_wrapped_addresses,
    normalize_address,
    parse_date,
    part_text,
    transcript_command,
)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_CORRELATION_HEADERS = ("X-Delivery-Id", "X-Campaign-Id", "X-Mailer-Id")

_REPORT_TYPES = frozenset(
    {
        "delivery-status",
        "global-delivery-status",
        "x-delivery-status",
        "delivery-status-notification",
    }
)
_HEADER_PARTS = frozenset({"rfc822-headers", "global-headers", "rfc822-header"})
_NOT_BODY_TEXT = _REPORT_TYPES | _HEADER_PARTS | {"feedback-report"}

# Lines after which a non-MIME bounce quotes the original message.
_ORIGINAL_MARKER = re.compile(
    r"^[ \t>|-]*(?:"
    r"-+ ?(?:This is a copy of|Original message|Below this line is a copy|Undelivered message)"
    r"|[-=]+ ?(?:original message|the original message|returned message|undelivered message)"
    r"|(?:-+ ?)?(?:Original message headers|Original Message Headers)"
    r"|------ This is a copy of the message"
    r"|--- Below this line is a copy of the message"
    r"|-+\s*Original message follows"
    r"|-+\s*The header of the original message"
    r"|-+\s*Unsent message (?:below|follows)"
    r"|Included is a copy of the message header"
    r"|(?:Possibly truncated )?Original message follows[.:]?\s*$"
    r"|-*\s*The header and top \d+ lines of the message follows?"
    r"|Message headers follow:?\s*$"
    r"|-+\s*(?:Original|Returned) message header"
    r"|-+\s*Returned mail follows"
    r"|Below is a copy of the original message"
    r"|(?:-+\s*)?Message text follows"
    r"|Content-Type: message/rfc822"
    r").*$",
    re.IGNORECASE | re.MULTILINE,
)
# Every alternative of _ORIGINAL_MARKER contains one of these (lower-case): when none is
# in the text, the (slow, line-by-line) marker search cannot match and is skipped.
_ORIGINAL_MARKER_WORDS = (
    "copy of",
    "below this line is a copy",
    "original message",
    "undelivered message",
    "returned message",
    "unsent message",
    "returned mail follows",
    "message text follows",
    "message/rfc822",
    "message follows",
    "headers follow",
)
_DASH_LINE_CHARACTERS = frozenset(" \t>|-")


def find_original_marker(text: str) -> re.Match[str] | None:
    """The first :data:`_ORIGINAL_MARKER` line of ``text``, if any.

    The same answer as ``_ORIGINAL_MARKER.search(text)``, which tries the marker's many
    alternatives at every line: only the lines holding a marker word are tried, with the
    dash-only lines above them (a dash line may open a marker whose words follow it).
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # lower-casing moved positions (rare characters)
        return _ORIGINAL_MARKER.search(text)
    starts: set[int] = set()
    for word in _ORIGINAL_MARKER_WORDS:
        at = lowered.find(word)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            starts.add(start)
            while start > 0:  # the dash-only (or blank) lines just above
                above = text.rfind("\n", 0, start - 1) + 1
                if not _DASH_LINE_CHARACTERS.issuperset(text[above : start - 1]):
                    break
                start = above
                starts.add(start)
            at = lowered.find(word, at + len(word))
    for start in sorted(starts):
        match = _ORIGINAL_MARKER.match(text, start)
        if match is not None:
            return match
    return None


_HEADER_LINE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9\-]*): ", re.MULTILINE)


_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """``functools.cached_property`` without its per-instance lock (Python 3.11 takes one).

    Views are never shared between threads, and the lock costs more than most of the
    properties it guards.
    """

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.compute(instance)
        instance.__dict__[self.name] = value
        return value


class IntakeOptions(BaseModel):
    """What a caller may configure about parsing."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    correlation_headers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CORRELATION_HEADERS)
    )


class MessageView:
    """Lazily decoded facts about one message; cheap to build, each fact computed once."""

    def __init__(self, message: Message, options: IntakeOptions) -> None:
        self.message = message
        self.options = options

    # -- the bounce's own headers --------------------------------------------------------

    def header(self, name: str) -> str | None:
        """The first ``name`` header, decoded to one line of text, or None."""
        raw = self._raw_headers.get(name.lower())
        return None if raw is None else decode_words(raw)

    def has_header(self, name: str) -> bool:
        return name.lower() in self._raw_headers

    @cached_property
    def _raw_headers(self) -> dict[str, str]:
        return first_headers(self.message)

    def original_header(self, name: str) -> str | None:
        """A header of the returned original, decoded, or None."""
        raw = self._original_headers.get(name.lower())
        return None if raw is None else decode_words(raw)

    @cached_property
    def _original_headers(self) -> dict[str, str]:
        return first_headers(self.original) if self.original is not None else {}

    @cached_property
    def subject(self) -> str:
        return self.header("Subject") or ""

    @cached_property
    def from_header(self) -> str:
        return self.header("From") or ""

    @cached_property
    def from_address(self) -> str | None:
        return normalize_address(self.from_header)

    @cached_property
    def to_addresses(self) -> frozenset[str]:
        return frozenset(find_addresses(self.header("To") or ""))

    @cached_property
    def date(self) -> datetime | None:
        return parse_date(self.header("Date"))

    @cached_property
    def content_type(self) -> str:
        return content_type_of(self.message)

    # -- parts ---------------------------------------------------------------------------

    @cached_property
    def leaf_parts(self) -> list[Message]:
        """Leaf parts in order; the inside of attached messages is not descended into."""
        return [leaf.part for leaf in self._leaves]

    @cached_property
    def _leaves(self) -> list[_Leaf]:
        leaves: list[_Leaf] = []
        _collect_leaves(self.message, leaves)
        return leaves

    def parts_of_type(self, maintype: str, subtypes: Collection[str]) -> list[Message]:
        return [
            leaf.part
            for leaf in self._leaves
            if leaf.maintype == maintype and leaf.subtype in subtypes
        ]

    @cached_property
    def delivery_status_text(self) -> str | None:
        """The text of a ``message/delivery-status`` part, however the parser stored it."""
        for leaf in self._leaves:
            if leaf.subtype in _REPORT_TYPES and leaf.maintype in {"message", "text"}:
                return report_part_text(leaf.part)
        return None

    @cached_property
    def feedback_report_text(self) -> str | None:
        for leaf in self._leaves:
            if leaf.subtype == "feedback-report":
                return report_part_text(leaf.part)
        return None

    @cached_property
    def body_text(self) -> str:
        """The human-readable text of the bounce (plain text preferred), before the original."""
        plain: list[str] = []
        rich: list[Message] = []  # HTML: converted only when there is no plain text
        for leaf in self._leaves:
            if leaf.maintype == "multipart":  # broken: no usable boundary
                plain.append(part_text(leaf.part))
                continue
            if leaf.maintype != "text" or leaf.subtype in _NOT_BODY_TEXT:
                continue
            if (plain or rich) and filename_of(leaf.part):
                continue
            if leaf.subtype == "html":
                rich.append(leaf.part)
            else:
                plain.append(part_text(leaf.part))
        if any(text.strip() for text in plain):
            return join_wrapped_addresses("\n".join(plain))
        return join_wrapped_addresses("\n".join(part_text(part) for part in rich))

    @cached_property
    def opening(self) -> str:
        """The first 5000 characters of :attr:`body_before_original`, lower-cased."""
        return self.body_before_original[:5000].lower()

    @cached_property
    def _body_lower(self) -> str:
        """:attr:`body_before_original`, lower-cased (once, for every recipient's lookup)."""
        return self.body_before_original.lower()

    def says_any(self, phrases: Iterable[str]) -> bool:
        """True when the opening of the body contains one of the (lower-case) ``phrases``.

        Dialect checks use plain substrings: far cheaper than a regex alternation and
        every dialect is asked about every message that reaches it.
        """
        opening = self.opening
        return any(phrase in opening for phrase in phrases)

    @cached_property
    def body_before_original(self) -> str:
        """:attr:`body_text` cut at the line that introduces a quoted original message."""
        match = self._original_marker
        return self.body_text[: match.start()] if match else self.body_text

    @cached_property
    def _original_marker(self) -> re.Match[str] | None:
        """The line of :attr:`body_text` that introduces a quoted original, if any."""
        return find_original_marker(self.body_text)

    @cached_property
    def original(self) -> Message | None:
        """The returned original message (or just its headers), if the bounce has one."""
        for leaf in self._leaves:
            part, maintype, subtype = leaf.part, leaf.maintype, leaf.subtype
            if maintype == "message" and subtype in {"rfc822", "global", "partial"}:
                payload = raw_payload(part)
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return payload[0]
                if isinstance(payload, str) and payload.strip():
                    return parse_headers_then_body(payload.lstrip())
            if subtype in _HEADER_PARTS:
                return parse_headers_then_body(report_part_text(part).lstrip() + "\n\n")
        return self._inline_original

    @cached_property
    def _inline_original(self) -> Message | None:
        match = self._original_marker
        if match is None:
            return None
        rest = self.body_text[match.end() :]
        first_header = _HEADER_LINE.search(rest)
        if first_header is None or first_header.start() > 400:
            return None
        return parse_headers_then_body(rest[first_header.start() :].replace("\n>", "\n"))

    @cached_property
    def original_fields(self) -> dict[str, Any]:
        """Message-ID, From, To, Subject and correlation headers of the original."""
        original = self.original
        if original is None:
            return {}
        fields: dict[str, Any] = {
            "original_message_id": first_line(self.original_header("Message-ID")),
            "original_from": first_line(self.original_header("From")),
            "original_to": first_line(self.original_header("To")),
            "original_subject": first_line(self.original_header("Subject")),
        }
        correlation = {}
        for name in self.options.correlation_headers:
            value = self.original_header(name)
            if value:
                correlation[name] = value
        if correlation:
            fields["correlation"] = correlation
        return {key: value for key, value in fields.items() if value}

    @cached_property
    def original_recipients(self) -> list[str]:
        """Addresses the original was sent to (its To header), for bounces that omit them."""
        original = self.original
        if original is None:
            return []
        return find_addresses(self.original_header("To") or "")

    @cached_property
    def sender_addresses(self) -> frozenset[str]:
        """Addresses that are the bounce's own parties, never the failed recipient."""
        addresses = set(self.to_addresses)
        if self.from_address:
            addresses.add(self.from_address)
        original = self.original
        if original is not None:
            for name in ("From", "Return-Path", "Sender", "Reply-To"):
                addresses.update(find_addresses(self.original_header(name) or ""))
        return frozenset(addresses)

    # -- building records ------------------------------------------------------------------

    def record(
        self,
        *,
        recipient: str | None,
        dialect: str,
        kind: RecordKind = RecordKind.DSN,
        diagnostic: str | None = None,
        status: str | None = None,
        smtp_code: int | None = None,
        action: str | None = "failed",
        **fields: Any,
    ) -> BounceRecord:
        """A record with the shared fields filled in; explicit ``fields`` win."""
        diagnostic = first_line(diagnostic)
        if kind in {RecordKind.DSN, RecordKind.DELIVERED}:
            status = best_status(status, diagnostic)
            if smtp_code is None:
                smtp_code = find_reply_code(diagnostic, success=kind is RecordKind.DELIVERED)
            if status is None and kind is RecordKind.DSN:
                status = implied_status(smtp_code, action)
            if kind is RecordKind.DSN and "smtp_command" not in fields:
                fields["smtp_command"] = find_smtp_command(diagnostic) or self._command_near(
                    recipient
                )
        values: dict[str, Any] = {
            "kind": kind,
            "recipient": normalize_address(recipient),
            "action": action,
            "status": status,
            "smtp_code": smtp_code,
            "diagnostic": diagnostic,
            "dialect": dialect,
            **self._shared_fields,
        }
        values.update({key: value for key, value in fields.items() if value is not None})
        if values.get("event_time") is None:
            values["event_time"] = (
                values.get("last_attempt_date") or values.get("arrival_date") or self.date
            )
        return BounceRecord.model_validate(values)

    @cached_property
    def _shared_fields(self) -> dict[str, Any]:
        """The fields that every record of this message has in common."""
        return {
            "bounce_from": first_line(self.from_header),
            "bounce_subject": first_line(self.subject),
            **self.original_fields,
        }

    def _command_near(self, recipient: str | None) -> str | None:
        """The SMTP command named in the body text right after ``recipient``."""
        if not recipient:
            return None
        body = self.body_before_original
        if not body:
            return None
        at = self._body_lower.find(recipient.lower())
        window = (body[at : at + 800] if at != -1 else body[:1500]).split("\n\n\n", 1)[0]
        # a session transcript (">>> DATA" / "<<< 550 ..."): the command its failed reply
        # answered, not the last one named (the DATA of a pipelined MAIL, RCPT, DATA)
        return transcript_command(window, recipient) or find_smtp_command(window)


def first_headers(message: Message) -> dict[str, str]:
    """Lower-cased header name to its first raw value (one pass, instead of a scan per get)."""
    return header_map(message)


def implied_status(smtp_code: int | None, action: str | None) -> str | None:
    """The RFC 3463 class (``5.0.0`` / ``4.0.0``) of a failure that states no status.

    The class is known even when the detail is not: a 4xx/5xx reply code says it, else
    the RFC 3464 action does (``failed`` is permanent, ``delayed`` transient).
    """
    if smtp_code is not None and smtp_code // 100 in {4, 5}:
        return f"{smtp_code // 100}.0.0"
    if action == "failed":
        return "5.0.0"
    if action == "delayed":
        return "4.0.0"
    return None


def report_part_text(part: Message) -> str:
    """The raw text of a report part (``message/delivery-status``, ``feedback-report``...).

    The stdlib stores ``message/*`` report parts as a list of header blocks; they are
    turned back into text so that one field reader serves all shapes.
    """
    payload = raw_payload(part)
    if isinstance(payload, list):
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                lines = [f"{name}: {_header_str(value)}" for name, value in block.items()]
                body = block.get_payload()
                if isinstance(body, str) and body.strip():
                    lines.append(body)
                blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    data = decoded_payload(part)
    if isinstance(data, bytes):
        return decode_bytes(data, content_charset(part)).replace("\r\n", "\n")
    return payload if isinstance(payload, str) else ""


def _header_str(value: Any) -> str:
    return " ".join(str(value).split())


class _Leaf(NamedTuple):
    """A leaf part with its content type read once (the stdlib re-reads it on each call)."""

    part: Message
    maintype: str
    subtype: str

    @classmethod
    def of(cls, part: Message) -> _Leaf:
        maintype, _, subtype = content_type_of(part).partition("/")
        return cls(part, maintype, subtype)


def _collect_leaves(message: Message, leaves: list[_Leaf], depth: int = 0) -> None:
    """Append the leaf parts of ``message``; attached messages are leaves themselves."""
    leaf = _Leaf.of(message)
    payload = raw_payload(message)
    if leaf.maintype == "message" or not isinstance(payload, list) or depth > 20:
        leaves.append(leaf)  # message/rfc822, message/delivery-status: a leaf for us
        return
    for part in payload:
        if isinstance(part, Message):
            _collect_leaves(part, leaves, depth + 1)
