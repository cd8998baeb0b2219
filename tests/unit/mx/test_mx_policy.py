"""MX route policy on scripted failure streams: throttle, suspend, warm up, isolate, replay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from processor.state.mx_policy import (
    ANY_SENDING_IP,
    ChangeReason,
    Route,
    RouteSignal,
    RouteStatus,
    advance,
    apply,
    dump_snapshot,
    load_snapshot,
    next_due,
    route_of,
)
from processor.state.mx_rules import MxRuleSet

from .conftest import SignalFactory
from .streams import BLOCKLISTED, RATE_LIMITED, T0, at, run_stream, summary

GMAIL = "192.0.2.1|google"


def test_rate_limit_burst_steps_down_then_back_up_after_the_clean_period(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    stream = [
        signal(0),  # a user-unknown: the route appears at its start level
        signal(1, **RATE_LIMITED),
        signal(2, **RATE_LIMITED),
        signal(3, **RATE_LIMITED),  # third within 10 minutes: one level down for 30 minutes
        at(33),  # cool-down over
        at(92),  # clean period (1h from 33) not over yet
        at(93),  # now it is
    ]
    _, published = run_stream(rules, stream)
    assert summary(published) == [
        (GMAIL, "first_seen", 3, "active", 0, None),
        (GMAIL, "throttled", 2, "throttled", 3, 33),
        (GMAIL, "cooldown_ended", 2, "active", 33, None),
        (GMAIL, "warmed_up", 3, "active", 93, None),
    ]
    throttled, third_signal = published[1], stream[3]
    assert isinstance(third_signal, RouteSignal)
    assert throttled.cause_event_id == third_signal.event_id
    assert (
        throttled.reason_detail == "3 throttling signals within 10m (last: 421 4.7.0 ratelimited)"
    )
    assert (throttled.previous_level, throttled.previous_status) == (3, RouteStatus.ACTIVE)
    assert throttled.limits.max_connections == rules.rule("google").level(2).max_connections
    assert throttled.ruleset_version == "test+1"
    assert published[2].cause_event_id is None  # timer-driven


def test_warm_up_continues_to_the_top_level_and_no_further(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    states, published = run_stream(rules, [signal(0), at(60 * 10)])
    assert [(c.level, c.event_time) for c in published] == [
        (3, T0),
        (4, at(60)),
        (5, at(120)),
        (6, at(180)),
    ]
    assert next_due(states[GMAIL], rules) is None


def test_signals_spread_wider_than_the_window_do_not_throttle_but_delay_warm_up(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    stream = [signal(0, **RATE_LIMITED), signal(11, **RATE_LIMITED), signal(22, **RATE_LIMITED)]
    states, published = run_stream(rules, [*stream, at(81)])
    assert summary(published) == [(GMAIL, "first_seen", 3, "active", 0, None)]
    # The clean period runs from the last throttling signal (22), not from the start.
    assert next_due(states[GMAIL], rules) == at(82)


def test_throttling_never_goes_below_level_one(rules: MxRuleSet, signal: SignalFactory) -> None:
    burst_minutes = [m for start in (0, 40, 80, 120) for m in (start, start + 1, start + 2)]
    _, published = run_stream(rules, [signal(m, **RATE_LIMITED) for m in burst_minutes])
    throttles = [c for c in published if c.reason is ChangeReason.THROTTLED]
    assert [c.level for c in throttles] == [2, 1, 1, 1]


def test_reaching_the_threshold_again_during_the_cool_down_extends_it_without_a_second_step(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    minutes = [1, 2, 3, 10, 11, 12]
    _, published = run_stream(rules, [*(signal(m, **RATE_LIMITED) for m in minutes), at(200)])
    assert summary(published)[:4] == [
        (GMAIL, "first_seen", 3, "active", 1, None),
        (GMAIL, "throttled", 2, "throttled", 3, 33),
        (GMAIL, "throttled", 2, "throttled", 12, 42),
        (GMAIL, "cooldown_ended", 2, "active", 42, None),
    ]


def test_a_blocklist_response_suspends_the_route(rules: MxRuleSet, signal: SignalFactory) -> None:
    stream = [
        signal(0),
        signal(5, **BLOCKLISTED),  # suspended for 4h, one level down
        signal(6, **RATE_LIMITED),  # not counted while suspended
        signal(7, **RATE_LIMITED),
        signal(8, **RATE_LIMITED),
        signal(60, **BLOCKLISTED),  # lengthens the suspension to 60 + 4h
        at(300),  # 5h: over
        at(360),  # 1h clean after resuming: one level up
    ]
    states, published = run_stream(rules, stream)
    assert summary(published) == [
        (GMAIL, "first_seen", 3, "active", 0, None),
        (GMAIL, "suspended", 2, "suspended", 5, 245),
        (GMAIL, "suspended", 2, "suspended", 60, 300),
        (GMAIL, "suspension_ended", 2, "active", 300, None),
        (GMAIL, "warmed_up", 3, "active", 360, None),
    ]
    suspended = published[1]
    assert suspended.limits.model_dump() == {
        "max_connections": 0,
        "max_messages_per_connection": 0,
        "max_messages_per_hour": 0,
    }
    assert suspended.reason_detail == "550 5.7.1 blocked"
    assert states[GMAIL].status is RouteStatus.ACTIVE


def test_a_block_on_a_new_route_is_published_once(rules: MxRuleSet, signal: SignalFactory) -> None:
    _, published = run_stream(rules, [signal(0, **BLOCKLISTED)])
    assert summary(published) == [(GMAIL, "suspended", 2, "suspended", 0, 240)]


def test_a_rule_may_require_several_blocks_within_a_window(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    yahoo = {"recipient": "someone@yahoo.com", "mx": "mta6.am0.yahoodns.net"}
    route = "192.0.2.1|yahoo"  # two blocks within 30 minutes suspend it for 2 hours
    stream = [
        signal(0, **BLOCKLISTED, **yahoo),
        signal(31, **BLOCKLISTED, **yahoo),  # the first one has left the window
        signal(40, **BLOCKLISTED, **yahoo),
    ]
    _, published = run_stream(rules, stream)
    assert summary(published) == [
        (route, "first_seen", 6, "active", 0, None),
        (route, "suspended", 5, "suspended", 40, 160),
    ]
    assert published[1].reason_detail == "2 reputation blocks within 30m (last: 550 5.7.1 blocked)"


def test_an_earlier_block_never_shortens_a_suspension(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    _, published = run_stream(rules, [signal(60, **BLOCKLISTED), signal(30, **BLOCKLISTED)])
    assert [c.until for c in published] == [at(300)]


def test_other_routes_are_untouched(rules: MxRuleSet, signal: SignalFactory) -> None:
    yahoo = {"recipient": "someone@yahoo.com", "mx": "mta6.am0.yahoodns.net"}
    stream = [
        signal(0),
        signal(0, sending_ip="192.0.2.2"),
        signal(0, **yahoo),
        *(signal(m, **RATE_LIMITED) for m in (1, 2, 3)),
        signal(4, **BLOCKLISTED, recipient="x@acme.example", mx="aspmx.l.google.com"),
        signal(5, sending_ip="192.0.2.2"),
        signal(5, **yahoo),
        at(20),
    ]
    states, published = run_stream(rules, stream)
    by_route: dict[str, list[str]] = {}
    for change in published:
        by_route.setdefault(change.route, []).append(change.reason.value)
    assert by_route == {
        GMAIL: ["first_seen", "throttled", "suspended"],
        "192.0.2.2|google": ["first_seen"],
        "192.0.2.1|yahoo": ["first_seen"],
    }
    assert states["192.0.2.2|google"].level == 3
    assert states["192.0.2.1|yahoo"].level == 6  # the rule's own start level


def test_each_domain_outside_the_named_rules_is_its_own_route(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    small = {"recipient": "a@small.example", "mx": "mx.small.example"}
    other = {"recipient": "b@other.example", "mx": None, "remote_mta": None}
    stream = [
        *(signal(m, **RATE_LIMITED, **small) for m in (1, 2, 3)),
        signal(4, **RATE_LIMITED, **other),
    ]
    states, published = run_stream(rules, stream)
    assert summary(published) == [
        ("192.0.2.1|default|small.example", "first_seen", 3, "active", 1, None),
        ("192.0.2.1|default|small.example", "throttled", 2, "throttled", 3, 33),
        ("192.0.2.1|default|other.example", "first_seen", 3, "active", 4, None),
    ]
    assert published[0].destination == "small.example"
    assert states["192.0.2.1|default|other.example"].level == 3


def test_replaying_the_same_stream_gives_the_same_policy_events(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    yahoo = {
        "recipient": "someone@aol.com",
        "mx": None,
        "remote_mta": "dns; mx-aol.mail.gm0.yahoodns.net",
    }
    stream = [
        signal(0),
        *(signal(m, **RATE_LIMITED) for m in (1, 2, 3, 4, 5, 6)),
        signal(7, **RATE_LIMITED, **yahoo),
        signal(8, **BLOCKLISTED, **yahoo),
        signal(9, sending_ip="2001:db8::25", **RATE_LIMITED),
        at(45),
        signal(50, **RATE_LIMITED, sending_ip=None),
        at(600),
    ]
    first_states, first = run_stream(rules, stream)
    second_states, second = run_stream(rules, stream)
    assert [c.to_avro() for c in first] == [c.to_avro() for c in second]
    assert first_states == second_states
    # Timer ticks only move the moment changes are noticed, never what is published.
    signals_only = [step for step in stream if isinstance(step, RouteSignal)]
    _, without_ticks = run_stream(rules, [*signals_only, at(600)])
    key = lambda c: (c.route, c.event_time)  # noqa: E731
    assert sorted(first, key=key) == sorted(without_ticks, key=key)


def test_late_signals_are_judged_against_the_route_clock(
    rules: MxRuleSet, signal: SignalFactory
) -> None:
    stream = [
        signal(30),
        *(signal(m, **RATE_LIMITED) for m in (10, 11, 12)),  # older than the 10-minute window
        signal(300, **BLOCKLISTED, event_time=T0 - timedelta(hours=5)),  # suspension long over
    ]
    states, published = run_stream(rules, stream)
    assert summary(published) == [(GMAIL, "first_seen", 3, "active", 30, None)]
    assert states[GMAIL].clock == at(30)
    assert states[GMAIL].recent_throttles == ()


def test_advance_never_moves_the_clock_back(rules: MxRuleSet, signal: SignalFactory) -> None:
    state, _ = apply(None, signal(30), rules)
    earlier, changes = advance(state, at(0), rules)
    assert (earlier, changes) == (state, [])


def test_apply_refuses_the_state_of_another_route(rules: MxRuleSet, signal: SignalFactory) -> None:
    state, _ = apply(None, signal(0), rules)
    with pytest.raises(ValueError, match=r"192\.0\.2\.1\|google"):
        apply(state, signal(1, sending_ip="192.0.2.9"), rules)


def test_route_signal_from_failure_event_defaults_and_fallbacks(rules: MxRuleSet) -> None:
    event = {
        "event_id": "e1",
        "event_time": 1_767_225_600_000,  # Avro timestamp-millis as a plain long
        "recipient": "Someone@Hotmail.COM",
        "remote_mta": "dns; [203.0.113.5]",
        "reason": "unreachable",
        "detail": "ratelimited",
        "smtp_code": 421,
        "kind": "dsn",
    }
    signal = RouteSignal.from_failure_event(event)
    assert signal.sending_ip == ANY_SENDING_IP
    assert signal.mx_host is None  # an address literal names no host
    assert signal.recipient_domain == "hotmail.com"
    assert signal.event_time.tzinfo is not None
    assert signal.event_time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert route_of(signal, rules).key == "*|default|hotmail.com"  # not a rule's domain here
    ipv6 = RouteSignal.from_failure_event({**event, "sending_ip": "2001:DB8:0:0::25"})
    assert ipv6.sending_ip == "2001:db8::25"


def test_route_keys_round_trip() -> None:
    for route in (
        Route(sending_ip="*", rule_id="google"),
        Route(sending_ip="2001:db8::1", rule_id="x"),
    ):
        assert Route.from_key(route.key) == route
    for bad in ("no-separator", "a|b|c|d", "|google", "1.2.3.4||x"):
        with pytest.raises(ValueError):
            Route.from_key(bad)


def test_state_snapshots_round_trip(rules: MxRuleSet, signal: SignalFactory) -> None:
    states, _ = run_stream(rules, [signal(0), *(signal(m, **RATE_LIMITED) for m in (1, 2, 3, 4))])
    assert states[GMAIL].status is RouteStatus.THROTTLED
    assert load_snapshot(dump_snapshot(states.values())) == states
