"""What a rule change would do: the same records qualified under two rule sets.

Pure: records in, a :class:`RuleDiff` out. For each record both qualifications are
compared; the report gives the transition matrix of (type, reason) before → after, what
each rule newly takes or loses (with example diagnostics), and the quarantine impact:
the quarantine policy of each rule set is run over the records in order, and addresses
whose final status differs are listed. ``bounce-processor rules diff`` feeds it from
files or from a topic's recent history; a replay with the candidate rules reproduces
exactly the transitions it predicts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from processor.intake.record import BounceRecord, RecordKind
from processor.qualify.result import Qualification
from processor.state import quarantine as q
from processor.state.quarantine_policy import QuarantinePolicy
from processor.state.signal import AddressSignal

Outcome = tuple[str, str]  # (failure_type, reason)
EXAMPLES_PER_RULE = 3


class Qualifier(Protocol):
    def qualify(self, record: BounceRecord) -> Qualification: ...


@dataclass(frozen=True)
class Side:
    """One rule set: its engine, its quarantine policy and its version."""

    engine: Qualifier
    policy: QuarantinePolicy
    version: str


@dataclass(frozen=True)
class DiffInput:
    source: str  # where the record came from (file:line, topic-partition-offset)
    record: BounceRecord
    fallback_time: datetime  # when the record carries no time of its own


@dataclass
class RuleChange:
    takes: int = 0
    loses: int = 0
    examples_taken: list[str] = field(default_factory=list)
    examples_lost: list[str] = field(default_factory=list)


@dataclass
class RuleDiff:
    base_version: str
    candidate_version: str
    records: int = 0
    transitions: Counter[tuple[Outcome, Outcome]] = field(default_factory=Counter)
    rules: dict[str, RuleChange] = field(default_factory=lambda: defaultdict(RuleChange))
    quarantine: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    changed_records: list[tuple[str, Outcome, Outcome]] = field(default_factory=list)

    @property
    def changes(self) -> int:
        """Records whose (type, reason) differ: the figure ``--max-changes`` budgets."""
        return sum(n for (before, after), n in self.transitions.items() if before != after)

    @property
    def quarantine_changes(self) -> int:
        return sum(len(v) for v in self.quarantine.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "base_version": self.base_version,
            "candidate_version": self.candidate_version,
            "records": self.records,
            "changes": self.changes,
            "transitions": [
                {"before": list(b), "after": list(a), "count": n}
                for (b, a), n in sorted(self.transitions.items(), key=lambda i: -i[1])
            ],
            "rules": {
                rule: vars(change)
                for rule, change in sorted(self.rules.items())
                if change.takes or change.loses
            },
            "quarantine": {k: sorted(v) for k, v in sorted(self.quarantine.items())},
        }

    def render(self, markdown: bool = False) -> str:
        lines: list[str] = []
        head = (
            f"rule diff: {self.base_version} -> {self.candidate_version} on {self.records} records"
        )
        lines.append(f"## {head}" if markdown else head)
        lines.append(f"{self.changes} record(s) change type or reason")
        lines.append("")
        rows = [
            (f"{b[0]}/{b[1]}", f"{a[0]}/{a[1]}", str(n))
            for (b, a), n in sorted(self.transitions.items(), key=lambda i: -i[1])
            if b != a
        ]
        lines += _table(["before", "after", "count"], rows, markdown, "transitions (changed only)")
        rule_rows = [
            (
                rule,
                f"+{c.takes}",
                f"-{c.loses}",
                "; ".join((c.examples_taken or c.examples_lost)[:2]),
            )
            for rule, c in sorted(self.rules.items(), key=lambda i: -(i[1].takes + i[1].loses))
            if c.takes or c.loses
        ]
        lines += _table(["rule", "takes", "loses", "examples"], rule_rows, markdown, "per rule")
        q_rows = [
            (kind, str(len(v)), ", ".join(sorted(v)[:5]))
            for kind, v in sorted(self.quarantine.items())
        ]
        lines += _table(["quarantine impact", "addresses", "e.g."], q_rows, markdown, "quarantine")
        return "\n".join(lines)


def _table(
    header: list[str], rows: Sequence[tuple[str, ...]], markdown: bool, title: str
) -> list[str]:
    if not rows:
        return [f"{title}: none", ""]
    widths = [max(len(h), *(len(r[i][:70]) for r in rows)) for i, h in enumerate(header)]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(c[:70].replace("|", "\\|") for c in row) + " |" for row in rows]
    else:
        out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        out += [
            "  ".join(c[:70].ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
        ]
    return [f"{title}:", *out, ""]


def _signal(item: DiffInput, qualification: Qualification) -> AddressSignal | None:
    record = item.record
    if not record.recipient:
        return None
    return AddressSignal(
        address=record.recipient.strip().lower(),
        event_time=record.event_time
        or record.last_attempt_date
        or record.arrival_date
        or item.fallback_time,
        failure_type=qualification.failure_type,
        reason=qualification.reason,
        rule_id=qualification.rule_id,
        ruleset_version=qualification.ruleset_version,
        is_success=record.kind is RecordKind.DELIVERED,
        is_delay=(record.action or "").lower() == "delayed",
    )


def _final_status(states: dict[str, q.AddressState], address: str) -> str:
    state = states.get(address)
    return state.status.value if state is not None else q.Status.VALID.value


def diff(inputs: Iterable[DiffInput], base: Side, candidate: Side) -> RuleDiff:
    report = RuleDiff(base.version, candidate.version)
    states: dict[str, dict[str, q.AddressState]] = {"base": {}, "candidate": {}}
    for item in inputs:
        before = base.engine.qualify(item.record)
        after = candidate.engine.qualify(item.record)
        report.records += 1
        b: Outcome = (before.failure_type.value, before.reason.value)
        a: Outcome = (after.failure_type.value, after.reason.value)
        report.transitions[(b, a)] += 1
        if b != a:
            report.changed_records.append((item.source, b, a))
        if before.rule_id != after.rule_id or b != a:
            text = (item.record.diagnostic or "")[:120]
            taken = report.rules[after.rule_id]
            taken.takes += 1
            if len(taken.examples_taken) < EXAMPLES_PER_RULE:
                taken.examples_taken.append(text)
            lost = report.rules[before.rule_id]
            lost.loses += 1
            if len(lost.examples_lost) < EXAMPLES_PER_RULE:
                lost.examples_lost.append(text)
        for side, qualification, policy in (
            ("base", before, base.policy),
            ("candidate", after, candidate.policy),
        ):
            signal = _signal(item, qualification)
            if signal is None:
                continue
            new_state, changed = q.apply(states[side].get(signal.address), signal, policy)
            if changed:
                states[side][signal.address] = new_state
    for address in sorted(set(states["base"]) | set(states["candidate"])):
        before_status = _final_status(states["base"], address)
        after_status = _final_status(states["candidate"], address)
        if before_status == after_status:
            continue
        for status, word in (("quarantined", "quarantined"), ("denylisted", "denylisted")):
            if after_status == status:
                report.quarantine[f"newly {word}"].append(address)
            elif before_status == status:
                report.quarantine[f"no longer {word}"].append(address)
        if "valid" in (before_status, after_status) and "with_errors" in (
            before_status,
            after_status,
        ):
            report.quarantine[f"{before_status} -> {after_status}"].append(address)
    return report


def dumps(report: RuleDiff) -> str:
    return json.dumps(report.to_json(), indent=2)
