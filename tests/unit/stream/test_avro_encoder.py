"""The schema-compiled Avro encoders write exactly fastavro's bytes, for every schema in
``schemas/`` (and its released versions), on generated records; what they refuse,
fastavro decides."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.paths import schemas_dir
from processor.stream.avro import WireSerializer
from processor.stream.avro_encoder import compile_encoder

SCHEMA_FILES = sorted(schemas_dir().glob("*.avsc")) + sorted(
    schemas_dir().glob("releases/*/*.avsc")
)


def _strategy(schema: Any, named: dict[str, Any], namespace: str = "") -> Any:
    """Records that fit ``schema`` (as hypothesis draws them)."""
    if isinstance(schema, list):
        return st.one_of(*[_strategy(branch, named, namespace) for branch in schema])
    if isinstance(schema, str):
        primitive = _primitive(schema)
        if primitive is not None:
            return primitive
        full = f"{namespace}.{schema}" if namespace and "." not in schema else schema
        return named.get(full) or named[schema]
    kind = schema["type"]
    if kind == "long" and schema.get("logicalType") == "timestamp-millis":
        return st.one_of(
            st.integers(-(2**53), 2**53),
            st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)),
            st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
        )
    if kind == "record":
        space = schema.get("namespace", namespace)
        required: dict[str, Any] = {}
        optional: dict[str, Any] = {}
        for field in schema["fields"]:
            target = optional if "default" in field else required
            target[field["name"]] = _strategy(field["type"], named, space)
        strategy = st.fixed_dictionaries(required, optional=optional)
        named[f"{space}.{schema['name']}" if space else schema["name"]] = strategy
        return strategy
    if kind == "array":
        return st.lists(_strategy(schema["items"], named, namespace), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), _strategy(schema["values"], named, namespace))
    return _strategy(kind, named, namespace)


def _primitive(name: str) -> Any:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(allow_nan=False, width=32),
        "double": st.floats(allow_nan=False),
        "string": st.text(max_size=80),
        "bytes": st.binary(max_size=80),
    }.get(name)


def _fastavro_bytes(schema: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(schemas_dir())))
def test_every_schema_compiles(path: Path) -> None:
    assert compile_encoder(json.loads(path.read_text(encoding="utf-8"))) is not None


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(schemas_dir())))
def test_the_bytes_are_fastavros(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    encode = compile_encoder(schema)
    assert encode is not None

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_strategy(schema, {}))
    def same(record: dict[str, Any]) -> None:
        out = bytearray()
        encode(out, record)
        assert bytes(out) == _fastavro_bytes(schema, record)

    same()


def test_long_strings_and_big_numbers_use_multi_byte_varints() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "text", "type": ["null", "string"]},
            {"name": "count", "type": "long"},
            {"name": "small", "type": "int"},
            {"name": "blob", "type": "bytes"},
            {"name": "labels", "type": {"type": "map", "values": "string"}},
            {"name": "counts", "type": {"type": "map", "values": "long"}, "default": {}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    encode = compile_encoder(schema)
    assert encode is not None
    many = {f"key-{i}": "é" * i for i in range(200)}  # a block count past one varint byte
    for record in (
        {"text": "é" * 5000, "count": -(2**63), "small": 2**31 - 1, "blob": b"\x00" * 70000,
         "labels": many, "counts": {"a": 2**40, "b": -1}, "at": 2**45},
        {"text": None, "count": 2**63 - 1, "small": -(2**31), "blob": b"", "labels": {},
         "at": datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)},
    ):  # fmt: skip
        out = bytearray()
        encode(out, record)
        assert bytes(out) == _fastavro_bytes(schema, record)


def test_constructs_not_compiled_fall_back_to_fastavro() -> None:
    enum = {"type": "record", "name": "R", "fields": [{"name": "e", "type": {
        "type": "enum", "name": "E", "symbols": ["A", "B"]}}]}  # fmt: skip
    union = {"type": "record", "name": "U", "fields": [
        {"name": "u", "type": ["null", "string", "long"]}]}  # fmt: skip
    assert compile_encoder(enum) is None
    assert compile_encoder(union) is None


class _Registry:
    """Answers the one look-up a serialiser makes (the schema id of a subject)."""

    class _Found:
        schema_id = 42

    def lookup_schema(self, subject: str, schema: object) -> _Found:
        return self._Found()


def _failure_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "e" * 32,
        "source": {"topic": "bounces.raw", "partition": 1, "offset": 7},
        "recipient_index": 1,
        "event_time": datetime(2026, 11, 20, 10, tzinfo=UTC),
        "processing_time": 1_795_000_000_000,
        "kind": "smtp",
        "recipient": "a@example.com",
        "failure_type": "hard",
        "reason": "user_unknown",
        "detail": "userunknown",
        "rule_id": "r",
        "ruleset_version": "1.0.0",
        "smtp_code": 550,
        "correlation": {},
        "metadata": {"k": "v"},
        "headers": {},
    }
    schema = json.loads((schemas_dir() / "failure_event.avsc").read_text(encoding="utf-8"))
    for field in schema["fields"]:
        event.setdefault(field["name"], None)
    event.update(changes)
    return event


def test_the_serialiser_writes_the_wire_format_and_defers_to_fastavro() -> None:
    serialise = WireSerializer(_Registry(), "failure_event")  # type: ignore[arg-type]
    schema = json.loads((schemas_dir() / "failure_event.avsc").read_text(encoding="utf-8"))

    good = _failure_event()
    assert serialise(good, "t") == b"\x00" + (42).to_bytes(4, "big") + _fastavro_bytes(schema, good)
    # a bool where an int belongs: refused by the compiled encoder, written by fastavro
    lenient = _failure_event(recipient_index=True)
    assert serialise(lenient, "t")[5:] == _fastavro_bytes(schema, lenient)
    # text where an int belongs: fastavro's own error, as before
    wrong = _failure_event(smtp_code="550")
    with pytest.raises(Exception) as compiled_error:
        serialise(wrong, "t")
    with pytest.raises(Exception) as fastavro_error:
        _fastavro_bytes(schema, wrong)
    assert type(compiled_error.value) is type(fastavro_error.value)
