"""The outcome of qualifying one record: failure type, reason, detail and provenance."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class FailureType(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    IGNORED = "ignored"
    UNQUALIFIED = "unqualified"


class Reason(StrEnum):
    """Adobe Campaign level reasons."""

    USER_UNKNOWN = "user_unknown"
    MAILBOX_FULL = "mailbox_full"
    INACTIVE_MAILBOX = "inactive_mailbox"
    INVALID_DOMAIN = "invalid_domain"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    NOT_DEFINED = "not_defined"


class Qualification(BaseModel):
    """How a record was qualified, and which rule (or fallback) decided it."""

    model_config = ConfigDict(frozen=True)

    failure_type: FailureType
    reason: Reason
    detail: str  # Sisimai vocabulary: userunknown, mailboxfull, ...
    rule_id: str  # the deciding rule id, or "status:5.1.1", "reply:5xx", "unqualified"
    ruleset_version: str  # "<semver>+<content hash>"
