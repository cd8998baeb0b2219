"""Shared fixtures: the default engine and helpers to write small rule folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.intake.record import BounceRecord, RecordKind
from processor.qualify import Engine, load_engine
from processor.qualify.loader import default_rules_dir


@pytest.fixture(scope="session")
def engine() -> Engine:
    return load_engine()


def smtp(diagnostic: str, **kw: Any) -> BounceRecord:
    return BounceRecord(kind=RecordKind.SMTP, diagnostic=diagnostic, **kw)


def write_rules(tmp: Path, rules: list[dict[str, Any]], version: str = "1.0.0") -> Path:
    """A rule folder with the default manifest / details and the given bounce rules."""
    base = default_rules_dir()
    (tmp / "bounce").mkdir(parents=True, exist_ok=True)
    manifest = yaml.safe_load((base / "manifest.yaml").read_text())
    manifest["version"] = version
    (tmp / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (tmp / "details.yaml").write_text((base / "details.yaml").read_text())
    (tmp / "bounce" / "test.yaml").write_text(yaml.safe_dump({"rules": rules}))
    return tmp


def rule(id: str, pattern: str, detail: str = "userunknown", **kw: Any) -> dict[str, Any]:
    return {"id": id, "description": id, "pattern": pattern, "detail": detail, **kw}
