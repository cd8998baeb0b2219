"""``bounce-processor quarantine get ADDRESS``: the current quarantine state of an address.

Asks a running state stage over HTTP (``--url``), or reads the compacted
``bounces.quarantine`` topic: only the partition that holds the address (the producers'
default partitioner is CRC-32 of the key, which is also how the failures topic, and so
the state, is partitioned), newest record wins.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from processor.config import load_settings


@click.group()
def quarantine() -> None:
    """Quarantine state of addresses."""


def _latest_from_topic(config_path: Path | None, address: str) -> dict[str, Any] | None:
    from confluent_kafka import TopicPartition

    from processor.stream import avro
    from processor.stream.readers import committed_reader

    settings = load_settings(config_path)
    topic = settings.topics.quarantine
    consumer = committed_reader(settings)
    decoder = avro.deserializer(
        avro.registry_client(settings.registry.url, settings.registry.client)
    )
    key = address.encode()
    try:
        count = len(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
        partition = zlib.crc32(key) % count
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=15, cached=False
        )
        consumer.assign([TopicPartition(topic, partition, low)])
        latest = None
        while consumer.position([TopicPartition(topic, partition)])[0].offset < high:
            for message in consumer.consume(5000, timeout=1.0):
                value = message.value()
                if message.error() is None and message.key() == key and value is not None:
                    latest = avro.decode(decoder, value, topic)
        return latest
    finally:
        consumer.close()


@quarantine.command("get")
@click.argument("address")
@click.option(
    "--url", help="A state stage's HTTP address, e.g. http://bounce-processor-state-0:8080"
)
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def get(address: str, url: str | None, config_path: Path | None) -> None:
    """Print the state of ADDRESS as JSON (``valid`` when nothing is known of it)."""
    wanted = address.strip().lower()
    if url:
        answer = httpx.get(f"{url.rstrip('/')}/v1/quarantine/{wanted}", timeout=10)
        state = answer.json() if answer.status_code == 200 else None
    else:
        state = _latest_from_topic(config_path, wanted)
    if state is None:
        state = {"address": wanted, "status": "valid", "note": "no state recorded"}
    click.echo(
        json.dumps(
            state, indent=2, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
        )
    )
