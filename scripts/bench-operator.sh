#!/usr/bin/env bash
# The operator on the local control plane, managing N pipelines (default 100):
# how long until every one is Ready, the operator's peak memory, and the API
# writes it makes per reconcile at steady state (from the apiserver's audit
# log), beside the reads.
#
#   scripts/bench-operator.sh [pipelines]
#
# Runs the release operator as its own ServiceAccount (RBAC from the Helm
# chart), against the local Kafka and Postgres; every pipeline has its own
# topics and schema, removed at the end.
log_tag=bench-operator
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
n=${1:-100}
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
eval "$(scripts/services.sh --env)"
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"
scripts/validate-manifests.sh >/dev/null 2>&1 || true
helm="$cache/tools/bin/helm"
k() { "$BAEDAL_KUBECTL" "$@"; }
cargo build --release -p baedal-operator --quiet
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$(pwd)/$target ;; esac
operator="$target/release/baedal-operator"

ns=bench-operator
k apply --server-side -f crds/deliverypipeline.yaml >/dev/null
k wait --for=condition=Established crd/deliverypipelines.baedal.dev --timeout=60s >/dev/null
k get namespace baedal-system >/dev/null 2>&1 || k create namespace baedal-system >/dev/null
"$helm" template baedal-operator charts/baedal-operator --namespace baedal-system --skip-crds \
    | python3 -c '
import sys
docs = sys.stdin.read().split("\n---")
keep = ("kind: ServiceAccount", "kind: ClusterRole", "kind: ClusterRoleBinding", "kind: Role", "kind: RoleBinding")
print("\n---".join(d for d in docs if any(l.strip() in keep for l in d.splitlines())))' \
    | k apply --server-side -n baedal-system -f - >/dev/null
k delete namespace "$ns" --wait=true --timeout=120s >/dev/null 2>&1 || true
k create namespace "$ns" >/dev/null

work=$(mktemp -d)
scripts/cluster.sh kubeconfig baedal-system baedal-operator "$work/kubeconfig"

log "creating $n pipelines in namespace $ns"
{
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: %s}\nstringData: {url: "%s"}\n' "$ns" "$BAEDAL_DATABASE_URL"
    for i in $(seq -w 1 "$n"); do
        cat <<EOF
---
apiVersion: baedal.dev/v1alpha1
kind: DeliveryPipeline
metadata: {name: p$i, namespace: $ns}
spec:
  image: baedal:dev
  source: {uri: /usr/share/baedal/sample}
  kafka: {bootstrapServers: "$BAEDAL_KAFKA_BOOTSTRAP", topicPrefix: "bench$i."}
  postgres: {connectionSecret: {name: db, key: url}, schema: bench_$i}
  api: {replicas: 1}
  deletionPolicy: Delete
EOF
    done
} | k apply --server-side -f - >/dev/null

started=$(date +%s.%N)
since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
KUBECONFIG="$work/kubeconfig" BAEDAL_LOG=warn "$operator" run --listen 127.0.0.1:0 \
    --lease-namespace baedal-system --lease-name bench-operator --identity bench >"$work/operator.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

ready() { k get dp -n "$ns" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true; }
for _ in $(seq 1 600); do
    [ "$(ready)" -ge "$n" ] && break
    kill -0 $pid || { log "the operator died:"; tail -20 "$work/operator.log"; exit 1; }
    sleep 1
done
all_ready=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
[ "$(ready)" -ge "$n" ] || { log "only $(ready) of $n Ready"; exit 1; }
log "$n pipelines Ready after ${all_ready}s"

# Steady state: every pipeline reconciled again (a label wakes each one),
# then the writes the operator made meanwhile.
sleep 5
steady=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
k label dp --all -n "$ns" bench-touch="$(date +%s)" --overwrite >/dev/null
sleep 15
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
sleep 3
python3 - "$BAEDAL_CLUSTER_DIR/audit.log" "$ns" "$since" "$steady" "$n" "$rss" "$all_ready" <<'PY'
import json, sys
path, ns, since, steady, n, rss_kb, ready = sys.argv[1:]
user = "system:serviceaccount:baedal-system:baedal-operator"
first = steady_writes = 0
kinds = {}
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("user", {}).get("username") != user or e.get("objectRef", {}).get("namespace") != ns:
        continue
    t = e.get("stageTimestamp", "")
    if t > steady:
        steady_writes += 1
        r = e["objectRef"].get("resource", "")
        kinds[r] = kinds.get(r, 0) + 1
    elif t > since:
        first += 1
n = int(n)
print(f"pipelines                         {n}")
print(f"all Ready after                   {ready} s")
print(f"writes to create them             {first} ({first / n:.1f} per pipeline)")
print(f"writes at steady state            {steady_writes} ({steady_writes / n:.2f} per reconcile) {kinds or ''}")
print(f"operator peak RSS (VmHWM)         {int(rss_kb) / 1024:.1f} MiB")
PY

log "deleting the pipelines (deletionPolicy Delete: topics and schemas go too)"
k delete namespace "$ns" --wait=true --timeout=300s >/dev/null
