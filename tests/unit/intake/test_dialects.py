"""Non-standard bounce bodies: each dialect on a small synthetic message of its shape."""

from __future__ import annotations

import json

import pytest

from processor.intake import RecordKind, parse
from processor.intake.dialects import DIALECTS, FALLBACK
from tests.unit.intake.conftest import PIPELINED_TRANSCRIPT, message

SENDER = "news@sender.example"


def bounce(body: str, *, sender: str = "MAILER-DAEMON@mx.example.net", **headers: str) -> bytes:
    base = {"From": sender, "To": SENDER, "Subject": "Undelivered Mail Returned to Sender"}
    base.update({name.replace("_", "-"): value for name, value in headers.items()})
    return message(base, body)


CASES = {
    "postfix": (
        bounce(
            "This is the mail system at host mx.example.net.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            "                   The mail system\n\n"
            "<gone@example.org>: host mx.example.org[192.0.2.3] said: 550 5.1.1\n"
            "    <gone@example.org>: Recipient address rejected: User unknown (in reply to\n"
            "    RCPT TO command)\n\n"
            "<full@example.org>: host mx.example.org[192.0.2.3] said: 452 4.2.2 Over quota\n"
        ),
        [("gone@example.org", "5.1.1", 550), ("full@example.org", "4.2.2", 452)],
    ),
    "qmail": (
        bounce(
            "Hi. This is the qmail-send program at mx.example.net.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
            "<nobody@example.org>:\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
            "--- Below this line is a copy of the message.\n\n"
            "To: nobody@example.org\nSubject: hi\n\nhello\n",
            Subject="failure notice",
        ),
        [("nobody@example.org", "5.1.1", None)],
    ),
    "exim": (
        bounce(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            "  someone@example.org\n"
            "    host mx.example.org [192.0.2.4]\n"
            "    SMTP error from remote mail server after RCPT TO:<someone@example.org>:\n"
            "    550 5.2.1 The email account that you tried to reach is disabled\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n"
            "From: news@sender.example\nTo: someone@example.org\n\nhello\n",
            Subject="Mail delivery failed: returning message to sender",
            X_Failed_Recipients="someone@example.org",
        ),
        [("someone@example.org", "5.2.1", 550)],
    ),
    "sendmail": (
        bounce(
            "The original message was received at Mon, 2 Mar 2026 10:00:00 +0100\n"
            "from localhost [127.0.0.1]\n\n"
            "   ----- The following addresses had permanent fatal errors -----\n"
            "<who@example.org>\n"
            "    (reason: 550 5.1.1 <who@example.org>... User unknown)\n\n"
            "   ----- Transcript of session follows -----\n"
            "... while talking to mx.example.org.:\n"
            ">>> RCPT To:<who@example.org>\n"
            "<<< 550 5.1.1 <who@example.org>... User unknown\n"
            "550 5.1.1 <who@example.org>... User unknown\n",
            Subject="Returned mail: see transcript for details",
        ),
        [("who@example.org", "5.1.1", 550)],
    ),
    "gmail": (
        bounce(
            "Delivery to the following recipient failed permanently:\n\n"
            "     lost@example.org\n\n"
            "Technical details of permanent failure:\n"
            "Google tried to deliver your message, but it was rejected by the server.\n"
            "The error that the other server returned was:\n"
            "550 5.1.1 <lost@example.org>... User Unknown\n",
            sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            Subject="Delivery Status Notification (Failure)",
            X_Failed_Recipients="lost@example.org",
        ),
        [("lost@example.org", "5.1.1", 550)],
    ),
    "exchange": (
        bounce(
            "Your message\n\n  To:      box@example.org\n  Subject: Offer\n\n"
            "did not reach the following recipient(s):\n\n"
            "box@example.org on Mon, 2 Mar 2026 10:00:00 +0000\n"
            "    The e-mail account does not exist at the organization this message was sent to.\n"
            "    <mx.example.org #5.1.1 smtp;550 5.1.1 User unknown>\n",
            sender="System Administrator <postmaster@example.org>",
            Subject="Undeliverable: Offer",
        ),
        [("box@example.org", "5.1.1", 550)],
    ),
    "yahoo": (
        bounce(
            "Sorry, we were unable to deliver your message to the following address.\n\n"
            "<ghost@example.org>:\n"
            "Remote host said: 554 5.7.1 <ghost@example.org>: Relay access denied [RCPT_TO]\n",
            Subject="Failure Notice",
        ),
        [("ghost@example.org", "5.7.1", 554)],
    ),
    "messagingserver": (
        bounce(
            "This report relates to a message you sent with the following header fields:\n\n"
            "  Subject: Offer\n\n"
            "Your message cannot be delivered to the following recipients:\n\n"
            "  Recipient address: first@example.org\n"
            "  Reason: Remote SMTP server has rejected address\n"
            "  Diagnostic code: smtp;550 5.1.1 unknown user\n"
            "  Recipient address: second@example.org\n"
            "  Reason: Remote SMTP server has rejected address\n"
            "  Diagnostic code: smtp;552 5.2.2 mailbox full\n",
            Subject="Delivery Notification: Delivery has failed",
        ),
        [("first@example.org", "5.1.1", 550), ("second@example.org", "5.2.2", 552)],
    ),
    "notes": (
        bounce(
            "Your message\n\n  Subject: Offer\n\nwas not delivered to:\n\n"
            "  user@example.org\n\nbecause:\n\n  User user (user@example.org) not listed in "
            "Domino Directory\n",
            sender="Postmaster@example.org",
            Subject="DELIVERY FAILURE: User user not listed",
        ),
        [("user@example.org", "5.0.0", None)],
    ),
    "courier": (
        bounce(
            "This is a delivery status notification from mx.example.net,\n"
            "running the Courier mail server, version 1.1.8.\n\n"
            "---------------------------------------------------------------------------\n\n"
            "                           UNDELIVERABLE MAIL\n\n"
            "Your message to the following recipients cannot be delivered:\n\n"
            "<liz@example.org>:\n"
            "    mx.example.org [192.0.2.8]:\n"
            ">>> RCPT TO:<liz@example.org>\n"
            "<<< 550 5.1.1 <liz@example.org>: Recipient address rejected: User unknown\n\n"
            "<max@example.org>:\n"
            "    mx.example.org [192.0.2.8]:\n"
            ">>> RCPT TO:<max@example.org>\n"
            "<<< 552 5.2.2 <max@example.org>: Mailbox full\n\n"
            "---------------------------------------------------------------------------\n\n"
            "If your message was also sent to additional recipients, their delivery\n"
            "status is not included in this report.\n",
            Subject="NOTICE: mail delivery status.",
        ),
        [("liz@example.org", "5.1.1", 550), ("max@example.org", "5.2.2", 552)],
    ),
    "ironport": (
        bounce(
            "This Message was undeliverable due to the following reason:\n\n"
            "Your message was not delivered because the destination computer was\n"
            "not reachable within the allowed queue period.\n\n"
            "Your message was not delivered within 3 days:\n"
            "Host 198.51.100.20 is not responding.\n\n"
            "The following recipients did not receive this message:\n\n"
            "     <maria@example.org>\n"
            "     <jose@example.org>\n\n"
            "Please reply to postmaster@esa1.example.net\n"
            "if you feel this message to be in error.\n",
            Subject="Delivery Status Notification (Failure)",
        ),
        [("maria@example.org", "5.0.0", None), ("jose@example.org", "5.0.0", None)],
    ),
    "stalwart": (
        bounce(
            "Your message could not be delivered to the following recipients:\n\n"
            "<gone@example.org> (host 'mx.example.org' rejected command 'RCPT TO:<gone@"
            "example.org>' with code 550 (5.1.1) 'Mailbox does not exist')\n"
            "<late@example.org> (host 'mx.example.org' rejected command 'DATA' with code 550"
            " (0.0.0) 'Service unavailable; Client host [192.0.2.9] blocked using zen')\n",
            sender="Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
            Subject="Failed to deliver message",
        ),
        [("gone@example.org", "5.1.1", 550), ("late@example.org", "5.0.0", 550)],
    ),
}


@pytest.mark.parametrize("dialect", sorted(CASES))
def test_dialect_reads_recipients_status_and_reply(dialect: str) -> None:
    data, expected = CASES[dialect]

    result = parse(data)

    assert result.ok, result.error
    assert [(r.recipient, r.status, r.smtp_code) for r in result.records] == expected
    assert {r.dialect for r in result.records} == {dialect}
    assert all(r.kind is RecordKind.DSN and r.diagnostic for r in result.records)


def test_the_bounce_sender_is_never_reported_as_the_recipient() -> None:
    data, _ = CASES["exim"]

    assert SENDER not in {r.recipient for r in parse(data).records}


# RFC 2920 pipelining in Sendmail's transcript notation (sources in conftest.py)
_PIPELINED_TRANSCRIPT = "   ----- Transcript of session follows -----\n" + PIPELINED_TRANSCRIPT


def test_a_pipelined_sendmail_transcript_gives_the_command_of_the_failed_reply() -> None:
    data = bounce(
        "The original message was received at Sun, 1 Mar 2026 10:00:00 +0100\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<user@example.org>\n"
        "    (reason: 550 5.1.1 <user@example.org>... User unknown)\n\n" + _PIPELINED_TRANSCRIPT,
        Subject="Returned mail: see transcript for details",
    )

    record = parse(data).records[0]

    assert (record.dialect, record.recipient) == ("sendmail", "user@example.org")
    assert (record.smtp_command, record.smtp_code, record.remote_mta) == (
        "RCPT",
        550,
        "mx.example.org",
    )


def test_a_pipelined_transcript_beside_a_dsn_gives_the_command_of_the_failed_reply() -> None:
    boundary = "b0undary"
    data = message(
        {
            "From": "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
            "To": SENDER,
            "Subject": "Returned mail: see transcript for details",
            "MIME-Version": "1.0",
            "Content-Type": f'multipart/report; report-type=delivery-status; boundary="{boundary}"',
        },
        f"--{boundary}\nContent-Type: text/plain\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<user@example.org>\n"
        "    (reason: 550 5.1.1 <user@example.org>... User unknown)\n\n"
        + _PIPELINED_TRANSCRIPT
        + f"\n--{boundary}\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: RFC822; user@example.org\n"
        "Action: failed\nStatus: 5.1.1\nRemote-MTA: DNS; mx.example.org\n"
        "Diagnostic-Code: SMTP; 550 5.1.1 <user@example.org>... User unknown\n"
        f"\n--{boundary}--\n",
    )

    record = parse(data).records[0]

    assert (record.recipient, record.status, record.smtp_command) == (
        "user@example.org",
        "5.1.1",
        "RCPT",
    )


def test_amazon_ses_sns_notification() -> None:
    inner = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {
                    "emailAddress": "x@example.org",
                    "status": "5.1.1",
                    "action": "failed",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-03-01T10:00:00.000Z",
            "reportingMTA": "dsn; a1.smtp-out.amazonses.com",
        },
        "mail": {"messageId": "0101-abc", "commonHeaders": {"subject": "Offer"}},
    }
    envelope = {"Type": "Notification", "Message": json.dumps(inner)}
    data = message(
        {"From": "no-reply@sns.amazonaws.com", "To": SENDER, "Subject": "AWS Notification Message"},
        json.dumps(envelope, indent=2),
    )

    record = parse(data).records[0]

    assert (record.recipient, record.status, record.smtp_code) == ("x@example.org", "5.1.1", 550)
    assert record.dialect == "amazonses"
    assert record.reporting_mta == "a1.smtp-out.amazonses.com"
    assert record.original_message_id == "0101-abc"


def test_generic_reader_handles_an_unknown_mta() -> None:
    data = bounce(
        "We could not deliver your message.\n\n"
        "Recipient: <odd@example.org>\n"
        "Reason: 550 5.7.1 Message rejected as spam by Content Filtering.\n",
        sender="Mail Gateway <noreply@gw.example.net>",
        Subject="Message delivery failure",
    )

    record = parse(data).records[0]

    assert (record.recipient, record.status, record.smtp_code) == ("odd@example.org", "5.7.1", 550)


def test_an_expanded_from_alias_is_not_a_second_failed_recipient() -> None:
    # a Postfix paragraph pasted without its intro, "(expanded from" wrapped, no <>
    data = bounce(
        "user@example.de (expanded from\n"
        "    alias@example.org: host mx.example.net[192.0.2.1] said:\n"
        "    550 5.1.2 No such mailbox (in reply to RCPT TO command)\n",
        sender="MAILER-DAEMON@mail.example.net (Mail Delivery System)",
        Subject="Undelivered Mail Returned to Sender",
    )

    records = parse(data).records

    assert [(r.recipient, r.status, r.smtp_code) for r in records] == [
        ("user@example.de", "5.1.2", 550)
    ]


def test_registry_entries_provide_the_dialect_interface() -> None:
    names = [dialect.NAME for dialect in (*DIALECTS, FALLBACK)]

    assert len(names) == len(set(names))
    for dialect in (*DIALECTS, FALLBACK):
        assert callable(dialect.matches) and callable(dialect.parse)


@pytest.mark.parametrize(
    ("dialect", "command"), [("postfix", "RCPT"), ("exim", "RCPT"), ("sendmail", "RCPT")]
)
def test_the_refused_smtp_command_is_reported(dialect: str, command: str) -> None:
    data, _ = CASES[dialect]

    assert parse(data).records[0].smtp_command == command


def test_a_reply_to_end_of_data_is_a_data_refusal() -> None:
    data = bounce(
        "This is the mail system at host mx.example.net.\n\n"
        "                   The mail system\n\n"
        "<a@example.org>: host mx.example.org[192.0.2.3] said: 550 5.7.1 Spam detected\n"
        "    (in reply to end of DATA command)\n"
    )

    record = parse(data).records[0]

    assert (record.smtp_command, record.status) == ("DATA", "5.7.1")


def test_office365_html_only_bounce() -> None:
    html = (
        "<html><body><p><b>Your message to <a href='mailto:Jane.Doe@contoso.example'>"
        "Jane.Doe@contoso.example</a> couldn't be delivered.</b></p>"
        "<p>Diagnostic information for administrators:</p>"
        "<p>Jane.Doe@contoso.example<br>Remote Server returned '550 5.1.10 "
        "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'</p>"
        "</body></html>"
    )
    data = message(
        {
            "From": "Microsoft Outlook <MicrosoftExchange329e71@contoso.example>",
            "To": SENDER,
            "Subject": "Undeliverable: Offer",
            "Content-Type": "text/html; charset=utf-8",
        },
        html,
    )

    record = parse(data).records[0]

    assert record.dialect == "exchange"
    assert (record.recipient, record.status, record.smtp_code) == (
        "jane.doe@contoso.example",
        "5.1.10",
        550,
    )


# Exchange NDRs with two recipients refused for different reasons. The summary lists
# them in one order; the administrators' section gives each its own reply, in the
# Exchange 2010 "#...##" form or quoted after words in the NDR's language.
EXCHANGE_ADMIN_SECTIONS = {
    "exchange-2010": (
        "Delivery has failed to these recipients or groups:",
        "Diagnostic information for administrators:",
        "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##",
        "mx.fabrikam.example #552 5.2.2 Mailbox full ##",
    ),
    "french": (
        "La remise à ces destinataires ou groupes a échoué :",
        "Informations de diagnostic pour les administrateurs :",
        "Le serveur distant a retourné '550 5.1.1 <alice@contoso.example>: User unknown'",
        "Le serveur distant a retourné '552 5.2.2 <bob@fabrikam.example>: Mailbox full'",
    ),
    "german": (
        "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:",
        "Diagnoseinformationen für Administratoren:",
        "Remoteserver hat '550 5.1.1 <alice@contoso.example>: User unknown' zurückgegeben.",
        "Remoteserver hat '552 5.2.2 <bob@fabrikam.example>: Mailbox full' zurückgegeben.",
    ),
}


@pytest.mark.parametrize("ndr_header", [True, False], ids=["ndr-header", "no-ndr-header"])
@pytest.mark.parametrize("shape", sorted(EXCHANGE_ADMIN_SECTIONS))
def test_exchange_gives_each_recipient_its_own_reply_in_any_language(
    shape: str, ndr_header: bool
) -> None:
    """With or without Exchange's NDR header: without it, the sender (Microsoft
    Outlook) and the administrators' section tell the NDR apart in any language."""
    opening, admin_heading, alice_reply, bob_reply = EXCHANGE_ADMIN_SECTIONS[shape]
    body = (
        f"{opening}\n\nbob@fabrikam.example\nThe mailbox is full.\n\n"
        "alice@contoso.example\nThe address could not be found.\n\n"
        f"{admin_heading}\n\nGenerating server: EX01.contoso.example\n\n"
        f"alice@contoso.example\n{alice_reply}\n\n"
        f"bob@fabrikam.example\n{bob_reply}\n\n"
        "Original message headers:\n\nReceived: from sender.example\n"
    )
    headers = {
        "From": "Microsoft Outlook <postmaster@contoso.example>",
        "To": SENDER,
        "Subject": "Undeliverable: Offer",
        "Content-Type": "text/plain; charset=utf-8",
    }
    if ndr_header:
        headers["X-MS-Exchange-Message-Is-Ndr"] = ""
    data = message(headers, body)

    assert {r.dialect for r in parse(data).records} == {"exchange"}
    found = {r.recipient: (r.status, r.smtp_code, r.diagnostic) for r in parse(data).records}

    alice, bob = found["alice@contoso.example"], found["bob@fabrikam.example"]
    assert alice[:2] == ("5.1.1", 550) and alice[2] is not None
    assert bob[:2] == ("5.2.2", 552) and bob[2] is not None
    assert alice[2].startswith("550 5.1.1") and bob[2].startswith("552 5.2.2")
    assert "'" not in alice[2] + bob[2]  # the quotes and the words around them are dropped


def test_notes_failure_reasons_precede_their_address() -> None:
    data = bounce(
        "------- Failure Reasons  --------\n\n"
        "User not listed in public Name & Address Book\n"
        "first@example.org\n"
        "Mailbox quota exceeded\n"
        "second@example.org\n",
        sender="postmaster@notes.example.net",
        Subject="Undeliverable message",
    )

    records = parse(data).records

    assert [(r.dialect, r.recipient, r.diagnostic) for r in records] == [
        ("notes", "first@example.org", "User not listed in public Name & Address Book"),
        ("notes", "second@example.org", "Mailbox quota exceeded"),
    ]


def test_messaging_server_original_address_is_the_same_recipient() -> None:
    data = bounce(
        "Your message cannot be delivered to the following recipients:\n\n"
        "  Recipient address: john.doe@mailhost.example.org\n"
        "  Original address: jdoe@example.org\n"
        "  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp;550 5.1.1 unknown user\n\n"
        "  Recipient address: full@example.com\n"
        "  Original address: full@example.com\n"
        "  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp;552 5.2.2 mailbox full\n",
        Subject="Delivery Notification: Delivery has failed",
    )

    records = parse(data).records

    assert [(r.recipient, r.original_recipient, r.status) for r in records] == [
        ("john.doe@mailhost.example.org", "jdoe@example.org", "5.1.1"),
        ("full@example.com", None, "5.2.2"),
    ]


def test_report_without_diagnostic_code_takes_the_sentence_from_the_text_part() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\n** Address not found **\n\n"
        "Your message wasn't delivered to gone@example.org because the address couldn't be "
        "found.\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; google.com\n\n"
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.0.0\n--b--\n"
    )
    data = message(
        {
            "From": "mailer-daemon@googlemail.com",
            "To": SENDER,
            "Content-Type": 'multipart/report; report-type=delivery-status; boundary="b"',
        },
        body,
    )

    record = parse(data).records[0]

    assert record.diagnostic is not None and "address couldn't be found" in record.diagnostic


def test_old_sendmail_transcript_reports_the_remote_reply_code() -> None:
    data = bounce(
        "   ----- Transcript of session follows -----\n"
        "550 example.org (smtp)... 550 Host unknown\n"
        "554 <nobody@example.org>... 550 Host unknown (Authoritative answer from name server)\n"
        "\n   ----- Unsent message follows -----\n",
        Subject="Returned mail: Host unknown",
    )

    record = parse(data).records[0]

    assert (record.dialect, record.recipient, record.smtp_code) == (
        "sendmail",
        "nobody@example.org",
        550,
    )


def test_sendmail_transcript_names_each_recipients_server_and_the_reason_once() -> None:
    data = bounce(
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<ann@one.example>\n"
        "    (reason: 550 5.1.1 <ann@one.example>... User unknown)\n"
        "<bob@two.example>\n"
        "    (reason: 552 5.2.2 <bob@two.example>... Mailbox full)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.one.example.:\n"
        ">>> DATA\n"
        "<<< 550 5.1.1 <ann@one.example>... User unknown\n"
        "550 5.1.1 <ann@one.example>... User unknown\n"
        "<<< 503 5.0.0 Need RCPT (recipient)\n"
        "... while talking to mail.two.example.:\n"
        ">>> RCPT To:<bob@two.example>\n"
        "<<< 552 5.2.2 <bob@two.example>... Mailbox full\n"
        "552 5.2.2 <bob@two.example>... Mailbox full\n",
        Subject="Returned mail: see transcript for details",
    )

    records = parse(data).records

    assert [(r.recipient, r.remote_mta, r.diagnostic) for r in records] == [
        ("ann@one.example", "mx.one.example", "550 5.1.1 <ann@one.example>... User unknown"),
        ("bob@two.example", "mail.two.example", "552 5.2.2 <bob@two.example>... Mailbox full"),
    ]


# Several recipients refused for different reasons, in plain text only: each record
# carries its own reply, never a neighbour's (a local failure beside a remote one; an
# address inside another; a summary list before per-recipient details).
MIXED_REASONS = {
    "postfix-local-beside-remote": (
        bounce(
            "This is the mail system at host mx.example.net.\n\n"
            "                   The mail system\n\n"
            '<nouser@mx.example.net>: unknown user: "nouser"\n\n'
            "<full@example.com>: host mx.example.com[192.0.2.9] said: 552 5.2.2\n"
            "    <full@example.com>: Mailbox full (in reply to RCPT TO command)\n"
        ),
        [("nouser@mx.example.net", None), ("full@example.com", 552)],
    ),
    "postfix-address-inside-another": (
        bounce(
            "This is the mail system at host mx.example.net.\n\n"
            "                   The mail system\n\n"
            "<newuser@example.org>: host mx.example.org[192.0.2.3] said: 550 5.1.1\n"
            "    <newuser@example.org>: User unknown (in reply to RCPT TO command)\n\n"
            "<user@example.org>: host mx.example.org[192.0.2.3] said: 452 4.2.2\n"
            "    <user@example.org>: Mailbox full (in reply to RCPT TO command)\n"
        ),
        [("newuser@example.org", 550), ("user@example.org", 452)],
    ),
    "exim-local-beside-remote": (
        bounce(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            "  nouser@mx.example.net\n    Unrouteable address\n\n"
            "  full@example.com\n    host mx.example.com [192.0.2.9]\n"
            "    SMTP error from remote mail server after RCPT TO:<full@example.com>:\n"
            "    552 5.2.2 Mailbox full\n",
            Subject="Mail delivery failed: returning message to sender",
        ),
        [("nouser@mx.example.net", None), ("full@example.com", 552)],
    ),
    "gmail-summary-then-details": (
        bounce(
            "Delivery to the following recipients failed permanently:\n\n"
            "     lost@example.org\n     full@example.com\n\n"
            "Technical details of permanent failure:\n"
            "The error that the other server returned was:\n"
            "550 5.1.1 <lost@example.org>... User Unknown\n\n"
            "The error that the other server returned was:\n"
            "552 5.2.2 <full@example.com>... Mailbox full\n",
            sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            Subject="Delivery Status Notification (Failure)",
            X_Failed_Recipients="lost@example.org, full@example.com",
        ),
        [("lost@example.org", 550), ("full@example.com", 552)],
    ),
    "domino-two-paragraphs": (
        bounce(
            "Your message\n\n  Subject: Offer\n\nwas not delivered to:\n\n"
            "  gone@example.org\n\nbecause:\n\n"
            "  User gone (gone@example.org) not listed in Domino Directory\n\n"
            "was not delivered to:\n\n  full@example.com\n\nbecause:\n\n"
            "  Remote system rejected the message: 552 5.2.2 Mailbox full\n",
            sender="Postmaster@example.org",
            Subject="DELIVERY FAILURE: User gone not listed",
        ),
        [("gone@example.org", None), ("full@example.com", 552)],
    ),
}


@pytest.mark.parametrize("shape", sorted(MIXED_REASONS))
def test_each_recipient_keeps_its_own_reply(shape: str) -> None:
    data, expected = MIXED_REASONS[shape]

    records = parse(data).records

    assert [(r.recipient, r.smtp_code) for r in records] == expected
    for record, (_, code) in zip(records, expected, strict=True):
        others = {c for _, c in expected if c not in {None, code}}
        assert not any(str(c) in (record.diagnostic or "") for c in others)


def _reason_word_alternatives() -> list[str]:
    from processor.intake.dialects.common import _REASON_WORD

    alternatives = _REASON_WORD.pattern.split("(?:", 1)[1][:-1].replace("(?:large|big)", "big")
    return [a.replace(" ?", " ").replace("? ", " ") for a in alternatives.split("|")]


@pytest.mark.parametrize("word", _reason_word_alternatives())
def test_reason_sentences_are_found_in_any_case(word: str) -> None:
    """Every reason word of the no-code fallback is found, upper- or mixed-case, and the
    letter prefilter in front of the alternatives lets each through."""
    from processor.intake.dialects.common import reason_text

    body = f"Hello,\n\nThe mail to you could be sent.\nDelivery: {word.upper()} here\nBye\n"
    assert reason_text(body) == f"Delivery: {word.upper()} here"
    assert reason_text(body.replace(word.upper(), word.title())) == f"Delivery: {word.title()} here"


@pytest.mark.parametrize(
    "line",
    [
        "host mx.example.com[192.0.2.1] said: 550 5.1.1 unknown",
        "Remote Host MX.Example.com said: 550 unknown",
        "SERVER mx.example.com: 550 unknown",
        "MX mx.example.com (550 unknown)",
        "mail server mx.example.com responded: 550 unknown",
        "relayed by mx.example.com: 550 unknown",
        "Remote server: mx.example.com",
        "remote host: [mx.example.com]  ",
        "SMTP error for RCPT TO command, host: mx.example.com (192.0.2.1) reason: 550 x",
        "Remote system: dns; mx.example.com (TCP|192.0.2.1|25)",
        "Server: mx.example.com (192.0.2.1)",
        "远端服务器(Remote server)：mx.example.com (192.0.2.1)",
    ],
)
def test_remote_host_is_read_after_each_lead_word(line: str) -> None:
    from processor.intake.dialects.common import remote_host

    assert remote_host(f"Delivery failed.\n{line}\n") == "mx.example.com"


@pytest.mark.parametrize(
    "line",
    ["Remote server response: 550 5.1.1 mx.example.com unknown", "Remote server: unavailable"],
)
def test_a_remote_server_field_is_a_host_only_when_it_holds_one(line: str) -> None:
    from processor.intake.dialects.common import remote_host

    assert remote_host(f"Delivery failed.\n{line}\n") is None


def test_courier_names_the_remote_server_and_leaves_out_the_closing_boilerplate() -> None:
    records = parse(CASES["courier"][0]).records

    assert {r.remote_mta for r in records} == {"mx.example.org"}
    assert all("additional recipients" not in (r.diagnostic or "") for r in records)


def test_ironport_gives_every_listed_recipient_the_stated_reason() -> None:
    records = parse(CASES["ironport"][0]).records

    assert all("not delivered within 3 days" in (r.diagnostic or "") for r in records)
    assert all("postmaster@" not in (r.diagnostic or "") for r in records)


def test_a_reason_stated_once_is_not_repeated_in_the_diagnostic() -> None:
    data = bounce(
        "Your message to: pedro@example.org\n"
        "was blocked by our Spam Firewall. The email you sent has NOT BEEN DELIVERED:\n\n"
        "Reason: Message content rejected, UBE, id=12345-02-7\n",
        Subject="**Message you sent blocked by our bulk email filter**",
    )

    diagnostic = parse(data).records[0].diagnostic or ""

    assert diagnostic.count("Message content rejected") == 1
    assert diagnostic.count("blocked by our Spam Firewall") == 1


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        (  # T-Online
            "|------------------------- Failed addresses follow: ---------------------|\n"
            " <mueller@example.org> ... unknown user / Benutzer unbekannt\n"
            "|------------------------- Message text follows: ------------------------|\n",
            "failure notice",
        ),
        (  # OpenSMTPD
            "Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n"
            "An error has occurred while attempting to deliver a message for\n"
            "the following list of recipients:\n\n"
            "mueller@example.org: Envelope expired\n\n"
            "Below is a copy of the original message:\n\n",
            "Delivery status notification: error",
        ),
        (  # IceWarp
            "Delivery to the following recipient failed permanently:\n\n"
            "Recipient: mueller@example.org\n"
            "Reason: 552 5.2.2 <mueller@example.org>: Mailbox quota exceeded\n\n"
            "Original message follows:\n\n",
            "Undeliverable: Offer",
        ),
        (  # SmarterMail
            "The message could not be delivered to one or more recipients.\n\n"
            "Failed Recipient: mueller@example.org\n"
            "Reason: Remote host said: 550 5.1.1 <mueller@example.org>: User unknown\n\n"
            "-- The header and top 20 lines of the message follows --\n\n",
            "Undeliverable: Offer",
        ),
        (  # MailEnable
            "The following recipient(s) could not be reached:\n\n"
            "\tRecipient: [SMTP:mueller@example.org]\n"
            "\tReason: Remote SMTP Server Returned: 550 5.1.1 <mueller@example.org>... "
            "User unknown\n\nMessage headers follow:\n\n",
            "Message Delivery Failure",
        ),
    ],
)
def test_the_quoted_original_and_banners_stay_out_of_the_diagnostic(
    body: str, subject: str
) -> None:
    original = (
        "Return-Path: <news@sender.example>\nFrom: news@sender.example\n"
        "To: mueller@example.org\nMessage-ID: <m1@sender.example>\nSubject: Offer\n\nhello\n"
    )

    [record] = parse(bounce(body + original, Subject=subject)).records

    assert record.recipient == "mueller@example.org"
    assert record.original_message_id == "<m1@sender.example>"
    diagnostic = record.diagnostic or ""
    assert "Return-Path" not in diagnostic and "follow" not in diagnostic
    assert diagnostic.count("mueller@example.org") == 1


def test_a_line_that_only_labels_the_recipient_is_not_its_diagnostic() -> None:
    data = bounce(
        "Your message could not be delivered to the following recipients:\n\n"
        "  Recipient: <t.novak@example.org>\n"
        "  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp; 550 5.1.1 <t.novak@example.org>: User unknown\n"
        "  Remote system: dns; mx.example.org (TCP|192.0.2.21|25)\n",
        Subject="Undelivered mail: Offer",
    )

    [record] = parse(data).records

    assert record.recipient == "t.novak@example.org"
    assert (record.diagnostic or "").startswith("Reason: Remote SMTP server has rejected")
    assert (record.status, record.smtp_code) == ("5.1.1", 550)
    assert record.remote_mta == "mx.example.org"


MDAEMON_TRANSCRIPT = (
    "The attached message had PERMANENT fatal delivery errors!\n\n"
    "YOUR MESSAGE WAS NOT DELIVERED TO ONE OR MORE RECIPIENTS!\n\n"
    "--- Session Transcript ---\n"
    " Tue 2025-03-04 09:13:40.112: Parsing message <mail.example.net\\pd5000012.msg>\n"
    " Tue 2025-03-04 09:13:40.113: *  From: news@sender.example\n"
    " Tue 2025-03-04 09:13:40.113: *  To: mark@example.org\n"
    " Tue 2025-03-04 09:13:40.113: *  Message-ID: <m1.77@sender.example>\n"
    " Tue 2025-03-04 09:13:40.132: Attempting SMTP connection to [192.0.2.80 : 25]\n"
    " Tue 2025-03-04 09:13:40.190: <-- 220 mx.example.org ESMTP Postfix\n"
    " Tue 2025-03-04 09:13:40.191: --> EHLO mail.example.net\n"
    " Tue 2025-03-04 09:13:40.220: <-- 250 8BITMIME\n"
    " Tue 2025-03-04 09:13:40.221: --> MAIL From:<news@sender.example>\n"
    " Tue 2025-03-04 09:13:40.250: <-- 250 2.1.0 Ok\n"
    " Tue 2025-03-04 09:13:40.251: --> RCPT To:<mark@example.org>\n"
    " Tue 2025-03-04 09:13:40.280: <-- 550 5.1.1 <mark@example.org>: User unknown\n"
    " Tue 2025-03-04 09:13:40.281: --> RCPT To:<anne@example.org>\n"
    " Tue 2025-03-04 09:13:40.290: <-- 250 2.1.5 Ok\n"
    " Tue 2025-03-04 09:13:40.291: --> DATA\n"
    " Tue 2025-03-04 09:13:40.300: <-- 354 End data with <CR><LF>.<CR><LF>\n"
    " Tue 2025-03-04 09:13:40.301: --> .\n"
    " Tue 2025-03-04 09:13:40.400: <-- 554-5.7.1 Message refused:\n"
    " Tue 2025-03-04 09:13:40.400: <-- 554 5.7.1 spam score too high\n"
    " Tue 2025-03-04 09:13:40.401: --> QUIT\n"
    "--- End Transcript ---\n"
)


def test_mdaemon_transcript_gives_each_refused_recipient_its_reply() -> None:
    data = bounce(
        MDAEMON_TRANSCRIPT,
        sender="MDaemon@mail.example.net",
        Subject="Permanent Delivery Failure",
    )

    records = parse(data).records

    assert [r.recipient for r in records] == ["mark@example.org", "anne@example.org"]
    mark, anne = records
    assert (mark.status, mark.smtp_code, mark.smtp_command) == ("5.1.1", 550, "RCPT")
    assert mark.diagnostic == "550 5.1.1 <mark@example.org>: User unknown"
    assert (anne.status, anne.smtp_code, anne.smtp_command) == ("5.7.1", 554, "DATA")
    assert anne.diagnostic == "554 5.7.1 Message refused: spam score too high"
    assert {r.remote_mta for r in records} == {"mx.example.org"}
    assert all(r.action == "failed" and r.dialect == "mdaemon" for r in records)


def test_groupwise_reason_in_parentheses_is_each_recipients_own() -> None:
    data = bounce(
        "  The message that you sent was undeliverable to the following:\n"
        "        rjones@example.org (user not found)\n"
        "        clerk@example.net (host not found)\n\n"
        "  Possible Reason: The user ID of the recipient is invalid or the user has "
        "been deleted.\n\n"
        "  Possibly truncated original message follows:\n\n"
        "From: news@sender.example\nTo: rjones@example.org, clerk@example.net\n"
        "Message-ID: <m2@sender.example>\nSubject: Offer\n\nhello\n",
        sender="postmaster@gw.example.org",
        Subject="Message status - undeliverable",
    )

    records = parse(data).records

    assert [(r.recipient, r.diagnostic) for r in records] == [
        ("rjones@example.org", "user not found"),
        ("clerk@example.net", "host not found"),
    ]
    assert records[0].original_message_id == "<m2@sender.example>"


def test_exchange_2010_names_the_remote_server_before_its_hashed_reply() -> None:
    data = bounce(
        "Delivery has failed to these recipients or groups:\n\n"
        "olga@example.org\nThe e-mail address you entered couldn't be found.\n\n"
        "Diagnostic information for administrators:\n\n"
        "Generating server: EXHUB01.corp.local\n\n"
        "olga@example.org\n"
        "mx.example.org #550 5.1.1 <olga@example.org>: User unknown ##\n\n"
        "local@example.net\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n",
        sender="MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.net",
        Subject="Undeliverable: Offer",
    )

    records = {r.recipient: r for r in parse(data).records}

    assert records["olga@example.org"].remote_mta == "mx.example.org"
    assert records["olga@example.org"].smtp_code == 550
    assert records["local@example.net"].remote_mta is None


def test_domino_reason_leaves_out_the_template_word_because() -> None:
    data = bounce(
        "Your message\n\n  Subject: Offer\n\nwas not delivered to:\n\n"
        "  jdoe@example.org\n\nbecause:\n\n"
        "  User jdoe (jdoe@example.org) not listed in Domino Directory\n",
        sender="Postmaster@example.org",
        Subject="DELIVERY FAILURE: User jdoe (jdoe@example.org) not listed in Domino Directory",
    )

    [record] = parse(data).records

    assert record.dialect == "notes"
    assert record.diagnostic == "User jdoe (jdoe@example.org) not listed in Domino Directory"


def _records(raw: bytes) -> list[dict[str, object]]:
    return [r.model_dump() for r in parse(raw).records]


def test_exim_deferral_notice_is_a_delay() -> None:
    raw = bounce(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a temporary error. The following address(es) deferred:\n\n"
        "  user@example.org\n"
        "    Domain example.net has exceeded the max emails per hour (124/100 (124%)) allowed."
        "  Message will be reattempted later\n",
        Subject="Mail delivery deferred: returning message to sender",
    )
    [record] = _records(raw)
    assert record["recipient"] == "user@example.org"
    assert record["action"] == "delayed"
    assert str(record["diagnostic"]).startswith("Domain example.net has exceeded")


def test_postfix_delay_notice_is_a_delay_without_its_intro() -> None:
    raw = bounce(
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n\n"
        "Your message could not be delivered for more than 12 hour(s).\n"
        "It will be retried until it is 2 day(s) old.\n\n"
        "                   The mail system\n\n"
        "<list@example.org>: connect to example.org[192.0.2.1]:25: Connection timed\n"
        "    out\n",
        Subject="Mail delivery problem",
    )
    [record] = _records(raw)
    assert (record["recipient"], record["action"], record["dialect"]) == (
        "list@example.org",
        "delayed",
        "postfix",
    )


def test_postfix_delay_notice_pasted_from_its_first_sentence() -> None:
    raw = bounce(
        "Your message could not be delivered for more than 2 hour(s).\n"
        "It will be retried until it is 5 day(s) old.\n\n"
        "                   The mail system\n\n"
        "<user@example.org>: host mx.example.org[192.0.2.5] said: 451 4.3.0\n"
        "    <user@example.org>: Temporary lookup failure (in reply to RCPT TO\n"
        "    command)\n",
        Subject="Mail delivery problem",
    )
    [record] = _records(raw)
    assert (record["action"], record["dialect"], record["status"]) == (
        "delayed",
        "postfix",
        "4.3.0",
    )


def test_postfix_success_notice_is_a_delivery_not_a_failure() -> None:
    raw = bounce(
        "This is the mail system at host mail.sender.example.\n\n"
        "Your message was successfully delivered to the destination(s)\n"
        "listed below. If the message was delivered to mailbox you will\n"
        "receive no further notifications. Otherwise you may still receive\n"
        "notifications of mail delivery errors from other systems.\n\n"
        "                   The mail system\n\n"
        "<user@example.org>: delivery via mx.example.org[192.0.2.10]:25: 250 ok:\n"
        "    Message 4333344 accepted\n",
        Subject="Successful Mail Delivery Report",
    )
    [record] = parse(raw).records
    assert (record.kind, record.action, record.recipient, record.smtp_code) == (
        RecordKind.DELIVERED,
        "delivered",
        "user@example.org",
        250,
    )


def test_gmail_legacy_notice_reports_the_remote_reply() -> None:
    raw = bounce(
        "Delivery to the following recipient failed permanently:\n\n"
        "     user@example.org\n\n"
        "Technical details of permanent failure:\n"
        "Google tried to deliver your message, but it was rejected by the server for the "
        "recipient domain example.org by mx.example.org. [192.0.2.6].\n\n"
        "The error that the other server returned was:\n"
        "550 #5.1.0 Address rejected.\n",
        sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        Subject="Delivery Status Notification (Failure)",
    )
    [record] = _records(raw)
    assert record["diagnostic"] == "550 #5.1.0 Address rejected."
    assert record["remote_mta"] == "mx.example.org"
    assert (record["status"], record["smtp_code"]) == ("5.1.0", 550)


def test_a_localized_sender_label_does_not_name_a_failed_recipient() -> None:
    raw = bounce(
        "> 您发送的邮件被退回，相关信息如下：\n"
        ">     发件人：mail@example.cn\n"
        ">     主题：test\n"
        "> \n"
        "> 无法发送到admin@example.com\n"
        '>     系统应答：(9)connect to the "192.0.2.34(192.0.2.34) of example.com" server '
        "failed\n",
        sender="postmaster@example.cn",
        Subject="Undeliverable",
    )
    assert [r["recipient"] for r in _records(raw)] == ["admin@example.com"]


def test_stalwart_names_the_refused_command_and_the_remote_server() -> None:
    records = parse(CASES["stalwart"][0]).records

    assert [(r.smtp_command, r.remote_mta) for r in records] == [
        ("RCPT", "mx.example.org"),
        ("DATA", "mx.example.org"),
    ]


def test_a_pasted_report_cut_after_its_first_block_keeps_the_notices_other_recipients() -> None:
    data = bounce(
        "Your message could not be delivered to the following recipients:\n\n"
        "<one@example.org> (host 'mx.example.org' rejected command 'DATA' with code 550"
        " (0.0.0) 'Client host blocked using bl.example')\n"
        "<two@example.org> (host 'mx.example.org' rejected command 'DATA' with code 550"
        " (0.0.0) 'Client host blocked using bl.example')\n\n"
        "Reporting-MTA: dns;mx.example.net\n\n"
        "Final-Recipient: rfc822;one@example.org\nAction: failed\nStatus: 5.5.0\n"
        "Diagnostic-Code: smtp;550 Client host blocked using bl.example\n",
        sender="Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
        Subject="Failed to deliver message",
    )

    records = parse(data).records

    assert [(r.recipient, r.smtp_code, r.dialect) for r in records] == [
        ("one@example.org", 550, "rfc3464"),
        ("two@example.org", 550, "stalwart"),
    ]


def test_pasted_report_fields_are_not_the_reason_the_notice_gives() -> None:
    data = bounce(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  someone@example.org\n    retry timeout exceeded\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Action: failed\nFinal-Recipient: rfc822;someone@example.org\nStatus: 5.0.0\n",
        Subject="Mail delivery failed: returning message to sender",
    )

    [record] = parse(data).records

    assert (record.status, record.diagnostic) == ("5.0.0", "retry timeout exceeded")


def test_exchange_names_the_remote_host_between_the_address_and_its_wrapped_reply() -> None:
    # Exchange 2010-2016: address, remote host, then the reply that wraps the remote one
    data = bounce(
        "Diagnoseinformationen f\u00fcr Administratoren:\n\n"
        "Generierender Server: ex01.example.net\n\n"
        "user@example.org\nmx.example.org\n"
        "Remote server returned '554 5.0.0 <mx.example.org #5.0.0 smtp; 550-5.7.1 "
        "Messages with multiple addresses in From: header are not accepted>'\n",
        sender="Microsoft Outlook <postmaster@example.net>",
        Subject="Unzustellbar: Offer",
    )

    [record] = parse(data).records

    assert (record.recipient, record.status, record.smtp_code, record.remote_mta) == (
        "user@example.org",
        "5.7.1",
        550,
        "mx.example.org",
    )


def test_a_pasted_google_groups_notice_names_the_group_from_the_quoted_received_line() -> None:
    # no X-Failed-Recipients, the original quoted with "> " and cut before its To header
    data = bounce(
        "> Bonjour,\n"
        "> Il se peut que le groupe que vous avez essay\u00e9 de contacter (team) n'existe pas.\n"
        ">   Merci,\n"
        ">   Google Groups\n"
        "> \n"
        "> ----- Original message -----\n"
        "> Return-Path: <news@sender.example>\n"
        "> Received: from mx.sender.example (mx.sender.example. [192.0.2.8])\n"
        ">         by gmr-mx.google.com with ESMTP id x1\n"
        ">         for team@googlegroups.com;\n"
        ">         Sun, 15 Jun 2014 07:01:12 -0700 (PDT)\n",
        sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        Subject="Delivery Status Notification (Failure)",
    )

    [record] = parse(data).records

    assert (record.recipient, record.dialect) == ("team@googlegroups.com", "googlegroups")
