"""Loading a rule set (``rules/``) into validated, versioned data.

A rule set is read as a mapping of relative path -> parsed YAML document, so the same
code serves a folder on disk and a published document (issue 7). The version is
``<manifest semver>+<content hash>``, the hash being over the canonical JSON of every
document in the set (comments and formatting do not change it; any data does).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from processor.qualify.model import DetailDefault, DetailsFile, Manifest, Rule, RuleFile

ENV_RULES_DIR = "BOUNCE_RULES_DIR"
MANIFEST = "manifest.yaml"
DETAILS = "details.yaml"
BOUNCE_DIR = "bounce"
HASH_LEN = 12


class RuleSetError(Exception):
    """A rule set that cannot be loaded; ``problems`` has one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedRule:
    """A rule with where it came from."""

    rule: Rule
    source: str  # relative path of its file
    position: int  # index within the file


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set: manifest, detail defaults and bounce rules, versioned."""

    manifest: Manifest
    details: dict[str, DetailDefault]
    rules: tuple[LoadedRule, ...]
    content_hash: str
    path: Path | None = None
    documents: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        """``"<semver>+<content hash>"``."""
        return f"{self.manifest.version}+{self.content_hash}"

    @property
    def name(self) -> str:
        return self.manifest.name


def default_rules_dir() -> Path:
    """``$BOUNCE_RULES_DIR``, else the ``rules/`` folder of this repository / install."""
    env = os.environ.get(ENV_RULES_DIR)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for base in (here.parents[2], Path.cwd()):
        candidate = base / "rules"
        if (candidate / MANIFEST).is_file():
            return candidate
    return here.parents[2] / "rules"


def content_hash(documents: Mapping[str, Any]) -> str:
    """Short SHA-256 over the canonical JSON of all documents (sorted by path)."""
    canonical = json.dumps(
        {k: documents[k] for k in sorted(documents)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_LEN]


def read_documents(rules_dir: Path) -> dict[str, Any]:
    """Every ``*.yaml`` / ``*.yml`` under ``rules_dir``, parsed, keyed by relative path."""
    if not rules_dir.is_dir():
        raise RuleSetError([f"{rules_dir}: not a directory"])
    docs: dict[str, Any] = {}
    problems: list[str] = []
    for path in sorted(rules_dir.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        rel = path.relative_to(rules_dir).as_posix()
        try:
            docs[rel] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: invalid YAML: {exc}")
    if problems:
        raise RuleSetError(problems)
    return docs


def _fmt_validation(source: str, exc: ValidationError, doc: Any = None) -> list[str]:
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        # name the rule by id when the error is inside rules[i]
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and doc:
            try:
                rid = doc["rules"][loc[1]].get("id")
                where = f"rule {rid!r}: " + ".".join(str(p) for p in loc[2:])
            except (KeyError, IndexError, AttributeError, TypeError):
                pass
        out.append(f"{source}: {where}: {err['msg']}")
    return out


def build_ruleset(documents: Mapping[str, Any], path: Path | None = None) -> RuleSet:
    """Validate documents (relative path -> parsed YAML) into a :class:`RuleSet`.

    Only ``manifest.yaml``, ``details.yaml`` and ``bounce/*.yaml`` are interpreted;
    other documents (``quarantine.yaml``, ``mx.yaml``, ...) are carried and hashed.
    """
    problems: list[str] = []
    manifest: Manifest | None = None
    details: dict[str, DetailDefault] = {}
    if MANIFEST not in documents:
        problems.append(f"{MANIFEST}: missing")
    else:
        try:
            manifest = Manifest.model_validate(documents[MANIFEST])
        except ValidationError as exc:
            problems.extend(_fmt_validation(MANIFEST, exc))
    if DETAILS not in documents:
        problems.append(f"{DETAILS}: missing")
    else:
        try:
            details = DetailsFile.model_validate(documents[DETAILS]).details
        except ValidationError as exc:
            problems.extend(_fmt_validation(DETAILS, exc))

    rules: list[LoadedRule] = []
    prefix = BOUNCE_DIR + "/"
    for rel in sorted(documents):
        if not rel.startswith(prefix):
            continue
        doc = documents[rel]
        if doc is None:
            continue
        try:
            rf = RuleFile.model_validate(doc)
        except ValidationError as exc:
            problems.extend(_fmt_validation(rel, exc, doc))
            continue
        rules.extend(LoadedRule(r, rel, i) for i, r in enumerate(rf.rules))

    if details:
        for lr in rules:
            if lr.rule.detail not in details:
                problems.append(
                    f"{lr.source}: rule {lr.rule.id!r}: detail {lr.rule.detail!r} "
                    f"is not defined in {DETAILS}"
                )
        from processor.qualify.engine import FALLBACK_DETAILS

        for detail in sorted(FALLBACK_DETAILS - details.keys()):
            problems.append(f"{DETAILS}: detail {detail!r} (used by the fallbacks) missing")
    if problems or manifest is None:
        raise RuleSetError(problems)
    return RuleSet(
        manifest=manifest,
        details=details,
        rules=tuple(rules),
        content_hash=content_hash(documents),
        path=path,
        documents=dict(documents),
    )


def load_ruleset(rules_dir: str | Path | None = None) -> RuleSet:
    """Load and validate the rule set in ``rules_dir`` (default: :func:`default_rules_dir`)."""
    path = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    return build_ruleset(read_documents(path), path=path)
