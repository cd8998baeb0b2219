"""The eval logic on a tiny hand-made corpus: matching rows and counting agreement."""

from __future__ import annotations

from pathlib import Path

from processor.intake.evaluation import evaluate, format_report
from processor.intake.interim import interim_status_qualification

QMAIL = (
    "From: MAILER-DAEMON@mx.example.net\nTo: news@sender.example\nSubject: failure notice\n\n"
    "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
    "<gone@example.org>:\nRemote host said: 550 5.1.1 No such user\n\n"
    "<full@example.org>:\nRemote host said: 552 5.2.2 Mailbox full\n"
)
COLUMNS = (
    "sample index engine recipient status replycode reason reason_v5_6 hardbounce feedbacktype"
)
HEADER = "\t".join(COLUMNS.split()) + "\n"


def write_corpus(root: Path, rows: list[str]) -> Path:
    (root / "eml").mkdir()
    (root / "eml" / "q.eml").write_text(QMAIL)
    (root / "expected.tsv").write_text(HEADER + "".join(row + "\n" for row in rows))
    return root


def test_agreement_per_field_and_engine(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path,
        [
            "eml/q.eml\t1\tqmail\tgone@example.org\t5.1.1\t550\tuserunknown\tuserunknown\t1\t",
            "eml/q.eml\t2\tqmail\tfull@example.org\t5.2.2\t551\tmailboxfull\tmailboxfull\t0\t",
        ],
    )

    report = evaluate(corpus, interim_status_qualification)

    assert (report.samples, report.rows, report.crashed) == (1, 2, [])
    assert (report.overall["recipient"].agreed, report.overall["recipient"].total) == (2, 2)
    assert report.overall["status"].agreed == 2
    assert report.overall["reply_code"].agreed == 1  # 552 found, 551 expected
    assert report.overall["detail"].agreed == 2
    assert report.by_engine["qmail"]["reply_code"].total == 2
    [mismatch] = report.mismatches
    assert (mismatch.field, mismatch.expected, mismatch.actual) == ("reply_code", "551", "552")
    assert any("qmail" in line for line in format_report(report))


def test_missing_recipient_counts_against_recipient_only(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path,
        ["eml/q.eml\t1\tqmail\tother@example.org\t5.1.1\t550\tuserunknown\tuserunknown\t1\t"],
    )

    report = evaluate(corpus, interim_status_qualification)

    assert report.overall["recipient"].agreed == 0
    assert report.overall["status"].agreed == 1  # compared with the row in the same position


def test_sisimai_pseudo_status_is_not_compared(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path,
        ["eml/q.eml\t1\tqmail\tgone@example.org\t5.0.911\t550\tuserunknown\tuserunknown\t1\t"],
    )

    report = evaluate(corpus, interim_status_qualification)

    assert report.pseudo_status_rows == 1
    assert report.overall["status"].total == 0


def test_sisimai_placeholder_recipient_is_not_compared(tmp_path: Path) -> None:
    placeholder = "undisclosed-recipient-in-headers@libsisimai.org.invalid"
    corpus = write_corpus(
        tmp_path,
        [f"eml/q.eml\t1\tqmail\t{placeholder}\t5.1.1\t550\tuserunknown\tuserunknown\t1\t"],
    )

    report = evaluate(corpus, interim_status_qualification)

    assert report.placeholder_recipient_rows == 1
    assert report.overall["recipient"].total == 0
    assert report.overall["status"].agreed == 1  # the other fields still are
    assert "placeholder): 1" in next(iter(format_report(report)))


def test_a_recipient_label_absent_from_the_sample_is_marked(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path,
        [
            # truncated: a prefix of an address in the sample, not an address of it
            "eml/q.eml\t1\tqmail\tgone@example.or\t5.1.1\t550\tuserunknown\tuserunknown\t1\t",
            # in the sample (the To: header), though not reported as failed
            "eml/q.eml\t2\tqmail\tnews@sender.example\t5.2.2\t552\tmailboxfull\tmailboxfull\t0\t",
        ],
    )

    report = evaluate(corpus, interim_status_qualification)

    notes = {m.index: m.note for m in report.mismatches if m.field == "recipient"}
    assert notes == {1: "the expected address occurs nowhere in the sample", 2: ""}
    assert any("occurs nowhere" in line for line in format_report(report))
