#!/usr/bin/env bash
# The platform's main job on this machine: set up, start the local services,
# generate the dataset, profile it, send it through Kafka and load it into
# Postgres and Redis.
#
#   scripts/run.sh [--scale N] [--seed N]     (defaults: scale 1, seed 42)
#
# Output: data/generated/s<scale>/ (the six files and defect-summary.json),
# data/generated/s<scale>.profile.json, and the loaded tables in the `baedal`
# schema of the local Postgres (see `baedal config` for every setting).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1
seed=42
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        *) echo "usage: scripts/run.sh [--scale N] [--seed N]" >&2; exit 2 ;;
    esac
done
scripts/setup.sh
eval "$(scripts/services.sh --env)"
cargo build --release --quiet -p baedal-workloads
bin=${CARGO_TARGET_DIR:-target}/release/baedal
out=data/generated/s$scale
"$bin" datagen --seed "$seed" --scale "$scale" --out "$out"
"$bin" profile "$out" --json "$out.profile.json"
"$bin" ingest --source "$out"
"$bin" etl
echo
echo "loaded into $BAEDAL_DATABASE_URL (schema baedal); Redis views under baedal:* at $BAEDAL_REDIS_URL"
