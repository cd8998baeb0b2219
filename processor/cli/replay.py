"""``bounce-processor replay``: reprocess the raw topic's history into separate topics."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from processor.config import load_settings
from processor.ops.logging import configure
from processor.stream.transactional import TransactionalLoop


@click.command()
@click.option(
    "--from",
    "start",
    default="earliest",
    show_default=True,
    help="earliest | an offset | an ISO-8601 time",
)
@click.option("--until", help="ISO-8601 time (or offset) to stop at; default: the end as of now")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Replay with this rule folder.",
)
@click.option("--rules-version", help="Replay with this published rule-set version.")
@click.option(
    "--output-prefix", required=True, help="Outputs go to PREFIX.failures, PREFIX.quarantine, ..."
)
@click.option("--no-state", is_flag=True, help="Qualification only, no quarantine / MX state.")
@click.option(
    "--restart", is_flag=True, help="Ignore the progress of an earlier run with this prefix."
)
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def replay(
    start: str,
    until: str | None,
    rules_dir: Path | None,
    rules_version: str | None,
    output_prefix: str,
    no_state: bool,
    restart: bool,
    config_path: Path | None,
) -> None:
    """Replay the raw topic with manual assignment; the live group's offsets are never touched.

    Interrupt it (Ctrl-C) at any time: the same command resumes where it stopped.
    """
    from processor.stream import rules_sync
    from processor.stream.replay import run_replay

    settings = load_settings(config_path)
    configure("WARNING", json_output=False)
    if rules_dir and rules_version:
        raise click.UsageError("give --rules or --rules-version, not both")
    if rules_version:
        package = rules_sync.read_rules(settings).packages.get(rules_version)
        if package is None:
            raise click.ClickException(f"rule-set version {rules_version} is not published")
        rules_dir = package.unpack()
    loops: list[TransactionalLoop] = []
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()
        for loop in loops:
            loop.request_stop()

    def register(loop: TransactionalLoop) -> None:
        """A loop created after the signal (during start-up, or the next phase) stops
        at once, so that no phase starts after an interruption."""
        loops.append(loop)
        if stopped.is_set():
            loop.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    sys.exit(
        run_replay(
            settings,
            prefix=output_prefix,
            start=start,
            until=until,
            rules_dir=rules_dir,
            with_state=not no_state,
            restart=restart,
            register_stop=register,
        )
    )
