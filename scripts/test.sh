#!/usr/bin/env bash
# Every check CI runs: set up, start the local services and the local
# Kubernetes control plane, formatting, lints, manifests, then every test
# (the operator's end-to-end suite among them), then the container images.
#
# Two builds run beside the checks, so that their waits and single-threaded
# stretches are not idle time: the Kubernetes binaries (Go) while clippy
# runs, and the images' tools and release binaries at the lowest priority
# (nice 19) from the start, so that they take only the CPU the checks leave.
log_tag=test
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
started=$(date +%s)
phase() { log "$* (at $(( $(date +%s) - started )) s)"; }
scripts/setup.sh
phase "toolchain ready"
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
logs=$(mktemp -d)
# What this run starts, it stops: the broker (it starts empty each time), the
# control plane (its state is thrown away) and the background builds.
started_broker=""
started_cluster=""
background=()
cleanup() {
    for pid in "${background[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    if [ -n "$started_broker" ]; then scripts/services.sh --stop-kafka || true; fi
    if [ -n "$started_cluster" ]; then scripts/cluster.sh down >/dev/null 2>&1 || true; fi
    rm -rf "$logs"
}
trap cleanup EXIT
# Each background build in its own process group (job control on), so that
# cleanup stops its compilers too. Not in a session of its own (setsid): the
# kernel schedules each session as one group (autogroup), with a fair share
# of the CPU whatever the nice value of its processes inside.
set -m
scripts/cluster.sh build < /dev/null > "$logs/cluster-build.log" 2>&1 &
cluster_build=$!
nice -n 19 scripts/images.sh --prepare < /dev/null > "$logs/images-prepare.log" 2>&1 &
images_prepare=$!
set +m
background=("$cluster_build" "$images_prepare")
finish() { # pid log what
    wait "$1" || { cat "$2" >&2; log "$3 failed"; exit 1; }
    cat "$2" >&2
}

(exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null || started_broker=1
# Apache Kafka, PostgreSQL and Redis on loopback, for the pipeline tests.
eval "$(scripts/services.sh --env)"
phase "services up"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
phase "clippy passed"
# The control plane, for the operator's end-to-end suite.
finish "$cluster_build" "$logs/cluster-build.log" "building the Kubernetes binaries"
(exec 3<>/dev/tcp/127.0.0.1/6443) 2>/dev/null || started_cluster=1
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"
phase "control plane up"
# Rendered examples, the Helm chart and the kustomize bases against the
# Kubernetes schemas; this also installs the helm the end-to-end suite uses.
scripts/validate-manifests.sh
export BAEDAL_HELM="$cache/tools/bin/helm"
# The suite runs the workloads' binary as the pods' command.
cargo build --workspace --bins --quiet
phase "manifests valid, binaries built"
# A hung test fails the run (with its output) long before CI's own limit.
timeout 45m cargo test --workspace
phase "tests passed"
# The two container images, built without a daemon and their contents run
# (read-only root, uid 10001), with an SBOM each.
finish "$images_prepare" "$logs/images-prepare.log" "building the images' tools and release binaries"
phase "release binaries built"
scripts/images.sh
phase "images built and checked"
