"""Bounce shapes around the standard readers: a bounce forwarded or wrapped by a list
manager, a report attached as a text file, quoted forwards, and the small facts (remote
host, reason line) a report leaves to its text."""

from __future__ import annotations

from processor.intake import parse
from tests.unit.intake.conftest import message

EXIM_INNER = (
    "From: Mail Delivery System <Mailer-Daemon@mx.member.example>\n"
    "To: list-bounces+nora=member.example@lists.example.org\n"
    "Subject: Mail delivery failed: returning message to sender\n"
    "\n"
    "This message was created automatically by mail delivery software.\n"
    "\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n"
    "\n"
    "  nora.old@member.example\n"
    "    Unrouteable address\n"
    "\n"
    "------ This is a copy of the message, including all the headers. ------\n"
    "\n"
    "From: someone@example.net\n"
    "To: list@lists.example.org\n"
    "Subject: [list] notes\n"
)


def _wrapper(subject: str, sender: str, to: str, text: str, inner: str) -> bytes:
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b1"\n\n'
        f"--b1\nContent-Type: text/plain\n\n{text}\n\n"
        f"--b1\nContent-Type: message/rfc822\n\n{inner}\n--b1--\n"
    ).encode()


def test_mailman_uncaught_bounce_reads_the_attached_bounce() -> None:
    data = _wrapper(
        "Uncaught bounce notification",
        "list-bounces@lists.example.org",
        "list-owner@lists.example.org",
        "The attached message was received as a bounce, but either the bounce\n"
        "format was not recognized, or no member addresses could be extracted\n"
        "from it.",
        EXIM_INNER,
    )

    records = parse(data).records

    assert [(r.recipient, r.diagnostic) for r in records] == [
        ("nora.old@member.example", "Unrouteable address")
    ]


def test_forwarded_bounce_attachment_is_read_not_the_forwarder() -> None:
    data = _wrapper(
        "Fwd: Mail delivery failed: returning message to sender",
        "Ivy <ivy@example.org>",
        "helpdesk@example.org",
        "Why does this keep failing?",
        EXIM_INNER,
    )

    assert [r.recipient for r in parse(data).records] == ["nora.old@member.example"]


def test_forwarded_ordinary_message_is_not_unwrapped() -> None:
    inner = "From: friend@example.net\nTo: ivy@example.org\nSubject: hi\n\nUser unknown joke"
    data = _wrapper("Fwd: hi", "ivy@example.org", "bob@example.org", "look", inner)

    assert all(r.recipient != "ivy@example.org" for r in parse(data).records)


def test_delivery_status_fields_attached_as_a_text_file() -> None:
    data = (
        b"From: postmaster@mail.firma.example\nTo: leo@example.de\n"
        b"Subject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b2"\n\n'
        b"--b2\nContent-Type: text/plain\n\n"
        b"Your message could not be delivered to the following recipient(s):\n\n"
        b"    maria@firma.example\n\nSee the attached report.\n\n"
        b'--b2\nContent-Type: text/plain; name="details.txt"\n'
        b'Content-Disposition: attachment; filename="details.txt"\n\n'
        b"Reporting-MTA: dns; mail.firma.example\n\n"
        b"Final-Recipient: rfc822; maria@firma.example\nAction: failed\nStatus: 5.1.1\n"
        b"Remote-MTA: dns; mx.firma.example\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <maria@firma.example>: mailbox unavailable\n"
        b"--b2--\n"
    )

    [record] = parse(data).records

    assert (record.recipient, record.status, record.smtp_code, record.remote_mta) == (
        "maria@firma.example",
        "5.1.1",
        550,
        "mx.firma.example",
    )


def _report(fields: str, text: str = "Delivery failed.") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\nTo: a@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b3"\n\n'
        f"--b3\nContent-Type: text/plain\n\n{text}\n\n"
        "--b3\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.com\n\n{fields}\n--b3--\n"
    ).encode()


def test_remote_mta_comment_is_dropped() -> None:
    data = _report(
        "Final-Recipient: rfc822; sara@inactive.example\nAction: failed\nStatus: 5.2.1\n"
        "Remote-MTA: dns; mx1.inactive.example (203.0.113.222)\n"
        "Diagnostic-Code: smtp; 550 5.2.1 account inactive\n"
    )

    assert parse(data).records[0].remote_mta == "mx1.inactive.example"


def test_remote_mta_from_a_connection_failure() -> None:
    data = _report(
        "Final-Recipient: rfc822; bob@slow.example.org\nAction: delayed\nStatus: 4.4.1\n"
        "Diagnostic-Code: X-Postfix; connect to mx.slow.example.org[203.0.113.25]:25:\n"
        "    Connection timed out\n"
    )

    assert parse(data).records[0].remote_mta == "mx.slow.example.org"


def test_exim_reason_without_reason_words_is_the_recipients_own_line() -> None:
    text = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  wendy@deadmx.example\n"
        "    all hosts for 'deadmx.example' have been failing for a long time (and retry"
        " time not reached)\n"
    )
    data = _report(
        "Action: failed\nFinal-Recipient: rfc822;wendy@deadmx.example\nStatus: 5.0.0\n", text
    )

    [record] = parse(data).records

    assert record.diagnostic == (
        "all hosts for 'deadmx.example' have been failing for a long time"
        " (and retry time not reached)"
    )


def _plain(body: str, subject: str = "failure notice") -> bytes:
    headers = {"From": "MAILER-DAEMON@mail.example.net", "To": "sam@example.net"}
    return message({**headers, "Subject": subject}, body)


def test_qmail_connected_host_is_the_remote_mta() -> None:
    data = _plain(
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<rosa@picky.example.com>:\n"
        "Connected to 192.0.2.1 but sender was rejected.\n"
        "Remote host said: 553 5.7.1 sorry, your envelope sender has been denied\n"
    )

    assert parse(data).records[0].remote_mta == "192.0.2.1"


def test_an_internationalized_remote_host_is_the_remote_mta() -> None:
    """A Postfix bounce (no DSN part) naming an IDN server in its Unicode form (a UTF-8
    body, as SMTPUTF8 mail systems write it): the name is kept, not cut at the umlaut."""
    data = message(
        {
            "From": "MAILER-DAEMON@mail.example.net",
            "To": "sam@example.net",
            "Subject": "Undelivered Mail Returned to Sender",
            "Content-Type": "text/plain; charset=utf-8",
        },
        "This is the mail system at host mail.example.net.\n\n"
        "<rosa@bücher.example>: connect to mx.bücher.example[192.0.2.1]:25: Connection"
        " refused\n",
    )

    assert parse(data).records[0].remote_mta == "mx.bücher.example"


def test_bounce_forwarded_inline_with_quote_marks() -> None:
    data = _plain(
        "Can you look at this?\n\n"
        "On 25/03/2024 10:45, Mail Delivery System wrote:\n"
        "> This is the mail system at host smtp.example.net.\n>\n"
        "> <laura@quota.example.com>: host mx.quota.example.com[192.0.2.140] said: 552\n"
        ">     5.2.2 <laura@quota.example.com>: Mailbox full (in reply to RCPT TO\n"
        ">     command)\n",
        subject="Fwd: Undelivered Mail Returned to Sender",
    )

    [record] = parse(data).records

    assert record.recipient == "laura@quota.example.com"
    assert ">" not in (record.diagnostic or "").replace("<laura", "").replace(".com>", "")
    assert (record.status, record.smtp_code) == ("5.2.2", 552)


def test_localized_banner_before_the_original_ends_the_reason() -> None:
    data = _plain(
        "Ceci est le système de messagerie de la machine smtp.exemple.fr.\n\n"
        "<sophie@plein.example>: host mx.plein.example[203.0.113.80] said: 552 5.2.2\n"
        "    Mailbox full (in reply to RCPT TO command)\n\n"
        "--- Les en-têtes du message original suivent ---\n\n"
        "From: paul@exemple.fr\nTo: sophie@plein.example\nSubject: rendez-vous\n",
        subject="Courrier non délivré",
    )

    [record] = parse(data).records

    assert record.diagnostic is not None and record.diagnostic.endswith("RCPT TO command)")


def test_exchange_2007_smtp_tagged_reply() -> None:
    data = _plain(
        "Delivery has failed to these recipients or groups:\n\n"
        "rick@full.example\nThe recipient's mailbox is full and can't accept messages now.\n\n"
        "Diagnostic information for administrators:\n\n"
        "Generating server: EXCH02.example.net\n\n"
        "rick@full.example\n"
        "#< #5.2.2 smtp;552 5.2.2 <rick@full.example>: Mailbox quota exceeded> #SMTP#\n",
        subject="Undeliverable: update",
    )

    [record] = parse(data).records

    assert (record.diagnostic, record.status, record.smtp_code) == (
        "552 5.2.2 <rick@full.example>: Mailbox quota exceeded",
        "5.2.2",
        552,
    )


def test_label_only_line_is_not_part_of_the_reason() -> None:
    data = _plain(
        "Hi. This is the James mail server at mail.james.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "Failed recipient(s):\nwalt@remote.example\n\nError message:\n"
        "550 5.1.1 <walt@remote.example>... User unknown\n",
        subject="[BOUNCE]",
    )

    [record] = parse(data).records

    assert record.diagnostic == "550 5.1.1 <walt@remote.example>... User unknown"
