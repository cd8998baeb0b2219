"""The qualification stage's work thread (``work_thread``, the default with ``workers: 0``),
without a broker: real intake and rules, fastavro serialisers."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from processor.paths import rules_dir
from processor.qualify import load_engine
from processor.sample_events import GARBAGE, generate
from processor.stream.events import SourceMessage
from processor.stream.qualify_stage import QualifyProcessor
from processor.stream.workers import (
    SWITCH_INTERVAL_SECONDS,
    ChunkOutcome,
    WorkThread,
    process_chunk,
)
from tests.unit.stream.test_qualify_stage import message, processor_arguments


class _Recording(QualifyProcessor):
    """A processor that notes the thread of each chunk's work, and can be held back."""

    def __init__(self) -> None:
        super().__init__(**processor_arguments())
        self.threads: list[int] = []
        self.go = threading.Event()
        self.go.set()

    def process_many(self, messages: list[SourceMessage], stamp: Any) -> Any:
        self.go.wait(10)
        self.threads.append(threading.get_ident())
        return super().process_many(messages, stamp)


@pytest.fixture
def chunks() -> list[list[SourceMessage]]:
    raws = [(raw.value, raw.content_type) for raw in generate(40)]
    raws[7:7] = [(garbage, None) for garbage in GARBAGE]
    messages = [message(value, n, kind) for n, (value, kind) in enumerate(raws)]
    return [messages[:5], messages[5:23], messages[23:]]


def test_the_work_thread_gives_the_loop_threads_outputs_in_submission_order(
    chunks: list[list[SourceMessage]],
) -> None:
    processor = _Recording()
    reports: list[tuple[ChunkOutcome, int]] = []
    work = WorkThread(processor, lambda outcome: reports.append((outcome, threading.get_ident())))
    try:
        submitted = [work.submit(chunk) for chunk in chunks]
        outputs = [part.result() for part in submitted]
    finally:
        work.close()

    # the same outputs, chunk by chunk, as the work done here and now (the same clock)
    assert outputs == [process_chunk(processor, chunk).outputs for chunk in chunks]
    work_threads = set(processor.threads[: len(chunks)])
    assert len(work_threads) == 1 and threading.get_ident() not in work_threads
    # what a chunk did is counted on the thread that collects it (the loop's)
    assert {ident for _, ident in reports} == {threading.get_ident()}
    assert sum(len(outcome.dead_letters) for outcome, _ in reports) == len(GARBAGE)


def test_submit_returns_before_the_work_is_done(chunks: list[list[SourceMessage]]) -> None:
    """The point of the thread: the loop goes on (polls, commits) while the chunk is
    worked; ``result`` waits for it."""
    processor = _Recording()
    processor.go.clear()
    work = WorkThread(processor, lambda _outcome: None)
    try:
        submitted = work.submit(chunks[0])
        assert processor.threads == [], "the work waits for its go: submit did not"
        processor.go.set()
        assert submitted.result() == process_chunk(processor, chunks[0]).outputs
    finally:
        work.close()


class _TimingOut:
    """An engine stand-in that counts one regex timeout per record."""

    def __init__(self) -> None:
        self.rules = load_engine()
        self.timeouts: dict[str, int] = {}

    def qualify(self, record: Any) -> Any:
        self.timeouts["slow-rule"] = self.timeouts.get("slow-rule", 0) + 1
        return self.rules.qualify(record)


def test_regex_timeouts_are_reported_once_and_counted_afresh_after_a_rule_swap() -> None:
    processor = _Recording()
    processor.engine = _TimingOut()
    reports: list[ChunkOutcome] = []
    work = WorkThread(processor, reports.append)
    smtp = [
        message(raw.value, n, raw.content_type) for n, raw in enumerate(generate(6, kinds="smtp"))
    ]
    try:
        work.submit(smtp[:2]).result()
        work.submit(smtp[2:5]).result()
        processor.engine = _TimingOut()  # the stage swaps the engine between transactions
        work.reload(rules_dir())
        work.submit(smtp[5:]).result()
    finally:
        work.close()
    assert [outcome.rule_timeouts for outcome in reports] == [
        {"slow-rule": 2},
        {"slow-rule": 3},
        {"slow-rule": 1},
    ]


def test_the_work_thread_shortens_the_interpreters_switch_interval() -> None:
    """The loop takes the GIL back from the work thread several times per batch; the
    default 5 ms wait each time held the loop back (see ``SWITCH_INTERVAL_SECONDS``)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        WorkThread(_Recording(), lambda _outcome: None).close()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    finally:
        sys.setswitchinterval(before)
