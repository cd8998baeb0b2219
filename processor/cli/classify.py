"""``bounce-processor classify`` and ``bounce-processor eval``: intake + qualification offline.

``classify`` reads .eml files, directories of them, maildirs, mbox files, JSON Lines
files of SMTP rejection records, or ``-`` (stdin), and writes one JSON object per failed
recipient (and per unparseable input). ``eval`` compares classification with a labelled
corpus. The logic lives in :mod:`processor.intake.evaluation`, input reading in
:mod:`processor.intake.sources` and the interim qualification (until the rule engine
lands) in :mod:`processor.intake.interim`; this module only wires them and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from processor.intake import IntakeOptions, parse
from processor.intake.evaluation import evaluate as run_evaluation
from processor.intake.evaluation import format_report, result_rows
from processor.intake.interim import (
    Qualify,
    RuleSetNotLoaded,
    interim_status_qualification,
    load_qualifier,
)
from processor.intake.record import ParseError, ParseResult
from processor.intake.sources import INPUT_FORMATS, read_inputs
from processor.ops.heap import settle_heap

__all__ = ["classify", "evaluate", "interim_status_qualification", "load_qualifier"]


def _qualifier() -> Qualify:
    """The qualifier, or a clear error (exit 1) when the rule set does not load."""
    try:
        return load_qualifier()
    except RuleSetNotLoaded as error:
        raise click.ClickException(str(error)) from error


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
    qualify = _qualifier()
    settle_heap()  # the engine lives as long as the run: out of every later collection
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
    qualify = _qualifier()
    settle_heap()
    report = run_evaluation(directory, qualify)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for line in format_report(report, show_mismatches=not no_mismatches):
        click.echo(line)
