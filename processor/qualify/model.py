"""Pydantic models of the rule-set files under ``rules/``.

Layout (see ``rules/README.md``)::

    rules/manifest.yaml        name, semver, changelog
    rules/details.yaml         detail -> default reason and failure type
    rules/bounce/*.yaml        qualification rules, one file per provider / MTA family
    rules/quarantine.yaml      (quarantine policy, owned by the state stage)
    rules/mx.yaml              (MX route rules, owned by the state stage)

These models only describe and validate the YAML; compiling and matching live in
:mod:`processor.qualify.engine`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processor.qualify.result import FailureType, Reason

SEMVER = r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$"
# glob on an enhanced status code: "5.1.1", "5.1.*", "4.*", "5.[27].*"
STATUS_GLOB = r"^[245*?\[][0-9.*?\[\]!-]{0,15}$"

# the SMTP step a failure answered (BounceRecord.smtp_command), or "none" when the bounce
# does not say
SmtpCommand = Literal["CONN", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "none"]


class RuleField(StrEnum):
    """Which part of a record a rule's pattern is matched against."""

    DIAGNOSTIC = "diagnostic"  # Diagnostic-Code text / SMTP response / bounce sentence
    STATUS = "status"  # RFC 3463 enhanced status code, e.g. "5.1.1"
    REPLY_CODE = "reply_code"  # SMTP reply code, e.g. "550"
    SUBJECT = "subject"  # subject of the bounce message
    SENDER = "sender"  # From: of the bounce message
    FEEDBACK_TYPE = "feedback_type"  # ARF Feedback-Type (only field read for ARF records)
    BODY = "body"  # all text of the record joined: diagnostic, subject, sender


class Scope(BaseModel):
    """Where a rule applies. Every key that is set must match (AND); within one key,
    any of the globs may match (OR). Globs use ``fnmatch`` syntax, case-insensitive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient_domains: tuple[str, ...] = ()  # e.g. ["gmail.com", "*.gmail.com"]
    mx: tuple[str, ...] = ()  # matched against the record's MX and remote MTA host
    reporting_mta: tuple[str, ...] = ()  # matched against the reporting MTA host
    # record kinds: "dsn" (asynchronous bounce, after retries) or "smtp" (synchronous)
    kinds: tuple[Literal["dsn", "smtp", "arf"], ...] = ()
    # the record's Action: "failed" (given up), "delayed" (a warning, still retried) or
    # the non-standard "expired" some MTAs write for a message they gave up on
    actions: tuple[Literal["failed", "delayed", "expired"], ...] = ()
    # the SMTP command the remote server refused (CONN, HELO, EHLO, MAIL, RCPT, DATA), or
    # "none" for a bounce that does not say: "user unknown" answered to DATA is a content
    # filter speaking, not a missing mailbox
    smtp_commands: tuple[SmtpCommand, ...] = ()
    # globs on the enhanced status code (the record's, or the one in the diagnostic when
    # the record's is missing or X.0.0), e.g. ["5.1.*"]; "none" matches a record that
    # has no status code at all
    statuses: tuple[str, ...] = ()
    # the Diagnostic-Code type of an RFC 3464 report: "smtp" (a remote server's reply) or
    # "x-unix" (a local delivery program: pipe, procmail, maildrop), case-insensitive
    diagnostic_types: tuple[str, ...] = ()

    @field_validator("diagnostic_types", mode="before")
    @classmethod
    def _lower_types(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return tuple(t.strip().lower() if isinstance(t, str) else t for t in v)
        return v

    @field_validator("smtp_commands", mode="before")
    @classmethod
    def _upper_commands(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return tuple(c if not isinstance(c, str) or c == "none" else c.upper() for c in v)
        return v

    @field_validator("statuses")
    @classmethod
    def _status_globs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for glob in v:
            if glob != "none" and not re.match(STATUS_GLOB, glob):
                raise ValueError(f"not a status glob (e.g. '5.1.*'): {glob!r}")
        return v

    @property
    def specificity(self) -> int:
        """How many scope dimensions are set: more specific rules are tried first."""
        dims = (
            self.recipient_domains,
            self.mx,
            self.reporting_mta,
            self.kinds,
            self.actions,
            self.smtp_commands,
            self.statuses,
            self.diagnostic_types,
        )
        return sum(1 for v in dims if v)

    def covers(self, other: Scope) -> bool:
        """True when every record in ``other``'s scope is also in this scope
        (conservatively: this scope is empty, or both are identical)."""
        return self.specificity == 0 or self == other


class Rule(BaseModel):
    """One qualification rule, as written in ``rules/bounce/*.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str
    pattern: str = Field(min_length=1)
    field: RuleField = RuleField.DIAGNOSTIC
    scope: Scope = Field(default_factory=Scope)
    detail: str
    failure_type: FailureType | None = None  # default: from details.yaml
    reason: Reason | None = None  # default: from details.yaml
    priority: int = 100  # higher is tried first
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()


class RuleFile(BaseModel):
    """A ``rules/bounce/*.yaml`` file: a provider / MTA family and its rules."""

    model_config = ConfigDict(extra="forbid")

    family: str | None = None
    sources: list[str] = Field(default_factory=list)  # where the wording comes from
    rules: list[Rule] = Field(default_factory=list)


class DetailDefault(BaseModel):
    """Default reason and failure type of one detail (``rules/details.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason
    failure_type: FailureType
    # reason used instead when the failure is transient (4xx / 4.x.x / Action: delayed)
    # and the deciding rule did not set its own reason, e.g. a 421 block is a deferral.
    transient_reason: Reason | None = None
    description: str = ""


class DetailsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    details: dict[str, DetailDefault]


class ChangelogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=SEMVER)
    date: str | None = None
    changes: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    """``rules/manifest.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = Field(pattern=SEMVER)
    description: str = ""
    changelog: list[ChangelogEntry] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _str_version(cls, v: object) -> object:
        return str(v) if isinstance(v, int | float) else v
