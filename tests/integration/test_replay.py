"""Replays and rule diffs on the real broker: a replay with a modified rule set makes
exactly the changes the diff predicted, never touches the live group, is byte-for-byte
reproducible, equals the live run under the live rules, and resumes after a stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

from processor.paths import rules_dir
from processor.sample_events import generate
from processor.stream import avro
from tests.conftest import ROOT, KafkaEnv
from tests.integration.harness import ProcessorSetup, produce_raw, wait_caught_up
from tests.integration.helpers import create_topics, read_all


@pytest.fixture
def setup(kafka_env: KafkaEnv, unique_name: str, tmp_path: Path) -> Iterator[ProcessorSetup]:
    prepared = ProcessorSetup(kafka_env, f"p{unique_name}", tmp_path)
    create_topics(kafka_env.bootstrap_servers, [prepared.topics["raw"]], partitions=3)
    yield prepared
    prepared.stop_all()


def candidate_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "candidate"
    shutil.copytree(rules_dir(), folder)
    rules = [
        {
            "id": "candidate.mysterious",
            "description": "Qualify the sample's unknown answer.",
            "pattern": r"mysterious\sremote\sanswer",
            "detail": "blocked",
            "reason": "refused",
            "failure_type": "soft",
            "priority": 900,
            "examples": ["mysterious remote answer nobody has a rule for"],
        },
        {
            "id": "candidate.full-is-hard",
            "description": "Treat a full mailbox as a hard error (a deliberately big change).",
            "pattern": r"mailbox\sfull",
            "detail": "userunknown",
            "reason": "user_unknown",
            "failure_type": "hard",
            "priority": 900,
            "examples": ["552 5.2.2 Mailbox full"],
        },
    ]
    (folder / "bounce" / "zz-candidate.yaml").write_text(
        yaml.safe_dump({"family": "candidate", "rules": rules})
    )
    return folder


def cli(
    setup: ProcessorSetup, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the CLI; a run past ``timeout`` fails with the end of what it logged."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "processor", *args, "--config", str(setup.config("cli", 0))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        logged = expired.stderr or b""
        text = logged.decode(errors="replace") if isinstance(logged, bytes) else logged
        lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
        pytest.fail(f"{args[0]} ran past {timeout}s; its log ends:\n" + "\n".join(lines[-60:]))


Record = tuple[bytes, bytes, dict[str, object]]  # key, value bytes, decoded


def records(env: KafkaEnv, topics: list[str]) -> dict[str, Record]:
    """event_id -> (key, value bytes, decoded) over the read_committed view of ``topics``."""
    decode = avro.deserializer(avro.registry_client(env.registry_url))
    found: dict[str, Record] = {}
    for topic in topics:
        for message in read_all(env.bootstrap_servers, topic, timeout=120):
            event = decode(message.value(), SerializationContext(topic, MessageField.VALUE))
            assert event["event_id"] not in found, "duplicate event id"
            found[str(event["event_id"])] = (message.key(), message.value(), event)
    return found


def committed(env: KafkaEnv, group: str, topic: str) -> list[tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": env.bootstrap_servers, "group.id": group})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sorted(
            (tp.partition, tp.offset)
            for tp in consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        )
    finally:
        consumer.close()


def replay_with(setup: ProcessorSetup, rules: Path, prefix: str) -> dict[str, Record]:
    """Replay the raw topic with ``rules`` into ``prefix`` (qualification only); its records."""
    done = cli(
        setup,
        "replay",
        "--from",
        "earliest",
        "--rules",
        str(rules),
        "--output-prefix",
        prefix,
        "--no-state",
    )
    assert done.returncode == 0, done.stderr
    return records(setup.env, [f"{prefix}.failures", f"{prefix}.unqualified"])


def outcome(event: dict[str, object]) -> tuple[str, str]:
    return str(event["failure_type"]), str(event["reason"])


def test_replay_of_100k_makes_exactly_the_predicted_changes(
    setup: ProcessorSetup, tmp_path: Path
) -> None:
    setup.overrides = {"batch.max_records": 1000, "batch.max_ms": 500}
    events = list(generate(100_000, garbage_every=50))
    produce_raw(setup.env, setup.topics["raw"], events)
    live = setup.start()
    wait_caught_up(setup, len(events), timeout=900, process=live)
    live.send_signal(signal.SIGTERM)
    live.wait(60)
    live_offsets = committed(setup.env, setup.group_id, setup.topics["raw"])
    live_records = records(setup.env, [setup.topics["failures"], setup.topics["unqualified"]])

    candidate = candidate_rules(tmp_path)
    predicted = cli(
        setup,
        "rules",
        "diff",
        "--base",
        str(rules_dir()),
        "--candidate",
        str(candidate),
        "--topic",
        setup.topics["raw"],
        "--since",
        "1d",
        "--json",
    )
    assert predicted.returncode == 0, predicted.stderr
    report = json.loads(predicted.stdout)
    expected = Counter(
        {(tuple(t["before"]), tuple(t["after"])): t["count"] for t in report["transitions"]}
    )
    assert report["changes"] > 10_000  # the candidate really changes something

    replayed = replay_with(setup, candidate, f"{setup.name}-r1")
    assert set(replayed) == set(live_records)
    observed = Counter((outcome(live_records[i][2]), outcome(replayed[i][2])) for i in live_records)
    assert observed == expected

    assert committed(setup.env, setup.group_id, setup.topics["raw"]) == live_offsets

    again = replay_with(setup, candidate, f"{setup.name}-r2")
    assert {i: (k, v) for i, (k, v, _) in again.items()} == {
        i: (k, v) for i, (k, v, _) in replayed.items()
    }


def test_replay_with_live_rules_equals_live_run_and_resumes(setup: ProcessorSetup) -> None:
    events = list(generate(3000, garbage_every=20))
    produce_raw(setup.env, setup.topics["raw"], events)
    live = setup.start()
    wait_caught_up(setup, len(events), process=live)
    live_records = records(setup.env, [setup.topics["failures"], setup.topics["unqualified"]])

    # Interrupt a replay, then run the same command again: it resumes where it stopped.
    prefix = f"{setup.name}-same"
    args = [
        sys.executable,
        "-m",
        "processor",
        "replay",
        "--output-prefix",
        prefix,
        "--config",
        str(setup.config("cli", 0)),
    ]
    interrupted = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(6)
    interrupted.send_signal(signal.SIGINT)
    _, interrupted_log = interrupted.communicate(timeout=120)
    # stopped mid-way (130) or, on a fast machine, done before the signal (0)
    assert interrupted.returncode in (0, 130), interrupted_log.decode()[-3000:]
    if interrupted.returncode == 130:
        assert b"run the same command again to resume" in interrupted_log
    resumed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "replay done" in resumed.stderr

    replayed = records(setup.env, [f"{prefix}.failures", f"{prefix}.unqualified"])
    assert {i: (k, v) for i, (k, v, _) in replayed.items()} == {
        i: (k, v) for i, (k, v, _) in live_records.items()
    }
    # The replay kept its own quarantine state, on event time.
    states = read_all(setup.env.bootstrap_servers, f"{prefix}.quarantine", timeout=60)
    assert states
