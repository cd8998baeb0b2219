"""Bounded memos of pure functions, kept on only while they pay.

Bounce streams repeat themselves: one receiving platform sends the same reply to every
sender, so SMTP intake's reading of a reply and the engine's decision on a record are
often made again on the same values. A memo of them saves most of that work, but every
miss costs a key, a look-up and an entry. When replies name their recipient or carry a
message id (``550 5.1.1 <a@example.org>: ...``), nearly every look-up misses and the memo
only adds to the work (about 10 % of an SMTP record's, measured). So each memo counts its
hits: when fewer than ``MIN_HIT_RATE`` of a window's look-ups hit, it is emptied and
rests for ``REST`` calls, then tries again.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

WINDOW = 4096  # look-ups between two checks of the hit rate
MIN_HIT_RATE = 0.25  # below it a miss costs more than the hits save (see the module doc)
REST = 65536  # calls made without the memo after a check it failed
MAX_KEY_TEXT = 1000  # longer texts are never keys (they would hold memory, and rarely recur)


class Memo(Generic[K, V]):
    """A dict of results by key, emptied when it reaches ``max_entries``, with the hit
    counting described in the module doc. The caller's hot path reads the attributes:

    - ``resting``: calls left without the memo (the caller counts it down);
    - ``entries.get(key)``, then ``hits += 1`` when found;
    - :meth:`keep` after a miss.
    """

    __slots__ = (
        "_past_hits",
        "_past_misses",
        "entries",
        "hits",
        "max_entries",
        "misses",
        "resting",
        "rests",
    )

    def __init__(self, max_entries: int) -> None:
        self.entries: dict[K, V] = {}
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self.resting = 0
        self.rests = 0  # how many times the memo went to rest
        self._past_hits = 0  # of the windows before this one
        self._past_misses = 0

    def counts(self) -> tuple[int, int, int]:
        """Hits, misses and rests since the memo was made (for the metrics)."""
        return self._past_hits + self.hits, self._past_misses + self.misses, self.rests

    def keep(self, key: K, value: V) -> None:
        """Count a miss and keep ``value``, or rest when the window's hit rate is low."""
        self.misses += 1
        if self.hits + self.misses >= WINDOW:
            pays = self.hits >= (self.hits + self.misses) * MIN_HIT_RATE
            self._past_hits += self.hits
            self._past_misses += self.misses
            self.hits = self.misses = 0
            if not pays:
                self.entries.clear()
                self.resting = REST
                self.rests += 1
                return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[key] = value
