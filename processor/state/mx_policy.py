"""MX route policy: per (sending IP, MX rule) level and status, driven by event time.

A *route* is the pair (sending IP, MX rule id); its key on ``bounces.mx-policy`` is
``"<ip>|<rule id>"``. The ``default`` rule stands for many unrelated receivers, so its
routes also carry the recipient domain: ``"<ip>|default|<domain>"``. The policy is two
pure functions and no clock:

- :func:`apply` takes the route's state (or ``None`` for a route never seen), one
  :class:`RouteSignal` decoded from a ``FailureEvent``, and the rule set, and returns
  the new state and the :class:`MxPolicyChange` events to publish;
- :func:`advance` moves a state to a given "now" (event time, or the live stage's timer
  scan): cool-downs and suspensions end, clean periods step the route up.

What changes a route (all numbers come from ``rules/mx.yaml``):

- a **throttling signal** (421, a rate-limit diagnostic, detail ``ratelimited`` ...):
  once ``throttle.threshold`` of them fall within ``throttle.window``, the route steps
  down one level (never below 1) and is ``throttled`` for ``throttle.cooldown``. Reaching
  the threshold again during the cool-down restarts the cool-down without a second step:
  one step per cool-down, since bounces of mail already in flight keep arriving after
  the MTAs have slowed down. Signals seen while suspended are not counted;
- a **reputation block** (reason ``refused`` with detail ``blocked``, ``badreputation``,
  ``spamdetected``): once ``suspension.threshold`` of them fall within
  ``suspension.window`` (1 by default: the first block), the route is suspended for
  ``suspension.period`` from the block's time (effective limits are zero) and its level
  drops by ``suspension.step_down``; a further block can only lengthen the suspension;
- a **clean period**: an active route with no throttling signal and no change for
  ``warmup.clean_period`` steps up one level, never above the rule's top level.

A route appears on its first failure of any kind, at the rule's start level; the MTAs
use the start level for routes they have no policy for. Time only moves forward: a
route's clock is the latest event time it has seen, late events are judged against it
(a throttling signal older than the window, or a block whose suspension would already
be over, changes nothing). Timer-driven changes carry the time they fell due, so
replaying the same signals in the same order yields the same events, whenever and
however often :func:`advance` is called in between.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
)

from processor.state.mx_rules import (
    MatchedBy,
    MxRule,
    MxRuleSet,
    PolicyTimings,
    SignalClass,
    ThroughputLevel,
    format_duration,
    normalise_host,
    recipient_domain,
)

ANY_SENDING_IP = "*"
"""The sending IP of a failure that does not name one: all such failures share a route."""

ROUTE_KEY_SEPARATOR = "|"


def _utc_moment(value: object) -> object:
    """Epoch milliseconds (Avro ``timestamp-millis``) or a naive datetime, as UTC."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


EventTime = Annotated[AwareDatetime, BeforeValidator(_utc_moment)]


def normalise_sending_ip(value: str | None) -> str:
    """A sending IP in canonical form, a pool or vMTA name as given, or ``"*"`` when unknown."""
    text = (value or "").strip()
    if not text:
        return ANY_SENDING_IP
    if ROUTE_KEY_SEPARATOR in text or any(char.isspace() for char in text):
        raise ValueError(f"sending IP {value!r} contains '|' or white space")
    try:
        return ipaddress.ip_address(text.strip("[]")).compressed
    except ValueError:
        return text.lower()


# --------------------------------------------------------------------------- input


class RouteSignal(BaseModel):
    """What the MX policy needs from one failure event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_time: EventTime
    sending_ip: str = ANY_SENDING_IP
    mx_host: str | None = None
    recipient_domain: str | None = None
    reason: str | None = None
    detail: str | None = None
    smtp_code: int | None = None
    status: str | None = None
    diagnostic: str | None = None

    @field_validator("sending_ip", mode="before")
    @classmethod
    def _canonical_ip(cls, value: str | None) -> str:
        return normalise_sending_ip(value)

    @field_validator("mx_host", mode="before")
    @classmethod
    def _canonical_host(cls, value: str | None) -> str | None:
        return normalise_host(value)

    @classmethod
    def from_failure_event(cls, event: Mapping[str, Any]) -> RouteSignal:
        """From a decoded ``FailureEvent`` dict.

        The MX host is ``mx`` when present, else ``remote_mta``; the sending IP is
        ``sending_ip`` when present, else ``"*"``. ``event_time`` may be a datetime (as
        fastavro decodes ``timestamp-millis``) or epoch milliseconds.
        """
        return cls(
            event_id=event["event_id"],
            event_time=event["event_time"],
            sending_ip=event.get("sending_ip"),
            mx_host=normalise_host(event.get("mx")) or normalise_host(event.get("remote_mta")),
            recipient_domain=recipient_domain(event.get("recipient")),
            reason=event.get("reason"),
            detail=event.get("detail"),
            smtp_code=event.get("smtp_code"),
            status=event.get("status"),
            diagnostic=event.get("diagnostic"),
        )


class Route(BaseModel):
    """(sending IP, MX rule id): the unit the policy keeps state for.

    A named rule (``google``, ``yahoo``, ...) is one receiving system: all its MXs share a
    route. The ``default`` rule stands for every other receiver, each its own; its routes
    therefore carry a ``destination``, the recipient domain (the MX host when no
    recipient domain is known), so that one small server's trouble slows that server only.
    """

    model_config = ConfigDict(frozen=True)

    sending_ip: str
    rule_id: str
    destination: str | None = None

    @property
    def key(self) -> str:
        """The Kafka key on ``bounces.mx-policy`` and in the state store.

        ``"<ip>|<rule id>"``, or ``"<ip>|default|<domain>"`` for the default rule.
        """
        parts = (self.sending_ip, self.rule_id, *((self.destination,) if self.destination else ()))
        return ROUTE_KEY_SEPARATOR.join(parts)

    @classmethod
    def from_key(cls, key: str) -> Route:
        parts = key.split(ROUTE_KEY_SEPARATOR)
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"not a route key (ip|rule or ip|rule|destination): {key!r}")
        destination = parts[2] if len(parts) == 3 else None
        return cls(sending_ip=parts[0], rule_id=parts[1], destination=destination)


def route_of(signal: RouteSignal, rules: MxRuleSet) -> Route:
    """The route a failure came through: its sending IP and the matching MX rule."""
    match = rules.match(signal.mx_host, signal.recipient_domain)
    destination = None
    if match.matched_by is MatchedBy.DEFAULT:
        destination = signal.recipient_domain or signal.mx_host
    return Route(sending_ip=signal.sending_ip, rule_id=match.rule.id, destination=destination)


# --------------------------------------------------------------------------- state


class RouteStatus(StrEnum):
    ACTIVE = "active"
    THROTTLED = "throttled"
    SUSPENDED = "suspended"


class ChangeReason(StrEnum):
    """Why a route has its current level and status."""

    FIRST_SEEN = "first_seen"
    THROTTLED = "throttled"
    COOLDOWN_ENDED = "cooldown_ended"
    SUSPENDED = "suspended"
    SUSPENSION_ENDED = "suspension_ended"
    WARMED_UP = "warmed_up"


class RouteState(BaseModel):
    """Everything the policy remembers about one route."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sending_ip: str
    rule_id: str
    destination: str | None = None
    """Set for routes of the default rule only: see :class:`Route`."""
    level: int = Field(ge=1)
    status: RouteStatus
    reason: ChangeReason
    reason_detail: str | None = None
    until: EventTime | None = None
    """End of the cool-down or suspension; ``None`` while active."""
    changed_at: EventTime
    """When level or status last changed (the event time it took effect)."""
    clock: EventTime
    """The latest event time the route has seen: its "now"."""
    last_throttle_at: EventTime | None = None
    """The latest counted throttling signal: the clean period runs from here too."""
    recent_throttles: tuple[EventTime, ...] = ()
    """Event times of the counted throttling signals still inside the window, ascending."""
    recent_blocks: tuple[EventTime, ...] = ()
    """Event times of reputation blocks inside the suspension window, while below its
    threshold (always empty with the threshold at 1)."""
    cause_event_id: str | None = None
    """The failure event that caused the last change; ``None`` for timer changes."""

    @property
    def route(self) -> Route:
        return Route(sending_ip=self.sending_ip, rule_id=self.rule_id, destination=self.destination)


class EffectiveLimits(BaseModel):
    """What the MTAs should obey now: the level's limits, or zeros while suspended."""

    model_config = ConfigDict(frozen=True)

    max_connections: NonNegativeInt
    max_messages_per_connection: NonNegativeInt
    max_messages_per_hour: NonNegativeInt


def effective_limits(rule: MxRule, level: int, status: RouteStatus) -> EffectiveLimits:
    if status is RouteStatus.SUSPENDED:
        return EffectiveLimits(
            max_connections=0, max_messages_per_connection=0, max_messages_per_hour=0
        )
    limits: ThroughputLevel = rule.level(level)
    return EffectiveLimits(**limits.model_dump())


class MxPolicyChange(BaseModel):
    """One published change of a route's policy (the ``MxPolicy`` Avro event)."""

    model_config = ConfigDict(frozen=True)

    route: str
    sending_ip: str
    rule_id: str
    destination: str | None
    level: int
    top_level: int
    status: RouteStatus
    limits: EffectiveLimits
    reason: ChangeReason
    reason_detail: str | None
    until: datetime | None
    event_time: datetime
    cause_event_id: str | None
    previous_level: int | None
    previous_status: RouteStatus | None
    ruleset_version: str

    @property
    def key(self) -> str:
        return self.route

    def to_avro(self) -> dict[str, Any]:
        """The value for ``schemas/mx_policy.avsc`` (datetimes for ``timestamp-millis``)."""
        return {
            "route": self.route,
            "sending_ip": self.sending_ip,
            "rule_id": self.rule_id,
            "destination": self.destination,
            "level": self.level,
            "top_level": self.top_level,
            "status": self.status.value,
            "limits": self.limits.model_dump(),
            "reason": self.reason.value,
            "reason_detail": self.reason_detail,
            "until": self.until,
            "event_time": self.event_time,
            "cause_event_id": self.cause_event_id,
            "previous_level": self.previous_level,
            "previous_status": self.previous_status.value if self.previous_status else None,
            "ruleset_version": self.ruleset_version,
        }


def policy_of(
    state: RouteState, rules: MxRuleSet, previous: RouteState | None = None
) -> MxPolicyChange:
    """The policy event that publishes ``state`` (``previous``: the state it replaces)."""
    rule = rules.rule(state.rule_id)
    return MxPolicyChange(
        route=state.route.key,
        sending_ip=state.sending_ip,
        rule_id=state.rule_id,
        destination=state.destination,
        level=state.level,
        top_level=rule.top_level,
        status=state.status,
        limits=effective_limits(rule, state.level, state.status),
        reason=state.reason,
        reason_detail=state.reason_detail,
        until=state.until,
        event_time=state.changed_at,
        cause_event_id=state.cause_event_id,
        previous_level=previous.level if previous else None,
        previous_status=previous.status if previous else None,
        ruleset_version=rules.version,
    )


def initial_state(route: Route, at: datetime, rules: MxRuleSet) -> RouteState:
    """A route never seen before: active at the rule's start level."""
    return RouteState(
        sending_ip=route.sending_ip,
        rule_id=route.rule_id,
        destination=route.destination,
        level=rules.timings(route.rule_id).start_level,
        status=RouteStatus.ACTIVE,
        reason=ChangeReason.FIRST_SEEN,
        changed_at=at,
        clock=at,
    )


# --------------------------------------------------------------------------- policy


def apply(
    state: RouteState | None, signal: RouteSignal, rules: MxRuleSet
) -> tuple[RouteState, list[MxPolicyChange]]:
    """One failure through a route: the route's new state and the changes to publish.

    ``state`` must be the state of ``route_of(signal, rules)`` (or ``None`` when that
    route has none yet). Timers due before the signal's event time fire first.
    """
    route = route_of(signal, rules)
    if state is not None and state.route != route:
        raise ValueError(f"state of route {state.route.key!r} given a signal for {route.key!r}")
    if state is None:
        fresh = initial_state(route, signal.event_time, rules)
        after, changes = _take_signal(fresh, signal, rules)
        # A new route is published once: at its start level, or as the signal left it.
        return after, changes or [policy_of(fresh, rules)]
    timed, emitted = advance(state, signal.event_time, rules)
    after, changes = _take_signal(timed, signal, rules)
    return after, [*emitted, *changes]


def advance(
    state: RouteState, now: datetime, rules: MxRuleSet
) -> tuple[RouteState, list[MxPolicyChange]]:
    """Fire the route's timers due at or before ``now``; ``now`` earlier than the clock is a no-op.

    Each change takes effect at the moment it fell due (the end of the cool-down or
    suspension, the end of the clean period), not at ``now``; several may fire at once.
    """
    now = _as_utc(now)
    rule = rules.rule(state.rule_id)
    timings = rules.timings(state.rule_id)
    emitted: list[MxPolicyChange] = []
    while (due := _next_timer(state, rule, timings)) is not None and due <= now:
        previous = state
        if state.status is RouteStatus.ACTIVE:
            state = _changed(state, level=state.level + 1, reason=ChangeReason.WARMED_UP, at=due)
        else:
            ended = (
                ChangeReason.COOLDOWN_ENDED
                if state.status is RouteStatus.THROTTLED
                else ChangeReason.SUSPENSION_ENDED
            )
            state = _changed(state, status=RouteStatus.ACTIVE, reason=ended, at=due)
        emitted.append(policy_of(state, rules, previous))
    if now > state.clock:
        throttle_start = now - timings.throttle.window
        block_start = now - timings.suspension.window
        state = state.model_copy(
            update={
                "clock": now,
                "recent_throttles": tuple(t for t in state.recent_throttles if t > throttle_start),
                "recent_blocks": tuple(t for t in state.recent_blocks if t > block_start),
            }
        )
    return state, emitted


def next_due(state: RouteState, rules: MxRuleSet) -> datetime | None:
    """When :func:`advance` will next change this route without new signals (for timers)."""
    return _next_timer(state, rules.rule(state.rule_id), rules.timings(state.rule_id))


def _next_timer(state: RouteState, rule: MxRule, timings: PolicyTimings) -> datetime | None:
    if state.status is not RouteStatus.ACTIVE:
        return state.until
    if state.level >= rule.top_level:
        return None
    clean_since = max(state.changed_at, state.last_throttle_at or state.changed_at)
    return clean_since + timings.warmup.clean_period


def _take_signal(
    state: RouteState, signal: RouteSignal, rules: MxRuleSet
) -> tuple[RouteState, list[MxPolicyChange]]:
    now = max(state.clock, signal.event_time)
    state = state.model_copy(update={"clock": now}) if now != state.clock else state
    kind = rules.classify(
        state.rule_id,
        reason=signal.reason,
        detail=signal.detail,
        smtp_code=signal.smtp_code,
        diagnostic=signal.diagnostic,
    )
    if kind is SignalClass.BLOCK:
        return _take_block(state, signal, rules)
    if kind is SignalClass.THROTTLE:
        return _take_throttle(state, signal, rules)
    return state, []


def _take_block(
    state: RouteState, signal: RouteSignal, rules: MxRuleSet
) -> tuple[RouteState, list[MxPolicyChange]]:
    suspension = rules.timings(state.rule_id).suspension
    until = signal.event_time + suspension.period
    if until <= state.clock:
        return state, []  # a late block whose suspension would already be over
    detail = _describe(signal)
    if state.status is RouteStatus.SUSPENDED:
        if state.until is not None and until <= state.until:
            return state, []
        new_state = _changed(
            state,
            reason=ChangeReason.SUSPENDED,
            detail=detail,
            until=until,
            at=state.clock,
            cause=signal.event_id,
        )
        return new_state, [policy_of(new_state, rules, state)]
    window_start = state.clock - suspension.window
    if signal.event_time <= window_start:
        return state, []  # too late to count
    recent = tuple(
        sorted((*(t for t in state.recent_blocks if t > window_start), signal.event_time))
    )
    if len(recent) < suspension.threshold:
        return state.model_copy(update={"recent_blocks": recent}), []
    if suspension.threshold > 1:
        detail = (
            f"{len(recent)} reputation blocks within {format_duration(suspension.window)}"
            f" (last: {detail})"
        )
    new_state = _changed(
        state,
        level=max(1, state.level - suspension.step_down),
        status=RouteStatus.SUSPENDED,
        reason=ChangeReason.SUSPENDED,
        detail=detail,
        until=until,
        at=state.clock,
        cause=signal.event_id,
    ).model_copy(update={"recent_blocks": ()})
    return new_state, [policy_of(new_state, rules, state)]


def _take_throttle(
    state: RouteState, signal: RouteSignal, rules: MxRuleSet
) -> tuple[RouteState, list[MxPolicyChange]]:
    if state.status is RouteStatus.SUSPENDED:
        return state, []  # nothing is (or should be) sent; the block decides
    throttle = rules.timings(state.rule_id).throttle
    window_start = state.clock - throttle.window
    if signal.event_time <= window_start:
        return state, []  # too late to count
    recent = tuple(
        sorted((*(t for t in state.recent_throttles if t > window_start), signal.event_time))
    )
    last = max(state.last_throttle_at or signal.event_time, signal.event_time)
    if len(recent) < throttle.threshold:
        return state.model_copy(update={"recent_throttles": recent, "last_throttle_at": last}), []
    detail = (
        f"{len(recent)} throttling signals within {format_duration(throttle.window)}"
        f" (last: {_describe(signal)})"
    )
    stepped = state.status is RouteStatus.ACTIVE
    new_state = _changed(
        state,
        level=max(1, state.level - 1) if stepped else state.level,
        status=RouteStatus.THROTTLED,
        reason=ChangeReason.THROTTLED,
        detail=detail,
        until=state.clock + throttle.cooldown,
        at=state.clock,
        cause=signal.event_id,
    ).model_copy(update={"recent_throttles": (), "last_throttle_at": last})
    return new_state, [policy_of(new_state, rules, state)]


def _changed(
    state: RouteState,
    *,
    at: datetime,
    reason: ChangeReason,
    level: int | None = None,
    status: RouteStatus | None = None,
    detail: str | None = None,
    until: datetime | None = None,
    cause: str | None = None,
) -> RouteState:
    """``state`` after a change that took effect ``at``; ``until`` is cleared once active.

    A lengthened cool-down or suspension is a change too: ``changed_at`` (the published
    event time) moves to ``at``. The clean-period clock is not affected, since it only
    runs while active and restarts when the cool-down or suspension ends.
    """
    new_status = status or state.status
    return state.model_copy(
        update={
            "level": level if level is not None else state.level,
            "status": new_status,
            "reason": reason,
            "reason_detail": detail,
            "until": until if new_status is not RouteStatus.ACTIVE else None,
            "changed_at": at,
            "clock": max(state.clock, at),
            "cause_event_id": cause,
        }
    )


def _describe(signal: RouteSignal) -> str:
    parts = [str(part) for part in (signal.smtp_code, signal.status, signal.detail) if part]
    return " ".join(parts) or "no code"


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- snapshots


def dump_snapshot(states: Iterable[RouteState]) -> str:
    """Route states as JSON (``{"routes": [...]}``), e.g. for ``mx show --state``."""
    routes = [state.model_dump(mode="json") for state in states]
    return json.dumps({"routes": routes}, indent=2, sort_keys=True)


def load_snapshot(text: str) -> dict[str, RouteState]:
    """Route states by route key from :func:`dump_snapshot`'s JSON (or a bare list / one state)."""
    document = json.loads(text)
    if isinstance(document, Mapping) and "routes" in document:
        items = document["routes"]
    elif isinstance(document, list):
        items = document
    else:
        items = [document]
    states = [RouteState.model_validate(item) for item in items]
    return {state.route.key: state for state in states}
