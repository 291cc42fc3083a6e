#!/usr/bin/env bash
# The operator on the local control plane, as a user would try it without a
# cloud or Docker:
#
#   scripts/local-pipeline.sh        # up, install, run the operator, apply the pipeline, wait until Ready
#   scripts/local-pipeline.sh stop   # stop the operator and the control plane
#
# 1. Kafka, Postgres and Redis on loopback (scripts/services.sh).
# 2. The control plane: Kubernetes and three kwok nodes (scripts/cluster.sh up).
# 3. The operator's chart: `helm install` with the CRD and RBAC; its
#    Deployment at 0 replicas, since kwok nodes run no containers.
# 4. The operator itself, as a process on this host, authenticated with a
#    token of its own ServiceAccount, so the chart's RBAC is what it has.
# 5. examples/local/pipeline.yaml and the Secrets it names.
# Then `kubectl get dp -n baedal` shows it Ready; the children are real
# Kubernetes objects (pods scheduled on the kwok nodes).
log_tag=local
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
state=${BAEDAL_CLUSTER_DIR:-/var/tmp/baedal/cluster}
if [ "${1:-}" = stop ]; then
    [ -f "$state/operator.pid" ] && kill "$(cat "$state/operator.pid")" 2>/dev/null || true
    scripts/cluster.sh down
    exit 0
fi
eval "$(scripts/services.sh --env)"
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"
export PATH="$(dirname "$BAEDAL_KUBECTL"):$PATH"
scripts/validate-manifests.sh >/dev/null   # also installs helm into the cache
helm="$cache/tools/bin/helm"

"$helm" upgrade --install baedal-operator charts/baedal-operator \
    --namespace baedal-system --create-namespace --set replicaCount=0 --wait=false >/dev/null
kubectl wait --for=condition=Established crd/deliverypipelines.baedal.dev --timeout=60s >/dev/null

cargo build --release -p baedal-operator --quiet
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$(pwd)/$target ;; esac
scripts/cluster.sh kubeconfig baedal-system baedal-operator "$state/operator.kubeconfig"
if ! { [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; }; then
    KUBECONFIG="$state/operator.kubeconfig" POD_NAMESPACE=baedal-system setsid nohup \
        "$target/release/baedal-operator" run --listen 127.0.0.1:8081 --identity local \
        </dev/null >"$state/operator.log" 2>&1 &
    echo $! >"$state/operator.pid"
fi

kubectl get namespace baedal >/dev/null 2>&1 || kubectl create namespace baedal >/dev/null
kubectl -n baedal create secret generic baedal-postgres --from-literal=url="$BAEDAL_DATABASE_URL" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n baedal create secret generic baedal-redis --from-literal=url="$BAEDAL_REDIS_URL" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f examples/local/pipeline.yaml
kubectl -n baedal wait --for=condition=Ready dp/quickstart --timeout=120s
kubectl -n baedal get dp
log "operator log: $state/operator.log; KUBECONFIG=$KUBECONFIG; stop with: scripts/local-pipeline.sh stop"
