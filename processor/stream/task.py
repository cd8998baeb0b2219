"""What a stage plugs into the transactional loop: a task with hooks.

The loop owns Kafka (polling, transactions, rebalances); the task owns the work and any
state. Hooks run on the loop's thread, so a task needs no locking against the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from processor.stream.events import SourceMessage

Partition = tuple[str, int]


@dataclass(frozen=True)
class Output:
    """One record to write: topic, key, value (already serialised), headers, partition
    (None: the producer's partitioner decides by key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None


class StreamTask:
    """A stage's work. Override what you need; every hook has a do-nothing default."""

    #: seconds between :meth:`punctuate` calls (None: never)
    punctuate_interval: float | None = None

    def process(self, message: SourceMessage) -> list[Output]:
        """The outputs of one input; written in the batch's transaction."""
        raise NotImplementedError

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


class FunctionTask(StreamTask):
    """A stateless task from a plain function."""

    def __init__(self, function: Callable[[SourceMessage], list[Output]]) -> None:
        self.function = function

    def process(self, message: SourceMessage) -> list[Output]:
        return self.function(message)
