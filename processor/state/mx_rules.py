"""MX rules: per receiving-MX throughput levels and the timings of bounce-driven backoff.

``rules/mx.yaml`` is data. It names, for each receiving mail system (Gmail, Outlook,
Yahoo, ...), the MX host patterns and recipient domains that identify it, six
throughput levels (1 = gentlest, 6 = fastest), the level a new route starts at, and the
thresholds and durations that drive the route policy in :mod:`processor.state.mx_policy`.
Timings have global defaults (``defaults``) that any rule may override field by field.

Matching is a dictionary walk, never a linear glob scan. A pattern is either an exact
host (``mx.example.com``) or a leading wildcard (``*.google.com``, which matches every
host *below* ``google.com``, not ``google.com`` itself). A host is looked up exactly,
then with one leading label removed at a time; the longest pattern wins. Recipient
domains are matched the same way. A pattern may belong to one rule only.

The loader validates everything once (unknown keys, level counts and order, ids,
durations, regular expressions, compiled as they will be used) and raises
:class:`MxRulesError` with what it found; the resulting :class:`MxRuleSet` is immutable
and shared by all routes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from processor.paths import rules_dir

LEVEL_COUNT = 6
"""Every rule has exactly this many throughput levels; 1 is the gentlest."""

DEFAULT_RULE_ID = "default"
"""The id of the rule used when neither the MX host nor the recipient domain matches."""

MX_RULES_FILE = "mx.yaml"

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class MxRulesError(ValueError):
    """``rules/mx.yaml`` (or a document in its shape) is not a valid MX rule set."""


# --------------------------------------------------------------------------- values


def parse_duration(value: object) -> timedelta:
    """``"30s"``, ``"10m"``, ``"4h"``, ``"2d"`` or a number of seconds, as a positive timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"not a duration (use e.g. 90s, 10m, 4h, 2d): {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def format_duration(value: timedelta) -> str:
    """The shortest exact ``"<n><unit>"`` spelling of a duration (``"90m"``, ``"4h"``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def normalise_host(value: str | None) -> str | None:
    """A DNS host name as found in ``mx`` / ``remote_mta`` fields, or ``None``.

    Accepts the DSN form ``dns; mx.example.com``, a trailing dot, a bracketed or bare
    address after the name (``mx.example.com [192.0.2.1]``) and any case. An address
    literal alone names no host and gives ``None``.
    """
    if not value:
        return None
    text = value.strip()
    if ";" in text:
        kind, _, rest = text.partition(";")
        if kind.strip().lower() in {"dns", "x-unix", "smtp"}:
            text = rest.strip()
    token = text.split()[0] if text.split() else ""
    token = token.strip("[]<>()").rstrip(".").lower()
    if not token:
        return None
    try:
        ipaddress.ip_address(token.removeprefix("ipv6:"))
    except ValueError:
        return token
    return None


def recipient_domain(address: str | None) -> str | None:
    """The lower-cased domain of an e-mail address, or ``None``."""
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].strip().strip(">").rstrip(".").lower()
    return domain or None


def _suffixes(name: str) -> list[str]:
    """``a.b.c`` → ``["b.c", "c"]``: the names a leading wildcard could stand for."""
    labels = name.split(".")
    return [".".join(labels[index:]) for index in range(1, len(labels))]


def _check_pattern(pattern: str) -> str:
    """An exact host or ``*.suffix``, lower-cased; anything else is refused."""
    text = pattern.strip().lower().rstrip(".")
    body = text[2:] if text.startswith("*.") else text
    labels = body.split(".")
    if not body or "*" in body or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            f"pattern {pattern!r}: use an exact host (mx.example.com) "
            "or a leading wildcard (*.example.com)"
        )
    return text


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThroughputLevel(_Strict):
    """What one sending IP may do towards one MX rule at one level."""

    max_connections: PositiveInt
    max_messages_per_connection: PositiveInt
    max_messages_per_hour: PositiveInt


class ThrottleSettings(_Strict):
    """Throttling signals: ``threshold`` of them within ``window`` → one level down."""

    threshold: PositiveInt
    window: Duration
    cooldown: Duration


class SuspensionSettings(_Strict):
    """``threshold`` reputation blocks within ``window`` suspend the route for ``period``;
    it resumes ``step_down`` levels lower. ``threshold: 1`` suspends on the first block."""

    threshold: PositiveInt
    window: Duration
    period: Duration
    step_down: int = Field(ge=0, lt=LEVEL_COUNT)


class WarmupSettings(_Strict):
    """After ``clean_period`` with no counted throttling signal and no change, one level up."""

    clean_period: Duration


class PolicyTimings(_Strict):
    """Complete timings: the file's ``defaults``, and each rule's after merging overrides."""

    start_level: int = Field(ge=1, le=LEVEL_COUNT)
    throttle: ThrottleSettings
    suspension: SuspensionSettings
    warmup: WarmupSettings


class _ThrottleOverride(_Strict):
    threshold: PositiveInt | None = None
    window: Duration | None = None
    cooldown: Duration | None = None


class _SuspensionOverride(_Strict):
    threshold: PositiveInt | None = None
    window: Duration | None = None
    period: Duration | None = None
    step_down: int | None = Field(default=None, ge=0, lt=LEVEL_COUNT)


class _WarmupOverride(_Strict):
    clean_period: Duration | None = None


class SignalClass(StrEnum):
    """What a failure says about the route it came through."""

    THROTTLE = "throttle"
    BLOCK = "block"
    NEUTRAL = "neutral"


def _compile(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in patterns:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"bad regular expression {pattern!r}: {error}") from error
    return patterns


class ThrottleSignals(_Strict):
    """Which failures count as "slow down": by detail, SMTP reply code, or diagnostic text."""

    details: frozenset[str] = frozenset()
    smtp_codes: frozenset[int] = frozenset()
    diagnostic_patterns: tuple[str, ...] = ()

    @field_validator("diagnostic_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return _compile(patterns)


class BlockSignals(_Strict):
    """Which failures count as a reputation block: a reason together with a detail."""

    reasons: frozenset[str] = frozenset()
    details: frozenset[str] = frozenset()


class SignalSettings(_Strict):
    throttle: ThrottleSignals
    block: BlockSignals


class MxRule(_Strict):
    """One receiving mail system: how to recognise it, its six levels, its overrides."""

    id: str
    description: str = ""
    mx_hosts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    levels: tuple[ThroughputLevel, ...]
    start_level: int | None = Field(default=None, ge=1, le=LEVEL_COUNT)
    throttle: _ThrottleOverride = _ThrottleOverride()
    suspension: _SuspensionOverride = _SuspensionOverride()
    warmup: _WarmupOverride = _WarmupOverride()
    throttle_patterns: tuple[str, ...] = ()
    """Extra diagnostic regular expressions that mean "slow down" for this rule only."""

    @field_validator("throttle_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return _compile(patterns)

    @field_validator("id")
    @classmethod
    def _id_is_plain(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError(f"rule id {value!r}: use lower-case letters, digits, '.', '_', '-'")
        return value

    @field_validator("mx_hosts", "domains")
    @classmethod
    def _patterns_are_simple(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_pattern(value) for value in values)

    @field_validator("levels")
    @classmethod
    def _six_gentle_to_fast(
        cls, levels: tuple[ThroughputLevel, ...]
    ) -> tuple[ThroughputLevel, ...]:
        if len(levels) != LEVEL_COUNT:
            raise ValueError(f"expected {LEVEL_COUNT} levels, got {len(levels)}")
        for lower, higher in pairwise(levels):
            for limit in ThroughputLevel.model_fields:
                if getattr(higher, limit) < getattr(lower, limit):
                    raise ValueError(f"{limit} must not decrease from one level to the next")
        return levels

    @property
    def top_level(self) -> int:
        return len(self.levels)

    def level(self, number: int) -> ThroughputLevel:
        """The limits of level ``number`` (1-based)."""
        if not 1 <= number <= self.top_level:
            raise ValueError(f"level {number} outside 1..{self.top_level}")
        return self.levels[number - 1]


class MatchedBy(StrEnum):
    MX = "mx"
    DOMAIN = "domain"
    DEFAULT = "default"


class MxRuleMatch(BaseModel):
    """Which rule applies, and why."""

    model_config = ConfigDict(frozen=True)

    rule: MxRule
    matched_by: MatchedBy
    pattern: str | None = None


class MxRuleSet(_Strict):
    """The validated ``rules/mx.yaml``: rules, defaults, signals, and fast lookup tables."""

    version: str
    defaults: PolicyTimings
    signals: SignalSettings
    default: MxRule
    rules: tuple[MxRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_rule_has_its_id(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("default"), Mapping):
            default = dict(data["default"])
            default.setdefault("id", DEFAULT_RULE_ID)
            data = {**data, "default": default}
        return data

    @model_validator(mode="after")
    def _ids_and_patterns_are_unique(self) -> MxRuleSet:
        if self.default.id != DEFAULT_RULE_ID:
            raise ValueError(f"the default rule's id must be {DEFAULT_RULE_ID!r}")
        if self.default.mx_hosts or self.default.domains:
            raise ValueError("the default rule matches what nothing else does; give it no patterns")
        seen_ids = {DEFAULT_RULE_ID}
        owners: dict[tuple[str, str], str] = {}
        for rule in self.rules:
            if rule.id in seen_ids:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen_ids.add(rule.id)
            if not (rule.mx_hosts or rule.domains):
                raise ValueError(f"rule {rule.id!r} has neither mx_hosts nor domains")
            for kind, patterns in (("mx_hosts", rule.mx_hosts), ("domains", rule.domains)):
                for pattern in patterns:
                    owner = owners.setdefault((kind, pattern), rule.id)
                    if owner != rule.id:
                        raise ValueError(
                            f"{kind} pattern {pattern!r} belongs to both {owner!r} and {rule.id!r}"
                        )
        try:
            self._throttle_regexes  # noqa: B018 - compile the combined patterns now, not in use
        except re.error as error:
            raise ValueError(f"throttle patterns do not combine: {error}") from error
        return self

    # ----------------------------------------------------------------- lookups

    @cached_property
    def _by_id(self) -> dict[str, MxRule]:
        return {rule.id: rule for rule in (self.default, *self.rules)}

    @cached_property
    def _mx_tables(self) -> tuple[dict[str, MxRule], dict[str, MxRule]]:
        return _tables(self.rules, "mx_hosts")

    @cached_property
    def _domain_tables(self) -> tuple[dict[str, MxRule], dict[str, MxRule]]:
        return _tables(self.rules, "domains")

    @cached_property
    def _timings(self) -> dict[str, PolicyTimings]:
        return {rule.id: _merge_timings(self.defaults, rule) for rule in self._by_id.values()}

    @cached_property
    def _throttle_regexes(self) -> dict[str, re.Pattern[str] | None]:
        compiled: dict[str, re.Pattern[str] | None] = {}
        for rule in self._by_id.values():
            patterns = (*self.signals.throttle.diagnostic_patterns, *rule.throttle_patterns)
            compiled[rule.id] = (
                re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
                if patterns
                else None
            )
        return compiled

    def rule(self, rule_id: str) -> MxRule:
        """The rule with this id; ``KeyError`` when the rule set has none."""
        return self._by_id[rule_id]

    def has_rule(self, rule_id: str) -> bool:
        return rule_id in self._by_id

    def timings(self, rule_id: str) -> PolicyTimings:
        """The rule's start level, throttle, suspension and warm-up settings, defaults merged."""
        return self._timings[rule_id]

    def match_mx(self, mx_host: str | None) -> MxRuleMatch | None:
        """The rule whose ``mx_hosts`` pattern matches this MX host, if any."""
        host = normalise_host(mx_host)
        return _lookup(host, *self._mx_tables, MatchedBy.MX) if host else None

    def match_domain(self, domain: str | None) -> MxRuleMatch | None:
        """The rule whose ``domains`` pattern matches this recipient domain, if any."""
        name = domain.strip().rstrip(".").lower() if domain else None
        return _lookup(name, *self._domain_tables, MatchedBy.DOMAIN) if name else None

    def match(self, mx_host: str | None = None, domain: str | None = None) -> MxRuleMatch:
        """The MX host decides when it matches; then the recipient domain; then ``default``."""
        return (
            self.match_mx(mx_host)
            or self.match_domain(domain)
            or MxRuleMatch(rule=self.default, matched_by=MatchedBy.DEFAULT)
        )

    def classify(
        self,
        rule_id: str,
        *,
        reason: str | None,
        detail: str | None,
        smtp_code: int | None,
        diagnostic: str | None,
    ) -> SignalClass:
        """Whether a failure through this rule's MX is a block, a throttle, or neither.

        A reputation block wins over a throttle when a failure looks like both.
        """
        block = self.signals.block
        if reason in block.reasons and detail in block.details:
            return SignalClass.BLOCK
        throttle = self.signals.throttle
        if detail in throttle.details or smtp_code in throttle.smtp_codes:
            return SignalClass.THROTTLE
        regex = self._throttle_regexes[rule_id]
        if diagnostic and regex is not None and regex.search(diagnostic):
            return SignalClass.THROTTLE
        return SignalClass.NEUTRAL


def _tables(
    rules: tuple[MxRule, ...], kind: Literal["mx_hosts", "domains"]
) -> tuple[dict[str, MxRule], dict[str, MxRule]]:
    exact: dict[str, MxRule] = {}
    below: dict[str, MxRule] = {}
    for rule in rules:
        for pattern in getattr(rule, kind):
            if pattern.startswith("*."):
                below[pattern[2:]] = rule
            else:
                exact[pattern] = rule
    return exact, below


def _lookup(
    name: str, exact: dict[str, MxRule], below: dict[str, MxRule], matched_by: MatchedBy
) -> MxRuleMatch | None:
    if name in exact:
        return MxRuleMatch(rule=exact[name], matched_by=matched_by, pattern=name)
    for suffix in _suffixes(name):
        if suffix in below:
            return MxRuleMatch(rule=below[suffix], matched_by=matched_by, pattern=f"*.{suffix}")
    return None


def _merge_timings(defaults: PolicyTimings, rule: MxRule) -> PolicyTimings:
    def merged(base: BaseModel, override: BaseModel) -> dict[str, Any]:
        return {**base.model_dump(), **override.model_dump(exclude_none=True)}

    return PolicyTimings(
        start_level=rule.start_level or defaults.start_level,
        throttle=ThrottleSettings(**merged(defaults.throttle, rule.throttle)),
        suspension=SuspensionSettings(**merged(defaults.suspension, rule.suspension)),
        warmup=WarmupSettings(**merged(defaults.warmup, rule.warmup)),
    )


# --------------------------------------------------------------------------- loading


def content_version(text: str) -> str:
    """A version for a rules document that says nothing else: ``mx+<sha256 prefix>``."""
    return "mx+" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def parse_mx_rules(document: Mapping[str, Any], *, version: str) -> MxRuleSet:
    """Validate an already parsed ``mx.yaml`` document."""
    if not isinstance(document, Mapping):
        raise MxRulesError("the MX rules document must be a mapping")
    try:
        return MxRuleSet.model_validate({**document, "version": version})
    except ValidationError as error:
        raise MxRulesError(f"invalid MX rules: {error}") from error


def load_mx_rules(path: Path | None = None, *, version: str | None = None) -> MxRuleSet:
    """Read and validate ``mx.yaml``.

    ``path`` is the file or the rules folder holding it (``rules/`` by default).
    ``version`` is the published rule-set version that will stamp every policy event;
    without one, a content hash of the file stands in.
    """
    source = path or rules_dir()
    if source.is_dir():
        source = source / MX_RULES_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise MxRulesError(f"cannot read {source}: {error}") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MxRulesError(f"{source} is not YAML: {error}") from error
    if not isinstance(document, Mapping):
        raise MxRulesError(f"{source}: the MX rules document must be a mapping")
    return parse_mx_rules(document, version=version or content_version(text))
