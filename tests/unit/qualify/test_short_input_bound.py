"""Patterns that skip the regex time limit on short inputs (``short_input_bounded``):
the analysis must accept the common rule shapes and refuse the ones whose work grows
with the input faster than the bound allows."""

from __future__ import annotations

import pytest

from processor.qualify.engine import compile_pattern
from processor.qualify.lint import probe_inputs
from processor.qualify.loader import load_ruleset
from processor.qualify.patterns import SHORT_INPUT, short_input_bounded


@pytest.mark.parametrize(
    "pattern",
    [
        r"user\s+unknown",
        r"\b(?:mailbox|user)\s+(?:is\s+)?(?:full|over\squota)\b",
        r"x.*y\s+z",
        r"\bsize\sof\syour\smessage\s.{0,40}?exceeds\b",
        r"\d{3}\s\d\.\d\.\d",
    ],
)
def test_bounded_shapes(pattern: str) -> None:
    assert short_input_bounded(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",  # nested quantifiers
        r"a.*b.*c",  # two free-ending unbounded repeats: cubic
        r"\s+\s+x",  # adjacent overlapping repeats
        r"(.)\1",  # backreference
        r"a.{0,60}b.{0,60}c.{0,60}d",  # 61 ** 3 paths per start
        r"(?:ab|a)*c",  # a repeat of something that varies
    ],
)
def test_unbounded_shapes(pattern: str) -> None:
    assert not short_input_bounded(pattern)


def test_default_bounded_rules_stay_fast_on_crafted_short_inputs() -> None:
    """Every default rule the engine runs without the limit on short inputs finishes the
    lint's backtracking probes, cut to ``SHORT_INPUT`` characters, well inside a time
    limit far above what a bounded search needs."""
    rules = load_ruleset(None).rules
    bounded = [lr for lr in rules if short_input_bounded(lr.rule.pattern)]
    assert len(bounded) >= len(rules) // 2  # the optimisation applies to most rules
    for lr in bounded:
        compiled = compile_pattern(lr.rule.pattern)
        for probe in probe_inputs(lr.rule.pattern, tuple(lr.rule.examples)):
            text = probe[-SHORT_INPUT:]
            try:
                compiled.search(text, timeout=0.5)
            except TimeoutError:
                pytest.fail(f"{lr.rule.id} needs more than 0.5 s on a short input")
