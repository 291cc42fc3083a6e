//! The models on a generated dataset:
//! `cargo bench -p baedal-workloads --bench models -- <dataset dir> [series.json]`.
//!
//! From every order file of the dataset, merged as the pipeline merges them
//! ([`OrderHistory::read_dataset`]): the rolling-origin
//! backtest of [`baedal::forecast`] (the model and seasonal naive) over the
//! last [`WEEKS`] weeks of orders per KST hour, and the churn classifier of
//! [`baedal::churn`] with its time-split validation AUC; then one
//! `BENCH {…}` line for scripts/bench-models.sh. With a second argument it
//! writes the hourly series there (JSON), so that other models (statsmodels'
//! Holt-Winters) can be backtested on the same holdouts.

use baedal::forecast::{self, WEEK};
use baedal::history::OrderHistory;
use std::path::PathBuf;
use std::time::Instant;

/// Holdout weeks of the backtest.
const WEEKS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = PathBuf::from(
        args.first()
            .map(String::as_str)
            .unwrap_or("data/generated/bench-s1"),
    );
    let history = OrderHistory::read_dataset(&dir)?;
    let series = &history.hourly;
    let began = Instant::now();
    let backtest = forecast::backtest(series, WEEKS)?;
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{} hours ({} weeks) of orders; backtest over the last {WEEKS} weeks, {seconds:.2} s",
        series.len(),
        series.len() / WEEK
    );
    println!(
        "{:<16} {:>11} {:>12} {:>7}",
        "model", "daily MAPE", "hourly MAPE", "MASE"
    );
    for (name, e) in [
        ("baedal", &backtest.model),
        ("seasonal naive", &backtest.seasonal_naive),
    ] {
        println!(
            "{name:<16} {:>10.1}% {:>11.1}% {:>7.3}",
            e.daily_mape * 100.0,
            e.hourly_mape * 100.0,
            e.mase
        );
    }
    let began = Instant::now();
    let churn = baedal::churn::fit(&history.customers, history.reference)?.summary;
    println!(
        "churn: logistic regression, time-split validation AUC {:.3} ({} customers, {:.1}% churned; {} training rows), {:.2} s",
        churn.validation_auc,
        churn.validation_rows,
        churn.validation_churn_rate * 100.0,
        churn.training_rows,
        began.elapsed().as_secs_f64()
    );
    println!(
        "BENCH {}",
        serde_json::json!({"weeks": WEEKS, "hours": series.len(), "seconds": seconds, "backtest": backtest,
                           "churn_auc": churn.validation_auc})
    );
    if let Some(out) = args.get(1) {
        std::fs::write(out, serde_json::to_string(series)?)?;
    }
    Ok(())
}
