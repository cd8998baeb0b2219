"""Quarantine state of one address and the pure policy functions that move it.

``valid`` → ``with_errors`` → ``quarantined`` (or ``denylisted``) → back to ``valid`` on
release. Everything is driven by event time: :func:`apply` takes a signal and the
policy, :func:`release_due` takes a "now" chosen by the caller (the timer scan of the
state stage). No function here reads the wall clock, touches a store or Kafka, or
mutates its arguments; the same sequence of calls always gives the same states, so a
replay equals the live run.

Rules (the values are in ``rules/quarantine.yaml``):

* **Address clock.** ``changed_at`` is the event time of the address's latest change
  and never goes back. A signal is evaluated at its *effective time*
  ``max(event_time, changed_at)``: a late (out-of-order) failure is handled as if it
  arrived now, never rewriting history; its own time is kept in ``recent_errors``.
* **Timers first.** Before a signal is evaluated, any timer transition due by its
  effective time is applied (:func:`release_due`), stamped at the due time, not at the
  signal's time. A timer scan that runs before the signal therefore changes nothing.
* **Counting** (``action: count``, failure type in ``counting_failure_types``): if the
  counter has lapsed (effective time ≥ ``errors_reset_at``) it restarts from 0; the
  error counts when no counted error lies within ``min_spacing`` before it. After
  counting, if the counter has reached the reason's ``quarantine_at``, the address is
  quarantined for the reason's ``release_after`` (``None``: until removed). The
  threshold is checked even when spacing kept the error from counting, so a
  ``user_unknown`` always quarantines. A quarantined address that reaches a threshold
  again keeps the later of the two release times (``None`` = never is the latest).
  A denylisted address still counts errors but is never "downgraded" to quarantined.
* **Denylisting** (``action: denylist``): the address is denylisted at once for the
  reason's ``release_after``; a quarantine is replaced. A repeated complaint keeps the
  later release time.
* **Success** (a delivered report): when ``success_resets`` is on and the address is
  ``with_errors``, a report whose own time is after ``last_error_at`` resets the
  counter. It does nothing to a quarantined or denylisted address, nor when older than
  the last counted error.
* **Delays** (a delay report, ``Action: delayed``): change nothing unless the policy's
  ``count_delays`` is on; the message is still queued and its final outcome counts.
* **Timers.** A quarantine or denylisting is released at ``release_at`` (back to
  ``valid``, counter at 0). A ``with_errors`` counter lapses at ``errors_reset_at``
  (``last_error_at + reset_after``), back to ``valid``.
* **Recent errors.** A failure that changes the state (counted, or quarantining /
  denylisting) is recorded as (reason, rule id, own event time); the last
  ``keep_errors`` are kept, through resets and releases. A failure that changes nothing
  (spaced out, ignored, duplicate complaint) writes nothing and emits nothing.

Driving it from the state stage (see also :mod:`processor.state.store`):

* per input record: ``signal = AddressSignal.from_failure_event(event, address=key)``,
  ``passed = changes(store.get(key), signal, policy)``; publish
  ``to_avro_record(s, signal.event_id)`` for each ``s`` in ``passed`` on
  ``bounces.quarantine``, and ``store.put(passed[-1])`` (its return value is the
  changelog value; the key is the address).
* timer scan: for each ``s`` in ``store.due(now)``: ``release_due(s, now, policy)``, put,
  publish. ``now`` must be a *low watermark* of event time (no later signal of the
  partition is older): a signal older than a scan's ``now`` that arrives after the scan
  is handled as late, which differs from a run without that scan. The partition's
  highest event time seen minus an allowed lateness is a good choice, live and in
  replay alike; the wall clock makes live and replay differ for late events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from processor.qualify.result import Reason
from processor.state.quarantine_policy import QuarantinePolicy, ReasonAction
from processor.state.signal import AddressSignal, to_utc_millis


class Status(StrEnum):
    VALID = "valid"
    WITH_ERRORS = "with_errors"
    QUARANTINED = "quarantined"
    DENYLISTED = "denylisted"


BLOCKED = frozenset({Status.QUARANTINED, Status.DENYLISTED})


class Change(StrEnum):
    """What the latest change of an address was."""

    ERROR_COUNTED = "error_counted"
    QUARANTINED = "quarantined"
    DENYLISTED = "denylisted"
    SUCCESS_RESET = "success_reset"
    RELEASED = "released"  # timer: quarantine or denylisting over
    COUNTER_RESET = "counter_reset"  # timer: the error counter lapsed


TIMER_CHANGES = frozenset({Change.RELEASED, Change.COUNTER_RESET})


class RecordedError(NamedTuple):
    """One error kept in an address's history."""

    reason: Reason
    rule_id: str
    event_time: datetime


class AddressState(NamedTuple):
    """Quarantine state of one address. All times are UTC, whole milliseconds.

    Immutable; a change makes a new state (``state._replace(...)``, the fastest copy
    Python offers: the policy runs once per event).
    """

    address: str
    status: Status = Status.VALID
    error_count: int = 0
    first_error_at: datetime | None = None  # first counted error of the current count
    last_error_at: datetime | None = None  # last counted error (effective time)
    errors_reset_at: datetime | None = None  # the counter lapses at this time
    quarantined_at: datetime | None = None
    denylisted_at: datetime | None = None
    release_at: datetime | None = None  # end of the quarantine / denylisting; None: never
    quarantine_reason: Reason | None = None  # reason of the quarantine / denylisting
    recent_errors: tuple[RecordedError, ...] = ()
    changed_at: datetime | None = None  # event time of the latest change: the address clock
    change: Change | None = None  # what that change was
    ruleset_version: str = ""  # rule set of the latest signal that changed the address
    policy_version: str = ""  # quarantine policy that decided the latest change

    @property
    def due_at(self) -> datetime | None:
        """When the next timer transition of this address falls due (the store indexes it)."""
        return due_at(self)


def due_at(state: AddressState) -> datetime | None:
    """Release time of a quarantine / denylisting, or the lapse time of an error counter."""
    if state.status in BLOCKED:
        return state.release_at
    if state.status is Status.WITH_ERRORS:
        return state.errors_reset_at
    return None


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two release times, where ``None`` means never (the latest of all)."""
    if first is None or second is None:
        return None
    return max(first, second)


def _plus(moment: datetime, duration: timedelta | None) -> datetime | None:
    return None if duration is None else moment + duration


def _cleared_counter(state: AddressState) -> AddressState:
    return state._replace(
        error_count=0, first_error_at=None, last_error_at=None, errors_reset_at=None
    )


def release_due(
    state: AddressState, now: datetime, policy: QuarantinePolicy
) -> tuple[AddressState, bool]:
    """Apply the timer transition due by ``now``, if any; returns ``(state, changed)``.

    The transition is stamped at its due time, whatever ``now`` is, so scanning early,
    late or twice gives the same state. ``now`` is event time when replaying, and the
    timer scan's notion of the present when live; never read from the clock here.
    """
    due = due_at(state)
    if due is None or now < due:
        return state, False
    if state.status in BLOCKED:
        change = Change.RELEASED
        state = state._replace(
            quarantined_at=None,
            denylisted_at=None,
            release_at=None,
            quarantine_reason=None,
        )
    else:
        change = Change.COUNTER_RESET
    released = _cleared_counter(state)._replace(
        status=Status.VALID,
        changed_at=due,
        change=change,
        policy_version=policy.version,
    )
    return released, True


def _record(state: AddressState, signal: AddressSignal, keep: int) -> tuple[RecordedError, ...]:
    recorded = RecordedError(signal.reason, signal.rule_id, signal.event_time)
    return (*state.recent_errors, recorded)[-keep:]


def _on_success(
    state: AddressState, signal: AddressSignal, now: datetime, policy: QuarantinePolicy
) -> AddressState | None:
    if not policy.success_resets or state.status is not Status.WITH_ERRORS:
        return None
    if state.last_error_at is not None and signal.event_time <= state.last_error_at:
        return None  # the delivery is older than the last error: it proves nothing
    return _cleared_counter(state)._replace(
        status=Status.VALID,
        changed_at=now,
        change=Change.SUCCESS_RESET,
        ruleset_version=signal.ruleset_version,
        policy_version=policy.version,
    )


def _on_denylisting_error(
    state: AddressState, signal: AddressSignal, now: datetime, policy: QuarantinePolicy
) -> AddressState | None:
    release_at = _plus(now, policy.rule_for(signal.reason).release_after)
    if state.status is Status.DENYLISTED:
        extended = _later(state.release_at, release_at)
        if extended == state.release_at:
            return None  # already denylisted at least as long
        denylisted = state._replace(release_at=extended, quarantine_reason=signal.reason)
    else:
        denylisted = state._replace(
            status=Status.DENYLISTED,
            quarantined_at=None,
            denylisted_at=now,
            release_at=release_at,
            quarantine_reason=signal.reason,
        )
    return denylisted._replace(
        recent_errors=_record(state, signal, policy.keep_errors),
        changed_at=now,
        change=Change.DENYLISTED,
        ruleset_version=signal.ruleset_version,
        policy_version=policy.version,
    )


def _on_counting_error(
    state: AddressState, signal: AddressSignal, now: datetime, policy: QuarantinePolicy
) -> AddressState | None:
    rule = policy.rule_for(signal.reason)
    if state.errors_reset_at is not None and now >= state.errors_reset_at:
        state = _cleared_counter(state)  # the previous errors are too old to count

    last = state.last_error_at
    counts = last is None or policy.min_spacing is None or now >= last + policy.min_spacing
    counted = state
    if counts:
        counted = state._replace(
            error_count=state.error_count + 1,
            first_error_at=state.first_error_at or now,
            last_error_at=now,
            errors_reset_at=_plus(now, policy.reset_after),
        )

    reached = rule.quarantine_at is not None and counted.error_count >= rule.quarantine_at
    quarantines = False
    if reached and state.status is Status.QUARANTINED:
        extended = _later(state.release_at, _plus(now, rule.release_after))
        if extended != state.release_at:
            quarantines = True
            counted = counted._replace(release_at=extended, quarantine_reason=signal.reason)
    elif reached and state.status not in BLOCKED:
        quarantines = True
        counted = counted._replace(
            status=Status.QUARANTINED,
            quarantined_at=now,
            release_at=_plus(now, rule.release_after),
            quarantine_reason=signal.reason,
        )

    if not counts and not quarantines:
        return None
    if counted.status is Status.VALID:
        counted = counted._replace(status=Status.WITH_ERRORS)
    return counted._replace(
        recent_errors=_record(state, signal, policy.keep_errors),
        changed_at=now,
        change=Change.QUARANTINED if quarantines else Change.ERROR_COUNTED,
        ruleset_version=signal.ruleset_version,
        policy_version=policy.version,
    )


def changes(
    state: AddressState | None, signal: AddressSignal, policy: QuarantinePolicy
) -> tuple[AddressState, ...]:
    """Every state the address passes through on ``signal``, oldest first.

    At most two: a timer transition that fell due before the signal's effective time,
    then the signal's own change. Empty when nothing changed. The state stage publishes
    each one; the last is the new state.
    """
    current = state if state is not None else AddressState(address=signal.address)
    now = signal.event_time
    if current.changed_at is not None and current.changed_at > now:
        now = current.changed_at  # late event: handled at the address's current time
    passed: list[AddressState] = []
    current, released = release_due(current, now, policy)
    if released:
        passed.append(current)

    changed: AddressState | None = None
    action = policy.rule_for(signal.reason).action
    if signal.is_success:
        changed = _on_success(current, signal, now, policy)
    elif signal.is_delay and not policy.count_delays:
        changed = None  # a warning: the message is still queued, its outcome counts later
    elif action is ReasonAction.DENYLIST:
        changed = _on_denylisting_error(current, signal, now, policy)
    elif action is ReasonAction.COUNT and signal.failure_type in policy.counting_failure_types:
        changed = _on_counting_error(current, signal, now, policy)
    if changed is not None:
        passed.append(changed)
    return tuple(passed)


def apply(
    state: AddressState | None, signal: AddressSignal, policy: QuarantinePolicy
) -> tuple[AddressState, bool]:
    """The address's state after ``signal``, and whether it changed.

    ``state`` is ``None`` for an address never seen; the result is then a fresh ``valid``
    state when nothing changed (not worth storing).
    """
    passed = changes(state, signal, policy)
    if passed:
        return passed[-1], True
    return (state if state is not None else AddressState(address=signal.address)), False


# --- Avro ``QuarantineState`` (schemas/quarantine_state.avsc) ---------------------------


def to_avro_record(state: AddressState, cause_event_id: str | None = None) -> dict[str, Any]:
    """The ``QuarantineState`` event of ``state`` (a dict for fastavro / the serializer).

    ``cause_event_id`` is the id of the signal that was applied; it is dropped for
    timer changes (release, counter reset), which no event caused.
    """
    if state.changed_at is None or state.change is None:
        raise ValueError(f"{state.address}: an unchanged state is not an event")
    return {
        "address": state.address,
        "status": str(state.status),
        "event_time": state.changed_at,
        "change": str(state.change),
        "cause_event_id": None if state.change in TIMER_CHANGES else cause_event_id,
        "error_count": state.error_count,
        "first_error_at": state.first_error_at,
        "last_error_at": state.last_error_at,
        "errors_reset_at": state.errors_reset_at,
        "quarantined_at": state.quarantined_at,
        "denylisted_at": state.denylisted_at,
        "release_at": state.release_at,
        "quarantine_reason": None
        if state.quarantine_reason is None
        else str(state.quarantine_reason),
        "recent_errors": [
            {"reason": str(error.reason), "rule_id": error.rule_id, "event_time": error.event_time}
            for error in state.recent_errors
        ],
        "ruleset_version": state.ruleset_version,
        "policy_version": state.policy_version,
    }


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else to_utc_millis(moment)


def from_avro_record(record: Mapping[str, Any]) -> AddressState:
    """The state carried by a decoded ``QuarantineState`` event (e.g. for a lookup cache)."""
    reason = record.get("quarantine_reason")
    return AddressState(
        address=record["address"],
        status=Status(record["status"]),
        error_count=record["error_count"],
        first_error_at=_utc(record.get("first_error_at")),
        last_error_at=_utc(record.get("last_error_at")),
        errors_reset_at=_utc(record.get("errors_reset_at")),
        quarantined_at=_utc(record.get("quarantined_at")),
        denylisted_at=_utc(record.get("denylisted_at")),
        release_at=_utc(record.get("release_at")),
        quarantine_reason=None if reason is None else Reason(reason),
        recent_errors=tuple(
            RecordedError(
                Reason(error["reason"]), error["rule_id"], to_utc_millis(error["event_time"])
            )
            for error in record.get("recent_errors", ())
        ),
        changed_at=_utc(record["event_time"]),
        change=Change(record["change"]),
        ruleset_version=record["ruleset_version"],
        policy_version=record["policy_version"],
    )
