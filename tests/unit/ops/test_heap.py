"""settle_heap: long-lived objects leave later collections; a rule swap's old engine goes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from processor.ops.heap import settle_heap


class _Node:
    """An object in a reference cycle (only the cyclic collector can free it)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_objects_alive_when_settling_are_left_out_of_later_collections() -> None:
    kept = _Node()
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # frozen: not tracked by any generation
    made_later = _Node()
    assert any(obj is made_later for obj in gc.get_objects())


def test_garbage_cycles_are_collected_before_freezing() -> None:
    node = _Node()
    gone = weakref.ref(node)
    del node
    settle_heap()
    assert gone() is None


def test_settling_again_frees_a_cycle_that_was_frozen_then_dropped() -> None:
    # the old rule engine after a swap: frozen while alive, garbage afterwards
    old_engine = _Node()
    gone = weakref.ref(old_engine)
    settle_heap()
    del old_engine
    gc.collect()
    assert gone() is not None  # frozen: a plain collection leaves it
    settle_heap()
    assert gone() is None
