"""The transactional loop's guard against a call stuck inside librdkafka (no broker:
the clients are made but never reach one)."""

from __future__ import annotations

import threading
import time

import pytest

from processor.config import KafkaSettings, ProcessorSettings
from processor.stream import transactional
from processor.stream.task import StreamTask
from processor.stream.transactional import EXIT_OUTAGE, TransactionalLoop


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> TransactionalLoop:
    monkeypatch.setattr(transactional, "STUCK_CALL_GRACE_SECONDS", 0.5)
    settings = ProcessorSettings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    made = TransactionalLoop(
        settings, input_topics=["raw"], group_id="g", transactional_id="t", task=StreamTask()
    )
    monkeypatch.setattr(made, "_call_timeout", lambda: 0.5)
    return made


def _watched(loop: TransactionalLoop, call_seconds: float) -> list[int]:
    """Exit codes the watch asked for while one transactional call took ``call_seconds``."""
    exits: list[int] = []
    loop._exit_stuck = exits.append
    finished = threading.Event()
    watch = threading.Thread(target=loop._watch_calls, args=(finished,), daemon=True)
    watch.start()
    loop._retry("send_offsets_to_transaction", lambda _timeout: time.sleep(call_seconds))
    time.sleep(1.2)  # the watch looks once a second
    finished.set()
    watch.join(5)
    return exits


def test_a_call_stuck_past_its_timeout_exits_for_a_restart(loop: TransactionalLoop) -> None:
    # librdkafka's send_offsets_to_transaction can block forever after a broker restart
    assert _watched(loop, call_seconds=3.0) == [EXIT_OUTAGE]


def test_a_call_that_returns_in_time_is_left_alone(loop: TransactionalLoop) -> None:
    assert _watched(loop, call_seconds=0.2) == []
