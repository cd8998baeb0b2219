"""The labelled corpus (``../shared/corpus``): agreement targets and no crash on any file."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, evaluate


@pytest.fixture(scope="module")
def report(corpus: Path) -> EvaluationReport:
    # The intake fields do not depend on qualification: no rule engine needed here.
    return evaluate(corpus, lambda record: None)


def test_no_sample_crashes_or_hits_the_internal_error_path(corpus: Path) -> None:
    for path in sorted((corpus / "eml").glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None or result.error.error_class != "internal_error", path.name


def test_recipient_found_for_at_least_99_percent_of_rows(report: EvaluationReport) -> None:
    # Rows labelled with Sisimai's "no recipient found" placeholder are not compared.
    assert not report.crashed
    assert report.overall["recipient"].ratio >= 0.99


def test_every_recipient_miss_is_a_label_absent_from_its_sample(
    report: EvaluationReport,
) -> None:
    # What is left (a truncated, a mistyped and a wrong-domain label) names an address
    # that occurs nowhere in the message: no parser could report it.
    misses = [m for m in report.mismatches if m.field == "recipient"]
    assert all(m.note for m in misses), [m for m in misses if not m.note]


def test_status_agrees_on_at_least_97_percent(report: EvaluationReport) -> None:
    assert report.overall["status"].ratio >= 0.97


def test_feedback_type_agrees_on_every_arf_row(report: EvaluationReport) -> None:
    assert report.overall["feedback_type"].total >= 10
    assert report.overall["feedback_type"].ratio == 1.0


def test_crlf_line_endings_give_the_same_records(corpus: Path) -> None:
    for path in sorted((corpus / "eml").glob("*.eml")):
        data = path.read_bytes()
        lf = [(r.recipient, r.status, r.smtp_code, r.kind) for r in parse(data).records]
        crlf = parse(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).records
        assert [(r.recipient, r.status, r.smtp_code, r.kind) for r in crlf] == lf, path.name


def test_fast_header_reading_agrees_with_the_stdlib_parser(corpus: Path) -> None:
    import email
    from email import policy

    from processor.intake.mime import parse_headers_then_body

    for path in sorted((corpus / "eml").glob("*.eml")):
        text = path.read_bytes().replace(b"\r\n", b"\n").decode("ascii", "surrogateescape")
        ours = parse_headers_then_body(text)
        stdlib = email.message_from_string(text, policy=policy.compat32)
        assert [(k, str(v)) for k, v in ours.items()] == [(k, str(v)) for k, v in stdlib.items()], (
            path.name
        )
        assert ours.get_unixfrom() == stdlib.get_unixfrom(), path.name
