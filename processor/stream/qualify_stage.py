"""The qualification stage's work on one raw event: decode, parse, qualify, serialise.

Pure apart from the injected serialisers: ``QualifyProcessor.process`` turns one
:class:`SourceMessage` into the records to write (failures, unqualified) or into one
dead letter. It never raises for bad input; every raw event yields at least one output
record, which is what makes "count in = failures + unqualified + dead letters" hold.
An event is handled atomically: if any of its recipients cannot be qualified or
serialised, the whole event is dead-lettered, never half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from processor.config import TopicSettings
from processor.intake import IntakeOptions, parse
from processor.intake.record import BounceRecord
from processor.qualify.result import FailureType, Qualification
from processor.stream import events
from processor.stream.events import SourceMessage
from processor.stream.task import Output

Serialize = Callable[[dict[str, Any], str], bytes]
DecodeEnvelope = Callable[[bytes, str], dict[str, Any] | None]

ENVELOPE_CONTENT_TYPES = ("avro", "vnd.bounce-processor.envelope")


class Qualifier(Protocol):
    def qualify(self, record: BounceRecord) -> Qualification: ...


@dataclass
class ProcessResult:
    outputs: list[Output]
    dead_letter: dict[str, Any] | None = None  # the dead letter's content, when there is one
    qualifications: list[Qualification] = field(default_factory=list)


#: events per phase slice in :meth:`QualifyProcessor.process_many` (measured: 50 to 100
#: are alike; 500 is slower again, its data no longer fits the caches)
PHASE_SLICE = 64


@dataclass
class _Work:
    """One raw event on its way through the phases of ``process_many``."""

    message: SourceMessage
    source: SourceMessage | None = None  # the event itself, or the one inside its envelope
    records: list[BounceRecord] = field(default_factory=list)
    qualifications: list[Qualification] = field(default_factory=list)
    result: ProcessResult | None = None


class StageError(Exception):
    """A raw event that cannot go on; carries the stage and a short error class."""

    def __init__(self, stage: str, error_class: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.error_class = error_class


def _format_hint(content_type: str | None) -> str | None:
    if not content_type:
        return None
    lowered = content_type.lower()
    if "json" in lowered:
        return "json"
    if "rfc822" in lowered or lowered.startswith(("message/", "multipart/", "text/")):
        return "email"
    return None


class QualifyProcessor:
    """Turns raw events into output records; holds the swappable rule engine."""

    def __init__(
        self,
        *,
        topics: TopicSettings,
        engine: Qualifier,
        serialize_failure: Serialize,
        serialize_dead_letter: Serialize,
        decode_envelope: DecodeEnvelope | None = None,
        intake_options: IntakeOptions | None = None,
        instance: str = "local",
        dead_letter_max_bytes: int | None = 900_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.topics = topics
        self.engine = engine
        self._serialize_failure = serialize_failure
        self._serialize_dead_letter = serialize_dead_letter
        self._decode_envelope = decode_envelope
        self._intake_options = intake_options or IntakeOptions()
        self._instance = instance
        self._dead_letter_max_bytes = dead_letter_max_bytes
        self._clock = clock

    def process(self, message: SourceMessage) -> ProcessResult:
        """The outputs of one raw event. Their keys and values depend on the input and the
        rules only; when and where it ran goes into the headers ``processed_at`` and
        ``processor_instance``."""
        return self.process_stamped(message, self.stamp())

    def stamp(self) -> list[tuple[str, bytes]]:
        """The headers saying when and where the work ran (``processed_at``: now)."""
        return [
            ("processed_at", self._clock().isoformat(timespec="milliseconds").encode()),
            ("processor_instance", self._instance.encode()),
        ]

    def process_stamped(
        self, message: SourceMessage, stamp: list[tuple[str, bytes]]
    ) -> ProcessResult:
        """:meth:`process` with the ``stamp`` headers given."""
        return self.process_many([message], stamp)[0]

    def process_many(
        self, messages: list[SourceMessage], stamp: list[tuple[str, bytes]]
    ) -> list[ProcessResult]:
        """:meth:`process` on each message, in order, sharing one ``stamp`` (a chunk of
        raw events processed together).

        The work runs in phases over slices of ``PHASE_SLICE`` events: read (unwrap and
        parse) every event of the slice, then qualify them all, then write them all.
        Each phase's code and data stay hot in the CPU's caches across the slice, which
        makes a chunk about 1.6 times faster than event after event (same results: every
        step is a pure function of its event). An event that fails a step is
        dead-lettered there and skips the later phases. Bad input never raises out of
        here.
        """
        results: list[ProcessResult] = []
        for start in range(0, len(messages), PHASE_SLICE):
            work = [_Work(message) for message in messages[start : start + PHASE_SLICE]]
            live = work
            for step in (self._read, self._qualify, self._write):
                failed = False
                for item in live:
                    try:
                        step(item, stamp)
                    except Exception as error:
                        item.result = self._failed(item.message, error, stamp)
                        failed = True
                if failed:
                    live = [item for item in live if item.result is None]
            results.extend(item.result for item in work if item.result is not None)
        return results

    def _failed(
        self, message: SourceMessage, error: Exception, stamp: list[tuple[str, bytes]]
    ) -> ProcessResult:
        """The dead letter of an event whose step raised."""
        if isinstance(error, StageError):
            return self._dead_letter(message, error.stage, error.error_class, str(error), stamp)
        # bad input must never stop the consumer
        text = f"{type(error).__name__}: {error}"
        return self._dead_letter(message, "internal", type(error).__name__, text, stamp)

    # -- steps -------------------------------------------------------------------------

    def _unwrap(self, message: SourceMessage) -> tuple[bytes, str | None, SourceMessage]:
        """The payload and format hint; an Avro envelope is opened here."""
        if message.value is None:
            raise StageError("intake", "empty", "the raw event has no value (tombstone)")
        content_type_raw = message.header("content-type")
        content_type = content_type_raw.decode("latin-1") if content_type_raw else None
        if content_type is None:
            is_envelope = message.value[:1] == b"\x00" and len(message.value) > 5
        else:
            lowered = content_type.lower()
            is_envelope = any([t in lowered for t in ENVELOPE_CONTENT_TYPES])
        if not is_envelope:
            return message.value, _format_hint(content_type), message
        if self._decode_envelope is None:
            raise StageError("intake", "envelope_unsupported", "Avro envelope but no registry")
        try:
            envelope = self._decode_envelope(message.value, message.topic)
        except Exception as error:
            raise StageError("intake", "bad_envelope", f"Avro envelope: {error}") from error
        if not envelope or envelope.get("payload") is None:
            raise StageError("intake", "bad_envelope", "Avro envelope without payload")
        headers = list(message.headers) + [
            (k, str(v).encode()) for k, v in (envelope.get("headers") or {}).items()
        ]
        received = envelope.get("received_at")
        timestamp_ms = (
            int(received.timestamp() * 1000)
            if isinstance(received, datetime)
            else message.timestamp_ms
        )
        inner = SourceMessage(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            value=message.value,
            key=message.key,
            headers=headers,
            timestamp_ms=timestamp_ms,
        )
        return bytes(envelope["payload"]), _format_hint(envelope.get("content_type")), inner

    def _read(self, item: _Work, _stamp: list[tuple[str, bytes]]) -> None:
        payload, hint, item.source = self._unwrap(item.message)
        result = parse(payload, options=self._intake_options, format=hint)
        if result.error is not None:
            raise StageError("intake", result.error.error_class, result.error.message)
        if not result.records:
            raise StageError("intake", "no_records", "the input holds no recipient")
        item.records = result.records

    def _qualify(self, item: _Work, _stamp: list[tuple[str, bytes]]) -> None:
        qualify = self.engine.qualify
        try:
            item.qualifications = [qualify(record) for record in item.records]
        except Exception as error:
            raise StageError("qualify", type(error).__name__, str(error)) from error

    def _write(self, item: _Work, stamp: list[tuple[str, bytes]]) -> None:
        message = item.message
        source = item.source or message
        ingest_millis = events.ingest_millis_of(message)
        outputs: list[Output] = []
        for index, (record, qualification) in enumerate(
            zip(item.records, item.qualifications, strict=True), start=1
        ):
            event = events.failure_event(record, qualification, source, index, ingest_millis)
            topic = (
                self.topics.unqualified
                if qualification.failure_type is FailureType.UNQUALIFIED
                else self.topics.failures
            )
            try:
                value = self._serialize_failure(event, topic)
            except Exception as error:
                raise StageError("serialize", type(error).__name__, str(error)) from error
            key = event["recipient"].encode() or None
            headers = [("event_id", event["event_id"].encode()), *stamp]
            outputs.append(Output(topic, key, value, headers))
        item.result = ProcessResult(outputs=outputs, qualifications=item.qualifications)

    def _dead_letter(
        self,
        message: SourceMessage,
        stage: str,
        error_class: str,
        error_message: str,
        stamp: list[tuple[str, bytes]],
    ) -> ProcessResult:
        letter = events.dead_letter(
            message,
            error_class=error_class,
            error_message=error_message,
            stage=stage,
            max_value_bytes=self._dead_letter_max_bytes,
        )
        value = self._serialize_dead_letter(letter, self.topics.dlq)
        key = message.coordinates.encode()
        headers = [("error_class", error_class.encode()), ("stage", stage.encode()), *stamp]
        return ProcessResult(
            outputs=[Output(self.topics.dlq, key, value, headers)], dead_letter=letter
        )
