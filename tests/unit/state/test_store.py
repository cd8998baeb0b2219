"""Both local store back ends behave the same: pending writes, checkpoint, due index, restore."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.qualify.result import Reason
from processor.state.codec import encode_state
from processor.state.quarantine import AddressState, Change, RecordedError, Status
from processor.state.store import Backend, StateStore, open_state_store

BACKENDS: tuple[Backend, ...] = ("sqlite", "rocksdict")
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def quarantined(address: str, release_in_days: int | None) -> AddressState:
    return AddressState(
        address=address,
        status=Status.QUARANTINED,
        error_count=3,
        first_error_at=T0 - timedelta(days=4),
        last_error_at=T0,
        errors_reset_at=T0 + timedelta(days=10),
        quarantined_at=T0,
        release_at=None if release_in_days is None else T0 + timedelta(days=release_in_days),
        quarantine_reason=Reason.MAILBOX_FULL,
        recent_errors=(RecordedError(Reason.MAILBOX_FULL, "google:quota", T0),),
        changed_at=T0,
        change=Change.QUARANTINED,
        ruleset_version="1.0.0+abc",
        policy_version="1.0.0",
    )


def valid(address: str) -> AddressState:
    return AddressState(address=address, changed_at=T0, change=Change.SUCCESS_RESET)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    with open_state_store(tmp_path, "quarantine-0", request.param) as opened:
        yield opened


def test_pending_writes_are_visible_then_flushed_or_discarded(
    store: StateStore, tmp_path: Path
) -> None:
    state = quarantined("a@example.com", 30)
    value = store.put(state)
    assert value == encode_state(state)
    assert store.get("a@example.com") == state
    store.discard()
    assert store.get("a@example.com") is None

    store.put(state)
    store.flush(checkpoint=41)
    store.put(quarantined("b@example.com", 30))
    store.delete("a@example.com")
    assert store.get("a@example.com") is None
    store.discard()
    assert store.get("a@example.com") == state
    assert store.get("b@example.com") is None
    assert store.checkpoint() == 41
    assert store.size_bytes() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_flushed_writes_survive_reopening(backend: Backend, tmp_path: Path) -> None:
    with open_state_store(tmp_path, "quarantine-3", backend) as store:
        assert store.checkpoint() is None
        store.put(quarantined("a@example.com", 30))
        store.flush(checkpoint=7)
        store.put(quarantined("b@example.com", 30))  # never flushed
    with open_state_store(tmp_path, "quarantine-3", backend) as store:
        assert store.get("a@example.com") == quarantined("a@example.com", 30)
        assert store.get("b@example.com") is None
        assert store.checkpoint() == 7


def test_due_index_follows_updates(store: StateStore) -> None:
    store.put(quarantined("late@example.com", 30))
    store.put(quarantined("early@example.com", 5))
    store.put(quarantined("never@example.com", None))
    store.put(valid("fine@example.com"))
    store.flush()
    assert [s.address for s in store.due(T0 + timedelta(days=4))] == []
    assert [s.address for s in store.due(T0 + timedelta(days=5))] == ["early@example.com"]
    assert [s.address for s in store.due(T0 + timedelta(days=90))] == [
        "early@example.com",
        "late@example.com",
    ]
    assert [s.address for s in store.due(T0 + timedelta(days=90), limit=1)] == ["early@example.com"]

    store.put(valid("early@example.com"))  # released: no longer due
    store.put(quarantined("late@example.com", 2))  # moved earlier, still pending
    assert [s.address for s in store.due(T0 + timedelta(days=90))] == ["late@example.com"]
    store.flush()
    assert [s.address for s in store.due(T0 + timedelta(days=90))] == ["late@example.com"]
    assert store.due(T0 + timedelta(days=90))[0] == quarantined("late@example.com", 2)
    store.delete("late@example.com")
    store.flush()
    assert store.due(T0 + timedelta(days=90)) == []


def test_values_merge_pending_writes_in_address_order(store: StateStore) -> None:
    for name in ("b", "d", "f"):
        store.put(valid(f"{name}@example.com"))
    store.flush()
    store.put(valid("a@example.com"))
    store.put(valid("e@example.com"))
    store.delete("d@example.com")
    store.put(quarantined("f@example.com", 1))
    assert [(s.address, s.status) for s in store.items()] == [
        ("a@example.com", Status.VALID),
        ("b@example.com", Status.VALID),
        ("e@example.com", Status.VALID),
        ("f@example.com", Status.QUARANTINED),
    ]


def test_restore_applies_changelog_in_order(store: StateStore) -> None:
    records: list[tuple[bytes, bytes | None]] = [
        (b"a@example.com", encode_state(quarantined("a@example.com", 3))),
        (b"b@example.com", encode_state(quarantined("b@example.com", 4))),
        (b"a@example.com", encode_state(valid("a@example.com"))),
        (b"c@example.com", encode_state(valid("c@example.com"))),
        (b"c@example.com", None),
    ]
    assert store.restore(records) == 5
    assert [s.address for s in store.items()] == ["a@example.com", "b@example.com"]
    assert store.get("a@example.com") == valid("a@example.com")
    assert [s.address for s in store.due(T0 + timedelta(days=9))] == ["b@example.com"]


_operations = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete", "flush", "discard"]),
        st.sampled_from(["a@x.org", "b@x.org", "c@x.org", "d@x.org"]),
        st.none() | st.integers(1, 9),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(_operations)
def test_store_behaves_like_a_dict_with_pending_writes(
    operations: list[tuple[str, str, int | None]],
) -> None:
    for backend in BACKENDS:
        with (
            tempfile.TemporaryDirectory() as directory,
            open_state_store(directory, "p", backend) as store,
        ):
            durable: dict[str, AddressState] = {}
            pending: dict[str, AddressState | None] = {}
            for operation, address, days in operations:
                if operation == "put":
                    state = quarantined(address, days)
                    store.put(state)
                    pending[address] = state
                elif operation == "delete":
                    store.delete(address)
                    pending[address] = None
                elif operation == "flush":
                    store.flush()
                    for key, value in pending.items():
                        if value is None:
                            durable.pop(key, None)
                        else:
                            durable[key] = value
                    pending = {}
                else:
                    store.discard()
                    pending = {}
                current = {**durable, **pending}
                expected = {k: v for k, v in sorted(current.items()) if v is not None}
                assert {s.address: s for s in store.items()} == expected
                horizon = T0 + timedelta(days=5)
                due = sorted(
                    (s for s in expected.values() if s.release_at and s.release_at <= horizon),
                    key=lambda s: (s.release_at, s.address),
                )
                assert store.due(horizon) == due


def test_restore_refuses_pending_writes_and_records_the_checkpoint(store: StateStore) -> None:
    store.put(valid("a@example.com"))
    with pytest.raises(RuntimeError):
        store.restore([])
    store.discard()
    assert store.restore([(b"b@example.com", encode_state(valid("b@example.com")))], 99) == 1
    assert store.checkpoint() == 99
    assert store.get("b@example.com") == valid("b@example.com")
