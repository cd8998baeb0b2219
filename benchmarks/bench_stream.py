"""End-to-end throughput of the qualification stage through the local broker.

For SMTP records and for DSN emails, measures events/s from the first event handled
(after the group join) until every input's offset is committed, with the real loop
(transactions, Avro, registry), the qualify stage's own task and the default rules;
and, in the same run, a
passthrough baseline: the same consumer / producer / transaction settings, but the task
copies each raw event to an output topic without parsing or rules. Runs are interleaved;
prints medians over repetitions and the ratio.
Target: SMTP records at >= 50 % of passthrough.

A second passthrough writes, for each raw SMTP record, an output of the stage's shape
(an Avro-sized value, the recipient as key, the stage's three headers) instead of a copy:
what the loop costs with the stage's outputs and no work. The bench prints the wall time
per event of each and what the work adds, and what the work would have at half of
passthrough.

The qualify variants run the stage's own task with its default settings: the work on a
thread of its own beside the loop's (``work_thread``). Two more variants of the SMTP run
show the other placements, with the same loop and settings otherwise: the work on the
loop's thread (``work_thread: false``), and on ``--workers`` worker processes
(``workers``).

The SMTP records cycle through the 8 shipped ones, so their replies recur (as one
receiving platform's replies do); the engine keeps its decisions and SMTP intake its
reading of a reply by what they read. ``--distinct-replies`` adds a variant whose every
reply names its recipient (``550 5.1.1 <a+17@example.org>: ...``, as Postfix and many
others write it): nothing is found kept, the cost of a stream of replies never seen.

    python benchmarks/bench_stream.py [--events 20000] [--repeat 3] [--workers 2]
        [--distinct-replies]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from processor.config import ProcessorSettings, RulesMode, load_settings
from processor.sample_events import RawEvent, generate
from processor.stream.events import SourceMessage
from processor.stream.qualify_app import qualify_task
from processor.stream.stage import RuleSource, register_schemas
from processor.stream.task import FunctionTask, Output, StreamTask, Submitted
from processor.stream.topics import ensure_topics, topic_plan
from processor.stream.transactional import TransactionalLoop


def committed(settings: ProcessorSettings) -> int:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": settings.group_id}
    )
    try:
        parts = [TopicPartition(settings.topics.raw, p) for p in range(settings.topics.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    except KafkaException:  # a fresh broker's offsets topic is still being made: not yet
        return 0
    finally:
        consumer.close()


def scratch_settings() -> ProcessorSettings:
    """Default settings with every topic, group and id of its own."""
    name = f"bench{uuid.uuid4().hex[:8]}"
    base = load_settings(None)
    topics = base.topics.model_copy(
        update={
            field: f"{name}.{field}"
            for field in (
                "raw",
                "failures",
                "unqualified",
                "dlq",
                "quarantine",
                "mx_policy",
                "rules",
                "heartbeats",
                "quarantine_changelog",
                "mx_signals",
                "mx_changelog",
            )
        }
    )
    return base.model_copy(
        update={
            "group_id": f"{name}-g",
            "instance_id": name,
            "transactional_id_prefix": name,
            "topics": topics,
        }
    )


@dataclass
class Run:
    """One timed run: events/s, and CPU per event while the loop ran: the whole stage
    process's (the loop, the work thread, librdkafka's threads; not worker processes')
    and the loop thread's."""

    rate: float
    process_cpu: float  # µs per event
    loop_cpu: float  # µs per event


Passthrough = Literal["copy", "shaped"]


def run_loop(
    settings: ProcessorSettings,
    events: Iterable[RawEvent],
    passthrough: Passthrough | None,
    workers: int = 0,
    work_thread: bool = True,
) -> Run:
    """Produce ``events`` to the raw topic, then time the loop until all are committed:
    the qualify stage's task, or a ``passthrough`` task: one that copies each raw event
    (``"copy"``) or writes, for each, an output of the stage's shape (``"shaped"``).
    ``workers`` > 0: the qualify work runs on that many worker processes; else on a
    thread of its own (``work_thread``) or the loop's."""
    ensure_topics(settings)
    bootstrap = settings.kafka.bootstrap_servers
    copy_topic = f"{settings.instance_id}.copy"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    admin.create_topics([NewTopic(copy_topic, num_partitions=3, replication_factor=1)])[
        copy_topic
    ].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    count = 0
    for n, event in enumerate(events):
        headers: list[tuple[str, str | bytes | None]] = []
        if event.content_type != "garbage":
            headers.append(("content-type", event.content_type.encode()))
        producer.produce(
            settings.topics.raw, key=str(n).encode(), value=event.value, headers=headers
        )
        count += 1
        if n % 1000 == 0:
            producer.poll(0)
    producer.flush(60)

    first: list[float] = []
    task: StreamTask
    if passthrough == "shaped":
        stamp = [("processed_at", b"2026-11-29T03:00:00.000+00:00"), ("processor_instance", b"b")]

        def write_shaped(message: SourceMessage) -> list[Output]:
            headers = [("event_id", SHAPED_EVENT_ID), *stamp]
            return [Output(copy_topic, SHAPED_KEY, SHAPED_VALUE, headers)]

        task = FunctionTask(write_shaped)
    elif passthrough == "copy":

        def copy(message: SourceMessage) -> list[Output]:
            return [Output(copy_topic, message.key, message.value or b"")]

        task = FunctionTask(copy)
    else:
        # the stage's own task (chunked, phased work; on worker processes when
        # ``workers`` > 0, started and their engines built before the clock starts)
        register_schemas(settings)
        staged = settings.model_copy(
            update={
                "workers": workers,
                "work_thread": work_thread,
                "rules": settings.rules.model_copy(update={"mode": RulesMode.CUSTOM}),
            }
        )
        task = qualify_task(staged, RuleSource(staged))
    task_submit = task.submit

    def submit(messages: list[SourceMessage]) -> Submitted:
        if not first:
            first.append(time.perf_counter())
        return task_submit(messages)

    task.submit = submit  # type: ignore[method-assign]
    commits: list[float] = []  # when each transaction of the loop committed
    task_on_committed = task.on_committed

    def on_committed() -> None:
        task_on_committed()
        commits.append(time.perf_counter())

    task.on_committed = on_committed  # type: ignore[method-assign]
    loop = TransactionalLoop(
        settings,
        input_topics=[settings.topics.raw],
        group_id=settings.group_id,
        transactional_id=settings.transactional_id,
        task=task,
    )
    codes: list[int] = []
    loop_cpu: list[float] = []
    process_cpu: list[float] = []

    def run() -> None:
        started, process_started = time.thread_time(), time.process_time()
        codes.append(loop.run())
        loop_cpu.append(time.thread_time() - started)
        process_cpu.append(time.process_time() - process_started)

    thread = threading.Thread(target=run, daemon=True)
    start = time.perf_counter()
    thread.start()
    while committed(settings) < count:
        if not thread.is_alive():
            raise RuntimeError(f"the loop stopped early with exit code {codes}")
        time.sleep(0.2)
    loop.request_stop()
    thread.join(30)
    task.close()
    # From the first event handled (the group join before it is the same for both
    # variants and not throughput) until the transaction holding the last input's offset
    # committed: the last commit of the run (the polling above only notices it, up to
    # 0.2 s and a client's start later, which was a large share of a fast run).
    done = commits[-1]
    return Run(
        count / (done - (first[0] if first else start)),
        process_cpu=sum(process_cpu) / count * 1e6,
        loop_cpu=sum(loop_cpu) / count * 1e6,
    )


# An output of the qualify stage's shape: a failure event of the shipped SMTP records is
# 279 to 499 bytes (median 354), keyed by the recipient, with three headers.
SHAPED_VALUE = bytes(354)
SHAPED_KEY = b"bob+1@outlook.example"
SHAPED_EVENT_ID = b"243bcca5441fa2007fd035fdd9b78617"


def with_distinct_replies(events: Iterable[RawEvent]) -> Iterable[RawEvent]:
    """SMTP record events whose replies name their recipient after the status
    (Postfix: ``550 5.1.1 <a@example.org>: Recipient address rejected``; at the end of a
    reply with no status), so no two replies are the same text."""
    for event in events:
        record = json.loads(event.value)
        named = f"<{record['recipient']}>"
        text, found = _STATUS_LEAD.subn(rf"\g<0>{named}: ", record["diagnostic"], count=1)
        record["diagnostic"] = text if found else f"{text} {named}"
        yield RawEvent(json.dumps(record).encode(), event.content_type, event.template)


_STATUS_LEAD = re.compile(r"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3} ")


def delete_scratch_topics(used: list[ProcessorSettings]) -> None:
    """A run's scratch topics go as soon as it has been measured: the local broker had
    kept thousands of them (4,500 topics, 12,000 partitions) and grew slower run after
    run, and within one bench the later rounds ran slower than the first (each run adds
    a dozen topics). Called when the run's clients are gone (a live producer that
    refreshes its metadata would have the broker create a deleted topic again)."""
    gc.collect()
    if not used:
        return
    admin = AdminClient({"bootstrap.servers": used[0].kafka.bootstrap_servers})
    existing = set(admin.list_topics(timeout=30).topics)
    names = {name for s in used for name in (*topic_plan(s), f"{s.instance_id}.copy")}
    doomed = sorted(names & existing)
    for future in admin.delete_topics(doomed, operation_timeout=60).values() if doomed else ():
        future.result()


SHAPED = "passthrough, stage-shaped out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes of the extra qualify-SMTP variant (0: leave it out)",
    )
    parser.add_argument(
        "--distinct-replies",
        action="store_true",
        help="add a qualify-SMTP variant whose every reply names its recipient",
    )
    args = parser.parse_args()
    results: dict[str, float] = {}
    # label: (payloads, passthrough (None: the qualify stage), worker processes, work thread)
    runs: dict[str, tuple[str, Passthrough | None, int, bool]] = {
        "passthrough (smtp payloads)": ("smtp", "copy", 0, False),
        SHAPED: ("smtp", "shaped", 0, False),
        "qualify smtp records": ("smtp", None, 0, True),
        "passthrough (email payloads)": ("email", "copy", 0, False),
        "qualify DSN emails": ("email", None, 0, True),
        "qualify smtp, on the loop thread": ("smtp", None, 0, False),
    }
    distinct = "qualify smtp, distinct replies"
    if args.distinct_replies:
        runs[distinct] = ("smtp-distinct", None, 0, True)
    with_workers = f"qualify smtp, {args.workers} workers"
    if args.workers:
        runs[with_workers] = ("smtp", None, args.workers, False)
    found: dict[str, list[Run]] = {label: [] for label in runs}
    for _ in range(args.repeat):  # interleaved, so that drift on a shared machine hits all
        for label, (kind, passthrough, workers, work_thread) in runs.items():
            settings = scratch_settings()
            if kind == "smtp-distinct":
                events = with_distinct_replies(generate(args.events, kinds="smtp"))
            else:
                events = generate(args.events, kinds=kind)
            found[label].append(run_loop(settings, events, passthrough, workers, work_thread))
            delete_scratch_topics([settings])
    print(f"{'':32s} {'events/s':>16s}  {'CPU':>9s}  {'loop CPU':>9s}  runs (events/s)")
    for label, done in found.items():
        results[label] = statistics.median(run.rate for run in done)
        process_cpu = statistics.median(run.process_cpu for run in done)
        loop_cpu = statistics.median(run.loop_cpu for run in done)
        print(
            f"{label:32s} median {results[label]:9.0f}  {process_cpu:6.0f} µs  {loop_cpu:6.0f} µs"
            f"  {[round(run.rate) for run in done]}"
        )
    print(
        "(CPU: the stage process's CPU time per event while the loop ran, all its threads but"
        " not worker processes; loop CPU: the loop thread's. Medians.)"
    )
    smtp_ratio = results["qualify smtp records"] / results["passthrough (smtp payloads)"]
    email_ratio = results["qualify DSN emails"] / results["passthrough (email payloads)"]
    print(f"ratio smtp / passthrough: {smtp_ratio:.2f} (target >= 0.50)")
    passthrough_us = 1e6 / results["passthrough (smtp payloads)"]
    shaped_us = 1e6 / results[SHAPED]
    smtp_us = 1e6 / results["qualify smtp records"]
    print(
        f"wall per SMTP event: {smtp_us:.1f} µs; passthrough {passthrough_us:.1f}, with"
        f" outputs of the stage's shape {shaped_us:.1f}: the work adds"
        f" {smtp_us - shaped_us:.1f} µs; at half of passthrough it would have"
        f" {2 * passthrough_us - shaped_us:.1f}"
    )
    print(f"ratio DSN  / passthrough: {email_ratio:.2f}")
    ratio = results["qualify smtp, on the loop thread"] / results["passthrough (smtp payloads)"]
    print(f"ratio smtp on the loop thread / passthrough: {ratio:.2f}")
    if args.distinct_replies:
        ratio = results[distinct] / results["passthrough (smtp payloads)"]
        print(f"ratio smtp with distinct replies / passthrough: {ratio:.2f}")
    if args.workers:
        ratio = results[with_workers] / results["passthrough (smtp payloads)"]
        print(
            f"ratio smtp with {args.workers} worker processes / passthrough: {ratio:.2f} "
            f"(on {os.cpu_count()} CPUs, shared with the broker and the registry)"
        )


if __name__ == "__main__":
    main()
