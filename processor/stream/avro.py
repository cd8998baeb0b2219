"""Avro schemas of the output events and their registration in the schema registry.

Schemas live as ``.avsc`` files in ``schemas/``; the subject of a topic's values follows
the Confluent default (TopicNameStrategy): ``<topic>-value``. Serialisation uses the
Confluent wire format (magic byte, schema id, Avro body), so any Confluent client that
knows only the registry URL can decode what we produce.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from processor.paths import schemas_dir


def schema_path(name: str, directory: Path | None = None) -> Path:
    return (directory or schemas_dir()) / f"{name}.avsc"


def load_schema_text(name: str, directory: Path | None = None) -> str:
    """The schema ``name`` (file stem in ``schemas/``), validated as JSON."""
    text = schema_path(name, directory).read_text(encoding="utf-8")
    json.loads(text)
    return text


def registry_client(url: str, extra: dict[str, Any] | None = None) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url, **(extra or {})})


def value_subject(topic: str) -> str:
    return f"{topic}-value"


def register_schema(client: SchemaRegistryClient, topic: str, schema_name: str) -> int:
    """Register ``schema_name`` under the topic's value subject; returns the schema id.

    The registry refuses a schema that breaks the subject's compatibility rule; the
    client raises ``SchemaRegistryError`` then.
    """
    schema = Schema(load_schema_text(schema_name), schema_type="AVRO")
    return client.register_schema(value_subject(topic), schema)


def set_backward_compatibility(client: SchemaRegistryClient, topic: str) -> None:
    client.set_compatibility(subject_name=value_subject(topic), level="BACKWARD")


def serializer(
    client: SchemaRegistryClient, schema_name: str, *, auto_register: bool = False
) -> AvroSerializer:
    """A Confluent Avro serializer for ``schema_name``.

    With ``auto_register`` off, the schema must have been registered first (at start-up
    or by ``bounce-processor schemas register``); the serializer then looks up its id.
    """
    return AvroSerializer(
        client,
        load_schema_text(schema_name),
        conf={"auto.register.schemas": auto_register, "use.latest.version": False},
    )


def deserializer(client: SchemaRegistryClient) -> AvroDeserializer:
    """A reader that knows nothing but the registry: the writer schema comes by id."""
    return AvroDeserializer(client)


def encode(serializer: AvroSerializer, record: dict[str, Any], topic: str) -> bytes:
    """``record`` in the Confluent wire format for ``topic``'s values."""
    data = serializer(record, SerializationContext(topic, MessageField.VALUE))
    if data is None:
        raise ValueError(f"nothing serialised for {topic}")
    return bytes(data)


def decode(deserializer: AvroDeserializer, value: bytes, topic: str) -> dict[str, Any]:
    """A Confluent wire-format value of ``topic`` as a dict (its writer schema by id)."""
    record = deserializer(value, SerializationContext(topic, MessageField.VALUE))
    if not isinstance(record, dict):
        raise ValueError(f"{topic}: expected an Avro record, got {type(record).__name__}")
    return record
