"""``bounce-processor classify`` and ``bounce-processor eval``: intake + qualification offline.

``classify`` reads .eml files, directories of them, maildirs, mbox files, JSON Lines
files of SMTP rejection records, or ``-`` (stdin), and writes one JSON object per failed
recipient (and per unparseable input). ``eval`` compares classification with a labelled
corpus. The logic lives in :mod:`processor.intake.evaluation`; this module reads inputs
and prints.
"""

from __future__ import annotations

import json
import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from processor.intake import IntakeOptions, parse
from processor.intake.evaluation import (
    Qualify,
    evaluate as run_evaluation,
    format_report,
    result_rows,
)
from processor.intake.record import BounceRecord, RecordKind
from processor.qualify.result import FailureType, Qualification, Reason

INPUT_FORMATS = ("auto", "email", "jsonl", "mbox", "maildir")
_EMAIL_SUFFIXES = frozenset({".eml", ".msg", ".email", ".txt"})
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
_MBOX_SUFFIXES = frozenset({".mbox", ".mbx"})


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
    out = click.get_text_stream("stdout")
    for path in paths:
        for source, data, kind in read_inputs(path, input_format):
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


# -- inputs --------------------------------------------------------------------------------


def read_inputs(path: str, input_format: str) -> Iterator[tuple[str, bytes, str]]:
    """(source, bytes, "email" | "json") for every input found at ``path``."""
    if path == "-":
        yield from _read_stream("-", sys.stdin.buffer.read(), input_format)
        return
    target = Path(path)
    if target.is_dir():
        if input_format == "maildir" or (
            input_format == "auto" and all((target / sub).is_dir() for sub in ("cur", "new"))
        ):
            yield from _read_maildir(target)
            return
        for child in sorted(p for p in target.rglob("*") if p.is_file()):
            suffix = child.suffix.lower()
            if suffix in _EMAIL_SUFFIXES | _JSONL_SUFFIXES | _MBOX_SUFFIXES:
                yield from read_inputs(str(child), input_format)
        return
    if not target.exists():
        yield path, b"", "missing"
        return
    suffix = target.suffix.lower()
    data = target.read_bytes()
    if input_format == "mbox" or (input_format == "auto" and suffix in _MBOX_SUFFIXES):
        yield from _read_mbox(target)
    elif input_format == "jsonl" or (input_format == "auto" and suffix in _JSONL_SUFFIXES):
        yield from _read_jsonl(path, data)
    else:
        yield from _read_stream(path, data, input_format)


def _read_stream(source: str, data: bytes, input_format: str) -> Iterator[tuple[str, bytes, str]]:
    head = data.lstrip()[:5]
    if input_format == "jsonl" or (input_format == "auto" and head[:1] == b"{"):
        yield from _read_jsonl(source, data)
    elif input_format == "mbox" or (input_format == "auto" and head == b"From " and _is_mbox(data)):
        yield from _read_mbox_bytes(source, data)
    else:
        yield source, data, "email"


def _is_mbox(data: bytes) -> bool:
    return data.count(b"\nFrom ") >= 1


def _read_jsonl(source: str, data: bytes) -> Iterator[tuple[str, bytes, str]]:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield f"{source}:{number}", line, "json"


def _read_mbox(path: Path) -> Iterator[tuple[str, bytes, str]]:
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            yield f"{path}:{number}", box.get_bytes(key), "email"
    finally:
        box.close()


def _read_mbox_bytes(source: str, data: bytes) -> Iterator[tuple[str, bytes, str]]:
    messages = data.split(b"\nFrom ")
    for number, chunk in enumerate(messages, start=1):
        body = chunk if number == 1 else b"From " + chunk
        _, _, rest = body.partition(b"\n")  # drop the mbox "From " separator line
        yield f"{source}:{number}", rest, "email"


def _read_maildir(path: Path) -> Iterator[tuple[str, bytes, str]]:
    box = mailbox.Maildir(path, create=False)
    for key in sorted(box.iterkeys()):
        yield f"{path}/{key}", box.get_bytes(key), "email"


# -- qualification -------------------------------------------------------------------------


def load_qualifier() -> Qualify:
    """The rule engine's ``qualify``; the interim status-code mapping until it exists."""
    try:
        from processor.qualify import load_engine  # type: ignore[attr-defined]

        engine = load_engine(rules_dir=None)
        return engine.qualify  # type: ignore[no-any-return]
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
