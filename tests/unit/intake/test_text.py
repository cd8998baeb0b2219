"""Text helpers: the fast SMTP-command finder agrees with the plain regex definition."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from processor.intake.text import _COMMAND_NAMES, find_smtp_command, transcript_command
from tests.unit.intake.conftest import PIPELINED_TRANSCRIPT

# The definition: the last of these phrasings in the text names the command.
_REFERENCE = re.compile(
    r"\bin reply to (?:the )?(?P<a>RCPT TO|MAIL FROM|end of DATA|DATA|HELO|EHLO|message text|"
    r"BDAT)\b"
    r"|\b(?:after|during|while sending|in response to) (?:the |pipelined )?(?P<b>RCPT TO|MAIL FROM|"
    r"end of data|DATA|initial connection|HELO|EHLO|greeting|message data|BDAT)\b"
    r"|(?:^|\s)(?:>>>|-->|Sent <<<) (?P<c>RCPT|MAIL|DATA|HELO|EHLO|BDAT)\b"
    r"|\[(?P<d>RCPT_TO|MAIL_FROM|DATA)\]"
    r"|\b(?P<e>refused to talk to me)",
    re.IGNORECASE | re.MULTILINE,
)


def reference(text: str) -> str | None:
    found = None
    for match in _REFERENCE.finditer(text):
        word = next(group for group in match.groups() if group)
        found = _COMMAND_NAMES[word.lower()]
    return found


_PIECES = st.sampled_from(
    [
        "in reply to ",
        "In Reply To ",
        "after ",
        "AFTER ",
        "during ",
        "while sending ",
        "in response to ",
        ">>> ",
        "--> ",
        "Sent <<< ",
        "the ",
        "pipelined ",
        "refused to talk to me",
        "Refused To Talk To Me",
        "RCPT TO",
        "MAIL FROM",
        "end of DATA",
        "DATA",
        "data",
        "HELO",
        "EHLO",
        "message text",
        "message data",
        "initial connection",
        "greeting",
        "BDAT",
        "RCPT",
        "MAIL",
        "[RCPT_TO]",
        "[MAIL_FROM]",
        "[data]",
        "[",
        "]",
        " ",
        "\n",
        "x",
        "_",
        "550 5.1.1 unknown",
        "command",
        ".",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_smtp_command_finder_agrees_with_the_regex_definition(text: str) -> None:
    assert find_smtp_command(text) == reference(text), text


def test_smtp_command_examples() -> None:
    assert find_smtp_command("550 5.1.1 unknown (in reply to RCPT TO command)") == "RCPT"
    assert find_smtp_command("<<< 554 rejected\n>>> DATA\n") == "DATA"
    assert find_smtp_command("refused during the initial connection") == "CONN"
    assert find_smtp_command("said: 550 after RCPT TO, then in reply to end of DATA") == "DATA"
    assert find_smtp_command("xin reply to RCPT TO") is None
    assert find_smtp_command("SMTP error after pipelined end of data: 554 no") == "DATA"
    assert find_smtp_command("host mx.example.org[192.0.2.1] refused to talk to me: 554") == "CONN"
    assert find_smtp_command("no command named here") is None


@pytest.mark.parametrize(
    ("transcript", "recipient", "command"),
    [
        # the reply naming the recipient is the second of three: it answered RCPT, not
        # the DATA named last
        (PIPELINED_TRANSCRIPT, "user@example.org", "RCPT"),
        (
            PIPELINED_TRANSCRIPT.replace("<user@example.org>... User unknown", "User unknown"),
            "user@example.org",
            "RCPT",
        ),
        # two recipients, the second refused: its RCPT, not the first one's
        (
            ">>> MAIL From:<news@sender.example>\n>>> RCPT To:<a@example.org>\n"
            ">>> RCPT To:<b@example.org>\n>>> DATA\n<<< 250 2.1.0 Sender ok\n"
            "<<< 250 2.1.5 Recipient ok\n<<< 550 5.1.1 User unknown\n<<< 354 Enter mail\n",
            "b@example.org",
            "RCPT",
        ),
        # accepted, then the message refused after its end
        (
            ">>> MAIL From:<news@sender.example>\n>>> RCPT To:<user@example.org>\n>>> DATA\n"
            "<<< 250 2.1.0 Sender ok\n<<< 250 2.1.5 Recipient ok\n<<< 354 Enter mail\n"
            ">>> .\n<<< 554 5.7.1 Message rejected as spam\n554 5.0.0 Service unavailable\n",
            "user@example.org",
            "DATA",
        ),
        # the sender refused (the icglink page's ">>> MAIL From:<...>" case)
        (
            ">>> MAIL From:<news@sender.example>\n<<< 550 Access denied\n",
            "user@example.org",
            "MAIL",
        ),
        # multi-line replies count once
        (
            ">>> EHLO client.example.net\n<<< 250-mx.example.org\n<<< 250 PIPELINING\n"
            ">>> MAIL From:<news@sender.example>\n<<< 250 ok\n>>> RCPT To:<user@example.org>\n"
            "<<< 550-5.1.1 No such user\n<<< 550 5.1.1 see https://example.org/help\n",
            "user@example.org",
            "RCPT",
        ),
        # only the last command of the group echoed: read as answering it (Sisimai's reading)
        (
            ">>> DATA\n<<< 550 5.1.1 <user@example.org>... User unknown\n"
            "<<< 503 5.0.0 Need RCPT (recipient)\n",
            "user@example.org",
            "DATA",
        ),
        ("550 5.1.1 User unknown (in reply to RCPT TO command)", "user@example.org", None),
        (">>> DATA\n<<< 250 2.0.0 Ok: queued\n", "user@example.org", None),
    ],
)
def test_the_command_of_a_transcript_is_the_one_its_failed_reply_answered(
    transcript: str, recipient: str, command: str | None
) -> None:
    assert transcript_command(transcript, recipient) == command


_DATES = st.builds(
    lambda weekday, day, month, year, hour, minute, second, zone, comment: (
        f"{weekday}{day} {month} {year} {hour}:{minute}{second} {zone}{comment}"
    ),
    st.sampled_from(["", "Thu, ", "Mon,", "Sun, ", "thu, "]),
    st.sampled_from(["1", "09", "29", "31", "32", "0"]),
    st.sampled_from(["Jan", "Feb", "Apr", "Dec", "jan", "Foo"]),
    st.sampled_from(["2010", "1999", "0001", "9999", "10"]),
    st.sampled_from(["00", "23", "24", "9"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["", ":00", ":59", ":60", ":61"]),
    st.sampled_from(["+0900", "-0000", "+0000", "-0530", "+2359", "+9999", "GMT", "+09:00"]),
    st.sampled_from(["", " (JST)", " (UTC)", " (a (b))"]),
)


@given(_DATES)
def test_fast_date_reading_agrees_with_the_stdlib(text: str) -> None:
    from processor.intake.text import _parse_date_leniently, parse_date

    assert parse_date(text) == _parse_date_leniently(text), text
    fast, slow = parse_date(text), _parse_date_leniently(text)
    assert (fast and fast.utcoffset()) == (slow and slow.utcoffset()), text


_MARKER_PIECES = st.sampled_from(
    [
        "----- ",
        "-----",
        "=====",
        "> ",
        "| ",
        " ",
        "\t",
        "\n",
        "\n\n",
        "This is a copy of the message",
        "Original message",
        "original message follows",
        "The original message was received at",
        "Below this line is a copy",
        "Undelivered message",
        "returned message",
        "Original Message Headers",
        "Unsent message below",
        "Included is a copy of the message header",
        "Returned mail follows",
        "The header of the original message",
        "Content-Type: message/rfc822",
        "copy of",
        "x",
        "İ",
        "Subject: hello",
    ]
)


@given(st.lists(_MARKER_PIECES, max_size=14).map("".join))
def test_original_marker_finder_agrees_with_the_regex_search(text: str) -> None:
    from processor.intake.view import _ORIGINAL_MARKER, find_original_marker

    fast, plain = find_original_marker(text), _ORIGINAL_MARKER.search(text)
    assert (fast and fast.span()) == (plain and plain.span()), text


@given(st.text(alphabet="ab.'\"@-_ <>;:\nX9", max_size=40))
def test_find_addresses_agrees_with_normalising_each_match(text: str) -> None:
    from processor.intake.text import _ADDRESS, find_addresses, normalize_address

    assume('"@' not in text)  # a quoted local part: test_quoted_and_utf8_addresses_are_whole
    expected: dict[str, None] = {}
    for match in _ADDRESS.finditer(text):
        address = normalize_address(match.group(0))
        if address and "@" in address and "." in address.rsplit("@", 1)[1]:
            expected.setdefault(address, None)
    assert find_addresses(text) == list(expected)


def test_a_non_ascii_address_is_read_only_as_a_whole_value() -> None:
    from processor.intake.text import decode_utf8_xtext, decode_xtext, normalize_address

    assert normalize_address("utf-8; <Jöran@Exämple.DE> (Jöran)") == "jöran@exämple.de"
    assert normalize_address("宛先 user@example.jp") == "user@example.jp"
    assert decode_utf8_xtext("j\\x{F6}ran@ex\\x{00E4}mple.de") == "jöran@exämple.de"
    assert decode_xtext("a+2Bb+3Dc+41@example.com") == "a+b=c+41@example.com"


def test_a_dsn_recipient_with_an_underscore_in_its_domain_is_kept_whole() -> None:
    from processor.intake.text import normalize_address

    assert normalize_address("rfc822; email@example.com_") == "email@example.com_"
    assert normalize_address("<a@b_c.example.org>") == "a@b_c.example.org"
    assert normalize_address("rfc822; x_y@example.com") == "x_y@example.com"
    assert normalize_address("a@example.com_ and more") == "a@example.com"
