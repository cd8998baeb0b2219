"""Building blocks of scripted failure streams: a small rule set, a clock, typical failures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from processor.state.mx_policy import (
    MxPolicyChange,
    RouteSignal,
    RouteState,
    advance,
    apply,
    route_of,
)
from processor.state.mx_rules import MxRuleSet

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def levels(base: int) -> list[dict[str, int]]:
    """Six gentle-to-fast levels whose numbers encode the level (handy in assertions)."""
    return [
        {
            "max_connections": base * n,
            "max_messages_per_connection": 10 * n,
            "max_messages_per_hour": 100 * base * n,
        }
        for n in range(1, 7)
    ]


def small_rules_document() -> dict[str, Any]:
    return {
        "defaults": {
            "start_level": 3,
            "throttle": {"threshold": 3, "window": "10m", "cooldown": "30m"},
            "suspension": {"threshold": 1, "window": "1h", "period": "4h", "step_down": 1},
            "warmup": {"clean_period": "1h"},
        },
        "signals": {
            "throttle": {
                "details": ["ratelimited", "toomanyconn"],
                "smtp_codes": [421],
                "diagnostic_patterns": ["too many connections", "rate limit"],
            },
            "block": {"reasons": ["refused"], "details": ["blocked", "badreputation"]},
        },
        "default": {"levels": levels(1)},
        "rules": [
            {
                "id": "google",
                "mx_hosts": ["*.google.com", "*.googlemail.com"],
                "domains": ["gmail.com"],
                "levels": levels(2),
            },
            {
                "id": "yahoo",
                "mx_hosts": ["*.yahoodns.net"],
                "domains": ["yahoo.com", "aol.com"],
                "levels": levels(3),
                "start_level": 6,
                "suspension": {"period": "2h", "threshold": 2, "window": "30m"},
                "throttle_patterns": [r"\[TSS0[1-9]\]"],
            },
        ],
    }


RATE_LIMITED: dict[str, Any] = {
    "reason": "unreachable",
    "detail": "ratelimited",
    "smtp_code": 421,
    "status": "4.7.0",
    "diagnostic": "421 4.7.0 Try again later, closing connection: rate limited",
}

BLOCKLISTED: dict[str, Any] = {
    "reason": "refused",
    "detail": "blocked",
    "smtp_code": 550,
    "status": "5.7.1",
    "diagnostic": "550 5.7.1 Service unavailable; client host blocked using Spamhaus",
}


def run_stream(
    rules: MxRuleSet, steps: Iterable[RouteSignal | datetime]
) -> tuple[dict[str, RouteState], list[MxPolicyChange]]:
    """What the Kafka stage does, minus Kafka: route each signal to its state, apply it;
    a datetime in the stream is a timer tick that advances every route to that time."""
    states: dict[str, RouteState] = {}
    published: list[MxPolicyChange] = []
    for step in steps:
        if isinstance(step, datetime):
            for key in sorted(states):
                states[key], changes = advance(states[key], step, rules)
                published.extend(changes)
        else:
            key = route_of(step, rules).key
            states[key], changes = apply(states.get(key), step, rules)
            published.extend(changes)
    return states, published


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


Summary = tuple[str, str, int, str, float, float | None]


def minutes(moment: datetime) -> float:
    return (moment - T0).total_seconds() / 60


def summary(changes: Iterable[MxPolicyChange]) -> list[Summary]:
    """(route, reason, level, status, minutes after T0, until in minutes) per change."""
    return [
        (
            change.route,
            change.reason.value,
            change.level,
            change.status.value,
            minutes(change.event_time),
            None if change.until is None else minutes(change.until),
        )
        for change in changes
    ]
