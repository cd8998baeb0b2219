"""The exactly-once consume → process → produce loop, shared by every stage.

One transaction per batch (``batch.max_records`` events or ``batch.max_ms``): the
outputs of the batch and the consumer offsets that follow it are committed together, so
a ``read_committed`` reader sees each input's outputs exactly once, whatever crashes.

- Work is done as messages arrive (``task.submit`` per polled chunk); the transaction is
  only opened to write a finished batch, so no transaction is open while the consumer
  polls (and rebalance callbacks run).
- Pipelined tasks (work on worker processes): a finished batch is sealed, the next one is
  polled and submitted, then the sealed one is written; if its transaction aborts, the
  batch after it is dropped as well and both are read again.
- Revoked partitions (cooperative-sticky): the pending batch is committed before they go.
  Lost partitions: the pending batch is dropped; the new owner reprocesses it and our
  late commit, if any, is fenced by the group generation (KIP-447).
- Abortable errors: abort, rewind the batch's partitions to the committed offsets, go on.
- Retriable errors (broker outage): retry until ``resilience.max_outage_seconds``, then
  exit non-zero (``EXIT_OUTAGE``) so that Kubernetes restarts the pod.
- Fatal errors (fenced producer, ...): exit non-zero (``EXIT_FATAL``).
- SIGTERM: finish (or abort) the open batch, commit, leave the group, exit within
  ``shutdown.timeout_seconds``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import Counter

from processor.config import ProcessorSettings
from processor.ops import metrics
from processor.ops.heap import settle_heap
from processor.stream.events import SourceMessage
from processor.stream.task import Output, StreamTask, Submitted

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FATAL = 2
EXIT_OUTAGE = 3

BOUNDED_STALL_SECONDS = 30.0
#: a transactional call still blocked this long after its own timeout is stuck inside
#: librdkafka: since 2.9, ``send_offsets_to_transaction`` can wait forever for a group
#: coordinator that a broker restart took away, its timeout unchecked (librdkafka issues
#: #5456 and #5511). Nothing in the process can end the call; the loop exits
#: ``EXIT_OUTAGE`` so that the restart goes on from the committed offsets.
STUCK_CALL_GRACE_SECONDS = 30.0
#: the producer's first retry backoff (librdkafka's default: 100 ms, doubling up to
#: ``retry.backoff.max.ms``). A transaction's first AddPartitionsToTxn or AddOffsetsToTxn
#: sent right after the previous commit often meets CONCURRENT_TRANSACTIONS: the
#: coordinator is still writing the previous transaction's markers, for about a
#: millisecond. Each such retry held a batch 100 ms; against the local broker, one
#: transaction in ten, a third of the passthrough bench's time. The Java producer waits
#: 20 ms there (KAFKA-5477).
RETRY_BACKOFF_MS = 10

OUTAGE_CODES = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


class FatalKafkaError(Exception):
    """The loop cannot go on; the process should exit non-zero."""

    def __init__(self, message: str, exit_code: int = EXIT_FATAL) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class LoopHealth:
    """What ``/healthz`` and ``/readyz`` read; written by the loop only."""

    last_poll: float = 0.0
    assigned: set[tuple[str, int]] = field(default_factory=set)
    joined: bool = False
    outage_since: float | None = None
    restored: bool = True  # stateful stages set this while restoring


@dataclass
class _Pending:
    submitted: list[Submitted] = field(default_factory=list)  # the outputs, chunk by chunk
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    events: int = 0
    started: float = 0.0


def source_message(message: Message) -> SourceMessage:
    _, timestamp = message.timestamp()
    return SourceMessage(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        value=message.value(),
        key=message.key(),
        headers=_headers(message),
        timestamp_ms=timestamp,
    )


class TransactionalLoop:
    def __init__(
        self,
        settings: ProcessorSettings,
        *,
        input_topics: list[str],
        group_id: str,
        transactional_id: str,
        task: StreamTask,
        bounded: dict[tuple[str, int], tuple[int, int]] | None = None,
    ) -> None:
        """``bounded``: instead of subscribing, assign exactly these partitions, each from
        its start to its end offset (exclusive), and stop once every one has reached its
        end (a replay). The group id then only keeps the replay's own progress."""
        self.settings = settings
        self.input_topics = input_topics
        self.task = task
        self.bounded = bounded
        self.remaining: dict[tuple[str, int], int] = {}
        self._next_in_bounds: dict[tuple[str, int], int] = {}
        self._last_message = time.monotonic()
        self._last_punctuation = time.monotonic()
        self.health = LoopHealth()
        self._stop = threading.Event()
        self._stop_deadline: float | None = None
        self._pending = _Pending()
        # pipelined tasks: the previous batch, whose work may still be running while the
        # loop polls the next one; committed before the next batch is sealed
        self._sealed: _Pending | None = None
        self._fatal: KafkaError | None = None
        # the transactional call under way: its name and when it counts as stuck
        self._in_call: tuple[str, float] | None = None
        self._exit_stuck: Callable[[int], object] = os._exit
        client = settings.kafka.client_config()
        consumer_config: dict[str, Any] = {
            **client,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "statistics.interval.ms": 5000,
            "stats_cb": self._on_stats,
            "error_cb": self._on_error,
        }
        if settings.static_membership:
            consumer_config["group.instance.id"] = settings.instance_id
        consumer_config.setdefault("session.timeout.ms", 15000)
        self.consumer = Consumer(consumer_config)
        self.producer = Producer(
            {
                # the client settings may set their own
                "retry.backoff.ms": RETRY_BACKOFF_MS,
                **client,
                "transactional.id": transactional_id,
                "enable.idempotence": True,
                "linger.ms": 5,
                "transaction.timeout.ms": settings.resilience.transaction_timeout_ms,
                "error_cb": self._on_error,
            }
        )

    # -- life cycle --------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to finish its batch and leave; safe from a signal handler."""
        if not self._stop.is_set():
            self._stop_deadline = time.monotonic() + self.settings.shutdown.timeout_seconds
            self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def run(self) -> int:
        settle_heap()  # what was built before the loop (engine, clients) lives as long as it
        finished = threading.Event()
        threading.Thread(
            target=self._watch_calls, args=(finished,), name="txn-call-watch", daemon=True
        ).start()
        try:
            self._retry("init_transactions", lambda t: self.producer.init_transactions(t))
            if self.bounded is None:
                self.consumer.subscribe(
                    self.input_topics,
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_lost,
                )
            else:
                self._assign_bounded(self.bounded)
            while not self._stop.is_set():
                if self.bounded is not None and not self.remaining and self._idle:
                    break  # every bounded partition reached its end
                polled = self._poll_once()
                if self.bounded is not None:
                    self._restart_stalled_fetch()
                if self._sealed is not None and (self._pending.events or not polled):
                    # the next batch's work is under way (or there is none): write this one
                    self._commit_sealed()
                if self._batch_due():
                    if self.task.pipelined:
                        self._commit_sealed()  # (an abort there drops the pending batch)
                        if self._pending.events:
                            self._sealed, self._pending = self._pending, _Pending()
                    else:
                        self._commit_batch()
                if self._idle:
                    self._punctuate_if_due()
                    self.task.between_transactions()
                self._check_outage()
            if not self._idle:
                self._commit_batch()
            if self.bounded is not None and not self._stop.is_set():
                self._last_punctuation = 0.0  # a finished replay fires its due timers once more
                self._punctuate_if_due()
            return EXIT_OK
        except FatalKafkaError as error:
            log.error("stopping: %s", error)
            return error.exit_code
        finally:
            finished.set()
            self._close()

    def _watch_calls(self, finished: threading.Event) -> None:
        """Exit ``EXIT_OUTAGE`` when a transactional call is stuck in librdkafka (see
        ``STUCK_CALL_GRACE_SECONDS``): a restart recovers, a hung loop never does."""
        while not finished.wait(1.0):
            in_call = self._in_call
            if in_call is not None and time.monotonic() > in_call[1]:
                log.error(
                    "%s has not returned %.0fs after its timeout (stuck in librdkafka); "
                    "exiting %d to restart from the committed offsets",
                    in_call[0],
                    STUCK_CALL_GRACE_SECONDS,
                    EXIT_OUTAGE,
                )
                self._exit_stuck(EXIT_OUTAGE)
                return

    @property
    def _idle(self) -> bool:
        """No batch waits to be written."""
        return not self._pending.events and self._sealed is None

    def _close(self) -> None:
        try:
            self.consumer.close()  # leaves the group (unless static membership)
        except Exception as error:
            log.warning("consumer close: %s", error)
        self.producer.flush(1)

    # -- polling and batching ----------------------------------------------------------

    def _assign_bounded(self, bounded: dict[tuple[str, int], tuple[int, int]]) -> None:
        partitions = [TopicPartition(t, p, start) for (t, p), (start, end) in bounded.items()]
        self.remaining = {tp: end for tp, (start, end) in bounded.items() if start < end}
        self._next_in_bounds = {tp: start for tp, (start, _end) in bounded.items()}
        self._last_message = time.monotonic()
        self.task.on_assigned(list(bounded))
        self.health.assigned.update(bounded)
        self.health.joined = True
        self.consumer.assign(partitions)

    def _drop_finished_partitions(self) -> None:
        """Bounded partitions whose position passed their end without a last message
        (the end was a transaction marker, or aborted records)."""
        positions = self.consumer.position([TopicPartition(t, p) for t, p in self.remaining])
        for tp in positions:
            key = (tp.topic, tp.partition)
            if tp.offset >= 0 and tp.offset >= self.remaining.get(key, tp.offset + 1):
                del self.remaining[key]

    def _restart_stalled_fetch(self) -> None:
        """A bounded run that has received nothing for ``BOUNDED_STALL_SECONDS`` while
        partitions remain: say what the consumer sees, and assign those partitions again
        from the next offset to process (a fresh fetch session)."""
        if self._pending.events or not self.remaining:
            return
        if time.monotonic() - self._last_message < BOUNDED_STALL_SECONDS:
            return
        remaining = [TopicPartition(t, p) for t, p in self.remaining]
        try:
            positions = {
                (tp.topic, tp.partition): tp.offset for tp in self.consumer.position(remaining)
            }
            marks = {
                (tp.topic, tp.partition): self.consumer.get_watermark_offsets(
                    tp, timeout=5, cached=False
                )
                for tp in remaining
            }
        except KafkaException as error:
            positions, marks = {}, {}
            log.warning("stalled bounded fetch: cannot read positions: %s", error)
        log.warning(
            "no record for %ds with %d partitions left; assigning them again. "
            "next/end/position/watermarks: %s",
            BOUNDED_STALL_SECONDS,
            len(self.remaining),
            "; ".join(
                f"{t}[{p}] {self._next_in_bounds.get((t, p))}/{end}/"
                f"{positions.get((t, p))}/{marks.get((t, p))}"
                for (t, p), end in sorted(self.remaining.items())
            ),
        )
        metrics.stalled_fetches.inc()
        self.consumer.assign(
            [TopicPartition(t, p, self._next_in_bounds[(t, p)]) for t, p in self.remaining]
        )
        self._last_message = time.monotonic()

    def _poll_once(self) -> bool:
        """Poll and submit what came; True if anything came."""
        room = self.settings.batch.max_records - self._pending.events
        messages = self.consumer.consume(num_messages=max(room, 1), timeout=self._poll_timeout())
        self.health.last_poll = time.monotonic()
        if not messages and self.remaining:
            self._drop_finished_partitions()
        chunk: list[SourceMessage] = []
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_error(error)
                continue
            source = self._add(message)
            if source is not None:
                chunk.append(source)
        if chunk:
            _count_by_topic(metrics.consumed, (source.topic for source in chunk))
            self._pending.submitted.append(self.task.submit(chunk))
        return bool(messages)

    def _poll_timeout(self) -> float:
        if self._sealed is not None and not self._pending.events:
            return 0.0  # a sealed batch waits: take what is there, then write it
        if self._pending.events:
            elapsed = time.monotonic() - self._pending.started
            return max(0.0, self.settings.batch.max_ms / 1000 - elapsed)
        return min(1.0, self.settings.batch.max_ms / 1000 * 5)

    def _add(self, message: Message) -> SourceMessage | None:
        """Book one message into the pending batch; returns it for the task, or None
        when it is not this loop's to process."""
        if self.bounded is not None:
            tp = (message.topic() or "", message.partition() or 0)
            end = self.remaining.get(tp)
            if end is None or (message.offset() or 0) >= end:
                return None  # past the replay's end: not ours to process
            if (message.offset() or 0) + 1 >= end:
                del self.remaining[tp]
                self.consumer.pause([TopicPartition(tp[0], tp[1])])
            self._next_in_bounds[tp] = (message.offset() or 0) + 1
            self._last_message = time.monotonic()
        pending = self._pending
        if not pending.events:
            pending.started = time.monotonic()
        source = source_message(message)
        tp = (source.topic, source.partition)
        pending.first_offsets.setdefault(tp, source.offset)
        pending.next_offsets[tp] = source.offset + 1
        pending.events += 1
        self.health.outage_since = None
        return source

    def _batch_due(self) -> bool:
        pending = self._pending
        if not pending.events:
            return False
        if pending.events >= self.settings.batch.max_records:
            return True
        return time.monotonic() - pending.started >= self.settings.batch.max_ms / 1000

    # -- the transaction ---------------------------------------------------------------

    def _commit_batch(self) -> None:
        """Write what waits: the sealed batch (pipelined tasks), then the pending one."""
        self._commit_sealed()
        pending, self._pending = self._pending, _Pending()
        if pending.events and not self._commit(pending):
            self._rewind(pending.first_offsets)

    def _commit_sealed(self) -> None:
        sealed, self._sealed = self._sealed, None
        if sealed is None or self._commit(sealed):
            return
        # The pending batch follows the aborted one: drop it too, the rewind re-reads both.
        pending, self._pending = self._pending, _Pending()
        if pending.events:
            self.task.on_aborted()
        self._rewind({**pending.first_offsets, **sealed.first_offsets})

    def _commit(self, pending: _Pending) -> bool:
        """One batch's transaction: True if committed; False if aborted (the task has
        heard ``on_aborted``; the caller rewinds)."""
        started = time.monotonic()
        outputs = self._collect(pending)
        outputs.extend(self.task.closing_outputs())
        try:
            self._retry("begin_transaction", lambda _t: self.producer.begin_transaction())
            for output in outputs:
                self._produce(output)
            offsets = [TopicPartition(t, p, o) for (t, p), o in pending.next_offsets.items()]
            group = self.consumer.consumer_group_metadata()
            self._retry(
                "send_offsets_to_transaction",
                lambda t: self.producer.send_offsets_to_transaction(offsets, group, t),
            )
            self._retry("commit_transaction", lambda t: self.producer.commit_transaction(t))
        except _AbortBatch as abort:
            log.warning(
                "transaction aborted (%s); rewinding %d partitions",
                abort,
                len(pending.first_offsets),
            )
            self._abort(pending)
            return False
        self.task.on_committed()
        metrics.transactions.labels("committed").inc()
        metrics.commit_latency.observe(time.monotonic() - started)
        metrics.batch_size.observe(pending.events)
        _count_by_topic(metrics.produced, (output.topic for output in outputs))
        return True

    def _collect(self, pending: _Pending) -> list[Output]:
        """The batch's outputs, in input order, once every chunk's work is done. Work
        that failed (a worker process died) stops the loop non-zero before the
        transaction opens: nothing of the batch is written, the restart redoes it."""
        try:
            return [output for part in pending.submitted for output in part.result()]
        except Exception as error:
            message = f"the batch's work failed: {type(error).__name__}: {error}"
            raise FatalKafkaError(message) from error

    def _punctuate_if_due(self) -> None:
        interval = self.task.punctuate_interval
        if interval is None or time.monotonic() - self._last_punctuation < interval:
            return
        self._last_punctuation = time.monotonic()
        outputs = self.task.punctuate()
        if not outputs:
            return
        try:
            self._retry("begin_transaction", lambda _t: self.producer.begin_transaction())
            for output in outputs:
                self._produce(output)
            self._retry("commit_transaction", lambda t: self.producer.commit_transaction(t))
        except _AbortBatch as abort:
            log.warning("punctuation aborted (%s); it runs again", abort)
            metrics.transactions.labels("aborted").inc()
            self._retry("abort_transaction", lambda t: self.producer.abort_transaction(t))
            self.task.on_aborted()
            return
        self.task.on_committed()
        metrics.transactions.labels("committed").inc()
        _count_by_topic(metrics.produced, (output.topic for output in outputs))

    def _produce(self, output: Output) -> None:
        while True:
            try:
                headers: list[tuple[str, str | bytes | None]] = list(output.headers)
                if output.partition is None:
                    self.producer.produce(
                        output.topic, key=output.key, value=output.value, headers=headers
                    )
                else:
                    self.producer.produce(
                        output.topic,
                        key=output.key,
                        value=output.value,
                        headers=headers,
                        partition=output.partition,
                    )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain
            except KafkaException as error:
                self._classify(error.args[0], "produce")

    def _abort(self, pending: _Pending) -> None:
        metrics.transactions.labels("aborted").inc()
        try:
            self._retry("abort_transaction", lambda t: self.producer.abort_transaction(t))
        except _AbortBatch as error:
            raise FatalKafkaError(f"abort failed: {error}") from error
        self.task.on_aborted()

    def _rewind(self, first_offsets: dict[tuple[str, int], int]) -> None:
        """Seek the batch's partitions back to their committed offsets."""
        if not first_offsets:
            return
        wanted = [TopicPartition(t, p) for (t, p) in first_offsets]
        try:
            committed = self.consumer.committed(wanted, timeout=10)
        except KafkaException:
            committed = []
        positions = {(tp.topic, tp.partition): tp.offset for tp in committed if tp.offset >= 0}
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        for tp, first in first_offsets.items():
            if tp not in assigned:
                continue
            offset = positions.get(tp, first)
            if self.bounded is not None:
                # The batch may have finished this partition: it is not finished any more.
                self._next_in_bounds[tp] = offset
                end = self.bounded[tp][1]
                if offset < end:
                    self.remaining[tp] = end
                    self.consumer.resume([TopicPartition(tp[0], tp[1])])
            try:
                self.consumer.seek(TopicPartition(tp[0], tp[1], offset))
            except KafkaException as error:
                log.warning("seek %s to %d: %s", tp, offset, error)

    # -- error handling ----------------------------------------------------------------

    def _retry(self, what: str, call: Callable[[float], object]) -> None:
        """Run a transactional call, retrying retriable errors within the outage bound.

        The bound counts from this call's first failure, even while metadata requests
        succeed: a coordinator that keeps timing out is as much an outage as a dead broker.
        """
        failing_since: float | None = None
        while True:
            try:
                timeout = self._call_timeout()
                self._in_call = (what, time.monotonic() + timeout + STUCK_CALL_GRACE_SECONDS)
                try:
                    call(timeout)
                finally:
                    self._in_call = None
                self.health.outage_since = None
                return
            except KafkaException as error:
                self._classify(error.args[0], what)
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self.settings.resilience.max_outage_seconds:
                    raise FatalKafkaError(
                        f"{what} kept failing for more than "
                        f"{self.settings.resilience.max_outage_seconds}s: {error}",
                        EXIT_OUTAGE,
                    ) from error
                self._mark_outage()
                self._check_outage()
                time.sleep(0.5)

    def _call_timeout(self) -> float:
        if self._stop_deadline is not None:
            return max(1.0, self._stop_deadline - time.monotonic())
        return 30.0

    def _classify(self, error: KafkaError, what: str) -> None:
        """Return for retriable errors, raise otherwise."""
        if error.fatal() or error.code() in (
            KafkaError._FENCED,
            KafkaError.PRODUCER_FENCED,
            KafkaError.INVALID_PRODUCER_EPOCH,
        ):
            raise FatalKafkaError(f"{what}: fatal {error}")
        if error.txn_requires_abort():
            raise _AbortBatch(f"{what}: {error}")
        if (
            error.retriable()
            or error.code() in OUTAGE_CODES
            or error.code() == KafkaError._TIMED_OUT
        ):
            log.warning("%s: retriable %s", what, error)
            if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                raise _AbortBatch(f"{what}: shutdown bound reached during {error}")
            return
        raise _AbortBatch(f"{what}: {error}")

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            log.error("fatal client error: %s", error)
            self._fatal = error
            return
        if error.code() in OUTAGE_CODES:
            self._mark_outage()
        log.warning("client error: %s", error)

    def _mark_outage(self) -> None:
        if self.health.outage_since is None:
            self.health.outage_since = time.monotonic()

    def _check_outage(self) -> None:
        if self._fatal is not None:
            raise FatalKafkaError(f"fatal client error: {self._fatal}")
        since = self.health.outage_since
        if since is None:
            return
        if time.monotonic() - since > self.settings.resilience.max_outage_seconds:
            raise FatalKafkaError(
                f"broker unreachable for more than {self.settings.resilience.max_outage_seconds}s",
                EXIT_OUTAGE,
            )
        # A metadata round-trip tells whether the brokers are back while we are idle.
        try:
            self.consumer.list_topics(timeout=1)
            self.health.outage_since = None
        except KafkaException:
            pass

    # -- rebalancing -------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gained = [(tp.topic, tp.partition) for tp in partitions]
        self.health.assigned.update(gained)
        if gained:
            self.health.restored = False
            self.task.on_assigned(gained)
            self.health.restored = True
        self.health.joined = True
        metrics.assigned_partitions.set(len(self.health.assigned))
        log.info("assigned %s", _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", _names(partitions))
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        waiting = set(self._pending.next_offsets)
        if self._sealed is not None:
            waiting |= set(self._sealed.next_offsets)
        if revoked & waiting:
            try:
                self._commit_batch()
            except FatalKafkaError:
                self._fatal = KafkaError(KafkaError._FATAL, "commit on revoke failed", fatal=True)
        self.health.assigned -= revoked
        self.task.on_revoked(sorted(revoked))
        metrics.assigned_partitions.set(len(self.health.assigned))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s; dropping the pending batch", _names(partitions))
        self._pending = _Pending()
        self._sealed = None
        self.task.on_aborted()
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self.health.assigned -= lost
        self.task.on_revoked(sorted(lost))
        metrics.assigned_partitions.set(len(self.health.assigned))

    def _on_stats(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
        except ValueError:
            return
        for topic, topic_stats in (stats.get("topics") or {}).items():
            for partition, p_stats in (topic_stats.get("partitions") or {}).items():
                lag = p_stats.get("consumer_lag", -1)
                if partition != "-1" and lag is not None and lag >= 0:
                    metrics.consumer_lag.labels(topic, partition).set(lag)


def _count_by_topic(counter: Counter, topics: Iterable[str]) -> None:
    """One increment per topic, not per record (a labelled increment costs microseconds)."""
    for topic, count in collections.Counter(topics).items():
        counter.labels(topic).inc(count)


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]


class _AbortBatch(Exception):
    """The open transaction must be aborted and the batch reprocessed."""


def _names(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "-"
