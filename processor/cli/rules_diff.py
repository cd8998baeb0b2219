"""``bounce-processor rules diff``: what a candidate rule set would change, before it ships."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from processor.config import load_settings
from processor.state.whatif import DiffInput, Side


def _parse_duration(text: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if not text or text[-1] not in units or not text[:-1].isdigit():
        raise click.BadParameter(f"{text!r}: use a number and one of s, m, h, d (e.g. 7d)")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def _side(spec: str, config_path: Path | None) -> Side:
    """A rule set named by a folder or by a published version."""
    from processor.qualify import load_engine
    from processor.state.quarantine_policy import load_quarantine_policy
    from processor.stream import rules_sync

    folder = Path(spec)
    if not folder.is_dir():
        package = rules_sync.read_rules(load_settings(config_path)).packages.get(spec)
        if package is None:
            raise click.BadParameter(f"{spec} is neither a folder nor a published version")
        folder = package.unpack()
    engine = load_engine(rules_dir=folder)
    policy = load_quarantine_policy(folder / "quarantine.yaml")
    return Side(engine, policy, str(engine.ruleset.version))


def _from_files(paths: tuple[str, ...]) -> Iterator[DiffInput]:
    from processor.intake import parse
    from processor.intake.sources import read_inputs

    now = datetime.now(UTC)
    for path in paths:
        for item in read_inputs(path):
            result = parse(item.data, format=None if item.format == "missing" else item.format)
            for record in result.records:
                yield DiffInput(item.source, record, now)


def _from_topic(topic: str, since: timedelta, config_path: Path | None) -> Iterator[DiffInput]:
    """Every raw event of ``topic`` newer than ``since``, up to its end as of now."""
    from confluent_kafka import TopicPartition

    from processor.intake import parse
    from processor.stream.events import ingest_time_of
    from processor.stream.readers import committed_reader
    from processor.stream.transactional import source_message

    settings = load_settings(config_path)
    consumer = committed_reader(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        millis = int((datetime.now(UTC) - since).timestamp() * 1000)
        starts = consumer.offsets_for_times(
            [TopicPartition(topic, p, millis) for p in partitions], timeout=15
        )
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15, cached=False)[1]
            for p in partitions
        }
        remaining = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in remaining])
        while remaining:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() or message.partition() not in remaining:
                    continue
                source = source_message(message)
                if source.offset + 1 >= ends[source.partition]:
                    remaining.discard(source.partition)
                if source.value is None:
                    continue
                for record in parse(source.value).records:
                    yield DiffInput(source.coordinates, record, ingest_time_of(source))
            for tp in consumer.position([TopicPartition(topic, p) for p in list(remaining)]):
                if tp.offset >= ends[tp.partition]:
                    remaining.discard(tp.partition)
    finally:
        consumer.close()


@click.command("diff")
@click.option("--base", required=True, help="Folder or published version of the current rules.")
@click.option(
    "--candidate",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Rule folder to try.",
)
@click.option("--topic", help="Take the input from this raw topic ...")
@click.option("--since", default="1d", show_default=True, help="... this far back (e.g. 7d, 12h).")
@click.option(
    "--files", "files", multiple=True, help="Or from files (.eml, dirs, mbox, .jsonl); repeatable."
)
@click.option("--markdown", is_flag=True, help="Markdown tables (for a pull request).")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--max-changes", type=int, default=None, help="Exit 1 when more records change than this."
)
@click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def diff(
    base: str,
    candidate: str,
    topic: str | None,
    since: str,
    files: tuple[str, ...],
    markdown: bool,
    as_json: bool,
    max_changes: int | None,
    config_path: Path | None,
) -> None:
    """Classify the same input under --base and --candidate and report what changes."""
    from processor.state import whatif

    if bool(topic) == bool(files):
        raise click.UsageError("give either --topic or --files")
    inputs = (
        _from_topic(topic, _parse_duration(since), config_path) if topic else _from_files(files)
    )
    report = whatif.diff(inputs, _side(base, config_path), _side(candidate, config_path))
    click.echo(whatif.dumps(report) if as_json else report.render(markdown=markdown))
    if max_changes is not None and report.changes > max_changes:
        click.echo(f"{report.changes} changes exceed the budget of {max_changes}", err=True)
        sys.exit(1)
