"""Shared fixtures: where the real Kafka broker and schema registry come from.

Order of preference:
1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL`` from the environment;
2. a Docker engine, through testcontainers, when one answers;
3. the project's local services (``services/services.sh up``: Kafka and Apicurio from
   Maven Central jars), started here if they are not running yet.

Integration tests fail, never skip, when no broker can be had.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL_BOOTSTRAP = "127.0.0.1:9092"
LOCAL_REGISTRY = "http://127.0.0.1:8081/apis/ccompat/v7"


@dataclass(frozen=True)
class KafkaEnv:
    bootstrap_servers: str
    registry_url: str
    origin: str  # "environment" | "testcontainers" | "local-services"

    def client_config(self, **extra: object) -> dict[str, object]:
        return {"bootstrap.servers": self.bootstrap_servers, **extra}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def _broker_answers(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5)
    except Exception:
        return False
    return bool(metadata.brokers)


def _docker_answers() -> bool:
    try:
        import docker  # testcontainers depends on it

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _from_testcontainers() -> Iterator[KafkaEnv]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
        registry = DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080)
        with registry:
            wait_for_logs(registry, "Installed features", timeout=120)
            host = registry.get_container_host_ip()
            port = registry.get_exposed_port(8080)
            yield KafkaEnv(
                kafka.get_bootstrap_server(),
                f"http://{host}:{port}/apis/ccompat/v7",
                "testcontainers",
            )


def _from_local_services() -> KafkaEnv:
    if not _broker_answers(LOCAL_BOOTSTRAP):
        env = {**os.environ, "PYTHON": sys.executable}
        subprocess.run(["bash", str(ROOT / "services" / "services.sh"), "up"], check=True, env=env)
    return KafkaEnv(LOCAL_BOOTSTRAP, LOCAL_REGISTRY, "local-services")


@pytest.fixture(scope="session")
def kafka_env() -> Iterator[KafkaEnv]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if bootstrap and registry:
        env = KafkaEnv(bootstrap, registry, "environment")
        if not _broker_answers(bootstrap):
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} does not answer")
        yield env
    elif os.environ.get("BOUNCE_TESTS_USE_DOCKER", "auto") != "never" and _docker_answers():
        yield from _from_testcontainers()
    else:
        try:
            env = _from_local_services()
        except subprocess.CalledProcessError as error:
            pytest.fail(f"could not start the local Kafka / registry services: {error}")
        if not _broker_answers(env.bootstrap_servers):
            pytest.fail(f"no Kafka broker answers at {env.bootstrap_servers}")
        yield env


@pytest.fixture
def unique_name() -> str:
    """A fresh suffix so that each test gets its own topics, subjects and groups."""
    return uuid.uuid4().hex[:10]
