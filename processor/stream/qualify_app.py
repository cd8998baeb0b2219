"""The qualification stage as a running process: raw events in; failures, unqualified
and dead letters out (``bounce-processor run --stage qualify``)."""

from __future__ import annotations

import collections
import logging
from typing import Any

from processor.config import ProcessorSettings
from processor.intake import IntakeOptions
from processor.ops import metrics
from processor.ops.heap import settle_heap
from processor.stream import avro
from processor.stream.events import SourceMessage
from processor.stream.qualify_stage import QualifyProcessor
from processor.stream.stage import RuleSource, StageRunner, register_schemas
from processor.stream.task import Done, Output, StreamTask, Submitted
from processor.stream.topics import ensure_topics
from processor.stream.transactional import TransactionalLoop
from processor.stream.workers import (
    ChunkOutcome,
    DeadLetterNote,
    WorkCounts,
    WorkerPool,
    WorkThread,
    process_chunk,
)

log = logging.getLogger(__name__)


def build_processor(settings: ProcessorSettings, engine: Any) -> QualifyProcessor:
    client = avro.registry_client(settings.registry.url, settings.registry.client)
    failure_serializer = avro.serializer(client, "failure_event")
    dead_letter_serializer = avro.serializer(client, "dead_letter")
    envelope_deserializer = avro.deserializer(client)

    def decode_envelope(value: bytes, topic: str) -> dict[str, Any] | None:
        return avro.decode(envelope_deserializer, value, topic)

    return QualifyProcessor(
        topics=settings.topics,
        engine=engine,
        serialize_failure=failure_serializer,
        serialize_dead_letter=dead_letter_serializer,
        decode_envelope=decode_envelope,
        intake_options=IntakeOptions(
            max_bytes=settings.intake.max_bytes,
            correlation_headers=settings.intake.correlation_headers,
        ),
        instance=settings.instance_id,
        dead_letter_max_bytes=settings.intake.dead_letter_max_bytes,
    )


class QualifyTask(StreamTask):
    """Per-event work (on the loop's thread, a :class:`WorkThread` or a
    :class:`WorkerPool`) plus the rule swap between transactions."""

    def __init__(self, processor: QualifyProcessor, rules: RuleSource) -> None:
        self.processor = processor
        self.rules = rules
        self.pool: WorkerPool | WorkThread | None = None
        self._counts = WorkCounts()

    def process(self, message: SourceMessage) -> list[Output]:
        return self.submit([message]).result()

    def submit(self, messages: list[SourceMessage]) -> Submitted:
        if self.pool is not None:
            return self.pool.submit(messages)
        outcome = process_chunk(self.processor, messages)
        self._counts.fill(outcome, self.processor.engine)
        self.report(outcome)
        return Done(outcome.outputs)

    def report(self, outcome: ChunkOutcome) -> None:
        """Count what a chunk's work did (in this process, also for worker processes)."""
        for note in outcome.dead_letters:
            _count_dead_letter(note)
        for (failure_type, reason), count in collections.Counter(outcome.qualified).items():
            metrics.qualified.labels(failure_type, reason).inc(count)
        for rule_id, new in outcome.rule_timeouts.items():
            metrics.rule_timeouts.labels(rule_id).inc(new)
        for memo, (hits, misses, rests) in outcome.memo_counts.items():
            if hits:
                metrics.memo_lookups.labels(memo, "hit").inc(hits)
            if misses:
                metrics.memo_lookups.labels(memo, "miss").inc(misses)
            if rests:
                metrics.memo_rests.labels(memo).inc(rests)

    def between_transactions(self) -> None:
        if self.rules.swap_if_published():
            self.processor.engine = self.rules.engine
            settle_heap()  # the new engine joins the long-lived objects, the old one goes
            if self.pool is not None:
                self.pool.reload(self.rules.folder)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def _count_dead_letter(note: DeadLetterNote) -> None:
    metrics.dead_lettered.labels(note.stage, note.error_class).inc()
    log.warning(
        "dead-lettered: %s",
        note.error_message,
        extra={"source": note.coordinates, "error_class": note.error_class},
    )


def qualify_task(settings: ProcessorSettings, rules: RuleSource) -> QualifyTask:
    """The stage's task; with ``workers`` > 0 its work runs on that many processes, else
    on a thread of its own (``work_thread``) or on the loop's thread."""
    task = QualifyTask(build_processor(settings, rules.engine), rules)
    if settings.workers > 0:
        task.pool = WorkerPool(settings, rules.folder, settings.workers, task.report)
    elif settings.work_thread:
        task.pool = WorkThread(task.processor, task.report)
        log.info("qualify work on a thread beside the loop's")
    # pipelined: the next batch is worked on while the loop commits one
    task.pipelined = task.pool is not None
    return task


def build_qualify_stage(settings: ProcessorSettings, http_port: int | None = None) -> StageRunner:
    """Topics, schemas, rules and the loop of the qualification stage, ready to run."""
    ensure_topics(settings)
    register_schemas(settings)
    rules = RuleSource(settings)
    loop = TransactionalLoop(
        settings,
        input_topics=[settings.topics.raw],
        group_id=settings.group_id,
        transactional_id=settings.transactional_id,
        task=qualify_task(settings, rules),
    )
    return StageRunner("qualify", settings, loop, rules, http_port=http_port)
