#!/usr/bin/env bash
# The models against the reference ones: the demand forecast on the same
# holdouts as Holt-Winters, and the churn classifier's validation AUC.
#
#   scripts/bench-models.sh [scale] [seed]     (default scale 1, seed 42)
#
# Generates a dataset (once), backtests baedal's model (MSTL with periods 24
# and 168 h, exponential smoothing of the rest; workloads/src/forecast.rs) and seasonal naive from several
# origins in the last 4 weeks (benches/models.rs), then statsmodels'
# additive Holt-Winters (period 168; with an additive trend, a damped one and
# none) from the same origins on the same hourly series, and prints daily
# MAPE, hourly MAPE (hours with orders) and MASE of each, and baedal's ratio
# to the best Holt-Winters variant on each measure (below 1: baedal is better).
log_tag=bench-models
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-1}
seed=${2:-42}
data=$(pwd)/data/generated/bench-models-s$scale-seed$seed

scripts/setup.sh >/dev/null   # the reference models' Python (statsmodels, scikit-learn, lifetimes)
python=${BAEDAL_CACHE:-$HOME/.cache/baedal}/tools/oracle/bin/python
cargo build --release --quiet -p baedal-workloads
[ -f "$data/defect-summary.json" ] || "$(baedal_bin)" datagen --seed "$seed" --scale "$scale" --out "$data" >/dev/null
series=$(mktemp)
ours=$(mktemp)
input=$(mktemp)
reference=$(mktemp)
trap 'rm -f "$series" "$ours" "$input" "$reference"' EXIT
out=$(cargo bench --quiet -p baedal-workloads --bench models -- "$data" "$series")
echo "$out" | grep -v '^BENCH '
echo "$out" | grep '^BENCH ' | cut -c7- > "$ours"
weeks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["weeks"])' "$ours")
printf '{"series": %s, "weeks": %s}' "$(cat "$series")" "$weeks" > "$input"
"$python" workloads/tests/oracle/reference_models.py "$input" > "$reference"
python3 - "$ours" "$reference" <<'PY'
import json, sys
ours, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
hw = ref["holt_winters_best"]
# The two implementations cut the same holdouts: their seasonal naive agrees.
assert abs(ref["seasonal_naive_mase"] - ours["backtest"]["seasonal_naive"]["mase"]) < 1e-6, "holdouts differ"
for name, v in ref["holt_winters"].items():
    label = "hw " + name.replace("_", " ")
    print(f"{label:<16} {v['daily_mape']*100:>10.1f}% {v['hourly_mape']*100:>11.1f}% {v['mase']:>7.3f}")
m = ours["backtest"]["model"]
print()
print("baedal ÷ the best Holt-Winters variant (additive, period 168) on each measure:"
      f" daily MAPE {m['daily_mape']/hw['daily_mape']:.2f}×,"
      f" hourly MAPE {m['hourly_mape']/hw['hourly_mape']:.2f}×, MASE {m['mase']/hw['mase']:.2f}×")
PY
