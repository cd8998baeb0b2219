"""Strict, offline schema validation of rendered Kubernetes manifests.

    python helm/validate_manifests.py -k 1.27.0 -k 1.37.0 rendered.yaml [...]

Every resource is validated with ``kubernetes-validate`` (the Kubernetes OpenAPI schemas
it ships, ``strict``: unknown fields are errors) against each Kubernetes version given.
A kind it has no schema for is an error, except the custom resources listed in
``SKIPPED_CUSTOM_RESOURCES`` (their CRDs are not part of Kubernetes, so the package ships
no schema): those are named as skipped and only checked for the few fields the chart
relies on. Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kv

Resource = dict[str, Any]


def _servicemonitor_shape(doc: Resource) -> list[str]:
    spec = doc.get("spec") or {}
    errors = []
    if not (spec.get("selector") or {}).get("matchLabels"):
        errors.append("spec.selector.matchLabels is missing")
    endpoints = spec.get("endpoints") or []
    if not endpoints or not all(e.get("port") and e.get("path") for e in endpoints):
        errors.append("spec.endpoints needs port and path on every endpoint")
    return errors


def _scaledobject_shape(doc: Resource) -> list[str]:
    spec = doc.get("spec") or {}
    errors = []
    if not (spec.get("scaleTargetRef") or {}).get("name"):
        errors.append("spec.scaleTargetRef.name is missing")
    for trigger in spec.get("triggers") or [{}]:
        meta = trigger.get("metadata") or {}
        if trigger.get("type") != "kafka":
            errors.append(f"trigger type {trigger.get('type')!r} is not kafka")
        for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
            if not meta.get(key):
                errors.append(f"kafka trigger metadata.{key} is missing")
        if any(not isinstance(v, str) for v in meta.values()):
            errors.append("kafka trigger metadata values must all be strings")
    return errors


# (apiVersion, kind) → a shape check; these are skipped by the schema validation.
SKIPPED_CUSTOM_RESOURCES: dict[tuple[str, str], Callable[[Resource], list[str]]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _servicemonitor_shape,
    ("keda.sh/v1alpha1", "ScaledObject"): _scaledobject_shape,
}


def load(paths: list[Path]) -> list[tuple[Path, Resource]]:
    resources = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                resources.append((path, doc))
    return resources


def name_of(doc: Resource) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate(resources: list[tuple[Path, Resource]], versions: list[str]) -> tuple[int, int, int]:
    """Print one line per problem or skip; return (validated, skipped, failures)."""
    validated = skipped = failures = 0
    for path, doc in resources:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in SKIPPED_CUSTOM_RESOURCES:
            skipped += 1
            problems = SKIPPED_CUSTOM_RESOURCES[key](doc)
            print(
                f"SKIP  {path.name}: {name_of(doc)} ({key[0]}): custom resource, no schema "
                f"shipped by kubernetes-validate; shape check "
                f"{'FAILED' if problems else 'passed'}"
            )
            for problem in problems:
                print(f"ERROR {path.name}: {name_of(doc)}: {problem}")
            failures += len(problems)
            continue
        for version in versions:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path) or "(top)"
                print(f"ERROR {path.name}: {name_of(doc)} @ {version}: {where}: {exc.message}")
                failures += 1
            except kv.SchemaNotFoundError as exc:
                print(f"ERROR {path.name}: {name_of(doc)}: {exc.message} (not a known kind)")
                failures += 1
            except kv.VersionNotSupportedError:
                print(f"ERROR kubernetes-validate has no schemas for Kubernetes {version}")
                return validated, skipped, failures + 1
        validated += 1
    return validated, skipped, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-k",
        "--kubernetes-version",
        action="append",
        dest="versions",
        help="Kubernetes version to validate against (repeatable); default: the newest shipped",
    )
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    versions = args.versions or [kv.latest_version()]
    resources = load(args.files)
    if not resources:
        print("ERROR no resources found in " + ", ".join(map(str, args.files)))
        return 1
    validated, skipped, failures = validate(resources, versions)
    print(
        f"kubernetes-validate --strict against {', '.join(versions)}: {validated} resources "
        f"checked, {skipped} custom resources skipped (no schema), {failures} problems"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
