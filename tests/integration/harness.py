"""Running the real processor (``python -m processor run``) against the real broker.

Each test gets its own topic names, group and transactional id, so tests never see
each other's data on the shared broker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

from processor.intake import parse
from processor.sample_events import RawEvent
from processor.stream import avro
from tests.conftest import ROOT, KafkaEnv
from tests.integration.helpers import read_all


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProcessorSetup:
    env: KafkaEnv
    name: str
    workdir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        return {
            "raw": f"{self.name}.raw",
            "failures": f"{self.name}.failures",
            "unqualified": f"{self.name}.unqualified",
            "dlq": f"{self.name}.dlq",
            "quarantine": f"{self.name}.quarantine",
            "mx_policy": f"{self.name}.mx-policy",
            "rules": f"{self.name}.rules",
            "heartbeats": f"{self.name}.heartbeats",
            "quarantine_changelog": f"{self.name}.quarantine-changelog",
            "mx_signals": f"{self.name}.mx-signals",
            "mx_changelog": f"{self.name}.mx-changelog",
        }

    @property
    def group_id(self) -> str:
        return f"{self.name}-qualify"

    def config(self, instance: str, http_port: int) -> Path:
        data: dict[str, Any] = {
            "instance_id": instance,
            "group_id": self.group_id,
            "transactional_id_prefix": self.name,
            "kafka": {"bootstrap_servers": self.env.bootstrap_servers},
            "registry": {"url": self.env.registry_url},
            "topics": {**self.topics, "partitions": 3},
            "batch": {"max_records": 100, "max_ms": 100},
            "http": {"enabled": True, "host": "127.0.0.1", "port": http_port},
            "shutdown": {"timeout_seconds": 20},
            "state_dir": str(self.workdir / f"state-{instance}"),
        }
        for key, value in self.overrides.items():
            target = data
            *parents, last = key.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[last] = value
        path = self.workdir / f"config-{instance}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def start(
        self, instance: str = "p1", http_port: int | None = None, stage: str = "qualify"
    ) -> subprocess.Popen[bytes]:
        port = http_port or free_port()
        config = self.config(instance, port)
        log = (self.workdir / f"processor-{instance}.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "processor",
                "run",
                "--config",
                str(config),
                "--stage",
                stage,
                "--plain-logs",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        process.http_port = port  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def logs(self, instance: str = "p1") -> str:
        path = self.workdir / f"processor-{instance}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def produce_raw(env: KafkaEnv, topic: str, events: list[RawEvent]) -> None:
    producer = Producer({"bootstrap.servers": env.bootstrap_servers, "linger.ms": 20})
    for n, event in enumerate(events):
        headers = (
            []
            if event.content_type == "garbage"
            else [("content-type", event.content_type.encode())]
        )
        headers.append(("x-tenant", b"acme"))
        producer.produce(topic, key=f"raw-{n}".encode(), value=event.value, headers=headers)
        if n % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def committed_total(env: KafkaEnv, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": env.bootstrap_servers, "group.id": group})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()


def wait_caught_up(
    setup: ProcessorSetup,
    expected: int,
    timeout: float = 180,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        try:
            done = committed_total(setup.env, setup.group_id, setup.topics["raw"])
        except KafkaException:  # e.g. the group coordinator is still loading after a restart
            time.sleep(1)
            continue
        if done >= expected:
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"processor exited with {process.returncode}:\n{setup.logs()[-4000:]}"
            )
        time.sleep(0.5)
    raise AssertionError(
        f"processor committed {done} of {expected} inputs:\n{setup.logs()[-4000:]}"
    )


@dataclass
class Outputs:
    failures: list[dict[str, Any]]
    unqualified: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.failures + self.unqualified


def read_outputs(setup: ProcessorSetup) -> Outputs:
    """The read_committed view of the outputs, decoded by a plain Confluent deserializer
    that knows nothing but the registry URL."""
    decode = avro.deserializer(avro.registry_client(setup.env.registry_url))

    def decoded(topic: str) -> list[dict[str, Any]]:
        return [
            decode(m.value(), SerializationContext(topic, MessageField.VALUE))
            for m in read_all(setup.env.bootstrap_servers, topic, timeout=60)
        ]

    return Outputs(
        decoded(setup.topics["failures"]),
        decoded(setup.topics["unqualified"]),
        decoded(setup.topics["dlq"]),
    )


def expected_records(events: list[RawEvent]) -> tuple[int, int]:
    """(records, dead letters) that the inputs must give, from intake alone."""
    records = dead = 0
    for event in events:
        result = parse(event.value)
        if result.error is not None or not result.records:
            dead += 1
        else:
            records += len(result.records)
    return records, dead


def assert_exactly_once(outputs: Outputs, inputs: int) -> None:
    """Every input offset is covered, and no (offset, recipient) appears twice."""
    ids = Counter(r["event_id"] for r in outputs.records)
    duplicates = [i for i, c in ids.items() if c > 1]
    assert not duplicates, f"{len(duplicates)} duplicated event ids, e.g. {duplicates[:3]}"
    letters = Counter(
        (d["source"]["partition"], d["source"]["offset"]) for d in outputs.dead_letters
    )
    assert not [k for k, c in letters.items() if c > 1], "duplicated dead letters"
    covered = {(r["source"]["partition"], r["source"]["offset"]) for r in outputs.records}
    assert not covered & set(letters), "an input both produced records and was dead-lettered"
    assert len(covered) + len(letters) == inputs
