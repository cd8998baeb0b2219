"""The state stage: per-address quarantine and per-route MX policy, exactly once.

Inputs (one consumer group, one transaction per batch):

- ``bounces.failures`` (key: address). Each event moves the address's quarantine state
  (pure policy in :mod:`processor.state.quarantine`); every state it passes through is
  published as a ``QuarantineState`` on ``bounces.quarantine`` and its compact form on
  the changelog, both to the input's partition, so a partition's state lives in one
  place. Route-relevant failures (DSNs and SMTP rejections) are re-keyed by MX route to
  the internal ``bounces.mx-signals`` topic (the Kafka Streams repartition pattern).
- ``bounces.mx-signals`` (key: route). Each signal moves the route's state (pure policy
  in :mod:`processor.state.mx_policy`); changes go to ``bounces.mx-policy``.

State changes are held as pending while the batch is open and made final only when its
transaction commits (``on_committed``); an aborted batch forgets them. On assignment a
partition's store is rebuilt from its changelog (only the assigned partitions). Timers
(releases, route warm-ups) fire in :meth:`StateTask.punctuate`, on the wall clock in a
live run or on the highest event time seen (``state.clock: event``) in a replay. That
event clock is state too: each batch that moves a partition's clock writes it to the
partition's changelog under :data:`CLOCK_KEY`, so whoever takes the partition over fires
the timers that fell due at it, even with no new input.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from confluent_kafka import TopicPartition

from processor.config import ProcessorSettings, StateClock
from processor.ops import metrics
from processor.state import mx_policy
from processor.state import quarantine as q
from processor.state.codec import from_millis, millis
from processor.state.mx_rules import MxRuleSet, load_mx_rules
from processor.state.quarantine_policy import QuarantinePolicy, load_quarantine_policy
from processor.state.signal import AddressSignal
from processor.state.store import StateStore, open_state_store
from processor.stream import avro
from processor.stream.events import SourceMessage
from processor.stream.readers import committed_reader
from processor.stream.stage import RuleSource, StageRunner, register_schemas
from processor.stream.task import Output, Partition, StreamTask
from processor.stream.topics import ensure_topics
from processor.stream.transactional import TransactionalLoop

log = logging.getLogger(__name__)

ROUTE_SIGNAL_KINDS = {"dsn", "smtp"}

#: The changelog key of a partition's event clock (no address or route key starts with NUL).
CLOCK_KEY = b"\x00event-clock"

Serialize = Callable[[dict[str, Any], str], bytes]
Decode = Callable[[bytes, str], dict[str, Any]]


def read_changelog(
    settings: ProcessorSettings, topic: str, partition: int, timeout: float = 300
) -> list[tuple[bytes, bytes | None]]:
    """Every committed record of one changelog partition, oldest first."""
    consumer = committed_reader(
        settings,
        f"restore-{settings.instance_id}",
        {
            "fetch.max.bytes": 52428800,
            "max.partition.fetch.bytes": 52428800,
            "queued.max.messages.kbytes": 262144,
        },
    )
    try:
        tp = TopicPartition(topic, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=15, cached=False)
        if high <= low:
            return []
        consumer.assign([TopicPartition(topic, partition, low)])
        records: list[tuple[bytes, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, timeout=0.5)
            for message in batch:
                key = message.key()
                if message.error() is None and key is not None:
                    records.append((key, message.value()))
            if consumer.position([tp])[0].offset >= high:
                return records
        raise TimeoutError(f"restoring {topic}[{partition}] did not reach offset {high}")
    finally:
        consumer.close()


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run ``method`` under the task's lock (the loop thread and HTTP lookups share it)."""

    @functools.wraps(method)
    def wrapper(self: StateTask, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class StateTask(StreamTask):
    def __init__(
        self,
        settings: ProcessorSettings,
        *,
        policy: QuarantinePolicy,
        mx_rules: MxRuleSet,
        serialize: Serialize,
        decode: Decode,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.policy = policy
        self.mx_rules = mx_rules
        self.serialize = serialize
        self.decode = decode
        self.wall_clock = wall_clock
        self.punctuate_interval = settings.state.punctuate_seconds
        self.stores: dict[int, StateStore] = {}
        self.routes: dict[int, dict[str, mx_policy.RouteState]] = {}
        self.pending_routes: dict[int, dict[str, mx_policy.RouteState]] = {}
        self.event_clock: dict[Partition, datetime] = {}
        self.pending_clock: dict[Partition, datetime] = {}
        # The HTTP lookups run on other threads; stores are single-threaded objects.
        self.lock = threading.RLock()

    # -- assignment and restore --------------------------------------------------------

    @_locked
    def on_assigned(self, partitions: list[Partition]) -> None:
        for topic, partition in partitions:
            started = time.monotonic()
            if topic == self.topics.failures:
                restored = self._restore_quarantine(partition)
                kind = "quarantine"
            elif topic == self.topics.mx_signals:
                restored = self._restore_routes(partition)
                kind = "mx routes"
            else:
                continue
            log.info(
                "restored %s partition %d: %d records in %.2fs",
                kind,
                partition,
                restored,
                time.monotonic() - started,
            )
        metrics.restore_progress.set(1)
        self._report_store_size()

    def _restore_quarantine(self, partition: int) -> int:
        directory = self.settings.state_dir / "quarantine"
        name = f"p{partition}"
        # The changelog is the truth: a local copy may hold writes of an aborted batch.
        for leftover in directory.glob(f"{name}.*"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        store = open_state_store(directory, name, self.settings.state.backend)  # type: ignore[arg-type]
        records = read_changelog(self.settings, self.topics.quarantine_changelog, partition)
        records = self._take_clock(records, (self.topics.failures, partition))
        store.restore(records)
        self.stores[partition] = store
        return len(records)

    def _restore_routes(self, partition: int) -> int:
        records = read_changelog(self.settings, self.topics.mx_changelog, partition)
        records = self._take_clock(records, (self.topics.mx_signals, partition))
        routes: dict[str, mx_policy.RouteState] = {}
        for key, value in records:
            if value is None:
                routes.pop(key.decode(), None)
            else:
                routes[key.decode()] = mx_policy.RouteState.model_validate_json(value)
        self.routes[partition] = routes
        self.pending_routes[partition] = {}
        return len(records)

    def _take_clock(
        self, records: list[tuple[bytes, bytes | None]], tp: Partition
    ) -> list[tuple[bytes, bytes | None]]:
        """The changelog records without the clock's; the clock is restored from its last."""
        kept: list[tuple[bytes, bytes | None]] = []
        for record in records:
            if record[0] != CLOCK_KEY:
                kept.append(record)
            elif record[1]:
                self.event_clock[tp] = from_millis(int(record[1]))
        return kept

    def _changelog_of(self, topic: str) -> str:
        if topic == self.topics.failures:
            return self.topics.quarantine_changelog
        return self.topics.mx_changelog

    @_locked
    def on_revoked(self, partitions: list[Partition]) -> None:
        for topic, partition in partitions:
            if topic == self.topics.failures and partition in self.stores:
                self.stores.pop(partition).close()
            elif topic == self.topics.mx_signals:
                self.routes.pop(partition, None)
                self.pending_routes.pop(partition, None)
            self.event_clock.pop((topic, partition), None)
            self.pending_clock.pop((topic, partition), None)

    # -- transactions ------------------------------------------------------------------

    @_locked
    def on_committed(self) -> None:
        for store in self.stores.values():
            store.flush()
        for partition, pending in self.pending_routes.items():
            self.routes.setdefault(partition, {}).update(pending)
            pending.clear()
        self.event_clock.update(self.pending_clock)
        self.pending_clock.clear()

    @_locked
    def on_aborted(self) -> None:
        for store in self.stores.values():
            store.discard()
        for pending in self.pending_routes.values():
            pending.clear()
        self.pending_clock.clear()

    @_locked
    def closing_outputs(self) -> list[Output]:
        """The event clock of each partition the batch moved, to its changelog."""
        if self.settings.state.clock is not StateClock.EVENT:
            return []
        return [
            Output(
                self._changelog_of(topic),
                CLOCK_KEY,
                str(millis(moment)).encode(),
                partition=partition,
            )
            for (topic, partition), moment in self.pending_clock.items()
        ]

    # -- processing --------------------------------------------------------------------

    @_locked
    def process(self, message: SourceMessage) -> list[Output]:
        if message.value is None:
            return []
        event = self.decode(message.value, message.topic)
        moment = event["event_time"]
        tp = (message.topic, message.partition)
        clock = self.pending_clock.get(tp) or self.event_clock.get(tp)
        if clock is None or moment > clock:
            self.pending_clock[tp] = moment
        if message.topic == self.topics.failures:
            return self._quarantine(message, event) + self._repartition(message, event)
        if message.topic == self.topics.mx_signals:
            return self._route(message, event)
        return []

    def _quarantine(self, message: SourceMessage, event: dict[str, Any]) -> list[Output]:
        store = self.stores[message.partition]
        address = message.key.decode() if message.key else event["recipient"]
        signal = AddressSignal.from_failure_event(event, address)
        passed = q.changes(store.get(address), signal, self.policy)
        outputs: list[Output] = []
        for state in passed:
            outputs.extend(self._publish_state(message.partition, state, signal.event_id))
        return outputs

    def _publish_state(
        self, partition: int, state: q.AddressState, cause: str | None
    ) -> list[Output]:
        encoded = self.stores[partition].put(state)
        key = state.address.encode()
        record = q.to_avro_record(state, cause)
        return [
            Output(
                self.topics.quarantine,
                key,
                self.serialize(record, self.topics.quarantine),
                partition=partition,
            ),
            Output(self.topics.quarantine_changelog, key, encoded, partition=partition),
        ]

    def _repartition(self, message: SourceMessage, event: dict[str, Any]) -> list[Output]:
        if event.get("kind") not in ROUTE_SIGNAL_KINDS or event.get("failure_type") == "ignored":
            return []
        signal = mx_policy.RouteSignal.from_failure_event(event)
        route = mx_policy.route_of(signal, self.mx_rules)
        return [Output(self.topics.mx_signals, route.key.encode(), message.value)]

    def _route(self, message: SourceMessage, event: dict[str, Any]) -> list[Output]:
        signal = mx_policy.RouteSignal.from_failure_event(event)
        key = message.key.decode() if message.key else mx_policy.route_of(signal, self.mx_rules).key
        state = self._route_state(message.partition, key)
        if state is not None and not self.mx_rules.has_rule(state.rule_id):
            state = None  # its rule left the rule set: start the route afresh
        new_state, changes = mx_policy.apply(state, signal, self.mx_rules)
        return self._publish_route(message.partition, key, new_state, changes)

    def _route_state(self, partition: int, key: str) -> mx_policy.RouteState | None:
        pending = self.pending_routes.setdefault(partition, {})
        if key in pending:
            return pending[key]
        return self.routes.setdefault(partition, {}).get(key)

    def _publish_route(
        self,
        partition: int,
        key: str,
        state: mx_policy.RouteState,
        changes: list[mx_policy.MxPolicyChange],
    ) -> list[Output]:
        self.pending_routes.setdefault(partition, {})[key] = state
        outputs = [
            Output(
                self.topics.mx_policy,
                change.key.encode(),
                self.serialize(change.to_avro(), self.topics.mx_policy),
            )
            for change in changes
        ]
        outputs.append(
            Output(
                self.topics.mx_changelog,
                key.encode(),
                state.model_dump_json().encode(),
                partition=partition,
            )
        )
        return outputs

    # -- timers ------------------------------------------------------------------------

    def _now(self, tp: Partition) -> datetime | None:
        if self.settings.state.clock is StateClock.EVENT:
            return self.event_clock.get(tp)
        return self.wall_clock()

    @_locked
    def punctuate(self) -> list[Output]:
        outputs: list[Output] = []
        for partition, store in self.stores.items():
            now = self._now((self.topics.failures, partition))
            if now is None:
                continue
            for state in store.due(now, limit=10_000):
                released, changed = q.release_due(state, now, self.policy)
                if changed:
                    outputs.extend(self._publish_state(partition, released, None))
        for partition in list(self.routes):
            now = self._now((self.topics.mx_signals, partition))
            if now is None:
                continue
            for key in list(self.routes[partition]):
                route = self._route_state(partition, key)
                if route is None or not self.mx_rules.has_rule(route.rule_id):
                    continue
                due = mx_policy.next_due(route, self.mx_rules)
                if due is None or due > now:
                    continue
                advanced, changes = mx_policy.advance(route, now, self.mx_rules)
                if changes:
                    outputs.extend(self._publish_route(partition, key, advanced, changes))
        self._report_store_size()
        return outputs

    def _report_store_size(self) -> None:
        metrics.state_store_bytes.set(sum(s.size_bytes() for s in self.stores.values()))

    # -- lookups (HTTP) ----------------------------------------------------------------

    @_locked
    def quarantine_lookup(self, address: str) -> dict[str, Any] | None:
        wanted = address.strip().lower()
        for store in list(self.stores.values()):
            state = store.get(wanted)
            if state is not None:
                return json.loads(json.dumps(q.to_avro_record(state), default=_iso))
        return None

    @_locked
    def route_lookup(self, key: str) -> dict[str, Any] | None:
        for partition in list(self.routes):
            state = self._route_state(partition, key)
            if state is not None:
                return json.loads(state.model_dump_json())
        return None


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def serializers(settings: ProcessorSettings) -> tuple[Serialize, Decode]:
    client = avro.registry_client(settings.registry.url, settings.registry.client)
    by_topic = {
        settings.topics.quarantine: avro.serializer(client, "quarantine_state"),
        settings.topics.mx_policy: avro.serializer(client, "mx_policy"),
    }
    decoder = avro.deserializer(client)

    def serialize(record: dict[str, Any], topic: str) -> bytes:
        return by_topic[topic](record, topic)

    def decode(value: bytes, topic: str) -> dict[str, Any]:
        return avro.decode(decoder, value, topic)

    return serialize, decode


class StateStageTask(StateTask):
    """The state task plus the rule swap: a new published set brings a new quarantine
    policy and new MX rules, adopted between two transactions."""

    def __init__(self, settings: ProcessorSettings, rules: RuleSource) -> None:
        serialize, decode = serializers(settings)
        super().__init__(
            settings,
            policy=load_quarantine_policy(rules.folder / "quarantine.yaml"),
            mx_rules=load_mx_rules(rules.folder, version=rules.version),
            serialize=serialize,
            decode=decode,
        )
        self.rules = rules

    def between_transactions(self) -> None:
        if self.rules.swap_if_published():
            self.policy = load_quarantine_policy(self.rules.folder / "quarantine.yaml")
            self.mx_rules = load_mx_rules(self.rules.folder, version=self.rules.version)


def build_state_stage(settings: ProcessorSettings, http_port: int | None = None) -> StageRunner:
    """Topics, schemas, policies and the loop of the state stage, ready to run."""
    ensure_topics(settings)
    register_schemas(settings)
    rules = RuleSource(settings)
    task = StateStageTask(settings, rules)
    loop = TransactionalLoop(
        settings,
        input_topics=[settings.topics.failures, settings.topics.mx_signals],
        group_id=settings.state.group_id,
        transactional_id=f"{settings.transactional_id}-state",
        task=task,
    )
    lookups = {"quarantine": task.quarantine_lookup, "mx": task.route_lookup}
    return StageRunner("state", settings, loop, rules, lookups=lookups, http_port=http_port)
