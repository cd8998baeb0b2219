"""Held-out checks: whole bounce messages people pasted into public issues and forums.

Sets that are not in the labelled corpus and that the parsers were not written
against; see each folder's ``README.md`` for the source of every file. Labels follow the
corpus conventions (Sisimai vocabulary); a status label is empty when the bounce states
none. ``bounce-processor eval tests/unit/intake/<folder>`` prints the figures.

``heldout/``: 30 real bounces (38 failed recipients): Postfix, Exim, qmail, Sendmail,
OpenSMTPD, Haraka, Gmail, Exchange / Office 365 (German and French NDRs too) and an
iCloud-style report.

- before the fixes: recipient 38/38, status 15/38, reply code 36/38, detail 31/38
  (29/38 with the first labels: three labels were set against the corpus conventions
  afterwards, see the README), no crash;
- after: recipient 38/38, status 17/38, reply code 38/38, detail 36/38, no crash.

``heldout_2/``: 23 real bounces (24 failed recipients) of other families: hMailServer,
Exchange on-premises, cPanel Exim deferrals and delay warnings, Chinese providers
(NetEase, an English "Bounce reason:" notice, a Chinese notice), legacy Gmail notices
("Technical details of permanent failure"), Postfix relaying Outlook.com / Hotmail,
Yandex and Yahoo replies, bare DSN fields pasted as text, a Postfix delay warning.

- before the fixes: recipient 24/24, status 13/24, reply code 24/24, detail 18/24, no
  crash (one extra recipient: a Chinese notice's sender line);
- after: recipient 24/24, status 13/24, reply code 24/24, detail 21/24, no crash.

``heldout_i18n/``: 5 real localized bounces (5 failed recipients) in German, Japanese,
Polish and Russian. The set is small: few whole localized pastes were found.

- before the fixes: recipient 5/5, status 1/5, reply code 5/5, detail 2/5, no crash
  (the German Exchange "Das Postfach des Empfängers ist voll" went unqualified, the
  Polish "maildrop: maildir over quota" was read as a mailer error);
- after (rules 1.6.0): recipient 5/5, status 1/5, reply code 5/5, detail 4/5, no crash.

``heldout_i18n_2/``: 6 more real localized bounces (6 failed recipients): Chinese
(QQ / Tencent-style "退信原因" notices, one cut to its reason row), Czech (Seznam), German and
French Exchange NDRs, a French Google Groups notice pasted with "> " quoting.

- before the fixes: recipient 5/6, status 5/6, reply code 6/6, detail 4/6, no crash (the
  Google Groups paste without X-Failed-Recipients gave no record; "you have no permission
  to send to this email address" went unqualified);
- after: recipient 6/6, status 4/6, reply code 6/6, detail 6/6, no crash (status: the
  Google Groups row now exists and gets the implied 5.0.0 like the Chinese fragment).

``heldout_4/``: 10 real bounces (10 failed recipients) about mailbox providers and hosting
MTAs: iCloud (Postfix and Yahoo's own "Sorry, we were unable to deliver" notice), Outlook.com
SC-001, Strato (rzone.de) with a wrapped "(expanded from", an Exchange Online "The email
address you entered couldn't be found" NDR, GMX policy refusal, AOL via Yahoo, a Stalwart
"Failed to deliver message" notice, Gmail relaying a Yandex mailbox-full reply.

- before the fixes: recipient 10/10, status 5/10, reply code 9/10, detail 7/10, no crash
  (the Strato paste's alias line read as a second failed recipient);
- after: recipient 10/10, status 5/10, reply code 10/10, detail 9/10, no crash.

``heldout_5/``: 15 real bounces (16 failed recipients) of enterprise gateways, hosting
MTAs and less common servers: Postfix relaying mxlogin, T-Online (BL) and a MIME-field
refusal, bare pasted Postfix DSN fields, Exim retry timeout and unrouteable address, a
Mimecast refusal quoted by Exim, Stalwart notices with Barracuda and Abusix block lists,
Sendmail's 5-day expiry, SmarterMail notices, a Haraka notice without a reason and a German
Exchange 2010-style NDR wrapping a Gmail reply.

- before the fixes: recipient 14/16, status 6/16, reply code 14/16, detail 9/16, no crash
  (a Stalwart notice's second recipient lost behind a pasted report cut short, an
  underscore ending a DSN recipient's domain dropped, the Exchange NDR's outer 554 read
  instead of Gmail's 550);
- after: recipient 16/16, status 6/16, reply code 16/16, detail 12/16, no crash.

Status stays low by design: most rows come from bounces that state no enhanced status
(21 of 38, 4 of 5), and intake gives those the class of the failure (``5.0.0`` /
``4.0.0``, see ``view.implied_status``), which the corpus labels too. Only recipient and
detail are asserted per row; the rows whose detail disagrees are strict xfails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from processor.intake import parse
from processor.intake.evaluation import EvaluationReport, Expected, evaluate, read_expected
from processor.intake.interim import load_qualifier

from .conftest import missed, rows_with_xfails

HERE = Path(__file__).parent


@dataclass(frozen=True)
class HeldOutSet:
    """A held-out folder and the figures it must keep."""

    rows: int  # expected rows; recipient and reply code agree on every one
    detail_at_least: int
    # (sample, index) -> why the detail is not expected to agree (strict xfail)
    detail_xfail: dict[tuple[str, int], str] = field(default_factory=dict)


SETS = {
    "heldout": HeldOutSet(
        rows=38,
        detail_at_least=36,
        detail_xfail={
            ("025-office365.eml", 1): "RESOLVER.RST.SenderNotAuthenticatedForGroup is "
            "labelled securityerror ('authentication required'); the rule set maps it to "
            "policyviolation on purpose (microsoft.not-authorized), one sample is no reason "
            "to change that",
            ("025-office365.eml", 2): "same message as row 1",
        },
    ),
    "heldout_2": HeldOutSet(
        rows=24,
        detail_at_least=21,
        detail_xfail={
            ("002-exchange.eml", 1): "the NDR states only Status 5.1.0 ('other address "
            "status'); labelled userunknown, but X.1.0 is deliberately left out of the "
            "status fallback (too vague), so the record stays undefined",
            ("010-gmail-legacy.eml", 1): "Gmail gave up after 'The recipient server did not "
            "accept our requests to connect'; labelled networkerror, the rule set says "
            "expired on purpose (gmail.cannot-connect: Gmail retried until it gave up)",
            ("021-exim-delay.eml", 1): "Yahoo [TS03] 'All messages from IP will be "
            "permanently deferred' is labelled badreputation; yahoo.permanently-deferred "
            "says blocked (an IP-level refusal). Both readings hold; one sample is no "
            "reason to change the rule",
        },
    ),
    "heldout_i18n": HeldOutSet(
        rows=5,
        detail_at_least=4,
        detail_xfail={
            ("005-custom-ru.eml", 1): "the notice states no reason, only a link to a page "
            "named spam.html; the word 'spam' in that URL makes the rules say spamdetected. "
            "Labelled undefined; telling URL words from prose is not a change to make for "
            "one sample",
        },
    ),
    "heldout_i18n_2": HeldOutSet(rows=6, detail_at_least=6),
    "heldout_4": HeldOutSet(
        rows=10,
        detail_at_least=9,
        detail_xfail={
            ("006-postfix-gmx.eml", 1): "GMX 'Reject due to policy restrictions' (c=hi) is "
            "labelled policyviolation from its words; gmx.policy-restrictions says blocked "
            "on purpose (GMX's page explains it as IP reputation / delivery quality)",
        },
    ),
    "heldout_5": HeldOutSet(
        rows=16,
        detail_at_least=12,
        detail_xfail={
            ("001-postfix-mxlogin.eml", 1): "'550 Unauthenticated mail not allowed from this "
            "range' is labelled blocked (an IP range refused); no rule says it, and the "
            "nearest one (mimecast.host-network-not-allowed) calls a refused sending network "
            "policyviolation: one sample is no reason to pick between the two",
            ("002-postfix-timeout.eml", 1): "a Postfix bounce for 'Connection timed out' is "
            "labelled networkerror from its words; generic.dsn-connect-failure says expired "
            "on purpose (the bounce comes once the queue lifetime ran out)",
            ("008-postfix-mime.eml", 1): "'554 Failed: Malformed MIME field: "
            "ARC-Message-Signature' is labelled contenterror; the rule set calls a malformed "
            "header field notcompliantrfc (generic.rfc-non-compliant), Sisimai's narrower "
            "reason",
            ("015-exchange-de.eml", 1): "Gmail's 'Messages with multiple addresses in From: "
            "header are not accepted' (RfcMessageNonCompliant) is labelled contenterror; the "
            "rule set says notcompliantrfc, Sisimai's narrower reason for it",
        },
    ),
}
ROWS = {name: read_expected(HERE / name / "expected.tsv") for name in SETS}


def _row_params(*, with_xfails: bool) -> list[object]:
    """(set name, row) parameters of every set, the detail xfails marked when asked."""
    return [
        param
        for name, spec in SETS.items()
        for param in rows_with_xfails(
            ROWS[name], spec.detail_xfail if with_xfails else {}, set_name=name
        )
    ]


@pytest.fixture(scope="module")
def reports() -> dict[str, EvaluationReport]:
    qualify = load_qualifier()
    return {name: evaluate(HERE / name, qualify) for name in SETS}


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_heldout_sample_parses_without_crash(name: str) -> None:
    for path in sorted((HERE / name).glob("*.eml")):
        result = parse(path.read_bytes())
        assert result.error is None, (path.name, result.error)


@pytest.mark.parametrize("name", sorted(SETS))
def test_heldout_overall_figures(reports: dict[str, EvaluationReport], name: str) -> None:
    report, spec = reports[name], SETS[name]
    assert not report.crashed
    assert report.rows == len(ROWS[name]) == spec.rows
    assert report.overall["recipient"].agreed == spec.rows
    assert report.overall["reply_code"].agreed == spec.rows
    assert report.overall["detail"].agreed >= spec.detail_at_least


@pytest.mark.parametrize(("name", "row"), _row_params(with_xfails=False))
def test_recipient_agrees(reports: dict[str, EvaluationReport], name: str, row: Expected) -> None:
    assert not missed(reports[name], row, "recipient")


@pytest.mark.parametrize(("name", "row"), _row_params(with_xfails=True))
def test_detail_agrees(reports: dict[str, EvaluationReport], name: str, row: Expected) -> None:
    assert not missed(reports[name], row, "detail")
