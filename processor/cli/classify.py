"""``bounce-processor classify`` and ``bounce-processor eval``: intake + qualification offline.

``classify`` reads .eml files, directories of them, maildirs, mbox files, JSON Lines
files of SMTP rejection records, or ``-`` (stdin), and writes one JSON object per failed
recipient (and per unparseable input). ``eval`` compares classification with a labelled
corpus. The logic lives in :mod:`processor.intake.evaluation`; this module reads inputs
and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from processor.intake import IntakeOptions, parse
from processor.intake.evaluation import (
    Qualify,
    format_report,
    result_rows,
)
from processor.intake.evaluation import (
    evaluate as run_evaluation,
)
from processor.intake.record import BounceRecord, ParseError, ParseResult, RecordKind
from processor.intake.sources import INPUT_FORMATS, read_inputs
from processor.qualify.result import FailureType, Qualification, Reason


@click.command("classify")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(INPUT_FORMATS),
    default="auto",
    show_default=True,
    help="Force the input format instead of guessing it from the path and content.",
)
@click.option("--max-bytes", type=int, default=None, help="Byte cap per input (default 10 MiB).")
def classify(paths: tuple[str, ...], input_format: str, max_bytes: int | None) -> None:
    """Parse and qualify bounces in PATH... and print JSON Lines, one per failed recipient."""
    options = IntakeOptions(max_bytes=max_bytes) if max_bytes else IntakeOptions()
    qualify = load_qualifier()
    out = sys.stdout
    stdin = sys.stdin.buffer.read() if "-" in paths else None
    for path in paths:
        for source, data, kind in read_inputs(path, input_format, stdin=stdin):
            if kind == "missing":
                result = ParseResult(
                    error=ParseError(error_class="not_found", message="no such file")
                )
            else:
                result = parse(data, options=options, format="json" if kind == "json" else "email")
            for row in result_rows(source, result, qualify):
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


@click.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--no-mismatches", is_flag=True, help="Only print the agreement tables.")
def evaluate(directory: Path, as_json: bool, no_mismatches: bool) -> None:
    """Classify DIRECTORY's samples and compare with DIRECTORY/expected.tsv."""
    if not (directory / "expected.tsv").is_file():
        raise click.UsageError(f"{directory}/expected.tsv not found")
    report = run_evaluation(directory, load_qualifier())
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for line in format_report(report, show_mismatches=not no_mismatches):
        click.echo(line)


# -- qualification -------------------------------------------------------------------------


def load_qualifier() -> Qualify:
    """The rule engine's ``qualify``; the interim status-code mapping until it exists."""
    try:
        from processor.qualify import load_engine  # type: ignore[attr-defined,unused-ignore]

        engine = load_engine(rules_dir=None)
        qualify: Qualify = engine.qualify
        return qualify
    except (ImportError, AttributeError):
        return interim_status_qualification


INTERIM_RULESET_VERSION = "interim-status-map"
# Interim fallback (until processor.qualify lands): RFC 3463 status → Sisimai detail.
_INTERIM_BY_STATUS: dict[str, tuple[str, Reason, FailureType]] = {
    "5.1.1": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.0": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.6": ("hasmoved", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.1.2": ("hostunknown", Reason.INVALID_DOMAIN, FailureType.SOFT),
    "5.1.10": ("userunknown", Reason.USER_UNKNOWN, FailureType.HARD),
    "5.2.1": ("suspend", Reason.INACTIVE_MAILBOX, FailureType.SOFT),
    "5.2.2": ("mailboxfull", Reason.MAILBOX_FULL, FailureType.SOFT),
    "4.2.2": ("mailboxfull", Reason.MAILBOX_FULL, FailureType.SOFT),
    "5.2.3": ("emailtoolarge", Reason.REFUSED, FailureType.SOFT),
    "5.3.4": ("emailtoolarge", Reason.REFUSED, FailureType.SOFT),
    "4.4.7": ("expired", Reason.UNREACHABLE, FailureType.SOFT),
    "5.4.7": ("expired", Reason.UNREACHABLE, FailureType.SOFT),
    "5.7.26": ("authfailure", Reason.REFUSED, FailureType.SOFT),
    "5.7.1": ("blocked", Reason.REFUSED, FailureType.SOFT),
}


def interim_status_qualification(record: BounceRecord) -> Qualification:
    """Interim fallback: a detail from the record kind and status code alone."""
    if record.kind is RecordKind.ARF:
        detail, reason, failure = "feedback", Reason.COMPLAINT, FailureType.HARD
    elif record.kind is RecordKind.AUTOREPLY:
        detail, reason, failure = "vacation", Reason.AUTO_REPLY, FailureType.IGNORED
    elif record.kind is RecordKind.DELIVERED:
        detail, reason, failure = "delivered", Reason.NOT_DEFINED, FailureType.IGNORED
    elif record.status in _INTERIM_BY_STATUS:
        detail, reason, failure = _INTERIM_BY_STATUS[record.status]
    elif record.status and record.status.startswith("4."):
        detail, reason, failure = "undefined", Reason.NOT_DEFINED, FailureType.SOFT
    else:
        detail, reason, failure = "undefined", Reason.NOT_DEFINED, FailureType.UNQUALIFIED
    return Qualification(
        failure_type=failure,
        reason=reason,
        detail=detail,
        rule_id=f"interim:status:{record.status or 'none'}",
        ruleset_version=INTERIM_RULESET_VERSION,
    )
