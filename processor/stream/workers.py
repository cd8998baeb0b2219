"""Where the qualification stage's per-event work runs: a thread, or worker processes.

Parsing, qualifying and serialising a raw event is pure CPU work in Python: one core per
process at most.

By default (``workers: 0``, ``work_thread: true``) the work runs on one thread of its own
(:class:`WorkThread`) beside the loop's. The loop spends part of each batch waiting on
the broker (the transaction's produce requests, offsets and commit: about 13 µs per event
against a local broker, more across a network), in librdkafka calls that release the
GIL; the work thread parses, qualifies and serialises the next batch in that time instead
of after it. The two threads share the GIL, so this overlaps waits, not work.

With ``workers: N`` (N > 0) the qualify stage hands every polled chunk
of raw events to N worker processes and goes on polling while they work; the loop
collects their outputs, in input order, when it writes the batch. Each worker is spawned
(not forked: the parent runs librdkafka threads) and builds its own rule engine, from
the rule folder in use, and its own registry client.

Kafka stays in the main process: the transaction, the offsets, the rebalances and so
exactly-once are the same as with the work done in-process. Metrics are counted in the
main process from what each chunk reports (dead letters, qualifications, regex timeouts).
A worker that dies fails its batch, before the batch's transaction opens; the loop then
exits non-zero and the restart redoes the batch.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.config import ProcessorSettings
from processor.intake.smtp_record import reply_memo_counts
from processor.ops.heap import settle_heap
from processor.stream.events import SourceMessage
from processor.stream.task import Output

log = logging.getLogger(__name__)

#: the interpreter's thread switch interval with a work thread (CPython's default: 5 ms).
#: The loop hands the GIL to the work thread whenever it waits on the broker, and takes
#: it back several times per batch; each time it waits until the work thread is made to
#: yield, up to this interval. Measured with bench_stream (SMTP records, 4 interleaved
#: runs): 5 ms 16,900 events/s, 1 ms 18,100, 0.2 ms 18,300.
SWITCH_INTERVAL_SECONDS = 0.001
#: fewer messages than this per worker are not worth a round trip to a second worker
MIN_MESSAGES_PER_WORKER = 16
PARENT_CHECK_SECONDS = 1.0


@dataclass
class DeadLetterNote:
    """What the main process logs and counts of a dead letter made by a worker."""

    coordinates: str
    stage: str
    error_class: str
    error_message: str


@dataclass
class ChunkOutcome:
    """A worker's answer for one chunk: the outputs in input order, and what to count."""

    outputs: list[Output] = field(default_factory=list)
    dead_letters: list[DeadLetterNote] = field(default_factory=list)
    qualified: list[tuple[str, str]] = field(default_factory=list)  # (failure type, reason)
    rule_timeouts: dict[str, int] = field(default_factory=dict)  # new since the last chunk
    # memo name -> (hits, misses, rests) new since the last chunk
    memo_counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    worker_pid: int = 0


def process_chunk(processor: Any, messages: list[SourceMessage]) -> ChunkOutcome:
    """``processor.process_many`` (a ``QualifyProcessor``) on the messages, in order,
    with what the main process counts of it. The chunk's events share one ``processed_at``
    stamp (when the chunk's work started)."""
    outcome = ChunkOutcome()
    stamp = processor.stamp()
    for message, result in zip(messages, processor.process_many(messages, stamp), strict=True):
        outcome.outputs.extend(result.outputs)
        letter = result.dead_letter
        if letter is not None:
            outcome.dead_letters.append(
                DeadLetterNote(
                    message.coordinates,
                    letter["stage"],
                    letter["error_class"],
                    letter["error_message"],
                )
            )
        outcome.qualified.extend(
            (q.failure_type._value_, q.reason._value_) for q in result.qualifications
        )
    return outcome


class WorkCounts:
    """What the metrics still lack of the work done in one place (the loop's thread, the
    work thread, a worker process): regex timeouts per rule, and the look-ups and rests
    of the memos (:mod:`processor.memo`). Each place keeps one, and fills every chunk's
    outcome with what is new since the last. An engine it has not seen (a rule swap)
    counts its timeouts and decisions from zero."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._timeouts: dict[str, int] = {}
        # the reply memo is the process's, already counting; the decision memo is the
        # engine's, from zero
        self._memos = {"reply": reply_memo_counts(), "decision": (0, 0, 0)}

    def fill(self, outcome: ChunkOutcome, engine: Any) -> None:
        if engine is not self._engine:
            self._engine = engine
            self._timeouts = {}
            self._memos["decision"] = (0, 0, 0)
        outcome.rule_timeouts = self._new_timeouts(engine)
        memo_counts = getattr(engine, "memo_counts", None)
        now = {"reply": reply_memo_counts(), "decision": memo_counts() if memo_counts else None}
        for name, counts in now.items():
            if counts is None:
                continue
            before = self._memos[name]
            outcome.memo_counts[name] = (
                counts[0] - before[0],
                counts[1] - before[1],
                counts[2] - before[2],
            )
            self._memos[name] = counts

    def _new_timeouts(self, engine: Any) -> dict[str, int]:
        """Regex timeouts per rule that ``engine`` counted since last asked."""
        reported = self._timeouts
        new: dict[str, int] = {}
        for rule_id, count in (getattr(engine, "timeouts", None) or {}).items():
            if count > reported.get(rule_id, 0):
                new[rule_id] = count - reported.get(rule_id, 0)
                reported[rule_id] = count
        return new


# -- inside a worker process ----------------------------------------------------------

_processor: Any = None
_counts: WorkCounts | None = None


def _start_worker(settings: ProcessorSettings, rules_folder: str) -> None:
    """Process initializer: the worker's own engine and serialisers."""
    global _processor, _counts
    _exit_with_parent(os.getppid())
    from processor.stream.qualify_app import build_processor
    from processor.stream.stage import load_engine_from

    _processor = build_processor(settings, load_engine_from(Path(rules_folder)))
    _counts = WorkCounts()
    settle_heap()  # the engine's many objects stay out of every later collection


def _exit_with_parent(parent: int) -> None:
    """A worker outlives a parent killed with SIGKILL (nothing tells it); this one
    notices within a second that it was re-parented, and exits."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> int:
    return os.getpid()


def _work(messages: list[SourceMessage]) -> ChunkOutcome:
    """One chunk through the qualification stage's pure work."""
    outcome = process_chunk(_processor, messages)
    outcome.worker_pid = os.getpid()
    assert _counts is not None
    _counts.fill(outcome, _processor.engine)
    return outcome


# -- in the main process --------------------------------------------------------------


class _Chunks:
    """The futures of one polled chunk, split across workers; ``result`` joins them."""

    def __init__(self, futures: list[Future[ChunkOutcome]], report: Callable[[ChunkOutcome], None]):
        self._futures = futures
        self._report = report

    def result(self) -> list[Output]:
        outputs: list[Output] = []
        for future in self._futures:
            outcome = future.result()
            self._report(outcome)
            outputs.extend(outcome.outputs)
        return outputs


class WorkerPool:
    """``count`` spawned worker processes running the qualification stage's work."""

    def __init__(
        self,
        settings: ProcessorSettings,
        rules_folder: Path,
        count: int,
        report: Callable[[ChunkOutcome], None],
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.settings = settings
        self.count = count
        self._report = report
        self._executor = self._start(rules_folder)

    def _start(self, rules_folder: Path) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.settings, str(rules_folder)),
        )
        # Start every worker now (each builds its engine), so that the first batch does
        # not wait for it and a worker that cannot start fails the stage at start-up.
        for future in [executor.submit(_ready) for _ in range(self.count)]:
            future.result()
        log.info(
            "%d worker process(es) ready for rules %s: pids %s",
            self.count,
            rules_folder,
            sorted(executor._processes),
        )
        return executor

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return sorted(self._executor._processes)

    def submit(self, messages: list[SourceMessage]) -> _Chunks:
        """Split ``messages`` in order across the workers; returns at once."""
        parts = max(1, min(self.count, len(messages) // MIN_MESSAGES_PER_WORKER))
        size = -(-len(messages) // parts)
        futures = [
            self._executor.submit(_work, messages[start : start + size])
            for start in range(0, len(messages), size)
        ]
        return _Chunks(futures, self._report)

    def reload(self, rules_folder: Path) -> None:
        """New workers for a new rule set (called between transactions, nothing in
        flight); the old ones are stopped once the new ones are ready."""
        old, self._executor = self._executor, self._start(rules_folder)
        old.shutdown(wait=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class WorkThread:
    """The qualification work on one thread beside the loop's, on the loop's own
    processor (its engine is the one the stage swaps between transactions).

    One thread, so chunks are worked in the order submitted; the loop collects their
    outputs in that order. A chunk whose batch the loop dropped (partitions lost) is
    still worked and its outputs are never collected.
    """

    def __init__(self, processor: Any, report: Callable[[ChunkOutcome], None]) -> None:
        self.processor = processor
        self._report = report
        self._counts = WorkCounts()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qualify-work")
        # process-wide, but this process is the stage's: the loop gets the GIL back sooner
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))

    def _work(self, messages: list[SourceMessage]) -> ChunkOutcome:
        outcome = process_chunk(self.processor, messages)
        self._counts.fill(outcome, self.processor.engine)
        return outcome

    def submit(self, messages: list[SourceMessage]) -> _Chunks:
        """Queue ``messages`` for the work thread; returns at once."""
        return _Chunks([self._executor.submit(self._work, messages)], self._report)

    def reload(self, rules_folder: Path) -> None:
        """The processor's engine was swapped; nothing to do here (the work thread reads
        the new one, and its counts see it new)."""

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
