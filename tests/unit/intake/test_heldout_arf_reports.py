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

``heldout_arf_2/`` holds 6 more (see its README.md): a Yandex complaint relayed by
Validity's Universal FBL (ReturnPathFBL), a SpamCop report to an abuse desk (plain text,
offending message quoted), a Hotmail auth-failure report and two OpenDMARC DMARC failure
reports pasted as fields, and AOL's ARF conversion notice (the report sentence under a notice,
no attachment). Five name no complainant (placeholder, not compared).

- before the fixes: recipient 1/1, detail 4/6, feedback type 4/6, no crash; the SpamCop
  report and the AOL notice were "not a bounce";
- after: recipient 1/1, detail 6/6, feedback type 6/6, no crash, one record each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, Expected, evaluate, read_expected
from processor.intake.interim import load_qualifier

from .conftest import missed, rows_with_xfails

HERE = Path(__file__).parent
HELDOUT = HERE / "heldout_arf"

# set -> (rows, compared recipients); every row agrees on recipient, detail and feedback type.
SETS = {"heldout_arf": (10, 8), "heldout_arf_2": (6, 1)}
ROWS = {name: read_expected(HERE / name / "expected.tsv") for name in SETS}

# (sample, index) -> why a field is not expected to agree (strict xfail). None today.
RECIPIENT_XFAIL: dict[tuple[str, int], str] = {}
FEEDBACK_TYPE_XFAIL: dict[tuple[str, int], str] = {}


def _row_params(xfails: dict[tuple[str, int], str]) -> list[object]:
    return [param for name in SETS for param in rows_with_xfails(ROWS[name], xfails, set_name=name)]


@pytest.fixture(scope="module")
def reports() -> dict[str, EvaluationReport]:
    qualify = load_qualifier()
    return {name: evaluate(HERE / name, qualify) for name in SETS}


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_report_parses_as_one_complaint(name: str) -> None:
    for path in sorted((HERE / name).glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None, (path.name, result.error)
        assert [r.kind.value for r in result.records] == ["arf"], path.name


@pytest.mark.parametrize("name", sorted(SETS))
def test_heldout_overall_figures(reports: dict[str, EvaluationReport], name: str) -> None:
    report, (rows, recipients) = reports[name], SETS[name]
    assert not report.crashed
    assert report.rows == len(ROWS[name]) == rows
    assert report.overall["recipient"].agreed == report.overall["recipient"].total == recipients
    assert report.overall["detail"].agreed == rows
    assert report.overall["feedback_type"].agreed == rows


@pytest.mark.parametrize(("name", "row"), _row_params(RECIPIENT_XFAIL))
def test_recipient_agrees(reports: dict[str, EvaluationReport], name: str, row: Expected) -> None:
    assert not missed(reports[name], row, "recipient")


@pytest.mark.parametrize(("name", "row"), _row_params(FEEDBACK_TYPE_XFAIL))
def test_feedback_type_agrees(
    reports: dict[str, EvaluationReport], name: str, row: Expected
) -> None:
    assert not missed(reports[name], row, "feedback_type")
    assert not missed(reports[name], row, "detail")


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


def test_spamcop_report_gives_the_reported_source() -> None:
    record = parse((HERE / "heldout_arf_2" / "002-spamcop.eml").read_bytes()).records[0]

    assert (record.recipient, record.feedback_type) == (None, "abuse")
    assert record.source_ip == "192.0.2.40"


def test_source_ip_drops_the_generators_comment() -> None:
    record = parse((HERE / "heldout_arf_2" / "004-opendmarc.eml").read_bytes()).records[0]

    assert record.source_ip == "127.0.0.1"  # "127.0.0.1 (localhost)" in the report
