"""Fuzzing the never-raise contract: random bytes, mutated real messages, huge inputs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.intake import IntakeOptions, ParseResult, parse
from tests.unit.intake.conftest import corpus_dir

SEED_MESSAGES = [
    b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n<a@example.org>:\n550 5.1.1 no\n",
    b'{"recipient": "a@example.org", "diagnostic": "550 5.1.1 unknown"}',
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n"
    b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.org\n"
    b"Action: failed\nStatus: 5.1.1\n--b--\n",
]


def _corpus_samples(limit: int = 40) -> list[bytes]:
    folder = corpus_dir() / "eml"
    if not folder.is_dir():
        return SEED_MESSAGES
    return SEED_MESSAGES + [p.read_bytes() for p in sorted(folder.glob("*.eml"))[:: 344 // limit]]


SAMPLES = _corpus_samples()


def assert_contract(result: ParseResult) -> None:
    """Records or an explicit error, never both, and never the internal-error catch-all."""
    assert isinstance(result, ParseResult)
    if result.error is None:
        assert result.records
    else:
        assert result.records == []
        assert result.error.error_class != "internal_error", result.error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_contract(parse(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 8), st.binary(max_size=12)), max_size=6),
    st.floats(0.05, 1.0),
)
def test_mutated_real_messages_never_raise(
    sample: bytes, edits: list[tuple[float, int, bytes]], keep: float
) -> None:
    data = bytearray(sample[: max(1, int(len(sample) * keep))])  # truncation
    for where, cut, insert in edits:
        at = int(where * len(data))
        data[at : at + cut] = insert  # splice: delete ``cut`` bytes, insert random ones
    assert_contract(parse(bytes(data)))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SAMPLES), st.sampled_from([b"\r\n", b"\r", b"\n\n"]))
def test_line_ending_variants_never_raise(sample: bytes, newline: bytes) -> None:
    assert_contract(parse(sample.replace(b"\n", newline)))


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 64), st.sampled_from(SAMPLES))
def test_input_over_the_cap_is_refused_and_under_it_parsed(cap_kib: int, sample: bytes) -> None:
    cap = cap_kib * 1024
    giant = sample + b"x" * (cap + 1 - len(sample)) if len(sample) <= cap else sample
    refused = parse(giant, options=IntakeOptions(max_bytes=cap))
    assert refused.error is not None and refused.error.error_class == "too_large"
    assert_contract(parse(sample, options=IntakeOptions(max_bytes=max(cap, len(sample)))))


def test_large_body_within_the_cap_is_parsed() -> None:
    body = b"<a@example.org>:\n550 5.1.1 no such user\n" + b"filler line\n" * 400_000
    data = b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n" + body

    result = parse(data, options=IntakeOptions(max_bytes=len(data)))

    assert result.records and result.records[0].recipient == "a@example.org"


def test_corpus_dir_helper_points_at_a_path() -> None:
    assert isinstance(corpus_dir(), Path)
