#!/usr/bin/env bash
# A local Kubernetes control plane on loopback, for the operator's end-to-end
# suite and for trying the operator without a cloud:
#
#   scripts/cluster.sh up      # build once (cached), start, wait until ready; prints the kubeconfig path
#   scripts/cluster.sh env     # `export KUBECONFIG=…` and the versions, for eval
#   scripts/cluster.sh down    # stop everything and remove the cluster's state
#   scripts/cluster.sh build   # only build the binaries
#   scripts/cluster.sh kubeconfig NAMESPACE ACCOUNT FILE
#                              # a kubeconfig with a token (TokenRequest) of that ServiceAccount
#
# What runs: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler of one Kubernetes release, built with `go build` from the
# k8s.io/kubernetes module (versions pinned in scripts/cluster/go.mod, the one
# place), and kwok (scripts/cluster/kwok/go.mod), which simulates three nodes:
# Pods are scheduled onto them and reported Running and Ready, so Deployments
# become Available. No kubelet and no container runtime run; the operator's
# suite starts a Pod's command itself where it needs the process. The
# controller-manager gives nodes an hour before it calls them NotReady: kwok
# renews their leases, but late on a loaded 2-core machine, and a simulated
# node never really fails (a pod marked not ready then would stay so, as
# kwok readies only new pods).
#
# As in a real cluster: RBAC (and Node) authorization, the default admission
# plugins plus NodeRestriction, ServiceAccount tokens signed by the apiserver,
# TLS with a CA made here, and an audit log of every write
# ($state/audit.log) so tests can count the writes a client made.
#
# Binaries: $BAEDAL_CACHE/k8s-<version>/bin (default ~/.cache/baedal), built
# once. State: $BAEDAL_CLUSTER_DIR (default /var/tmp/baedal/cluster).
log_tag=cluster
here=$(cd "$(dirname "$0")" && pwd) || exit 1
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
state=${BAEDAL_CLUSTER_DIR:-/var/tmp/baedal/cluster}
module="$here/cluster"
# The version a go.mod requires of a module (in a `require` line or block).
required() { awk -v m="$1" '{for (i = 1; i < NF; i++) if ($i == m) {print $(i + 1); exit}}' "$2"; }
k8s_version=$(required k8s.io/kubernetes "$module/go.mod")
kwok_version=$(required sigs.k8s.io/kwok "$module/kwok/go.mod")
bin="$cache/k8s-$k8s_version/bin"
kwok_bin="$cache/kwok-$kwok_version/bin/kwok"
# KEDA's CRDs, from its module: the end-to-end suite checks the ETL
# followers' ScaledObject example against them (KEDA itself does not run).
keda_version=v2.21.0
# Go's module and build caches live with the rest of baedal's cache, so an
# empty ~/.cache/baedal is a truly cold build.
export GOMODCACHE=${GOMODCACHE:-$cache/go/mod}
export GOCACHE=${GOCACHE:-$cache/go/build}
export GOFLAGS=-mod=mod

etcd_port=2379
etcd_peer_port=2380
apiserver_port=6443
kcm_port=10257
scheduler_port=10259
kwok_port=10247
nodes=(kwok-node-0 kwok-node-1 kwok-node-2)
kubeconfig="$state/admin.kubeconfig"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
keda_crds() { echo "$GOMODCACHE/github.com/kedacore/keda/v2@$keda_version/config/crd/bases"; }

# --- build -----------------------------------------------------------------
build() {
    command -v go >/dev/null 2>&1 || apt_install golang-go
    local minor=${k8s_version#v1.}; minor=${minor%%.*}
    if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/etcd" ] || [ ! -x "$bin/kubectl" ] \
        || [ ! -x "$bin/kube-controller-manager" ] || [ ! -x "$bin/kube-scheduler" ]; then
        log "building Kubernetes $k8s_version (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl; once, into $bin)"
        local pkg=k8s.io/component-base/version
        local ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
        mkdir -p "$bin"
        (cd "$module" && go build -trimpath -ldflags "$ldflags" -o "$bin/" \
            k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ./etcd)
    fi
    if [ ! -d "$(keda_crds)" ]; then
        log "fetching KEDA $keda_version's CRDs from the Go module proxy"
        go mod download github.com/kedacore/keda/v2@"$keda_version"
    fi
    if [ ! -x "$kwok_bin" ]; then
        log "building kwok $kwok_version (once, into $(dirname "$kwok_bin"))"
        mkdir -p "$(dirname "$kwok_bin")"
        (cd "$module/kwok" && go build -trimpath -ldflags "-s -w" -o "$kwok_bin" sigs.k8s.io/kwok/cmd/kwok)
    fi
}

# --- certificates ----------------------------------------------------------
# One CA signs the apiserver's serving certificate and a client certificate
# per component; the ServiceAccount tokens get their own key pair.
cert() { # name subject [extensions]
    local name=$1 subject=$2 ext=${3:-}
    openssl req -new -newkey rsa:2048 -nodes -keyout "$state/pki/$name.key" \
        -subj "$subject" -out "$state/pki/$name.csr" 2>/dev/null
    local extfile="$state/pki/$name.ext"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" > "$extfile"
    if [ -n "$ext" ]; then printf '%s\n' "$ext" >> "$extfile"; else echo "extendedKeyUsage=clientAuth" >> "$extfile"; fi
    openssl x509 -req -in "$state/pki/$name.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
        -CAcreateserial -days 3650 -extfile "$extfile" -out "$state/pki/$name.crt" 2>/dev/null
    rm -f "$state/pki/$name.csr" "$extfile"
}

kubeconfig_for() { # name user
    local name=$1 user=$2 file="$state/$1.kubeconfig"
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: baedal-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $state/pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $state/pki/$name.crt
    client-key: $state/pki/$name.key
contexts:
- name: baedal-local
  context: {cluster: baedal-local, user: $user}
current-context: baedal-local
EOF
}

pki() {
    [ -f "$state/pki/ca.crt" ] && return 0
    log "making the cluster's CA and certificates in $state/pki"
    mkdir -p "$state/pki"
    openssl req -x509 -new -newkey rsa:2048 -nodes -days 3650 -subj "/CN=baedal-local-ca" \
        -keyout "$state/pki/ca.key" -out "$state/pki/ca.crt" 2>/dev/null
    cert apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert admin "/O=system:masters/CN=baedal-admin"
    cert kube-controller-manager "/CN=system:kube-controller-manager"
    cert kube-scheduler "/CN=system:kube-scheduler"
    cert kwok "/O=system:masters/CN=kwok"
    openssl genrsa -out "$state/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$state/pki/sa.key" -pubout -out "$state/pki/sa.pub" 2>/dev/null
    kubeconfig_for admin baedal-admin
    kubeconfig_for kube-controller-manager system:kube-controller-manager
    kubeconfig_for kube-scheduler system:kube-scheduler
    kubeconfig_for kwok kwok
    # Every write, with who made it: tests count a client's writes from it.
    cat >"$state/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
EOF
}

# --- processes ---------------------------------------------------------------
start() { # name port command...
    local name=$1 port=$2; shift 2
    if [ -f "$state/$name.pid" ] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null; then return 0; fi
    # Its own session, no inherited descriptors: never holds the caller's pipes.
    setsid nohup "$@" </dev/null >"$state/$name.log" 2>&1 &
    echo $! >"$state/$name.pid"
    if [ "$port" != - ]; then
        for _ in $(seq 1 300); do
            port_open "$port" && return 0
            kill -0 "$(cat "$state/$name.pid")" 2>/dev/null || break
            sleep 0.2
        done
        log "$name did not come up; the end of $state/$name.log:"
        tail -20 "$state/$name.log" >&2
        exit 1
    fi
}

kubectl_admin() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

wait_for() { # description seconds command...
    local what=$1 seconds=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then log "timed out after ${seconds}s waiting for $what"; "$@" || true; exit 1; fi
        sleep 0.5
    done
}

node_manifest() {
    local name=$1
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "16", memory: 64Gi, pods: "110", ephemeral-storage: 100Gi}
  nodeInfo:
    kubeletVersion: fake
    kubeProxyVersion: fake
    operatingSystem: linux
    architecture: amd64
EOF
}

# kwok's own stage definitions, from its module: nodes initialise and keep
# their leases; pods become Running and Ready, and go away when deleted.
# Not `pod-complete`: a Job's pod ends only when the process the suite runs
# for it ends, with that process's exit code.
kwok_stages() {
    local stages; stages=$(cd "$module/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
    local f first=1
    : >"$state/kwok-stages.yaml"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
        pod/fast/pod-ready.yaml pod/fast/pod-delete.yaml; do
        [ $first = 1 ] || echo --- >>"$state/kwok-stages.yaml"
        first=0
        cat "$stages/$f" >>"$state/kwok-stages.yaml"
    done
}

up() {
    build
    mkdir -p "$state/etcd"
    pki
    start etcd $etcd_port "$bin/etcd" --name baedal-local --data-dir "$state/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster "baedal-local=http://127.0.0.1:$etcd_peer_port" \
        --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
    start kube-apiserver $apiserver_port "$bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port $apiserver_port \
        --tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
        --client-ca-file "$state/pki/ca.crt" \
        --authorization-mode Node,RBAC \
        --enable-admission-plugins NodeRestriction \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$state/pki/sa.pub" \
        --service-account-signing-key-file "$state/pki/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/16 \
        --audit-policy-file "$state/audit-policy.yaml" --audit-log-path "$state/audit.log" \
        --audit-log-format json --audit-log-maxsize 200 --audit-log-mode batch \
        --audit-log-batch-max-wait 1s \
        --profiling=false
    wait_for "the apiserver's /readyz" 120 kubectl_admin get --raw /readyz
    start kube-controller-manager $kcm_port "$bin/kube-controller-manager" \
        --kubeconfig "$state/kube-controller-manager.kubeconfig" \
        --authentication-kubeconfig "$state/kube-controller-manager.kubeconfig" \
        --authorization-kubeconfig "$state/kube-controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port $kcm_port \
        --service-account-private-key-file "$state/pki/sa.key" \
        --root-ca-file "$state/pki/ca.crt" \
        --cluster-signing-cert-file "$state/pki/ca.crt" --cluster-signing-key-file "$state/pki/ca.key" \
        --use-service-account-credentials \
        --node-monitor-grace-period 1h \
        --leader-elect=false --profiling=false
    start kube-scheduler $scheduler_port "$bin/kube-scheduler" \
        --kubeconfig "$state/kube-scheduler.kubeconfig" \
        --authentication-kubeconfig "$state/kube-scheduler.kubeconfig" \
        --authorization-kubeconfig "$state/kube-scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port $scheduler_port \
        --leader-elect=false --profiling=false
    kwok_stages
    start kwok $kwok_port "$kwok_bin" --kubeconfig "$state/kwok.kubeconfig" \
        --config "$state/kwok-stages.yaml" \
        --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
        --node-ip 10.244.0.1 --cidr 10.244.0.0/16 \
        --server-address "127.0.0.1:$kwok_port"
    for n in "${nodes[@]}"; do
        kubectl_admin get node "$n" >/dev/null 2>&1 || node_manifest "$n" | kubectl_admin create -f - >/dev/null
    done
    wait_for "every node Ready" 120 kubectl_admin wait --for=condition=Ready node --all --timeout=2s
    wait_for "the default ServiceAccount" 120 kubectl_admin -n default get serviceaccount default
    log "Kubernetes $k8s_version is up with ${#nodes[@]} kwok nodes; KUBECONFIG=$kubeconfig"
    echo "$kubeconfig"
}

down() {
    for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
        local pid_file="$state/$name.pid"
        if [ -f "$pid_file" ]; then
            local pid; pid=$(cat "$pid_file")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pid_file"
        fi
    done
    rm -rf "$state"
    log "stopped; state removed"
}

# A kubeconfig that authenticates as a ServiceAccount, with a fresh token:
# how the operator runs outside a pod with exactly its own RBAC.
account_kubeconfig() { # namespace account file
    local token
    token=$(kubectl_admin create token "$2" -n "$1" --duration=24h)
    cat >"$3" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: baedal-local, cluster: {server: "https://127.0.0.1:$apiserver_port", certificate-authority: "$state/pki/ca.crt"}}]
users: [{name: "$2", user: {token: "$token"}}]
contexts: [{name: baedal-local, context: {cluster: baedal-local, user: "$2"}}]
current-context: baedal-local
EOF
}

case "${1:-}" in
    build) build ;;
    kubeconfig)
        [ $# -eq 4 ] || { echo "usage: $0 kubeconfig NAMESPACE ACCOUNT FILE" >&2; exit 2; }
        account_kubeconfig "$2" "$3" "$4"
        ;;
    up) up ;;
    down) down ;;
    env)
        echo "export KUBECONFIG=$kubeconfig"
        echo "export BAEDAL_KUBECTL=$bin/kubectl"
        echo "export BAEDAL_CLUSTER_DIR=$state"
        echo "export BAEDAL_K8S_VERSION=$k8s_version"
        echo "export BAEDAL_KEDA_CRDS=$(keda_crds)"
        ;;
    *) echo "usage: $0 up|down|env|build|kubeconfig" >&2; exit 2 ;;
esac
