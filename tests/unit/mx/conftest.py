"""Fixtures for the MX rule and route-policy tests: a small rule set, a failure factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from processor.state.mx_policy import RouteSignal
from processor.state.mx_rules import MxRuleSet, parse_mx_rules

from .streams import T0, small_rules_document


@pytest.fixture
def rules() -> MxRuleSet:
    return parse_mx_rules(small_rules_document(), version="test+1")


SignalFactory = Callable[..., RouteSignal]


@pytest.fixture
def signal() -> SignalFactory:
    """A failure event through Gmail from 192.0.2.1 ``minutes`` after T0, fields overridable."""
    counter = iter(range(1, 1_000_000))

    def make(minutes: float, **fields: Any) -> RouteSignal:
        event: dict[str, Any] = {
            "event_id": f"ev-{next(counter)}",
            "event_time": T0 + timedelta(minutes=minutes),
            "recipient": "someone@gmail.com",
            "mx": "gmail-smtp-in.l.google.com",
            "sending_ip": "192.0.2.1",
            "reason": "user_unknown",
            "detail": "userunknown",
            "smtp_code": 550,
            "status": "5.1.1",
            "diagnostic": "550 5.1.1 The email account that you tried to reach does not exist",
        }
        event.update(fields)
        return RouteSignal.from_failure_event(event)

    return make
