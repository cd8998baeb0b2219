"""``make demo``: the main job on the local default setup, end to end.

Creates the topics, produces a sample of raw bounces (the emails and SMTP records in
``samples/``, varied into distinct addresses, plus some garbage), runs the
qualification stage until it has caught up, then prints what came out: counts by type
and reason, a few events decoded from Avro, and what went to unqualified and the DLQ.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from processor.config import ProcessorSettings, load_settings
from processor.ops.logging import configure
from processor.sample_events import generate
from processor.stream import avro
from processor.stream.readers import committed_reader
from processor.stream.runner import build_stages, run_stages


def _ends(settings: ProcessorSettings, topic: str) -> dict[int, int]:
    consumer = Consumer({**settings.kafka.client_config(), "group.id": "demo-probe"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def _committed(settings: ProcessorSettings, topic: str, group: str | None = None) -> int:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": group or settings.group_id,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        done = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in done)
    finally:
        consumer.close()


def _read_from(
    settings: ProcessorSettings, topic: str, starts: dict[int, int]
) -> list[dict[str, Any]]:
    """Decode, read_committed, everything after ``starts`` (this run's output)."""
    decoder = avro.deserializer(avro.registry_client(settings.registry.url))
    ends = _ends(settings, topic)
    consumer = committed_reader(settings)
    consumer.assign([TopicPartition(topic, p, starts.get(p, 0)) for p in ends])
    out: list[dict[str, Any]] = []
    remaining = {p for p in ends if ends[p] > starts.get(p, 0)}
    deadline = time.monotonic() + 30
    while remaining and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            for tp in consumer.position([TopicPartition(topic, p) for p in list(remaining)]):
                if tp.offset >= ends[tp.partition]:
                    remaining.discard(tp.partition)
            continue
        value = message.value()
        if message.error() or value is None:
            continue
        out.append(avro.decode(decoder, value, topic))
        partition = message.partition() or 0
        if (message.offset() or 0) + 1 >= ends[partition]:
            remaining.discard(partition)
    consumer.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="raw events to produce")
    parser.add_argument("--garbage-every", type=int, default=25)
    args = parser.parse_args(argv)
    configure("ERROR", json_output=False)  # the summary below says what was dead-lettered
    settings = load_settings(None)
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"port": 0})})

    print(
        f"== bounce-processor demo: Kafka {settings.kafka.bootstrap_servers}, "
        f"registry {settings.registry.url}"
    )
    # Both stages in this process: topics created, schemas registered, rules loaded.
    stages = build_stages(settings, "all")
    print(f"   rules {stages[0].rules.version} ({settings.rules.mode.value} mode)")
    outputs = (
        settings.topics.failures,
        settings.topics.unqualified,
        settings.topics.dlq,
        settings.topics.quarantine,
        settings.topics.mx_policy,
    )
    starts = {topic: _ends(settings, topic) for topic in outputs}

    producer = Producer({**settings.kafka.client_config(), "linger.ms": 20})
    produced = 0
    first = sum(_ends(settings, settings.topics.raw).values())  # new addresses every run
    for n, event in enumerate(generate(args.events, garbage_every=args.garbage_every, start=first)):
        headers: list[tuple[str, str | bytes | None]] = [("x-tenant", b"demo")]
        if event.content_type != "garbage":
            headers.append(("content-type", event.content_type.encode()))
        producer.produce(
            settings.topics.raw, key=f"demo-{n}".encode(), value=event.value, headers=headers
        )
        produced += 1
    producer.flush(60)
    target = sum(_ends(settings, settings.topics.raw).values())
    print(f"== produced {produced} raw events to {settings.topics.raw}; processing")

    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stages(stages, install_signals=False)), daemon=True
    )
    started = time.monotonic()
    runner.start()
    while True:
        done = _committed(settings, settings.topics.raw)
        rate = done / max(time.monotonic() - started, 1e-3)
        print(f"\r   committed {done}/{target} raw events ({rate:,.0f}/s)", end="", flush=True)
        if done >= target or not runner.is_alive():
            break
        time.sleep(0.5)
    print()
    # Let the state stage take in the failures just written, then stop both.
    # Transactional topics end with a commit marker, which no consumer offset passes.
    failures_end = sum(
        max(end - 1, 0) for end in _ends(settings, settings.topics.failures).values()
    )
    print("   state stage: quarantine and MX routes ...", flush=True)
    while (
        runner.is_alive()
        and _committed(settings, settings.topics.failures, settings.state.group_id) < failures_end
    ):
        time.sleep(0.5)
    for stage in stages:
        stage.stop()
    runner.join(60)
    if result and result[0] != 0:
        print(f"processor exited with {result[0]}", file=sys.stderr)
        return result[0]

    failures, unqualified, dead, states, policies = (
        _read_from(settings, t, starts[t]) for t in outputs
    )
    print(
        f"== this run: {len(failures)} failure events, {len(unqualified)} unqualified, "
        f"{len(dead)} dead letters"
    )
    print("   by type / reason:")
    for (kind, reason), count in Counter(
        (e["failure_type"], e["reason"]) for e in failures + unqualified
    ).most_common():
        print(f"     {kind:12s} {reason:18s} {count:6d}")
    print("== a few failure events (decoded from Avro with only the registry URL):")
    seen: set[str] = set()
    for shown in failures:
        if shown["reason"] in seen:
            continue
        seen.add(shown["reason"])
        print(
            f"   {shown['recipient']:42s} {shown['failure_type']:5s} {shown['reason']:17s} "
            f"{shown['detail']:14s} {shown['rule_id']}  <- {(shown['diagnostic'] or '')[:60]!r}"
        )
    if unqualified:
        print("== unqualified (for a human to write a rule):")
        for diagnostic, count in Counter(e["diagnostic"] for e in unqualified).most_common(5):
            print(f"   {count:5d} x {(diagnostic or '')[:90]!r}")
    if dead:
        print("== dead letters by error class:")
        for (stage_name, error_class), count in Counter(
            (d["stage"], d["error_class"]) for d in dead
        ).most_common():
            print(f"   {count:5d} x {stage_name}/{error_class}")
    if states:
        print(f"== quarantine: {len(states)} state changes on {settings.topics.quarantine}")
        latest = {s["address"]: s for s in states}
        for status, count in Counter(s["status"] for s in latest.values()).most_common():
            print(f"   {status:12s} {count:6d} addresses")
    if policies:
        print(f"== MX policy: {len(policies)} route changes on {settings.topics.mx_policy}")
        for policy in policies[:5]:
            print(
                f"   {policy['route']:44s} level {policy['level']} "
                f"{policy['status']:10s} {policy['reason']}"
            )
    accounted = len(
        {(e["source"]["partition"], e["source"]["offset"]) for e in failures + unqualified}
    ) + len(dead)
    print(
        f"== count in {produced} = inputs with records {accounted - len(dead)} "
        f"+ dead-lettered {len(dead)}: "
        f"{'OK' if accounted == produced else 'MISMATCH'}"
    )
    return 0 if accounted == produced else 1


if __name__ == "__main__":
    sys.exit(main())
