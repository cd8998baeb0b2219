"""Safety and consistency checks of a rule set (``bounce-processor rules lint`` / ``test``).

Lint rejects, one message per problem:

- schema errors (unknown fields, bad enum values, undefined details, bad manifest);
- duplicate rule ids;
- invalid regular expressions, and patterns outside the syntax the checker can analyse;
- patterns prone to catastrophic backtracking: a structural check of the parse tree
  (nested quantifiers, overlapping alternatives or optional parts under a repeat,
  adjacent overlapping unbounded repeats) plus a dynamic probe that runs the pattern on
  crafted 4 KiB inputs under a short ``regex`` timeout;
- rules without examples, examples that do not match their rule, counter-examples that
  do;
- rules shadowed by an earlier rule (same field, a scope covering theirs, and matching
  every one of their examples), which therefore can never decide.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from processor.qualify.engine import DEFAULT_MAX_INPUT, compile_pattern, decision_order
from processor.qualify.loader import (
    LoadedRule,
    RuleSet,
    RuleSetError,
    build_ruleset,
    default_rules_dir,
    read_documents,
)
from processor.qualify.patterns import PatternSyntaxError, hazards, pump_chars

PROBE_TIMEOUT = 0.1  # seconds a probe may take before the pattern is called unsafe
EXAMPLE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Problem:
    """One lint finding."""

    where: str  # "bounce/gmail.yaml: rule 'gmail.x'" or a file name
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _where(lr: LoadedRule) -> str:
    return f"{lr.source}: rule {lr.rule.id!r}"


def probe_inputs(pattern: str, examples: tuple[str, ...] = ()) -> list[str]:
    """Crafted inputs that make backtracking patterns blow up: long runs of the
    characters the pattern repeats, alone and after an example's start, each ending in a
    character that forces a failed match at the end."""
    n = DEFAULT_MAX_INPUT
    try:
        chars = pump_chars(pattern)
    except PatternSyntaxError:
        chars = ["a", " ", "0"]
    inputs = []
    for c in chars:
        inputs.append(c * (n - 1) + "\x00")
        inputs.append((c + " ") * (n // 2 - 1) + "\x00")
    for ex in examples[:2]:
        head = ex[: max(1, len(ex) // 2)]
        for c in chars[:2]:
            inputs.append((head + c * n)[: n - 1] + "\x00")
    inputs.append("a" * (n - 1) + "!")
    return inputs


def pattern_problems(pattern: str, examples: tuple[str, ...] = ()) -> list[str]:
    """Problems of a single pattern: invalid, unanalysable, or backtracking hazards."""
    try:
        compiled = compile_pattern(pattern)
    except regex.error as exc:
        return [f"invalid regular expression: {exc}"]
    out: list[str] = []
    try:
        out += [f"catastrophic backtracking risk: {h}" for h in hazards(pattern)]
    except PatternSyntaxError as exc:
        out.append(
            "pattern uses syntax the safety checker cannot analyse (write it in the "
            f"common re/regex subset): {exc}"
        )
    for text in probe_inputs(pattern, examples):
        try:
            compiled.search(text, timeout=PROBE_TIMEOUT)
        except TimeoutError:
            out.append(
                f"catastrophic backtracking: a {len(text)}-character probe input "
                f"({text[:12]!r}...) took longer than {PROBE_TIMEOUT}s"
            )
            break
    return out


def _matches(compiled: Any, text: str) -> bool:
    try:
        return compiled.search(text[:DEFAULT_MAX_INPUT], timeout=EXAMPLE_TIMEOUT) is not None
    except TimeoutError:
        return False


def example_problems(lr: LoadedRule, compiled: Any) -> list[Problem]:
    """Examples that do not match their rule, counter-examples that do."""
    rule = lr.rule
    out: list[Problem] = []
    if not rule.examples:
        out.append(Problem(_where(lr), "has no examples (every rule needs at least one)"))
    for ex in rule.examples:
        if not _matches(compiled, ex):
            out.append(Problem(_where(lr), f"example does not match: {ex!r}"))
    for ex in rule.counter_examples:
        if _matches(compiled, ex):
            out.append(Problem(_where(lr), f"counter-example matches: {ex!r}"))
    return out


def shadow_problems(ruleset: RuleSet, compiled: dict[str, Any]) -> list[Problem]:
    """Rules that an earlier rule (same field, covering scope) matches on every example."""
    ordered = [lr for lr in decision_order(ruleset.rules) if lr.rule.id in compiled]
    out: list[Problem] = []
    for j, later in enumerate(ordered):
        if not later.rule.examples:
            continue
        for earlier in ordered[:j]:
            if earlier.rule.field != later.rule.field:
                continue
            if not earlier.rule.scope.covers(later.rule.scope):
                continue
            pat = compiled[earlier.rule.id]
            if all(_matches(pat, ex) for ex in later.rule.examples):
                out.append(
                    Problem(
                        _where(later),
                        f"shadowed by earlier rule {earlier.rule.id!r} ({earlier.source}, "
                        f"priority {earlier.rule.priority}), which matches all its examples",
                    )
                )
                break
    return out


def lint_ruleset(ruleset: RuleSet) -> list[Problem]:
    """All problems of a loaded rule set."""
    problems: list[Problem] = []
    counts = Counter(lr.rule.id for lr in ruleset.rules)
    seen: set[str] = set()
    for lr in ruleset.rules:
        if counts[lr.rule.id] > 1 and lr.rule.id not in seen:
            seen.add(lr.rule.id)
            files = sorted({x.source for x in ruleset.rules if x.rule.id == lr.rule.id})
            problems.append(
                Problem(
                    _where(lr),
                    f"duplicate id: defined {counts[lr.rule.id]} times ({', '.join(files)})",
                )
            )
    compiled: dict[str, Any] = {}
    for lr in ruleset.rules:
        pp = pattern_problems(lr.rule.pattern, lr.rule.examples)
        problems += [Problem(_where(lr), p) for p in pp]
        if pp and pp[0].startswith("invalid regular expression"):
            continue
        pat = compile_pattern(lr.rule.pattern)
        if counts[lr.rule.id] == 1:
            compiled[lr.rule.id] = pat
        problems += example_problems(lr, pat)
    problems += shadow_problems(ruleset, compiled)
    return problems


def lint_dir(rules_dir: str | Path | None = None) -> tuple[RuleSet | None, list[Problem]]:
    """Load and lint a rule folder; the rule set is None when it does not load."""
    path = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    try:
        ruleset = build_ruleset(read_documents(path), path=path)
    except RuleSetError as exc:
        return None, [Problem(str(path), p) for p in exc.problems]
    return ruleset, lint_ruleset(ruleset)


@dataclass(frozen=True)
class ExampleReport:
    """Outcome of running every example of a rule set."""

    checked: int
    failures: list[Problem]


def run_examples(ruleset: RuleSet) -> ExampleReport:
    """Run every example and counter-example against its own rule."""
    checked = 0
    failures: list[Problem] = []
    for lr in ruleset.rules:
        try:
            pat = compile_pattern(lr.rule.pattern)
        except regex.error as exc:
            failures.append(Problem(_where(lr), f"invalid regular expression: {exc}"))
            continue
        checked += len(lr.rule.examples) + len(lr.rule.counter_examples)
        failures += example_problems(lr, pat)
    return ExampleReport(checked, failures)
