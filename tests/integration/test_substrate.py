"""The substrate works: real Kafka transactions, the real registry, Confluent Avro.

These tests prove what every later stage relies on: a schema registered through the
Confluent client, transactional produce with the Confluent Avro serializer, a
``read_committed`` reader that decodes with nothing but the registry URL, aborted
transactions invisible to it, and the registry refusing a BACKWARD-incompatible change.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from processor.stream import avro
from tests.conftest import KafkaEnv
from tests.integration.helpers import create_topics, read_all


def failure_event(n: int) -> dict[str, object]:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    return {
        "event_id": f"evt-{n}",
        "source": {"topic": "bounces.raw", "partition": 0, "offset": n},
        "recipient_index": 1,
        "event_time": now,
        "processing_time": now,
        "kind": "smtp",
        "recipient": f"user{n}@example.com",
        "original_recipient": None,
        "action": "failed",
        "status": "5.1.1",
        "smtp_code": 550,
        "diagnostic": "550 5.1.1 user unknown",
        "remote_mta": "mx.example.com",
        "reporting_mta": None,
        "feedback_type": None,
        "failure_type": "hard",
        "reason": "user_unknown",
        "detail": "userunknown",
        "rule_id": "status:5.1.1",
        "ruleset_version": "0.0.0+test",
        "original_message_id": None,
        "headers": {"x-delivery-id": str(n)},
    }


def transactional_producer(env: KafkaEnv, name: str) -> Producer:
    producer = Producer(
        {"bootstrap.servers": env.bootstrap_servers, "transactional.id": f"tx-{name}"}
    )
    producer.init_transactions(30)
    return producer


def test_transactional_avro_roundtrip_read_committed(kafka_env: KafkaEnv, unique_name: str) -> None:
    topic = f"substrate-{unique_name}"
    create_topics(kafka_env.bootstrap_servers, [topic])
    client = avro.registry_client(kafka_env.registry_url)
    schema_id = avro.register_schema(client, topic, "failure_event")
    assert schema_id > 0
    registered = client.get_latest_version(avro.value_subject(topic))
    assert json.loads(registered.schema.schema_str)["name"] == "FailureEvent"

    serialize = avro.serializer(client, "failure_event")
    stock = AvroSerializer(client, avro.load_schema_text("failure_event"))
    producer = transactional_producer(kafka_env, unique_name)
    producer.begin_transaction()
    sent = [failure_event(n) for n in range(5)]
    for event in sent:
        value = serialize(event, topic)
        assert value[0] == 0  # Confluent wire format: magic byte
        assert int.from_bytes(value[1:5], "big") == schema_id
        # byte for byte what the stock Confluent serializer writes
        assert value == stock(event, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=str(event["recipient"]).encode(), value=value)
    producer.commit_transaction(30)

    # A reader that knows only the registry URL decodes every record.
    decode = avro.deserializer(avro.registry_client(kafka_env.registry_url))
    messages = read_all(kafka_env.bootstrap_servers, topic)
    decoded = [decode(m.value(), SerializationContext(topic, MessageField.VALUE)) for m in messages]
    assert [d["event_id"] for d in decoded] == [e["event_id"] for e in sent]
    assert decoded[0]["source"] == {"topic": "bounces.raw", "partition": 0, "offset": 0}
    assert decoded[3]["headers"] == {"x-delivery-id": "3"}
    assert decoded[0]["event_time"] == sent[0]["event_time"]


def test_aborted_transaction_is_invisible_to_read_committed(
    kafka_env: KafkaEnv, unique_name: str
) -> None:
    topic = f"abort-{unique_name}"
    create_topics(kafka_env.bootstrap_servers, [topic])
    producer = transactional_producer(kafka_env, unique_name)

    producer.begin_transaction()
    producer.produce(topic, value=b"committed-1")
    producer.commit_transaction(30)

    producer.begin_transaction()
    producer.produce(topic, value=b"aborted-1")
    producer.produce(topic, value=b"aborted-2")
    producer.flush(30)  # the records really reach the log before the abort
    producer.abort_transaction(30)

    producer.begin_transaction()
    producer.produce(topic, value=b"committed-2")
    producer.commit_transaction(30)

    committed = [m.value() for m in read_all(kafka_env.bootstrap_servers, topic)]
    assert committed == [b"committed-1", b"committed-2"]
    # The aborted records are in the log: a read_uncommitted reader sees them.
    everything = [
        m.value()
        for m in read_all(kafka_env.bootstrap_servers, topic, isolation="read_uncommitted")
    ]
    assert everything == [b"committed-1", b"aborted-1", b"aborted-2", b"committed-2"]


def test_registry_refuses_backward_incompatible_change(
    kafka_env: KafkaEnv, unique_name: str
) -> None:
    topic = f"compat-{unique_name}"
    client = avro.registry_client(kafka_env.registry_url)
    avro.register_schema(client, topic, "failure_event")
    avro.set_backward_compatibility(client, topic)
    base = json.loads(avro.load_schema_text("failure_event"))

    # Adding a field with a default: readers of the new schema can read old data.
    compatible = json.loads(json.dumps(base))
    compatible["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    new_id = client.register_schema(
        avro.value_subject(topic), Schema(json.dumps(compatible), schema_type="AVRO")
    )
    assert new_id > 0

    # Adding a required field without a default breaks BACKWARD: refused.
    breaking = json.loads(json.dumps(compatible))
    breaking["fields"].append({"name": "campaign_id", "type": "string"})
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(
            avro.value_subject(topic), Schema(json.dumps(breaking), schema_type="AVRO")
        )
    assert refused.value.http_status_code == 409
    versions = client.get_versions(avro.value_subject(topic))
    assert len(versions) == 2


def test_stages_starting_together_register_the_same_subjects(
    kafka_env: KafkaEnv, unique_name: str
) -> None:
    """Replicas start at the same moment and all register their subjects: whichever
    loses the registry's create race must still start (it once died on a 409)."""
    topics = [f"race-{unique_name}-{n}" for n in range(3)]

    def register_all() -> list[int]:
        client = avro.registry_client(kafka_env.registry_url)
        ids = []
        for topic in topics:
            avro.set_backward_compatibility(client, topic)
            ids.append(avro.register_schema(client, topic, "failure_event"))
        return ids

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: register_all(), range(6)))
    assert all(ids == results[0] for ids in results)
    client = avro.registry_client(kafka_env.registry_url)
    for topic in topics:
        assert client.get_compatibility(avro.value_subject(topic)) == "BACKWARD"
