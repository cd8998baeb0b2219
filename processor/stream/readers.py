"""Consumers that read what others committed, outside any consumer group's progress."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer

from processor.config import ProcessorSettings


def committed_reader(
    settings: ProcessorSettings, group: str | None = None, extra: dict[str, Any] | None = None
) -> Consumer:
    """A ``read_committed`` consumer that never commits offsets itself; ``group`` names
    the group whose committed offsets it may read (a throwaway name by default)."""
    return Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": group or f"reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            **(extra or {}),
        }
    )
