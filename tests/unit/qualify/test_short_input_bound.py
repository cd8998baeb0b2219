"""Patterns that skip the regex time limit on inputs short enough for their search to be
proven bounded (``limit_free_length``): the analysis must accept the common rule shapes
and refuse the ones whose work grows with the input faster than the bound allows."""

from __future__ import annotations

import pytest

from processor.qualify.engine import DEFAULT_MAX_INPUT, compile_pattern
from processor.qualify.lint import probe_inputs
from processor.qualify.loader import load_ruleset
from processor.qualify.patterns import limit_free_length


@pytest.mark.parametrize(
    ("pattern", "at_least"),
    [
        (r"user\s+unknown", DEFAULT_MAX_INPUT),  # the run of blanks has one possible end
        (r"\bsize\sof\syour\smessage\s.{0,40}?exceeds\b", DEFAULT_MAX_INPUT),
        (r"\d{3}\s\d\.\d\.\d", DEFAULT_MAX_INPUT),
        (r"\b(?:mailbox|user)\s+(?:is\s+)?(?:full|over\squota)\b", 512),
        (r"x.*y\s+z", 1024),  # one free-ending unbounded repeat: quadratic
    ],
)
def test_bounded_shapes(pattern: str, at_least: int) -> None:
    assert limit_free_length(pattern) >= at_least


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",  # nested quantifiers
        r"a.*b.*c",  # two free-ending unbounded repeats: cubic
        r"\s+\s+x",  # adjacent overlapping repeats
        r"(.)\1",  # backreference
        r"(?:ab|a)*c",  # a repeat of something that varies
    ],
)
def test_unbounded_shapes(pattern: str) -> None:
    assert limit_free_length(pattern) == 0


def test_more_choices_give_a_shorter_limit_free_input() -> None:
    narrow = limit_free_length(r"a.{0,5}b")
    wide = limit_free_length(r"a.{0,60}b.{0,60}c.{0,60}d")  # 61 ** 3 paths per start
    assert 0 < wide < narrow


def test_default_rules_stay_fast_where_they_run_without_the_limit() -> None:
    """Every default rule, on the lint's backtracking probes cut to the length up to
    which the engine searches it without the time limit, finishes well inside a limit far
    above what a bounded search needs."""
    rules = load_ruleset(None).rules
    free = [(lr, limit_free_length(lr.rule.pattern)) for lr in rules]
    assert sum(1 for _, n in free if n >= 512) >= len(rules) // 2  # applies to most rules
    for lr, n in free:
        if n == 0:
            continue
        compiled = compile_pattern(lr.rule.pattern)
        for probe in probe_inputs(lr.rule.pattern, tuple(lr.rule.examples)):
            text = probe[-min(n, DEFAULT_MAX_INPUT) :]
            try:
                compiled.search(text, timeout=0.5)
            except TimeoutError:
                pytest.fail(f"{lr.rule.id} needs more than 0.5 s on {len(text)} characters")
