#!/usr/bin/env bash
# Reader throughput against Python's csv module, pandas.read_csv and polars.read_csv, in one run on the same files.
#
#   scripts/bench-readers.sh [scale]      (default scale 1 = 100,000 CSV orders)
#
# Prints records/s for every baedal reader, then for orders.csv the records/s of
# Python's csv.reader, pandas.read_csv and polars.read_csv and baedal's ratio
# against each. Every reader is timed the same way: the best of at least five
# runs and at least a second of them; on orders.csv, in rounds that take turns
# (BENCH_READERS_ROUNDS, default 3), each contender's best round counting.
# baedal's CSV reader yields typed, validated orders; csv.reader yields lists
# of strings, read_csv a DataFrame with inferred dtypes, and polars typed
# columns on every core (two here), skipping malformed rows.
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

# polars.read_csv stops at the first unterminated quote (ignore_errors does not
# cover it), so it is compared on a copy of orders.csv without the broken
# lines (an odd number of quotes), with baedal's reader on the same copy.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/whole" "$work/clean"
ln -s "$data/orders.csv" "$work/whole/orders.csv"
python3 - "$data/orders.csv" "$work/clean/orders.csv" <<'PY'
import sys
with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in src:
        if line.count('"') % 2 == 0:
            out.write(line)
PY

# Every reader on every file of the dataset, once.
cargo bench --quiet -p baedal-workloads --bench readers -- "$data" | grep -v '^BENCH '

# orders.csv against Python's readers, in rounds that take turns: the two
# cores are shared, and a slow minute of the machine should fall on every
# contender alike, not on whichever ran in it. Each contender's figure is
# its best round.
#
# baedal_csv_rate DIR: the records and records/s of baedal's CSV reader on
# DIR/orders.csv.
baedal_csv_rate() {
    cargo bench --quiet -p baedal-workloads --bench readers -- "$1" | python3 -c '
import json, sys
rates = [json.loads(line[6:]) for line in sys.stdin if line.startswith("BENCH ")]
csv = [r for r in rates if r["reader"] == "csv"]
if not csv:
    sys.exit("the readers bench printed no CSV rate")
print(csv[0]["records"], csv[0]["records_per_s"])'
}
rounds=${BENCH_READERS_ROUNDS:-3}
for round in $(seq "$rounds"); do
    # Assigned first, so that a bench that fails stops the script (set -e).
    whole=$(baedal_csv_rate "$work/whole")
    clean=$(baedal_csv_rate "$work/clean")
    echo "baedal $whole" >> "$work/rates"
    echo "baedal-clean $clean" >> "$work/rates"
    python3 - "$work/whole/orders.csv" "$work/clean/orders.csv" >> "$work/rates" <<'PY'
import csv, sys, time
import pandas as pd
import polars as pl
path, clean = sys.argv[1], sys.argv[2]

def best(fn):
    # The best of at least five runs and at least a second of them, as
    # baedal's readers are timed (workloads/benches/readers.rs).
    times, window = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - window < 1.0:
        t = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t)
    return n, n / min(times)

def python_csv():
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1

def pandas_read_csv():
    return len(pd.read_csv(path, on_bad_lines="skip", low_memory=False))

def polars_read_csv():
    return pl.read_csv(clean, ignore_errors=True, truncate_ragged_lines=True, infer_schema_length=10000).height

for name, fn in [("csv.reader", python_csv), ("pandas", pandas_read_csv), ("polars", polars_read_csv)]:
    print(name, *best(fn))
PY
    log "round $round of $rounds: $(awk -v n=$((round * 5)) 'NR > n - 5 {printf "%s %.0f/s  ", $1, $3}' "$work/rates")"
done

python3 - "$work/rates" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    name, n, rate = line.split()
    if float(rate) > best.get(name, (0, 0.0))[1]:
        best[name] = (int(n), float(rate))
ours, ours_clean = best["baedal"][1], best["baedal-clean"][1]
print()
print(f"{'orders.csv reader':<28} {'records':>9} {'records/s':>12} {'baedal ×':>9}")
for name, label in [("csv.reader", "python csv.reader"), ("pandas", "pandas.read_csv")]:
    n, rate = best[name]
    print(f"{label:<28} {n:>9} {rate:>12.0f} {ours / rate:>9.2f}")
print(f"{'baedal CsvReader (typed)':<28} {best['baedal'][0]:>9} {ours:>12.0f} {1.0:>9.2f}")
print()
print("on the copy without broken lines:")
n, rate = best["polars"]
print(f"{'polars.read_csv':<28} {n:>9} {rate:>12.0f} {ours_clean / rate:>9.2f}")
print(f"{'baedal CsvReader (typed)':<28} {best['baedal-clean'][0]:>9} {ours_clean:>12.0f} {1.0:>9.2f}")
PY
