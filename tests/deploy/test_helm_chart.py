"""Kubernetes packaging, offline: the Helm chart and the Dockerfile.

Runs ``helm/check.sh`` once (Helm from the Go module proxy, cached in GOPATH; ``helm lint``
and ``helm template`` with the default and the ci/ value sets; strict validation of the
rendered manifests with kubernetes-validate; hadolint on the Dockerfile), then reads the
rendered manifests. Fails, never skips, when Helm cannot be installed: the first run builds
Helm with ``go install`` (minutes), later runs find it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "bounce-processor"
CHECK = ROOT / "helm" / "check.sh"
NEWEST_K8S = "1.37.0"
DEFAULT_SCHEDULE = "0 3 * * *"

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("helm-check")
    env = {**os.environ, "OUT_DIR": str(out), "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(CHECK)], env=env, capture_output=True, text=True, timeout=1800
    )
    log = proc.stdout + proc.stderr
    (out / "check.log").write_text(log)
    assert proc.returncode == 0, f"helm/check.sh failed:\n{log[-6000:]}"
    return out


@pytest.fixture(scope="module")
def helm(rendered: Path) -> str:
    return (rendered / "helm-path").read_text().strip()


def docs(rendered: Path, values: str = "default", k8s: str = NEWEST_K8S) -> list[Doc]:
    text = (rendered / f"{values}-k8s-{k8s}.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def one(manifests: list[Doc], kind: str, suffix: str = "") -> Doc:
    found = [d for d in manifests if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"expected one {kind} *{suffix}, got {[name(d) for d in found]}"
    return found[0]


def name(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def pod_specs(manifests: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for d in manifests:
        if d["kind"] in ("Deployment", "StatefulSet"):
            yield name(d), d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            yield name(d), d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def processor_config(manifests: list[Doc]) -> Doc:
    return yaml.safe_load(one(manifests, "ConfigMap", "-config")["data"]["config.yaml"])


def template(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, "template", "bounce-processor", str(CHART), "--kube-version", NEWEST_K8S, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


VALUE_SETS = ["default", "all-features", "hpa"]


def test_check_script_lints_renders_and_validates(rendered: Path) -> None:
    log = (rendered / "check.log").read_text()
    for values in VALUE_SETS:
        assert f"helm lint --strict ({values} values)" in log
        for k8s in ("1.27.0", NEWEST_K8S):
            assert (rendered / f"{values}-k8s-{k8s}.yaml").stat().st_size > 0
    results = re.findall(
        r"kubernetes-validate --strict against .*: (\d+) resources checked, "
        r"(\d+) custom resources skipped \(no schema\), (\d+) problems",
        log,
    )
    assert len(results) == 2 * len(VALUE_SETS)
    assert all(int(checked) > 0 and problems == "0" for checked, _, problems in results)
    # The custom resources without shipped schemas are named, not silently passed.
    assert re.search(r"SKIP .*ScaledObject/.*custom resource, no schema", log)
    assert re.search(r"SKIP .*ServiceMonitor/.*custom resource, no schema", log)
    assert "hadolint Dockerfile" in log


def test_default_render_has_the_expected_resources(rendered: Path) -> None:
    kinds = sorted(name(d).split("/")[0] for d in docs(rendered))
    assert kinds == sorted(
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "Service",
            "Service",
            "ServiceAccount",
            "StatefulSet",
        ]
    )
    all_kinds = {d["kind"] for d in docs(rendered, "all-features")}
    assert {"ServiceMonitor", "ScaledObject"} <= all_kinds
    assert "HorizontalPodAutoscaler" in {d["kind"] for d in docs(rendered, "hpa")}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_grace_period_is_above_the_shutdown_bound(rendered: Path, values: str) -> None:
    manifests = docs(rendered, values)
    bound = processor_config(manifests)["shutdown"]["timeout_seconds"]
    workloads = [(n, s) for n, s in pod_specs(manifests) if not n.startswith("CronJob")]
    assert workloads
    for workload, spec in workloads:
        assert spec["terminationGracePeriodSeconds"] > bound, workload


def test_default_grace_period_is_bound_plus_margin(rendered: Path) -> None:
    for _, spec in pod_specs(docs(rendered)):
        if "terminationGracePeriodSeconds" in spec:
            assert spec["terminationGracePeriodSeconds"] == 30 + 15


def test_grace_period_follows_the_bound_and_refuses_one_below_it(helm: str) -> None:
    proc = template(helm, "--set-json", "config.shutdown.timeout_seconds=50.5")
    assert proc.returncode == 0, proc.stderr
    graces = {
        s["terminationGracePeriodSeconds"]
        for _, s in pod_specs([d for d in yaml.safe_load_all(proc.stdout) if d])
        if "terminationGracePeriodSeconds" in s
    }
    assert graces == {51 + 15}
    for grace in ("30", "20"):
        proc = template(helm, "--set", f"terminationGracePeriodSeconds={grace}")
        assert proc.returncode != 0
        assert "must be above the shutdown bound" in proc.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_pod_runs_non_root_with_a_read_only_root(rendered: Path, values: str) -> None:
    for workload, spec in pod_specs(docs(rendered, values)):
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, workload
        assert pod_sc["runAsUser"] != 0, workload
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", workload
        assert spec["automountServiceAccountToken"] is False, workload
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, workload
            assert sc["allowPrivilegeEscalation"] is False, workload
            assert sc["runAsNonRoot"] is True, workload
            assert sc["capabilities"]["drop"] == ["ALL"], workload
            assert "add" not in sc["capabilities"], workload
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", workload
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], workload
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_instance_identity_comes_from_the_pod_name(rendered: Path) -> None:
    manifests = docs(rendered)
    for kind in ("Deployment", "StatefulSet"):
        container = one(manifests, kind)["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        assert env["BOUNCE_INSTANCE_ID"]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.name"}
        }, kind
    state = one(manifests, "StatefulSet")
    container = state["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["BOUNCE_STATIC_MEMBERSHIP"]["value"] == "true"
    assert container["args"][-2:] == ["--stage", "state"]
    qualify = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert qualify["args"] == [
        "run",
        "--config",
        "/etc/bounce-processor/config.yaml",
        "--stage",
        "qualify",
    ]
    assert env_of(qualify)["BOUNCE_STATIC_MEMBERSHIP"]["value"] == "false"
    config = processor_config(manifests)
    assert config["group_id"] == "bounce-processor-qualify"
    assert config["state"]["group_id"] == "bounce-processor-state"
    headless = one(manifests, "Service", "-state-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert state["spec"]["serviceName"] == headless["metadata"]["name"]


def pod_environment(container: Doc, pod_name: str) -> dict[str, str]:
    """The container's environment as Kubernetes would set it (secrets as placeholders)."""
    environ = {}
    for var in container.get("env", []):
        if "value" in var:
            environ[var["name"]] = var["value"]
        elif var["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
            environ[var["name"]] = pod_name
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            environ[var["name"]] = f"<{ref['name']}/{ref['key']}>"
    return environ


@pytest.mark.parametrize("values", VALUE_SETS)
def test_rendered_config_and_env_load_in_the_processor(
    rendered: Path, values: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor.config import load_settings

    manifests = docs(rendered, values)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(one(manifests, "ConfigMap", "-config")["data"]["config.yaml"])
    for workload, spec in pod_specs(manifests):
        container = spec["containers"][0]
        pod = f"{workload.split('/')[1]}-0"
        environ = pod_environment(container, pod)
        for key in [k for k in os.environ if k.startswith("BOUNCE_")]:
            monkeypatch.delenv(key)
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        settings = load_settings(config_file, environ)
        assert settings.instance_id == pod, workload
        assert settings.transactional_id.endswith(pod), workload
        assert str(settings.state_dir) == "/var/lib/bounce-processor"
        assert settings.http.port == 8080
        assert settings.group_id == "bounce-processor-qualify"
        assert settings.state.group_id == "bounce-processor-state"
        if "terminationGracePeriodSeconds" in spec:
            assert spec["terminationGracePeriodSeconds"] > settings.shutdown.timeout_seconds
        if workload.startswith("StatefulSet"):
            assert settings.static_membership is True
        if values == "all-features":
            client = settings.kafka.client
            assert client["sasl.username"] == "<kafka-credentials/api-key>", workload
            assert client["sasl.password"] == "<kafka-credentials/api-secret>", workload
            assert client["ssl.ca.location"] == "/etc/bounce-processor/kafka-tls/ca.crt"
            assert client["security.protocol"] == "SASL_SSL"
            registry = settings.registry.client
            assert registry["basic.auth.user.info"] == "<registry-credentials/user-info>"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_container_args_parse_with_the_cli(rendered: Path, values: str, tmp_path: Path) -> None:
    import click

    from processor.cli import main

    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    local = {
        "/etc/bounce-processor/config.yaml": str(config),
        "/opt/bounce-processor/rules": str(rules),
        "/rules": str(rules),
    }
    for workload, spec in pod_specs(docs(rendered, values)):
        args = [local.get(a, a) for a in spec["containers"][0]["args"]]
        command: click.Command = main
        while isinstance(command, click.Group):
            sub = command.commands.get(args[0])
            assert sub is not None, f"{workload}: no sub-command {args[0]!r} in {args}"
            command, args = sub, args[1:]
        # Parses and converts every argument (choices, paths) without running the command.
        command.make_context(command.name or "", list(args))


def test_probes_and_port(rendered: Path) -> None:
    for kind in ("Deployment", "StatefulSet"):
        container = one(docs(rendered), kind)["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert processor_config(docs(rendered))["http"]["port"] == 8080


def test_config_checksum_rolls_the_pods(rendered: Path, helm: str) -> None:
    def checksums(manifests: list[Doc]) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in manifests
            if d["kind"] in ("Deployment", "StatefulSet")
        }

    before = checksums(docs(rendered))
    proc = template(helm, "--set", "config.log_level=DEBUG")
    assert proc.returncode == 0, proc.stderr
    after = checksums([d for d in yaml.safe_load_all(proc.stdout) if d])
    assert len(before) == 1 and len(after) == 1 and before != after


def test_rule_sync_cronjob_runs_daily_by_default(rendered: Path) -> None:
    cron = one(docs(rendered), "CronJob", "-rule-sync")
    assert cron["spec"]["schedule"] == DEFAULT_SCHEDULE
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    args = pod["containers"][0]["args"]
    assert args[:3] == ["rules", "publish", "/opt/bounce-processor/rules"]


def test_rule_sync_from_a_configmap_publishes_slash_rules(rendered: Path) -> None:
    cron = one(docs(rendered, "all-features"), "CronJob", "-rule-sync")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:3] == ["rules", "publish", "/rules"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/rules")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "deliverability-rules"


def test_hpa_and_keda_are_mutually_exclusive(helm: str) -> None:
    proc = template(
        helm,
        "--set",
        "qualify.autoscaling.hpa.enabled=true",
        "--set",
        "qualify.autoscaling.keda.enabled=true",
    )
    assert proc.returncode != 0
    assert "mutually exclusive" in proc.stderr


def test_an_autoscaled_deployment_leaves_replicas_to_the_autoscaler(rendered: Path) -> None:
    for values, kind in (("all-features", "ScaledObject"), ("hpa", "HorizontalPodAutoscaler")):
        manifests = docs(rendered, values)
        deployment = one(manifests, "Deployment")
        assert "replicas" not in deployment["spec"], values
        scaler = one(manifests, kind)
        assert scaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    trigger = one(docs(rendered, "all-features"), "ScaledObject")["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["lagThreshold"] == "2000"
    assert trigger["metadata"]["consumerGroup"] == "bounce-processor-qualify"
    assert trigger["metadata"]["topic"] == "mail.bounces.raw"
    assert "replicas" in one(docs(rendered), "Deployment")["spec"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("unknownKey=1", "additional properties 'unknownKey' not allowed"),
        ("qualify.replicas=3", "additional properties 'replicas' not allowed"),
        ("config.instance_id=x", "additional properties 'instance_id' not allowed"),
        ("config.group_id=x", "additional properties 'group_id' not allowed"),
        ("qualify.autoscaling.hpa.metric.type=Object", "/qualify/autoscaling/hpa/metric/type"),
        ("containerSecurityContext.readOnlyRootFilesystem=false", "readOnlyRootFilesystem"),
        ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
    ],
)
def test_values_schema_rejects(helm: str, setting: str, message: str) -> None:
    proc = template(helm, "--set", setting)
    assert proc.returncode != 0, setting
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert message in proc.stderr


def test_secrets_are_referenced_not_embedded(rendered: Path) -> None:
    manifests = docs(rendered, "all-features")
    assert not [d for d in manifests if d["kind"] == "Secret"]
    for workload, spec in pod_specs(manifests):
        container = spec["containers"][0]
        env = env_of(container)
        assert env["BOUNCE_KAFKA_CLIENT_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {
            "name": "kafka-credentials",
            "key": "api-key",
        }, workload
        assert env["BOUNCE_KAFKA_CLIENT_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "kafka-credentials",
            "key": "api-secret",
        }, workload
        assert env["BOUNCE_REGISTRY_CLIENT_BASIC_AUTH_USER_INFO"]["valueFrom"]["secretKeyRef"] == {
            "name": "registry-credentials",
            "key": "user-info",
        }, workload
        ca = env["BOUNCE_KAFKA_CLIENT_SSL_CA_LOCATION"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert ca == mounts["kafka-tls"] + "/ca.crt", workload
        assert volumes["kafka-tls"]["secret"]["secretName"] == "kafka-tls", workload
        assert volumes["registry-tls"]["secret"]["secretName"] == "registry-ca", workload


def test_custom_rules_folder_is_mounted_in_custom_mode(rendered: Path) -> None:
    manifests = docs(rendered, "all-features")
    assert processor_config(manifests)["rules"] == {
        "mode": "custom",
        "dir": "/etc/bounce-processor/rules",
    }
    rules_cm = one(manifests, "ConfigMap", "-rules")
    assert set(rules_cm["data"]) == {"manifest.yaml", "details.yaml", "bounce__acme.yaml"}
    spec = one(manifests, "StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "custom-rules")
    assert {"key": "bounce__acme.yaml", "path": "bounce/acme.yaml"} in volume["configMap"]["items"]
    assert (
        "checksum/rules"
        in one(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    )


def test_state_stage_persistence_uses_volume_claim_templates(rendered: Path) -> None:
    default_state = one(docs(rendered), "StatefulSet")
    assert "volumeClaimTemplates" not in default_state["spec"]
    state_volume = next(
        v for v in default_state["spec"]["template"]["spec"]["volumes"] if v["name"] == "state"
    )
    assert "emptyDir" in state_volume
    persistent = one(docs(rendered, "all-features"), "StatefulSet")["spec"]
    assert [t["metadata"]["name"] for t in persistent["volumeClaimTemplates"]] == ["state"]
    assert "state" not in {v["name"] for v in persistent["template"]["spec"]["volumes"]}


def test_dockerfile_is_multi_stage_non_root_and_matches_the_chart() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS runtime$", dockerfile, re.MULTILINE)
    assert "python:3.11-slim" in dockerfile
    assert re.search(r"^USER \$\{UID\}:\$\{GID\}$", dockerfile, re.MULTILINE)
    assert re.search(r"^ARG UID=10001$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["bounce-processor"]' in dockerfile
    for needle in (
        "COPY schemas/ /opt/bounce-processor/schemas/",
        "COPY rules/ /opt/bounce-processor/rules/",
        "BOUNCE_SCHEMAS_DIR=/opt/bounce-processor/schemas",
        "BOUNCE_RULES_DIR=/opt/bounce-processor/rules",
        "pip wheel",
    ):
        assert needle in dockerfile, needle
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["image"]["rulesDir"] == "/opt/bounce-processor/rules"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**")] == "**" and "!processor/" in ignore
