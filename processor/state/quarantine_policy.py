"""The quarantine policy as data: thresholds, spacings and durations per failure reason.

The policy lives in ``rules/quarantine.yaml``; :func:`load_quarantine_policy` reads and
validates it into a frozen :class:`QuarantinePolicy`, which the pure functions of
:mod:`processor.state.quarantine` take as an argument. Nothing here reads the clock.

Durations are written ``<n><unit>`` (unit ``ms``, ``s``, ``m``, ``h``, ``d``; e.g. ``30d``)
or as ISO 8601 durations (``P30D``). They must be positive whole milliseconds, because
states are stored and published with millisecond precision.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processor.paths import rules_dir
from processor.qualify.result import FailureType, Reason

ONE_MILLISECOND = timedelta(milliseconds=1)

_SHORT_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def parse_duration(value: Any) -> Any:
    """``"30d"`` → ``timedelta(days=30)``; anything else is left to pydantic (ISO 8601)."""
    if isinstance(value, str):
        match = _SHORT_DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNIT[match.group(2)]
    return value


def _check_duration(value: timedelta | None, name: str) -> timedelta | None:
    if value is None:
        return None
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive, got {value}")
    if value % ONE_MILLISECOND:
        raise ValueError(f"{name} must be whole milliseconds, got {value}")
    return value


class ReasonAction(StrEnum):
    COUNT = "count"  # increments the error counter; quarantines at the threshold
    DENYLIST = "denylist"  # denylists the address at once
    IGNORE = "ignore"  # changes nothing


class ReasonRule(BaseModel):
    """What one failure reason does to an address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ReasonAction
    quarantine_at: int | None = Field(default=None, ge=1)
    release_after: timedelta | None = None

    @field_validator("release_after", mode="before")
    @classmethod
    def _parse_release_after(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("release_after")
    @classmethod
    def _positive_release_after(cls, value: timedelta | None) -> timedelta | None:
        return _check_duration(value, "release_after")

    @model_validator(mode="after")
    def _threshold_only_for_count(self) -> ReasonRule:
        if self.quarantine_at is not None and self.action is not ReasonAction.COUNT:
            raise ValueError("quarantine_at only applies to action: count")
        return self


IGNORE_RULE = ReasonRule(action=ReasonAction.IGNORE)


class QuarantinePolicy(BaseModel):
    """The whole quarantine policy; see ``rules/quarantine.yaml`` for the meaning of each field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    counting_failure_types: frozenset[FailureType] = frozenset({FailureType.HARD, FailureType.SOFT})
    count_delays: bool = False  # whether a delay report (Action: delayed) is an error
    min_spacing: timedelta | None = None
    reset_after: timedelta | None = None
    success_resets: bool = True
    keep_errors: int = Field(default=3, ge=1, le=255)
    reasons: dict[Reason, ReasonRule] = Field(default_factory=dict)

    @field_validator("min_spacing", "reset_after", mode="before")
    @classmethod
    def _parse_durations(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("min_spacing", "reset_after")
    @classmethod
    def _positive_durations(cls, value: timedelta | None) -> timedelta | None:
        return _check_duration(value, "duration")

    def rule_for(self, reason: Reason) -> ReasonRule:
        """The rule of ``reason``; a reason the policy does not name is ignored."""
        return self.reasons.get(reason, IGNORE_RULE)


def default_policy_path() -> Path:
    return rules_dir() / "quarantine.yaml"


def parse_quarantine_policy(document: dict[str, Any]) -> QuarantinePolicy:
    """Validate an already-parsed policy document (e.g. one read from ``bounces.rules``)."""
    return QuarantinePolicy.model_validate(document)


def load_quarantine_policy(path: Path | None = None) -> QuarantinePolicy:
    """Read and validate ``rules/quarantine.yaml`` (or ``path``)."""
    source = path or default_policy_path()
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{source}: a quarantine policy must be a mapping")
    return parse_quarantine_policy(document)
