"""``bounce-processor rules publish | activate | status``: the deliverability instance.

Added to the ``rules`` group next to lint / test / explain. A rule set is published only
when every part of it holds: bounce rules lint clean and pass their examples, the
quarantine policy and the MX rules load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from processor.config import load_settings

_CONFIG = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def check_ruleset(folder: Path) -> tuple[str | None, list[str]]:
    """(version, problems) of a whole rule-set folder; publishable when problems is empty."""
    from processor.qualify import load_engine
    from processor.qualify.lint import lint_dir, run_examples
    from processor.state.mx_rules import load_mx_rules
    from processor.state.quarantine_policy import load_quarantine_policy

    ruleset, problems = lint_dir(folder)
    messages = [str(p) for p in problems]
    if ruleset is not None:
        messages += [str(p) for p in run_examples(ruleset).failures]
    for name, load in (
        ("quarantine.yaml", lambda: load_quarantine_policy(folder / "quarantine.yaml")),
        ("mx.yaml", lambda: load_mx_rules(folder)),
    ):
        try:
            load()
        except Exception as error:
            messages.append(f"{name}: {error}")
    if messages:
        return None, messages
    return str(load_engine(rules_dir=folder).ruleset.version), []


def register(rules: click.Group) -> None:
    from processor.cli.rules_diff import diff

    rules.add_command(diff)
    rules.add_command(publish)
    rules.add_command(activate)
    rules.add_command(status)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_CONFIG
@click.option("--no-activate", is_flag=True, help="Publish the version without pointing at it.")
def publish(folder: Path, config_path: Path | None, no_activate: bool) -> None:
    """Check FOLDER as a whole rule set and publish it to the rules topic.

    Publishing an unchanged rule set writes nothing (the daily sync relies on it).
    """
    from processor.qualify.package import pack
    from processor.stream import rules_sync
    from processor.stream.topics import ensure_topics

    version, problems = check_ruleset(folder)
    if version is None:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo(f"refused: {folder} has {len(problems)} problem(s); nothing published", err=True)
        sys.exit(1)
    settings = load_settings(config_path)
    ensure_topics(settings, [settings.topics.rules, settings.topics.heartbeats])
    result = rules_sync.publish(settings, pack(folder, version), activate=not no_activate)
    if not result.changed:
        click.echo(f"unchanged: {version} is already published and active")
    else:
        wrote = [
            w
            for w, done in (
                ("package", result.wrote_package),
                ("active pointer", result.wrote_pointer),
            )
            if done
        ]
        click.echo(f"published {version} ({' + '.join(wrote)}) to {settings.topics.rules}")


@click.command()
@click.argument("version")
@_CONFIG
def activate(version: str, config_path: Path | None) -> None:
    """Point every processor in published mode at VERSION (roll back or forward)."""
    from processor.stream import rules_sync

    try:
        result = rules_sync.activate(load_settings(config_path), version)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"active: {version}" + ("" if result.changed else " (it already was)"))


@click.command()
@_CONFIG
@click.option("--json", "as_json", is_flag=True)
def status(config_path: Path | None, as_json: bool) -> None:
    """Active version per processor instance, published versions and their changelog."""
    from processor.stream import rules_sync

    settings = load_settings(config_path)
    view = rules_sync.read_rules(settings)
    beats = rules_sync.read_heartbeats(settings)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "active": view.active,
                    "published": {
                        v: {"changelog": p.changelog, "published_at": p.published_at}
                        for v, p in view.packages.items()
                    },
                    "instances": beats,
                },
                indent=2,
            )
        )
        return
    fallback = "(none published: processors use their embedded default)"
    click.echo(f"active version: {view.active or fallback}")
    click.echo("published versions:")
    for version, package in sorted(
        view.packages.items(), key=lambda item: item[1].published_at or ""
    ):
        marker = "*" if version == view.active else " "
        click.echo(f"  {marker} {version:28s} {package.published_at or '':25s} {package.changelog}")
    click.echo("instances:")
    for key, beat in sorted(beats.items()):
        click.echo(
            f"  {key:36s} {beat.get('ruleset_version', '?'):28s} "
            f"mode {beat.get('rules_mode', '?'):9s} sync {beat.get('rules_sync', '?'):3s} "
            f"seen {beat.get('at', '?')}"
        )
