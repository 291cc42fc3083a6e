#!/usr/bin/env bash
# The platform's main job on this machine: set up, start the local services,
# generate the dataset, profile it, send it through Kafka, load it into
# Postgres and Redis, and serve the analytics API and dashboard.
#
#   scripts/run.sh [--scale N] [--seed N]     (defaults: scale 1, seed 42)
#
# Output: data/generated/s<scale>/ (the six files and defect-summary.json),
# data/generated/s<scale>.profile.json, and the loaded tables in the `baedal`
# schema of the local Postgres (see `baedal config` for every setting), and
# `baedal api` left running in the background on $BAEDAL_API_LISTEN
# (default 127.0.0.1:8080): the script ends by printing the dashboard URL.
set -euo pipefail
log_tag=run
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
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
bin=$(baedal_bin)
out=data/generated/s$scale
"$bin" datagen --seed "$seed" --scale "$scale" --out "$out"
"$bin" profile "$out" --json "$out.profile.json"
"$bin" ingest --source "$out"
"$bin" etl

# The API and dashboard, in the background (a previous run's is replaced).
listen=${BAEDAL_API_LISTEN:-127.0.0.1:8080}
pidfile=data/generated/api.pid
if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; sleep 0.5; fi
BAEDAL_LOG=info setsid nohup "$bin" api --listen "$listen" </dev/null >data/generated/api.log 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
    curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://$listen/readyz" >/dev/null || { echo "the API did not start; see data/generated/api.log" >&2; exit 1; }
echo
echo "loaded into $BAEDAL_DATABASE_URL (schema baedal); Redis views under baedal:* at $BAEDAL_REDIS_URL"
echo "API:       http://$listen/openapi.json"
echo "dashboard: http://$listen/dashboard/"
echo "(the API runs in the background; stop it with: kill \$(cat $pidfile))"
