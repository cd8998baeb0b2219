"""``bounce-processor schemas register``: the output schemas into the registry."""

from __future__ import annotations

from pathlib import Path

import click

from processor.config import load_settings


@click.group()
def schemas() -> None:
    """Avro schemas of the topics (``schemas/``)."""


@schemas.command("register")
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def register(config_path: Path | None) -> None:
    """Register every topic's schema under ``<topic>-value`` with BACKWARD compatibility."""
    from processor.stream.stage import register_schemas

    for topic, schema_id in register_schemas(load_settings(config_path)).items():
        click.echo(f"{topic}-value: id {schema_id}")
