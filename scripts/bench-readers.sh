#!/usr/bin/env bash
# Reader throughput against Python's csv module, pandas.read_csv and polars.read_csv, in one run on the same files.
#
#   scripts/bench-readers.sh [scale]      (default scale 1 = 100,000 CSV orders)
#
# Prints records/s for every baedal reader, then for orders.csv the records/s of
# Python's csv.reader, pandas.read_csv and polars.read_csv and baedal's ratio
# against each. Every reader is timed the same way: the best of at least five
# runs and at least a second of them. baedal's CSV reader yields typed,
# validated orders; csv.reader yields lists of strings, read_csv a DataFrame
# with inferred dtypes, and polars typed columns on every core (two here),
# skipping malformed rows.
set -euo pipefail
log_tag=bench-readers
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-1}
data=$(pwd)/data/generated/bench-s$scale

python3 -c "import pandas" 2>/dev/null || python3 -m pip install --quiet pandas
python3 -c "import polars" 2>/dev/null || python3 -m pip install --quiet polars
cargo build --release --quiet -p baedal-workloads
[ -f "$data/defect-summary.json" ] || "$(baedal_bin)" datagen --seed 42 --scale "$scale" --out "$data" >/dev/null

out=$(cargo bench --quiet -p baedal-workloads --bench readers -- "$data")
# polars.read_csv stops at the first unterminated quote (ignore_errors does not
# cover it), so it is compared on a copy of orders.csv without the broken
# lines (an odd number of quotes), with baedal's reader on the same copy.
clean=$(mktemp -d)
trap 'rm -rf "$clean"' EXIT
python3 - "$data/orders.csv" "$clean/orders.csv" <<'PY'
import sys
with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in src:
        if line.count('"') % 2 == 0:
            out.write(line)
PY
clean_out=$(cargo bench --quiet -p baedal-workloads --bench readers -- "$clean")
echo "$out" | grep -v '^BENCH '
baedal_csv=$(echo "$out" | grep '^BENCH ' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line[6:])
    if r["reader"] == "csv":
        print(r["records_per_s"])')

baedal_clean=$(echo "$clean_out" | grep '^BENCH ' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line[6:])
    if r["reader"] == "csv":
        print(r["records_per_s"])')

python3 - "$data/orders.csv" "$baedal_csv" "$clean/orders.csv" "$baedal_clean" <<'PY'
import csv, sys, time
import pandas as pd
import polars as pl
path, ours, clean, ours_clean = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def best(fn):
    # The best of at least five runs and at least a second of them, as
    # baedal's readers are timed (workloads/benches/readers.rs).
    times, window = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - window < 1.0:
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

def polars_read_csv():
    return pl.read_csv(clean, ignore_errors=True, truncate_ragged_lines=True, infer_schema_length=10000).height

print()
print(f"{'orders.csv reader':<28} {'records':>9} {'records/s':>12} {'baedal ×':>9}")
for name, fn in [("python csv.reader", python_csv), ("pandas.read_csv", pandas_read_csv)]:
    n, s = best(fn)
    print(f"{name:<28} {n:>9} {n / s:>12.0f} {ours / (n / s):>9.2f}")
print(f"{'baedal CsvReader (typed)':<28} {'':>9} {ours:>12.0f} {1.0:>9.2f}")
print()
print("on the copy without broken lines:")
n, s = best(polars_read_csv)
print(f"{'polars.read_csv':<28} {n:>9} {n / s:>12.0f} {ours_clean / (n / s):>9.2f}")
print(f"{'baedal CsvReader (typed)':<28} {'':>9} {ours_clean:>12.0f} {1.0:>9.2f}")
PY
