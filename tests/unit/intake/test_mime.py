"""The fast MIME readers agree with the stdlib ``email`` package they stand in for."""

from __future__ import annotations

import email
from email import policy
from email.message import Message
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from processor.intake import parse
from processor.intake.mime import boundary_of, content_type_of, read_message
from processor.intake.text import part_text
from tests.unit.intake.conftest import message


def _stdlib_parts(data: bytes) -> list[Message]:
    return list(email.message_from_bytes(data, policy=policy.compat32).walk())


def test_content_type_and_boundary_agree_with_the_stdlib_on_every_corpus_part(
    corpus: Path,
) -> None:
    for path in sorted((corpus / "eml").glob("*.eml")):
        for part in _stdlib_parts(path.read_bytes()):
            assert content_type_of(part) == part.get_content_type(), path.name
            assert boundary_of(part) == part.get_boundary(), path.name


_TOKEN = st.text(alphabet="abcXYZ019'()+_,-./:=? ", min_size=0, max_size=12)
_PARAM_VALUE = st.one_of(
    _TOKEN,
    _TOKEN.map(lambda v: f'"{v}"'),
    st.text(alphabet='ab;"\\<>* =\t', max_size=10),
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["boundary", "Boundary", "charset", "name", "boundary*"]), _PARAM_VALUE
        ),
        max_size=3,
    ),
    st.sampled_from(["multipart/mixed", "Multipart/Report", "text/plain", "bogus", ""]),
    st.sampled_from(["; ", ";", " ; ", ";\n\t"]),
)
def test_boundary_and_content_type_agree_with_the_stdlib_on_any_parameters(
    params: list[tuple[str, str]], content_type: str, separator: str
) -> None:
    value = content_type + "".join(f"{separator}{name}={v}" for name, v in params)
    part = Message()
    part["Content-Type"] = value
    assert boundary_of(part) == part.get_boundary(), value
    assert content_type_of(part) == part.get_content_type(), value


def test_8bit_utf8_text_inside_a_multipart_keeps_its_characters() -> None:
    data = message(
        {
            "From": "MAILER-DAEMON@mx.example.net",
            "To": "news@sender.example",
            "Subject": "Undelivered Mail Returned to Sender",
            "MIME-Version": "1.0",
            "Content-Type": 'multipart/mixed; boundary="XX"',
        },
        "--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Не доставлено: <gone@example.org>: 550 5.1.1 Пользователь не найден\n--XX--\n",
    )

    record = parse(data).records[0]

    assert record.recipient == "gone@example.org"
    assert record.diagnostic is not None and "Пользователь" in record.diagnostic
    parts = read_message(data).get_payload()
    assert isinstance(parts, list) and len(parts) == 1
    part = parts[0]
    assert isinstance(part, Message)
    assert "Пользователь не найден" in part_text(part)


def test_nul_byte_in_a_charset_name_is_not_an_internal_error() -> None:
    data = (
        b"From: MAILER-DAEMON@x.example\nContent-Type: text/plain; charset=ut\x00f-8\n\n"
        b"<a@example.org>: 550 5.1.1 no\n"
    )

    assert parse(data).records[0].recipient == "a@example.org"


def test_text_parts_read_without_decoding_equal_the_decoded_payload(corpus: Path) -> None:
    from processor.intake.mime import content_charset
    from processor.intake.text import decode_bytes

    for path in sorted((corpus / "eml").glob("*.eml")):
        for part in read_message(path.read_bytes()).walk():
            if part.get_content_maintype() != "text" or part.get_content_subtype() == "html":
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                decoded = decode_bytes(payload, content_charset(part))
                assert part_text(part) == decoded.replace("\r\n", "\n"), path.name
