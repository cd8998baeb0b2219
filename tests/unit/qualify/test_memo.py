"""The engine keeps its decisions by what they read of a record (``Engine.qualify``'s
memo): the key must hold every field the decision reads, and a kept decision must be
the one made afresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from processor.intake import parse
from processor.intake.record import BounceRecord, RecordKind
from processor.qualify import Engine, load_engine
from processor.qualify.engine import QUALIFYING_FIELDS
from processor.sample_events import templates
from tests.unit.intake.conftest import corpus_dir
from tests.unit.qualify.conftest import rule, smtp, write_rules


def _records() -> list[BounceRecord]:
    """Every record the shipped samples and the labelled corpus (when present) give, and
    records of the kinds and fields they lack."""
    inputs = [event.value for event in templates()]
    corpus = corpus_dir() / "eml"
    if corpus.is_dir():
        inputs += [path.read_bytes() for path in sorted(corpus.rglob("*.eml"))]
    records = [record for data in inputs for record in parse(data).records]
    records += [
        BounceRecord(kind=RecordKind.AUTOREPLY, recipient="a@example.org"),
        BounceRecord(kind=RecordKind.DSN, action="delivered", recipient="a@example.org"),
        BounceRecord(kind=RecordKind.DSN, action="delayed", status="4.2.2", diagnostic="full"),
        BounceRecord(kind=RecordKind.DSN, bounce_subject="Undeliverable", bounce_from="x@y.z"),
        BounceRecord(kind=RecordKind.ARF, feedback_type="abuse", reporting_mta="dns; fbl.x.y"),
        BounceRecord(kind=RecordKind.SMTP, smtp_code=452),
    ]
    assert len(records) > 100
    return records


class _Reads:
    """A record that notes which of its fields are read."""

    def __init__(self, record: BounceRecord) -> None:
        self._record = record
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._record, name)


@pytest.fixture(scope="module")
def records() -> list[BounceRecord]:
    return _records()


def _every_dimension(tmp: Path) -> Engine:
    """Rules on every field and with every scope dimension, none of which decides: each
    record is checked on all of them."""
    never = "(?!)"
    scopes: list[dict[str, list[str]]] = [
        {"recipient_domains": ["nowhere.invalid"]},
        {"mx": ["nowhere.invalid"]},
        {"reporting_mta": ["nowhere.invalid"]},
        {"statuses": ["5.9.9"]},
        {"actions": ["expired"]},
        {"kinds": ["arf"], "smtp_commands": ["DATA"], "diagnostic_types": ["x-unix"]},
    ]
    rules = [rule(f"scope-{n}", r"\w", scope=scope) for n, scope in enumerate(scopes)]
    fields = ["subject", "sender", "body", "reply_code", "status", "feedback_type"]
    rules += [rule(f"field-{name}", never, field=name) for name in fields]
    return load_engine(write_rules(tmp, rules))


def _fields_read(engine: Engine, records: list[BounceRecord]) -> set[str]:
    read: set[str] = set()
    for record in records:
        watched = _Reads(record)
        assert engine._qualify(watched) == engine._qualify(record)  # type: ignore[arg-type]
        read |= watched.read
    return read


def test_decisions_read_only_the_qualifying_fields(
    engine: Engine, records: list[BounceRecord], tmp_path: Path
) -> None:
    allowed = {*QUALIFYING_FIELDS, "recipient"}
    read = _fields_read(engine, records)
    assert read <= allowed, read - allowed
    # with rules on every field and scope dimension, every one of them is read: the key
    # holds nothing the decision does not need
    assert _fields_read(_every_dimension(tmp_path), records) == allowed


def test_kept_decisions_are_the_fresh_ones(records: list[BounceRecord]) -> None:
    engine = load_engine()
    first = [engine.qualify(record) for record in records]
    assert engine._memo.entries  # the decisions were kept
    again = [engine.qualify(record) for record in records]
    fresh = [engine._qualify(record) for record in records]
    assert first == again == fresh


def test_a_different_recipient_domain_is_another_key(tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        [rule("gmail-only", r"\bblah\b", scope={"recipient_domains": ["gmail.com"]})],
    )
    engine = load_engine(rules)
    assert engine.qualify(smtp("550 blah", recipient="a@gmail.com")).rule_id == "gmail-only"
    assert engine.qualify(smtp("550 blah", recipient="b@yahoo.com")).rule_id == "reply:5xx"
    assert engine.qualify(smtp("550 blah", recipient="c@gmail.com")).rule_id == "gmail-only"


def test_a_decision_with_a_timeout_is_not_kept(tmp_path: Path) -> None:
    engine = load_engine(write_rules(tmp_path, [rule("bad", r"(a+)+$")]), timeout=0.01)
    evil = smtp("a" * 900 + "!")  # short enough to be kept, were it not for the timeout
    assert engine.qualify(evil).rule_id == "unqualified"
    assert engine.qualify(evil).rule_id == "unqualified"
    assert engine.timeouts["bad"] == 2  # tried again, not taken from the memo
    assert not engine._memo.entries


def test_the_memo_rests_on_records_that_never_recur() -> None:
    engine = load_engine()
    for n in range(9000):
        engine.qualify(smtp(f"550 5.1.1 <user{n}@example.org>: Recipient address rejected"))
    assert engine._memo.rests == 1 and engine._memo.resting > 0
    assert not engine._memo.entries
    # resting, it still decides
    assert engine.qualify(smtp("550 5.1.1 <x@example.org>: no such user")).rule_id != "unqualified"
