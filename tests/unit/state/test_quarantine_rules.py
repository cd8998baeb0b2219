"""One example per rule of the shipped quarantine policy (``rules/quarantine.yaml``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from processor.qualify.result import FailureType, Reason
from processor.state.quarantine import (
    AddressState,
    Change,
    Status,
    apply,
    changes,
    release_due,
)
from processor.state.quarantine_policy import (
    QuarantinePolicy,
    ReasonAction,
    load_quarantine_policy,
    parse_quarantine_policy,
)
from processor.state.signal import AddressSignal

POLICY = load_quarantine_policy()
T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ADDRESS = "someone@example.com"

SOFT_REASONS = {Reason.MAILBOX_FULL, Reason.UNREACHABLE}


def failure(
    reason: Reason, when: datetime, failure_type: FailureType | None = None
) -> AddressSignal:
    kind = failure_type or (FailureType.SOFT if reason in SOFT_REASONS else FailureType.HARD)
    return AddressSignal(
        address=ADDRESS,
        event_time=when,
        failure_type=kind,
        reason=reason,
        rule_id=f"rule-{reason}",
        ruleset_version="1.0.0+test",
        event_id=f"evt-{when.isoformat()}",
    )


def delivered(when: datetime) -> AddressSignal:
    return AddressSignal(
        address=ADDRESS,
        event_time=when,
        failure_type=FailureType.IGNORED,
        reason=Reason.NOT_DEFINED,
        is_success=True,
    )


def run(*signals: AddressSignal, policy: QuarantinePolicy = POLICY) -> AddressState:
    state: AddressState | None = None
    for signal in signals:
        state, _ = apply(state, signal, policy)
    assert state is not None
    return state


def test_shipped_policy_has_the_issue_defaults() -> None:
    rules = POLICY.reasons
    assert rules[Reason.USER_UNKNOWN].quarantine_at == 1
    for reason in (Reason.MAILBOX_FULL, Reason.INACTIVE_MAILBOX, Reason.INVALID_DOMAIN):
        assert rules[reason].quarantine_at == 3
    assert rules[Reason.MAILBOX_FULL].release_after == timedelta(days=30)
    assert rules[Reason.REFUSED].action is ReasonAction.IGNORE
    assert rules[Reason.COMPLAINT].action is ReasonAction.DENYLIST
    assert rules[Reason.UNREACHABLE].action is ReasonAction.COUNT
    assert POLICY.min_spacing == DAY
    assert POLICY.reset_after == 10 * DAY


def test_user_unknown_quarantines_at_the_first_error_for_good() -> None:
    state = run(failure(Reason.USER_UNKNOWN, T0))
    assert state.status is Status.QUARANTINED
    assert state.change is Change.QUARANTINED
    assert (state.error_count, state.quarantined_at, state.release_at) == (1, T0, None)
    assert state.quarantine_reason is Reason.USER_UNKNOWN
    assert release_due(state, T0 + 3650 * DAY, POLICY) == (state, False)


@pytest.mark.parametrize(
    "reason", [Reason.MAILBOX_FULL, Reason.INACTIVE_MAILBOX, Reason.INVALID_DOMAIN]
)
def test_quarantined_at_the_third_error(reason: Reason) -> None:
    two = run(failure(reason, T0), failure(reason, T0 + 2 * DAY))
    assert (two.status, two.error_count) == (Status.WITH_ERRORS, 2)
    assert (two.first_error_at, two.last_error_at) == (T0, T0 + 2 * DAY)
    three = run(failure(reason, T0), failure(reason, T0 + 2 * DAY), failure(reason, T0 + 4 * DAY))
    assert (three.status, three.error_count) == (Status.QUARANTINED, 3)
    assert three.quarantined_at == T0 + 4 * DAY


def test_mailbox_full_quarantine_is_released_after_30_days() -> None:
    state = run(*(failure(Reason.MAILBOX_FULL, T0 + n * 2 * DAY) for n in range(3)))
    release = T0 + 4 * DAY + 30 * DAY
    assert state.release_at == release
    assert state.due_at == release
    assert release_due(state, release - timedelta(milliseconds=1), POLICY) == (state, False)
    released, changed = release_due(state, release + 5 * DAY, POLICY)
    assert changed
    assert released.status is Status.VALID
    assert released.change is Change.RELEASED
    assert released.changed_at == release  # stamped at the due time, not at "now"
    assert (released.error_count, released.quarantined_at, released.release_at) == (0, None, None)
    assert len(released.recent_errors) == 3  # history survives the release
    assert released.policy_version == POLICY.version


def test_unreachable_counts_with_its_own_threshold() -> None:
    signals = [failure(Reason.UNREACHABLE, T0 + n * 2 * DAY) for n in range(5)]
    assert run(*signals[:4]).status is Status.WITH_ERRORS
    assert run(*signals).status is Status.QUARANTINED


def test_refused_never_counts() -> None:
    state, changed = apply(None, failure(Reason.REFUSED, T0), POLICY)
    assert not changed
    assert state == AddressState(address=ADDRESS)
    state = run(*(failure(Reason.REFUSED, T0 + n * DAY) for n in range(10)))
    assert state.status is Status.VALID and state.change is None


def test_auto_reply_and_ignored_failures_change_nothing() -> None:
    assert not apply(None, failure(Reason.AUTO_REPLY, T0), POLICY)[1]
    assert not apply(None, failure(Reason.MAILBOX_FULL, T0, FailureType.IGNORED), POLICY)[1]
    assert not apply(None, failure(Reason.USER_UNKNOWN, T0, FailureType.UNQUALIFIED), POLICY)[1]


def test_complaint_denylists_at_once_and_for_good() -> None:
    state = run(failure(Reason.MAILBOX_FULL, T0), failure(Reason.COMPLAINT, T0 + DAY))
    assert state.status is Status.DENYLISTED
    assert (state.denylisted_at, state.release_at, state.change) == (
        T0 + DAY,
        None,
        Change.DENYLISTED,
    )
    assert not apply(state, failure(Reason.COMPLAINT, T0 + 2 * DAY), POLICY)[1]
    assert not apply(state, delivered(T0 + 3 * DAY), POLICY)[1]
    assert apply(state, failure(Reason.USER_UNKNOWN, T0 + 4 * DAY), POLICY)[0].status is (
        Status.DENYLISTED
    )


def test_complaint_replaces_a_quarantine() -> None:
    state = run(failure(Reason.USER_UNKNOWN, T0), failure(Reason.COMPLAINT, T0 + DAY))
    assert state.status is Status.DENYLISTED
    assert state.quarantined_at is None and state.quarantine_reason is Reason.COMPLAINT


def test_at_most_one_counted_error_per_spacing() -> None:
    first = run(failure(Reason.MAILBOX_FULL, T0))
    same_day, changed = apply(
        first, failure(Reason.MAILBOX_FULL, T0 + 23 * timedelta(hours=1)), POLICY
    )
    assert not changed and same_day == first
    next_day, changed = apply(first, failure(Reason.MAILBOX_FULL, T0 + DAY), POLICY)
    assert changed and next_day.error_count == 2


def test_a_quarantining_error_within_the_spacing_still_quarantines() -> None:
    state = run(
        failure(Reason.MAILBOX_FULL, T0), failure(Reason.USER_UNKNOWN, T0 + timedelta(hours=1))
    )
    assert state.status is Status.QUARANTINED
    assert state.error_count == 1  # not counted, but the user is unknown all the same
    assert state.release_at is None


def test_user_unknown_makes_a_mailbox_full_quarantine_permanent() -> None:
    state = run(*(failure(Reason.MAILBOX_FULL, T0 + n * 2 * DAY) for n in range(3)))
    state, changed = apply(state, failure(Reason.USER_UNKNOWN, T0 + 10 * DAY), POLICY)
    assert changed and state.release_at is None
    assert state.quarantine_reason is Reason.USER_UNKNOWN
    assert state.quarantined_at == T0 + 4 * DAY


def test_counter_lapses_after_ten_days_by_timer_or_at_the_next_error() -> None:
    state = run(failure(Reason.MAILBOX_FULL, T0), failure(Reason.MAILBOX_FULL, T0 + 2 * DAY))
    assert state.errors_reset_at == T0 + 12 * DAY
    lapsed, changed = release_due(state, T0 + 12 * DAY, POLICY)
    assert changed and lapsed.status is Status.VALID and lapsed.change is Change.COUNTER_RESET
    assert lapsed.error_count == 0 and lapsed.changed_at == T0 + 12 * DAY

    passed = changes(state, failure(Reason.MAILBOX_FULL, T0 + 20 * DAY), POLICY)
    assert [s.change for s in passed] == [Change.COUNTER_RESET, Change.ERROR_COUNTED]
    assert passed[-1].error_count == 1 and passed[-1].first_error_at == T0 + 20 * DAY


def test_a_later_success_resets_an_address_with_errors() -> None:
    state = run(failure(Reason.MAILBOX_FULL, T0), failure(Reason.MAILBOX_FULL, T0 + 2 * DAY))
    reset, changed = apply(state, delivered(T0 + 3 * DAY), POLICY)
    assert changed and reset.status is Status.VALID and reset.change is Change.SUCCESS_RESET
    assert reset.error_count == 0 and reset.first_error_at is None
    older, changed = apply(state, delivered(T0 + DAY), POLICY)
    assert not changed and older == state


def test_success_does_not_release_a_quarantine() -> None:
    state = run(failure(Reason.USER_UNKNOWN, T0))
    assert apply(state, delivered(T0 + DAY), POLICY) == (state, False)


def test_success_on_a_valid_address_writes_nothing() -> None:
    assert not apply(None, delivered(T0), POLICY)[1]


def test_late_error_is_counted_at_the_address_clock_with_its_own_time_kept() -> None:
    state = run(failure(Reason.MAILBOX_FULL, T0 + 10 * DAY))
    assert apply(state, failure(Reason.INVALID_DOMAIN, T0 + 2 * DAY), POLICY) == (state, False)
    # handled at T0 + 10 days: within the spacing of the last error, so it changes nothing
    later = run(failure(Reason.MAILBOX_FULL, T0 + 10 * DAY), failure(Reason.USER_UNKNOWN, T0))
    assert later.quarantined_at == T0 + 10 * DAY  # the address clock never goes back
    assert later.changed_at == T0 + 10 * DAY
    assert later.recent_errors[-1].event_time == T0  # what the bounce said


def test_only_the_last_errors_are_kept() -> None:
    policy = parse_quarantine_policy(
        {**POLICY.model_dump(mode="json"), "keep_errors": 2, "reset_after": None}
    )
    state = run(*(failure(Reason.UNREACHABLE, T0 + n * DAY) for n in range(4)), policy=policy)
    assert [e.event_time for e in state.recent_errors] == [T0 + 2 * DAY, T0 + 3 * DAY]
    assert state.error_count == 4


def test_signal_from_failure_event() -> None:
    event = {
        "event_id": "abc",
        "event_time": datetime(2026, 2, 1, 8, 0, 0, 123456, tzinfo=UTC),
        "kind": "dsn",
        "recipient": "Someone@Example.com",
        "failure_type": "hard",
        "reason": "user_unknown",
        "detail": "userunknown",
        "rule_id": "status:5.1.1",
        "ruleset_version": "1.0.0+x",
    }
    signal = AddressSignal.from_failure_event(event, address="someone@example.com")
    assert signal.address == "someone@example.com"
    assert signal.event_time == datetime(2026, 2, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert (signal.reason, signal.failure_type, signal.is_success) == (
        Reason.USER_UNKNOWN,
        FailureType.HARD,
        False,
    )
    success = AddressSignal.from_failure_event(
        {
            **event,
            "kind": "delivered",
            "detail": "delivered",
            "reason": "not_defined",
            "failure_type": "ignored",
            "event_time": 1_769_932_800_000,
        }
    )
    assert success.is_success and success.address == "Someone@Example.com"
    assert success.event_time == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def test_policy_durations_and_validation(tmp_path: Path) -> None:
    document = POLICY.model_dump(mode="json")
    parsed = parse_quarantine_policy({**document, "min_spacing": "PT12H", "reset_after": "36h"})
    assert (parsed.min_spacing, parsed.reset_after) == (timedelta(hours=12), timedelta(hours=36))
    with pytest.raises(ValidationError):
        parse_quarantine_policy({**document, "min_spacing": "0d"})
    with pytest.raises(ValidationError):
        parse_quarantine_policy(
            {**document, "reasons": {"refused": {"action": "ignore", "quarantine_at": 2}}}
        )
    with pytest.raises(ValidationError):
        parse_quarantine_policy({**document, "surprise": True})
    path = tmp_path / "quarantine.yaml"
    path.write_text("- not a mapping\n")
    with pytest.raises(ValueError):
        load_quarantine_policy(path)
    unnamed = parse_quarantine_policy({"version": "x", "reasons": {}})
    assert not apply(None, failure(Reason.USER_UNKNOWN, T0), unnamed)[1]


def test_delay_reports_do_not_count_unless_the_policy_says_so() -> None:
    """A delay warning (DSN Action: delayed) is not an outcome: five daily warnings for a
    slow host must not quarantine the address; the final bounce counts when it comes."""
    delays = [
        failure(Reason.UNREACHABLE, T0 + n * DAY).model_copy(update={"is_delay": True})
        for n in range(6)
    ]

    assert not POLICY.count_delays
    assert run(failure(Reason.UNREACHABLE, T0 - DAY), *delays).error_count == 1
    counting = POLICY.model_copy(update={"count_delays": True})
    assert run(*delays, policy=counting).status is Status.QUARANTINED


def test_delay_flag_is_read_from_the_failure_event_action() -> None:
    event = {
        "recipient": ADDRESS,
        "event_time": T0,
        "failure_type": "soft",
        "reason": "unreachable",
        "action": "Delayed",
    }

    assert AddressSignal.from_failure_event(event).is_delay
    assert not AddressSignal.from_failure_event({**event, "action": "failed"}).is_delay
    assert not AddressSignal.from_failure_event({**event, "action": None}).is_delay


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "virus"])
def test_reports_that_are_not_complaints_do_not_denylist(feedback_type: str) -> None:
    """A 'not spam' report, the spoofing victim of an RFC 6591 DMARC failure report, or
    an anti-virus system's 'virus' report must leave the recipient alone (the shipped
    rules and policy together)."""
    from processor.intake.record import BounceRecord, RecordKind
    from processor.qualify import load_engine

    decided = load_engine().qualify(
        BounceRecord(kind=RecordKind.ARF, recipient=ADDRESS, feedback_type=feedback_type)
    )
    signal = AddressSignal(
        address=ADDRESS,
        event_time=T0,
        failure_type=decided.failure_type,
        reason=decided.reason,
        rule_id=decided.rule_id,
    )

    assert changes(None, signal, POLICY) == ()
    abuse = load_engine().qualify(
        BounceRecord(kind=RecordKind.ARF, recipient=ADDRESS, feedback_type="abuse")
    )
    assert run(signal.model_copy(update={"reason": abuse.reason})).status is Status.DENYLISTED
