#!/usr/bin/env bash
# Every check CI runs: set up, start the local services and the local
# Kubernetes control plane, formatting, lints, manifests, then every test
# (the operator's end-to-end suite among them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
# What this run starts, it stops: the broker (it starts empty each time) and
# the control plane (its state is thrown away).
started_broker=""
started_cluster=""
cleanup() {
    if [ -n "$started_broker" ]; then scripts/services.sh --stop-kafka || true; fi
    if [ -n "$started_cluster" ]; then scripts/cluster.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
(exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null || started_broker=1
# Apache Kafka, PostgreSQL and Redis on loopback, for the pipeline tests.
eval "$(scripts/services.sh --env)"
# The control plane, for the operator's end-to-end suite.
(exec 3<>/dev/tcp/127.0.0.1/6443) 2>/dev/null || started_cluster=1
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Rendered examples, the Helm chart and the kustomize bases against the
# Kubernetes schemas; this also installs the helm the end-to-end suite uses.
scripts/validate-manifests.sh
export BAEDAL_HELM="$cache/tools/bin/helm"
# The suite runs the workloads' binary as the pods' command.
cargo build --workspace --bins --quiet
# A hung test fails the run (with its output) long before CI's own limit.
timeout 45m cargo test --workspace
# The two container images, built without a daemon and their contents run
# (read-only root, uid 10001), with an SBOM each.
scripts/images.sh
