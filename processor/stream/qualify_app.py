"""The qualification stage as a running process: wiring of config, registry, rules,
the transactional loop, the HTTP port and signals (``bounce-processor run``)."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from confluent_kafka.serialization import MessageField, SerializationContext

from processor.config import ProcessorSettings
from processor.intake import IntakeOptions
from processor.ops import metrics
from processor.ops.http import OpsServer, poll_liveness
from processor.stream import avro
from processor.stream.events import SourceMessage
from processor.stream.qualify_stage import QualifyProcessor
from processor.stream.task import FunctionTask, Output
from processor.stream.topics import ensure_topics
from processor.stream.transactional import TransactionalLoop

log = logging.getLogger(__name__)

# Which schema each topic's values carry; registered at start-up.
TOPIC_SCHEMAS = {
    "failures": "failure_event",
    "unqualified": "failure_event",
    "dlq": "dead_letter",
    "raw": "raw_envelope",
}


def register_schemas(settings: ProcessorSettings) -> dict[str, int]:
    """Register every schema under its topic's value subject, BACKWARD compatible."""
    client = avro.registry_client(settings.registry.url, settings.registry.client)
    ids = {}
    for attribute, schema_name in TOPIC_SCHEMAS.items():
        topic = getattr(settings.topics, attribute)
        avro.set_backward_compatibility(client, topic)
        ids[topic] = avro.register_schema(client, topic, schema_name)
    return ids


def load_rule_engine(settings: ProcessorSettings) -> Any:
    from processor.qualify import load_engine

    return load_engine(rules_dir=settings.rules.dir)


def build_processor(settings: ProcessorSettings, engine: Any) -> QualifyProcessor:
    client = avro.registry_client(settings.registry.url, settings.registry.client)
    failure_serializer = avro.serializer(client, "failure_event")
    dead_letter_serializer = avro.serializer(client, "dead_letter")
    envelope_deserializer = avro.deserializer(client)

    def serialize_failure(event: dict[str, Any], topic: str) -> bytes:
        return failure_serializer(event, SerializationContext(topic, MessageField.VALUE))

    def serialize_dead_letter(letter: dict[str, Any], topic: str) -> bytes:
        return dead_letter_serializer(letter, SerializationContext(topic, MessageField.VALUE))

    def decode_envelope(value: bytes, topic: str) -> dict[str, Any] | None:
        return envelope_deserializer(value, SerializationContext(topic, MessageField.VALUE))

    return QualifyProcessor(
        topics=settings.topics,
        engine=engine,
        serialize_failure=serialize_failure,
        serialize_dead_letter=serialize_dead_letter,
        decode_envelope=decode_envelope,
        intake_options=IntakeOptions(
            max_bytes=settings.intake.max_bytes,
            correlation_headers=settings.intake.correlation_headers,
        ),
        instance=settings.instance_id,
    )


class QualifyStage:
    """A built, not yet running, qualification stage: the loop and its HTTP port."""

    def __init__(self, settings: ProcessorSettings) -> None:
        self.settings = settings
        ensure_topics(settings)
        register_schemas(settings)
        self.engine = load_rule_engine(settings)
        self.ruleset_version = str(
            getattr(getattr(self.engine, "ruleset", None), "version", "unknown")
        )
        metrics.ruleset.info({"version": self.ruleset_version, "mode": settings.rules.mode.value})
        self.processor = build_processor(settings, self.engine)
        self.loop = TransactionalLoop(
            settings,
            input_topics=[settings.topics.raw],
            group_id=settings.group_id,
            transactional_id=settings.transactional_id,
            task=FunctionTask(self._handle),
        )
        self.server: OpsServer | None = None

    def _handle(self, message: SourceMessage) -> list[Output]:
        result = self.processor.process(message)
        if result.dead_letter is not None:
            letter = result.dead_letter
            metrics.dead_lettered.labels(letter["stage"], letter["error_class"]).inc()
            log.warning(
                "dead-lettered: %s",
                letter["error_message"],
                extra={"source": message.coordinates, "error_class": letter["error_class"]},
            )
        for q in result.qualifications:
            metrics.qualified.labels(q.failure_type.value, q.reason.value).inc()
        return result.outputs

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        health = self.loop.health
        ready = health.joined and health.outage_since is None and health.restored
        return ready, {
            "assigned": sorted(f"{t}[{p}]" for t, p in health.assigned),
            "broker_outage": health.outage_since is not None,
            "ruleset_version": self.ruleset_version,
            "rules_mode": self.settings.rules.mode.value,
        }

    def start_http(self) -> None:
        if not self.settings.http.enabled:
            return
        max_silence = max(10.0, self.settings.batch.max_ms / 1000 * 10)
        self.server = OpsServer(
            self.settings.http.host,
            self.settings.http.port,
            liveness=poll_liveness(
                lambda: self.loop.health.last_poll or time.monotonic(), max_silence
            ),
            readiness=self._readiness,
        ).start()
        log.info("HTTP on %s:%d", self.settings.http.host, self.server.port)

    def run(self) -> int:
        """Run until :meth:`stop` (exit 0) or a fatal error (non-zero)."""
        self.start_http()
        log.info(
            "qualification stage %s: %s -> %s, rules %s (%s)",
            self.settings.instance_id,
            self.settings.topics.raw,
            self.settings.topics.failures,
            self.ruleset_version,
            self.settings.rules.mode.value,
        )
        try:
            return self.loop.run()
        finally:
            if self.server is not None:
                self.server.stop()

    def stop(self) -> None:
        self.loop.request_stop()


def run_qualify_stage(settings: ProcessorSettings) -> int:
    """``bounce-processor run``: the stage until SIGTERM / SIGINT or a fatal error."""
    stage = QualifyStage(settings)
    signal.signal(signal.SIGTERM, lambda *_: stage.stop())
    signal.signal(signal.SIGINT, lambda *_: stage.stop())
    return stage.run()
