"""What the quarantine policy reads from one decoded ``FailureEvent``: an :class:`AddressSignal`.

The state stage decodes ``bounces.failures`` (Avro ``FailureEvent``, see
``schemas/failure_event.avsc``) and feeds each record to the policy through
:meth:`AddressSignal.from_failure_event`. Times are normalised to UTC and truncated to
whole milliseconds, the precision of Avro ``timestamp-millis``, so that a state rebuilt
from its stored or published form equals the state computed live.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processor.qualify.result import FailureType, Reason

SUCCESS_MARKER = "delivered"
DELAY_MARKER = "delayed"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_utc_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to whole milliseconds (a naive time is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


class AddressSignal(BaseModel):
    """One event about one address, as the quarantine policy sees it."""

    model_config = ConfigDict(frozen=True)

    address: str = Field(min_length=1)
    event_time: datetime
    failure_type: FailureType
    reason: Reason
    rule_id: str = ""
    ruleset_version: str = ""
    event_id: str = ""
    is_success: bool = False  # a delivered report, not a failure
    is_delay: bool = False  # a delay report (Action: delayed): the message is still queued

    @field_validator("event_time")
    @classmethod
    def _utc_millis(cls, value: datetime) -> datetime:
        return to_utc_millis(value)

    @classmethod
    def from_failure_event(
        cls, event: Mapping[str, Any], address: str | None = None
    ) -> AddressSignal:
        """From a decoded ``FailureEvent`` dict; ``address`` is the record key when given.

        A success report (kind or detail ``delivered``) becomes a signal with
        ``is_success`` set; a delay report (action ``delayed``) one with ``is_delay`` set.
        """
        event_time = event["event_time"]
        if isinstance(event_time, int):  # epoch milliseconds, when decoded without logical types
            event_time = EPOCH + timedelta(milliseconds=event_time)
        return cls(
            address=address if address is not None else event["recipient"],
            event_time=event_time,
            failure_type=event["failure_type"],
            reason=event["reason"],
            rule_id=event.get("rule_id") or "",
            ruleset_version=event.get("ruleset_version") or "",
            event_id=event.get("event_id") or "",
            is_success=SUCCESS_MARKER in (event.get("kind"), event.get("detail")),
            is_delay=str(event.get("action") or "").strip().lower() == DELAY_MARKER,
        )
