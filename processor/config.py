"""Processor configuration: a YAML file, every key overridable by the environment.

Precedence (highest first): ``BOUNCE_*`` environment variables (``__`` separates nested
keys, e.g. ``BOUNCE_KAFKA__BOOTSTRAP_SERVERS``), then the YAML file given with
``--config``, then the defaults below.

Kafka client settings pass through untouched under ``kafka.client`` (SASL, SSL, any
librdkafka property). From the environment they come as ``BOUNCE_KAFKA_CLIENT_<KEY>``
with dots written as underscores (``BOUNCE_KAFKA_CLIENT_SASL_PASSWORD`` →
``sasl.password``), so secrets never need to sit in the YAML file. The registry's
client settings work the same way under ``registry.client`` /
``BOUNCE_REGISTRY_CLIENT_<KEY>`` (``basic_auth_user_info`` → ``basic.auth.user.info``).
"""

from __future__ import annotations

import logging
import os
import socket
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

KAFKA_CLIENT_ENV_PREFIX = "BOUNCE_KAFKA_CLIENT_"
REGISTRY_CLIENT_ENV_PREFIX = "BOUNCE_REGISTRY_CLIENT_"


#: librdkafka's own log lines (connection failures, coordinator retries, ...) go to this
#: Python logger instead of raw stderr, so a stage's log stays one JSON object per line.
#: A client hands them over in its poll / flush calls.
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    client: dict[str, str] = Field(
        default_factory=dict, description="librdkafka properties passed through as they are"
    )

    def client_config(self) -> dict[str, Any]:
        """The settings every Kafka client of the processor starts from: the bootstrap
        servers, its log routed to :data:`LIBRDKAFKA_LOG`, then ``client`` as given."""
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": LIBRDKAFKA_LOG,
            **self.client,
        }


class RegistrySettings(BaseModel):
    url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    client: dict[str, str] = Field(default_factory=dict)


class TopicSettings(BaseModel):
    raw: str = "bounces.raw"
    failures: str = "bounces.failures"
    unqualified: str = "bounces.unqualified"
    dlq: str = "bounces.dlq"
    quarantine: str = "bounces.quarantine"
    mx_policy: str = "bounces.mx-policy"
    rules: str = "bounces.rules"
    heartbeats: str = "bounces.heartbeats"
    # internal topics of the state stage
    quarantine_changelog: str = "bounces.quarantine-changelog"
    mx_signals: str = "bounces.mx-signals"  # failures re-keyed by MX route
    mx_changelog: str = "bounces.mx-changelog"
    partitions: int = 3
    replication_factor: int = 1


class BatchSettings(BaseModel):
    """A transaction closes after ``max_records`` input events or ``max_ms``."""

    max_records: int = Field(500, ge=1)
    max_ms: int = Field(200, ge=1)


class RulesMode(StrEnum):
    PUBLISHED = "published"  # follow bounces.rules (the deliverability instance)
    CUSTOM = "custom"  # own rule folder, sync off


class RulesSettings(BaseModel):
    mode: RulesMode = RulesMode.PUBLISHED
    dir: Path | None = None  # None: the default rules/ folder shipped with the project


class IntakeSettings(BaseModel):
    max_bytes: int = 10 * 1024 * 1024
    # A dead letter must fit in one Kafka record (brokers default to 1 MiB): longer
    # original values are cut to this size, and the dead letter says so.
    dead_letter_max_bytes: int = 900_000
    correlation_headers: list[str] = Field(
        default_factory=lambda: ["X-Delivery-Id", "X-Campaign-Id", "X-Message-Id"]
    )


class StateClock(StrEnum):
    WALL = "wall"  # live: timers fire on the wall clock
    EVENT = "event"  # replay: timers fire on the highest event time seen per partition


class StateSettings(BaseModel):
    group_id: str = "bounce-processor-state"
    backend: str = Field("rocksdict", pattern="^(sqlite|rocksdict)$")
    clock: StateClock = StateClock.WALL
    punctuate_seconds: float = Field(5.0, gt=0)


class HttpSettings(BaseModel):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8080


class ShutdownSettings(BaseModel):
    timeout_seconds: float = 30.0


class ResilienceSettings(BaseModel):
    """How long the processor rides out a broker outage before exiting non-zero."""

    max_outage_seconds: float = 120.0
    transaction_timeout_ms: int = 60_000


class ProcessorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BOUNCE_", env_nested_delimiter="__", extra="forbid"
    )

    instance_id: str = Field(default_factory=socket.gethostname)
    group_id: str = "bounce-processor-qualify"
    transactional_id_prefix: str = "bounce-processor"
    static_membership: bool = False
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    shutdown: ShutdownSettings = Field(default_factory=ShutdownSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    state_dir: Path = Path("/var/lib/bounce-processor")
    log_level: str = "INFO"
    # qualify stage: processes that parse, qualify and serialise (0: the stage's own);
    # give the pod that many CPUs more
    workers: int = Field(0, ge=0)
    # qualify stage with workers: 0: do that work on a thread of its own, while the loop
    # waits on the broker (False: on the loop's thread, between its Kafka calls)
    work_thread: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the YAML file (passed as init arguments).
        return env_settings, init_settings, file_secret_settings

    @property
    def transactional_id(self) -> str:
        return f"{self.transactional_id_prefix}-{self.instance_id}"


def _client_keys_from_env(prefix: str, environ: dict[str, str]) -> dict[str, str]:
    return {
        key[len(prefix) :].lower().replace("_", "."): value
        for key, value in environ.items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }


def load_settings(
    path: Path | None = None, environ: dict[str, str] | None = None
) -> ProcessorSettings:
    """Read ``path`` (YAML) if given, then apply the environment over it."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: the configuration must be a mapping")
        data = loaded or {}
    for section, prefix in (
        ("kafka", KAFKA_CLIENT_ENV_PREFIX),
        ("registry", REGISTRY_CLIENT_ENV_PREFIX),
    ):
        overrides = _client_keys_from_env(prefix, environ)
        if overrides:
            block = data.setdefault(section, {})
            block["client"] = {**(block.get("client") or {}), **overrides}
    # The pass-through prefixes are not settings fields: hide them from pydantic-settings.
    hidden = [
        k for k in os.environ if k.startswith((KAFKA_CLIENT_ENV_PREFIX, REGISTRY_CLIENT_ENV_PREFIX))
    ]
    saved = {k: os.environ.pop(k) for k in hidden}
    try:
        return ProcessorSettings(**data)
    finally:
        os.environ.update(saved)
