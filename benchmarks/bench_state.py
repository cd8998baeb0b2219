"""Benchmark of the quarantine state: policy + store updates, restore, bytes per address.

    python benchmarks/bench_state.py                 # 1 M addresses, both back ends (~3-4 min)
    python benchmarks/bench_state.py --large --repeats 1  # 10 M addresses: ~10 min, ~4 GB RAM
    python benchmarks/bench_state.py --addresses 200000 --backends sqlite

What is measured, per back end (``sqlite``, ``rocksdict``):

* **restore**: rebuild an empty partition store from its changelog, i.e. a list of
  (address, encoded state) records, the work done on partition assignment. Reported as
  addresses per second (median of ``--repeats`` runs; the record list is built before
  the clock starts, as the consumer would hand it over).
* **bytes per address**: size on disk of the restored store after compaction (SQLite:
  WAL folded in; RocksDB: memtable flushed, full compaction), divided by the addresses.
* **updates**: signals through ``store.get`` → ``quarantine.apply`` → ``store.put``,
  with a ``flush`` every ``--batch`` signals (one transaction's worth), on the restored
  store: failures for known addresses, new addresses, and delivered reports. Median of
  ``--repeats`` runs of ``--updates`` signals each.

Realistic states: a pool of states is made by the real policy (``rules/quarantine.yaml``)
from synthetic histories over 90 days (1 to 4 failures an address, reasons weighted as in
bounce traffic, provider rule ids), then brought to the end of that period by the timer
(lapsed counters and ended quarantines back to ``valid``), as a live store would hold
them. The N addresses of the changelog reuse values of that pool (a value does not
contain its address), each with its times shifted by up to an hour so that no two
values are alike byte for byte.

The machine is shared: rates are given by wall clock and by CPU time of this process
(all its threads, RocksDB's included); the load average is printed beside them.
Targets (issue 6): restore ≥ 200 000 addresses/s, ≤ 200 bytes per address. Nothing
here asserts timings; it prints them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from processor.qualify.result import FailureType, Reason
from processor.state.codec import NO_TIME, encode_state
from processor.state.quarantine import AddressState, apply, release_due
from processor.state.quarantine_policy import QuarantinePolicy, load_quarantine_policy
from processor.state.signal import AddressSignal
from processor.state.store import (
    Backend,
    RocksDictStateStore,
    SqliteStateStore,
    StateStore,
    open_state_store,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=100)  # "now" of the store: after the 90 days of history
FIRST_NAMES = ["anna", "ben", "chloe", "david", "emma", "farid", "giulia", "hugo", "ines", "jan"]
LAST_NAMES = ["martin", "schmidt", "rossi", "garcia", "dubois", "novak", "silva", "kowalski"]
DOMAINS = [
    ("gmail.com", 30),
    ("yahoo.com", 10),
    ("outlook.com", 10),
    ("hotmail.fr", 6),
    ("gmx.de", 6),
    ("orange.fr", 5),
    ("web.de", 5),
    ("mail.ru", 3),
    ("example-corp.com", 25),
]
REASONS = [
    (Reason.MAILBOX_FULL, 35),
    (Reason.USER_UNKNOWN, 30),
    (Reason.UNREACHABLE, 12),
    (Reason.INACTIVE_MAILBOX, 8),
    (Reason.INVALID_DOMAIN, 5),
    (Reason.REFUSED, 8),
    (Reason.COMPLAINT, 2),
]
RULE_IDS = {
    Reason.MAILBOX_FULL: ["google:quota-exceeded", "microsoft:mailbox-full", "status:5.2.2"],
    Reason.USER_UNKNOWN: ["google:no-such-user", "status:5.1.1", "yahoo:user-unknown"],
    Reason.UNREACHABLE: ["reply:4xx", "status:4.4.1", "orange:greylisted"],
    Reason.INACTIVE_MAILBOX: ["yahoo:disabled", "status:5.2.1"],
    Reason.INVALID_DOMAIN: ["status:5.1.2", "dns:nxdomain"],
    Reason.REFUSED: ["status:5.7.1", "spamhaus:listed"],
    Reason.COMPLAINT: ["arf:abuse"],
}
RULESET_VERSION = "1.3.0+9f2c4e1a"


def address_of(index: int) -> str:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // 10) % len(LAST_NAMES)]
    domain = DOMAINS[index % len(DOMAINS)][0]
    return f"{first}.{last}{index}@{domain}"


def failure(rng: random.Random, address: str, when: datetime) -> AddressSignal:
    reason = rng.choices([r for r, _ in REASONS], [w for _, w in REASONS])[0]
    soft = reason in (Reason.MAILBOX_FULL, Reason.UNREACHABLE)
    return AddressSignal(
        address=address,
        event_time=when,
        failure_type=FailureType.SOFT if soft else FailureType.HARD,
        reason=reason,
        rule_id=rng.choice(RULE_IDS[reason]),
        ruleset_version=RULESET_VERSION,
        event_id=f"bounces.raw-0-{rng.getrandbits(40)}-1",
    )


def success(address: str, when: datetime) -> AddressSignal:
    return AddressSignal(
        address=address,
        event_time=when,
        failure_type=FailureType.IGNORED,
        reason=Reason.NOT_DEFINED,
        rule_id="delivered",
        ruleset_version=RULESET_VERSION,
        is_success=True,
    )


def state_pool(policy: QuarantinePolicy, size: int, seed: int = 7) -> list[bytes]:
    """Encoded states made by the policy from synthetic histories."""
    rng = random.Random(seed)
    pool: list[bytes] = []
    index = 0
    while len(pool) < size:
        address = address_of(index)
        index += 1
        state: AddressState | None = None
        when = START + timedelta(minutes=rng.randrange(90 * 24 * 60))
        for _ in range(rng.choices([1, 2, 3, 4], [50, 25, 15, 10])[0]):
            state, _ = apply(state, failure(rng, address, when), policy)
            when += timedelta(hours=rng.randrange(12, 6 * 24))
        if state is not None and state.change is not None:
            state, _ = release_due(state, END, policy)
            pool.append(encode_state(state))
    return pool


_TIMES = struct.Struct("<Bqq")  # codec header: format, due_at, changed_at


def shifted(value: bytes, shift_ms: int) -> bytes:
    """``value`` with all its times moved ``shift_ms`` earlier (they are relative to the
    header's ``changed_at``, except the due time, moved here too)."""
    version, due, changed = _TIMES.unpack_from(value)
    due = due if due == NO_TIME else due - shift_ms
    return _TIMES.pack(version, due, changed - shift_ms) + value[_TIMES.size :]


def changelog(addresses: int, pool: list[bytes]) -> list[tuple[bytes, bytes | None]]:
    return [
        (
            address_of(index).encode("utf-8"),
            shifted(pool[(index * 7919) % len(pool)], (index * 104_729) % 3_600_000),
        )
        for index in range(addresses)
    ]


def update_stream(rng: random.Random, addresses: int, count: int) -> list[AddressSignal]:
    """60 % failures of known addresses, 20 % new addresses, 20 % delivered reports."""
    signals: list[AddressSignal] = []
    when = END
    for number in range(count):
        when += timedelta(seconds=rng.randrange(1, 30))
        draw = rng.random()
        if draw < 0.6:
            signals.append(failure(rng, address_of(rng.randrange(addresses)), when))
        elif draw < 0.8:
            signals.append(failure(rng, address_of(addresses + number), when))
        else:
            signals.append(success(address_of(rng.randrange(addresses)), when))
    return signals


def compact(store: StateStore) -> None:
    if isinstance(store, SqliteStateStore | RocksDictStateStore):
        store.compact()


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_updates(
    store: StateStore, signals: list[AddressSignal], policy: QuarantinePolicy, batch: int
) -> tuple[float, float]:
    def updates() -> None:
        for number, signal in enumerate(signals, start=1):
            state, changed = apply(store.get(signal.address), signal, policy)
            if changed:
                store.put(state)
            if number % batch == 0:
                store.flush(checkpoint=number)
        store.flush(checkpoint=len(signals))

    wall, cpu = timed(updates)
    return len(signals) / wall, len(signals) / cpu


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def bench_backend(
    backend: Backend,
    records: list[tuple[bytes, bytes | None]],
    update_runs: list[list[AddressSignal]],
    policy: QuarantinePolicy,
    repeats: int,
    batch: int,
    workdir: Path,
) -> dict[str, float]:
    restore_rates: list[tuple[float, float]] = []
    update_rates: list[tuple[float, float]] = []
    size = 0
    for repeat in range(repeats):
        directory = workdir / f"{backend}-{repeat}"
        with open_state_store(directory, "quarantine-0", backend) as store:
            wall, cpu = timed(
                lambda store=store: store.restore(records, checkpoint=len(records) - 1)  # type: ignore[misc]
            )
            restore_rates.append((len(records) / wall, len(records) / cpu))
            print(
                f"  {backend}: restore run {repeat + 1}: {len(records) / wall:,.0f} addr/s wall,"
                f" {len(records) / cpu:,.0f} addr/s CPU ({load()})",
                flush=True,
            )
            if repeat == repeats - 1:
                compact(store)
                size = store.size_bytes()
                for run in update_runs:
                    update_rates.append(run_updates(store, run, policy, batch))
                    print(
                        f"  {backend}: updates: {update_rates[-1][0]:,.0f}/s wall,"
                        f" {update_rates[-1][1]:,.0f}/s CPU ({load()})",
                        flush=True,
                    )
        if repeat < repeats - 1:
            shutil.rmtree(directory)
    return {
        "restore_per_s": statistics.median(rate for rate, _ in restore_rates),
        "restore_per_cpu_s": statistics.median(rate for _, rate in restore_rates),
        "bytes_per_address": size / len(records),
        "updates_per_s": statistics.median(rate for rate, _ in update_rates),
        "updates_per_cpu_s": statistics.median(rate for _, rate in update_rates),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true", help="10 M addresses (slow)")
    parser.add_argument("--backends", default="sqlite,rocksdict")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--updates", type=int, default=50_000, help="signals per update run")
    parser.add_argument("--batch", type=int, default=500, help="signals per flush")
    parser.add_argument("--pool", type=int, default=100_000, help="distinct policy-made states")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: tmp)")
    args = parser.parse_args(argv)
    addresses = 10_000_000 if args.large else args.addresses
    if args.large:
        print("warning: --large builds and restores 10 M addresses per run: this is slow.")
    backends: list[Backend] = [b for b in ("sqlite", "rocksdict") if b in args.backends.split(",")]
    policy = load_quarantine_policy()

    started = time.perf_counter()
    pool = state_pool(policy, args.pool)
    policy_seconds = time.perf_counter() - started
    records = changelog(addresses, pool)
    rng = random.Random(11)
    update_runs = [update_stream(rng, addresses, args.updates) for _ in range(args.repeats)]
    pure = update_runs[0]
    pure_seconds, _ = timed(lambda: [apply(None, signal, policy) for signal in pure])
    mean_value = statistics.fmean(len(value) for value in pool)
    mean_key = statistics.fmean(len(key) for key, _ in records[:100_000])
    print(
        f"{addresses:,} addresses; pool of {len(pool):,} states made by the policy in "
        f"{policy_seconds:.1f}s; mean key {mean_key:.1f} B, mean value {mean_value:.1f} B"
    )
    print(f"pure policy (no store): {len(pure) / pure_seconds:,.0f} apply/s")

    results: dict[Backend, dict[str, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-state-", dir=args.dir))
    try:
        for backend in backends:
            results[backend] = bench_backend(
                backend, records, update_runs, policy, args.repeats, args.batch, workdir
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"{'backend':<10} {'restore addr/s':>15} {'(CPU)':>10} {'bytes/address':>14}"
        f" {'updates/s':>10} {'(CPU)':>8}"
    )
    for backend, result in results.items():
        print(
            f"{backend:<10} {result['restore_per_s']:>15,.0f} {result['restore_per_cpu_s']:>10,.0f}"
            f" {result['bytes_per_address']:>14.1f} {result['updates_per_s']:>10,.0f}"
            f" {result['updates_per_cpu_s']:>8,.0f}"
        )
    if len(results) == 2:
        sqlite, rocks = results["sqlite"], results["rocksdict"]
        print(
            "rocksdict / sqlite (medians):"
            f" restore x{rocks['restore_per_s'] / sqlite['restore_per_s']:.2f}"
            f" (CPU x{rocks['restore_per_cpu_s'] / sqlite['restore_per_cpu_s']:.2f}),"
            f" bytes x{rocks['bytes_per_address'] / sqlite['bytes_per_address']:.2f},"
            f" updates x{rocks['updates_per_s'] / sqlite['updates_per_s']:.2f}"
        )
    print("targets: restore >= 200,000 addr/s, <= 200 bytes/address")
    return 0


if __name__ == "__main__":
    sys.exit(main())
