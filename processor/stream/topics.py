"""Creating the project's topics (idempotent), with the cleanup policy each one needs."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from processor.config import ProcessorSettings

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}


def topic_plan(settings: ProcessorSettings) -> dict[str, dict[str, str]]:
    """Every topic the processor uses, with its topic configuration."""
    t = settings.topics
    return {
        t.raw: {},
        t.failures: {},
        t.unqualified: {},
        t.dlq: {},
        t.quarantine: dict(COMPACTED),
        t.mx_policy: dict(COMPACTED),
        t.rules: dict(COMPACTED),
        t.heartbeats: {"cleanup.policy": "compact"},
        t.quarantine_changelog: dict(COMPACTED),
        t.mx_signals: {},
        t.mx_changelog: dict(COMPACTED),
    }


def ensure_topics(settings: ProcessorSettings, names: list[str] | None = None) -> list[str]:
    """Create the missing topics among ``names`` (default: all); returns those created."""
    admin = AdminClient(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, **settings.kafka.client}
    )
    plan = topic_plan(settings)
    wanted = names or list(plan)
    existing = admin.list_topics(timeout=15).topics
    missing = [n for n in wanted if n not in existing]
    if not missing:
        return []
    single = {settings.topics.rules, settings.topics.heartbeats}
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=1 if name in single else settings.topics.partitions,
                replication_factor=settings.topics.replication_factor,
                config=plan.get(name, {}),
            )
            for name in missing
        ]
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=30)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    log.info("created topics %s", created)
    return created
