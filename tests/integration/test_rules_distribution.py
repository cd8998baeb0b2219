"""The deliverability instance on the real broker: publish, hot swap without restart and
without losing or duplicating an event, refusal of a broken set, custom mode, rollback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from processor.paths import rules_dir
from processor.sample_events import generate
from tests.conftest import ROOT, KafkaEnv
from tests.integration.harness import (
    ProcessorSetup,
    assert_exactly_once,
    produce_raw,
    read_outputs,
    wait_caught_up,
)
from tests.integration.helpers import create_topics

UNKNOWN_DIAGNOSTIC = "mysterious remote answer nobody has a rule for"


@pytest.fixture
def setup(kafka_env: KafkaEnv, unique_name: str, tmp_path: Path) -> Iterator[ProcessorSetup]:
    prepared = ProcessorSetup(kafka_env, f"r{unique_name}", tmp_path)
    create_topics(kafka_env.bootstrap_servers, [prepared.topics["raw"]], partitions=3)
    yield prepared
    prepared.stop_all()


def rule_set(
    tmp_path: Path, name: str, semver: str, extra_rule: bool = False, broken: bool = False
) -> Path:
    folder = tmp_path / name
    shutil.copytree(rules_dir(), folder)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["version"] = semver
    manifest["changelog"].insert(
        0, {"version": semver, "date": "2026-11-27", "changes": [f"{name} for the test"]}
    )
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    rules = []
    if extra_rule:
        rules.append(
            {
                "id": "test.mysterious",
                "description": "The sample's unknown answer, now qualified.",
                "pattern": r"mysterious\sremote\sanswer",
                "detail": "blocked",
                "reason": "refused",
                "failure_type": "soft",
                "priority": 900,
                "examples": [UNKNOWN_DIAGNOSTIC],
                "counter_examples": ["550 5.1.1 user unknown"],
            }
        )
    if broken:
        rules.append(
            {
                "id": "test.catastrophic",
                "description": "Nested quantifiers: catastrophic backtracking.",
                "pattern": "(a+)+$",
                "detail": "blocked",
                "reason": "refused",
                "failure_type": "soft",
                "priority": 900,
                "examples": ["aaaa"],
            }
        )
    if rules:
        (folder / "bounce" / "zz-test.yaml").write_text(
            yaml.safe_dump({"family": "test", "rules": rules})
        )
    return folder


def cli(setup: ProcessorSetup, *args: str) -> subprocess.CompletedProcess[str]:
    config = setup.config("cli", 0)
    return subprocess.run(
        [sys.executable, "-m", "processor", *args, "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ready_version(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).json().get("ruleset_version")
    except httpx.HTTPError:
        return None


def wait_version(port: int, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready_version(port) == version:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"processor on port {port} never reported {version}: {ready_version(port)}"
    )


def published_version(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[1]


def test_publish_swaps_rules_without_restart_or_loss(setup: ProcessorSetup, tmp_path: Path) -> None:
    folder_a = rule_set(tmp_path, "a", "7.0.0")
    version_a = published_version(cli(setup, "rules", "publish", str(folder_a)))
    assert version_a.startswith("7.0.0+")
    # The daily sync publishes the same folder again: nothing new is written.
    again = cli(setup, "rules", "publish", str(folder_a))
    assert again.returncode == 0 and again.stdout.startswith("unchanged"), again.stdout

    published = setup.start("published")
    custom_rules = rule_set(tmp_path, "custom", "0.9.0")
    setup.overrides = {
        "rules.mode": "custom",
        "rules.dir": str(custom_rules),
        "group_id": setup.group_id + "-custom",
        "transactional_id_prefix": setup.name + "-custom",
        "topics.failures": setup.name + ".custom-failures",
        "topics.unqualified": setup.name + ".custom-unqualified",
        "topics.dlq": setup.name + ".custom-dlq",
    }
    custom = setup.start("custom")
    setup.overrides = {}
    wait_version(published.http_port, version_a)  # type: ignore[attr-defined]
    custom_version = ready_version(custom.http_port)  # type: ignore[attr-defined]
    assert custom_version and custom_version.startswith("0.9.0+")

    first = list(generate(130))
    produce_raw(setup.env, setup.topics["raw"], first)
    wait_caught_up(setup, len(first), process=published)

    broken = cli(setup, "rules", "publish", str(rule_set(tmp_path, "broken", "7.2.0", broken=True)))
    assert broken.returncode == 1 and "refused" in broken.stderr
    assert (
        "(a+)+$" in broken.stderr
        or "catastrophic" in broken.stderr.lower()
        or "nested" in broken.stderr.lower()
    )

    version_b = published_version(
        cli(setup, "rules", "publish", str(rule_set(tmp_path, "b", "7.1.0", extra_rule=True)))
    )
    wait_version(published.http_port, version_b)  # type: ignore[attr-defined]
    assert published.poll() is None, "no restart"

    second = list(generate(130, start=1000))
    produce_raw(setup.env, setup.topics["raw"], second)
    wait_caught_up(setup, len(first) + len(second), process=published)

    outputs = read_outputs(setup)
    assert_exactly_once(outputs, len(first) + len(second))
    # Before the switch everything carries A, after it B (the second batch's addresses
    # are numbered from 1000).
    by_version: dict[str, list[dict[str, object]]] = {}
    for record in outputs.records:
        number = int(re.search(r"\+(\d+)@", str(record["recipient"])).group(1))  # type: ignore[union-attr]
        assert record["ruleset_version"] == (version_a if number < 1000 else version_b), record
        by_version.setdefault(str(record["ruleset_version"]), []).append(record)
    assert set(by_version) == {version_a, version_b}
    mysterious_b = [r for r in by_version[version_b] if r["diagnostic"] == UNKNOWN_DIAGNOSTIC]
    assert mysterious_b and all(r["rule_id"] == "test.mysterious" for r in mysterious_b)
    assert all(
        r["failure_type"] == "unqualified"
        for r in by_version[version_a]
        if r["diagnostic"] == UNKNOWN_DIAGNOSTIC
    )

    # The processor in custom mode stayed on its own rules and says so.
    health = httpx.get(f"http://127.0.0.1:{custom.http_port}/healthz", timeout=3).json()  # type: ignore[attr-defined]
    assert health["rules_mode"] == "custom" and health["rules_sync"] == "off"
    assert health["ruleset_version"] == custom_version
    metrics = httpx.get(f"http://127.0.0.1:{custom.http_port}/metrics", timeout=3).text  # type: ignore[attr-defined]
    assert 'mode="custom"' in metrics

    # Rolling back is pointing at A again.
    rollback = cli(setup, "rules", "activate", version_a)
    assert rollback.returncode == 0, rollback.stderr
    wait_version(published.http_port, version_a)  # type: ignore[attr-defined]

    status = cli(setup, "rules", "status")
    assert status.returncode == 0, status.stderr
    assert version_a in status.stdout and version_b in status.stdout
    assert "qualify:published" in status.stdout and "qualify:custom" in status.stdout
