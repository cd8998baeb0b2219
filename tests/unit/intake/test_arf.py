"""Feedback-loop reports: RFC 5965 ARF and Microsoft JMRP-style forwards."""

from __future__ import annotations

from datetime import UTC, datetime

from processor.intake import RecordKind, parse
from tests.unit.intake.conftest import message

ARF_HEADERS = {
    "From": "feedback@fbl.example.net",
    "To": "abuse@sender.example",
    "Subject": "FW: Offer",
    "MIME-Version": "1.0",
    "Content-Type": 'multipart/report; report-type=feedback-report; boundary="b1"',
}
ARF_BODY = """--b1
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.
--b1
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounce@sender.example>
{recipients}Arrival-Date: Thu, 8 Mar 2026 14:00:00 +0000
Source-IP: 192.0.2.1
Reported-Domain: sender.example
--b1
Content-Type: message/rfc822

From: offers@sender.example
To: complainer@example.org
Message-ID: <offer-7@sender.example>
X-Campaign-Id: spring
Subject: Offer

Buy now
--b1--
"""


def arf(feedback_type: str = "abuse", recipients: str = "") -> bytes:
    return message(ARF_HEADERS, ARF_BODY.format(feedback_type=feedback_type, recipients=recipients))


def test_feedback_fields_are_read() -> None:
    record = parse(arf(recipients="Original-Rcpt-To: <Complainer@Example.org>\n")).records[0]

    assert record.kind is RecordKind.ARF
    assert record.recipient == "complainer@example.org"
    assert record.feedback_type == "abuse"
    assert record.source_ip == "192.0.2.1"
    assert record.reported_domain == "sender.example"
    assert record.arrival_date == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    assert record.event_time == record.arrival_date
    assert record.original_message_id == "<offer-7@sender.example>"
    assert record.correlation == {"X-Campaign-Id": "spring"}


def test_every_original_rcpt_to_is_a_record() -> None:
    rcpts = "Original-Rcpt-To: a@example.org\nOriginal-Rcpt-To: b@example.net\n"

    records = parse(arf("opt-out", rcpts)).records

    assert [r.recipient for r in records] == ["a@example.org", "b@example.net"]
    assert {r.feedback_type for r in records} == {"opt-out"}


def test_recipient_falls_back_to_the_original_to() -> None:
    assert parse(arf("fraud")).records[0].recipient == "complainer@example.org"


def test_redacted_report_still_yields_one_complaint() -> None:
    body = ARF_BODY.replace("To: complainer@example.org\n", "To: <Undisclosed Recipients>\n")

    records = parse(message(ARF_HEADERS, body.format(feedback_type="abuse", recipients=""))).records

    assert len(records) == 1
    assert records[0].recipient is None
    assert records[0].feedback_type == "abuse"


def test_hotmail_jmrp_forward_is_a_complaint() -> None:
    headers = {
        "From": "staff@hotmail.com",
        "To": "fbl@sender.example",
        "Subject": "complaint about message from 192.0.2.9",
        "MIME-Version": "1.0",
        "Content-Type": 'multipart/mixed; boundary="j"',
    }
    body = """--j
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: <Someone@Outlook.example>
From: offers@sender.example
To: someone@outlook.example
Subject: Offer

Hi
--j--
"""

    record = parse(message(headers, body)).records[0]

    assert record.kind is RecordKind.ARF
    assert record.recipient == "someone@outlook.example"
    assert record.feedback_type == "abuse"


def test_report_sentence_under_a_notice_is_a_complaint() -> None:
    headers = {"From": "fbl@isp.example", "Subject": "Email Feedback Report for IP 192.0.2.7"}
    body = (
        "Your feedback loop has been converted to a new format.\n\n"
        "This is an email abuse report for an email message received from IP address "
        "192.0.2.7 on Tue, 02 Sep 2008 11:14:11 -0400\n"
    )

    record = parse(message(headers, body)).records[0]

    assert (record.kind, record.feedback_type) == (RecordKind.ARF, "abuse")
    assert record.source_ip == "192.0.2.7"


def test_report_sentence_inside_a_line_is_not_a_complaint() -> None:
    headers = {"From": "friend@example.org", "Subject": "question"}
    body = "Someone said: this is an email abuse report for an email message, is it?\n"

    assert parse(message(headers, body)).error is not None


def test_spamcop_report_is_a_complaint_about_its_source() -> None:
    headers = {
        "From": "1234@reports.spamcop.net",
        "To": "abuse@isp.example",
        "Subject": "[SpamCop (192.0.2.8) id:99]Cheap offer",
    }
    body = (
        "- SpamCop V5.4.0 -\nThis message is brief for your comfort.\n\n"
        "Email from 192.0.2.8 / Mon, 1 Jun 2026 10:00:00 +0000\n\n"
        "Offending message:\nFrom: seller@example.net\nTo: x\nSubject: Cheap offer\n\nBuy\n"
    )

    record = parse(message(headers, body)).records[0]

    assert (record.kind, record.feedback_type, record.recipient) == (RecordKind.ARF, "abuse", None)
    assert record.source_ip == "192.0.2.8"


def test_mail_from_someone_about_spamcop_is_not_a_complaint() -> None:
    headers = {"From": "friend@example.org", "Subject": "SpamCop listed us"}
    body = "Our server is on the SpamCop list again, can you look?\n"

    assert parse(message(headers, body)).error is not None


def test_source_ip_keeps_only_the_address() -> None:
    raw = message(ARF_HEADERS, ARF_BODY.format(feedback_type="abuse", recipients=""))
    raw = raw.replace(b"Source-IP: 192.0.2.1\n", b"Source-IP: 192.0.2.1 (mx.sender.example)\n")

    assert parse(raw).records[0].source_ip == "192.0.2.1"
