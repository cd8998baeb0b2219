"""Every schema in ``schemas/`` is BACKWARD compatible with all its released versions,
as judged by the real registry."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema

from processor.paths import schemas_dir
from processor.stream import avro
from tests.conftest import KafkaEnv

RELEASED = sorted(p.name for p in (schemas_dir() / "releases").iterdir() if p.is_dir())


def _version(path_name: str) -> int:
    return int(path_name.removeprefix("v").removesuffix(".avsc"))


@pytest.mark.parametrize("name", RELEASED)
def test_working_copy_is_backward_compatible_with_releases(
    kafka_env: KafkaEnv, unique_name: str, name: str
) -> None:
    releases = sorted(
        (schemas_dir() / "releases" / name).glob("v*.avsc"), key=lambda p: _version(p.name)
    )
    assert releases, f"{name} has no released version"
    client = avro.registry_client(kafka_env.registry_url)
    subject = f"releases-{unique_name}-{name}-value"
    client.set_compatibility(subject_name=subject, level="BACKWARD")
    for release in releases:
        client.register_schema(subject, Schema(release.read_text(), schema_type="AVRO"))
    current = avro.load_schema_text(name)
    # Registering the working copy fails (409) if it breaks BACKWARD compatibility.
    client.register_schema(subject, Schema(current, schema_type="AVRO"))
    latest = client.get_latest_version(subject)
    assert json.loads(latest.schema.schema_str) == json.loads(current)


def test_every_schema_has_a_release() -> None:
    working = {p.stem for p in schemas_dir().glob("*.avsc")}
    assert working <= set(RELEASED), f"unreleased schemas: {working - set(RELEASED)}"
