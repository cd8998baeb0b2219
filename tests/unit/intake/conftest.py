"""Shared fixtures for intake tests: the labelled corpus location and message builders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from processor.intake.evaluation import EvaluationReport, Expected

REPO_ROOT = Path(__file__).resolve().parents[3]


def corpus_dir() -> Path:
    """``$BOUNCE_CORPUS_DIR`` or ``../shared/corpus`` beside the repository."""
    configured = os.environ.get("BOUNCE_CORPUS_DIR")
    return Path(configured) if configured else (REPO_ROOT / ".." / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not (path / "expected.tsv").is_file():
        pytest.skip(f"labelled corpus not found at {path}")
    return path


def message(headers: dict[str, str], body: str, *, newline: str = "\n") -> bytes:
    """An RFC 5322 message from headers and a body (``\\n`` in body become ``newline``)."""
    head = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return (head + "\n" + body).replace("\n", newline).encode("utf-8")


def missed(report: EvaluationReport, row: Expected, field: str) -> list[str]:
    """The mismatches of one expected row on one field (``expected -> actual``)."""
    return [
        f"{m.expected!r} -> {m.actual!r}"
        for m in report.mismatches
        if (m.sample, m.index, m.field) == (row.sample, row.index, field)
    ]


def rows_with_xfails(
    rows: list[Expected], xfails: dict[tuple[str, int], str], *, set_name: str | None = None
) -> list[Any]:
    """``rows`` as pytest parameters with ``sample#index`` ids, those in ``xfails``
    ((sample, index) -> reason) as strict expected failures. With ``set_name``, each
    parameter is (set name, row) and its id starts with ``set_name/``."""
    params = []
    for r in rows:
        reason = xfails.get((r.sample, r.index))
        marks = [] if reason is None else [pytest.mark.xfail(reason=reason, strict=True)]
        values = (r,) if set_name is None else (set_name, r)
        prefix = "" if set_name is None else f"{set_name}/"
        params.append(pytest.param(*values, marks=marks, id=f"{prefix}{r.sample}#{r.index}"))
    return params


# Session transcripts in Sendmail's notation (">>>" what was sent, "<<<" what came back:
# http://www.icglink.net/cgi-bin/icglink/helpdesk/kb.cgi?view=73), pipelined as in RFC 2920
# section 3.1 (MAIL, RCPT, DATA sent together, their replies read after them, in order:
# https://www.rfc-editor.org/rfc/rfc2920#section-3.1).
PIPELINED_TRANSCRIPT = (
    "... while talking to mx.example.org.:\n"
    ">>> MAIL From:<news@sender.example> SIZE=1234\n"
    ">>> RCPT To:<user@example.org>\n"
    ">>> DATA\n"
    "<<< 250 2.1.0 <news@sender.example>... Sender ok\n"
    "<<< 550 5.1.1 <user@example.org>... User unknown\n"
    "550 5.1.1 <user@example.org>... User unknown\n"
    "<<< 554 5.5.1 Error: no valid recipients\n"
)
