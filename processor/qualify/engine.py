"""The qualification engine: a compiled rule set that qualifies bounce records.

Order of decision for a failed recipient (DSN / SMTP records):

1. explicit rules, by ``priority`` (higher first), then most specific ``scope``, then
   file order; the first rule whose pattern matches its field (and whose scope holds)
   decides (``rule_id`` = the rule's id);
2. the enhanced status code (RFC 3463 / 5248 / 7372 / 7505 table in
   :mod:`processor.qualify.codes`; ``rule_id`` = ``status:5.1.1``);
3. the SMTP reply code, then its class (``reply:552``, ``reply:5xx``);
4. ``unqualified`` / ``not_defined``.

Other kinds: auto-replies are ``ignored`` / ``auto_reply`` / ``vacation``
(``kind:autoreply``); delivery reports are ``ignored`` / ``delivered``
(``kind:delivered``); ARF feedback reports are matched against ``feedback_type`` rules
only, else ``kind:arf`` with detail ``feedback`` (reason ``complaint``, failure type from
``details.yaml``).

Speed: rules are not tried one by one. Each pattern's required literal words (see
:mod:`processor.qualify.patterns`) go into per-field dict indexes; a record's words are
looked up with set operations, and only the rules found are confirmed with their regex,
in decision order. What the prefilter reads of a record (its relevant words, the keys
found, the kind / SMTP command / diagnostic type that cheap scope checks compare) is its
plan key; the candidate list of a plan key, with required-word and cheap scope checks
already applied, is computed once and cached, so a record usually costs one tokenising
pass, one dict look-up and the confirming regex. The cost is nearly flat in the number
of rules.

Safety: every confirmation runs with the ``regex`` package's ``timeout`` on an input cut
to ``max_input`` characters. A timeout is counted per rule, logged once per rule, and
the record falls through to the next candidate / step. The one exception: on an
input short enough for its search to be proven bounded
(:func:`processor.qualify.patterns.limit_free_length`: a few million backtracking
steps at most), a pattern runs without the limit, whose clock checks cost more than
such a search itself.
"""

from __future__ import annotations

import fnmatch
import logging
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import regex

from processor.intake.record import BounceRecord, RecordKind
from processor.memo import MAX_KEY_TEXT, Memo
from processor.qualify import codes
from processor.qualify.loader import LoadedRule, RuleSet, RuleSetError, load_ruleset
from processor.qualify.model import RuleField, Scope
from processor.qualify.patterns import (
    PREFIX_LEN,
    Key,
    KeyKind,
    KeyOption,
    choose_option,
    limit_free_length,
    needs_non_ascii,
    prefilter_options,
    required_word_sets,
    split_alternatives,
)
from processor.qualify.result import FailureType, Qualification, Reason

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 0.05  # seconds per regex confirmation
DEFAULT_MAX_INPUT: Final = 4096  # characters of a field that rules look at
REGEX_FLAGS: Final = regex.IGNORECASE | regex.VERSION0

UNQUALIFIED_ID: Final = "unqualified"
AUTOREPLY_ID: Final = "kind:autoreply"
DELIVERED_ID: Final = "kind:delivered"
ARF_ID: Final = "kind:arf"

# details the fallbacks can produce: details.yaml must define them all
FALLBACK_DETAILS: Final = frozenset(
    set(codes.STATUS_DETAILS.values())
    | set(codes.REPLY_DETAILS.values())
    | set(codes.REPLY_CLASS_DETAILS.values())
    | {"delivered", "vacation", "feedback", "undefined"}
)
_DELIVERED_ACTIONS: Final = frozenset({"delivered", "relayed", "expanded"})

# bytes -> lower-case ASCII words separated by spaces (everything else is a separator)
_WORD_TABLE: Final = bytes(
    (c + 32 if 65 <= c <= 90 else c)
    if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95)
    else 32
    for c in range(256)
)
_HEAD: Final = operator.itemgetter(slice(0, PREFIX_LEN))
_TAIL: Final = operator.itemgetter(slice(-PREFIX_LEN, None))
_FIELD_ORDER: Final = tuple(RuleField)


def words(text: str) -> bytes:
    """The prefilter's view of a text: lower-case ASCII words separated by spaces."""
    return text.encode("utf-8", "surrogatepass").translate(_WORD_TABLE)


_MULTILINE_RE: Final = re.compile(r"^\W{0,4}([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3})\s)?")


def unfold_reply(text: str | None) -> str | None:
    """Join a multi-line SMTP reply: ``"550-5.7.1 a 550-5.7.1 b 550 5.7.1 c"`` becomes
    ``"550-5.7.1 a b c"``, so that rules see sentences split across reply lines whole."""
    if not text or text.find("-", 0, 8) < 0:
        return text
    m = _MULTILINE_RE.match(text)
    if m is None:
        return text
    head = m.end()
    return text[:head] + _continuation_re(m.group(1), m.group(2)).sub(" ", text[head:])


@lru_cache(maxsize=256)
def _continuation_re(code: str, status: str | None) -> re.Pattern[str]:
    """The separator of a multi-line reply's continuation lines (``" 550-5.7.1 "``)."""
    return re.compile(rf"\s{code}[ -]" + (rf"(?:{re.escape(status)}\s)?" if status else ""))


def _unselective(key: Key) -> bool:
    """A one-character substring key (a digit of a reply code, say)."""
    return key.kind not in (KeyKind.EXACT, KeyKind.PREFIX, KeyKind.SUFFIX) and len(key.text) < 2


class _FieldIndex:
    """Prefilter for the rules of one field: word -> rule positions."""

    __slots__ = (
        "always",
        "exact",
        "exact_keys",
        "non_ascii",
        "prefix",
        "prefix_full",
        "prefix_keys",
        "relevant",
        "subs",
        "suffix",
        "suffix_full",
        "suffix_keys",
    )

    def __init__(self) -> None:
        self.exact: dict[bytes, list[int]] = {}
        self.prefix: dict[bytes, list[int]] = {}
        self.suffix: dict[bytes, list[int]] = {}
        self.subs: dict[bytes, list[int]] = {}
        # whole PREFIX / SUFFIX keys by their indexed 4 characters, and their rules; a
        # key is stored as it appears in " " + words(text) + " " (" acco", "ount ")
        self.prefix_full: dict[bytes, dict[bytes, list[int]]] = {}
        self.suffix_full: dict[bytes, dict[bytes, list[int]]] = {}
        self.always: list[int] = []
        self.non_ascii: list[int] = []  # localized phrases: only tried on non-ASCII text
        self.exact_keys: frozenset[bytes] = frozenset()
        self.prefix_keys: frozenset[bytes] = frozenset()
        self.suffix_keys: frozenset[bytes] = frozenset()
        # every whole word the index or a required-word check of this field looks at
        self.relevant: frozenset[bytes] = frozenset()

    def add(self, pos: int, option: KeyOption | None, *, non_ascii: bool = False) -> None:
        if option is not None and any(_unselective(key) for key in option):
            option = None  # present in nearly every text: not worth a look-up per record
        if option is None:
            (self.non_ascii if non_ascii else self.always).append(pos)
            return
        for key in option:
            text = key.text.encode("ascii")
            if key.kind == KeyKind.EXACT:
                self.exact.setdefault(text, []).append(pos)
            elif key.kind == KeyKind.PREFIX and len(text) >= PREFIX_LEN:
                self.prefix.setdefault(text[:PREFIX_LEN], []).append(pos)
                full = self.prefix_full.setdefault(text[:PREFIX_LEN], {})
                full.setdefault(b" " + text, []).append(pos)
            elif key.kind == KeyKind.SUFFIX and len(text) >= PREFIX_LEN:
                self.suffix.setdefault(text[-PREFIX_LEN:], []).append(pos)
                full = self.suffix_full.setdefault(text[-PREFIX_LEN:], {})
                full.setdefault(text + b" ", []).append(pos)
            else:
                self.subs.setdefault(text, []).append(pos)

    def freeze(self, required_words: Iterable[bytes] = ()) -> None:
        self.exact_keys = frozenset(self.exact)
        self.prefix_keys = frozenset(self.prefix)
        self.suffix_keys = frozenset(self.suffix)
        self.relevant = self.exact_keys | frozenset(required_words)

    def signature(self, text: str) -> _Signature:
        """Everything about ``text`` that the prefilter and the required-word checks
        read: the relevant whole words, the prefix / suffix / substring keys found, and
        whether the text is non-ASCII. Records with equal signatures get the same
        candidates, so the engine caches its candidate plans by signature."""
        b = words(text)
        toks = b.split()
        pre = suf = None
        if self.prefix_keys:
            pre = self.prefix_keys.intersection(map(_HEAD, toks))
            if pre:
                pre = _whole_keys(pre, self.prefix_full, b, text)
        if self.suffix_keys:
            suf = self.suffix_keys.intersection(map(_TAIL, toks))
            if suf:
                suf = _whole_keys(suf, self.suffix_full, b, text)
        return (
            self.relevant.intersection(toks),
            pre,
            suf,
            tuple(filter(b.__contains__, self.subs)) if self.subs else None,
            bool(self.non_ascii) and not text.isascii(),
        )

    def candidates(self, sig: _Signature, out: list[int]) -> None:
        """Append the matchers that may match a text with signature ``sig``."""
        rel, pre, suf, subs, non_ascii = sig
        exact = self.exact
        for k in self.exact_keys & rel:
            out.extend(exact[k])
        for k in pre or ():
            if k[0] == 0:  # 4-character key (non-ASCII text)
                out.extend(self.prefix[k[1:]])
            else:
                out.extend(self.prefix_full[k[1 : 1 + PREFIX_LEN]][k])
        for k in suf or ():
            if k[0] == 0:
                out.extend(self.suffix[k[1:]])
            else:
                out.extend(self.suffix_full[k[-1 - PREFIX_LEN : -1]][k])
        for k in subs or ():
            out.extend(self.subs[k])
        out.extend(self.always)
        if non_ascii:
            out.extend(self.non_ascii)


def _whole_keys(
    found: frozenset[bytes], full: dict[bytes, dict[bytes, list[int]]], b: bytes, text: str
) -> frozenset[bytes]:
    """On ASCII text, the whole PREFIX / SUFFIX keys (not just their indexed 4
    characters) that start / end a word of ``b`` (``words(text)``); on other text,
    where a case-insensitive match may involve characters the word view drops (the
    Kelvin sign matches "k"), the 4-character keys found, marked by a leading NUL."""
    if not text.isascii():
        return frozenset(b"\0" + k for k in found)
    padded = b" " + b + b" "
    return frozenset(k for h in found for k in full[h] if k in padded)


# (relevant words, prefix keys found, suffix keys found, substring keys found, non-ASCII)
_Signature = tuple[
    frozenset[bytes],
    frozenset[bytes] | None,
    frozenset[bytes] | None,
    tuple[bytes, ...] | None,
    bool,
]
# field, the scope check left to run, the regex, the rule, and the longest input the
# regex may search without the time limit
_PlanEntry = tuple[RuleField, Callable[[BounceRecord], bool] | None, Any, "CompiledRule", int]
_PLAN_CACHE_MAX: Final = 8192  # candidate plans kept per engine (cleared when full)
_MEMO_MAX: Final = 8192  # qualify results kept per engine (cleared when full)
# Every field of a record that the decision reads (besides the recipient, of which only
# the domain counts): the kind, action, command and diagnostic type that scopes compare,
# each rule field's source, the hosts that host scopes match. A test watches the fields
# the engine reads, with rules on every field and scope dimension: these and no others.
QUALIFYING_FIELDS: Final = (
    "kind",
    "action",
    "smtp_command",
    "diagnostic_type",
    "diagnostic",
    "status",
    "smtp_code",
    "bounce_subject",
    "bounce_from",
    "feedback_type",
    "mx",
    "remote_mta",
    "reporting_mta",
)
_qualifying_values = operator.itemgetter(*QUALIFYING_FIELDS)


def _glob_re(globs: Iterable[str]) -> re.Pattern[str] | None:
    globs = [g.strip().lower() for g in globs if g.strip()]
    if not globs:
        return None
    return re.compile("|".join(fnmatch.translate(g) for g in globs), re.IGNORECASE)


def _host(value: str | None) -> str:
    """``"dns; mx1.example.com [192.0.2.1]"`` -> ``"mx1.example.com"``."""
    if not value:
        return ""
    v = value.split(";", 1)[-1].strip()
    return v.split()[0].strip("[]<>.").lower() if v else ""


def _cheap_scope_key(record: BounceRecord) -> tuple[str, str, str]:
    """The record's kind, SMTP command and diagnostic type as scopes compare them."""
    return (
        record.kind.value,
        (record.smtp_command or "").upper() or "none",
        (record.diagnostic_type or "").strip().lower(),
    )


def record_status(record: BounceRecord) -> str | None:
    """The record's enhanced status code, normalised; the one written in the diagnostic
    when the record has none or only the vague X.0.0."""
    status = codes.normalize_status(record.status)
    if status is None or status.endswith(".0.0"):
        status = codes.status_from_text(record.diagnostic) or status
    return status


class _ScopeMatcher:
    """Compiled :class:`Scope`: all set dimensions must match."""

    __slots__ = (
        "actions",
        "commands",
        "diagnostic_types",
        "domains",
        "kinds",
        "mx",
        "no_status",
        "reporting",
        "statuses",
    )

    def __init__(self, scope: Scope) -> None:
        self.domains = _glob_re(scope.recipient_domains)
        self.mx = _glob_re(scope.mx)
        self.reporting = _glob_re(scope.reporting_mta)
        self.kinds = frozenset(scope.kinds)
        self.actions = frozenset(scope.actions)
        self.commands = frozenset(scope.smtp_commands)
        self.diagnostic_types = frozenset(scope.diagnostic_types)
        self.statuses = _glob_re(g for g in scope.statuses if g != "none")
        self.no_status = "none" in scope.statuses

    def __call__(self, record: BounceRecord) -> bool:
        return self.cheap(*_cheap_scope_key(record)) and self.rest(record)

    def cheap(self, kind: str, command: str, diagnostic_type: str) -> bool:
        """The dimensions read from the record's kind, SMTP command and diagnostic type
        (see :func:`_cheap_scope_key`)."""
        if self.kinds and kind not in self.kinds:
            return False
        if self.commands and command not in self.commands:
            return False
        return not (self.diagnostic_types and diagnostic_type not in self.diagnostic_types)

    @property
    def has_rest(self) -> bool:
        return (
            bool(self.actions)
            or self.domains is not None
            or self.mx is not None
            or self.reporting is not None
            or self.statuses is not None
            or self.no_status
        )

    def rest(self, record: BounceRecord) -> bool:
        """The other dimensions: action, recipient domain, hosts, status code."""
        if self.actions and (record.action or "failed").lower() not in self.actions:
            return False
        if self.domains is not None:
            domain = (record.recipient or "").rpartition("@")[2].strip(">").lower()
            if not domain or not self.domains.match(domain):
                return False
        if self.mx is not None:
            hosts = [h for h in (_host(record.mx), _host(record.remote_mta)) if h]
            if not any(self.mx.match(h) for h in hosts):
                return False
        if self.reporting is not None:
            host = _host(record.reporting_mta)
            if not host or not self.reporting.match(host):
                return False
        if self.statuses is not None or self.no_status:  # last: it reads the diagnostic
            status = record_status(record)
            if status is None:
                if not self.no_status:
                    return False
            elif self.statuses is None or not self.statuses.match(status):
                return False
        return True


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to match, with its precomputed results."""

    position: int  # rank in decision order
    loaded: LoadedRule
    pattern: Any  # regex.Pattern[str]
    scope: Callable[[BounceRecord], bool] | None
    result: Qualification
    transient_result: Qualification
    varies: bool  # result depends on whether the failure is transient

    @property
    def id(self) -> str:
        return self.loaded.rule.id

    @property
    def field(self) -> RuleField:
        return self.loaded.rule.field


@dataclass(frozen=True)
class _Matcher:
    """One top-level alternative of a rule's pattern, confirmed on its own."""

    rule: CompiledRule
    pattern: Any  # regex.Pattern[str]
    required: tuple[frozenset[bytes], ...]  # each set: one of its words must be present
    limit_free: int  # the longest input searched without the time limit


def decision_order(rules: Iterable[LoadedRule]) -> list[LoadedRule]:
    """Explicit rules in the order they are tried: priority (higher first), then more
    specific scope first, then file name and position in file."""
    return sorted(
        rules,
        key=lambda lr: (-lr.rule.priority, -lr.rule.scope.specificity, lr.source, lr.position),
    )


def compile_pattern(pattern: str) -> Any:
    """Compile a rule pattern as the engine does (``regex``, case-insensitive)."""
    return regex.compile(pattern, REGEX_FLAGS)


@dataclass(frozen=True)
class Candidate:
    """A rule (or fallback step) that matched a record, for :meth:`Engine.explain`."""

    rule_id: str
    step: str  # "rule", "status", "reply", "kind", "unqualified"
    qualification: Qualification
    field: str | None = None
    matched: str | None = None  # the matched text
    description: str = ""
    source: str | None = None  # file of the rule


@dataclass(frozen=True)
class Explanation:
    """How a record was qualified: the deciding rule and every other candidate."""

    qualification: Qualification
    deciding: Candidate
    others: list[Candidate] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        q = self.qualification
        lines = [
            f"qualification: {q.failure_type.value} / {q.reason.value} / {q.detail}",
            f"decided by:    {_describe(self.deciding)}",
            f"rule set:      {q.ruleset_version}",
        ]
        if self.fields:
            lines.append("fields:")
            lines += [f"  {k}: {v!r}" for k, v in self.fields.items()]
        lines.append("other candidates:" if self.others else "other candidates: none")
        lines += [f"  - {_describe(c)}" for c in self.others]
        if self.timeouts:
            lines.append("timed out (fell through): " + ", ".join(self.timeouts))
        return "\n".join(lines)


def _describe(c: Candidate) -> str:
    q = c.qualification
    s = f"{c.rule_id} -> {q.failure_type.value}/{q.reason.value}/{q.detail}"
    if c.field:
        s += f" [{c.field} matched {c.matched!r}]"
    if c.source:
        s += f" ({c.source})"
    if c.description:
        s += f": {c.description}"
    return s


class Engine:
    """A compiled rule set. Build once (``load_engine``), then call :meth:`qualify`."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_input: int = DEFAULT_MAX_INPUT,
    ) -> None:
        self.ruleset = ruleset
        self.timeout = timeout
        self.max_input = max_input
        self.timeouts: Counter[str] = Counter()
        self._timeout_count = 0
        # qualify's results by what the decision reads of a record (see qualify)
        self._memo: Memo[tuple[tuple[Any, ...], str], Qualification] = Memo(_MEMO_MAX)
        self._timeout_logged: set[str] = set()
        self._results: dict[tuple[str, str, bool], Qualification] = {}
        # (normalised status, transient) -> its fallback, or None when the status has none
        self._status_results: dict[tuple[str, bool], Qualification | None] = {}

        self.rules: list[CompiledRule] = []
        indexes: dict[RuleField, _FieldIndex] = {}
        for pos, lr in enumerate(decision_order(ruleset.rules)):
            rule = lr.rule
            scope = None if rule.scope.specificity == 0 else _ScopeMatcher(rule.scope)
            result = self._rule_result(lr, transient=False)
            transient_result = self._rule_result(lr, transient=True)
            try:
                compiled_pattern = compile_pattern(rule.pattern)
            except regex.error as exc:
                raise RuleSetError(
                    [f"{lr.source}: rule {rule.id!r}: invalid regular expression: {exc}"]
                ) from exc
            self.rules.append(
                CompiledRule(
                    position=pos,
                    loaded=lr,
                    pattern=compiled_pattern,
                    scope=scope,
                    result=result,
                    transient_result=transient_result,
                    varies=result != transient_result,
                )
            )
        # matchers: each top-level alternative of each rule, in decision order
        self._matchers: list[_Matcher] = []
        for compiled in self.rules:
            pattern = compiled.loaded.rule.pattern
            parts = split_alternatives(pattern)
            for part in parts:
                required = tuple(
                    frozenset(w.encode("ascii") for w in ws) for ws in required_word_sets(part)
                )
                self._matchers.append(
                    _Matcher(
                        rule=compiled,
                        pattern=compiled.pattern if len(parts) == 1 else compile_pattern(part),
                        required=required,
                        limit_free=limit_free_length(part),
                    )
                )
        # prefilter keys: per matcher, the cheapest option given how many share a key
        options = [prefilter_options(m.pattern.pattern) for m in self._matchers]
        frequency: Counter[Key] = Counter()
        for opts in options:
            frequency.update({k for opt in opts for k in opt})
        for mi, (matcher, opts) in enumerate(zip(self._matchers, options, strict=True)):
            index = indexes.setdefault(matcher.rule.field, _FieldIndex())
            index.add(
                mi,
                choose_option(opts, frequency),
                non_ascii=needs_non_ascii(matcher.pattern.pattern),
            )
        required_words: dict[RuleField, set[bytes]] = {}
        for m in self._matchers:
            required_words.setdefault(m.rule.field, set()).update(w for r in m.required for w in r)
        for f, index in indexes.items():
            index.freeze(required_words.get(f, ()))
        # candidate plans by (kind, command, diagnostic type, field signatures...): the
        # matchers that pass the prefilter, required words and cheap scope checks, in
        # decision order, as (field, remaining scope check or None, pattern, rule)
        self._plans: dict[tuple[Any, ...], tuple[_PlanEntry, ...]] = {}
        # (field, index) pairs in a fixed order; ARF records only use feedback_type
        self._indexes = [(f, indexes[f]) for f in _FIELD_ORDER if f in indexes]
        # what qualify reads per field: (field, signature of its text, text getter)
        hot = [(f, i.signature, self._field_getter(f)) for f, i in self._indexes]
        self._dsn_indexes = [h for h in hot if h[0] != RuleField.FEEDBACK_TYPE]
        self._arf_indexes = [h for h in hot if h[0] == RuleField.FEEDBACK_TYPE]
        self._autoreply = self._fallback("vacation", AUTOREPLY_ID, transient=False)
        self._delivered = self._fallback("delivered", DELIVERED_ID, transient=False)
        self._arf = self._fallback("feedback", ARF_ID, transient=False)
        self._unqualified = Qualification(
            failure_type=FailureType.UNQUALIFIED,
            reason=Reason.NOT_DEFINED,
            detail="undefined",
            rule_id=UNQUALIFIED_ID,
            ruleset_version=ruleset.version,
        )

    # ------------------------------------------------------------------ results

    @property
    def version(self) -> str:
        return self.ruleset.version

    def _rule_result(self, lr: LoadedRule, *, transient: bool) -> Qualification:
        rule = lr.rule
        default = self.ruleset.details[rule.detail]
        reason = rule.reason
        if reason is None:
            reason = default.reason
            if transient and default.transient_reason is not None:
                reason = default.transient_reason
        return Qualification(
            failure_type=rule.failure_type or default.failure_type,
            reason=reason,
            detail=rule.detail,
            rule_id=rule.id,
            ruleset_version=self.ruleset.version,
        )

    def _fallback(self, detail: str, rule_id: str, *, transient: bool) -> Qualification:
        key = (detail, rule_id, transient)
        q = self._results.get(key)
        if q is None:
            default = self.ruleset.details[detail]
            reason = default.reason
            if transient and default.transient_reason is not None:
                reason = default.transient_reason
            q = Qualification(
                failure_type=default.failure_type,
                reason=reason,
                detail=detail,
                rule_id=rule_id,
                ruleset_version=self.ruleset.version,
            )
            self._results[key] = q
        return q

    # ------------------------------------------------------------------ fields

    def _status(self, record: BounceRecord) -> str | None:
        return record_status(record)

    def _reply(self, record: BounceRecord) -> int | None:
        if record.smtp_code is not None:
            return record.smtp_code
        return codes.reply_from_text(record.diagnostic)

    def _field_text(self, record: BounceRecord, f: RuleField) -> str | None:
        if f is RuleField.DIAGNOSTIC:
            return unfold_reply(record.diagnostic)
        if f is RuleField.STATUS:
            return self._status(record)
        if f is RuleField.REPLY_CODE:
            code = self._reply(record)
            return None if code is None else str(code)
        if f is RuleField.SUBJECT:
            return record.bounce_subject
        if f is RuleField.SENDER:
            return record.bounce_from
        if f is RuleField.FEEDBACK_TYPE:
            return record.feedback_type
        parts = (record.diagnostic, record.bounce_subject, record.bounce_from)
        return "\n".join(p for p in parts if p) or None

    def _field_getter(self, f: RuleField) -> Callable[[BounceRecord], str | None]:
        """``_field_text`` for one field, without the dispatch on the field."""
        if f is RuleField.DIAGNOSTIC:
            return lambda record: unfold_reply(record.diagnostic)
        if f is RuleField.SUBJECT:
            return operator.attrgetter("bounce_subject")
        if f is RuleField.SENDER:
            return operator.attrgetter("bounce_from")
        if f is RuleField.FEEDBACK_TYPE:
            return operator.attrgetter("feedback_type")
        return lambda record: self._field_text(record, f)

    def _transient(self, record: BounceRecord) -> bool:
        return self._transient_with(record, self._status(record))

    def _transient_with(self, record: BounceRecord, status: str | None) -> bool:
        """:meth:`_transient` with the record's status already read."""
        if record.action and record.action.lower() == "delayed":
            return True
        if status is not None:
            return status.startswith("4")
        code = self._reply(record)
        return code is not None and 400 <= code < 500

    def _search(self, rule: CompiledRule, text: str, pattern: Any = None) -> Any:
        """Run one rule's regex (or one of its alternatives) under the time limit; None
        on no match or timeout."""
        try:
            return (pattern or rule.pattern).search(
                text, 0, self.max_input, None, False, self.timeout
            )
        except TimeoutError:
            self._timed_out(rule, text)
            return None

    def _timed_out(self, rule: CompiledRule, text: str) -> None:
        """Count a timeout, log it once per rule."""
        self.timeouts[rule.id] += 1
        self._timeout_count += 1
        if rule.id not in self._timeout_logged:
            self._timeout_logged.add(rule.id)
            log.warning(
                "rule %s timed out after %.3fs on a %d-character input; falling "
                "through (logged once per rule)",
                rule.id,
                self.timeout,
                min(len(text), self.max_input),
            )

    # ------------------------------------------------------------------ qualify

    def qualify(self, record: BounceRecord) -> Qualification:
        """Qualify one record (pure apart from the timeout counters).

        Results are kept by everything the decision reads of a record
        (:data:`QUALIFYING_FIELDS` and the recipient's domain): a record like one seen
        before costs a tuple and a dict look-up. A decision during which a rule timed out
        is not kept (the next try may not time out). The memo rests while it does not
        pay (:mod:`processor.memo`)."""
        memo = self._memo
        if memo.resting:
            memo.resting -= 1
            return self._qualify(record)
        fields = record.__dict__
        if len(fields["diagnostic"] or "") > MAX_KEY_TEXT:  # decided afresh
            return self._qualify(record)
        key = (_qualifying_values(fields), (fields["recipient"] or "").rpartition("@")[2])
        kept = memo.entries.get(key)
        if kept is not None:
            memo.hits += 1
            return kept
        timeouts_before = self._timeout_count
        result = self._qualify(record)
        if self._timeout_count == timeouts_before:
            memo.keep(key, result)
        return result

    def memo_counts(self) -> tuple[int, int, int]:
        """Hits, misses and rests of this engine's decision memo (see :class:`Memo`)."""
        return self._memo.counts()

    def _qualify(self, record: BounceRecord) -> Qualification:
        """:meth:`qualify`, always decided afresh."""
        kind = record.kind
        if kind is RecordKind.AUTOREPLY:
            return self._autoreply
        if kind is RecordKind.DELIVERED or (
            record.action is not None and record.action.lower() in _DELIVERED_ACTIONS
        ):
            return self._delivered
        arf = kind is RecordKind.ARF
        indexes = self._arf_indexes if arf else self._dsn_indexes
        max_input = self.max_input
        texts: dict[RuleField, str] = {}
        command = record.smtp_command
        diagnostic_type = record.diagnostic_type
        # the plan key: what the cheap scope checks read (as _cheap_scope_key has it),
        # then each field that has text and its signature
        key: list[Any] = [
            kind,
            command.upper() if command else "none",
            diagnostic_type.strip().lower() if diagnostic_type else "",
        ]
        for f, signature, get_text in indexes:
            text = get_text(record)
            if text:
                if len(text) > max_input:
                    text = text[:max_input]
                texts[f] = text
                key.append(f)
                key.append(signature(text))
        if len(key) > 3:
            plan_key = tuple(key)
            plan = self._plans.get(plan_key)
            if plan is None:
                plan = self._plan(plan_key)
            timeout = self.timeout
            for field_, rest, pattern, rule, limit_free in plan:
                if rest is not None and not rest(record):
                    continue
                text = texts[field_]
                if len(text) <= limit_free:
                    found = pattern.search(text)
                else:
                    try:
                        found = pattern.search(text, 0, max_input, None, False, timeout)
                    except TimeoutError:
                        self._timed_out(rule, text)
                        continue
                if found is not None:
                    if rule.varies and self._transient(record):
                        return rule.transient_result
                    return rule.result
        if arf:
            return self._arf
        return self._first_fallback(record)

    def _plan(self, key: tuple[Any, ...]) -> tuple[_PlanEntry, ...]:
        """The candidates of a plan key (see ``qualify``), in decision order, with the
        prefilter, the required-word checks and the kind / command / diagnostic-type
        scope dimensions already applied; cached."""
        kind, command, diagnostic_type = key[0].value, key[1], key[2]
        indexes = dict(self._indexes)
        sigs: dict[RuleField, _Signature] = dict(zip(key[3::2], key[4::2], strict=True))
        cands: list[int] = []
        for f, sig in sigs.items():
            indexes[f].candidates(sig, cands)
        plan: list[_PlanEntry] = []
        for mi in sorted(set(cands)):
            matcher = self._matchers[mi]
            rule = matcher.rule
            rel = sigs[rule.field][0]
            if any(rel.isdisjoint(req) for req in matcher.required):
                continue
            scope = rule.scope
            rest: Callable[[BounceRecord], bool] | None = None
            if isinstance(scope, _ScopeMatcher):
                if not scope.cheap(kind, command, diagnostic_type):
                    continue
                rest = scope.rest if scope.has_rest else None
            else:
                rest = scope
            plan.append((rule.field, rest, matcher.pattern, rule, matcher.limit_free))
        if len(self._plans) >= _PLAN_CACHE_MAX:
            self._plans.clear()
        result = self._plans[key] = tuple(plan)
        return result

    def _first_fallback(self, record: BounceRecord) -> Qualification:
        """The deciding fallback step: status code, then reply code, then unqualified."""
        status = record_status(record)
        if status is not None:
            key = (status, self._transient_with(record, status))
            try:
                found_status = self._status_results[key]
            except KeyError:
                detail = codes.status_detail(status)
                found_status = (
                    None
                    if detail is None
                    else self._fallback(detail, f"status:{status}", transient=key[1])
                )
                if len(self._status_results) >= _PLAN_CACHE_MAX:
                    self._status_results.clear()
                self._status_results[key] = found_status
            if found_status is not None:
                return found_status
        code = self._reply(record)
        if code is not None:
            found = codes.reply_detail(code)
            if found is not None:
                transient = self._transient_with(record, status)
                return self._fallback(found[0], found[1], transient=transient)
        return self._unqualified

    def _fallbacks(self, record: BounceRecord) -> list[tuple[str, Qualification]]:
        """The fallback steps that apply, in order (the first decides)."""
        out: list[tuple[str, Qualification]] = []
        transient = self._transient(record)
        status = self._status(record)
        if status is not None:
            detail = codes.status_detail(status)
            if detail is not None:
                out.append(
                    ("status", self._fallback(detail, f"status:{status}", transient=transient))
                )
        code = self._reply(record)
        if code is not None:
            found = codes.reply_detail(code)
            if found is not None:
                out.append(("reply", self._fallback(found[0], found[1], transient=transient)))
        out.append(("unqualified", self._unqualified))
        return out

    # ------------------------------------------------------------------ explain

    def explain(self, record_or_text: BounceRecord | str) -> Explanation:
        """The deciding rule and every other candidate (all rules tried, no prefilter)."""
        if isinstance(record_or_text, str):
            record = BounceRecord(kind=RecordKind.SMTP, diagnostic=record_or_text)
        else:
            record = record_or_text
        decided = self.qualify(record)
        texts = {}
        for f in _FIELD_ORDER:
            t = self._field_text(record, f)
            if t:
                texts[f] = t[: self.max_input]
        arf = record.kind is RecordKind.ARF
        candidates: list[Candidate] = []
        timed_out: list[str] = []
        transient = self._transient(record)
        if record.kind not in (RecordKind.AUTOREPLY, RecordKind.DELIVERED):
            for rule in self.rules:
                if arf != (rule.field is RuleField.FEEDBACK_TYPE):
                    continue
                text = texts.get(rule.field)
                if not text or (rule.scope is not None and not rule.scope(record)):
                    continue
                before = self.timeouts[rule.id]
                m = self._search(rule, text)
                if self.timeouts[rule.id] != before:
                    timed_out.append(rule.id)
                if m is None:
                    continue
                r = rule.loaded.rule
                candidates.append(
                    Candidate(
                        rule_id=r.id,
                        step="rule",
                        qualification=rule.transient_result if transient else rule.result,
                        field=r.field.value,
                        matched=m.group(0),
                        description=r.description,
                        source=rule.loaded.source,
                    )
                )
        if record.kind is RecordKind.AUTOREPLY:
            candidates.append(Candidate(AUTOREPLY_ID, "kind", self._autoreply))
        elif record.kind is RecordKind.DELIVERED or decided.rule_id == DELIVERED_ID:
            candidates.append(Candidate(DELIVERED_ID, "kind", self._delivered))
        elif arf:
            candidates.append(Candidate(ARF_ID, "kind", self._arf))
        else:
            candidates += [Candidate(q.rule_id, step, q) for step, q in self._fallbacks(record)]
        deciding = next(
            (c for c in candidates if c.rule_id == decided.rule_id),
            Candidate(decided.rule_id, "rule", decided),
        )
        return Explanation(
            qualification=decided,
            deciding=deciding,
            others=[c for c in candidates if c is not deciding],
            timeouts=timed_out,
            fields={f.value: t for f, t in texts.items()},
        )


def load_engine(
    rules_dir: str | Path | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_input: int = DEFAULT_MAX_INPUT,
) -> Engine:
    """Load ``rules_dir`` (default: ``$BOUNCE_RULES_DIR`` or the repo's ``rules/``) and
    compile it."""
    return Engine(load_ruleset(rules_dir), timeout=timeout, max_input=max_input)
