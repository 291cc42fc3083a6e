#!/usr/bin/env bash
# Latency of the live path: from an order's send in a replay to the refresh
# of the live views that shows it in /realtime/stats, p50 and p99, at about
# 500 and 5,000 orders per second (the replay's rate counts records of every
# kind; orders are about half of them). An ETL follower with the default
# settings (etl.live_refresh_ms 2000) times every order it loads from its
# Kafka timestamp and prints the percentiles when it stops.
#
#   scripts/bench-live.sh [seconds]     (default 30 per rate)
log_tag=bench-live
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
seconds=${1:-30}
eval "$(scripts/services.sh --env)"
cargo build --release --quiet -p baedal-workloads
bin=$(baedal_bin)
data=data/generated/s1
[ -f "$data/defect-summary.json" ] || "$bin" datagen --seed 42 --scale 1 --out "$data" >/dev/null
export PGOPTIONS="-c client_min_messages=warning"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-16s %10s %10s %10s %10s\n' "records/s asked" "orders/s" "orders" "p50 ms" "p99 ms"
for rate in 1000 10000; do
    run=live${rate}x$(date +%s)
    export BAEDAL_TOPIC_PREFIX=$run. BAEDAL_DATABASE_SCHEMA=$run BAEDAL_REDIS_PREFIX=$run: \
        BAEDAL_ETL_GROUP_ID=$run BAEDAL_METRICS_ADDR=127.0.0.1:0
    # The topics first, so that the follower finds them at once.
    timeout 2 "$bin" ingest --source "$data" --mode replay --rate 1 --partitions 3 >/dev/null 2>&1 || true
    BAEDAL_LOG=info "$bin" etl --follow >/dev/null 2>"$work/follower.log" &
    follower=$!
    sleep 3
    start=$(date +%s.%N)
    timeout --signal=TERM "$seconds" "$bin" ingest --source "$data" --mode replay --rate "$rate" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    sleep 4   # the last loads and one more refresh
    kill -TERM "$follower"
    wait "$follower" || true
    line=$(grep "send to live views" "$work/follower.log" | tail -1)
    orders=$(sed -E 's/.*orders=([0-9]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")
    per_second=$(python3 -c "print(round($orders / ($end - $start)))")
    printf '%-16s %10s %10s %10s %10s\n' "$rate" "$per_second" "$orders" "$p50" "$p99"
    drop_run "$run"
done
