"""Held-out check: real, published feedback-loop reports (ARF and non-standard FBLs).

``heldout_arf/`` holds 10 reports that are not in the labelled corpus and that the ARF
reader was not written against: the RFC 5965 examples (redacted and full), RFC 6591's
auth-failure example, the DMARC failure-report draft's example, a Yahoo report pasted in
a blog post (fields only, forwarded as text), Microsoft JMRP reports (a real one with
``X-HmXmrOriginalRecipient``, a documented one with a ``message/rfc822-headers`` part),
two tool-documentation examples and an old AOL SCOMP report quoted in a blog (one sentence,
no attachment); see ``heldout_arf/README.md`` for the source of each. Labels follow the
corpus conventions: detail ``feedback``, the feedback type, the complained-about
recipient (Sisimai's placeholder where the report names none: not compared).

Held-out figures (``bounce-processor eval tests/unit/intake/heldout_arf``), 10 rows:

- before the fixes: recipient 7/8, detail 8/10, feedback type 8/10, no crash; the
  pasted Yahoo fields and the AOL SCOMP sentence were "not a bounce", and RFC 5965's full
  example gave two records for its one complainant (Original-Rcpt-To + Removal-Recipient);
- after: recipient 8/8, detail 10/10, feedback type 10/10, no crash, one record each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, Expected, evaluate, read_expected
from processor.intake.interim import load_qualifier

from .conftest import missed, rows_with_xfails

HELDOUT = Path(__file__).parent / "heldout_arf"
ROWS = read_expected(HELDOUT / "expected.tsv")

# (sample, index) -> why a field is not expected to agree (strict xfail). None today.
RECIPIENT_XFAIL: dict[tuple[str, int], str] = {}
FEEDBACK_TYPE_XFAIL: dict[tuple[str, int], str] = {}


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate(HELDOUT, load_qualifier())


def test_every_report_parses_as_one_complaint() -> None:
    for path in sorted(HELDOUT.glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None, (path.name, result.error)
        assert [r.kind.value for r in result.records] == ["arf"], path.name


def test_heldout_overall_figures(report: EvaluationReport) -> None:
    assert not report.crashed
    assert report.rows == len(ROWS) == 10
    assert report.overall["recipient"].agreed == report.overall["recipient"].total == 8
    assert report.overall["detail"].agreed == 10
    assert report.overall["feedback_type"].agreed == 10


@pytest.mark.parametrize("row", rows_with_xfails(ROWS, RECIPIENT_XFAIL))
def test_recipient_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "recipient")


@pytest.mark.parametrize("row", rows_with_xfails(ROWS, FEEDBACK_TYPE_XFAIL))
def test_feedback_type_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "feedback_type")
    assert not missed(report, row, "detail")


def test_pasted_fields_give_the_complainant_and_arrival() -> None:
    record = parse((HELDOUT / "005-yahoo.eml").read_bytes()).records[0]

    assert record.recipient == "user@yahoo.co.uk"
    assert record.feedback_type == "abuse"
    assert record.arrival_date is not None


def test_a_bounce_quoting_report_fields_is_not_a_complaint() -> None:
    dsn = (HELDOUT / "002-rfc5965.eml").read_bytes()
    bounce = (
        b"From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nundeliverable\n--b\n"
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; abuse@example.net\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n--b\n"
        b"Content-Type: message/rfc822\n\n" + dsn + b"\n--b--\n"
    )

    records = parse(bounce).records

    assert [(r.kind.value, r.recipient) for r in records] == [("dsn", "abuse@example.net")]
