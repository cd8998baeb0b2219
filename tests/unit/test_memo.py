"""Bounded memos that rest while they do not pay (processor.memo)."""

from __future__ import annotations

from processor import memo as memo_module
from processor.memo import Memo


def _look_up(memo: Memo[int, int], key: int) -> int:
    """The caller's side of the protocol, as the engine and SMTP intake write it."""
    if memo.resting:
        memo.resting -= 1
        return key * 2
    found = memo.entries.get(key)
    if found is not None:
        memo.hits += 1
        return found
    memo.keep(key, key * 2)
    return key * 2


def test_recurring_keys_are_kept_and_hit() -> None:
    memo: Memo[int, int] = Memo(100)
    for n in range(3 * memo_module.WINDOW):
        assert _look_up(memo, n % 8) == (n % 8) * 2
    assert memo.rests == 0 and len(memo.entries) == 8
    # counted across windows (the hit rate is checked per window)
    assert memo.counts() == (3 * memo_module.WINDOW - 8, 8, 0)


def test_keys_that_never_recur_send_it_to_rest_then_it_tries_again() -> None:
    memo: Memo[int, int] = Memo(memo_module.WINDOW * 2)
    for n in range(memo_module.WINDOW):
        _look_up(memo, n)
    assert memo.rests == 1 and not memo.entries
    assert memo.resting == memo_module.REST
    for n in range(memo_module.REST):
        _look_up(memo, n % 8)
    assert memo.resting == 0 and not memo.entries  # nothing kept while resting
    _look_up(memo, 1)
    assert memo.entries == {1: 2}


def test_the_hit_rate_decides() -> None:
    every = int(1 / memo_module.MIN_HIT_RATE)
    for recurring_one_in, rests in ((every - 1, 0), (every + 1, 1)):
        memo: Memo[int, int] = Memo(memo_module.WINDOW * 2)
        for n in range(memo_module.WINDOW + 10):  # one key in so many recurs, no other
            _look_up(memo, 0 if n % recurring_one_in == 0 else n)
        assert memo.rests == rests, recurring_one_in


def test_it_is_emptied_when_full() -> None:
    memo: Memo[int, int] = Memo(10)
    for n in range(25):
        memo.keep(n, n)
    assert 0 < len(memo.entries) <= 10
