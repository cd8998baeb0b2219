"""Relay-side suppression (Sisimai 5 reason ``suppressed``): the sending relay refuses an
address that is on its suppression list. The texts are the relays' own, as pasted publicly
(the source of each is next to it); none comes from Sisimai's samples or another parser's
fixtures. Such an address is quarantined at once (hard, user_unknown): the relay refuses
it until someone removes it from the list."""

from __future__ import annotations

import json

import pytest

from processor.intake import parse
from processor.intake.smtp_record import parse_smtp_record
from processor.qualify import Engine
from tests.unit.intake.conftest import message

QUARANTINED = ("suppressed", "hard", "user_unknown")

DIAGNOSTICS = [
    # Mailgun failed event, delivery-status code 605, reason suppress-bounce:
    # https://pastebin.com/PBCjgYGX
    "Not delivering to previously bounced address",
    # Amazon SES, global suppression list: https://github.com/pypi/warehouse/issues/18501
    "Amazon SES has suppressed sending to this address because it has a recent history of"
    " bouncing as an invalid address. For more information about how to remove an address"
    " from the suppression list, see the Amazon SES Developer Guide:"
    " http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html",
    # Amazon SES, account-level list ("SES accepts the message, but doesn't send it":
    # https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html)
    "Amazon SES did not send the message to this address because it is on the suppression"
    " list for your account.",
    # SparkPost: https://github.com/karrot-dev/karrot-frontend/issues/1134 and
    # https://support.moonpoint.com/blog//blosxom/2020/04/20
    "554 5.7.1 recipient address was suppressed due to customer policy",
    "554 5.7.1 [internal] recipient address was suppressed due to customer policy",
    # SparkPost API error 1902: https://github.com/karrot-dev/karrot-backend/issues/294
    "recipient address was suppressed due to system policy",
    # SendGrid drop reason: https://pastebin.com/QE09nfJ9
    "Bounced Address",
    # Postmark API error 406: https://github.com/ActiveCampaign/postmark-gem/issues/128
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive"
    " addresses: user@example.com. Inactive recipients are ones that have generated a hard"
    " bounce, a spam complaint, or a manual suppression.",
]


@pytest.mark.parametrize("diagnostic", DIAGNOSTICS)
def test_a_relay_suppression_in_an_smtp_record_quarantines(engine: Engine, diagnostic: str) -> None:
    result = parse_smtp_record({"recipient": "user@example.com", "diagnostic": diagnostic})
    assert result.error is None
    q = engine.qualify(result.records[0])
    assert (q.detail, q.failure_type.value, q.reason.value) == QUARANTINED


def _ses_notification(sub_type: str, diagnostic: str | None) -> bytes:
    """An SNS-wrapped SES bounce notification of the shape pasted at
    https://pastebin.com/GaJQvnXR (bounceType Permanent, bounceSubType Suppressed,
    status 5.1.1, reportingMTA "dns; amazonses.com")."""
    recipient = {"emailAddress": "user@example.com", "action": "failed", "status": "5.1.1"}
    if diagnostic is not None:
        recipient["diagnosticCode"] = diagnostic
    inner = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": sub_type,
            "bouncedRecipients": [recipient],
            "timestamp": "2017-12-28T07:06:37.106Z",
            "reportingMTA": "dns; amazonses.com",
        },
        "mail": {"messageId": "0101-abc", "destination": ["user@example.com"]},
    }
    envelope = {"Type": "Notification", "Message": json.dumps(inner)}
    return message(
        {
            "From": "no-reply@sns.amazonaws.com",
            "To": "news@sender.example",
            "Subject": "AWS Notification Message",
        },
        json.dumps(envelope, indent=2),
    )


@pytest.mark.parametrize(
    ("sub_type", "diagnostic"),
    [
        ("Suppressed", "Amazon SES has suppressed sending to this ..."),  # as pasted, cut
        ("Suppressed", None),
        ("OnAccountSuppressionList", None),
    ],
)
def test_an_amazon_ses_suppression_bounce_quarantines(
    engine: Engine, sub_type: str, diagnostic: str | None
) -> None:
    records = parse(_ses_notification(sub_type, diagnostic)).records
    assert [r.recipient for r in records] == ["user@example.com"]
    q = engine.qualify(records[0])
    assert (q.detail, q.failure_type.value, q.reason.value) == QUARANTINED


def test_an_ordinary_ses_bounce_is_not_a_suppression(engine: Engine) -> None:
    records = parse(_ses_notification("General", "smtp; 550 5.1.1 user unknown")).records
    assert engine.qualify(records[0]).detail == "userunknown"


def test_mailguns_code_605_is_no_smtp_reply_code(engine: Engine) -> None:
    """Mailgun's delivery-status code for a suppressed address is 605 (not an SMTP reply
    code, https://pastebin.com/PBCjgYGX): logged as the record's smtp_code, it is dropped
    and the description still decides."""
    result = parse_smtp_record(
        {
            "recipient": "user@example.com",
            "diagnostic": "Not delivering to previously bounced address",
            "smtp_code": 605,
        }
    )
    record = result.records[0]
    assert record.smtp_code is None
    assert engine.qualify(record).detail == "suppressed"
