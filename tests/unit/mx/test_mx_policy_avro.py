"""The MxPolicy Avro schema: every event the policy emits validates and round-trips."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from processor.state.mx_rules import MxRuleSet
from processor.stream.avro import load_schema_text

from .conftest import SignalFactory
from .streams import BLOCKLISTED, RATE_LIMITED, at, run_stream


@pytest.fixture(scope="module")
def schema() -> Any:
    return fastavro.parse_schema(json.loads(load_schema_text("mx_policy")))


def test_every_emitted_event_validates_and_round_trips(
    rules: MxRuleSet, signal: SignalFactory, schema: Any
) -> None:
    stream = [
        signal(0),
        *(signal(m, **RATE_LIMITED) for m in (1, 2, 3)),
        signal(50, **BLOCKLISTED, sending_ip=None),
        at(600),
    ]
    _, published = run_stream(rules, stream)
    assert {c.reason.value for c in published} >= {
        "first_seen",
        "throttled",
        "cooldown_ended",
        "suspended",
        "suspension_ended",
        "warmed_up",
    }
    for change in published:
        record = change.to_avro()
        assert fastavro.validate(record, schema, raise_errors=True)
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        buffer.seek(0)
        assert fastavro.schemaless_reader(buffer, schema) == record


def test_schema_fields_match_the_model(schema: Any) -> None:
    from processor.state.mx_policy import MxPolicyChange

    assert [field["name"] for field in schema["fields"]] == list(MxPolicyChange.model_fields)
