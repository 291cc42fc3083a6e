#!/usr/bin/env bash
# The platform's main job on this machine: set up, start the local services,
# generate the dataset, profile it, send it through Kafka, load it into
# Postgres and Redis, and serve the analytics API and dashboard.
#
#   scripts/run.sh [--scale N] [--seed N]     (defaults: scale 1, seed 42)
#   scripts/run.sh --live [--rate N] [--scale N] [--seed N]
#
# --live: the real-time half instead of the batch load. The API starts
# first, then an ETL follower (`baedal etl --follow`) and a replay of the
# dataset at N records per second (default 500) into topics of their own
# (`live-<time>.`), schema `live` and Redis prefix `live:`; the script prints
# the dashboard's real-time page, which moves as the data arrives. Stop with
# `scripts/run.sh --stop-live`.
#
# Output: data/generated/s<scale>/ (the six files and defect-summary.json),
# data/generated/s<scale>.profile.json, and the loaded tables in the `baedal`
# schema of the local Postgres (see `baedal config` for every setting), and
# `baedal api` left running in the background on $BAEDAL_API_LISTEN
# (default 127.0.0.1:8080): the script ends by printing the dashboard URL.
log_tag=run
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=1
seed=42
live=""
rate=500
pids=data/generated/live.pids
stop_live() {
    if [ -f "$pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$pids"
        rm -f "$pids"
    fi
}
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --live) live=1; shift ;;
        --rate) rate=$2; shift 2 ;;
        --stop-live) stop_live; exit 0 ;;
        *) echo "usage: scripts/run.sh [--live [--rate N]] [--scale N] [--seed N] | --stop-live" >&2; exit 2 ;;
    esac
done
scripts/setup.sh
eval "$(scripts/services.sh --env)"
cargo build --release --quiet -p baedal-workloads
bin=$(baedal_bin)
out=data/generated/s$scale
"$bin" datagen --seed "$seed" --scale "$scale" --out "$out"
"$bin" profile "$out" --json "$out.profile.json"

listen=${BAEDAL_API_LISTEN:-127.0.0.1:8080}
start_api() {
    local pidfile=data/generated/api.pid
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; sleep 0.5; fi
    BAEDAL_LOG=info setsid nohup "$bin" api --listen "$listen" </dev/null >data/generated/api.log 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://$listen/readyz" >/dev/null || { echo "the API did not start; see data/generated/api.log" >&2; exit 1; }
}

if [ -n "$live" ]; then
    stop_live
    export BAEDAL_TOPIC_PREFIX="live-$(date +%s)." BAEDAL_DATABASE_SCHEMA=live BAEDAL_REDIS_PREFIX=live:
    export BAEDAL_ETL_GROUP_ID="baedal-etl-$BAEDAL_TOPIC_PREFIX"
    psql "$BAEDAL_DATABASE_URL" -qc "SET client_min_messages = warning" -c 'DROP SCHEMA IF EXISTS live CASCADE' >/dev/null
    redis-cli -u "$BAEDAL_REDIS_URL" --scan --pattern 'live:*' | xargs -r redis-cli -u "$BAEDAL_REDIS_URL" del >/dev/null
    start_api
    # The replay creates the topics; the follower joins once they exist.
    BAEDAL_LOG=info setsid nohup "$bin" ingest --source "$out" --mode replay --rate "$rate" \
        </dev/null >data/generated/live-ingest.log 2>&1 &
    echo $! >"$pids"
    sleep 2
    BAEDAL_LOG=info BAEDAL_METRICS_ADDR=127.0.0.1:9465 setsid nohup "$bin" etl --follow \
        </dev/null >data/generated/live-etl.log 2>&1 &
    echo $! >>"$pids"
    echo
    echo "live: replaying $out at $rate records/s into topics ${BAEDAL_TOPIC_PREFIX}*, schema live, Redis live:*"
    echo "real-time page: http://$listen/dashboard/realtime"
    echo "ETL lag:        http://127.0.0.1:9465/metrics (baedal_etl_consumer_lag)"
    echo "(stop the replay and the follower with: scripts/run.sh --stop-live)"
    exit 0
fi

"$bin" ingest --source "$out"
"$bin" etl

# The API and dashboard, in the background (a previous run's is replaced).
start_api
echo
echo "loaded into $BAEDAL_DATABASE_URL (schema baedal); Redis views under baedal:* at $BAEDAL_REDIS_URL"
echo "API:       http://$listen/openapi.json"
echo "dashboard: http://$listen/dashboard/"
echo "(the API runs in the background; stop it with: kill \$(cat data/generated/api.pid))"
