"""The ``bounce-processor`` command: one entry point, a sub-command per job."""

from __future__ import annotations

import click

from processor import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bounce-processor")
def main() -> None:
    """Parse, qualify and quarantine email bounces, on Kafka or offline."""


def _register() -> None:
    # Each sub-command lives in its own module; importing registers nothing by side
    # effect, the commands are added here explicitly.
    from processor.cli import classify, mx, quarantine, replay, rules, rules_sync, run, schemas

    main.add_command(classify.classify)
    main.add_command(classify.evaluate)
    rules_sync.register(rules.rules)
    main.add_command(rules.rules)
    main.add_command(schemas.schemas)
    main.add_command(run.run)
    main.add_command(run.topics)
    main.add_command(mx.mx)
    main.add_command(replay.replay)
    main.add_command(quarantine.quarantine)


_register()
