"""RFC 3464 delivery status notifications: every recipient block, fields and original."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from processor.intake import IntakeOptions, RecordKind, parse
from processor.intake.dialects.common import reason_lines
from processor.intake.rfc3464 import read_fields
from tests.unit.intake.conftest import message

DSN_BODY = """This is a MIME-encapsulated message.

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

Delivery to the following recipients failed.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sender.example
Arrival-Date: Tue, 3 Mar 2026 10:00:00 +0000

Final-Recipient: rfc822; <Alice@Example.COM>
Original-Recipient: rfc822; alice.alias@example.com
Action: failed
Status: 5.0.0 (permanent failure)
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <alice@example.com>: Recipient address rejected:
 User unknown in virtual mailbox table
Last-Attempt-Date: Tue, 3 Mar 2026 10:05:00 +0000

Final-Recipient: rfc822; bob@example.org
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full
Final-Recipient: rfc822; carol@example.net
Action: delivered
Status: 2.0.0

--BOUNDARY
Content-Type: message/rfc822

Message-ID: <campaign-42@sender.example>
From: News <news@sender.example>
To: alice@example.com
Subject: =?utf-8?q?Caf=C3=A9_news?=
X-Delivery-Id: d-123
X-Campaign-Id: c-9

Hello
--BOUNDARY--
"""

HEADERS = {
    "From": "MAILER-DAEMON@mx.sender.example (Mail Delivery System)",
    "To": "news@sender.example",
    "Subject": "Undelivered Mail Returned to Sender",
    "Date": "Tue, 3 Mar 2026 10:06:00 +0000",
    "MIME-Version": "1.0",
    "Content-Type": 'multipart/report; report-type=delivery-status; boundary="BOUNDARY"',
}


def test_every_recipient_block_becomes_a_record() -> None:
    result = parse(message(HEADERS, DSN_BODY))

    assert result.ok
    assert [r.recipient for r in result.records] == [
        "alice@example.com",
        "bob@example.org",
        "carol@example.net",
    ]
    assert [r.kind for r in result.records] == [
        RecordKind.DSN,
        RecordKind.DSN,
        RecordKind.DELIVERED,
    ]
    assert [r.action for r in result.records] == ["failed", "delayed", "delivered"]


def test_per_recipient_fields_are_read_and_generic_status_refined_from_diagnostic() -> None:
    alice = parse(message(HEADERS, DSN_BODY)).records[0]

    assert alice.status == "5.1.1"  # "5.0.0" refined by the diagnostic's 5.1.1
    assert alice.smtp_code == 550
    assert alice.diagnostic_type == "smtp"
    assert (
        alice.diagnostic is not None and "User unknown in virtual mailbox table" in alice.diagnostic
    )
    assert alice.remote_mta == "mx.example.com"
    assert alice.reporting_mta == "mx.sender.example"
    assert alice.original_recipient == "alice.alias@example.com"
    assert alice.last_attempt_date == datetime(2026, 3, 3, 10, 5, tzinfo=UTC)
    assert alice.event_time == alice.last_attempt_date
    assert alice.arrival_date == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_event_time_falls_back_to_arrival_date() -> None:
    bob = parse(message(HEADERS, DSN_BODY)).records[1]

    assert bob.status == "4.2.2"
    assert bob.event_time == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_returned_original_and_correlation_headers() -> None:
    alice = parse(message(HEADERS, DSN_BODY)).records[0]

    assert alice.original_message_id == "<campaign-42@sender.example>"
    assert alice.original_subject == "Café news"
    assert alice.original_to == "alice@example.com"
    assert alice.correlation == {"X-Delivery-Id": "d-123", "X-Campaign-Id": "c-9"}


def test_correlation_headers_are_configurable() -> None:
    options = IntakeOptions(correlation_headers=["X-Campaign-Id"])

    alice = parse(message(HEADERS, DSN_BODY), options=options).records[0]

    assert alice.correlation == {"X-Campaign-Id": "c-9"}


def test_headers_only_original_is_read() -> None:
    body = DSN_BODY.replace("Content-Type: message/rfc822", "Content-Type: text/rfc822-headers")

    alice = parse(message(HEADERS, body)).records[0]

    assert alice.original_message_id == "<campaign-42@sender.example>"


def test_crlf_and_cr_line_endings_give_the_same_records() -> None:
    lf = parse(message(HEADERS, DSN_BODY)).records
    crlf = parse(message(HEADERS, DSN_BODY, newline="\r\n")).records
    cr = parse(message(HEADERS, DSN_BODY, newline="\r")).records

    assert [r.model_dump() for r in crlf] == [r.model_dump() for r in lf]
    assert [r.model_dump() for r in cr] == [r.model_dump() for r in lf]


def test_mismatched_boundary_is_repaired() -> None:
    headers = dict(HEADERS)
    headers["Content-Type"] = 'multipart/report; report-type=delivery-status; boundary="OTHER"'

    result = parse(message(headers, DSN_BODY))

    assert [r.recipient for r in result.records][:2] == ["alice@example.com", "bob@example.org"]


def test_truncated_report_still_yields_the_complete_blocks() -> None:
    truncated = DSN_BODY[: DSN_BODY.index("Final-Recipient: rfc822; bob")] + "Final-Rec"

    result = parse(message(HEADERS, truncated))

    assert [r.recipient for r in result.records] == ["alice@example.com"]
    assert result.records[0].status == "5.1.1"


def test_status_class_is_implied_when_the_report_gives_none() -> None:
    body = DSN_BODY.replace("Status: 5.0.0 (permanent failure)\n", "").replace(
        "550 5.1.1 <alice", "550 <alice"
    )

    alice = parse(message(HEADERS, body)).records[0]

    assert alice.status == "5.0.0"
    assert alice.smtp_code == 550


def _reference_read_fields(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The straightforward reading of a delivery-status body that read_fields must equal."""
    import re

    from processor.intake.rfc3464 import (
        _BLOCK_START,
        _MESSAGE_FIELDS,
        _RECIPIENT_FIELDS,
        _merge_split_blocks,
    )

    field = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)[ \t]*:[ \t]*(.*)$")
    message_fields: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_name: str | None = None

    def close() -> None:
        nonlocal current
        if current:
            if current.keys() & _RECIPIENT_FIELDS or "action" in current or "status" in current:
                blocks.append(current)
            else:
                for name, value in current.items():
                    message_fields.setdefault(name, value)
        current = {}

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            close()
            last_name = None
            continue
        if line[0] in " \t" and last_name is not None:
            current[last_name] += " " + line.strip()
            continue
        match = field.match(line)
        if match is None:
            last_name = None
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if name in _BLOCK_START and name in current:
            close()
        if name in _MESSAGE_FIELDS and not current.keys() & _RECIPIENT_FIELDS:
            message_fields.setdefault(name, value)
            last_name = None
            continue
        if name in current:
            last_name = None
            continue
        current[name] = value
        last_name = name
    close()
    return message_fields, _merge_split_blocks(blocks)


_DSN_LINES = st.sampled_from(
    [
        "Reporting-MTA: dns; mx.example.net",
        "Arrival-Date: Thu, 29 Apr 2010 23:34:45 +0900",
        "Final-Recipient: rfc822; a@example.org",
        "Original-Recipient: rfc822; b@example.org",
        "X-Actual-Recipient: rfc822; c@example.org",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 unknown",
        "  continued text",
        "\tmore",
        "",
        " ",
        "not a field",
        "X-Postfix-Sender: rfc822; s@example.com",
        "Remote-MTA: dns; mx.example.org",
    ]
)


@given(st.lists(_DSN_LINES, max_size=16), st.sampled_from(["\n", "\r\n", "\r"]))
def test_read_fields_agrees_with_the_reference_reading(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    assert read_fields(text) == _reference_read_fields(text)


def test_a_reply_wrapped_over_lines_in_the_text_part_is_read_whole() -> None:
    """No Diagnostic-Code and a vague 5.0.0: the reason comes from the text part, where
    Postfix wraps each reply after its code; the wrapped words belong to the reply."""
    text = (
        "This is the mail system at host mx.example.net.\n\n"
        "<newuser@example.org>: host mx.example.org[192.0.2.3] said: 550\n"
        "    <newuser@example.org>: User unknown (in reply to RCPT TO command)\n\n"
        "<user@example.org>: host mx.example.org[192.0.2.3] said: 552\n"
        "    <user@example.org>: Mailbox quota exceeded (in reply to RCPT TO command)\n"
    )
    status = (
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; newuser@example.org\nAction: failed\nStatus: 5.0.0\n\n"
        "Final-Recipient: rfc822; user@example.org\nAction: failed\nStatus: 5.0.0\n"
    )
    data = message(
        {
            "From": "MAILER-DAEMON@mx.example.net",
            "To": "sender@example.org",
            "Subject": "Undelivered Mail Returned to Sender",
            "Content-Type": 'multipart/report; report-type=delivery-status; boundary="B"',
        },
        f"--B\nContent-Type: text/plain\n\n{text}\n--B\n"
        f"Content-Type: message/delivery-status\n\n{status}\n--B--\n",
    )

    records = {r.recipient: r for r in parse(data).records}

    unknown, full = records["newuser@example.org"], records["user@example.org"]
    assert unknown.smtp_code == 550 and "User unknown" in (unknown.diagnostic or "")
    assert full.smtp_code == 552 and "Mailbox quota exceeded" in (full.diagnostic or "")
    assert "quota" not in (unknown.diagnostic or "") and "unknown" not in (full.diagnostic or "")


def test_reason_lines_continue_a_reply_but_not_into_header_fields() -> None:
    text = (
        "said: 550 5.1.1\n<a@example.org>: User unknown\n\n"
        "X-Virus-Version: engine=2.50.10432:5.13.68\nX-Spam-Details: classifier=spam\n"
    )

    assert reason_lines(text) == (
        "said: 550 5.1.1 <a@example.org>: User unknown\nX-Virus-Version: engine=2.50.10432:5.13.68"
    )


def _report(status: str, *, status_type: str = "message/delivery-status") -> bytes:
    """A one-part-per-kind DSN around the delivery-status ``status`` (UTF-8, 8bit)."""
    return message(
        {
            "From": "MAILER-DAEMON@mx.sender.example",
            "To": "news@sender.example",
            "Subject": "Delivery Status Notification (Failure)",
            "MIME-Version": "1.0",
            "Content-Type": 'multipart/report; report-type=delivery-status; boundary="B"',
        },
        "--B\nContent-Type: text/plain\n\nDelivery failed.\n\n--B\n"
        f"Content-Type: {status_type}\nContent-Transfer-Encoding: 8bit\n\n{status}\n"
        "--B\nContent-Type: message/global-headers\nContent-Transfer-Encoding: 8bit\n\n"
        "From: news@sender.example\nSubject: Grüße\nMessage-ID: <m1@sender.example>\n\n--B--\n",
    )


def test_utf8_recipients_of_an_internationalized_report_are_read() -> None:
    """RFC 6533: a ``utf-8`` address with non-ASCII letters, as is or ``\\x{HH}``-escaped."""
    plain = _report(
        "Reporting-MTA: dns; mx.sender.example\n\n"
        "Final-Recipient: utf-8; Jöran@Exämple.de\nAction: failed\nStatus: 5.1.1\n",
        status_type="message/global-delivery-status",
    )
    escaped = _report(
        "Reporting-MTA: dns; mx.sender.example\n\n"
        "Original-Recipient: utf-8; j\\x{00F6}ran+x\\x{2B}y@ex\\x{E4}mple.de\n"
        "Final-Recipient: utf-8; <j\\x{F6}ran@ex\\x{E4}mple.de>\nAction: failed\nStatus: 5.1.1\n"
    )

    (from_plain,) = parse(plain).records
    (from_escaped,) = parse(escaped).records

    assert from_plain.recipient == from_escaped.recipient == "jöran@exämple.de"
    assert from_escaped.original_recipient == "jöran+x+y@exämple.de"
    assert from_plain.original_subject == "Grüße"


def test_original_recipient_in_xtext_is_decoded() -> None:
    """RFC 3461: the ORCPT is xtext, ``+2B`` is ``+``; a plain ``+`` tag stays as it is."""
    records = parse(
        _report(
            "Reporting-MTA: dns; mx.sender.example\n\n"
            "Original-Recipient: rfc822;user+2Btag@example.com\n"
            "Final-Recipient: rfc822;user+tag@example.com\nAction: failed\nStatus: 5.1.1\n\n"
            "Original-Recipient: rfc822;other+news@example.com\n"
            "Action: failed\nStatus: 5.1.1\n"
        )
    ).records

    assert [(r.recipient, r.original_recipient) for r in records] == [
        ("user+tag@example.com", "user+tag@example.com"),
        ("other+news@example.com", "other+news@example.com"),
    ]


def test_a_folded_multi_line_reply_loses_the_codes_its_lines_repeat() -> None:
    (record,) = parse(
        _report(
            "Reporting-MTA: dns; mx.sender.example\n\n"
            "Final-Recipient: rfc822; nosuch@example.com\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp;550-5.1.1 The email account that you tried to reach does\n"
            "    550-5.1.1 not exist. Please try double-checking the address. Learn more at\n"
            "\t550 5.1.1  https://support.example.com/NoSuchUser x12 - gsmtp\n"
        )
    ).records

    assert record.diagnostic == (
        "550 5.1.1 The email account that you tried to reach does not exist. Please try"
        " double-checking the address. Learn more at https://support.example.com/NoSuchUser"
        " x12 - gsmtp"
    )
    assert (record.smtp_code, record.status, record.diagnostic_type) == (550, "5.1.1", "smtp")


def test_a_block_without_action_is_failed_when_its_reply_is_permanent() -> None:
    """Action is required (RFC 3464 §2.3.3) but some MTAs leave it out; a 5xx reply or
    status says what happened, a 4xx one (delay or final failure) does not."""
    blocks = (
        "Reporting-MTA: dns; mx.sender.example\n\n"
        "Final-Recipient: rfc822; gone@example.org\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: User unknown\n\n"
        "Final-Recipient: rfc822; coded@example.org\n"
        "Diagnostic-Code: smtp; 550 Requested action not taken: mailbox unavailable\n\n"
        "Final-Recipient: rfc822; busy@example.org\n"
        "Status: 4.2.2\n"
        "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n"
    )

    records = parse(_report(blocks)).records

    assert [(r.recipient, r.action) for r in records] == [
        ("gone@example.org", "failed"),
        ("coded@example.org", "failed"),
        ("busy@example.org", None),
    ]
