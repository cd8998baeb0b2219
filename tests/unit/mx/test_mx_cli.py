"""``bounce-processor mx show``, called through click's CliRunner on the ``mx`` group."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from processor.paths import PROJECT_ROOT
from processor.state.mx_policy import RouteSignal, dump_snapshot
from processor.state.mx_rules import load_mx_rules

from .streams import RATE_LIMITED, T0, run_stream


def _mx_group() -> click.Group:
    try:
        from processor.cli import mx as module
    except ImportError:
        # processor/cli/__init__.py imports every sub-command; while one of them is still
        # missing, load this module on its own so that its test does not depend on them.
        spec = importlib.util.spec_from_file_location(
            "processor_cli_mx_alone", PROJECT_ROOT / "processor" / "cli" / "mx.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    group = module.mx
    assert isinstance(group, click.Group)
    return group


@pytest.fixture(scope="module")
def mx() -> click.Group:
    return _mx_group()


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A throttled Gmail route from 192.0.2.1 and an active one from 192.0.2.2."""
    rules = load_mx_rules()

    def failure(minutes: int, ip: str, **fields: object) -> RouteSignal:
        return RouteSignal.from_failure_event(
            {
                "event_id": f"{ip}-{minutes}",
                "event_time": T0.replace(minute=minutes),
                "recipient": "someone@gmail.com",
                "mx": "gmail-smtp-in.l.google.com",
                "sending_ip": ip,
                **fields,
            }
        )

    burst = [failure(m, "192.0.2.1", **RATE_LIMITED) for m in range(1, 7)]
    states, _ = run_stream(rules, [*burst, failure(2, "192.0.2.2", reason="user_unknown")])
    path = tmp_path / "mx-state.json"
    path.write_text(dump_snapshot(states.values()), encoding="utf-8")
    return path


def test_show_prints_rule_levels_and_no_state(mx: click.Group) -> None:
    result = CliRunner().invoke(mx, ["show", "gmail.com"])
    assert result.exit_code == 0, result.output
    assert "rule         google" in result.output
    assert "matched by   domain gmail.com" in result.output
    level_rows = [line for line in result.output.splitlines() if line[:5].strip().isdigit()]
    assert [row.split()[0] for row in level_rows] == ["1", "2", "3", "4", "5", "6"]
    assert "no state" in result.output


def test_show_by_mx_host_with_a_route_state(mx: click.Group, snapshot: Path) -> None:
    args = [
        "show",
        "alt1.gmail-smtp-in.l.google.com",
        "--ip",
        "192.0.2.1",
        "--state",
        str(snapshot),
    ]
    result = CliRunner().invoke(mx, args)
    assert result.exit_code == 0, result.output
    assert "matched by   mx *.google.com" in result.output
    assert "route        192.0.2.1|google" in result.output
    assert "status     throttled until" in result.output
    assert "192.0.2.2|google" not in result.output


def test_show_without_ip_lists_every_route_of_the_rule(mx: click.Group, snapshot: Path) -> None:
    result = CliRunner().invoke(mx, ["show", "gmail.com", "--state", str(snapshot), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["rule"] == "google"
    assert document["timings"]["throttle"]["window"] == "10m"
    assert len(document["levels"]) == 6
    assert [(r["route"], r["status"]) for r in document["routes"]] == [
        ("192.0.2.1|google", "throttled"),
        ("192.0.2.2|google", "active"),
    ]


def test_show_for_a_route_missing_from_the_snapshot(mx: click.Group, snapshot: Path) -> None:
    result = CliRunner().invoke(mx, ["show", "someone@web.de", "--state", str(snapshot)])
    assert result.exit_code == 0, result.output
    assert "rule         united-internet" in result.output
    assert "no state for <any ip>|united-internet in" in result.output


def test_show_for_a_domain_outside_the_named_rules(mx: click.Group) -> None:
    result = CliRunner().invoke(mx, ["show", "small.example", "--ip", "192.0.2.1"])
    assert result.exit_code == 0, result.output
    assert "matched by   nothing else matched" in result.output
    assert "route 192.0.2.1|default|small.example: no state" in result.output


def test_show_reports_bad_rules_as_a_usage_error(mx: click.Group, tmp_path: Path) -> None:
    (tmp_path / "mx.yaml").write_text("defaults: {}\n", encoding="utf-8")
    result = CliRunner().invoke(mx, ["show", "gmail.com", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert "invalid MX rules" in result.output
