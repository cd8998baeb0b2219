"""``bounce-processor mx``: look at MX rules and route policies.

``mx show DOMAIN_OR_MX`` prints the rule that applies to an MX host or a recipient
domain (the MX host is tried first, as the policy does), its six levels and timings,
and the current state of the route(s) (sending IP, rule) found in a state snapshot
(``--state FILE``, the JSON of :func:`processor.state.mx_policy.dump_snapshot`). Without
a snapshot there is no state to show yet; the live lookup through the state stage comes
with that stage.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from processor.state.mx_policy import (
    Route,
    RouteState,
    effective_limits,
    load_snapshot,
    next_due,
    normalise_sending_ip,
)
from processor.state.mx_rules import (
    MatchedBy,
    MxRuleMatch,
    MxRulesError,
    MxRuleSet,
    format_duration,
    load_mx_rules,
)


@click.group()
def mx() -> None:
    """MX rules: per-MX throughput levels and bounce-driven route policy."""


@mx.command("show")
@click.argument("domain_or_mx")
@click.option("--ip", "sending_ip", help="Sending IP (or pool name) of the route to show.")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, path_type=Path),
    help="Rules folder (or mx.yaml itself); default: the project's rules/.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Route state snapshot (JSON) to read the route's current state from.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def show(
    domain_or_mx: str,
    sending_ip: str | None,
    rules_path: Path | None,
    state_file: Path | None,
    as_json: bool,
) -> None:
    """Show the MX rule for DOMAIN_OR_MX, its six levels, and the route's current state."""
    try:
        rules = load_mx_rules(rules_path)
    except MxRulesError as error:
        raise click.ClickException(str(error)) from error
    name = domain_or_mx.strip().lower().rstrip(".")
    if "@" in name:
        name = name.rsplit("@", 1)[1]
    match = rules.match(name, name)
    # Routes of the default rule are per recipient domain (see processor.state.mx_policy).
    destination = name if match.matched_by is MatchedBy.DEFAULT else None
    routes = _routes(match, destination, sending_ip, state_file)
    if as_json:
        document = _as_document(rules, match, destination, sending_ip, state_file, routes)
        click.echo(json.dumps(document, indent=2))
        return
    for line in _rule_lines(rules, match):
        click.echo(line)
    click.echo("")
    for line in _state_lines(rules, match, destination, sending_ip, state_file, routes):
        click.echo(line)


def _routes(
    match: MxRuleMatch, destination: str | None, sending_ip: str | None, state_file: Path | None
) -> list[RouteState]:
    """The snapshot's states for this rule and destination (one sending IP with ``--ip``)."""
    if state_file is None:
        return []
    try:
        states = load_snapshot(state_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise click.ClickException(
            f"cannot read the state snapshot {state_file}: {error}"
        ) from error
    wanted_ip = normalise_sending_ip(sending_ip) if sending_ip else None
    return [
        state
        for _, state in sorted(states.items())
        if state.rule_id == match.rule.id
        and state.destination == destination
        and wanted_ip in (None, state.sending_ip)
    ]


def _route_label(match: MxRuleMatch, destination: str | None, sending_ip: str | None) -> str:
    """The route key with ``--ip``; otherwise the rule (and destination) of all its routes."""
    ip = normalise_sending_ip(sending_ip) if sending_ip else "<any ip>"
    return Route(sending_ip=ip, rule_id=match.rule.id, destination=destination).key


def _rule_lines(rules: MxRuleSet, match: MxRuleMatch) -> list[str]:
    rule = match.rule
    timings = rules.timings(rule.id)
    how = f"{match.matched_by.value} {match.pattern}" if match.pattern else "nothing else matched"
    throttle, suspension = timings.throttle, timings.suspension
    lines = [
        f"rule         {rule.id}" + (f" ({rule.description})" if rule.description else ""),
        f"matched by   {how}",
        f"rule set     {rules.version}",
        f"start level  {timings.start_level}",
        f"throttle     {throttle.threshold} signals within {format_duration(throttle.window)}"
        f" -> one level down, cool-down {format_duration(throttle.cooldown)}",
        f"suspension   {format_duration(suspension.period)} after {suspension.threshold}"
        f" reputation block(s) within {format_duration(suspension.window)},"
        f" resumes {suspension.step_down} level(s) lower",
        f"warm-up      one level up after {format_duration(timings.warmup.clean_period)} clean",
        "",
        "level  max connections  max msgs/connection  max msgs/hour",
    ]
    for number, level in enumerate(rule.levels, start=1):
        start = "  (start)" if number == timings.start_level else ""
        lines.append(
            f"{number:>5}  {level.max_connections:>15}  {level.max_messages_per_connection:>19}"
            f"  {level.max_messages_per_hour:>13}{start}"
        )
    return lines


def _state_lines(
    rules: MxRuleSet,
    match: MxRuleMatch,
    destination: str | None,
    sending_ip: str | None,
    state_file: Path | None,
    routes: list[RouteState],
) -> list[str]:
    label = _route_label(match, destination, sending_ip)
    if state_file is None:
        return [f"route {label}: no state (pass --state FILE; the live lookup comes later)"]
    if not routes:
        start = rules.timings(match.rule.id).start_level
        return [f"no state for {label} in {state_file}: runs at the start level ({start})"]
    lines: list[str] = []
    for state in routes:
        lines.extend(_one_state(rules, state))
    return lines


def _one_state(rules: MxRuleSet, state: RouteState) -> list[str]:
    limits = effective_limits(rules.rule(state.rule_id), state.level, state.status)
    status = state.status.value + (f" until {state.until.isoformat()}" if state.until else "")
    due = next_due(state, rules)
    lines = [
        f"route        {state.route.key}",
        f"  level      {state.level} / {rules.rule(state.rule_id).top_level}",
        f"  status     {status}",
        f"  reason     {state.reason.value}"
        + (f": {state.reason_detail}" if state.reason_detail else ""),
        f"  limits     {limits.max_connections} connections,"
        f" {limits.max_messages_per_connection} msgs/connection,"
        f" {limits.max_messages_per_hour} msgs/hour",
        f"  changed    {state.changed_at.isoformat()}"
        + (f" (event {state.cause_event_id})" if state.cause_event_id else ""),
        f"  as of      {state.clock.isoformat()}",
    ]
    if due is not None:
        lines.append(f"  next       {due.isoformat()} (if nothing else happens)")
    return lines


def _spelled_durations(value: Any) -> Any:
    """Durations as in ``mx.yaml`` (``"10m"``), everywhere in a nested dump."""
    if isinstance(value, dict):
        return {key: _spelled_durations(item) for key, item in value.items()}
    if isinstance(value, timedelta):
        return format_duration(value)
    return value


def _as_document(
    rules: MxRuleSet,
    match: MxRuleMatch,
    destination: str | None,
    sending_ip: str | None,
    state_file: Path | None,
    routes: list[RouteState],
) -> dict[str, Any]:
    timings = rules.timings(match.rule.id)
    return {
        "rule": match.rule.id,
        "description": match.rule.description,
        "matched_by": match.matched_by.value,
        "pattern": match.pattern,
        "ruleset_version": rules.version,
        "timings": _spelled_durations(timings.model_dump()),
        "levels": [level.model_dump() for level in match.rule.levels],
        "destination": destination,
        "sending_ip": normalise_sending_ip(sending_ip) if sending_ip else None,
        "state_file": str(state_file) if state_file else None,
        "routes": [
            {
                **state.model_dump(mode="json"),
                "route": state.route.key,
                "limits": effective_limits(match.rule, state.level, state.status).model_dump(),
            }
            for state in routes
        ],
    }
