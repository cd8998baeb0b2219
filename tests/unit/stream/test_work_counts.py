"""Regex timeouts and memo look-ups reach the metrics once each: only what was counted
since the last chunk (in the loop's process and in each worker process alike)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from processor.intake import parse, smtp_record
from processor.memo import Memo
from processor.ops import metrics
from processor.qualify import load_engine
from processor.stream.qualify_app import QualifyTask
from processor.stream.workers import ChunkOutcome, WorkCounts


def _filled(counts: WorkCounts, engine: object) -> ChunkOutcome:
    outcome = ChunkOutcome()
    counts.fill(outcome, engine)
    return outcome


def test_only_the_timeouts_counted_since_the_last_chunk_are_new() -> None:
    engine = SimpleNamespace(timeouts={"a": 2})
    counts = WorkCounts()
    assert _filled(counts, engine).rule_timeouts == {"a": 2}
    assert _filled(counts, engine).rule_timeouts == {}
    engine.timeouts = {"a": 5, "b": 1}
    assert _filled(counts, engine).rule_timeouts == {"a": 3, "b": 1}
    swapped = SimpleNamespace(timeouts={"a": 1})  # a new engine counts from zero
    assert _filled(counts, swapped).rule_timeouts == {"a": 1}


def test_an_engine_that_counts_nothing_has_no_timeouts_nor_decisions() -> None:
    outcome = _filled(WorkCounts(), SimpleNamespace())
    assert outcome.rule_timeouts == {} and "decision" not in outcome.memo_counts


def test_memo_look_ups_since_the_last_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_record, "_REPLIES", Memo[tuple[object, ...], object](64))
    engine = load_engine()
    counts = WorkCounts()
    record = b'{"recipient": "a@example.org", "diagnostic": "550 5.1.1 no such user"}'
    for _ in range(3):
        engine.qualify(parse(record).records[0])
    assert _filled(counts, engine).memo_counts == {"reply": (2, 1, 0), "decision": (2, 1, 0)}
    engine.qualify(parse(record).records[0])
    assert _filled(counts, engine).memo_counts == {"reply": (1, 0, 0), "decision": (1, 0, 0)}
    fresh = load_engine()  # a swapped engine counts its decisions from zero
    fresh.qualify(parse(record).records[0])
    assert _filled(counts, fresh).memo_counts["decision"] == (0, 1, 0)


def test_the_metrics_count_what_chunks_report() -> None:
    def value(name: str, **labels: str) -> float:
        found = metrics.REGISTRY.get_sample_value(name, labels)
        return found or 0.0

    before = value("bounce_memo_lookups_total", memo="decision", result="hit")
    rests = value("bounce_memo_rests_total", memo="reply")
    outcome = ChunkOutcome(memo_counts={"decision": (7, 2, 0), "reply": (0, 9, 1)})
    QualifyTask.report(SimpleNamespace(), outcome)  # type: ignore[arg-type]
    assert value("bounce_memo_lookups_total", memo="decision", result="hit") == before + 7
    assert value("bounce_memo_rests_total", memo="reply") == rests + 1
