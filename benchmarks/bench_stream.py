"""End-to-end throughput of the qualification stage through the local broker.

For SMTP records and for DSN emails, measures events/s from the first poll until every
input's offset is committed, with the real loop (transactions, Avro, registry) and the
default rules; and, in the same run, a passthrough baseline: the same consumer /
producer / transaction settings, but the handler copies each raw event to an output
topic without parsing or rules. Prints medians over repetitions and the ratio.
Target: SMTP records at >= 50 % of passthrough.

    python benchmarks/bench_stream.py [--events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from processor.config import load_settings
from processor.sample_events import generate
from processor.stream.events import SourceMessage
from processor.stream.qualify_app import build_processor
from processor.stream.stage import load_engine_from, register_schemas
from processor.stream.task import FunctionTask, Output
from processor.stream.topics import ensure_topics
from processor.stream.transactional import TransactionalLoop

BOOTSTRAP = "127.0.0.1:9092"


def committed(group: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def one_run(kind: str, count: int, passthrough: bool) -> float:
    name = f"bench{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        None,
    ).model_copy(
        update={
            "group_id": f"{name}-g",
            "instance_id": name,
            "transactional_id_prefix": name,
        }
    )
    topics = settings.topics.model_copy(
        update={
            "raw": f"{name}.raw",
            "failures": f"{name}.failures",
            "unqualified": f"{name}.unqualified",
            "dlq": f"{name}.dlq",
            "quarantine": f"{name}.q",
            "mx_policy": f"{name}.mx",
            "rules": f"{name}.rules",
            "heartbeats": f"{name}.hb",
        }
    )
    settings = settings.model_copy(update={"topics": topics})
    ensure_topics(settings)
    passthrough_topic = f"{name}.copy"
    AdminClient({"bootstrap.servers": BOOTSTRAP}).create_topics(
        [NewTopic(passthrough_topic, num_partitions=3, replication_factor=1)]
    )[passthrough_topic].result()

    producer = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 50})
    for n, event in enumerate(generate(count, kinds=kind)):
        producer.produce(
            topics.raw,
            key=str(n).encode(),
            value=event.value,
            headers=[("content-type", event.content_type.encode())],
        )
        if n % 1000 == 0:
            producer.poll(0)
    producer.flush(60)

    handler: Callable[[SourceMessage], list[Output]]
    if passthrough:

        def handler(message: SourceMessage) -> list[Output]:
            return [Output(passthrough_topic, message.key, message.value or b"")]
    else:
        register_schemas(settings)
        processor = build_processor(settings, load_engine_from(settings.rules.dir))

        def handler(message: SourceMessage) -> list[Output]:
            return processor.process(message).outputs

    loop = TransactionalLoop(
        settings,
        input_topics=[topics.raw],
        group_id=settings.group_id,
        transactional_id=settings.transactional_id,
        task=FunctionTask(handler),
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    start = time.perf_counter()
    thread.start()
    while committed(settings.group_id, topics.raw, 3) < count:
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    loop.request_stop()
    thread.join(30)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, float] = {}
    for label, kind, passthrough in (
        ("passthrough (smtp payloads)", "smtp", True),
        ("qualify smtp records", "smtp", False),
        ("passthrough (email payloads)", "email", True),
        ("qualify DSN emails", "email", False),
    ):
        rates = [one_run(kind, args.events, passthrough) for _ in range(args.repeat)]
        results[label] = statistics.median(rates)
        print(
            f"{label:32s} median {results[label]:9.0f} events/s  runs {[round(r) for r in rates]}"
        )
    smtp_ratio = results["qualify smtp records"] / results["passthrough (smtp payloads)"]
    email_ratio = results["qualify DSN emails"] / results["passthrough (email payloads)"]
    print(f"ratio smtp / passthrough: {smtp_ratio:.2f} (target >= 0.50)")
    print(f"ratio DSN  / passthrough: {email_ratio:.2f}")


if __name__ == "__main__":
    main()
