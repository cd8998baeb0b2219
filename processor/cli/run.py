"""``bounce-processor run`` and ``bounce-processor topics create``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from processor.config import load_settings
from processor.ops.logging import configure


@click.command("run")
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--stage",
    type=click.Choice(["qualify", "state", "all"]),
    default="qualify",
    show_default=True,
    help="qualify: raw -> failures; state: failures -> quarantine / MX policy; all: both.",
)
@click.option("--plain-logs", is_flag=True, help="Human-readable logs instead of JSON lines.")
def run(config_path: Path | None, stage: str, plain_logs: bool) -> None:
    """Run a processing stage until SIGTERM (exit 0) or a fatal error (non-zero)."""
    settings = load_settings(config_path)
    configure(settings.log_level, json_output=not plain_logs)
    from processor.stream.runner import build_and_run

    sys.exit(build_and_run(settings, stage))


@click.group()
def topics() -> None:
    """The project's Kafka topics."""


@topics.command("create")
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def create(config_path: Path | None) -> None:
    """Create every missing topic (compacted where the design says so)."""
    from processor.stream.topics import ensure_topics

    created = ensure_topics(load_settings(config_path))
    click.echo("created: " + (", ".join(created) if created else "nothing (all exist)"))
