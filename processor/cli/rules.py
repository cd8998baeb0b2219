"""``bounce-processor rules``: lint, test, explain and show the version of a rule set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from processor.intake.record import BounceRecord, RecordKind
from processor.qualify.engine import Engine
from processor.qualify.lint import lint_dir, run_examples
from processor.qualify.loader import RuleSetError, default_rules_dir, load_ruleset

_DIR = click.argument("rules_dir", required=False, type=click.Path(file_okay=False, path_type=Path))


def _load_or_exit(rules_dir: Path | None) -> Engine:
    try:
        return Engine(load_ruleset(rules_dir))
    except RuleSetError as exc:
        for p in exc.problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(2)


@click.group()
def rules() -> None:
    """Qualification rule sets (default folder: $BOUNCE_RULES_DIR or ./rules)."""


@rules.command()
@_DIR
def lint(rules_dir: Path | None) -> None:
    """Check a rule set: schema, regex safety, duplicates, shadowing, examples."""
    path = rules_dir or default_rules_dir()
    ruleset, problems = lint_dir(path)
    for p in problems:
        click.echo(f"error: {p}", err=True)
    if problems:
        click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    assert ruleset is not None
    click.echo(f"{path}: {len(ruleset.rules)} rules OK, version {ruleset.version}")


@rules.command()
@_DIR
def test(rules_dir: Path | None) -> None:
    """Run every rule's examples and counter-examples against it."""
    engine = _load_or_exit(rules_dir)
    report = run_examples(engine.ruleset)
    for p in report.failures:
        click.echo(f"FAIL {p}", err=True)
    # informative: examples another rule decides with a different detail
    notes = 0
    for rule in engine.rules:
        r = rule.loaded.rule
        scope = r.scope
        if r.field.value != "diagnostic" or scope.recipient_domains or scope.mx:
            continue
        if scope.reporting_mta or scope.smtp_commands or scope.statuses or scope.diagnostic_types:
            continue  # the example alone does not carry that context
        kind = RecordKind(scope.kinds[0]) if scope.kinds else RecordKind.SMTP
        for ex in r.examples:
            q = engine.qualify(BounceRecord(kind=kind, diagnostic=ex))
            if q.detail != r.detail:
                notes += 1
                click.echo(f"note: {r.id}: example {ex!r} is decided by {q.rule_id} ({q.detail})")
    status = "FAILED" if report.failures else "ok"
    click.echo(
        f"{report.checked} examples checked, {len(report.failures)} failure(s), "
        f"{notes} note(s): {status} ({engine.ruleset.version})"
    )
    if report.failures:
        sys.exit(1)


@rules.command()
@click.argument("text")
@click.option("--dir", "rules_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--status", help="Enhanced status code of the record (e.g. 5.1.1).")
@click.option("--code", "smtp_code", type=int, help="SMTP reply code of the record.")
@click.option("--recipient", help="Recipient address (for scoped rules).")
@click.option("--mx", help="MX / remote host (for scoped rules).")
@click.option("--subject", help="Subject of the bounce message.")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in RecordKind if k is not RecordKind.UNPARSEABLE]),
    default=RecordKind.SMTP.value,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def explain(
    text: str,
    rules_dir: Path | None,
    status: str | None,
    smtp_code: int | None,
    recipient: str | None,
    mx: str | None,
    subject: str | None,
    kind: str,
    as_json: bool,
) -> None:
    """Show the deciding rule for TEXT (a diagnostic) and the other candidates."""
    engine = _load_or_exit(rules_dir)
    record = BounceRecord(
        kind=RecordKind(kind),
        diagnostic=text,
        status=status,
        smtp_code=smtp_code,
        recipient=recipient,
        mx=mx,
        bounce_subject=subject,
        feedback_type=text if kind == RecordKind.ARF.value else None,
    )
    explanation = engine.explain(record)
    if as_json:
        doc = {
            "qualification": explanation.qualification.model_dump(mode="json"),
            "deciding": explanation.deciding.rule_id,
            "candidates": [
                {
                    "rule_id": c.rule_id,
                    "step": c.step,
                    "detail": c.qualification.detail,
                    "matched": c.matched,
                }
                for c in explanation.others
            ],
            "timeouts": explanation.timeouts,
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(explanation.render())


@rules.command()
@_DIR
def version(rules_dir: Path | None) -> None:
    """Print the rule set's version (<semver>+<content hash>)."""
    click.echo(_load_or_exit(rules_dir).ruleset.version)
