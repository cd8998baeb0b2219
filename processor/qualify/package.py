"""A rule set as one self-contained document, for publishing through Kafka.

A rule set is a folder (``rules/``: manifest, details, bounce rules, quarantine policy,
MX rules). To publish it, every YAML file of the folder is packed, with its relative
path, into a :class:`RuleSetPackage`; a processor unpacks the package into a private
folder and loads it exactly as it would load a local one, so a published set and the
folder it came from qualify identically (and carry the same version).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

RULE_FILE_SUFFIXES = (".yaml", ".yml")


class RuleSetPackage(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str  # "<semver>+<content hash>", as the engine reports it
    changelog: str  # the manifest's latest changelog line
    files: dict[str, str]  # relative path -> text
    published_at: str | None = None  # ISO-8601, set by the publisher

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RuleSetPackage:
        return cls.model_validate_json(data)

    def unpack(self, target: Path | None = None) -> Path:
        """Write the files into ``target`` (a new temporary folder by default)."""
        folder = target or Path(tempfile.mkdtemp(prefix=f"ruleset-{self.version[:24]}-"))
        for relative, text in self.files.items():
            path = folder / relative
            if path.resolve().is_relative_to(folder.resolve()) is False:
                raise ValueError(f"unsafe path in rule-set package: {relative}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return folder


def rule_files(folder: Path) -> dict[str, str]:
    """Every rule file of ``folder``, by path relative to it (sorted, POSIX separators)."""
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in RULE_FILE_SUFFIXES
    }


def files_digest(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + files[relative].encode() + b"\0")
    return digest.hexdigest()


def latest_changelog_line(files: dict[str, str]) -> tuple[str, str]:
    """(name, latest changelog line) from the manifest, tolerant of its exact shape."""
    manifest = yaml.safe_load(files.get("manifest.yaml", "")) or {}
    name = str(manifest.get("name", "rules"))
    changelog = manifest.get("changelog") or []
    if isinstance(changelog, list) and changelog:
        first = changelog[0]
        if isinstance(first, dict):
            line = " ".join(str(v) for v in first.values() if not isinstance(v, list | dict))
            changes = first.get("changes") or first.get("notes")
            if isinstance(changes, list) and changes:
                line = f"{first.get('version', '')}: {changes[0]}"
            return name, line.strip()
        return name, str(first)
    return name, str(changelog or "")


def pack(folder: Path, version: str) -> RuleSetPackage:
    """The package of ``folder``; ``version`` comes from loading it with the engine."""
    files = rule_files(folder)
    name, changelog = latest_changelog_line(files)
    return RuleSetPackage(name=name, version=version, changelog=changelog, files=files)
