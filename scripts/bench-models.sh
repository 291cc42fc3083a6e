#!/usr/bin/env bash
# The models against the reference ones: the demand forecast on the same
# holdouts as Holt-Winters, and the churn classifier's validation AUC.
#
#   scripts/bench-models.sh [scale] [seed]     (default scale 1, seed 42)
#
# Generates a dataset (once), backtests baedal's model (MSTL with periods 24
# and 168 h, exponential smoothing of the rest; workloads/src/forecast.rs) and seasonal naive from several
# origins in the last 4 weeks (benches/models.rs), then statsmodels'
# additive Holt-Winters (period 168) from the same origins on the same hourly
# series, and prints daily MAPE, hourly MAPE (hours with orders) and MASE of
# each, and baedal's ratio to Holt-Winters (below 1: baedal is better).
set -euo pipefail
log_tag=bench-models
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scale=${1:-1}
seed=${2:-42}
data=$(pwd)/data/generated/bench-models-s$scale-seed$seed

python3 -c "import statsmodels" 2>/dev/null || python3 -m pip install --quiet statsmodels
cargo build --release --quiet -p baedal-workloads
[ -f "$data/defect-summary.json" ] || "$(baedal_bin)" datagen --seed "$seed" --scale "$scale" --out "$data" >/dev/null
series=$(mktemp)
ours=$(mktemp)
trap 'rm -f "$series" "$ours"' EXIT
out=$(cargo bench --quiet -p baedal-workloads --bench models -- "$data" "$series")
echo "$out" | grep -v '^BENCH '
echo "$out" | grep '^BENCH ' | cut -c7- > "$ours"
python3 - "$series" "$ours" <<'PY'
import json, sys, warnings
import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing
y = np.array(json.load(open(sys.argv[1])), dtype=float)
ours = json.load(open(sys.argv[2]))
WEEK, DAY, weeks = 168, 24, ours["weeks"]
daily, hourly, scaled, naive_scaled = [], [], [], []
for w in range(weeks, 0, -1):
    origin = len(y) - w * WEEK
    train, actual = y[:origin], y[origin:origin + WEEK]
    scale = np.mean(np.abs(train[WEEK:] - train[:-WEEK]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(train, trend="add", seasonal="add", seasonal_periods=WEEK).fit()
    predicted = np.maximum(fit.forecast(WEEK), 0.0)
    nz = actual > 0
    hourly += list(np.abs(predicted[nz] - actual[nz]) / actual[nz])
    scaled += list(np.abs(predicted - actual) / scale)
    naive_scaled += list(np.abs(train[-WEEK:] - actual) / scale)
    pd_, ad_ = predicted.reshape(-1, DAY).sum(1), actual.reshape(-1, DAY).sum(1)
    daily += list(np.abs(pd_ - ad_) / ad_)
hw = {"daily_mape": np.mean(daily), "hourly_mape": np.mean(hourly), "mase": np.mean(scaled)}
# The two implementations' seasonal naive must agree: the same holdouts and scale.
assert abs(np.mean(naive_scaled) - ours["backtest"]["seasonal_naive"]["mase"]) < 1e-6, "holdouts differ"
print(f"{'holt-winters':<16} {hw['daily_mape']*100:>10.1f}% {hw['hourly_mape']*100:>11.1f}% {hw['mase']:>7.3f}")
m = ours["backtest"]["model"]
print()
print("baedal ÷ Holt-Winters (additive, period 168):"
      f" daily MAPE {m['daily_mape']/hw['daily_mape']:.2f}×,"
      f" hourly MAPE {m['hourly_mape']/hw['hourly_mape']:.2f}×, MASE {m['mase']/hw['mase']:.2f}×")
PY
