"""The typed record that every intake format produces: one per failed recipient.

Everything downstream (qualification, state, Avro events) reads this model and nothing
else of the raw input, so it is the contract between parsing and the rest.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RecordKind(StrEnum):
    """What kind of report a record came from."""

    DSN = "dsn"  # RFC 3464 report or a non-standard bounce body
    ARF = "arf"  # RFC 5965 feedback-loop report (or a non-standard FBL)
    SMTP = "smtp"  # synchronous SMTP rejection logged by the sending MTA
    AUTOREPLY = "autoreply"  # RFC 3834 vacation / out-of-office
    DELIVERED = "delivered"  # Action: delivered / relayed / expanded
    UNPARSEABLE = "unparseable"


class BounceRecord(BaseModel):
    """One failed (or reported) recipient of one input.

    Field names follow RFC 3464 where one applies. Text fields are already decoded to
    ``str``; addresses are lower-cased only in :attr:`recipient` (the key downstream).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RecordKind
    recipient: str | None = None
    original_recipient: str | None = None
    action: str | None = None  # failed | delayed | delivered | relayed | expanded
    status: str | None = None  # RFC 3463 enhanced status code, e.g. "5.1.1"
    smtp_code: int | None = None  # SMTP reply code, e.g. 550
    diagnostic: str | None = None  # Diagnostic-Code text (or the bounce body sentence)
    diagnostic_type: str | None = None  # "smtp", "x-unix", ... from Diagnostic-Code
    # The SMTP step the remote server refused, when the bounce says (CONN, HELO, EHLO,
    # MAIL, RCPT, DATA): a user-unknown reply to DATA is a content filter, not a bad address.
    smtp_command: str | None = None
    remote_mta: str | None = None
    reporting_mta: str | None = None
    dialect: str | None = None  # which intake module read it ("rfc3464", "postfix", ...)

    arrival_date: datetime | None = None
    last_attempt_date: datetime | None = None
    event_time: datetime | None = None  # the bounce's own time, best available

    # feedback-loop reports
    feedback_type: str | None = None
    source_ip: str | None = None
    reported_domain: str | None = None

    # the bounce message itself
    bounce_from: str | None = None
    bounce_subject: str | None = None

    # the returned original message, to tie the bounce to the sending
    original_message_id: str | None = None
    original_from: str | None = None
    original_to: str | None = None
    original_subject: str | None = None
    correlation: dict[str, str] = Field(default_factory=dict)

    # SMTP rejection records (and pass-through metadata)
    mx: str | None = None
    sending_ip: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class ParseError(BaseModel):
    """Why an input could not be read. Never raised: returned, then dead-lettered."""

    model_config = ConfigDict(frozen=True)

    error_class: str  # short machine name: "too_large", "not_a_bounce", "bad_json", ...
    message: str


class ParseResult(BaseModel):
    """What intake returns for one input: records, or an error, never an exception."""

    model_config = ConfigDict(frozen=True)

    records: list[BounceRecord] = Field(default_factory=list)
    error: ParseError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
