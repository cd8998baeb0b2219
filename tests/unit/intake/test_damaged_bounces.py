"""Bounces that arrive damaged or oddly encoded: cut short, broken encoded words, a
report part whose base64 ends mid-line, recipients written in unusual forms (quoted local
part, UTF-8, wrapped over two lines, only in a ``mailto:`` link), NUL bytes."""

from __future__ import annotations

import base64

from processor.intake import parse
from processor.intake.record import BounceRecord
from processor.intake.text import decode_words, find_addresses, html_to_text, normalize_address

_POSTFIX_HEADERS = (
    "From: MAILER-DAEMON@mx.example.at (Mail Delivery System)\n"
    "To: news@shop.example.com\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 14 May 2024 18:40:00 +0000\n"
)


def _records(data: bytes | str) -> list[BounceRecord]:
    result = parse(data.encode("utf-8") if isinstance(data, str) else data)
    assert result.error is None, result.error
    return result.records


def test_a_broken_encoded_word_leaves_the_others_decoded() -> None:
    # the middle word's base64 is one character short of a group: the stdlib raises
    raw = "=?utf-8?B?Tm9uIHJlbWlzIDog?= =?utf-8?B?VW5kZWxpdmVyYWJsZ?= =?iso-8859-1?Q?=E0_?="
    assert decode_words(raw) == "Non remis : =?utf-8?B?VW5kZWxpdmVyYWJsZ?= à"


def test_a_bounce_with_a_broken_encoded_subject_is_read() -> None:
    records = _records(
        "From: =?utf-8?Q?Syst=C3=A8me?= <MAILER-DAEMON@smtp.example.fr>\n"
        "To: news@shop.example.com\n"
        "Subject: =?utf-8?B?VW5kZWxpdmVyYWJsZ?=\n\n"
        "Hi. This is the qmail-send program at smtp.example.fr.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        "<ines@example.fr>:\n"
        "Remote host said: 550 5.1.1 <ines@example.fr>: User unknown\n"
    )
    assert [(r.recipient, r.status, r.smtp_code) for r in records] == [
        ("ines@example.fr", "5.1.1", 550)
    ]
    assert records[0].bounce_subject == "=?utf-8?B?VW5kZWxpdmVyYWJsZ?="


def test_a_base64_report_part_cut_mid_line_is_decoded() -> None:
    report = (
        "Reporting-MTA: dns;mx.contoso.example\n\n"
        "Final-Recipient: rfc822;dave.k@contoso.example\n"
        "Action: failed\n"
        "Status: 5.1.10\n"
        "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found\n"
    )
    encoded = base64.encodebytes(report.encode()).decode()
    cut = encoded[: len(encoded) - 40]
    cut = cut[: len(cut) - (len(cut.replace("\n", "")) % 4) + 1]  # one character into a group
    assert len(cut.replace("\n", "")) % 4 == 1  # the length the stdlib cannot decode
    records = _records(
        "From: <postmaster@contoso.example>\n"
        "To: <news@shop.example.com>\n"
        "Subject: Undeliverable: Your May offers\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\n"
        "Content-Type: message/delivery-status\n"
        "Content-Transfer-Encoding: base64\n\n" + cut
    )
    assert [(r.recipient, r.status, r.smtp_code) for r in records] == [
        ("dave.k@contoso.example", "5.1.10", 550)
    ]
    assert (records[0].diagnostic or "").startswith("550 5.1.10 RESOLVER.ADR")


def test_quoted_and_utf8_addresses_are_whole() -> None:
    assert find_addresses('<"victor vance"@example.pl>: host said') == ['"victor vance"@example.pl']
    assert normalize_address('rfc822; "Victor Vance"@Example.PL') == '"victor vance"@example.pl'
    assert find_addresses(
        "<jürgen.test@beispiel.example>: said 550 <jürgen.test@beispiel.example>"
    ) == ["jürgen.test@beispiel.example"]
    assert find_addresses("remis à jürgen@exemple.fr. Voir a@sub.bücher.example") == [
        "jürgen@exemple.fr",
        "a@sub.bücher.example",
    ]
    # CJK text may abut an ASCII address without a space
    assert find_addresses("宛先user@example.jpは存在しません") == ["user@example.jp"]


def test_a_dsn_recipient_with_a_quoted_local_part() -> None:
    records = _records(
        _POSTFIX_HEADERS + "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="q"\n\n'
        "--q\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.pl\n\n"
        'Final-Recipient: rfc822; "victor vance"@example.pl\n'
        "Action: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--q--\n"
    )
    assert [(r.recipient, r.status) for r in records] == [('"victor vance"@example.pl', "5.1.1")]


def test_a_postfix_body_naming_a_utf8_recipient() -> None:
    records = _records(
        _POSTFIX_HEADERS + "Content-Type: text/plain; charset=us-ascii\n\n"  # the lie is real
        "This is the mail system at host mx.example.at.\n\n"
        "                   The mail system\n\n"
        "<xaver@bücher.example>: host mx.bücher.example[192.0.2.71] said: 550 5.1.1\n"
        "    <xaver@bücher.example>: Recipient address rejected: User unknown (in reply\n"
        "    to RCPT TO command)\n"
    )
    assert [(r.recipient, r.status, r.smtp_code) for r in records] == [
        ("xaver@bücher.example", "5.1.1", 550)
    ]


def test_an_address_wrapped_over_two_lines_is_joined() -> None:
    records = _records(
        _POSTFIX_HEADERS + "\n"
        "This is the mail system at host mx.example.nz.\n\n"
        "                   The mail system\n\n"
        "<alexandra.long.named.representative@subsidiary-\n"
        "    department.example.nz>: host mx.example.nz[192.0.2.81] said: 550 5.1.1\n"
        "    User unknown (in reply to RCPT TO command)\n"
    )
    assert [(r.recipient, r.status, r.remote_mta) for r in records] == [
        (
            "alexandra.long.named.representative@subsidiary-department.example.nz",
            "5.1.1",
            "mx.example.nz",
        )
    ]


def test_an_html_bounce_naming_the_recipient_only_in_a_mailto_link() -> None:
    markup = '<p>to <a href="mailto:tina@example.net?subject=x">this recipient</a>.</p>'
    assert "this recipient (tina@example.net)" in html_to_text(markup)
    linked = '<a href="mailto:tina@example.net">tina@example.net</a>'
    assert html_to_text(linked).strip() == "tina@example.net"
    records = _records(
        "From: Postmaster <postmaster@mailsuite.example>\n"
        "To: news@shop.example.com\n"
        "Subject: Delivery failure notification\n"
        "Content-Type: text/html; charset=utf-8\n\n"
        "<html><body><p>We could not deliver your message to "
        '<a href="mailto:tina@example.net?subject=x">this recipient</a>.</p>\n'
        "<p>Reason: the mailbox is full. Server reply: <code>552 5.2.2 Quota exceeded</code></p>\n"
        "</body></html>\n"
    )
    assert [(r.recipient, r.status, r.smtp_code) for r in records] == [
        ("tina@example.net", "5.2.2", 552)
    ]
    assert "<" not in (records[0].diagnostic or "")


def test_nul_bytes_never_reach_the_diagnostic() -> None:
    records = _records(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.io>\n"
        b"To: news@shop.example.com\n"
        b"Subject: Mail delivery failed: returning message to sender\n"
        b"X-Failed-Recipients: quinn@example.io\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"  quinn@example.io\n"
        b"    host mx.example.io [192.0.2.14]\x00\n"
        b"    550 5.1.1 <quinn@example.io>: User unknown\x00\n"
    )
    assert [(r.recipient, r.smtp_code) for r in records] == [("quinn@example.io", 550)]
    assert "\x00" not in (records[0].diagnostic or "")


def test_mta_fields_lose_their_comment_and_root_dot() -> None:
    records = _records(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: news@shop.example.com\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="g"\n\n'
        "--g\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; googlemail.com (gmail-daemon)\n\n"
        "Final-Recipient: rfc822; erin@gmail.com\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.27, the server for\n"
        " the domain gmail.com.)\n"
        "Diagnostic-Code: smtp; 550 5.1.1 The email account does not exist\n\n--g--\n"
    )
    assert [(r.remote_mta, r.reporting_mta) for r in records] == [
        ("gmail-smtp-in.l.google.com", "googlemail.com")
    ]


def test_a_recipient_line_with_a_display_name_is_not_the_diagnostic() -> None:
    records = _records(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@smtp.example.ca>\n"
        "To: news@shop.example.com\n"
        "Subject: Returned mail: see transcript for details\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        '"Uma Patel" <UMA.PATEL@EXAMPLE.CA>\n'
        "    (reason: 550 5.1.1 <UMA.PATEL@EXAMPLE.CA>... User unknown)\n"
    )
    assert [(r.recipient, r.status) for r in records] == [("uma.patel@example.ca", "5.1.1")]
    assert records[0].diagnostic is not None
    assert not records[0].diagnostic.startswith('"Uma Patel"')
