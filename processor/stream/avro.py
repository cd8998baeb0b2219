"""Avro schemas of the output events and their registration in the schema registry.

Schemas live as ``.avsc`` files in ``schemas/``; the subject of a topic's values follows
the Confluent default (TopicNameStrategy): ``<topic>-value``. Serialisation uses the
Confluent wire format (magic byte, schema id, Avro body), so any Confluent client that
knows only the registry URL can decode what we produce.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_writer

from processor.paths import schemas_dir
from processor.stream.avro_encoder import compile_encoder


def schema_path(name: str, directory: Path | None = None) -> Path:
    return (directory or schemas_dir()) / f"{name}.avsc"


def load_schema_text(name: str, directory: Path | None = None) -> str:
    """The schema ``name`` (file stem in ``schemas/``), validated as JSON."""
    text = schema_path(name, directory).read_text(encoding="utf-8")
    json.loads(text)
    return text


#: Seconds before a registry request is given up. The client then retries it on a new
#: connection (transport errors, timeouts included, up to ``max.retries`` times). Without
#: a bound, a request the registry has read but never answers hangs its caller for ever
#: (seen with Apicurio under load); ``registry.client.timeout`` overrides it.
REQUEST_TIMEOUT_SECONDS = 10.0


# client settings the registry client wants as numbers (from the environment they are text)
_NUMERIC_CLIENT_KEYS: dict[str, Callable[[str], Any]] = {
    "timeout": float,
    "max.retries": int,
    "retries.wait.ms": int,
    "retries.max.wait.ms": int,
    "cache.capacity": int,
    "cache.latest.ttl.sec": int,
}


def registry_client(url: str, extra: dict[str, Any] | None = None) -> SchemaRegistryClient:
    conf: dict[str, Any] = {"url": url, "timeout": REQUEST_TIMEOUT_SECONDS, **(extra or {})}
    for key, kind in _NUMERIC_CLIENT_KEYS.items():
        if isinstance(conf.get(key), str):
            conf[key] = kind(conf[key])
    return SchemaRegistryClient(conf)


def value_subject(topic: str) -> str:
    return f"{topic}-value"


def register_schema(client: SchemaRegistryClient, topic: str, schema_name: str) -> int:
    """Register ``schema_name`` under the topic's value subject; returns the schema id.

    The registry refuses a schema that breaks the subject's compatibility rule; the
    client raises ``SchemaRegistryError`` then.
    """
    schema = Schema(load_schema_text(schema_name), schema_type="AVRO")
    return _once_more_on_conflict(lambda: client.register_schema(value_subject(topic), schema))


def set_backward_compatibility(client: SchemaRegistryClient, topic: str) -> None:
    subject = value_subject(topic)
    _once_more_on_conflict(lambda: client.set_compatibility(subject_name=subject, level="BACKWARD"))


_T = TypeVar("_T")


def _once_more_on_conflict(call: Callable[[], _T]) -> _T:
    """Stages starting together register the same subjects: the registry answers 409 to
    the one that loses a create race; the same call then finds what the other created."""
    try:
        return call()
    except SchemaRegistryError as error:
        if error.http_status_code != 409:
            raise
        return call()


class WireSerializer:
    """Values of one schema in the Confluent wire format: magic byte 0, the big-endian
    4-byte schema id of the topic's value subject, then the Avro body (fastavro).

    The same bytes as Confluent's ``AvroSerializer`` without its per-call subject,
    rule and validation machinery, and with the schema id kept per topic (two subjects
    may give one schema two ids). With ``auto_register`` off, the schema must have been
    registered first (at start-up or by ``bounce-processor schemas register``); its id is
    looked up once per topic.

    The body is written by the schema's compiled encoder (``avro_encoder``: the same
    bytes as fastavro, several times faster); a record it refuses goes to fastavro,
    which writes it or raises its usual error.
    """

    def __init__(
        self, client: SchemaRegistryClient, schema_name: str, *, auto_register: bool = False
    ) -> None:
        text = load_schema_text(schema_name)
        self.schema_name = schema_name
        self._client = client
        self._schema = Schema(text, schema_type="AVRO")
        schema = json.loads(text)
        self._encode = compile_encoder(schema)
        self._parsed = fastavro.parse_schema(schema)
        self._auto_register = auto_register
        self._headers: dict[str, bytes] = {}

    def header(self, topic: str) -> bytes:
        """Magic byte and schema id for ``topic``'s values (looked up once)."""
        found = self._headers.get(topic)
        if found is None:
            subject = value_subject(topic)
            schema_id: int | None
            if self._auto_register:
                schema_id = self._client.register_schema(subject, self._schema)
            else:
                schema_id = self._client.lookup_schema(subject, self._schema).schema_id
            if schema_id is None:
                raise ValueError(f"no schema id for {subject}")
            found = self._headers[topic] = _MAGIC + schema_id.to_bytes(4, "big")
        return found

    def __call__(self, record: dict[str, Any], topic: str) -> bytes:
        header = self.header(topic)
        if self._encode is not None:
            body = bytearray(header)
            try:
                self._encode(body, record)
                return bytes(body)
            except Exception:  # fastavro has the last word on a record refused here
                pass
        out = BytesIO()
        out.write(header)
        schemaless_writer(out, self._parsed, record)
        return out.getvalue()


_MAGIC = b"\x00"


def serializer(
    client: SchemaRegistryClient, schema_name: str, *, auto_register: bool = False
) -> WireSerializer:
    """A wire-format serializer for ``schema_name`` (see :class:`WireSerializer`)."""
    return WireSerializer(client, schema_name, auto_register=auto_register)


def deserializer(client: SchemaRegistryClient) -> AvroDeserializer:
    """A reader that knows nothing but the registry: the writer schema comes by id."""
    return AvroDeserializer(client)


def decode(deserializer: AvroDeserializer, value: bytes, topic: str) -> dict[str, Any]:
    """A Confluent wire-format value of ``topic`` as a dict (its writer schema by id)."""
    record = deserializer(value, SerializationContext(topic, MessageField.VALUE))
    if not isinstance(record, dict):
        raise ValueError(f"{topic}: expected an Avro record, got {type(record).__name__}")
    return record
