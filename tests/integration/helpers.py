"""Small helpers for broker tests: topics and draining a topic to its end."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(bootstrap: str, names: list[str], partitions: int = 1, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1, config=config) for n in names]
    )
    for future in futures.values():
        future.result(timeout=30)
    # Metadata for new topics reaches every listener shortly after creation.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if all(n in topics and not topics[n].error for n in names):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topics {names} did not appear")


def read_all(
    bootstrap: str,
    topic: str,
    *,
    isolation: str = "read_committed",
    timeout: float = 30.0,
    extra: dict[str, Any] | None = None,
) -> list[Message]:
    """Every message of ``topic`` visible under ``isolation``, up to the current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": isolation,
            **(extra or {}),
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        # High watermark for read_committed readers is the last stable offset.
        ends = {
            tp.partition: consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            for tp in partitions
        }
        consumer.assign(partitions)
        positions = {p: 0 for p in ends}
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while any(positions[p] < ends[p] for p in ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: at {positions}, end {ends}")
            message = consumer.poll(0.5)
            if message is None:
                # Control records (commit / abort markers) advance the position silently.
                for tp in consumer.position(partitions):
                    positions[tp.partition] = max(positions[tp.partition], tp.offset)
                continue
            if message.error():
                raise KafkaException(message.error())
            messages.append(message)
            positions[message.partition()] = message.offset() + 1
        return messages
    finally:
        consumer.close()
