"""Static analysis of rule patterns: prefilter keys and backtracking hazards.

Patterns are parsed with the standard library's regular-expression parser
(``re._parser``; the ``regex`` package shares its syntax for everything rules need).
From the parse tree we derive:

- **prefilter keys**: ASCII words every match must contain, so the engine can look up
  the words of an input in a dict instead of trying every rule (see
  :class:`Key`); and
- **hazards**: nested or overlapping quantifiers that can make a backtracking matcher
  take exponential or high-polynomial time (``(a+)+$``, ``(a|aa)*``, ``\\s*\\s*``).

Everything here is a pure function of the pattern text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from re import _constants as C  # type: ignore[attr-defined]  # Python >= 3.11
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any, Final

MAXREPEAT = C.MAXREPEAT
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", C.MAX_REPEAT)}
_BOUNDARY_ATS = {
    C.AT_BEGINNING,
    C.AT_BEGINNING_STRING,
    C.AT_BEGINNING_LINE,
    C.AT_END,
    C.AT_END_LINE,
    C.AT_END_STRING,
    C.AT_BOUNDARY,
}
# Sample alphabet for character-set reasoning: ASCII plus a few representatives.
_ALPHABET = (*(chr(i) for i in range(128)), "é", "ß", "Ж", "中", "\u00a0", "\u2028", "’")
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class PatternSyntaxError(ValueError):
    """The pattern cannot be analysed (outside the shared ``re`` / ``regex`` syntax)."""


@lru_cache(maxsize=4096)
def parse(pattern: str) -> Any:
    """Parse tree of a case-insensitive pattern (raises PatternSyntaxError)."""
    try:
        return P.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternSyntaxError(str(exc)) from exc


# --------------------------------------------------------------------------- char sets


def _category(cat: Any, ch: str) -> bool:
    if cat == C.CATEGORY_DIGIT:
        return ch.isdecimal()
    if cat == C.CATEGORY_NOT_DIGIT:
        return not ch.isdecimal()
    if cat == C.CATEGORY_SPACE:
        return ch.isspace()
    if cat == C.CATEGORY_NOT_SPACE:
        return not ch.isspace()
    if cat == C.CATEGORY_WORD:
        return ch.isalnum() or ch == "_"
    if cat == C.CATEGORY_NOT_WORD:
        return not (ch.isalnum() or ch == "_")
    if cat == C.CATEGORY_LINEBREAK:
        return ch == "\n"
    if cat == C.CATEGORY_NOT_LINEBREAK:
        return ch != "\n"
    return True  # unknown category: assume it matches (conservative for hazards)


def _in_member(items: list[Any], ch: str) -> bool:
    negate = False
    hit = False
    variants = {v for v in (ch, ch.lower(), ch.upper()) if len(v) == 1}
    for op, av in items:
        if op == C.NEGATE:
            negate = True
        elif op == C.LITERAL:
            hit = hit or chr(av) in variants
        elif op == C.RANGE:
            lo, hi = av
            hit = hit or any(lo <= ord(v) <= hi for v in variants)
        elif op == C.CATEGORY:
            hit = hit or _category(av, ch)
    return hit != negate


def char_set(op: Any, av: Any) -> frozenset[str] | None:
    """Characters (of the sample alphabet) a single-character item matches, or None if
    the item is not a single-character item."""
    if op == C.LITERAL:
        c = chr(av)
        return frozenset(v for v in (c, c.lower(), c.upper()) if len(v) == 1)
    if op == C.NOT_LITERAL:
        c = chr(av)
        return frozenset(x for x in _ALPHABET if x.lower() != c.lower())
    if op == C.ANY:
        return frozenset(x for x in _ALPHABET if x != "\n")
    if op == C.IN:
        return frozenset(x for x in _ALPHABET if _in_member(av, x))
    return None


def _subseqs(op: Any, av: Any) -> list[Any]:
    """Child sequences of a compound item."""
    if op == C.SUBPATTERN:
        return [av[-1]]
    if op in _REPEATS:
        return [av[2]]
    if op == C.BRANCH:
        return list(av[1])
    if op in (C.ASSERT, C.ASSERT_NOT):
        return [av[1]]
    if op == getattr(C, "ATOMIC_GROUP", None):
        return [av]
    if op == C.GROUPREF_EXISTS:
        return [s for s in av[1:] if s is not None]
    return []


def all_chars(seq: Any) -> frozenset[str]:
    """Every character some match of ``seq`` may consume (an over-approximation)."""
    out: set[str] = set()
    for op, av in seq:
        cs = char_set(op, av)
        if cs is not None:
            out |= cs
        elif op == C.GROUPREF:
            out |= set(_ALPHABET)
        elif op in (C.ASSERT, C.ASSERT_NOT, C.AT):
            continue
        else:
            for sub in _subseqs(op, av):
                out |= all_chars(sub)
    return frozenset(out)


def nullable(seq: Any) -> bool:
    """True if ``seq`` can match the empty string."""
    for op, av in seq:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if char_set(op, av) is not None:
            return False
        if op in _REPEATS:
            if av[0] > 0 and not nullable(av[2]):
                return False
        elif op == C.BRANCH:
            if not any(nullable(alt) for alt in av[1]):
                return False
        elif op == C.SUBPATTERN or op == getattr(C, "ATOMIC_GROUP", None):
            if not nullable(_subseqs(op, av)[0]):
                return False
        elif op == C.GROUPREF_EXISTS:
            if not any(nullable(s) for s in _subseqs(op, av)):
                return False
        else:
            return False
    return True


def first_chars(seq: Any) -> frozenset[str]:
    """Characters a non-empty match of ``seq`` may start with (over-approximation)."""
    out: set[str] = set()
    for op, av in seq:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        cs = char_set(op, av)
        if cs is not None:
            out |= cs
            return frozenset(out)
        for sub in _subseqs(op, av):
            out |= first_chars(sub)
        if op == C.GROUPREF:
            out |= set(_ALPHABET)
        if not nullable([(op, av)]):
            return frozenset(out)
    return frozenset(out)


# ----------------------------------------------------------------------------- hazards


def _unbounded(av: Any) -> bool:
    return bool(av[1] == MAXREPEAT or av[1] > 64)


def _inner_unbounded(seq: Any) -> list[Any]:
    """Unbounded repeats anywhere inside ``seq`` (items)."""
    found: list[Any] = []
    for op, av in seq:
        if op in _REPEATS and _unbounded(av):
            found.append((op, av))
        for sub in _subseqs(op, av):
            found.extend(_inner_unbounded(sub))
    return found


def _has_disjoint_separator(body: Any, chars: frozenset[str]) -> bool:
    """A mandatory single-character item of ``body`` that the inner repeat can never
    consume: it pins every iteration, so the iterations cannot be split differently."""
    for op, av in body:
        cs = char_set(op, av)
        if cs is not None and not (cs & chars):
            return True
        if op in _REPEATS and av[0] >= 1:
            inner = av[2]
            if len(inner) == 1:
                cs = char_set(*inner[0])
                if cs is not None and not (cs & chars):
                    return True
    return False


def hazards(pattern: str) -> list[str]:
    """Structural reasons this pattern may backtrack catastrophically (empty if none)."""
    tree = parse(pattern)
    problems: list[str] = []

    def visit(seq: Any) -> None:
        items = list(seq)
        # 1. nested quantifiers: a repeated group containing an unbounded repeat
        for op, av in items:
            if op in _REPEATS and av[1] >= 2:
                body = av[2]
                for _iop, iav in _inner_unbounded(body):
                    if not _has_disjoint_separator(body, all_chars(iav[2])):
                        problems.append(
                            "nested quantifier: a repeated group contains an unbounded "
                            "repeat that can split the same text in many ways"
                        )
                        break
                # 2. overlapping alternatives under a repeat
                if _unbounded(av):
                    for bop, bav in body:
                        if bop == C.BRANCH:
                            alts = bav[1]
                            firsts = [first_chars(a) for a in alts]
                            for i in range(len(alts)):
                                for j in range(i + 1, len(alts)):
                                    if firsts[i] & firsts[j]:
                                        problems.append(
                                            "overlapping alternatives inside a repeated group"
                                        )
                                        break
                                else:
                                    continue
                                break
            # 3. an optional part of a repeated group that can also start an iteration
            if op in _REPEATS and _unbounded(av):
                body = _flatten(av[2])
                starts = first_chars(body)
                for bop, bav in body:
                    optional = (bop in _REPEATS and bav[0] == 0) or (
                        bop == C.BRANCH and any(nullable(a) for a in bav[1])
                    )
                    if optional and starts & all_chars([(bop, bav)]):
                        problems.append(
                            "a repeated group's optional part can also start the next "
                            "iteration (ambiguous repetition)"
                        )
                        break
        # 4. adjacent unbounded repeats over overlapping characters (\s*\s*, .*.*)
        for i, (op, av) in enumerate(items):
            if not (op in _REPEATS and _unbounded(av)):
                continue
            chars_i = all_chars(av[2])
            for op2, av2 in items[i + 1 :]:
                if op2 in _REPEATS and _unbounded(av2) and chars_i & all_chars(av2[2]):
                    problems.append("adjacent unbounded quantifiers over overlapping characters")
                    break
                if not nullable([(op2, av2)]):
                    break
        for op, av in items:
            for sub in _subseqs(op, av):
                visit(sub)

    visit(tree)
    # keep order, drop duplicates
    return list(dict.fromkeys(problems))


def pump_chars(pattern: str) -> list[str]:
    """A few characters that unbounded repeats of the pattern consume (probe input)."""
    tree = parse(pattern)
    chars: set[str] = set()
    for _op, av in _inner_unbounded(tree):
        chars |= all_chars(av[2])
    preferred = "a0 .-_\té:/x"
    out = [c for c in preferred if c in chars]
    out += sorted(c for c in chars if c not in out and c.isprintable())[:2]
    return out[:5] or ["a"]


# ------------------------------------------------------------------------ prefilter keys


class KeyKind(IntEnum):
    """How a key must appear among the words of a text (words = runs of [a-z0-9_])."""

    EXACT = 0  # a whole word
    PREFIX = 1  # the start of a word
    SUFFIX = 2  # the end of a word
    SUB = 3  # anywhere


@dataclass(frozen=True, order=True)
class Key:
    kind: KeyKind
    text: str  # lower-case ASCII


# A rule's prefilter requirement: any one of these keys (a disjunction).
KeyOption = tuple[Key, ...]


def _key_score(key: Key) -> int:
    n = len(key.text)
    if key.kind == KeyKind.EXACT:
        return 100 + min(n, 20) if n >= 3 else 20 + n
    if key.kind in (KeyKind.PREFIX, KeyKind.SUFFIX) and n >= PREFIX_LEN:
        return 60 + min(n, 20)
    return 5 + min(n, 20)  # substring scan: correct but linear in the number of keys


PREFIX_LEN = 4  # PREFIX / SUFFIX keys are indexed by their first / last 4 characters


def _option_score(opt: KeyOption) -> int:
    return min(_key_score(k) for k in opt) - 2 * (len(opt) - 1)


def _is_boundary(op: Any, av: Any) -> bool:
    """Does this item guarantee a non-word (for the prefilter: non-[a-z0-9_]) character
    or an edge of the text at its position?"""
    if op == C.AT:
        return av in _BOUNDARY_ATS
    cs = char_set(op, av)
    if cs is None and op in _REPEATS and av[0] >= 1 and len(av[2]) == 1:
        cs = char_set(*av[2][0])
    if cs is None:
        return False
    return not any(c in _ASCII_WORD for c in cs)


def _edge_bounded(op: Any, av: Any, last: bool) -> bool:
    """Does this item, whenever it matches something, end (``last``) or start with a
    guaranteed non-word character or boundary?"""
    if _is_boundary(op, av):
        return True
    if op == C.SUBPATTERN:
        return _seq_edge(av[-1], last)
    if op == getattr(C, "ATOMIC_GROUP", None):
        return _seq_edge(av, last)
    if op in _REPEATS:
        return _seq_edge(av[2], last)
    if op == C.BRANCH:
        return all(_seq_edge(alt, last) for alt in av[1])
    return False


def _seq_edge(seq: Any, last: bool) -> bool:
    items = list(seq)
    if not items:
        return False
    op, av = items[-1] if last else items[0]
    return _edge_bounded(op, av, last)


def _side_bounded(items: list[Any], i: int, edge: bool, step: int) -> bool:
    """Is the text just before (step -1) / after (step +1) ``items[i]`` guaranteed to be
    a non-word character or an edge? ``edge`` is the answer beyond the sequence."""
    j = i + step
    while 0 <= j < len(items):
        op, av = items[j]
        if _edge_bounded(op, av, last=step < 0):
            if not nullable([(op, av)]) or _is_boundary(op, av):
                return True
            j += step  # optional but bounded when present: look further
            continue
        return False
    return edge


def _flatten(seq: Any) -> list[Any]:
    out: list[Any] = []
    for op, av in seq:
        if op == C.SUBPATTERN:
            out.extend(_flatten(av[-1]))
        elif op == getattr(C, "ATOMIC_GROUP", None):
            out.extend(_flatten(av))
        else:
            out.append((op, av))
    return out


def _run_keys(run: str, left: bool, right: bool) -> list[Key]:
    """Keys of a literal run: its ASCII words, each with how it is bounded."""
    keys: list[Key] = []
    word = ""
    start_bounded = left
    for ch in run + "\0":
        lc = ch.lower()
        if ch != "\0" and lc in _ASCII_WORD and ch.isascii():
            word += lc
            continue
        if word:
            end_bounded = right if ch == "\0" else True
            if start_bounded and end_bounded:
                kind = KeyKind.EXACT
            elif start_bounded:
                kind = KeyKind.PREFIX
            elif end_bounded:
                kind = KeyKind.SUFFIX
            else:
                kind = KeyKind.SUB
            keys.append(Key(kind, word))
        word = ""
        start_bounded = True
    return keys


_RUN_LIMIT = 32  # most strings a literal run may expand to (e.g. "exceed(?:s|ed)?")


def _in_chars(av: Any) -> list[str] | None:
    """The characters of a small, literal-only character class (``[ée]``), else None."""
    chars: list[str] = []
    for op, v in av:
        if op == C.LITERAL:
            chars.append(chr(v))
        elif op == C.RANGE and v[1] - v[0] < 4:
            chars.extend(chr(c) for c in range(v[0], v[1] + 1))
        else:
            return None
    return chars if 0 < len(chars) <= 6 else None


def _finite(op: Any, av: Any) -> list[str] | None:
    """Every string a small, finite item can match (literals, small classes, optional or
    alternative literals), or None."""
    if op == C.LITERAL:
        return [chr(av)]
    if op == C.IN:
        return _in_chars(av)
    if op == C.SUBPATTERN:
        return _finite_seq(av[-1])
    if op == C.BRANCH:
        out: list[str] = []
        for alt in av[1]:
            f = _finite_seq(alt)
            if f is None:
                return None
            out += f
        return out if len(out) <= _RUN_LIMIT else None
    if op in _REPEATS and av[0] == 0 and av[1] == 1:
        f = _finite_seq(av[2])
        return None if f is None else ["", *f]
    return None


def _finite_seq(seq: Any) -> list[str] | None:
    out = [""]
    for op, av in seq:
        f = _finite(op, av)
        if f is None:
            return None
        out = [a + b for a in out for b in f]
        if len(out) > _RUN_LIMIT:
            return None
    return out


def _run_options(run: list[str], left: bool, right: bool) -> list[KeyOption]:
    """Options of a literal run that may be any of several strings."""
    strings = sorted({r.lower() for r in run})
    if len(strings) == 1:
        return [(k,) for k in _run_keys(strings[0], left, right)]
    best: set[Key] = set()
    for text in strings:
        keys = _run_keys(text, left, right)
        if not keys:
            return []
        best.add(min(keys, key=key_cost))
    return [tuple(sorted(best))]


def _seq_options(seq: Any, left: bool, right: bool, depth: int = 0) -> list[KeyOption]:
    """Candidate key options of a sequence: each must hold for every match."""
    items = _flatten(seq)
    options: list[KeyOption] = []
    run: list[str] = []  # the strings the current literal run may be
    run_left = left
    for i, (op, av) in enumerate(items):
        f = None if op == C.AT else _finite(op, av)
        if f is not None:
            grown = [a + b for a in (run or [""]) for b in f]
            if len(grown) <= _RUN_LIMIT:
                if not run:
                    run_left = _side_bounded(items, i, left, -1)
                run = grown
                continue
        if run:
            options += _run_options(run, run_left, _side_bounded(items, i - 1, right, 1))
            run = []
        if f is not None:  # too many strings to join the run: start a new one
            if len(f) <= _RUN_LIMIT:
                run_left = _side_bounded(items, i, left, -1)
                run = f
            continue
        if depth > 8:
            continue
        prev_b = _side_bounded(items, i, left, -1)
        next_b = _side_bounded(items, i, right, 1)
        if op == C.BRANCH:
            per_alt = [_seq_options(alt, prev_b, next_b, depth + 1) for alt in av[1]]
            if all(per_alt):
                best = [choose_option(opts) for opts in per_alt]
                merged = tuple(sorted({k for opt in best if opt for k in opt}))
                if len(merged) <= 32:
                    options.append(merged)
        elif op in _REPEATS and av[0] >= 1:
            options.extend(_seq_options(av[2], prev_b, next_b, depth + 1))
    if run:
        options += _run_options(run, run_left, right)
    return options


def prefilter_options(pattern: str) -> list[KeyOption]:
    """Every candidate key option of a pattern (each one alone is a valid prefilter)."""
    try:
        tree = parse(pattern)
    except PatternSyntaxError:
        return []
    return _seq_options(tree, False, False)


# Words so frequent in bounce texts that a key made of them selects little.
COMMON_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "for",
        "by",
        "from",
        "at",
        "is",
        "be",
        "was",
        "are",
        "has",
        "have",
        "not",
        "no",
        "or",
        "and",
        "with",
        "this",
        "that",
        "your",
        "you",
        "our",
        "we",
        "it",
        "its",
        "as",
        "please",
        "see",
        "try",
        "again",
        "later",
        "more",
        "info",
        "information",
        "http",
        "https",
        "www",
        "com",
        "net",
        "org",
        "mail",
        "email",
        "e",
        "mail",
        "mailbox",
        "user",
        "users",
        "recipient",
        "recipients",
        "address",
        "addresses",
        "account",
        "message",
        "messages",
        "delivery",
        "deliver",
        "delivered",
        "smtp",
        "server",
        "host",
        "domain",
        "sender",
        "rejected",
        "reject",
        "denied",
        "error",
        "failed",
        "failure",
        "permanent",
        "temporary",
        "status",
        "code",
        "reason",
        "action",
        "request",
        "requested",
        "unable",
        "could",
        "cannot",
        "can",
        "t",
        "s",
        "rcpt",
        "data",
        "from",
        "command",
        "reply",
        "remote",
        "local",
        "id",
        "1",
        "2",
        "3",
        "4",
        "5",
        "0",
        "250",
        "421",
        "450",
        "451",
        "452",
        "500",
        "550",
        "551",
        "552",
        "553",
        "554",
        "access",
    ]
)


PARTIAL_KEY_COST: Final = 90


def key_cost(key: Key, rule_frequency: int = 1) -> float:
    """How much work a key costs the prefilter: lower is better. Common words and keys
    shared by many rules wake up many candidates; substring keys are scanned linearly."""
    n = len(key.text)
    cost = float(rule_frequency)
    if key.text in COMMON_WORDS or key.text.isdigit():
        cost += 50
    if n < 3:
        cost += 20
    # A partial key costs every record of the field a pass over its words (once per
    # kind in use), a whole word only the records that contain it: a partial key is only
    # worth it against whole words shared by some hundred rules (generated rule sets).
    if key.kind in (KeyKind.PREFIX, KeyKind.SUFFIX):
        cost += PARTIAL_KEY_COST if n >= PREFIX_LEN else PARTIAL_KEY_COST + 5
    elif key.kind == KeyKind.SUB:
        cost += PARTIAL_KEY_COST + 5
    return cost - min(n, 16) / 16


def choose_option(
    options: list[KeyOption], frequency: dict[Key, int] | None = None
) -> KeyOption | None:
    """The cheapest option (see :func:`key_cost`), or None when there is none."""
    if not options:
        return None
    freq = frequency or {}

    def cost(opt: KeyOption) -> float:
        return sum(key_cost(k, freq.get(k, 1)) for k in opt)

    return min(options, key=cost)


def prefilter_option(pattern: str) -> KeyOption | None:
    """The best set of keys one of which every match must contain, or None when the
    pattern has no usable literal (the rule is then tried on every record)."""
    return choose_option(prefilter_options(pattern))


_NO_SPLIT = re.compile(r"\(\?[a-zA-Z]+\)|\\[1-9]|\(\?P=|\\g<")


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of ``pattern`` (``"a|b(c|d)"`` -> ``["a", "b(c|d)"]``).

    Searching for ``A|B`` finds a match exactly when searching for ``A`` or for ``B``
    does, so the engine indexes and confirms each alternative on its own. Patterns with
    global inline flags or back-references are returned whole."""
    if "|" not in pattern or _NO_SPLIT.search(pattern):
        return [pattern]
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            # a ']' right after '[' or '[^' is a literal member
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts if all(parts) else [pattern]


def required_word_sets(pattern: str) -> tuple[frozenset[str], ...]:
    """Sets of whole words of which every match contains at least one word each (only
    the options made of whole-word keys): a cheap AND check before running the regex."""
    return tuple(
        frozenset(k.text for k in opt)
        for opt in prefilter_options(pattern)
        if opt and all(k.kind == KeyKind.EXACT for k in opt)
    )


# --------------------------------------------------------------------------- non-ASCII


def _non_ascii_char(code: int) -> bool:
    """A character that cannot match ASCII text, even case-insensitively (U+017F long s
    matches "s", U+212A Kelvin sign matches "k")."""
    ch = chr(code)
    return not (ch.isascii() or ch.lower().isascii() or ch.upper().isascii())


def _item_needs_non_ascii(op: Any, av: Any) -> bool:
    if op == C.LITERAL:
        return _non_ascii_char(av)
    if op == C.IN:
        return bool(av) and all(
            (iop == C.LITERAL and _non_ascii_char(iav))
            or (iop == C.RANGE and 0x24F < iav[0] <= iav[1] and not iav[0] <= 0x212A <= iav[1])
            for iop, iav in av
        )
    if op == C.SUBPATTERN or op == getattr(C, "ATOMIC_GROUP", None):
        return _seq_needs_non_ascii(av[-1])
    if op == C.BRANCH:
        return all(_seq_needs_non_ascii(branch) for branch in av[1])
    if op in _REPEATS:
        low, _high, sub = av
        return bool(low >= 1) and _seq_needs_non_ascii(sub)
    return False


def _seq_needs_non_ascii(seq: Any) -> bool:
    return any(_item_needs_non_ascii(op, av) for op, av in seq)


def needs_non_ascii(pattern: str) -> bool:
    """True when every match of ``pattern`` contains a non-ASCII character (a localized
    phrase): such a pattern can be skipped on pure-ASCII text."""
    try:
        return _seq_needs_non_ascii(parse(pattern))
    except PatternSyntaxError:
        return False


# ------------------------------------------------------------------ bounded work

# Backtracking steps a search may need at most to run without the regex time limit.
STEP_BUDGET = 1 << 22


def _work_shape(seq: Any) -> tuple[int, int] | None:
    """(degree, paths) of ``seq``: the unbounded repeats that can end in more than one
    place (each multiplies the work by the input length), and the number of ways the rest
    can match from one position (a sequence multiplies, an alternation adds, a bounded
    repeat multiplies by its range). None where no such bound holds: a backreference, a
    conditional, or a repeat of something that itself varies."""
    degree, paths = 0, 1
    items = list(seq)
    for i, (op, av) in enumerate(items):
        if op in (C.GROUPREF, C.GROUPREF_EXISTS):
            return None
        if op in _REPEATS and _unbounded(av) and _ends_where_rest_starts(av, items[i + 1 :]):
            continue  # a run of one character class that cannot end anywhere else
        if op == C.BRANCH:
            alternatives = _work_shapes(av[1])
            if alternatives is None:
                return None
            degree += max(d for d, _ in alternatives)
            paths *= sum(p for _, p in alternatives)
            continue
        inner = _work_shapes(_subseqs(op, av))
        if inner is None:
            return None
        inner_degree = sum(d for d, _ in inner)
        inner_paths = math.prod(p for _, p in inner)
        if op in _REPEATS:
            if av[1] > 1 and (inner_degree or inner_paths > 1):
                return None
            if _unbounded(av):
                degree += 1
            elif av[1] != av[0]:
                paths *= av[1] - av[0] + 1
        degree += inner_degree
        paths *= inner_paths
    return degree, paths


def _work_shapes(seqs: Iterable[Any]) -> list[tuple[int, int]] | None:
    """:func:`_work_shape` of each sequence; None if any has no bound."""
    shapes = []
    for seq in seqs:
        shape = _work_shape(seq)
        if shape is None:
            return None
        shapes.append(shape)
    return shapes


def _ends_where_rest_starts(repeat: Any, rest: list[Any]) -> bool:
    """A repeat of one character class followed (in its sequence) by something that must
    start with a character outside that class: the run has one possible end, so it adds
    no backtracking choice (``\\s+unknown``)."""
    body = list(repeat[2])
    if len(body) != 1 or not rest or nullable(rest):
        return False
    chars = char_set(*body[0])
    return chars is not None and not (chars & first_chars(rest))


def limit_free_length(pattern: str) -> int:
    """The longest input on which a search of this pattern is proven to do bounded work,
    so that it can run without the regex time limit's clock checks (0: never).

    From ``_work_shape``: a backtracking search over ``n`` characters needs at most about
    ``n`` start positions x ``n ** degree`` x ``paths`` steps; the answer is the largest
    ``n`` that keeps this under ``STEP_BUDGET`` (a few million steps: milliseconds).
    Patterns with structural hazards or a degree above 1 always run under the limit.
    """
    try:
        if hazards(pattern):
            return 0
        shape = _work_shape(parse(pattern))
    except PatternSyntaxError:
        return 0
    if shape is None or shape[0] > 1:
        return 0
    degree, paths = shape
    return int((STEP_BUDGET / paths) ** (1 / (1 + degree)))
