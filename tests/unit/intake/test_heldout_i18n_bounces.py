"""Held-out check: localized (non-English) bounce texts people pasted in public.

``heldout_i18n/`` holds 5 real bounces (5 failed recipients) in German, Japanese, Polish
and Russian that are not in the labelled corpus nor in ``heldout/`` and that the parsers
were not written against; see ``heldout_i18n/README.md`` for the source of each. Labels
follow the corpus conventions (Sisimai vocabulary); a status label is empty when the
bounce states none.

Held-out figures (``bounce-processor eval tests/unit/intake/heldout_i18n``), 5 rows:

- before the fixes: recipient 5/5, status 1/5, reply code 5/5, detail 2/5, no crash
  (the German Exchange "Das Postfach des Empfängers ist voll" went unqualified, the
  Polish "maildrop: maildir over quota" was read as a mailer error);
- after (rules 1.6.0): recipient 5/5, status 1/5, reply code 5/5, detail 4/5, no crash.

Status stays low by design: 4 of the 5 rows state no enhanced status and intake gives
them the class of the failure (``5.0.0``, see ``view.implied_status``). Only recipient
and detail are asserted per row; the Russian row whose detail disagrees is a strict
xfail. The set is small: few whole localized pastes were found (see the README).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, Expected, evaluate, read_expected
from processor.intake.interim import load_qualifier

from .conftest import missed, rows_with_xfails

HELDOUT = Path(__file__).parent / "heldout_i18n"
ROWS = read_expected(HELDOUT / "expected.tsv")

# (sample, index) -> why the detail is not expected to agree (strict xfail).
DETAIL_XFAIL = {
    ("005-custom-ru.eml", 1): "the notice states no reason, only a link to a page named "
    "spam.html; the word 'spam' in that URL makes the rules say spamdetected. Labelled "
    "undefined; telling URL words from prose is not a change to make for one sample",
}


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate(HELDOUT, load_qualifier())


def test_every_i18n_sample_parses_without_crash() -> None:
    for path in sorted(HELDOUT.glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None, (path.name, result.error)


def test_i18n_overall_figures(report: EvaluationReport) -> None:
    assert not report.crashed
    assert report.rows == len(ROWS) == 5
    assert report.overall["recipient"].agreed == 5
    assert report.overall["reply_code"].agreed == 5
    assert report.overall["detail"].agreed >= 4


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.sample}#{r.index}")
def test_recipient_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "recipient")


@pytest.mark.parametrize(
    "row", rows_with_xfails(ROWS, DETAIL_XFAIL), ids=lambda r: f"{r.sample}#{r.index}"
)
def test_detail_agrees(report: EvaluationReport, row: Expected) -> None:
    assert not missed(report, row, "detail")
