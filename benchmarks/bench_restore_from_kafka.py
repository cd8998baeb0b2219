"""Restore of one state partition from its changelog topic on the local broker.

What a state-stage pod does when it is assigned a partition: read the compacted
changelog partition to its end (read_committed) and load it into the local store.
Prints, for N addresses, the read alone and read + store restore, in addresses/s
(medians), next to the store-only restore of ``bench_state.py`` for comparison.

    python benchmarks/bench_restore_from_kafka.py [--addresses 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from processor.config import load_settings
from processor.qualify.result import FailureType, Reason
from processor.state import quarantine
from processor.state.codec import encode_state
from processor.state.quarantine_policy import load_quarantine_policy
from processor.state.signal import AddressSignal
from processor.state.store import open_state_store
from processor.stream.state_stage import read_changelog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(None)
    topic = f"bench-restore-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[
        topic
    ].result()
    policy = load_quarantine_policy()
    signal = AddressSignal(
        address="x@example.test",
        event_time=datetime(2026, 11, 1, tzinfo=UTC),
        failure_type=FailureType.SOFT,
        reason=Reason.MAILBOX_FULL,
    )
    value = encode_state(quarantine.apply(None, signal, policy)[0])
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 50})
    for n in range(args.addresses):
        producer.produce(topic, key=f"user{n}@example.test".encode(), value=value, partition=0)
        if n % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)

    read_rates, full_rates = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        records = read_changelog(settings, topic, 0)
        read_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            store = open_state_store(Path(folder), "p0")
            store.restore(records)
            store.close()
        full_s = time.perf_counter() - started
        assert len(records) == args.addresses
        read_rates.append(args.addresses / read_s)
        full_rates.append(args.addresses / full_s)
    admin.delete_topics([topic], operation_timeout=30)[topic].result()
    print(f"{args.addresses} addresses, {len(value)} bytes per changelog value")
    for label, rates in (("read changelog", read_rates), ("read + store restore", full_rates)):
        runs = [round(r) for r in rates]
        print(f"{label:22s}median {statistics.median(rates):9.0f} addresses/s  runs {runs}")


if __name__ == "__main__":
    main()
