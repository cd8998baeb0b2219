"""Regex timeouts reach the metric once each: only what an engine counted since it was
last asked (in the loop's process and in each worker process alike)."""

from __future__ import annotations

from types import SimpleNamespace

from processor.stream.workers import new_rule_timeouts


def test_only_the_timeouts_counted_since_the_last_look_are_new() -> None:
    engine = SimpleNamespace(timeouts={"a": 2})
    reported: dict[str, int] = {}
    assert new_rule_timeouts(engine, reported) == {"a": 2}
    assert new_rule_timeouts(engine, reported) == {}
    engine.timeouts = {"a": 5, "b": 1}
    assert new_rule_timeouts(engine, reported) == {"a": 3, "b": 1}
    assert reported == {"a": 5, "b": 1}


def test_an_engine_that_counts_no_timeouts_has_none() -> None:
    assert new_rule_timeouts(SimpleNamespace(), {}) == {}
