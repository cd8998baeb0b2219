"""The quarantine state stage on the real broker: two processors in one group, one
killed with SIGKILL mid-stream; the survivor restores the partitions it takes over from
the changelog, every address ends exactly where the reference model of the policy says,
no state event is duplicated in the read_committed view, and the lookup API answers."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from processor.state.quarantine import from_avro_record
from processor.state.quarantine_policy import load_quarantine_policy
from processor.stream import avro
from tests.conftest import ROOT, KafkaEnv
from tests.integration.harness import ProcessorSetup, committed_total
from tests.integration.helpers import create_topics, read_all
from tests.unit.state.reference_model import ModelSignal, ReferenceModel
from tests.unit.state.strategies import as_model_dict, ms

START = datetime(2026, 8, 1, tzinfo=UTC)
OUTCOMES = [
    ("hard", "user_unknown", "dsn"),
    ("soft", "mailbox_full", "dsn"),
    ("soft", "mailbox_full", "dsn"),
    ("soft", "inactive_mailbox", "smtp"),
    ("soft", "invalid_domain", "smtp"),
    ("soft", "refused", "smtp"),
    ("soft", "unreachable", "smtp"),
    ("hard", "complaint", "arf"),
    ("ignored", "auto_reply", "autoreply"),
    ("ignored", "not_defined", "delivered"),
]


def failure_events(count: int, addresses: int, seed: int = 11) -> list[dict[str, Any]]:
    """Failure events in increasing event time (about 100 days in all)."""
    rng = random.Random(seed)
    step = timedelta(days=100) / count
    events = []
    for n in range(count):
        failure_type, reason, kind = rng.choice(OUTCOMES)
        address = f"user{rng.randrange(addresses)}@example{rng.randrange(4)}.test"
        moment = START + step * n
        moment = moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
        events.append(
            {
                "event_id": f"evt-{n}",
                "source": {"topic": "bounces.raw", "partition": 0, "offset": n},
                "recipient_index": 1,
                "event_time": moment,
                "processing_time": moment,
                "kind": kind,
                "recipient": address,
                "status": None,
                "smtp_code": None,
                "diagnostic": f"{reason} #{n}",
                "failure_type": failure_type,
                "reason": reason,
                "detail": "delivered" if kind == "delivered" else reason,
                "rule_id": f"rule.{reason}",
                "ruleset_version": "1.0.0+test",
                "mx": "mx.example.test",
                "sending_ip": "192.0.2.1",
            }
        )
    return events


@pytest.fixture
def setup(kafka_env: KafkaEnv, unique_name: str, tmp_path: Path) -> Iterator[ProcessorSetup]:
    prepared = ProcessorSetup(kafka_env, f"s{unique_name}", tmp_path)
    prepared.overrides = {
        "state.clock": "event",
        "state.punctuate_seconds": 1,
        "state.group_id": f"{prepared.name}-state",
        "batch.max_records": 50,
    }
    create_topics(kafka_env.bootstrap_servers, [prepared.topics["failures"]], partitions=3)
    yield prepared
    prepared.stop_all()


def produce_failures(setup: ProcessorSetup, events: list[dict[str, Any]]) -> dict[str, int]:
    """Produce as the qualify stage would (Avro, keyed by address); address -> partition."""
    client = avro.registry_client(setup.env.registry_url)
    avro.register_schema(client, setup.topics["failures"], "failure_event")
    serialize = avro.serializer(client, "failure_event")
    producer = Producer(
        {"bootstrap.servers": setup.env.bootstrap_servers, "enable.idempotence": True}
    )
    partitions: dict[str, int] = {}

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        partitions[message.key().decode()] = message.partition()

    topic = setup.topics["failures"]
    for event in events:
        value = serialize(event, topic)
        producer.produce(topic, key=event["recipient"].encode(), value=value, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0
    return partitions


def state_group_done(setup: ProcessorSetup, total: int) -> bool:
    return committed_progress(setup) >= total


def committed_progress(setup: ProcessorSetup) -> int:
    """Input offsets the state group has committed so far; 0 while they are unstable
    (the offsets in the open transaction of a killed member stay unstable, KIP-447,
    until that transaction times out)."""
    try:
        return committed_total(setup.env, f"{setup.name}-state", setup.topics["failures"])
    except KafkaException:
        return 0


def reference_states(
    events: list[dict[str, Any]], partitions: dict[str, int], *, timers: bool = True
) -> dict[str, dict[str, Any]]:
    """The reference model: every signal in order, then (``timers``) the timers of each
    partition at its highest event time (the state stage's event clock)."""
    model = ReferenceModel(load_quarantine_policy())
    watermark: dict[int, int] = {}
    for event in events:
        model.signal(
            ModelSignal(
                address=event["recipient"],
                time=ms(event["event_time"]),  # type: ignore[arg-type]
                failure_type=event["failure_type"],
                reason=event["reason"],
                rule_id=event["rule_id"],
                ruleset_version=event["ruleset_version"],
                success=event["kind"] == "delivered",
            )
        )
        partition = partitions[event["recipient"]]
        watermark[partition] = max(watermark.get(partition, 0), ms(event["event_time"]) or 0)
    if timers:
        for address, state in model.addresses.items():
            model._tick(state, watermark[partitions[address]])
    return model.addresses


def published_states(setup: ProcessorSetup) -> dict[str, dict[str, Any]]:
    """The last state published per address (read_committed); no event may repeat."""
    decode = avro.deserializer(avro.registry_client(setup.env.registry_url))
    topic = setup.topics["quarantine"]
    latest: dict[str, dict[str, Any]] = {}
    seen: dict[str, list[bytes]] = {}
    for message in read_all(setup.env.bootstrap_servers, topic, timeout=60):
        record = decode(message.value(), SerializationContext(topic, MessageField.VALUE))
        address = message.key().decode()
        assert message.value() not in seen.setdefault(address, []), (
            f"duplicated state event for {address}"
        )
        seen[address].append(message.value())
        latest[address] = record
    return latest


def mismatches(latest: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> list[str]:
    """Addresses published but not expected or expected but not (yet) published, then
    those whose published state differs."""
    return sorted(set(latest) ^ set(expected)) + [
        a
        for a, r in latest.items()
        if a in expected and as_model_dict(from_avro_record(r)) != expected[a]
    ]


def await_states(
    setup: ProcessorSetup, expected: dict[str, dict[str, Any]], instance: str
) -> dict[str, dict[str, Any]]:
    """The published states once they equal ``expected`` (timers fire on punctuation,
    shortly after the last commit; a killed member's open transaction hides what follows
    it until the transaction times out); fails with the differences after two minutes."""
    deadline = time.monotonic() + 120
    while True:
        latest = published_states(setup)
        wrong = mismatches(latest, expected)
        if not wrong:
            return latest
        assert time.monotonic() < deadline, (
            wrong[:3],
            latest.get(wrong[0]),
            expected.get(wrong[0]),
            setup.logs(instance)[-3000:],
        )
        time.sleep(2)


def await_group_done(
    setup: ProcessorSetup, total: int, process: subprocess.Popen[bytes], instance: str
) -> None:
    deadline = time.monotonic() + 240
    while not state_group_done(setup, total):
        assert process.poll() is None, setup.logs(instance)[-3000:]
        assert time.monotonic() < deadline, setup.logs(instance)[-3000:]
        time.sleep(1)


def await_lookup(process: subprocess.Popen[bytes], address: str) -> httpx.Response:
    """The stage's HTTP answer for ``address`` once it is found (200), within a minute."""
    url = f"http://127.0.0.1:{process.http_port}/v1/quarantine/{address}"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(url, timeout=5)
        if answer.status_code == 200:
            return answer
        assert time.monotonic() < deadline, (address, answer.status_code, answer.text)
        time.sleep(1)


def test_survivor_takes_over_and_states_equal_the_reference_model(setup: ProcessorSetup) -> None:
    events = failure_events(4000, 250)
    partitions = produce_failures(setup, events)
    # librdkafka's default partitioner: CRC-32 of the key (the lookup CLI relies on it).
    assert all(zlib.crc32(a.encode()) % 3 == p for a, p in partitions.items())

    first = setup.start("state-a", stage="state")
    second = setup.start("state-b", stage="state")
    # Kill the first member as soon as the group has committed its first batch: work is
    # then left on its partitions for the survivor (a fixed sleep let a fast machine
    # finish everything before the kill).
    deadline = time.monotonic() + 120
    while committed_progress(setup) == 0:
        assert first.poll() is None, setup.logs("state-a")[-3000:]
        assert time.monotonic() < deadline, setup.logs("state-a")[-3000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    await_group_done(setup, len(events), second, "state-b")
    latest = await_states(setup, reference_states(events, partitions), "state-b")
    statuses = {r["status"] for r in latest.values()}
    assert {"quarantined", "denylisted"} <= statuses

    # The survivor answers lookups for every partition, once the group has handed it the
    # killed member's partitions (after that member's session timeout).
    for partition in range(3):
        address = next(a for a in latest if partitions[a] == partition)
        answer = await_lookup(second, address)
        assert answer.json()["status"] == latest[address]["status"], (partition, answer.text)
    missing = httpx.get(
        f"http://127.0.0.1:{second.http_port}/v1/quarantine/nobody@nowhere.test", timeout=5
    )  # type: ignore[attr-defined]
    assert missing.status_code == 404
    # ... and so does the CLI, from the compacted topic.
    quarantined = next(a for a, r in latest.items() if r["status"] == "quarantined")
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "processor",
            "quarantine",
            "get",
            quarantined,
            "--config",
            str(setup.config("cli", 0)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["status"] == "quarantined"


def test_not_ready_until_the_assigned_partitions_are_restored(setup: ProcessorSetup) -> None:
    from processor.qualify.result import FailureType, Reason
    from processor.state import quarantine
    from processor.state.codec import encode_state
    from processor.state.signal import AddressSignal

    policy = load_quarantine_policy()
    changelog = setup.topics["quarantine_changelog"]
    create_topics(
        setup.env.bootstrap_servers, [changelog], partitions=3, **{"cleanup.policy": "compact"}
    )
    producer = Producer({"bootstrap.servers": setup.env.bootstrap_servers, "linger.ms": 50})
    per_partition = 60_000
    for partition in range(3):
        for n in range(per_partition):
            address = f"restore{partition}-{n}@example.test"
            signal_ = AddressSignal(
                address=address,
                event_time=START,
                failure_type=FailureType.SOFT,
                reason=Reason.MAILBOX_FULL,
            )
            state, _ = quarantine.apply(None, signal_, policy)
            producer.produce(
                changelog, key=address.encode(), value=encode_state(state), partition=partition
            )
            if n % 10_000 == 0:
                producer.poll(0)
    assert producer.flush(120) == 0

    process = setup.start("restorer", stage="state")
    url = f"http://127.0.0.1:{process.http_port}/readyz"  # type: ignore[attr-defined]
    seen_restoring = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        body = answer.json()
        if answer.status_code == 503 and body["assigned"] and not body["restored"]:
            seen_restoring = True
        if answer.status_code == 200:
            break
        time.sleep(0.05)
    assert seen_restoring, "readiness never reported a restore in progress"
    assert answer.status_code == 200 and body["restored"], body
    lookup = httpx.get(
        f"http://127.0.0.1:{process.http_port}/v1/quarantine/restore1-77@example.test",
        timeout=5,  # type: ignore[attr-defined]
    )
    assert lookup.status_code == 200 and lookup.json()["status"] == "with_errors"
    assert (
        "bounce_state_store_bytes"
        in httpx.get(
            f"http://127.0.0.1:{process.http_port}/metrics",
            timeout=5,  # type: ignore[attr-defined]
        ).text
    )


def test_mx_policy_events_from_a_scripted_failure_stream(setup: ProcessorSetup) -> None:
    base = failure_events(1, 1)[0]

    def failure(n: int, minute: int, **fields: Any) -> dict[str, Any]:
        return {
            **base,
            "event_id": f"mx-{n}",
            "recipient": f"r{n}@example.test",
            "event_time": START + timedelta(minutes=minute),
            "kind": "smtp",
            **fields,
        }

    throttle = {
        "failure_type": "soft",
        "reason": "unreachable",
        "detail": "ratelimited",
        "smtp_code": 421,
        "status": "4.7.28",
        "mx": "gmail-smtp-in.l.google.com",
        "diagnostic": "421 4.7.28 Our system has detected an unusual rate of unsolicited mail",
    }
    block = {
        "failure_type": "soft",
        "reason": "refused",
        "detail": "blocked",
        "smtp_code": 554,
        "status": "5.7.1",
        "mx": "mta7.am0.yahoodns.net",
        "diagnostic": "554 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1",
    }
    events = [failure(n, n, **throttle) for n in range(8)] + [failure(100, 9, **block)]
    produce_failures(setup, events)
    process = setup.start("mx", stage="state")
    deadline = time.monotonic() + 120
    while not state_group_done(setup, len(events)):
        assert process.poll() is None and time.monotonic() < deadline, setup.logs("mx")[-3000:]
        time.sleep(1)

    decode = avro.deserializer(avro.registry_client(setup.env.registry_url))
    topic = setup.topics["mx_policy"]
    deadline = time.monotonic() + 60
    policies: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        policies = [
            decode(m.value(), SerializationContext(topic, MessageField.VALUE))
            for m in read_all(setup.env.bootstrap_servers, topic, timeout=60)
        ]
        if any(p["status"] == "suspended" for p in policies):
            break
        time.sleep(1)
    by_route: dict[str, list[dict[str, Any]]] = {}
    for policy in policies:
        by_route.setdefault(policy["route"], []).append(policy)
    google = by_route["192.0.2.1|google"]
    assert google[-1]["status"] == "throttled"
    assert google[-1]["level"] == google[0]["level"] - 1
    yahoo = by_route["192.0.2.1|yahoo"]
    assert yahoo[-1]["status"] == "suspended" and yahoo[-1]["limits"]["max_messages_per_hour"] == 0


def test_a_partition_taken_over_fires_the_timers_due_at_its_restored_event_clock(
    setup: ProcessorSetup,
) -> None:
    """The first processor handles every event but never punctuates, then dies; the one
    that takes its partitions over receives no new input, so only the event clock it
    restores from the changelogs can fire the releases that fell due."""
    events = failure_events(1500, 120, seed=5)
    partitions = produce_failures(setup, events)
    with_timers = reference_states(events, partitions)
    without_timers = reference_states(events, partitions, timers=False)
    assert with_timers != without_timers  # the final timers change something

    setup.overrides["state.punctuate_seconds"] = 3600
    first = setup.start("state-a", stage="state")
    await_group_done(setup, len(events), first, "state-a")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert not mismatches(published_states(setup), without_timers)

    setup.overrides["state.punctuate_seconds"] = 1
    setup.start("state-b", stage="state")
    await_states(setup, with_timers, "state-b")
