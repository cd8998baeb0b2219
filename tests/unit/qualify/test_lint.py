"""Lint catches unsafe patterns, duplicates, shadowed rules and bad examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from processor.cli.rules import rules as rules_cli
from processor.qualify.lint import lint_dir
from processor.qualify.patterns import hazards

from .conftest import rule, write_rules


def messages(d: Path) -> list[str]:
    _, problems = lint_dir(d)
    return [str(p) for p in problems]


def test_default_rules_are_clean() -> None:
    ruleset, problems = lint_dir()
    assert ruleset is not None and len(ruleset.rules) > 100
    assert problems == []


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"\s*\s*x", r"(.*a){12}", r"(a*)*b"]
)
def test_structural_hazards(pattern: str) -> None:
    assert hazards(pattern)


@pytest.mark.parametrize(
    "pattern", [r"\buser\sunknown\b", r"(?:\d+\.)+x", r"a.{0,40}b", r"(?:foo(?:bar)?)+"]
)
def test_safe_patterns(pattern: str) -> None:
    assert hazards(pattern) == []


def test_lint_catches_catastrophic_backtracking(tmp_path: Path) -> None:
    out = messages(write_rules(tmp_path, [rule("evil", r"(a+)+$", examples=["aaa"])]))
    assert any("'evil'" in m and "catastrophic backtracking" in m for m in out)


def test_lint_catches_invalid_regex(tmp_path: Path) -> None:
    out = messages(write_rules(tmp_path, [rule("broken", r"user (unknown", examples=["x"])]))
    assert any("invalid regular expression" in m for m in out)


def test_lint_catches_duplicates_and_shadowing(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [
            rule("dup", r"\bfoo\b", examples=["foo"]),
            rule("dup", r"\bbar\b", examples=["bar"]),
            rule("broad", r"\bunknown\b", priority=200, examples=["unknown"]),
            rule("narrow", r"\buser\sunknown\b", examples=["user unknown"]),
        ],
    )
    out = messages(d)
    assert any("duplicate id" in m and "'dup'" in m for m in out)
    assert any("'narrow'" in m and "shadowed by earlier rule 'broad'" in m for m in out)


def test_lint_catches_bad_examples(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [
            rule("r1", r"\bfoo\b", examples=["bar"], counter_examples=["foo"]),
            rule("r2", r"\bbaz\b"),
        ],
    )
    out = messages(d)
    assert any("example does not match: 'bar'" in m for m in out)
    assert any("counter-example matches: 'foo'" in m for m in out)
    assert any("'r2'" in m and "no examples" in m for m in out)


def test_lint_catches_schema_errors(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path, [rule("r", r"\bfoo\b", "nosuchdetail", examples=["foo"], colour="red")]
    )
    out = messages(d)
    assert any("colour" in m for m in out)


def test_cli_lint_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(rules_cli, ["lint"])
    assert ok.exit_code == 0, ok.output
    bad = write_rules(tmp_path, [rule("evil", r"(a+)+$", examples=["aaa"])])
    res = runner.invoke(rules_cli, ["lint", str(bad)])
    assert res.exit_code == 1
    assert "catastrophic backtracking" in res.output


def test_cli_test_and_explain() -> None:
    runner = CliRunner()
    res = runner.invoke(rules_cli, ["test"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(rules_cli, ["explain", "550 5.2.2 User quota exceeded"])
    assert res.exit_code == 0
    assert "decided by:    generic.mailbox-full" in res.output
    assert "status:5.2.2" in res.output  # the other candidates are listed
