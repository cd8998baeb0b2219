# ruff: noqa: E501  (a table of real-looking provider responses)
"""The default rule set: every example, and each provider family on its own wording."""

from __future__ import annotations

import pytest

from processor.qualify import Engine
from processor.qualify.lint import run_examples

from .conftest import smtp


def test_all_default_examples_pass(engine: Engine) -> None:
    report = run_examples(engine.ruleset)
    assert report.checked > 200
    assert report.failures == []


FAMILIES = [
    # (family, diagnostic, expected detail)
    ("gmail", "550-5.1.1 The email account that you tried to reach does not exist.", "userunknown"),
    (
        "gmail",
        "550 5.7.26 Gmail requires all senders to authenticate with SPF or DKIM",
        "authfailure",
    ),
    (
        "outlook",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "userunknown",
    ),
    ("outlook", "550 5.7.606 Access denied, banned sending IP [192.0.2.1].", "blocked"),
    (
        "o365",
        "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
        "mailboxfull",
    ),
    (
        "yahoo",
        "554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0]",
        "userunknown",
    ),
    (
        "aol",
        "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to user complaints",
        "badreputation",
    ),
    ("icloud", "552 5.2.2 <a@icloud.com>: user is over quota", "mailboxfull"),
    ("comcast", "550 5.1.1 <a@comcast.net> Not our Customer", "userunknown"),
    ("gmx", "554 invalid DNS PTR resource record, IP=192.0.2.1", "requireptr"),
    (
        "web.de",
        "554-Reject due to policy restrictions. For explanation visit https://postmaster.web.de/en/error-messages",
        "blocked",
    ),
    (
        "orange",
        "552 5.2.2 Boite du destinataire pleine. Recipient mailbox full. OFR_417 [417]",
        "mailboxfull",
    ),
    (
        "mail.ru",
        "550 Message was not accepted -- invalid mailbox. Local mailbox a@mail.ru is unavailable: user not found",
        "userunknown",
    ),
    ("yandex", "550 5.7.1 No such user!", "userunknown"),
    # SoftBank's reply for an address that does not exist, as a sender's note lists it:
    # https://note.com/sendmagic/n/n5afbf98aeb25
    ("softbank", "550 Invalid recipient: <user@i.softbank.jp>", "userunknown"),
    (
        "qq",
        "550 Ip frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1",
        "ratelimited",
    ),
    (
        "163",
        "554 DT:SPM 163 mx14, please see http://mail.163.com/help/help_spam_16.htm",
        "spamdetected",
    ),
    ("zoho", "550 5.1.1 User does not exist - <a@zoho.com>", "userunknown"),
    ("proton", "550 5.1.1 <a@proton.me>: Recipient address rejected: Address disabled", "suspend"),
    (
        "postfix",
        "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual alias table",
        "userunknown",
    ),
    (
        "sendmail",
        "550 5.1.2 Host unknown (Name server: mx.example.jp: host not found)",
        "hostunknown",
    ),
    ("exim", "retry timeout exceeded", "expired"),
    ("exchange", "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", "userunknown"),
    ("generic", "554 5.7.1 <a@example.com>: Relay access denied", "norelaying"),
    (
        "domino",
        "Router: No route found to domain example.cmo from server MAIL01/ACME.",
        "hostunknown",
    ),
    (
        "mailenable",
        "The message could not be delivered because the domain name (example.cmo) does not"
        " appear to be registered.",
        "hostunknown",
    ),
    (
        "hmailserver",
        "Error Type: SMTP Error Description: No mail servers appear to exists for the recipients address.",
        "hostunknown",
    ),
    (
        "ironport",
        "Your message was not delivered because the destination computer was not reachable within the allowed queue period. Your message was not delivered within 3 days: Host 192.0.2.1 is not responding.",
        "expired",
    ),
    (
        "barracuda",
        "Your message to: a@example.org was blocked by our Spam Firewall. Reason: Message content rejected, UBE, id=12345-02-7",
        "spamdetected",
    ),
    (
        "mimecast",
        "Reason: 550 Rejected by header based Blocked Senders - block policy for Header From - https://community.mimecast.com/docs/DOC-1369#550",
        "rejected",
    ),
]


@pytest.mark.parametrize(("family", "diagnostic", "detail"), FAMILIES)
def test_provider_families(engine: Engine, family: str, diagnostic: str, detail: str) -> None:
    q = engine.qualify(smtp(diagnostic))
    assert q.detail == detail, f"{family}: decided by {q.rule_id}"


@pytest.mark.parametrize(
    "diagnostic",
    [
        "552 5.2.2 Mailbox over quota",  # mailbox full is never hard
        "550 5.4.5 Daily user sending quota exceeded",  # our quota, not the mailbox's
    ],
)
def test_not_hard(engine: Engine, diagnostic: str) -> None:
    assert engine.qualify(smtp(diagnostic)).failure_type.value == "soft"
