"""``bounce-processor classify`` / ``eval`` through click (needs the whole CLI package)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

try:
    from processor.cli import main
except ImportError as exc:  # a sibling sub-command (rules, ...) has not landed yet
    pytest.skip(f"CLI package not importable yet: {exc}", allow_module_level=True)

BOUNCE = (
    "From: MAILER-DAEMON@mx.example.net\nTo: news@sender.example\nSubject: failure notice\n\n"
    "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
    "<gone@example.org>:\nRemote host said: 550 5.1.1 No such user\n"
)


def test_classify_files_jsonl_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_text(BOUNCE)
    (tmp_path / "r.jsonl").write_text(
        '{"recipient": "x@example.org", "diagnostic": "550 5.7.1 no"}\n'
    )

    result = CliRunner().invoke(
        main, ["classify", str(tmp_path / "a.eml"), str(tmp_path / "r.jsonl"), "-"], input=b"junk"
    )

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["kind"], r["recipient"]) for r in rows] == [
        ("dsn", "gone@example.org"),
        ("smtp", "x@example.org"),
        ("unparseable", None),
    ]
    assert rows[1]["source"] == f"{tmp_path / 'r.jsonl'}:1"
    for key in ("status", "smtp_code", "detail", "rule_id", "ruleset_version", "index"):
        assert key in rows[0]


@pytest.mark.parametrize("command", ["classify", "eval"])
def test_a_rule_set_that_does_not_load_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Figures from the interim status mapping must never pass for the rules' own."""
    import processor.qualify

    def broken(**_: object) -> None:
        raise ValueError("rules/bounce/x.yaml: bad quoting")

    monkeypatch.setattr(processor.qualify, "load_engine", broken)
    (tmp_path / "a.eml").write_text(BOUNCE)
    (tmp_path / "expected.tsv").write_text("sample\tindex\tengine\trecipient\n")
    target = str(tmp_path / "a.eml") if command == "classify" else str(tmp_path)

    result = CliRunner().invoke(main, [command, target])

    assert result.exit_code == 1
    assert "the rule set did not load: ValueError: rules/bounce/x.yaml: bad quoting" in (
        result.output
    )
