"""The transactional loop's contract with its task, on the real broker: a task hears
``on_committed`` after every batch that committed and ``on_aborted`` after every batch
that was aborted (so a stateful task keeps exactly the state of what is durable), and its
``closing_outputs`` are written in the batch's own transaction."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer

from processor.config import ProcessorSettings
from processor.stream.events import SourceMessage
from processor.stream.task import Output, StreamTask
from processor.stream.transactional import EXIT_OK, TransactionalLoop
from tests.conftest import KafkaEnv
from tests.integration.helpers import create_topics, read_all

INPUTS = 230
OVERSIZED_AT = 5  # the first batch writes one record the output topic refuses
MAX_MESSAGE_BYTES = 2048


class JournalTask(StreamTask):
    """Copies each input to ``output``; tells, per batch, what it was told."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.batch: list[int] = []
        self.journal: list[tuple[str, tuple[int, ...]]] = []
        self.oversized_left = 1

    def process(self, message: SourceMessage) -> list[Output]:
        self.batch.append(message.offset)
        value = message.value
        if message.offset == OVERSIZED_AT and self.oversized_left:
            self.oversized_left -= 1
            value = b"x" * (4 * MAX_MESSAGE_BYTES)
        return [Output(self.output, message.key, value)]

    def closing_outputs(self) -> list[Output]:
        return [Output(self.output, b"closing", json.dumps(self.batch).encode())]

    def on_committed(self) -> None:
        self.journal.append(("committed", tuple(self.batch)))
        self.batch = []

    def on_aborted(self) -> None:
        self.journal.append(("aborted", tuple(self.batch)))
        self.batch = []


def _run_bounded_copy(
    kafka_env: KafkaEnv,
    name: str,
    tmp_path: Path,
    make_task: Callable[[str], StreamTask],
    max_records: int,
) -> tuple[StreamTask, str]:
    """``INPUTS`` records on a fresh topic, run through the loop (bounded, as a replay
    runs) with the task ``make_task(output topic)``; the output topic refuses records
    above ``MAX_MESSAGE_BYTES``. Returns the task and the output topic."""
    source, output = f"{name}-in", f"{name}-out"
    create_topics(kafka_env.bootstrap_servers, [source])
    create_topics(
        kafka_env.bootstrap_servers, [output], **{"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    )
    producer = Producer({"bootstrap.servers": kafka_env.bootstrap_servers})
    for n in range(INPUTS):
        producer.produce(source, key=f"k{n}".encode(), value=f"v{n}".encode())
    assert producer.flush(30) == 0

    settings = ProcessorSettings(
        kafka={"bootstrap_servers": kafka_env.bootstrap_servers},  # type: ignore[arg-type]
        batch={"max_records": max_records, "max_ms": 1000},  # type: ignore[arg-type]
        state_dir=tmp_path,
    )
    task = make_task(output)
    loop = TransactionalLoop(
        settings,
        input_topics=[source],
        group_id=name,
        transactional_id=name,
        task=task,
        bounded={(source, 0): (0, INPUTS)},
    )
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(loop.run()))
    runner.start()
    runner.join(120)
    if runner.is_alive():
        loop.request_stop()
        runner.join(30)
    assert result == [EXIT_OK]
    return task, output


def test_the_task_hears_each_commit_and_abort_and_closes_batches_in_their_transaction(
    kafka_env: KafkaEnv, unique_name: str, tmp_path: Path
) -> None:
    task, output = _run_bounded_copy(
        kafka_env, f"loop-{unique_name}", tmp_path, JournalTask, max_records=50
    )
    assert isinstance(task, JournalTask)

    # The first batch held the oversized record: aborted, then done again (librdkafka may
    # abort the next one too, while it bumps the producer epoch).
    kind, aborted = task.journal[0]
    assert kind == "aborted" and OVERSIZED_AT in aborted
    committed = [batch for kind, batch in task.journal if kind == "committed"]
    assert sorted(o for batch in committed for o in batch) == list(range(INPUTS))
    assert task.batch == []  # nothing processed that was not committed or aborted

    written = read_all(kafka_env.bootstrap_servers, output)
    copies = [m.value() for m in written if m.key() != b"closing"]
    assert copies == [f"v{n}".encode() for n in range(INPUTS)]
    closings = [tuple(json.loads(m.value())) for m in written if m.key() == b"closing"]
    assert closings == committed


class _Later:
    """Outputs made only when collected, as a worker process would hand them over."""

    def __init__(self, task: PipelinedCopyTask, messages: list[SourceMessage]) -> None:
        self.task = task
        self.messages = messages

    def result(self) -> list[Output]:
        self.task.events.append(("collect", self.messages[0].offset))
        return [output for m in self.messages for output in self.task.process(m)]


class PipelinedCopyTask(StreamTask):
    """A stateless copy whose work is collected late; the first batch holds a record the
    output topic refuses."""

    pipelined = True

    def __init__(self, output: str) -> None:
        self.output = output
        self.oversized_left = 1
        self.events: list[tuple[str, int]] = []
        self.aborts = 0

    def submit(self, messages: list[SourceMessage]) -> _Later:
        self.events.append(("submit", messages[0].offset))
        return _Later(self, messages)

    def process(self, message: SourceMessage) -> list[Output]:
        value = message.value
        if message.offset == OVERSIZED_AT and self.oversized_left:
            self.oversized_left -= 1
            value = b"x" * (4 * MAX_MESSAGE_BYTES)
        return [Output(self.output, message.key, value)]

    def on_aborted(self) -> None:
        self.aborts += 1


def test_a_pipelined_task_gets_the_next_batch_before_the_last_commits_and_stays_exactly_once(
    kafka_env: KafkaEnv, unique_name: str, tmp_path: Path
) -> None:
    task, output = _run_bounded_copy(
        kafka_env, f"pipe-{unique_name}", tmp_path, PipelinedCopyTask, max_records=20
    )
    assert isinstance(task, PipelinedCopyTask)

    # pipelined: some batch's work was collected after later input had been submitted
    submitted_before = [
        offset
        for i, (kind, offset) in enumerate(task.events)
        if kind == "collect" and any(k == "submit" and o > offset for k, o in task.events[:i])
    ]
    assert submitted_before, task.events[:20]
    # the batch with the refused record was aborted; it and the batch polled after it
    # were read again, and every input was written exactly once, in order
    assert task.aborts >= 1
    copies = [m.value() for m in read_all(kafka_env.bootstrap_servers, output)]
    assert copies == [f"v{n}".encode() for n in range(INPUTS)]
