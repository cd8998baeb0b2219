"""Sub-commands that talk to the schema registry: ``bounce-processor schemas ...``."""

from __future__ import annotations

import click

from processor.stream import avro

# Which schema each output topic carries. The streaming issue extends this table.
TOPIC_SCHEMAS: dict[str, str] = {
    "bounces.failures": "failure_event",
    "bounces.unqualified": "failure_event",
}

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081/apis/ccompat/v7"


@click.group()
def schemas() -> None:
    """Avro schemas of the output topics."""


@schemas.command("register")
@click.option(
    "--registry-url",
    envvar="SCHEMA_REGISTRY_URL",
    default=DEFAULT_REGISTRY_URL,
    show_default=True,
)
def register(registry_url: str) -> None:
    """Register every output schema under its topic's value subject (BACKWARD)."""
    client = avro.registry_client(registry_url)
    for topic, name in TOPIC_SCHEMAS.items():
        avro.set_backward_compatibility(client, topic)
        schema_id = avro.register_schema(client, topic, name)
        click.echo(f"{avro.value_subject(topic)}: {name} (id {schema_id})")
