"""The entry point: format sniffing, byte cap, encodings and the never-raise contract."""

from __future__ import annotations

from processor.intake import IntakeOptions, RecordKind, parse
from tests.unit.intake.conftest import message

QMAIL_BODY = (
    "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
    "<gone@example.org>:\nRemote host said: 550 5.1.1 No such user\n"
)


def test_input_above_the_cap_is_refused_without_parsing() -> None:
    result = parse(b"x" * 101, options=IntakeOptions(max_bytes=100))

    assert result.error is not None and result.error.error_class == "too_large"
    assert "101" in result.error.message


def test_empty_and_non_bytes_inputs_are_errors() -> None:
    empty = parse(b"  \n")
    not_bytes = parse("text")  # type: ignore[arg-type]

    assert empty.error is not None and empty.error.error_class == "empty"
    assert not_bytes.error is not None and not_bytes.error.error_class == "bad_input"


def test_unknown_format_is_an_error() -> None:
    result = parse(b"From: a@example.org\n\nhi", format="yaml")

    assert result.error is not None and result.error.error_class == "bad_format"


def test_forced_email_format_does_not_sniff_json() -> None:
    result = parse(b'{"recipient": "a@example.org", "diagnostic": "550"}', format="email")

    assert result.error is not None and result.error.error_class != "bad_json"


def test_undeclared_8bit_headers_and_latin1_body_are_decoded() -> None:
    data = (
        "From: MAILER-DAEMON@mx.example.net\nTo: news@sender.example\n"
        "Subject: Unzustellbar: Grüße\n\n" + QMAIL_BODY + "Grüße\n"
    ).encode("latin-1")

    record = parse(data).records[0]

    assert record.recipient == "gone@example.org"
    assert record.bounce_subject == "Unzustellbar: Grüße"


def test_base64_utf8_text_part_is_decoded() -> None:
    import base64

    encoded = base64.encodebytes(QMAIL_BODY.encode()).decode()
    data = message(
        {
            "From": "MAILER-DAEMON@mx.example.net",
            "To": "news@sender.example",
            "Subject": "failure notice",
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Transfer-Encoding": "base64",
        },
        encoded,
    )

    record = parse(data).records[0]

    assert (record.recipient, record.status) == ("gone@example.org", "5.1.1")


def test_headers_only_input_is_not_a_bounce() -> None:
    result = parse(b"Subject: hello\n")

    assert result.error is not None and result.error.error_class == "not_a_bounce"


def test_recipient_is_lower_cased_and_stripped() -> None:
    data = message(
        {"From": "MAILER-DAEMON@mx.example.net", "To": "n@sender.example", "Subject": "failure"},
        QMAIL_BODY.replace("<gone@example.org>", "<Gone@Example.ORG>"),
    )

    record = parse(data).records[0]

    assert record.recipient == "gone@example.org"
    assert record.kind is RecordKind.DSN
