"""The qualification stage as a running process: wiring of config, registry, rules,
the transactional loop, the HTTP port and signals (``bounce-processor run``)."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from confluent_kafka.serialization import MessageField, SerializationContext

from processor.config import ProcessorSettings, RulesMode
from processor.intake import IntakeOptions
from processor.ops import metrics
from processor.ops.http import OpsServer, poll_liveness
from processor.stream import avro
from processor.stream.events import SourceMessage
from processor.stream.qualify_stage import QualifyProcessor
from processor.stream.rules_sync import Heartbeat, RulesFollower
from processor.stream.task import Output, StreamTask
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
    """The engine of the local rule folder (``rules.dir``, or the shipped default)."""
    from processor.qualify import load_engine

    return load_engine(rules_dir=settings.rules.dir)


def engine_version(engine: Any) -> str:
    return str(getattr(getattr(engine, "ruleset", None), "version", "unknown"))


class RuleSource:
    """Where the stage's rules come from, and when they change.

    ``custom`` mode: the local folder, sync off. ``published`` mode: the active version
    on ``bounces.rules`` (the shipped default until one is published), swapped in when
    the pointer moves, only ever between two transactions.
    """

    def __init__(self, settings: ProcessorSettings) -> None:
        self.settings = settings
        self.mode = settings.rules.mode
        self.follower: RulesFollower | None = None
        self.engine = load_rule_engine(settings)
        self.version = engine_version(self.engine)
        self.origin = "local folder" if self.mode is RulesMode.CUSTOM else "embedded default"
        if self.mode is RulesMode.CUSTOM:
            log.info(
                "rules: custom mode, sync off; using %s (%s)",
                settings.rules.dir or "rules/",
                self.version,
            )
        else:
            self.follower = RulesFollower(settings).start()
            self.swap_if_published()

    def swap_if_published(self) -> bool:
        """Adopt the published active version if it differs; True if the engine changed."""
        if self.follower is None:
            return False
        package = self.follower.active_package()
        if package is None or package.version == self.version:
            return False
        from processor.qualify import load_engine

        try:
            engine = load_engine(rules_dir=package.unpack())
        except Exception as error:
            log.error("rules: cannot load published version %s: %s", package.version, error)
            return False
        log.info("rules: switching from %s to published %s", self.version, package.version)
        self.engine, self.version, self.origin = engine, engine_version(engine), "published"
        metrics.ruleset.info({"version": self.version, "mode": self.mode.value})
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "ruleset_version": self.version,
            "rules_mode": self.mode.value,
            "rules_origin": self.origin,
            "rules_sync": "off" if self.mode is RulesMode.CUSTOM else "on",
        }

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()


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


class QualifyTask(StreamTask):
    """Per-event work plus the rule swap between transactions."""

    def __init__(self, processor: QualifyProcessor, rules: RuleSource) -> None:
        self.processor = processor
        self.rules = rules

    def process(self, message: SourceMessage) -> list[Output]:
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

    def between_transactions(self) -> None:
        if self.rules.swap_if_published():
            self.processor.engine = self.rules.engine


class QualifyStage:
    """A built, not yet running, qualification stage: the loop and its HTTP port."""

    def __init__(self, settings: ProcessorSettings) -> None:
        self.settings = settings
        ensure_topics(settings)
        register_schemas(settings)
        self.rules = RuleSource(settings)
        metrics.ruleset.info({"version": self.rules.version, "mode": settings.rules.mode.value})
        self.processor = build_processor(settings, self.rules.engine)
        self.loop = TransactionalLoop(
            settings,
            input_topics=[settings.topics.raw],
            group_id=settings.group_id,
            transactional_id=settings.transactional_id,
            task=QualifyTask(self.processor, self.rules),
        )
        self.heartbeat = Heartbeat(settings, "qualify", self.rules.describe)
        self.server: OpsServer | None = None

    @property
    def ruleset_version(self) -> str:
        return self.rules.version

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        health = self.loop.health
        ready = health.joined and health.outage_since is None and health.restored
        return ready, {
            "assigned": sorted(f"{t}[{p}]" for t, p in health.assigned),
            "broker_outage": health.outage_since is not None,
            **self.rules.describe(),
        }

    def _liveness(self) -> tuple[bool, dict[str, Any]]:
        max_silence = max(10.0, self.settings.batch.max_ms / 1000 * 10)
        ok, details = poll_liveness(
            lambda: self.loop.health.last_poll or time.monotonic(), max_silence
        )()
        return ok, {**details, **self.rules.describe()}

    def start_http(self) -> None:
        if not self.settings.http.enabled:
            return
        self.server = OpsServer(
            self.settings.http.host,
            self.settings.http.port,
            liveness=self._liveness,
            readiness=self._readiness,
        ).start()
        log.info("HTTP on %s:%d", self.settings.http.host, self.server.port)

    def run(self) -> int:
        """Run until :meth:`stop` (exit 0) or a fatal error (non-zero)."""
        self.start_http()
        self.heartbeat.start()
        log.info(
            "qualification stage %s: %s -> %s, rules %s (%s mode)",
            self.settings.instance_id,
            self.settings.topics.raw,
            self.settings.topics.failures,
            self.rules.version,
            self.settings.rules.mode.value,
        )
        try:
            return self.loop.run()
        finally:
            self.heartbeat.stop()
            self.rules.close()
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
