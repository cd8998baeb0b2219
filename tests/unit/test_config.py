"""Configuration: YAML file, environment over it, Kafka client pass-through."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from processor.config import RulesMode, load_settings


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: broker:9092\n  client:\n    security.protocol: SASL_SSL\n"
        "batch:\n  max_records: 10\nrules:\n  mode: published\n"
    )
    monkeypatch.setenv("BOUNCE_BATCH__MAX_MS", "50")
    monkeypatch.setenv("BOUNCE_KAFKA__BOOTSTRAP_SERVERS", "other:9093")
    monkeypatch.setenv("BOUNCE_KAFKA_CLIENT_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("BOUNCE_INSTANCE_ID", "pod-0")
    settings = load_settings(config)
    assert settings.kafka.bootstrap_servers == "other:9093"
    assert settings.kafka.client == {"security.protocol": "SASL_SSL", "sasl.password": "s3cret"}
    assert (settings.batch.max_records, settings.batch.max_ms) == (10, 50)
    assert settings.rules.mode is RulesMode.PUBLISHED
    assert settings.transactional_id == "bounce-processor-pod-0"


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kafak:\n  bootstrap_servers: x\n")
    with pytest.raises(ValueError, match="kafak"):
        load_settings(config)


def test_librdkafka_logs_reach_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    """A client made from ``client_config`` hands librdkafka's log lines to the
    ``librdkafka`` logger (so the stage's JSON log format covers them), here a refused
    connection: nothing listens on port 1, no broker is involved."""
    from confluent_kafka import Producer

    from processor.config import KafkaSettings

    config = KafkaSettings(bootstrap_servers="127.0.0.1:1", client={"linger.ms": "5"})
    assert config.client_config()["linger.ms"] == "5"
    producer = Producer(config.client_config())
    caplog.set_level(logging.DEBUG, logger="librdkafka")
    deadline = time.monotonic() + 10
    while not any(r.name == "librdkafka" for r in caplog.records) and time.monotonic() < deadline:
        producer.poll(0.2)
    lines = [r for r in caplog.records if r.name == "librdkafka"]
    assert lines, "no librdkafka log line reached Python logging"
    assert any("127.0.0.1:1" in r.getMessage() for r in lines)
    assert all(r.levelno >= logging.WARNING for r in lines)
