"""Held-out check: whole bounce messages pasted by people into public issues and forums.

``heldout/`` holds 30 real bounces (38 failed recipients) that are not in the labelled
corpus and that the parsers were not written against: Postfix, Exim, qmail, Sendmail,
OpenSMTPD, Haraka, Gmail, Exchange / Office 365 (German and French NDRs too) and an
iCloud-style report; see ``heldout/README.md`` for the source of each. Labels follow the
corpus conventions (Sisimai vocabulary); a status label is empty when the bounce states
none.

Held-out figures (``bounce-processor eval tests/unit/intake/heldout``), 38 rows:

- before the fixes: recipient 38/38, status 15/38, reply code 36/38, detail 31/38
  (29/38 with the first labels: three labels were set against the corpus conventions
  afterwards, see the README), no crash;
- after: recipient 38/38, status 17/38, reply code 38/38, detail 36/38, no crash.

Status stays low by design: 21 of the 38 rows come from bounces that state no enhanced
status, and intake gives those the class of the failure (``5.0.0`` / ``4.0.0``, see
``view.implied_status``), which the corpus labels too. Only recipient and detail are
asserted per row here; the two Office 365 rows whose detail disagrees are strict xfails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, Expected, evaluate, read_expected
from processor.intake.interim import load_qualifier

from .conftest import missed, rows_with_xfails

HELDOUT = Path(__file__).parent / "heldout"
ROWS = read_expected(HELDOUT / "expected.tsv")

# (sample, index) -> why the detail is not expected to agree (strict xfail).
DETAIL_XFAIL = {
    ("025-office365.eml", 1): "RESOLVER.RST.SenderNotAuthenticatedForGroup is labelled "
    "securityerror ('authentication required'); the rule set maps it to policyviolation on "
    "purpose (microsoft.not-authorized), one sample is no reason to change that",
    ("025-office365.eml", 2): "same message as row 1",
}


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate(HELDOUT, load_qualifier())


def test_every_heldout_sample_parses_without_crash() -> None:
    for path in sorted(HELDOUT.glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None, (path.name, result.error)


def test_heldout_overall_figures(report: EvaluationReport) -> None:
    assert not report.crashed
    assert report.rows == len(ROWS) == 38
    assert report.overall["recipient"].agreed == 38
    assert report.overall["reply_code"].agreed == 38
    assert report.overall["detail"].agreed >= 36


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.sample}#{r.index}")
def test_recipient_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "recipient")


@pytest.mark.parametrize(
    "row", rows_with_xfails(ROWS, DETAIL_XFAIL), ids=lambda r: f"{r.sample}#{r.index}"
)
def test_detail_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "detail")
