"""What a stage plugs into the transactional loop: a task with hooks.

The loop owns Kafka (polling, transactions, rebalances); the task owns the work and any
state. Hooks run on the loop's thread, so a task needs no locking against the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from processor.stream.events import SourceMessage

Partition = tuple[str, int]


class Output(NamedTuple):
    """One record to write: topic, key, value (already serialised), headers, partition
    (None: the producer's partitioner decides by key). A named tuple: one is made per
    output event, and a tuple is made several times faster than a frozen dataclass."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None


class Submitted(Protocol):
    """Outputs of a chunk of inputs that may still be in the making (on worker processes)."""

    def result(self) -> list[Output]:
        """The chunk's outputs, in input order; waits for them. Raises if the work failed
        (a worker died): the loop then stops non-zero, with the batch uncommitted."""
        ...


@dataclass
class Done:
    """Outputs already made (the in-process case)."""

    outputs: list[Output]

    def result(self) -> list[Output]:
        return self.outputs


class StreamTask:
    """A stage's work. Override what you need; every hook has a do-nothing default."""

    #: seconds between :meth:`punctuate` calls (None: never)
    punctuate_interval: float | None = None
    #: True: the loop seals a finished batch and polls (and submits) the next one before
    #: it writes the sealed one, so that work done elsewhere (worker processes) goes on
    #: while the loop commits. Only for tasks whose outputs do not depend on commits:
    #: ``on_committed`` then follows a batch while the next one's work has started.
    pipelined: bool = False

    def process(self, message: SourceMessage) -> list[Output]:
        """The outputs of one input; written in the batch's transaction."""
        raise NotImplementedError

    def submit(self, messages: list[SourceMessage]) -> Submitted:
        """Start the work on a chunk of inputs (in order); the loop collects the outputs
        when it writes the batch. By default the work is done here and now, one message
        after the other; a task with worker processes returns before they finish, so
        that they work while the loop polls."""
        return Done([output for message in messages for output in self.process(message)])

    def punctuate(self) -> list[Output]:
        """Timer outputs (e.g. releases that fell due), written in a transaction of their own."""
        return []

    def closing_outputs(self) -> list[Output]:
        """Outputs that close a batch, written in its transaction after those of
        :meth:`process` (e.g. a checkpoint of the task's clock)."""
        return []

    def on_assigned(self, partitions: list[Partition]) -> None:
        """Partitions gained: restore their state before any of their input is processed."""

    def on_revoked(self, partitions: list[Partition]) -> None:
        """Partitions gone (after their pending batch was committed, or lost)."""

    def on_committed(self) -> None:
        """The batch (or punctuation) is durable: make its state changes final."""

    def on_aborted(self) -> None:
        """The batch was aborted and will be reprocessed: forget its state changes."""

    def between_transactions(self) -> None:
        """Called with no transaction open and nothing pending (e.g. to swap rule sets)."""

    def close(self) -> None:
        """The loop has stopped: release what the task holds (worker processes, ...)."""


class FunctionTask(StreamTask):
    """A stateless task from a plain function."""

    def __init__(self, function: Callable[[SourceMessage], list[Output]]) -> None:
        self.function = function

    def process(self, message: SourceMessage) -> list[Output]:
        return self.function(message)
