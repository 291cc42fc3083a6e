#!/usr/bin/env bash
# API throughput and latency: wrk, 30 s at 64 connections, against
#   cached:   GET /analytics/order-trends (an aggregate over every order,
#             answered from Redis after the first request)
#   uncached: GET /cache/order/{random order id} on an API whose order cache
#             lives 1 s, so almost every request goes to Postgres (the miss
#             ratio is read back from the API's own /metrics)
# and, in the same run for scale, redis-benchmark GET at 64 connections;
# then every /analytics/ route of /openapi.json, uncached (an API with the
# answer cache off), one request at a time, 40 times each: p50 and p99
# against the 50 ms target.
#
#   scripts/bench-api.sh [scale] [seconds]     (defaults: 1, 30)
log_tag=bench-api
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-1}
seconds=${2:-30}
data=$(pwd)/data/generated/bench-s$scale
eval "$(scripts/services.sh --env)"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet -p baedal-workloads
bin=$(baedal_bin)
[ -f "$data/defect-summary.json" ] || "$bin" datagen --seed 42 --scale "$scale" --out "$data" >/dev/null
run=benchapi$(date +%s)
work=$(mktemp -d)
export BAEDAL_TOPIC_PREFIX=$run. BAEDAL_DATABASE_SCHEMA=$run BAEDAL_REDIS_PREFIX=$run: BAEDAL_METRICS_ADDR=127.0.0.1:0
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    drop_run "$run"
    rm -rf "$work"
}
trap cleanup EXIT
"$bin" ingest --source "$data" >/dev/null
"$bin" etl >/dev/null

start_api() { # port, extra env...
    local port=$1; shift
    env "$@" "$bin" api --listen "127.0.0.1:$port" >"$work/api-$port.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "API on $port did not start" >&2; cat "$work/api-$port.log" >&2; exit 1
}
start_api 18081 BAEDAL_CACHE_TTL=600
start_api 18082 BAEDAL_ORDER_CACHE_TTL=1
start_api 18083 BAEDAL_CACHE_TTL=0
curl -fsS "http://127.0.0.1:18081/analytics/order-trends" >/dev/null   # fills the cache

# Random order ids from the loaded orders, for the uncached run.
psql "$BAEDAL_DATABASE_URL" -qAt -c "SELECT order_id FROM $run.orders ORDER BY random()" >"$work/ids"
cat >"$work/random-order.lua" <<LUA
local ids = {}
for line in io.lines("$work/ids") do ids[#ids + 1] = line end
math.randomseed(42)
request = function()
  return wrk.format("GET", "/cache/order/" .. ids[math.random(#ids)])
end
LUA

wrk_run() { # name, url, [lua]
    local name=$1 url=$2 script=${3:-}
    if [ -n "$script" ]; then
        wrk -t2 -c64 -d"${seconds}s" --latency -s "$script" "$url" >"$work/$name.wrk"
    else
        wrk -t2 -c64 -d"${seconds}s" --latency "$url" >"$work/$name.wrk"
    fi
}
wrk_run cached "http://127.0.0.1:18081/analytics/order-trends"
wrk_run uncached "http://127.0.0.1:18082" "$work/random-order.lua"
curl -fsS "http://127.0.0.1:18082/metrics" >"$work/uncached.metrics"
redis-benchmark -h 127.0.0.1 -p 6379 -t get -c 64 -n 300000 --csv >"$work/redis.csv" 2>/dev/null

python3 - "$work" <<'PY'
import csv, re, sys, pathlib
work = pathlib.Path(sys.argv[1])
def wrk(name):
    text = (work / f"{name}.wrk").read_text()
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return rps, ms(*p99.groups()), total, errors
metrics = (work / "uncached.metrics").read_text()
def lookups(result):
    m = re.search(r'baedal_api_cache_lookups_total\{result="%s"\} (\d+)' % result, metrics)
    return int(m.group(1)) if m else 0
hits, misses = lookups("hit"), lookups("miss")
rows = list(csv.reader(open(work / "redis.csv")))
header, get = rows[0], rows[1]
redis_rps = float(get[header.index("rps")])
redis_p99 = float(get[header.index("p99_latency_ms")]) if "p99_latency_ms" in header else float("nan")
print(f"{'':44} {'requests':>9} {'errors':>7} {'req/s':>9} {'p99 ms':>8}")
for name, label in [("cached", "cached   /analytics/order-trends"), ("uncached", "uncached /cache/order/{random id}")]:
    rps, p99, total, errors = wrk(name)
    print(f"{label:44} {total:>9} {errors:>7} {rps:>9.0f} {p99:>8.2f}")
print(f"{'redis-benchmark GET (64 connections)':44} {'':>9} {'':>7} {redis_rps:>9.0f} {redis_p99:>8.2f}")
print()
print(f"uncached run: {misses} cache misses, {hits} hits ({misses / max(1, hits + misses):.1%} from Postgres)")
c, u = wrk("cached"), wrk("uncached")
print(f"cached vs redis-benchmark GET: {c[0] / redis_rps:.2f}x requests/s")
print(f"targets: 0 errors ({c[3] + u[3]} seen); cached p99 < 10 ms ({c[1]:.2f}); uncached p99 < 50 ms ({u[1]:.2f})")
PY

echo
python3 - http://127.0.0.1:18083 40 <<'PY'
import json, sys, time, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
doc = json.load(urllib.request.urlopen(base + "/openapi.json"))
top = json.load(urllib.request.urlopen(base + "/analytics/restaurant-performance?limit=1"))
required = {"/analytics/restaurant-forecast": "?restaurant_id=" + top["ranking"][0]["restaurant_id"]}
print(f"{'uncached route (one request at a time)':44} {'p50 ms':>8} {'p99 ms':>8}  p99 < 50 ms")
slow = 0
for path in sorted(p for p in doc["paths"] if p.startswith("/analytics/")):
    url = base + path + required.get(path, "")
    # Two warm-up requests, not timed: the first prepares the route's
    # statements on a pooled connection.
    for _ in range(2):
        urllib.request.urlopen(url).read()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            r.read()
            assert r.headers.get("x-cache") != "hit", url
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    at = lambda q: times[round(q * (len(times) - 1))]
    slow += at(0.99) >= 50
    print(f"{path:44} {at(0.5):>8.1f} {at(0.99):>8.1f}  {'yes' if at(0.99) < 50 else 'NO'}")
print(f"{slow} routes over the 50 ms target")
PY
