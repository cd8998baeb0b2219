"""Replays of the raw topic's history into separate topics (``bounce-processor replay``).

A replay assigns the raw topic's partitions by hand (the live consumer group is never
touched), from ``--from`` to ``--until`` (or the end as it was when the replay started),
and runs the same qualification code as the live stage, with the rule set it is given,
into ``<prefix>.failures`` / ``.unqualified`` / ``.dlq``; then the state stage over those
failures, on event time, into ``<prefix>.quarantine`` / ``.mx-policy``. Record keys and
values depend on the input and the rules only, so a replay with the live rules writes the
same bytes and ``event_id``s as the live run. Progress is committed in the replay's own
group (``<prefix>-replay``), transactionally, so an interrupted replay resumes where it
stopped.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from confluent_kafka import Consumer, TopicPartition

from processor.config import ProcessorSettings, RulesMode, StateClock, TopicSettings
from processor.stream.events import SourceMessage
from processor.stream.qualify_app import qualify_task
from processor.stream.readers import committed_reader
from processor.stream.stage import RuleSource, register_schemas
from processor.stream.state_stage import StateStageTask
from processor.stream.task import Output, StreamTask, Submitted
from processor.stream.topics import ensure_topics
from processor.stream.transactional import EXIT_OK, TransactionalLoop

EXIT_INTERRUPTED = 130  # stopped by a signal before the end; the same command resumes

log = logging.getLogger(__name__)

Bounds = dict[tuple[str, int], tuple[int, int]]


def replay_settings(
    live: ProcessorSettings, prefix: str, rules_dir: Path | None
) -> ProcessorSettings:
    """The live settings with every output topic, group and id moved under ``prefix``."""
    topics = TopicSettings(
        **{
            **live.topics.model_dump(),
            "failures": f"{prefix}.failures",
            "unqualified": f"{prefix}.unqualified",
            "dlq": f"{prefix}.dlq",
            "quarantine": f"{prefix}.quarantine",
            "mx_policy": f"{prefix}.mx-policy",
            "quarantine_changelog": f"{prefix}.quarantine-changelog",
            "mx_signals": f"{prefix}.mx-signals",
            "mx_changelog": f"{prefix}.mx-changelog",
        }
    )
    rules = live.rules.model_copy(
        update={"mode": RulesMode.CUSTOM, "dir": rules_dir or live.rules.dir}
    )
    state = live.state.model_copy(
        update={"clock": StateClock.EVENT, "group_id": f"{prefix}-replay-state"}
    )
    return live.model_copy(
        update={
            "topics": topics,
            "rules": rules,
            "state": state,
            "group_id": f"{prefix}-replay",
            "instance_id": f"{prefix}-replay",
            "state_dir": live.state_dir / "replays" / prefix,
            "http": live.http.model_copy(update={"enabled": False}),
        }
    )


def resolve_offsets(
    consumer: Consumer, topic: str, spec: str | None, *, default_end: bool
) -> dict[int, int]:
    """Offsets per partition for ``earliest`` / ``latest`` / a number / an ISO-8601 time."""
    partitions = sorted(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
    marks = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15, cached=False)
        for p in partitions
    }
    if spec is None:
        spec = "latest" if default_end else "earliest"
    if spec == "earliest":
        return {p: low for p, (low, _high) in marks.items()}
    if spec == "latest":
        return {p: high for p, (_low, high) in marks.items()}
    if spec.isdigit():
        return {p: min(max(int(spec), low), high) for p, (low, high) in marks.items()}
    moment = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    millis = int(moment.timestamp() * 1000)
    found = consumer.offsets_for_times(
        [TopicPartition(topic, p, millis) for p in partitions], timeout=15
    )
    # -1: no record at or after that time: the partition's end.
    return {tp.partition: tp.offset if tp.offset >= 0 else marks[tp.partition][1] for tp in found}


def plan(
    settings: ProcessorSettings,
    source_topic: str,
    start: str | None,
    until: str | None,
    restart: bool,
    group: str,
) -> Bounds:
    """The offset range per partition; resumes from ``group``'s committed progress."""
    consumer = committed_reader(settings, group)
    try:
        starts = resolve_offsets(consumer, source_topic, start, default_end=False)
        ends = resolve_offsets(consumer, source_topic, until, default_end=True)
        if not restart:
            done = consumer.committed([TopicPartition(source_topic, p) for p in starts], timeout=15)
            for tp in done:
                if tp.offset >= 0:
                    starts[tp.partition] = max(starts[tp.partition], tp.offset)
        return {(source_topic, p): (starts[p], max(ends[p], starts[p])) for p in starts}
    finally:
        consumer.close()


@dataclass
class Progress:
    """What the replay shows while it runs, and its summary."""

    total: dict[tuple[str, int], int]
    done: dict[tuple[str, int], int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def count(self, messages: list[SourceMessage], outputs: list[Output]) -> None:
        for message in messages:
            tp = (message.topic, message.partition)
            self.done[tp] = self.done.get(tp, 0) + 1
        for output in outputs:
            self.outputs[output.topic] = self.outputs.get(output.topic, 0) + 1

    def line(self) -> str:
        done, total = sum(self.done.values()), sum(self.total.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        parts = " ".join(
            f"{p}:{self.done.get((t, p), 0)}/{n}" for (t, p), n in sorted(self.total.items())
        )
        eta_text = f"{eta:,.0f}s" if eta != float("inf") else "?"
        return f"{done}/{total} events, {rate:,.0f}/s, ETA {eta_text}  [{parts}]"


class _Counted:
    """A chunk's submitted work; counted once, when the loop collects its outputs."""

    def __init__(
        self, submitted: Submitted, messages: list[SourceMessage], progress: Progress
    ) -> None:
        self.submitted = submitted
        self.messages: list[SourceMessage] | None = messages
        self.progress = progress

    def result(self) -> list[Output]:
        outputs = self.submitted.result()
        if self.messages is not None:
            self.progress.count(self.messages, outputs)
            self.messages = None
        return outputs


class CountingTask(StreamTask):
    """Wraps a task to count what it does, for the progress line. Chunks go to the
    inner task whole (its own chunked work, its pipelining)."""

    def __init__(self, inner: StreamTask, progress: Progress) -> None:
        self.inner = inner
        self.progress = progress
        self.punctuate_interval = inner.punctuate_interval
        self.pipelined = inner.pipelined

    def submit(self, messages: list[SourceMessage]) -> Submitted:
        return _Counted(self.inner.submit(messages), messages, self.progress)

    def punctuate(self) -> list[Output]:
        return self.inner.punctuate()

    def closing_outputs(self) -> list[Output]:
        return self.inner.closing_outputs()

    def on_assigned(self, partitions: list[tuple[str, int]]) -> None:
        self.inner.on_assigned(partitions)

    def on_revoked(self, partitions: list[tuple[str, int]]) -> None:
        self.inner.on_revoked(partitions)

    def on_committed(self) -> None:
        self.inner.on_committed()

    def on_aborted(self) -> None:
        self.inner.on_aborted()

    def between_transactions(self) -> None:
        self.inner.between_transactions()

    def close(self) -> None:
        self.inner.close()


def _run_bounded(
    settings: ProcessorSettings,
    task: StreamTask,
    bounds: Bounds,
    group: str,
    transactional_id: str,
    label: str,
    out: TextIO,
    register_stop: Callable[[TransactionalLoop], None],
) -> tuple[int, Progress]:
    progress = Progress({tp: end - start for tp, (start, end) in bounds.items()})
    loop = TransactionalLoop(
        settings.model_copy(update={"group_id": group}),
        input_topics=sorted({t for t, _ in bounds}),
        group_id=group,
        transactional_id=transactional_id,
        task=CountingTask(task, progress),
        bounded=bounds,
    )
    register_stop(loop)
    finished = threading.Event()

    def report() -> None:
        while not finished.wait(2.0):
            print(f"\r{label}: {progress.line()}", end="", file=out, flush=True)

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    code = loop.run()
    finished.set()
    print(f"\r{label}: {progress.line()}", file=out, flush=True)
    if code == EXIT_OK and loop.stop_requested:
        code = EXIT_INTERRUPTED
    return code, progress


def run_replay(
    live: ProcessorSettings,
    *,
    prefix: str,
    start: str | None,
    until: str | None,
    rules_dir: Path | None,
    with_state: bool = True,
    restart: bool = False,
    out: TextIO = sys.stderr,
    register_stop: Callable[[TransactionalLoop], None] = lambda _loop: None,
) -> int:
    settings = replay_settings(live, prefix, rules_dir)
    ensure_topics(settings)
    register_schemas(settings)
    rules = RuleSource(settings)
    print(f"replay {live.topics.raw} -> {prefix}.*  rules {rules.version}", file=out)
    bounds = plan(settings, live.topics.raw, start, until, restart, settings.group_id)
    # the live stage's placement of the work: a thread of its own, or worker processes
    task = qualify_task(settings, rules)
    try:
        code, progress = _run_bounded(
            settings,
            task,
            bounds,
            settings.group_id,
            f"{prefix}-replay",
            "qualify",
            out,
            register_stop,
        )
    finally:
        task.close()
    if code != EXIT_OK or not with_state:
        _say_interrupted(code, out)
        return code
    state_task = StateStageTask(settings, rules)
    for topic, label in (
        (settings.topics.failures, "quarantine"),
        (settings.topics.mx_signals, "mx routes"),
    ):
        state_bounds = plan(settings, topic, "earliest", None, restart, settings.state.group_id)
        code, _ = _run_bounded(
            settings,
            state_task,
            state_bounds,
            settings.state.group_id,
            f"{prefix}-replay-state",
            label,
            out,
            register_stop,
        )
        if code != EXIT_OK:
            _say_interrupted(code, out)
            return code
    summary = ", ".join(f"{topic}: {count}" for topic, count in sorted(progress.outputs.items()))
    elapsed = time.monotonic() - progress.started
    print(
        f"replay done: {sum(progress.done.values())} raw events in {elapsed:.1f}s; {summary}",
        file=out,
    )
    return EXIT_OK


def _say_interrupted(code: int, out: TextIO) -> None:
    if code == EXIT_INTERRUPTED:
        print("replay interrupted; run the same command again to resume", file=out)
