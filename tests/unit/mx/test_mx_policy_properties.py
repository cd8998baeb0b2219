"""Properties of the route policy over random failure streams (hypothesis).

Checked against the rules, not a copy of the implementation: levels stay within the
rule's bounds, limits follow level and status, published times never go backwards per
route, replays are identical, and timer ticks at or before the next failure never
change what is published.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.state.mx_policy import MxPolicyChange, RouteSignal, RouteStatus
from processor.state.mx_rules import MxRuleSet, parse_mx_rules

from .streams import BLOCKLISTED, RATE_LIMITED, T0, run_stream, small_rules_document

RULES: MxRuleSet = parse_mx_rules(small_rules_document(), version="prop")

KINDS: dict[str, dict[str, Any]] = {
    "neutral": {"reason": "user_unknown", "detail": "userunknown", "smtp_code": 550},
    "throttle": RATE_LIMITED,
    "block": BLOCKLISTED,
}
DESTINATIONS = [
    {"recipient": "a@gmail.com", "mx": "aspmx.l.google.com"},
    {"recipient": "a@yahoo.com", "mx": None},
    {"recipient": "a@acme.example", "mx": "mx.acme.example"},
]

failures = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=24 * 60),  # minute of the day
        st.sampled_from(sorted(KINDS)),
        st.integers(min_value=0, max_value=len(DESTINATIONS) - 1),
        st.sampled_from(["192.0.2.1", "192.0.2.2", None]),
    ),
    max_size=60,
)


def signals_of(drawn: list[tuple[int, str, int, str | None]], *, sort: bool) -> list[RouteSignal]:
    rows = sorted(drawn, key=lambda row: row[0]) if sort else drawn
    return [
        RouteSignal.from_failure_event(
            {
                "event_id": f"e{index}",
                "event_time": T0 + timedelta(minutes=minute),
                "sending_ip": ip,
                **DESTINATIONS[destination],
                **KINDS[kind],
            }
        )
        for index, (minute, kind, destination, ip) in enumerate(rows)
    ]


def check_invariants(published: list[MxPolicyChange]) -> None:
    last_time: dict[str, datetime] = {}
    for change in published:
        rule = RULES.rule(change.rule_id)
        assert 1 <= change.level <= rule.top_level == change.top_level
        if change.status is RouteStatus.SUSPENDED:
            assert change.limits.max_connections == 0
        else:
            assert change.limits.model_dump() == rule.level(change.level).model_dump()
        assert (change.until is None) == (change.status is RouteStatus.ACTIVE)
        if change.until is not None:
            assert change.until > change.event_time
        assert change.event_time >= last_time.get(change.route, change.event_time)
        last_time[change.route] = change.event_time


@settings(max_examples=150, deadline=None)
@given(failures, st.booleans())
def test_invariants_hold_in_and_out_of_order(drawn: Any, in_order: bool) -> None:
    signals = signals_of(drawn, sort=in_order)
    _, published = run_stream(RULES, [*signals, T0 + timedelta(days=3)])
    check_invariants(published)
    assert run_stream(RULES, [*signals, T0 + timedelta(days=3)])[1] == published


@settings(max_examples=150, deadline=None)
@given(failures, st.lists(st.integers(min_value=0, max_value=24 * 60), max_size=10))
def test_timer_ticks_before_the_next_failure_change_nothing(drawn: Any, ticks: Any) -> None:
    signals = signals_of(drawn, sort=True)
    end = T0 + timedelta(days=2)
    steps: list[RouteSignal | datetime] = [*signals]
    for minute in sorted(ticks):
        tick = T0 + timedelta(minutes=minute)
        # Insert the tick before the first failure later than it (ticks never run ahead).
        position = next(
            (i for i, s in enumerate(steps) if isinstance(s, RouteSignal) and s.event_time > tick),
            len(steps),
        )
        steps.insert(position, tick)
    states_plain, plain = run_stream(RULES, [*signals, end])
    states_ticked, ticked = run_stream(RULES, [*steps, end])
    assert states_plain == states_ticked

    def by_route(changes: list[MxPolicyChange]) -> dict[str, list[MxPolicyChange]]:
        grouped: dict[str, list[MxPolicyChange]] = {}
        for change in changes:
            grouped.setdefault(change.route, []).append(change)
        return grouped

    assert by_route(plain) == by_route(ticked)
