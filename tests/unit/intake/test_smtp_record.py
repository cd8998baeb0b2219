"""Synchronous SMTP rejection records (JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.intake import RecordKind, parse, parse_smtp_record, smtp_record
from processor.memo import Memo
from processor.qualify import load_engine


def test_full_record() -> None:
    result = parse_smtp_record(
        {
            "recipient": "<User@Example.COM>",
            "diagnostic": "550 5.1.1 <user@example.com>: Recipient address rejected",
            "smtp_code": 550,
            "enhanced_status": "5.1.1",
            "mx": "mx1.example.com",
            "sending_ip": "198.51.100.7",
            "timestamp": "2026-03-01T12:00:00Z",
            "message_id": "<m1@sender.example>",
            "campaign": "spring",
            "attempt": 3,
        }
    )

    record = result.records[0]
    assert record.kind is RecordKind.SMTP
    assert record.recipient == "user@example.com"
    assert (record.smtp_code, record.status) == (550, "5.1.1")
    assert (record.mx, record.sending_ip) == ("mx1.example.com", "198.51.100.7")
    assert record.event_time == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert record.original_message_id == "<m1@sender.example>"
    assert record.metadata == {"campaign": "spring", "attempt": "3"}


def test_reply_code_and_status_are_read_from_the_diagnostic() -> None:
    record = parse_smtp_record(
        {"recipient": "a@example.org", "diagnostic": "452-4.2.2 The email account is over quota"}
    ).records[0]

    assert (record.smtp_code, record.status) == (452, "4.2.2")


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1772366400, datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (1772366400000, datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("Sun, 01 Mar 2026 12:00:00 +0000", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(timestamp: object, expected: datetime) -> None:
    record = parse_smtp_record(
        {"recipient": "a@example.org", "diagnostic": "550 no", "timestamp": timestamp}
    ).records[0]

    assert record.event_time == expected


@pytest.mark.parametrize(
    ("obj", "error_class"),
    [
        ({"diagnostic": "550 no"}, "missing_field"),
        ({"recipient": "a@example.org"}, "missing_field"),
        ({"recipient": "not an address", "diagnostic": "550"}, "bad_recipient"),
        (["a@example.org"], "bad_record"),
    ],
)
def test_invalid_records_are_errors(obj: object, error_class: str) -> None:
    result = parse_smtp_record(obj)

    assert result.error is not None and result.error.error_class == error_class
    assert result.records == []


def test_parse_sniffs_json_and_reports_bad_json() -> None:
    good = json.dumps({"recipient": "a@example.org", "diagnostic": "550 5.7.1 blocked"}).encode()

    assert parse(good).records[0].status == "5.7.1"
    bad = parse(b'{"recipient": ')
    assert bad.error is not None and bad.error.error_class == "bad_json"


@pytest.mark.parametrize("separator", ["\r\n", "\n", " ", "; "])
def test_a_multi_line_reply_logged_as_one_string_is_joined(separator: str) -> None:
    lines = [
        "550-5.1.1 The email account that you tried to reach does not exist. Please try",
        "550-5.1.1 double-checking the recipient's email address for typos or",
        "550 5.1.1  unnecessary spaces. x12si345 - gsmtp",
    ]
    record = parse_smtp_record(
        {"recipient": "a@example.org", "diagnostic": separator.join(lines), "smtp_code": "550"}
    ).records[0]

    assert record.diagnostic == (
        "550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "x12si345 - gsmtp"
    )
    assert (record.smtp_code, record.status) == (550, "5.1.1")


@pytest.mark.parametrize(
    ("stated", "code", "diagnostic", "expected"),
    [
        # a class only: the reply's own status says more
        ("5.0.0", 550, "550 5.7.509 Access denied, sending domain fails DMARC", "5.7.509"),
        # a class that contradicts the reply code: the server's words win
        ("4.0.0", 550, "550 5.1.1 <a@example.org>: User unknown", "5.1.1"),
        (" 5.2.2 ", " 552 ", "552 5.2.2 Mailbox size limit exceeded", "5.2.2"),
        # a specific stated status is kept
        ("5.1.1", 550, "550 5.7.1 rejected", "5.1.1"),
    ],
)
def test_stated_status_against_the_diagnostic(
    stated: str, code: object, diagnostic: str, expected: str
) -> None:
    record = parse_smtp_record(
        {
            "recipient": "a@example.org",
            "diagnostic": diagnostic,
            "smtp_code": code,
            "enhanced_status": stated,
        }
    ).records[0]

    assert record.status == expected


def test_a_recipient_that_is_not_utf8_is_an_error() -> None:
    line = b'{"recipient": "j\xe9r\xf4me@example.fr", "diagnostic": "550 5.1.1 User unknown"}'

    result = parse(line, format="json")

    assert result.error is not None and result.error.error_class == "bad_recipient"
    assert "UTF-8" in result.error.message and "j\\xe9r\\xf4me" in result.error.message
    assert result.records == []


def test_a_reply_logged_in_latin1_keeps_its_words() -> None:
    """Only the recipient must be UTF-8: 8-bit bytes elsewhere are read as Windows-1252."""
    line = (
        b'{"recipient": "a@example.fr", "diagnostic": "552 5.2.2 Bo\xeete pleine",'
        b' "site": "S\xe8te", "mx": "mx.example.fr"}'
    )

    record = parse(line, format="json").records[0]

    assert (record.diagnostic, record.status) == ("552 5.2.2 Boîte pleine", "5.2.2")
    assert record.metadata == {"site": "Sète"}


def test_a_byte_order_mark_is_allowed() -> None:
    line = b'\xef\xbb\xbf{"recipient": "a@example.org", "diagnostic": "550 5.1.1 unknown"}'

    assert parse(line, format="json").records[0].recipient == "a@example.org"


# JSON values as SMTP records carry them, with what orjson and json read differently:
# integers beyond 64 bits, floats, NaN / infinity, nesting, non-ASCII and escapes
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    extra=st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=4),
    bom=st.booleans(),
    latin1=st.booleans(),
)
def test_the_fast_json_reader_gives_what_the_standard_library_gives(
    extra: dict[str, object], bom: bool, latin1: bool
) -> None:
    record = {"recipient": "u@example.com", "diagnostic": "550 5.1.1 unknown", **extra}
    data = json.dumps(record, ensure_ascii=False).encode()
    if latin1:
        data = data.replace(b"unknown", b"unbekannt \xe4")  # a reply logged in Latin-1
    if bom:
        data = b"\xef\xbb\xbf" + data
    assert smtp_record.parse_json(data) == smtp_record._parse_json_slowly(data)


_BIG_INTEGER_RECORD = (
    b'{"recipient": "u@example.com", "diagnostic": "550 x", "id": 123456789012345678901234567890}'
)


@pytest.mark.parametrize(
    "data",
    [
        _BIG_INTEGER_RECORD,
        b'{"recipient": "u@example.com", "diagnostic": "550 x", "score": NaN}',
        b'{"recipient": "u@example.com", "diagnostic": "550 x \\ud800"}',
        b'\xef\xbb\xbf{"recipient": "u@example.com", "diagnostic": "550 x"}',
        b'{"recipient": "u@example.com", "diagnostic": ',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_json_that_orjson_reads_differently_or_refuses(data: bytes) -> None:
    assert smtp_record.parse_json(data) == smtp_record._parse_json_slowly(data)


def test_an_integer_beyond_64_bits_stays_whole_in_the_metadata() -> None:
    (record,) = smtp_record.parse_json(_BIG_INTEGER_RECORD).records
    assert record.metadata["id"] == "123456789012345678901234567890"


# -- the sending MTA's log text around the reply ------------------------------------------


@pytest.mark.parametrize(
    ("logged", "diagnostic", "command", "remote_mta"),
    [
        (  # Postfix delivery status: the reply, the host before it, the command after it
            "host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@example.com>: Recipient address"
            " rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)",
            "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in virtual"
            " mailbox table",
            "RCPT",
            "mx.example.com",
        ),
        (
            "host mx.example.com[2001:db8::25] said: 550 User unknown (in reply to end of DATA"
            " command)",
            "550 User unknown",
            "DATA",
            "mx.example.com",
        ),
        (  # the greeting refused
            "host mx.example.com[192.0.2.1] refused to talk to me: 554 5.7.1 mx.example.com"
            " ESMTP not accepting messages from 192.0.2.9",
            "554 5.7.1 mx.example.com ESMTP not accepting messages from 192.0.2.9",
            "CONN",
            "mx.example.com",
        ),
        (  # Postfix's own words, no reply: kept whole
            "lost connection with mx.example.org[192.0.2.3] while sending end of data --"
            " message may be sent more than once",
            "lost connection with mx.example.org[192.0.2.3] while sending end of data --"
            " message may be sent more than once",
            "DATA",
            "mx.example.org",
        ),
        (
            "delivery temporarily suspended: connect to mx.example.com[192.0.2.1]:25:"
            " Connection refused",
            "connect to mx.example.com[192.0.2.1]:25: Connection refused",
            None,
            "mx.example.com",
        ),
        (
            "TLS is required, but was not offered by host mx.example.com[192.0.2.1]",
            "TLS is required, but was not offered by host mx.example.com[192.0.2.1]",
            None,
            "mx.example.com",
        ),
        (  # Exim main log
            "** a@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1]: SMTP error"
            " from remote mail server after RCPT TO:<a@example.com>: 550 5.1.1 <a@example.com>:"
            " Recipient address rejected: User unknown in local recipient table",
            "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in local"
            " recipient table",
            "RCPT",
            "mx.example.com",
        ),
        (
            "== a@example.com R=dnslookup T=remote_smtp defer (-44) H=mx.example.com"
            " [192.0.2.1]: SMTP error from remote mail server after pipelined end of data:"
            " 452 4.2.2 Mailbox full",
            "452 4.2.2 Mailbox full",
            "DATA",
            "mx.example.com",
        ),
        (
            "SMTP error from remote mail server after MAIL FROM:<b@sender.example> SIZE=2516582:"
            " 552 5.3.4 Message size exceeds fixed maximum message size",
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "MAIL",
            None,
        ),
        (
            "** a@example.invalid: Unrouteable address",
            "Unrouteable address",
            None,
            None,
        ),
        (  # Sendmail
            "to=<a@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120315,"
            " relay=mx.example.com. [192.0.2.1], dsn=5.1.1, stat=User unknown",
            "User unknown",
            None,
            "mx.example.com",
        ),
        # PowerMTA, Amazon SES, Postmark: a DSN-style type before the reply
        (
            "smtp;550 5.1.1 <a@example.org>... User unknown",
            "550 5.1.1 <a@example.org>... User unknown",
            None,
            None,
        ),
        ("smtp; 552 5.2.2 Mailbox full", "552 5.2.2 Mailbox full", None, None),
        # Haraka outbound, in the words of its temp_fail / convert_temp_failed_to_bounce
        # (https://github.com/haraka/Haraka/blob/master/outbound/hmail.js): "Upstream
        # error: <code> <status> <text>", the command and host not named
        (
            "Upstream error: 421 4.7.0 Try again later, closing connection.",
            "421 4.7.0 Try again later, closing connection.",
            None,
            None,
        ),
        (
            "Too many failures (Upstream error: 451 4.7.1 Greylisted, please try again)",
            "451 4.7.1 Greylisted, please try again",
            None,
            None,
        ),
        (  # its log line (the queue file name as in https://github.com/haraka/Haraka/issues/2520)
            "Temp failing 1539758017236_1539762057544_6_23821_XrUdrN_11_mx.example.net for 4096"
            " seconds: Upstream error: 452 4.5.3 Too many recipients",
            "452 4.5.3 Too many recipients",
            None,
            None,
        ),
        ("Too many failures (Tried all MXs)", "Too many failures (Tried all MXs)", None, None),
    ],
)
def test_the_reply_is_read_out_of_the_log_text(
    logged: str, diagnostic: str, command: str | None, remote_mta: str | None
) -> None:
    record = parse_smtp_record({"recipient": "a@example.com", "diagnostic": logged}).records[0]

    assert record.diagnostic == diagnostic
    assert (record.smtp_command, record.remote_mta, record.mx) == (command, remote_mta, None)


def test_codes_come_from_the_reply_and_the_status_from_the_log_fields() -> None:
    exim = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "** a@example.com R=dnslookup T=remote_smtp H=mx.example.com"
            " [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@example.com>:"
            " 550 5.1.1 unknown",
        }
    ).records[0]
    sendmail = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "relay=mx.example.com., dsn=5.1.1, stat=Unknown",
        }
    ).records[0]

    assert (exim.smtp_code, exim.status) == (550, "5.1.1")
    assert (sendmail.diagnostic, sendmail.status, sendmail.smtp_code) == ("Unknown", "5.1.1", None)


def test_a_host_in_the_reply_is_not_the_remote_mta() -> None:
    """Postfix names the client as "host[ip]" in its reply: the server is the one before."""
    said = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "host mx.example.com[192.0.2.1] said: 554 5.7.1"
            " <mail.sender.example[198.51.100.7]>: Client host rejected: Access denied",
        }
    ).records[0]
    bare = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "554 5.7.1 <mail.sender.example[198.51.100.7]>: Client host rejected",
        }
    ).records[0]

    assert said.remote_mta == "mx.example.com"
    assert bare.remote_mta is None


# An internationalized (IDN) host name in the sending MTA's words: kept as written, its
# Unicode form (RFC 5890 U-labels; SMTPUTF8 logs and RFC 6533 DSN fields carry it so) or its
# A-label, lower-cased, in every lead-in the ASCII names are read after.
@pytest.mark.parametrize(
    "logged",
    [
        "host mx.bücher.example[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command)",
        "** a@example.com R=dnslookup T=remote_smtp H=mx.bücher.example [192.0.2.1]: SMTP error"
        " from remote mail server after RCPT TO:<a@example.com>: 550 5.1.1 unknown",
        "to=<a@example.com>, mailer=esmtp, relay=mx.bücher.example. [192.0.2.1], dsn=5.1.1,"
        " stat=User unknown",
        "connect to mx.bücher.example[192.0.2.1]:25: Connection refused",
        "lost connection with MX.Bücher.Example[192.0.2.1] while sending RCPT TO",
    ],
)
def test_an_internationalized_remote_host_is_kept(logged: str) -> None:
    record = parse_smtp_record({"recipient": "a@example.com", "diagnostic": logged}).records[0]

    assert record.remote_mta == "mx.bücher.example"


def test_an_internationalized_host_keeps_its_a_label_and_ends_at_an_ascii_label() -> None:
    a_label = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "connect to mx.xn--bcher-kva.example[192.0.2.1]:25: Connection refused",
        }
    ).records[0]
    # words run on after the name without a space (Japanese): no host rather than a wrong one
    run_on = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "lost connection with mx.example.comとの接続 x",
        }
    ).records[0]

    assert (a_label.remote_mta, run_on.remote_mta) == ("mx.xn--bcher-kva.example", None)


@pytest.mark.parametrize(
    ("mx", "expected"),
    [
        ("mx1.example.com", "mx1.example.com"),
        ("MX1.Example.COM.", "mx1.example.com"),
        ("mx.example.com:25", "mx.example.com"),
        ("mx.example.com[192.0.2.1]", "mx.example.com"),
        ("mx.example.com[192.0.2.1]:25", "mx.example.com"),
        ("mx.example.com [192.0.2.1]", "mx.example.com"),
        ("mx.example.org (192.0.2.5)", "mx.example.org"),
        ("dns; mx.example.org", "mx.example.org"),
        ("[192.0.2.1]", "192.0.2.1"),
        ("192.0.2.1:2525", "192.0.2.1"),
        ("[IPv6:2001:db8::1]", "2001:db8::1"),
        ("MX.Bücher.example[192.0.2.1]:25", "mx.bücher.example"),
    ],
)
def test_the_mx_is_a_host_name(mx: str, expected: str) -> None:
    record = parse_smtp_record(
        {"recipient": "a@example.com", "diagnostic": "550 5.1.1 unknown", "mx": mx}
    ).records[0]

    assert (record.mx, record.remote_mta) == (expected, expected)


def test_the_command_decides_the_detail() -> None:
    """A user-unknown reply to end of DATA is a content filter, one to RCPT a bad address;
    a refused greeting refuses the connecting host."""
    engine = load_engine()
    details = [
        engine.qualify(
            parse_smtp_record(
                {
                    "recipient": "a@example.com",
                    "diagnostic": f"host mx.example.com[192.0.2.1] said: 550 User unknown"
                    f" (in reply to {command} command)",
                }
            ).records[0]
        ).detail
        for command in ("RCPT TO", "end of DATA")
    ]

    greeting = parse_smtp_record(
        {
            "recipient": "a@example.com",
            "diagnostic": "host mx.example.com[192.0.2.1] refused to talk to me: 554 5.7.1"
            " mx.example.com ESMTP not accepting messages from 192.0.2.9",
        }
    ).records[0]

    assert details == ["userunknown", "filtered"]
    assert engine.qualify(greeting).detail == "blocked"


def test_a_recurring_reply_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = Memo[tuple[object, ...], object](16)
    monkeypatch.setattr(smtp_record, "_REPLIES", memo)
    logged = "host mx.example.net[192.0.2.9] said: 550-5.1.1 no such user 550 5.1.1 bye"
    records = [
        parse_smtp_record({"recipient": f"u{n}@example.net", "diagnostic": logged}).records[0]
        for n in range(3)
    ]
    assert (memo.misses, memo.hits, len(memo.entries)) == (1, 2, 1)
    assert {(r.diagnostic, r.status, r.smtp_code, r.remote_mta) for r in records} == {
        ("550 5.1.1 no such user bye", "5.1.1", 550, "mx.example.net")
    }
    assert [r.recipient for r in records] == ["u0@example.net", "u1@example.net", "u2@example.net"]


@pytest.mark.parametrize(
    "extra",
    [
        {"smtp_code": True},  # a bool is not the int 1 (nor kept as one)
        {"smtp_code": 550.0},
        {"mx": ["mx.example.net"]},
        {"diagnostic": "550 5.1.1 " + "no such user " * 100},  # too long to keep
    ],
)
def test_values_the_reply_memo_does_not_key_on_are_read_afresh(
    extra: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = Memo[tuple[object, ...], object](16)
    monkeypatch.setattr(smtp_record, "_REPLIES", memo)
    obj = {"recipient": "a@example.net", "diagnostic": "550 5.1.1 no such user", **extra}
    record = parse_smtp_record(obj).records[0]
    assert not memo.entries and memo.misses == 0
    fresh = smtp_record._read_reply(
        obj["diagnostic"], obj.get("smtp_code"), obj.get("enhanced_status"), obj.get("mx")
    )
    assert (record.diagnostic, record.smtp_code, record.status, record.mx) == (
        fresh.diagnostic,
        fresh.smtp_code,
        fresh.status,
        fresh.mx,
    )


def test_a_resting_reply_memo_reads_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = Memo[tuple[object, ...], object](16)
    memo.resting = 2
    monkeypatch.setattr(smtp_record, "_REPLIES", memo)
    for _ in range(3):
        parse_smtp_record({"recipient": "a@example.net", "diagnostic": "550 5.1.1 no user"})
    assert memo.resting == 0 and (memo.misses, len(memo.entries)) == (1, 1)
