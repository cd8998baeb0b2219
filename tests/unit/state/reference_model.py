"""A deliberately small reference model of the quarantine policy, for property tests.

Written apart from ``processor.state.quarantine``: mutable dicts, integer milliseconds,
one flat function per kind of input, no shared helpers. It reads like the rules in
``rules/quarantine.yaml``; if it and the real implementation ever disagree, one of them
misreads the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from processor.state.quarantine_policy import QuarantinePolicy

NEVER = None


def _ms(duration: timedelta | None) -> int | None:
    return None if duration is None else duration // timedelta(milliseconds=1)


@dataclass
class ModelSignal:
    address: str
    time: int  # epoch ms
    failure_type: str
    reason: str
    rule_id: str = "r"
    ruleset_version: str = "rs"
    success: bool = False
    delay: bool = False  # a delay report (Action: delayed)


def fresh(address: str) -> dict[str, Any]:
    return {
        "address": address,
        "status": "valid",
        "count": 0,
        "first": None,
        "last": None,
        "lapse": None,
        "quarantined_at": None,
        "denylisted_at": None,
        "release": None,
        "why": None,
        "errors": [],
        "clock": None,
        "change": None,
        "ruleset": "",
        "policy": "",
    }


class ReferenceModel:
    def __init__(self, policy: QuarantinePolicy) -> None:
        self.version = policy.version
        self.spacing = _ms(policy.min_spacing)
        self.reset_after = _ms(policy.reset_after)
        self.keep = policy.keep_errors
        self.success_resets = policy.success_resets
        self.count_delays = policy.count_delays
        self.counting_types = {str(t) for t in policy.counting_failure_types}
        self.rules = {
            str(reason): (str(rule.action), rule.quarantine_at, _ms(rule.release_after))
            for reason, rule in policy.reasons.items()
        }
        self.addresses: dict[str, dict[str, Any]] = {}

    # --- timers -------------------------------------------------------------------
    def _due(self, a: dict[str, Any]) -> int | None:
        if a["status"] in ("quarantined", "denylisted"):
            return a["release"]
        if a["status"] == "with_errors":
            return a["lapse"]
        return None

    def _tick(self, a: dict[str, Any], now: int) -> None:
        due = self._due(a)
        if due is None or now < due:
            return
        if a["status"] in ("quarantined", "denylisted"):
            a["change"] = "released"
            a["quarantined_at"] = a["denylisted_at"] = a["release"] = a["why"] = None
        else:
            a["change"] = "counter_reset"
        a["status"] = "valid"
        a["count"] = 0
        a["first"] = a["last"] = a["lapse"] = None
        a["clock"] = due
        a["policy"] = self.version

    def scan(self, now: int) -> None:
        for a in self.addresses.values():
            self._tick(a, now)

    # --- signals ------------------------------------------------------------------
    def signal(self, s: ModelSignal) -> None:
        a = self.addresses.get(s.address) or fresh(s.address)
        now = s.time if a["clock"] is None else max(s.time, a["clock"])
        self._tick(a, now)
        action, threshold, duration = self.rules.get(s.reason, ("ignore", None, None))
        if s.success:
            changed = self._success(a, s)
        elif s.delay and not self.count_delays:
            changed = False
        elif action == "denylist":
            changed = self._complaint(a, s, now, duration)
        elif action == "count" and s.failure_type in self.counting_types:
            changed = self._error(a, s, now, threshold, duration)
        else:
            changed = False
        if changed:
            a["clock"] = now
            a["ruleset"] = s.ruleset_version
            a["policy"] = self.version
        if a["change"] is not None:  # the address changed at some point: it exists
            self.addresses[s.address] = a

    def _remember(self, a: dict[str, Any], s: ModelSignal) -> None:
        a["errors"] = [*a["errors"], (s.reason, s.rule_id, s.time)][-self.keep :]

    def _success(self, a: dict[str, Any], s: ModelSignal) -> bool:
        if not self.success_resets or a["status"] != "with_errors":
            return False
        if s.time <= a["last"]:
            return False
        a["status"] = "valid"
        a["count"] = 0
        a["first"] = a["last"] = a["lapse"] = None
        a["change"] = "success_reset"
        return True

    def _complaint(self, a: dict[str, Any], s: ModelSignal, now: int, duration: int | None) -> bool:
        until = NEVER if duration is None else now + duration
        if a["status"] == "denylisted":
            if a["release"] is NEVER:
                return False
            if until is not NEVER and until <= a["release"]:
                return False
            a["release"] = until
        else:
            a["status"] = "denylisted"
            a["quarantined_at"] = None
            a["denylisted_at"] = now
            a["release"] = until
        a["why"] = s.reason
        a["change"] = "denylisted"
        self._remember(a, s)
        return True

    def _error(
        self,
        a: dict[str, Any],
        s: ModelSignal,
        now: int,
        threshold: int | None,
        duration: int | None,
    ) -> bool:
        if a["lapse"] is not None and now >= a["lapse"]:
            a["count"] = 0
            a["first"] = a["last"] = a["lapse"] = None
        counted = a["last"] is None or self.spacing is None or now - a["last"] >= self.spacing
        if counted:
            a["count"] += 1
            if a["first"] is None:
                a["first"] = now
            a["last"] = now
            a["lapse"] = None if self.reset_after is None else now + self.reset_after

        quarantines = False
        if threshold is not None and a["count"] >= threshold:
            until = NEVER if duration is None else now + duration
            if a["status"] == "quarantined":
                old = a["release"]
                if old is not NEVER and (until is NEVER or until > old):
                    a["release"] = until
                    a["why"] = s.reason
                    quarantines = True
            elif a["status"] != "denylisted":
                a["status"] = "quarantined"
                a["quarantined_at"] = now
                a["release"] = until
                a["why"] = s.reason
                quarantines = True
        if not counted and not quarantines:
            return False
        if a["status"] == "valid":
            a["status"] = "with_errors"
        a["change"] = "quarantined" if quarantines else "error_counted"
        self._remember(a, s)
        return True
