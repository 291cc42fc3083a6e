#!/usr/bin/env bash
# Reader throughput against Python's csv module and pandas.read_csv, in one run on the same files.
#
#   scripts/bench-readers.sh [scale]      (default scale 1 = 100,000 CSV orders)
#
# Prints records/s for every baedal reader, then for orders.csv the records/s of
# Python's csv.reader and pandas.read_csv and baedal's ratio against each.
# baedal's CSV reader yields typed, validated orders; csv.reader yields lists of
# strings and read_csv a DataFrame with inferred dtypes.
set -euo pipefail
log_tag=bench-readers
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-1}
data=$(pwd)/data/generated/bench-s$scale

python3 -c "import pandas" 2>/dev/null || python3 -m pip install --quiet pandas
cargo build --release --quiet -p baedal-workloads
[ -f "$data/defect-summary.json" ] || "$(baedal_bin)" datagen --seed 42 --scale "$scale" --out "$data" >/dev/null

out=$(cargo bench --quiet -p baedal-workloads --bench readers -- "$data")
echo "$out" | grep -v '^BENCH '
baedal_csv=$(echo "$out" | grep '^BENCH ' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line[6:])
    if r["reader"] == "csv":
        print(r["records_per_s"])')

python3 - "$data/orders.csv" "$baedal_csv" <<'PY'
import csv, sys, time
import pandas as pd
path, ours = sys.argv[1], float(sys.argv[2])

def best(fn, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t)
    return n, min(times)

def python_csv():
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1

def pandas_read_csv():
    return len(pd.read_csv(path, on_bad_lines="skip", low_memory=False))

print()
print(f"{'orders.csv reader':<28} {'records':>9} {'records/s':>12} {'baedal ×':>9}")
for name, fn in [("python csv.reader", python_csv), ("pandas.read_csv", pandas_read_csv)]:
    n, s = best(fn)
    print(f"{name:<28} {n:>9} {n / s:>12.0f} {ours / (n / s):>9.2f}")
print(f"{'baedal CsvReader (typed)':<28} {'':>9} {ours:>12.0f} {1.0:>9.2f}")
PY
