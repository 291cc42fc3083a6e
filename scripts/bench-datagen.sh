#!/usr/bin/env bash
# Generator speed and memory at a given scale (default 10): elapsed seconds,
# records/s, output size and peak resident memory.
#   scripts/bench-datagen.sh [scale]
# The dataset is written to a temporary directory and removed afterwards.
log_tag=bench-datagen
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-10}
cargo build --release --quiet -p baedal-workloads
bin=$(baedal_bin)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/usr/bin/time -f "%e %M" -o "$out.time" "$bin" datagen --seed 42 --scale "$scale" --out "$out/data" >/dev/null
read -r seconds peak_kb < "$out.time"
rm -f "$out.time"
records=$(python3 -c "import json,sys; print(sum(f['records'] for f in json.load(open(sys.argv[1]))['files'].values()))" "$out/data/defect-summary.json")
bytes=$(du -sb "$out/data" | cut -f1)
python3 - "$scale" "$seconds" "$peak_kb" "$records" "$bytes" <<'PY'
import sys
scale, seconds, peak_kb, records, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"scale {scale}: {records:,} records, {size / 1e9:.2f} GB in {seconds:.1f} s "
      f"({records / seconds:,.0f} records/s, {size / seconds / 1e6:.0f} MB/s), peak RSS {peak_kb / 1024:.1f} MiB")
PY
