"""Configuration: YAML file, environment over it, Kafka client pass-through."""

from __future__ import annotations

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
