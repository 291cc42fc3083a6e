#!/usr/bin/env bash
# Every check CI runs: set up, start the local services, formatting, lints,
# then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Kafka-protocol broker, PostgreSQL and Redis on loopback, for the pipeline tests.
# A broker this run starts is stopped when it ends (its data is in memory).
cache=${BAEDAL_CACHE:-$HOME/.cache/baedal}
if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    trap '[ -f "$cache/tansu.pid" ] && kill "$(cat "$cache/tansu.pid")" 2>/dev/null; rm -f "$cache/tansu.pid"' EXIT
fi
eval "$(scripts/services.sh --env)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# A hung test fails the run (with its output) long before CI's own limit.
timeout 45m cargo test --workspace
# Rendered examples, the Helm chart and the kustomize bases against the Kubernetes schemas.
scripts/validate-manifests.sh
