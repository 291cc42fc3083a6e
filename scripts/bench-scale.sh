#!/usr/bin/env bash
# How time and memory grow with the data: ingest, the batch ETL, an ETL
# follower and the API at scale 1, 5 and 20 (100,000 to 2,000,000 orders),
# each workload's wall time and peak RSS (from /usr/bin/time), and the growth
# ratios against scale 1. Target: every peak under 512 MiB (the ETL pod's
# memory request is 512Mi, its limit 1Gi), time growing linearly.
#
#   scripts/bench-scale.sh [scale ...]     (default: 1 5 20)
#
# Each scale uses topics, a schema and a Redis prefix of its own, dropped at
# the end; the generated data stays in data/generated/s<scale>.
log_tag=bench-scale
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(1 5 20)
eval "$(scripts/services.sh --env)"
cargo build --release --quiet -p baedal-workloads
bin=$(baedal_bin)
command -v /usr/bin/time >/dev/null || apt_install time
export PGOPTIONS="-c client_min_messages=warning"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# Runs a command under /usr/bin/time; prints "<seconds> <peak MiB>".
measure() {
    local out
    out=$( { /usr/bin/time -f 'TIME %e %M' "$@" >/dev/null; } 2>&1 | grep '^TIME' )
    awk '{printf "%s %.0f\n", $2, $3 / 1024}' <<<"$out"
}

for scale in "${scales[@]}"; do
    data=data/generated/s$scale
    [ -f "$data/defect-summary.json" ] || "$bin" datagen --seed 42 --scale "$scale" --out "$data" >/dev/null
    run=scale${scale//./_}x$(date +%s)
    export BAEDAL_TOPIC_PREFIX=$run. BAEDAL_DATABASE_SCHEMA=$run BAEDAL_REDIS_PREFIX=$run: \
        BAEDAL_ETL_GROUP_ID=$run BAEDAL_METRICS_ADDR=127.0.0.1:0
    log "scale $scale: ingest"
    read -r t m < <(measure "$bin" ingest --source "$data" --partitions 6)
    echo "$scale ingest $t $m" >>"$results"
    log "scale $scale: etl (batch)"
    read -r t m < <(measure "$bin" etl)
    echo "$scale etl-batch $t $m" >>"$results"
    messages=$(psql "$BAEDAL_DATABASE_URL" -qAt -c "SELECT count(*) FROM $run.raw_records")
    # One loaded schema at a time (scale 20 is several GB).
    psql "$BAEDAL_DATABASE_URL" -qc "DROP SCHEMA $run CASCADE" >/dev/null

    # A follower over the same topics into a second schema, stopped once it
    # has loaded every message (SIGTERM: it finishes and refreshes the views).
    log "scale $scale: etl --follow"
    follow_schema=${run}f
    BAEDAL_DATABASE_SCHEMA=$follow_schema BAEDAL_ETL_GROUP_ID=${run}f /usr/bin/time -f 'TIME %e %M' \
        "$bin" etl --follow >/dev/null 2>"$results.follow" &
    follower=$!
    started=$(date +%s)
    until [ "$(psql "$BAEDAL_DATABASE_URL" -qAt -c "SELECT count(*) FROM $follow_schema.raw_records" 2>/dev/null || echo 0)" -ge "$messages" ]; do
        sleep 1
        [ $(($(date +%s) - started)) -lt 3600 ] || { log "the follower did not catch up within an hour"; exit 1; }
    done
    pkill -TERM -P "$follower" baedal || true
    wait "$follower" || true
    awk -v s="$scale" '/^TIME/ {printf "%s etl-follow %s %.0f\n", s, $2, $3 / 1024}' "$results.follow" >>"$results"

    # The API under load: every JSON route, 20 rounds, 4 at a time, with the
    # answer cache off (every answer computed, and nothing but the API timed).
    log "scale $scale: api"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BAEDAL_CACHE_TTL=0 /usr/bin/time -f 'TIME %e %M' "$bin" api --listen "127.0.0.1:$port" >/dev/null 2>"$results.api" &
    api=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    paths=$(curl -fsS "http://127.0.0.1:$port/openapi.json" | python3 -c 'import json, sys; print("\n".join(p for p in json.load(sys.stdin)["paths"] if "{" not in p))')
    for _ in $(seq 1 20); do
        printf '%s\n' $paths | xargs -P 4 -I{} curl -s -o /dev/null "http://127.0.0.1:$port{}?limit=1000"
    done
    pkill -TERM -P "$api" baedal || true
    wait "$api" || true
    awk -v s="$scale" '/^TIME/ {printf "%s api %s %.0f\n", s, $2, $3 / 1024}' "$results.api" >>"$results"
    rm -f "$results.follow" "$results.api"

    psql "$BAEDAL_DATABASE_URL" -qc "DROP SCHEMA $follow_schema CASCADE" >/dev/null
    drop_run "$run"
done

python3 - "$results" <<'PY'
import sys
from collections import defaultdict
rows = [line.split() for line in open(sys.argv[1])]
by = defaultdict(dict)
for scale, workload, seconds, mib in rows:
    by[workload][float(scale)] = (float(seconds), int(mib))
print(f"{'workload':12} {'scale':>6} {'seconds':>9} {'peak MiB':>9} {'time ratio':>11} {'scale ratio':>12}")
worst = 0
for workload, runs in by.items():
    base = min(runs)
    for scale in sorted(runs):
        seconds, mib = runs[scale]
        worst = max(worst, mib)
        ratio = seconds / runs[base][0] if runs[base][0] else float("nan")
        print(f"{workload:12} {scale:>6g} {seconds:>9.1f} {mib:>9} {ratio:>11.2f} {scale / base:>12g}")
print(f"\nlargest peak: {worst} MiB (target < 512 MiB)")
PY
