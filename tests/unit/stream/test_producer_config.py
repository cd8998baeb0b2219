"""The transactional loop's producer settings (no broker: the clients are made but never
reach one)."""

from __future__ import annotations

from typing import Any

import pytest

from processor.config import KafkaSettings, ProcessorSettings
from processor.stream import transactional
from processor.stream.task import StreamTask
from processor.stream.transactional import RETRY_BACKOFF_MS, TransactionalLoop


def _producer_config(monkeypatch: pytest.MonkeyPatch, client: dict[str, str]) -> dict[str, Any]:
    made: list[dict[str, Any]] = []
    real = transactional.Producer

    def recording(config: dict[str, Any]) -> Any:
        made.append(config)
        return real(config)

    monkeypatch.setattr(transactional, "Producer", recording)
    settings = ProcessorSettings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", client=client)
    )
    TransactionalLoop(
        settings, input_topics=["raw"], group_id="g", transactional_id="t-1", task=StreamTask()
    )
    [config] = made
    return config


def test_the_producer_retries_after_a_short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # a transaction's first request after a commit often meets CONCURRENT_TRANSACTIONS;
    # librdkafka's 100 ms default held those batches 100 ms each
    config = _producer_config(monkeypatch, client={})
    assert config["retry.backoff.ms"] == RETRY_BACKOFF_MS < 100
    assert config["transactional.id"] == "t-1"
    assert config["enable.idempotence"] is True


def test_the_client_settings_may_set_their_own_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _producer_config(monkeypatch, client={"retry.backoff.ms": "250"})
    assert config["retry.backoff.ms"] == "250"
