"""Property tests: random histories give exactly the reference model's states."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.state.quarantine import AddressState, apply, release_due
from processor.state.quarantine_policy import QuarantinePolicy, load_quarantine_policy
from tests.unit.state.reference_model import ModelSignal, ReferenceModel
from tests.unit.state.strategies import Scan, as_model_dict, at, histories, policies, to_signal

SHIPPED_POLICY = load_quarantine_policy()


def run(
    policy: QuarantinePolicy, steps: list[ModelSignal | Scan]
) -> tuple[dict[str, AddressState], ReferenceModel]:
    """Feed the same history to the implementation and the model, comparing after each step."""
    model = ReferenceModel(policy)
    states: dict[str, AddressState] = {}
    for step in steps:
        if isinstance(step, Scan):
            model.scan(step.now)
            for address, state in states.items():
                states[address], _ = release_due(state, at(step.now), policy)
        else:
            model.signal(step)
            new_state, changed = apply(states.get(step.address), to_signal(step), policy)
            if changed:
                states[step.address] = new_state
        assert {a: as_model_dict(s) for a, s in states.items()} == model.addresses
    return states, model


@settings(max_examples=150, deadline=None)
@given(histories())
def test_shipped_policy_matches_reference_model(steps: list[ModelSignal | Scan]) -> None:
    run(SHIPPED_POLICY, steps)


@settings(max_examples=150, deadline=None)
@given(policies(), histories())
def test_any_policy_matches_reference_model(
    policy: QuarantinePolicy, steps: list[ModelSignal | Scan]
) -> None:
    run(policy, steps)


@settings(max_examples=60, deadline=None)
@given(policies(), histories(with_scans=False), st.data())
def test_scans_at_the_watermark_change_no_outcome(
    policy: QuarantinePolicy, signals: list[ModelSignal | Scan], data: st.DataObject
) -> None:
    """A timer scan whose "now" is not after any later signal's time changes no final state.

    This is the contract for the stage's timer scan: "now" must be a low watermark of
    event time. A signal older than an earlier scan is late and is clamped.
    """
    with_scans: list[ModelSignal | Scan] = []
    for index, step in enumerate(signals):
        assert isinstance(step, ModelSignal)
        if data.draw(st.booleans()):
            later = [s.time for s in signals[index:] if isinstance(s, ModelSignal)]
            with_scans.append(Scan(min(later)))
        with_scans.append(step)
    final_scan = Scan(max(s.time for s in signals if isinstance(s, ModelSignal)))
    plain, _ = run(policy, [*signals, final_scan])
    scanned, _ = run(policy, [*with_scans, final_scan])
    assert plain == scanned


@settings(max_examples=60, deadline=None)
@given(policies(), histories())
def test_scanning_twice_or_late_is_idempotent(
    policy: QuarantinePolicy, steps: list[ModelSignal | Scan]
) -> None:
    states, _ = run(policy, steps)
    for state in states.values():
        if state.due_at is None:
            assert release_due(state, at(10**14), policy) == (state, False)
            continue
        once, changed = release_due(state, state.due_at, policy)
        assert changed
        assert release_due(once, at(10**14), policy) == (once, False)
        assert release_due(state, at(10**14), policy) == (once, True)
