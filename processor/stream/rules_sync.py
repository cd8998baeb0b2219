"""The deliverability instance, through Kafka: publishing rule sets, following them, and
telling who runs which version.

Topic ``bounces.rules`` (compacted, one partition) holds one record per published
version (key ``version:<version>``, value a :class:`RuleSetPackage` as JSON) and a
pointer (key ``active``, value ``{"version": ...}``). Publishing writes both in one
transaction; rolling back is publishing the pointer to an older version. Processors in
``published`` mode follow the topic and swap the engine between two transactions.
Topic ``bounces.heartbeats`` (compacted) holds, per instance, what it runs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Producer, TopicPartition

from processor.config import ProcessorSettings
from processor.qualify.package import RuleSetPackage
from processor.stream.readers import committed_reader

log = logging.getLogger(__name__)

ACTIVE_KEY = b"active"
VERSION_PREFIX = "version:"


@dataclass
class RulesTopicView:
    """What ``bounces.rules`` says, read to its end."""

    packages: dict[str, RuleSetPackage] = field(default_factory=dict)
    active: str | None = None
    activated_at: str | None = None

    def take(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; returns True when the active pointer changed."""
        if key is None:
            return False
        if key == ACTIVE_KEY:
            if value is None:
                return False
            pointer = json.loads(value)
            changed = pointer.get("version") != self.active
            self.active = pointer.get("version")
            self.activated_at = pointer.get("at")
            return changed
        text = key.decode("utf-8", "replace")
        if text.startswith(VERSION_PREFIX) and value is not None:
            package = RuleSetPackage.from_json(value)
            self.packages[package.version] = package
        return False


def read_topic(
    settings: ProcessorSettings, topic: str, timeout: float = 30
) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of a single-partition topic up to its current end (read_committed)."""
    consumer = committed_reader(settings)
    try:
        tp = TopicPartition(topic, 0)
        _, end = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
        consumer.assign([TopicPartition(topic, 0, 0)])
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            [position] = consumer.position([tp])
            if position.offset >= end:
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append((message.key(), message.value()))
        return records
    finally:
        consumer.close()


def read_rules(settings: ProcessorSettings) -> RulesTopicView:
    view = RulesTopicView()
    for key, value in read_topic(settings, settings.topics.rules):
        view.take(key, value)
    return view


@dataclass(frozen=True)
class PublishResult:
    version: str
    wrote_package: bool
    wrote_pointer: bool

    @property
    def changed(self) -> bool:
        return self.wrote_package or self.wrote_pointer


def publish(
    settings: ProcessorSettings, package: RuleSetPackage, *, activate: bool = True
) -> PublishResult:
    """Write ``package`` (unless already there) and point ``active`` at it (unless it is).

    Idempotent: publishing an unchanged rule set writes nothing.
    """
    view = read_rules(settings)
    write_package = package.version not in view.packages
    write_pointer = activate and view.active != package.version
    if not (write_package or write_pointer):
        return PublishResult(package.version, False, False)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    producer = Producer(
        {
            **settings.kafka.client_config(),
            "transactional.id": f"{settings.transactional_id_prefix}-rules-publisher",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    if write_package:
        stamped = package.model_copy(update={"published_at": now})
        producer.produce(
            settings.topics.rules,
            key=f"{VERSION_PREFIX}{package.version}".encode(),
            value=stamped.to_json(),
            partition=0,
        )
    if write_pointer:
        pointer = json.dumps({"version": package.version, "at": now}).encode()
        producer.produce(settings.topics.rules, key=ACTIVE_KEY, value=pointer, partition=0)
    producer.commit_transaction(30)
    return PublishResult(package.version, write_package, write_pointer)


def activate(settings: ProcessorSettings, version: str) -> PublishResult:
    """Point ``active`` at an already published version (roll back or forward)."""
    view = read_rules(settings)
    if version not in view.packages:
        known = ", ".join(sorted(view.packages)) or "none"
        raise ValueError(f"version {version} is not published (published: {known})")
    return publish(settings, view.packages[version], activate=True)


class RulesFollower:
    """Follows ``bounces.rules`` in a background thread; the stage asks it, between two
    transactions, whether another version became active."""

    def __init__(
        self, settings: ProcessorSettings, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.settings = settings
        self.view = RulesTopicView()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name="rules-follower", daemon=True)

    def start(self, wait_seconds: float = 30) -> RulesFollower:
        self._thread.start()
        self._caught_up.wait(wait_seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def active_package(self) -> RuleSetPackage | None:
        with self._lock:
            if self.view.active is None:
                return None
            return self.view.packages.get(self.view.active)

    def _run(self) -> None:
        topic = self.settings.topics.rules
        consumer = committed_reader(self.settings, f"rules-follower-{self.settings.instance_id}")
        try:
            tp = TopicPartition(topic, 0)
            _, end = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            consumer.assign([TopicPartition(topic, 0, 0)])
            if end == 0:
                self._caught_up.set()
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    if not self._caught_up.is_set() and consumer.position([tp])[0].offset >= end:
                        self._caught_up.set()
                    continue
                if message.error():
                    continue
                with self._lock:
                    self.view.take(message.key(), message.value())
                if (message.offset() or 0) + 1 >= end:
                    self._caught_up.set()
        except KafkaException as error:
            log.error("rules follower stopped: %s", error)
            if self._on_error:
                self._on_error(error)
        finally:
            consumer.close()


class Heartbeat:
    """Writes, every ``interval`` seconds, what this instance runs to ``bounces.heartbeats``."""

    def __init__(
        self,
        settings: ProcessorSettings,
        stage: str,
        describe: Callable[[], dict[str, Any]],
        interval: float = 10,
    ) -> None:
        self.settings = settings
        self.stage = stage
        self.describe = describe
        self.interval = interval
        self._producer = Producer({**settings.kafka.client_config(), "linger.ms": 0})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def beat(self) -> None:
        record = {
            "instance": self.settings.instance_id,
            "stage": self.stage,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.describe(),
        }
        key = f"{self.stage}:{self.settings.instance_id}".encode()
        self._producer.produce(
            self.settings.topics.heartbeats, key=key, value=json.dumps(record).encode()
        )
        self._producer.poll(0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except (BufferError, KafkaException) as error:
                log.warning("heartbeat: %s", error)
            self._stop.wait(self.interval)
        self._producer.flush(5)


def read_heartbeats(settings: ProcessorSettings) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for key, value in read_topic(settings, settings.topics.heartbeats):
        if key is not None and value is not None:
            latest[key.decode()] = json.loads(value)
    return latest
