"""The qualification stage's per-event work, without a broker: real intake, real rules,
real Avro (fastavro against the schemas in ``schemas/``), in-memory serialisers."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from processor.config import TopicSettings
from processor.paths import schemas_dir
from processor.qualify import load_engine
from processor.sample_events import GARBAGE, generate
from processor.stream.events import SourceMessage, event_id
from processor.stream.qualify_stage import PHASE_SLICE, QualifyProcessor

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def avro_codec(name: str) -> tuple[Any, Any]:
    schema = fastavro.parse_schema(json.loads((schemas_dir() / f"{name}.avsc").read_text()))

    def write(record: dict[str, Any], _topic: str) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    def read(data: bytes) -> dict[str, Any]:
        return fastavro.schemaless_reader(io.BytesIO(data), schema, schema)

    return write, read


def processor_arguments() -> dict[str, Any]:
    """A ``QualifyProcessor``'s arguments here: the default rules, fastavro, a fixed clock."""
    return {
        "topics": TopicSettings(),
        "engine": load_engine(),
        "serialize_failure": avro_codec("failure_event")[0],
        "serialize_dead_letter": avro_codec("dead_letter")[0],
        "clock": lambda: NOW,
        "instance": "unit",
    }


@pytest.fixture(scope="module")
def processor() -> QualifyProcessor:
    return QualifyProcessor(**processor_arguments())


def message(value: bytes | None, offset: int = 7, content_type: str | None = None) -> SourceMessage:
    headers: list[tuple[str, bytes | None]] = [("x-tenant", b"acme")]
    if content_type:
        headers.append(("content-type", content_type.encode()))
    return SourceMessage("bounces.raw", 1, offset, value, b"k", headers, 1_700_000_000_000)


def test_every_sample_gives_schema_valid_events(processor: QualifyProcessor) -> None:
    read_failure = avro_codec("failure_event")[1]
    for n, raw in enumerate(generate(13)):
        result = processor.process(message(raw.value, n, raw.content_type))
        assert result.dead_letter is None, raw.template
        assert result.outputs
        for index, output in enumerate(result.outputs, start=1):
            event = read_failure(output.value)
            assert event["event_id"] == event_id("bounces.raw", 1, n, index)
            assert output.key == event["recipient"].encode()
            assert event["headers"] == {"x-tenant": "acme", "content-type": raw.content_type}
            expected_topic = (
                "bounces.unqualified"
                if event["failure_type"] == "unqualified"
                else "bounces.failures"
            )
            assert output.topic == expected_topic
            # The body is deterministic; when and where it ran is in the headers.
            assert event["processing_time"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
            headers = dict(output.headers)
            assert headers["processed_at"] == NOW.isoformat(timespec="milliseconds").encode()
            assert headers["processor_instance"] == b"unit"


def test_multi_recipient_dsn_gives_one_event_per_recipient(processor: QualifyProcessor) -> None:
    raw = next(e for e in generate(13) if e.template == "multi-recipient-dsn.eml")
    result = processor.process(message(raw.value))
    read_failure = avro_codec("failure_event")[1]
    events = [read_failure(o.value) for o in result.outputs]
    assert [e["recipient_index"] for e in events] == [1, 2]
    assert {e["reason"] for e in events} == {"invalid_domain", "refused"}
    assert events[0]["original_message_id"] == "<launch-5@sender.example>"
    assert events[0]["event_time"] == datetime(2026, 11, 12, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_becomes_one_dead_letter_with_original_bytes(
    processor: QualifyProcessor, garbage: bytes
) -> None:
    result = processor.process(message(garbage, offset=42))
    assert result.dead_letter is not None
    [output] = result.outputs
    assert output.topic == "bounces.dlq"
    assert output.key == b"bounces.raw-1-42"
    letter = avro_codec("dead_letter")[1](output.value)
    assert letter["original_value"] == garbage
    assert letter["source"]["offset"] == 42
    assert {"key": "x-tenant", "value": b"acme"} in letter["original_headers"]
    assert letter["error_class"] and letter["error_message"]


def test_tombstone_and_unserialisable_event_are_dead_lettered() -> None:
    def failing_serializer(_record: dict[str, Any], _topic: str) -> bytes:
        raise ValueError("registry says no")

    processor = QualifyProcessor(
        topics=TopicSettings(),
        engine=load_engine(),
        serialize_failure=failing_serializer,
        serialize_dead_letter=avro_codec("dead_letter")[0],
        clock=lambda: NOW,
    )
    assert processor.process(message(None)).dead_letter["error_class"] == "empty"  # type: ignore[index]
    raw = next(iter(generate(1, kinds="smtp")))
    letter = processor.process(message(raw.value, content_type="application/json")).dead_letter
    assert letter is not None and letter["stage"] == "serialize"


def test_envelope_without_registry_is_dead_lettered(processor: QualifyProcessor) -> None:
    result = processor.process(message(b"\x00\x00\x00\x00\x05rest", content_type="avro/binary"))
    assert result.dead_letter is not None
    assert result.dead_letter["error_class"] == "envelope_unsupported"


def test_a_chunk_gives_what_its_events_give_one_by_one(processor: QualifyProcessor) -> None:
    """``process_many`` runs its work in phases over slices of the chunk; the outputs are
    the same, in the same order, as event after event, across slice boundaries and with
    garbage between the bounces."""
    raws = list(generate(3 * PHASE_SLICE + 5))
    values = [(raw.value, raw.content_type) for raw in raws]
    for at, garbage in zip((3, PHASE_SLICE, PHASE_SLICE + 1, 150), GARBAGE, strict=True):
        values.insert(at, (garbage, None))
    messages = [message(value, n, kind) for n, (value, kind) in enumerate(values)]
    stamp = processor.stamp()

    chunked = processor.process_many(messages, stamp)

    single = [processor.process_stamped(m, stamp) for m in messages]
    assert len(chunked) == len(messages)
    assert [r.outputs for r in chunked] == [r.outputs for r in single]
    assert [r.dead_letter is not None for r in chunked] == [m.value in GARBAGE for m in messages]


class _FailsOn:
    """A qualifier that raises on one recipient and defers to the rules otherwise."""

    def __init__(self, recipient: str) -> None:
        self.recipient = recipient
        self.rules = load_engine()

    def qualify(self, record: Any) -> Any:
        if record.recipient == self.recipient:
            raise RuntimeError("rule engine broke")
        return self.rules.qualify(record)


def test_a_step_failing_for_one_event_of_a_chunk_dead_letters_that_event_only() -> None:
    raws = list(generate(10, kinds="smtp"))
    victim = json.loads(raws[4].value)["recipient"]
    processor = QualifyProcessor(
        topics=TopicSettings(),
        engine=_FailsOn(victim),
        serialize_failure=avro_codec("failure_event")[0],
        serialize_dead_letter=avro_codec("dead_letter")[0],
        clock=lambda: NOW,
    )
    messages = [message(raw.value, n, raw.content_type) for n, raw in enumerate(raws)]

    results = processor.process_many(messages, processor.stamp())

    letters = [r.dead_letter for r in results]
    assert [letter is not None for letter in letters] == [n == 4 for n in range(10)]
    assert letters[4] is not None and letters[4]["stage"] == "qualify"
    assert letters[4]["error_class"] == "RuntimeError"
    assert [r.outputs[0].topic == "bounces.dlq" for r in results] == [n == 4 for n in range(10)]
