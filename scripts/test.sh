#!/usr/bin/env bash
# Every check CI runs: set up, start the local services, formatting, lints,
# then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Kafka-protocol broker, PostgreSQL and Redis on loopback, for the pipeline tests.
eval "$(scripts/services.sh --env)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
