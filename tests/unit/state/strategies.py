"""Hypothesis strategies and helpers shared by the quarantine state tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from processor.qualify.result import FailureType, Reason
from processor.state.quarantine import AddressState
from processor.state.quarantine_policy import QuarantinePolicy, ReasonAction, ReasonRule
from processor.state.signal import AddressSignal
from tests.unit.state.reference_model import ModelSignal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ADDRESSES = ("a@example.com", "b@example.org")


def at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class Scan:
    now: int  # epoch ms


def to_signal(step: ModelSignal) -> AddressSignal:
    return AddressSignal(
        address=step.address,
        event_time=at(step.time),
        failure_type=FailureType(step.failure_type),
        reason=Reason(step.reason),
        rule_id=step.rule_id,
        ruleset_version=step.ruleset_version,
        event_id=f"id-{step.time}",
        is_success=step.success,
        is_delay=step.delay,
    )


def as_model_dict(state: AddressState) -> dict[str, Any]:
    """The implementation's state in the reference model's vocabulary."""
    return {
        "address": state.address,
        "status": str(state.status),
        "count": state.error_count,
        "first": ms(state.first_error_at),
        "last": ms(state.last_error_at),
        "lapse": ms(state.errors_reset_at),
        "quarantined_at": ms(state.quarantined_at),
        "denylisted_at": ms(state.denylisted_at),
        "release": ms(state.release_at),
        "why": None if state.quarantine_reason is None else str(state.quarantine_reason),
        "errors": [(str(e.reason), e.rule_id, ms(e.event_time)) for e in state.recent_errors],
        "clock": ms(state.changed_at),
        "change": None if state.change is None else str(state.change),
        "ruleset": state.ruleset_version,
        "policy": state.policy_version,
    }


durations = st.one_of(
    st.none(),
    st.sampled_from([timedelta(hours=12), timedelta(days=1), timedelta(days=3)]),
    st.integers(min_value=1, max_value=40 * DAY_MS).map(lambda n: timedelta(milliseconds=n)),
)


@st.composite
def reason_rules(draw: st.DrawFn) -> ReasonRule:
    action = draw(st.sampled_from(list(ReasonAction)))
    return ReasonRule(
        action=action,
        quarantine_at=draw(st.none() | st.integers(1, 4)) if action is ReasonAction.COUNT else None,
        release_after=draw(durations),
    )


@st.composite
def policies(draw: st.DrawFn) -> QuarantinePolicy:
    """Random policies, so that every knob is exercised, not only the shipped values."""
    return QuarantinePolicy(
        version=draw(st.sampled_from(["1.0.0", "2.0.0"])),
        counting_failure_types=draw(st.frozensets(st.sampled_from(list(FailureType)), min_size=1)),
        min_spacing=draw(durations),
        reset_after=draw(durations),
        success_resets=draw(st.booleans()),
        count_delays=draw(st.booleans()),
        keep_errors=draw(st.integers(1, 4)),
        reasons={reason: draw(reason_rules()) for reason in Reason},
    )


_deltas = st.one_of(
    st.sampled_from(
        [0, HOUR_MS, 12 * HOUR_MS, DAY_MS, 3 * DAY_MS, 10 * DAY_MS, 30 * DAY_MS, -DAY_MS]
    ),
    st.integers(min_value=-3 * DAY_MS, max_value=15 * DAY_MS),
)


@st.composite
def histories(draw: st.DrawFn, with_scans: bool = True) -> list[ModelSignal | Scan]:
    """Signals and timer scans; times mostly move forward, sometimes back (late events)."""
    steps: list[ModelSignal | Scan] = []
    clock = START_MS
    for _ in range(draw(st.integers(1, 40))):
        clock += draw(_deltas)
        if with_scans and draw(st.integers(0, 5)) == 0:
            steps.append(Scan(clock))
            continue
        success = draw(st.integers(0, 4)) == 0
        steps.append(
            ModelSignal(
                address=draw(st.sampled_from(ADDRESSES)),
                time=clock,
                failure_type=str(draw(st.sampled_from(list(FailureType)))),
                reason=str(draw(st.sampled_from(list(Reason)))),
                rule_id=draw(st.sampled_from(["r1", "status:5.1.1", "gmail-quota"])),
                ruleset_version=draw(st.sampled_from(["1.0.0+aa", "1.1.0+bb"])),
                success=success,
                delay=not success and draw(st.integers(0, 4)) == 0,
            )
        )
    return steps
