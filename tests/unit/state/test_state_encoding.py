"""The stored form and the Avro ``QuarantineState`` event carry every state exactly."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import fastavro
import pytest
from hypothesis import given, settings

from processor.paths import schemas_dir
from processor.qualify.result import Reason
from processor.state.codec import decode_state, due_millis, encode_state, millis
from processor.state.quarantine import (
    AddressState,
    Change,
    RecordedError,
    Status,
    apply,
    from_avro_record,
    release_due,
    to_avro_record,
)
from processor.state.quarantine_policy import QuarantinePolicy, load_quarantine_policy
from tests.unit.state.reference_model import ModelSignal
from tests.unit.state.strategies import Scan, at, histories, policies, to_signal

SCHEMA = fastavro.parse_schema(
    json.loads((schemas_dir() / "quarantine_state.avsc").read_text(encoding="utf-8"))
)
T0 = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def avro_round_trip(record: dict[str, object]) -> dict[str, object]:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, SCHEMA, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, SCHEMA, SCHEMA)  # type: ignore[return-value]


def every_state(policy: QuarantinePolicy, steps: list[ModelSignal | Scan]) -> list[AddressState]:
    """Each state a history passes through, computed on states decoded from bytes.

    Decoding before every step shows that a restored store continues exactly like the
    live one.
    """
    stored: dict[str, bytes] = {}
    seen: list[AddressState] = []
    for step in steps:
        if isinstance(step, Scan):
            for address, value in stored.items():
                state, changed = release_due(decode_state(address, value), at(step.now), policy)
                if changed:
                    stored[address] = encode_state(state)
                    seen.append(state)
            continue
        previous = stored.get(step.address)
        state, changed = apply(
            None if previous is None else decode_state(step.address, previous),
            to_signal(step),
            policy,
        )
        if changed:
            stored[step.address] = encode_state(state)
            seen.append(state)
    return seen


@settings(max_examples=80, deadline=None)
@given(policies(), histories())
def test_stored_form_round_trips_and_restored_equals_live(
    policy: QuarantinePolicy, steps: list[ModelSignal | Scan]
) -> None:
    live: list[AddressState] = []
    states: dict[str, AddressState] = {}
    for step in steps:
        if isinstance(step, Scan):
            for address, state in states.items():
                states[address], changed = release_due(state, at(step.now), policy)
                if changed:
                    live.append(states[address])
        else:
            state, changed = apply(states.get(step.address), to_signal(step), policy)
            if changed:
                states[step.address] = state
                live.append(state)
    assert every_state(policy, steps) == live
    for state in live:
        value = encode_state(state)
        assert decode_state(state.address, value) == state
        due = state.due_at
        assert due_millis(value) == (None if due is None else millis(due))


@settings(max_examples=80, deadline=None)
@given(policies(), histories())
def test_avro_event_round_trips(policy: QuarantinePolicy, steps: list[ModelSignal | Scan]) -> None:
    for state in every_state(policy, steps):
        record = to_avro_record(state, cause_event_id="evt-1")
        decoded = avro_round_trip(record)
        assert from_avro_record(decoded) == state
        expected_cause = (
            None if state.change in (Change.RELEASED, Change.COUNTER_RESET) else "evt-1"
        )
        assert decoded["cause_event_id"] == expected_cause


def test_typical_states_are_small() -> None:
    one_error = AddressState(
        address="someone@example.com",
        status=Status.WITH_ERRORS,
        error_count=1,
        first_error_at=T0,
        last_error_at=T0,
        errors_reset_at=T0 + timedelta(days=10),
        recent_errors=(RecordedError(Reason.MAILBOX_FULL, "google:quota-exceeded", T0),),
        changed_at=T0,
        change=Change.ERROR_COUNTED,
        ruleset_version="1.0.0+a1b2c3d4",
        policy_version="1.0.0",
    )
    assert len(encode_state(one_error)) <= 80
    assert decode_state(one_error.address, encode_state(one_error)) == one_error


def test_long_texts_and_far_times_round_trip() -> None:
    far = datetime(2100, 1, 1, tzinfo=UTC)
    state = AddressState(
        address="x@example.com",
        status=Status.QUARANTINED,
        error_count=70_000,
        first_error_at=datetime(1999, 1, 1, tzinfo=UTC),
        last_error_at=T0,
        errors_reset_at=None,
        quarantined_at=T0,
        release_at=far,
        quarantine_reason=Reason.USER_UNKNOWN,
        recent_errors=(RecordedError(Reason.USER_UNKNOWN, "r" * 300, far),),
        changed_at=T0,
        change=Change.QUARANTINED,
        ruleset_version="v" * 1000,
        policy_version="1",
    )
    assert decode_state(state.address, encode_state(state)) == state


def test_unchanged_state_is_not_an_event() -> None:
    with pytest.raises(ValueError):
        to_avro_record(AddressState(address="x@example.com"))


def test_shipped_policy_states_validate_against_schema() -> None:
    policy = load_quarantine_policy()
    steps: list[ModelSignal | Scan] = [
        ModelSignal("a@example.com", millis(T0), "soft", "mailbox_full"),
        ModelSignal("a@example.com", millis(T0 + timedelta(days=2)), "soft", "mailbox_full"),
        ModelSignal("a@example.com", millis(T0 + timedelta(days=4)), "soft", "mailbox_full"),
        Scan(millis(T0 + timedelta(days=40))),
        ModelSignal("b@example.com", millis(T0), "hard", "complaint"),
    ]
    for state in every_state(policy, steps):
        assert fastavro.validate(to_avro_record(state), SCHEMA)
