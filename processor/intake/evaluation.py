"""Classification rows and their comparison with a labelled corpus (``expected.tsv``).

Pure functions: the command line reads files and prints; everything in between is here.
A *row* is the JSON object ``bounce-processor classify`` writes for one failed recipient
(or one unparseable input). :func:`evaluate` parses every sample named in an
``expected.tsv`` (the format of ``../shared/corpus``), qualifies the records with the
given function and measures agreement per field, overall and per MTA family.

Two kinds of label say nothing about the message and are not compared (both counted in
the report's first line): Sisimai's pseudo status codes ``x.0.9nn`` (its reason, not a
status of the bounce) and its placeholder recipient ``...@libsisimai.org.invalid`` (no
recipient found). A recipient label that occurs nowhere in its sample as a whole address
(truncated or mistyped) still counts as a miss, marked as such among the mismatches.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.intake import parse
from processor.intake.record import BounceRecord, ParseResult
from processor.intake.sources import read_inputs
from processor.qualify.result import Qualification

Qualify = Callable[[BounceRecord], Qualification | None]

QUALIFICATION_KEYS = ("failure_type", "reason", "detail", "rule_id", "ruleset_version")
FIELDS = ("recipient", "status", "reply_code", "detail", "feedback_type")
# Sisimai reports a complaint whose recipient it could not find under this placeholder:
# the label then says nothing about the recipient, so that field is not compared.
SISIMAI_UNKNOWN_RECIPIENT_DOMAIN = "libsisimai.org.invalid"


def record_row(
    source: str, index: int, record: BounceRecord, qualification: Qualification | None
) -> dict[str, Any]:
    """The JSON Lines object for one record."""
    row: dict[str, Any] = {
        "source": source,
        "index": index,
        "kind": record.kind.value,
        "recipient": record.recipient,
        "action": record.action,
        "status": record.status,
        "smtp_code": record.smtp_code,
        "diagnostic": record.diagnostic,
        "smtp_command": record.smtp_command,
        "remote_mta": record.remote_mta,
        "reporting_mta": record.reporting_mta,
        "feedback_type": record.feedback_type,
        "dialect": record.dialect,
        "event_time": record.event_time.isoformat() if record.event_time else None,
        "original_message_id": record.original_message_id,
    }
    if record.correlation:
        row["correlation"] = record.correlation
    if record.metadata:
        row["metadata"] = record.metadata
    for key in QUALIFICATION_KEYS:
        value: Any = getattr(qualification, key, None) if qualification is not None else None
        row[key] = value.value if hasattr(value, "value") else value
    return row


def result_rows(
    source: str, result: ParseResult, qualify: Qualify, *, first_index: int = 1
) -> list[dict[str, Any]]:
    """Rows for one parse result: one per record, or one ``unparseable`` row."""
    if result.error is not None:
        return [
            {
                "source": source,
                "index": first_index,
                "kind": "unparseable",
                "recipient": None,
                "error_class": result.error.error_class,
                "error": result.error.message,
                **{key: None for key in QUALIFICATION_KEYS},
            }
        ]
    return [
        record_row(source, first_index + offset, record, qualify(record))
        for offset, record in enumerate(result.records)
    ]


# -- evaluation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    sample: str
    index: int
    engine: str
    recipient: str
    status: str
    reply_code: str
    reason: str
    reason_v5_6: str
    feedback_type: str


@dataclass
class Tally:
    """Agreement counts for one field: ``agreed`` of ``total`` comparable rows."""

    agreed: int = 0
    total: int = 0

    @property
    def ratio(self) -> float:
        return self.agreed / self.total if self.total else 1.0


@dataclass
class Mismatch:
    sample: str
    index: int
    engine: str
    field: str
    expected: str
    actual: str
    note: str = ""


@dataclass
class EvaluationReport:
    samples: int = 0
    rows: int = 0
    crashed: list[str] = field(default_factory=list)
    pseudo_status_rows: int = 0
    placeholder_recipient_rows: int = 0
    overall: dict[str, Tally] = field(default_factory=lambda: {f: Tally() for f in FIELDS})
    by_engine: dict[str, dict[str, Tally]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def tallies(t: dict[str, Tally]) -> dict[str, Any]:
            return {
                name: {"agreed": v.agreed, "total": v.total, "ratio": round(v.ratio, 4)}
                for name, v in t.items()
            }

        return {
            "samples": self.samples,
            "rows": self.rows,
            "crashed": self.crashed,
            "pseudo_status_rows": self.pseudo_status_rows,
            "placeholder_recipient_rows": self.placeholder_recipient_rows,
            "overall": tallies(self.overall),
            "by_engine": {engine: tallies(t) for engine, t in sorted(self.by_engine.items())},
            "mismatches": [vars(m) for m in self.mismatches],
        }


def read_expected(path: Path) -> list[Expected]:
    """Rows of an ``expected.tsv``."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        return [
            Expected(
                sample=row["sample"],
                index=int(row["index"]),
                engine=row.get("engine", "") or "",
                recipient=(row.get("recipient") or "").strip().lower(),
                status=row.get("status") or "",
                reply_code=row.get("replycode") or "",
                reason=row.get("reason") or "",
                reason_v5_6=row.get("reason_v5_6") or row.get("reason") or "",
                feedback_type=row.get("feedbacktype") or "",
            )
            for row in reader
        ]


def evaluate(directory: Path, qualify: Qualify) -> EvaluationReport:
    """Classify every sample of ``directory/expected.tsv`` and compare with the labels."""
    expected = read_expected(directory / "expected.tsv")
    by_sample: dict[str, list[Expected]] = defaultdict(list)
    for row in expected:
        by_sample[row.sample].append(row)
    report = EvaluationReport(samples=len(by_sample), rows=len(expected))
    for sample, rows in by_sample.items():
        try:
            produced: list[dict[str, Any]] = []
            for source in read_inputs(str(directory / sample)):
                result = parse(source.data, format="json" if source.format == "json" else None)
                produced += result_rows(sample, result, qualify, first_index=len(produced) + 1)
        except Exception as exc:  # a crash is a finding, not a stop
            report.crashed.append(f"{sample}: {type(exc).__name__}: {exc}")
            produced = []
        for row in sorted(rows, key=lambda r: r.index):
            matched = _matching_row(row, produced)
            # Other fields are still compared when only the address differs: with the row
            # in the same position.
            same_position = produced[row.index - 1] if 0 < row.index <= len(produced) else None
            _compare(report, row, matched, matched or same_position, directory / sample)
    return report


def _is_placeholder(recipient: str) -> bool:
    return recipient.endswith("@" + SISIMAI_UNKNOWN_RECIPIENT_DOMAIN)


def _absent_label_note(address: str, sample: Path) -> str:
    """For a recipient mismatch: say so when the expected address occurs nowhere in the
    sample as a whole address (a truncated or mistyped label), to tell it from a miss."""
    try:
        text = sample.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
    whole = rf"(?<![\w.+-]){re.escape(address)}(?![\w-]|\.\w)"
    if re.search(whole, text, re.IGNORECASE):
        return ""
    return "the expected address occurs nowhere in the sample"


def _matching_row(expected: Expected, produced: list[dict[str, Any]]) -> dict[str, Any] | None:
    for row in produced:
        if row.get("recipient") == expected.recipient:
            return row
    if _is_placeholder(expected.recipient):
        for row in produced:
            if row.get("recipient") is None and row.get("kind") != "unparseable":
                return row
    return None


def _compare(
    report: EvaluationReport,
    expected: Expected,
    matched: dict[str, Any] | None,
    compared: dict[str, Any] | None,
    sample: Path,
) -> None:
    engine_tallies = report.by_engine.setdefault(expected.engine, {f: Tally() for f in FIELDS})
    actual = compared or {}
    checks: list[tuple[str, bool, str, str]] = [
        ("recipient", matched is not None, expected.recipient, str(actual.get("recipient") or "")),
        (
            "status",
            _text(actual.get("status")) == expected.status,
            expected.status,
            _text(actual.get("status")),
        ),
        (
            "reply_code",
            _text(actual.get("smtp_code")) == expected.reply_code,
            expected.reply_code,
            _text(actual.get("smtp_code")),
        ),
        (
            "detail",
            _text(actual.get("detail")) in {expected.reason_v5_6, expected.reason},
            expected.reason_v5_6,
            _text(actual.get("detail")),
        ),
    ]
    if expected.feedback_type:
        checks.append(
            (
                "feedback_type",
                _text(actual.get("feedback_type")) == expected.feedback_type,
                expected.feedback_type,
                _text(actual.get("feedback_type")),
            )
        )
    if _is_sisimai_pseudo_status(expected.status):
        # Sisimai's own x.0.9nn codes stand for its reason when the bounce has no status:
        # nothing in the message to agree with, so status is not compared on these rows.
        checks = [check for check in checks if check[0] != "status"]
        report.pseudo_status_rows += 1
    if _is_placeholder(expected.recipient):
        # Sisimai found no recipient: nothing to agree with (finding one is no error).
        checks = [check for check in checks if check[0] != "recipient"]
        report.placeholder_recipient_rows += 1
    for name, agreed, want, got in checks:
        for tallies in (report.overall, engine_tallies):
            tallies[name].total += 1
            tallies[name].agreed += int(agreed)
        if not agreed:
            note = _absent_label_note(want, sample) if name == "recipient" else ""
            report.mismatches.append(
                Mismatch(expected.sample, expected.index, expected.engine, name, want, got, note)
            )


def _is_sisimai_pseudo_status(status: str) -> bool:
    return bool(re.fullmatch(r"[45]\.0\.9\d\d", status))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def format_report(report: EvaluationReport, *, show_mismatches: bool = True) -> Iterable[str]:
    """Human-readable lines: overall agreement, per engine, then the mismatches."""
    yield (
        f"samples: {report.samples}  expected rows: {report.rows}  crashed: {len(report.crashed)}"
        f"  status not compared (Sisimai pseudo code x.0.9nn): {report.pseudo_status_rows}"
        f"  recipient not compared (Sisimai placeholder): {report.placeholder_recipient_rows}"
    )
    header = f"{'engine':<18}" + "".join(f"{name:>16}" for name in FIELDS)
    yield header
    yield _tally_line("OVERALL", report.overall)
    for engine, tallies in sorted(report.by_engine.items()):
        yield _tally_line(engine, tallies)
    for crash in report.crashed:
        yield f"CRASH {crash}"
    if show_mismatches and report.mismatches:
        yield ""
        yield "mismatches (sample#index engine field: expected -> actual):"
        for m in report.mismatches:
            note = f"  ({m.note})" if m.note else ""
            yield (
                f"  {m.sample}#{m.index} {m.engine} {m.field}: {m.expected!r} -> {m.actual!r}{note}"
            )


def _tally_line(label: str, tallies: dict[str, Tally]) -> str:
    cells = []
    for name in FIELDS:
        tally = tallies[name]
        cells.append(
            f"{tally.agreed:>4}/{tally.total:<4} {tally.ratio:6.1%}"
            if tally.total
            else f"{'-':>16}"
        )
    return f"{label:<18}" + "".join(f"{cell:>16}" for cell in cells)
