"""The qualification stage on the real broker and registry: accounting, exactly-once
under SIGKILL and broker outages, headers carried, Avro envelopes, graceful SIGTERM."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client.parser import text_string_to_metric_families

from processor.sample_events import RawEvent, generate
from processor.stream import avro
from tests.conftest import ROOT, KafkaEnv
from tests.integration.harness import (
    ProcessorSetup,
    assert_exactly_once,
    committed_total,
    expected_records,
    produce_raw,
    read_outputs,
    wait_caught_up,
)
from tests.integration.helpers import create_topics


@pytest.fixture
def setup(kafka_env: KafkaEnv, unique_name: str, tmp_path: Path) -> Iterator[ProcessorSetup]:
    prepared = ProcessorSetup(kafka_env, f"t{unique_name}", tmp_path)
    create_topics(kafka_env.bootstrap_servers, [prepared.topics["raw"]], partitions=3)
    yield prepared
    prepared.stop_all()


@pytest.mark.parametrize(
    "placement",
    [{}, {"work_thread": False}, {"workers": 2}],
    ids=["work-thread", "loop-thread", "2-worker-processes"],
)
def test_count_in_equals_failures_plus_unqualified_plus_dead_letters(
    setup: ProcessorSetup, placement: dict[str, Any]
) -> None:
    setup.overrides = {
        "intake.max_bytes": 200_000,
        "intake.dead_letter_max_bytes": 100_000,
        **placement,
    }
    events = list(generate(300, garbage_every=9))
    too_large = b"From: x@y\nSubject: " + b"A" * 300_000 + b"\n\nbig"
    events.append(RawEvent(too_large, "garbage", "too-large"))
    produce_raw(setup.env, setup.topics["raw"], events)
    want_records, want_dead = expected_records(events)
    assert want_dead > 30  # the mix really holds garbage

    process = setup.start()
    wait_caught_up(setup, len(events), process=process)
    outputs = read_outputs(setup)

    assert len(outputs.records) == want_records
    assert len(outputs.dead_letters) == want_dead
    assert_exactly_once(outputs, len(events))
    assert outputs.unqualified, "the sample holds a diagnostic no rule knows"
    assert all(r["failure_type"] == "unqualified" for r in outputs.unqualified)
    assert not any(r["failure_type"] == "unqualified" for r in outputs.failures)

    # Headers of the raw event are carried; ids, coordinates and versions are filled.
    first = outputs.failures[0]
    assert first["headers"]["x-tenant"] == "acme"
    assert len(first["event_id"]) == 32 and first["ruleset_version"]
    by_recipient = {r["recipient"]: r for r in outputs.records}
    unknown = next(r for k, r in by_recipient.items() if k.startswith("alice+"))
    assert (unknown["failure_type"], unknown["reason"]) == ("hard", "user_unknown")
    assert unknown["event_time"] == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert unknown["metadata"].get("delivery_id", "").startswith("d-")

    # Dead letters keep the original bytes, headers and coordinates.
    [cut] = [d for d in outputs.dead_letters if d["error_class"] == "too_large"]
    assert cut["original_value"] == too_large[:100_000]
    assert f"cut from {len(too_large)} to 100000 bytes" in cut["error_message"]
    garbage = [d for d in outputs.dead_letters if d["original_value"] == events[8].value]
    assert garbage and garbage[0]["source"]["topic"] == setup.topics["raw"]
    assert {"key": "x-tenant", "value": b"acme"} in garbage[0]["original_headers"]

    # The HTTP port answers with live counts; with worker processes too (they report
    # what they did to the main process, which counts it).
    metrics = httpx.get(f"http://127.0.0.1:{process.http_port}/metrics", timeout=5).text  # type: ignore[attr-defined]
    assert _metric_total(metrics, "bounce_consumed_total") == len(events)
    assert _metric_total(metrics, "bounce_qualified_total") == want_records
    assert _metric_total(metrics, "bounce_dead_lettered_total") == want_dead
    ready = httpx.get(f"http://127.0.0.1:{process.http_port}/readyz", timeout=5)  # type: ignore[attr-defined]
    assert ready.status_code == 200 and ready.json()["assigned"]


def _metric_total(text: str, name: str) -> float:
    """The sum over every label set of the counter ``name`` in a /metrics page."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_avro_envelope_and_tombstone(setup: ProcessorSetup) -> None:
    client = avro.registry_client(setup.env.registry_url)
    avro.register_schema(client, setup.topics["raw"], "raw_envelope")
    # an upstream collector writes with the stock Confluent serializer
    serialize = AvroSerializer(client, avro.load_schema_text("raw_envelope"))
    payload = json.dumps(
        {"recipient": "env@example.com", "diagnostic": "550 5.1.1 user unknown"}
    ).encode()
    envelope = serialize(
        {
            "payload": payload,
            "content_type": "application/json",
            "received_at": datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
            "collector": "mta-log",
            "headers": {"tenant": "globex"},
        },
        SerializationContext(setup.topics["raw"], MessageField.VALUE),
    )
    producer = Producer({"bootstrap.servers": setup.env.bootstrap_servers})
    producer.produce(setup.topics["raw"], value=envelope, partition=0)
    producer.produce(setup.topics["raw"], key=b"k", value=None, partition=0)
    producer.flush(30)

    setup.start()
    wait_caught_up(setup, 2)
    outputs = read_outputs(setup)
    assert [r["recipient"] for r in outputs.records] == ["env@example.com"]
    assert outputs.records[0]["headers"]["tenant"] == "globex"
    assert outputs.records[0]["event_time"] == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert [d["error_class"] for d in outputs.dead_letters] == ["empty"]


@pytest.mark.parametrize(
    ("workers", "alive_seconds"),
    [(0, (3.0, 7.0)), (2, (9.0, 14.0))],  # workers build their engines first: live longer
    ids=["work-thread", "2-worker-processes"],
)
def test_sigkill_at_random_points_keeps_exactly_once(
    setup: ProcessorSetup, workers: int, alive_seconds: tuple[float, float]
) -> None:
    setup.overrides = {"static_membership": True, "batch.max_records": 50, "workers": workers}
    events = list(generate(3000, garbage_every=13))
    produce_raw(setup.env, setup.topics["raw"], events)
    want_records, want_dead = expected_records(events)
    rng = random.Random(7)

    kills = 0
    for _ in range(4):
        process = setup.start()
        time.sleep(rng.uniform(*alive_seconds))
        if process.poll() is not None:
            break
        children = _children(process.pid)
        assert len(children) >= workers, "the worker processes run beside the loop"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills += 1
        # nothing tells a worker that its parent was killed: it must notice and exit
        deadline = time.monotonic() + 10
        while any(_alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [c for c in children if _alive(c)], "worker processes outlived SIGKILL"
    assert kills >= 3, setup.logs()[-3000:]
    process = setup.start()
    wait_caught_up(setup, len(events), timeout=300, process=process)

    outputs = read_outputs(setup)
    assert_exactly_once(outputs, len(events))
    assert len(outputs.records) == want_records
    assert len(outputs.dead_letters) == want_dead


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in found.split()]


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie left for an init that does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kafka_pid() -> int:
    return int((ROOT / "services" / ".run" / "kafka.pid").read_text())


def _restart_broker(kafka_env: KafkaEnv) -> None:
    subprocess.run(["bash", str(ROOT / "services" / "services.sh"), "up"], check=True)


def _stop_broker() -> None:
    pid = _kafka_pid()
    import os

    os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def local_broker(kafka_env: KafkaEnv) -> Iterator[None]:
    if kafka_env.origin != "local-services":
        pytest.skip(f"stopping the broker needs the local services, not {kafka_env.origin}")
    yield
    _restart_broker(kafka_env)


def test_broker_outage_is_ridden_out_exactly_once(
    setup: ProcessorSetup, local_broker: None
) -> None:
    setup.overrides = {"static_membership": True, "resilience.max_outage_seconds": 180}
    events = list(generate(2000, garbage_every=11))
    produce_raw(setup.env, setup.topics["raw"], events)
    process = setup.start()
    time.sleep(4)
    _stop_broker()
    time.sleep(10)
    assert process.poll() is None, "the processor must ride out a short outage"
    _restart_broker(setup.env)
    # It rides the outage out, or, when librdkafka got stuck in it (a transactional call
    # blocked past its timeout, see STUCK_CALL_GRACE_SECONDS), exits non-zero once and is
    # started again, as Kubernetes would: never a hang.
    try:
        wait_caught_up(setup, len(events), timeout=300, process=process)
    except AssertionError:
        assert process.poll() not in (None, 0), "neither caught up nor exited to restart"
        process = setup.start()
        wait_caught_up(setup, len(events), timeout=300, process=process)
    outputs = read_outputs(setup)
    assert_exactly_once(outputs, len(events))


def test_outage_longer_than_the_bound_exits_non_zero(
    setup: ProcessorSetup, local_broker: None
) -> None:
    setup.overrides = {"resilience.max_outage_seconds": 5}
    produce_raw(setup.env, setup.topics["raw"], list(generate(50)))
    process = setup.start()
    wait_caught_up(setup, 50, process=process)
    _stop_broker()
    try:
        code = process.wait(90)
    finally:
        _restart_broker(setup.env)
    assert code == 3, setup.logs()[-3000:]


def test_sigterm_under_load_exits_within_the_bound(setup: ProcessorSetup) -> None:
    # The backlog is ~10 s of work on a quiet machine: the signal must land while the
    # processor is busy, even if the poll below sees the first commit a few seconds late
    # (6,000 events, ~2 s of work, once ran out before the signal on a loaded CI machine).
    events = list(generate(30_000))
    produce_raw(setup.env, setup.topics["raw"], events)
    process = setup.start()
    wait_caught_up(setup, 300, process=process)  # it is busy now
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(40)
    took = time.monotonic() - asked
    assert code == 0, setup.logs()[-3000:]
    assert took < 20, f"shutdown took {took:.1f}s, bound 20s"
    committed = committed_total(setup.env, setup.group_id, setup.topics["raw"])
    assert committed < len(events), f"all {committed} inputs were done before the signal"
    # A second run finishes the rest: nothing lost, nothing twice.
    process = setup.start()
    wait_caught_up(setup, len(events), process=process)
    assert_exactly_once(read_outputs(setup), len(events))
