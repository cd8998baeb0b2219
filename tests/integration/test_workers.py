"""The qualification stage's worker processes (``workers: N``), against the real registry:
the same outputs as the in-process work, in input order; a dead worker fails the batch;
a rule swap reaches the workers."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import fastavro
import pytest
import yaml

from processor.config import ProcessorSettings, load_settings
from processor.paths import rules_dir, schemas_dir
from processor.sample_events import generate
from processor.stream.events import SourceMessage
from processor.stream.qualify_app import build_processor
from processor.stream.stage import load_engine_from, register_schemas
from processor.stream.task import Output
from processor.stream.workers import ChunkOutcome, WorkerPool
from tests.conftest import KafkaEnv


@pytest.fixture
def settings(kafka_env: KafkaEnv, unique_name: str) -> ProcessorSettings:
    base = load_settings(None, environ={})
    topics = base.topics.model_copy(
        update={
            name: f"w{unique_name}.{name}"
            for name in ("raw", "failures", "unqualified", "dlq", "quarantine", "mx_policy")
        }
    )
    prepared = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(
                update={"bootstrap_servers": kafka_env.bootstrap_servers}
            ),
            "registry": base.registry.model_copy(update={"url": kafka_env.registry_url}),
            "topics": topics,
            "instance_id": "workers-test",
        }
    )
    register_schemas(prepared)
    return prepared


@pytest.fixture
def outcomes() -> list[ChunkOutcome]:
    return []


@pytest.fixture
def pool(settings: ProcessorSettings, outcomes: list[ChunkOutcome]) -> Iterator[WorkerPool]:
    started = WorkerPool(settings, rules_dir(), 2, outcomes.append)
    yield started
    started.close()


def _messages(settings: ProcessorSettings, count: int) -> list[SourceMessage]:
    return [
        SourceMessage(
            settings.topics.raw,
            n % 3,
            n,
            event.value,
            str(n).encode(),
            [("content-type", event.content_type.encode()), ("x-tenant", b"acme")],
            1_790_000_000_000 + n,
        )
        for n, event in enumerate(generate(count, garbage_every=7))
    ]


def _comparable(outputs: list[Output]) -> list[tuple[object, ...]]:
    """Everything of an output but the wall-clock stamp (``processed_at``)."""
    return [
        (o.topic, o.key, o.value, [h for h in o.headers if h[0] != "processed_at"], o.partition)
        for o in outputs
    ]


def _decode(value: bytes) -> dict[str, object]:
    schema = fastavro.parse_schema(
        json.loads((schemas_dir() / "failure_event.avsc").read_text(encoding="utf-8"))
    )
    record = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
    assert isinstance(record, dict)
    return record


def test_workers_give_the_in_process_outputs_in_input_order(
    settings: ProcessorSettings, pool: WorkerPool, outcomes: list[ChunkOutcome]
) -> None:
    messages = _messages(settings, 300)
    in_process = build_processor(settings, load_engine_from(rules_dir()))
    expected = [in_process.process(m) for m in messages]

    # two polled chunks, each split across both workers; collected in order
    chunks = [pool.submit(messages[:170]), pool.submit(messages[170:])]
    got = [output for chunk in chunks for output in chunk.result()]

    assert _comparable(got) == _comparable([o for r in expected for o in r.outputs])
    assert len({outcome.worker_pid for outcome in outcomes}) == 2, "both workers worked"
    # what the main process counts comes back with the outputs
    letters = [n for outcome in outcomes for n in outcome.dead_letters]
    assert [n.coordinates for n in letters] == [
        m.coordinates for m, r in zip(messages, expected, strict=True) if r.dead_letter
    ]
    assert len(letters) > 30, "the mix holds garbage"
    assert sorted(q for outcome in outcomes for q in outcome.qualified) == sorted(
        (q.failure_type.value, q.reason.value) for r in expected for q in r.qualifications
    )


def test_a_dead_worker_fails_the_batch(settings: ProcessorSettings, pool: WorkerPool) -> None:
    victim = pool.pids[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    with pytest.raises(BrokenProcessPool):
        while time.monotonic() < deadline:  # the pool notices the death on its own time
            pool.submit(_messages(settings, 40)).result()
            time.sleep(0.2)


def test_a_rule_swap_reaches_the_workers(
    settings: ProcessorSettings, pool: WorkerPool, tmp_path: Path
) -> None:
    wording = b"The email account that you tried"
    message = next(m for m in _messages(settings, 10) if wording in (m.value or b""))
    before = _decode(pool.submit([message]).result()[0].value or b"")
    assert before["rule_id"] == "gmail.account-does-not-exist"

    # a custom rule set: the same rules and a newer, stricter one for this wording
    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    (folder / "bounce" / "zz-local.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "local.gmail-account-gone",
                        "description": "local override",
                        "pattern": r"email account that you tried to reach does not exist",
                        "detail": "userunknown",
                        "priority": 900,
                        "examples": ["The email account that you tried to reach does not exist"],
                    }
                ]
            }
        )
    )
    old_pids = pool.pids
    pool.reload(folder)

    after = _decode(pool.submit([message]).result()[0].value or b"")
    assert after["rule_id"] == "local.gmail-account-gone"
    assert after["ruleset_version"] != before["ruleset_version"]
    assert not set(old_pids) & set(pool.pids), "new workers for the new rules"
