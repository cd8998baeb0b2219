"""Interim qualification until the rule engine (``processor.qualify``) lands.

:func:`load_qualifier` returns the rule engine's ``qualify`` when it can be imported,
else :func:`interim_status_qualification`: a small mapping from the record kind and
RFC 3463 status code to a Sisimai detail, so that ``classify`` and ``eval`` work now.
Lives beside intake (not in the CLI package) so benchmarks and tests can use it without
importing the command line.
"""

from __future__ import annotations

from processor.intake.evaluation import Qualify
from processor.intake.record import BounceRecord, RecordKind
from processor.qualify.result import FailureType, Qualification, Reason


class RuleSetNotLoaded(Exception):
    """The rule engine is there but its rule set does not load."""


def load_qualifier() -> Qualify:
    """The rule engine's ``qualify``; the interim status-code mapping until it exists.
    Raises :class:`RuleSetNotLoaded` when the engine exists but its rules do not load."""
    try:
        from processor.qualify import load_engine  # type: ignore[attr-defined,unused-ignore]
    except (ImportError, AttributeError):
        return interim_status_qualification
    try:
        engine = load_engine(rules_dir=None)
    except Exception as exc:
        # A broken rule set is an error, not a reason to fall back: figures from the
        # status mapping would pass for the rules' own (and did, unnoticed, once).
        raise RuleSetNotLoaded(f"the rule set did not load: {type(exc).__name__}: {exc}") from exc
    qualify: Qualify = engine.qualify
    return qualify


INTERIM_RULESET_VERSION = "interim-status-map"
# Interim fallback (until processor.qualify lands): RFC 3463 status → Sisimai detail.
_INTERIM_BY_STATUS: dict[str, tuple[str, Reason, FailureType]] = {
    "5.1.1": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.0": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.6": ("hasmoved", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.2": ("hostunknown", Reason.INVALID_DOMAIN, FailureType.SOFT),
    "5.1.10": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.2.1": ("suspend", Reason.INACTIVE_MAILBOX, FailureType.SOFT),
    "5.2.2": ("mailboxfull", Reason.MAILBOX_FULL, FailureType.SOFT),
    "4.2.2": ("mailboxfull", Reason.MAILBOX_FULL, FailureType.SOFT),
    "5.2.3": ("emailtoolarge", Reason.REFUSED, FailureType.SOFT),
    "5.3.4": ("emailtoolarge", Reason.REFUSED, FailureType.SOFT),
    "4.4.7": ("expired", Reason.UNREACHABLE, FailureType.SOFT),
    "5.4.7": ("expired", Reason.UNREACHABLE, FailureType.SOFT),
    "5.7.26": ("authfailure", Reason.REFUSED, FailureType.SOFT),
    "5.7.1": ("blocked", Reason.REFUSED, FailureType.SOFT),
}


def interim_status_qualification(record: BounceRecord) -> Qualification:
    """Interim fallback: a detail from the record kind and status code alone."""
    if record.kind is RecordKind.ARF:
        detail, reason, failure = "feedback", Reason.COMPLAINT, FailureType.HARD
    elif record.kind is RecordKind.AUTOREPLY:
        detail, reason, failure = "vacation", Reason.AUTO_REPLY, FailureType.IGNORED
    elif record.kind is RecordKind.DELIVERED:
        detail, reason, failure = "delivered", Reason.NOT_DEFINED, FailureType.IGNORED
    elif record.status in _INTERIM_BY_STATUS:
        detail, reason, failure = _INTERIM_BY_STATUS[record.status]
    elif record.status and record.status.startswith("4."):
        detail, reason, failure = "undefined", Reason.NOT_DEFINED, FailureType.SOFT
    else:
        detail, reason, failure = "undefined", Reason.NOT_DEFINED, FailureType.UNQUALIFIED
    return Qualification(
        failure_type=failure,
        reason=reason,
        detail=detail,
        rule_id=f"interim:status:{record.status or 'none'}",
        ruleset_version=INTERIM_RULESET_VERSION,
    )
