"""RFC 3834 auto-replies are recognised (and told apart from bounces)."""

from __future__ import annotations

import pytest

from processor.intake import RecordKind, parse
from tests.unit.intake.conftest import message


def test_vacation_reply_is_an_autoreply_for_its_sender() -> None:
    data = message(
        {
            "From": "Jane <Jane@Example.org>",
            "To": "news@sender.example",
            "Subject": "Out of Office: Spring offer",
            "Auto-Submitted": "auto-replied",
            "Date": "Mon, 2 Mar 2026 08:00:00 +0100",
        },
        "I am out of the office until Monday.\n",
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.AUTOREPLY, "jane@example.org")]
    assert records[0].event_time is not None


def test_subject_alone_identifies_an_automatic_reply() -> None:
    data = message(
        {"From": "bob@example.net", "To": "x@sender.example", "Subject": "Automatic reply: Hi"},
        "Thanks for your message.\n",
    )

    assert parse(data).records[0].kind is RecordKind.AUTOREPLY


def test_a_bounce_with_auto_submitted_is_still_a_bounce() -> None:
    data = message(
        {
            "From": "MAILER-DAEMON@mx.sender.example",
            "To": "news@sender.example",
            "Subject": "failure notice",
            "Auto-Submitted": "auto-replied",
        },
        "Hi. This is the qmail-send program at mx.sender.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<gone@example.org>:\n"
        "192.0.2.5 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <gone@example.org>: No such user\n",
    )

    record = parse(data).records[0]

    assert record.kind is RecordKind.DSN
    assert (record.recipient, record.status, record.smtp_code) == ("gone@example.org", "5.1.1", 550)


def test_ordinary_mail_is_not_a_bounce() -> None:
    data = message(
        {"From": "friend@example.org", "To": "me@example.net", "Subject": "Lunch?"},
        "Shall we meet at noon?\n",
    )

    result = parse(data)

    assert result.error is not None and result.error.error_class == "not_a_bounce"


def test_a_human_reply_naming_addresses_is_not_a_bounce() -> None:
    data = message(
        {"From": "reader@example.org", "To": "news@sender.example", "Subject": "Re: Offer"},
        "Please write to my new address new@example.net, I have permanently moved.\n",
    )

    result = parse(data)

    assert result.error is not None and result.error.error_class == "not_a_bounce"


@pytest.mark.parametrize(
    "subject",
    [
        "Automatische Antwort: Angebot Mai",
        "Automatiskt svar: Offert",
        "Automaattinen vastaus: Tarjous",
        "Automatyczna odpowiedź: Oferta",
        "Resposta automática: Oferta",
        "=?utf-8?Q?R=C3=A9ponse_automatique=C2=A0:_Offre?=",
        "=?UTF-8?B?6Ieq5YuV5b+c562UOiDmlrDnnYDllYblk4E=?=",
    ],
)
def test_localized_automatic_reply_subjects(subject: str) -> None:
    data = message(
        {"From": "Kim <kim@example.de>", "To": "news@sender.example", "Subject": subject},
        "Ich bin bis zum 10.05. nicht im Buero.\n",
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.AUTOREPLY, "kim@example.de")]


def test_an_auto_reply_quoting_a_bounce_is_still_an_auto_reply() -> None:
    data = message(
        {
            "From": "dan@newco.example",
            "To": "news@sender.example",
            "Subject": "Re: Digest",
            "Auto-Submitted": "auto-replied",
        },
        "I have left OldCo. Mail to my old address dan@oldco.example is returned with\n"
        '"550 5.1.1 User unknown". Please update your address book.\n',
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.AUTOREPLY, "dan@newco.example")]


def test_a_challenge_response_request_is_not_a_failure() -> None:
    data = message(
        {"From": "hana@verified.example", "To": "news@sender.example", "Subject": "Re: Digest"},
        "I use a challenge-response system against spam. Your message is held until you\n"
        "confirm you are a human: https://verify.verified.example/c/1\n",
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [
        (RecordKind.AUTOREPLY, "hana@verified.example")
    ]


def test_a_post_held_for_list_moderation_is_not_a_failed_list_address() -> None:
    data = message(
        {
            "From": "team-owner@lists.example.org",
            "To": "news@sender.example",
            "Subject": "Your message to team@lists.example.org awaits moderator approval",
            "X-Mailman-Version": "2.1.39",
        },
        "Your mail to 'team@lists.example.org' with the subject\n\n    Digest\n\n"
        "Is being held until the list moderator can review it for approval.\n\n"
        "The reason it is being held:\n\n    Post by non-member to a members-only list\n",
    )

    records = parse(data).records

    assert [r.kind for r in records] == [RecordKind.AUTOREPLY]
    assert records[0].recipient == "team-owner@lists.example.org"


def test_a_list_refusal_is_still_a_failure() -> None:
    data = message(
        {
            "From": "team-owner@lists.example.org",
            "To": "news@sender.example",
            "Subject": "Your message to team@lists.example.org was rejected",
        },
        "You are not a member of this mailing list <team@lists.example.org>.\n",
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.DSN, "team@lists.example.org")]


@pytest.mark.parametrize(
    "body",
    [
        "I am out of the office until 30/09/2013.\n\n"
        'Note: This is an automated response to your message "Re: Digest".\n',
        "vom 25.12. bis zum 05.01. bin ich nicht im Büro zu erreichen.\n",
        "这是来自QQ邮箱的假期自动回复邮件。\n您好，我最近正在休假中，无法亲自回复您的邮件。\n",
    ],
)
def test_an_absence_notice_without_auto_reply_headers_is_an_auto_reply(body: str) -> None:
    data = message(
        {"From": "Kim <kim@example.org>", "To": "news@sender.example", "Subject": "Re: Digest"},
        body,
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.AUTOREPLY, "kim@example.org")]


def test_absence_words_in_a_bounce_do_not_make_it_an_auto_reply() -> None:
    data = message(
        {"From": "postmaster@example.org", "To": "news@sender.example", "Subject": "Re: Digest"},
        "Your message could not be delivered to gone@example.org (out of office\n"
        "forwarding failed): 550 5.1.1 User unknown\n",
    )

    record = parse(data).records[0]

    assert (record.kind, record.recipient) == (RecordKind.DSN, "gone@example.org")


def test_a_quarantine_deleted_unless_the_sender_authenticates_is_not_a_failure() -> None:
    data = message(
        {"From": "lu@example.it", "To": "news@sender.example", "Subject": "Re: Digest"},
        "Your message is held in a quarantine area, where it will remain for one week, after\n"
        "which it will be deleted if not authenticated by you. To authenticate it, reply.\n",
    )

    records = parse(data).records

    assert [(r.kind, r.recipient) for r in records] == [(RecordKind.AUTOREPLY, "lu@example.it")]
