//! The models on a generated dataset:
//! `cargo bench -p baedal-workloads --bench models -- <dataset dir> [series.json]`.
//!
//! From the orders of `orders.csv` (each order id once): the rolling-origin
//! backtest of [`baedal::forecast`] (the model and seasonal naive) over the
//! last [`WEEKS`] weeks of orders per KST hour, and the churn classifier of
//! [`baedal::churn`] with its time-split validation AUC; then one
//! `BENCH {…}` line for scripts/bench-models.sh. With a second argument it
//! writes the hourly series there (JSON), so that other models (statsmodels'
//! Holt-Winters) can be backtested on the same holdouts.

use baedal::forecast::{self, WEEK};
use baedal::model::Record;
use baedal::readers::{self, SourceFormat};
use std::collections::BTreeMap;
use std::collections::HashSet;
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
    let mut seen = HashSet::new();
    let mut hours: Vec<i64> = Vec::new();
    let mut customers: BTreeMap<String, Vec<baedal::churn::Purchase>> = BTreeMap::new();
    for record in readers::open(&dir.join("orders.csv"), SourceFormat::Csv)? {
        if let Ok(Record::Order(order)) = record {
            if seen.insert(order.order_id.clone()) {
                hours.push(order.order_time.at.timestamp().div_euclid(3600));
                if order.order_status.counts_as_revenue() {
                    customers
                        .entry(order.customer_id.to_string())
                        .or_default()
                        .push((
                            order.order_time.at.to_utc(),
                            order.order_amount.unwrap_or(0) as f64,
                        ));
                }
            }
        }
    }
    let (Some(&first), Some(&last)) = (hours.iter().min(), hours.iter().max()) else {
        return Err(format!("no orders in {}", dir.join("orders.csv").display()).into());
    };
    // Whole KST days: from the first day's midnight to the last day's 23:00.
    let kst = 9;
    let start = (first + kst).div_euclid(24) * 24 - kst;
    let end = (last + kst).div_euclid(24) * 24 - kst; // the last day, whose hours may be partial
    let mut series = vec![0.0; (end - start) as usize];
    for h in hours {
        if h < end {
            series[(h - start) as usize] += 1.0;
        }
    }
    let began = Instant::now();
    let backtest = forecast::backtest(&series, WEEKS)?;
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
    let reference = chrono::DateTime::from_timestamp(last * 3600, 0).unwrap_or_default()
        + chrono::Duration::days(1);
    let began = Instant::now();
    let churn = baedal::churn::fit(&customers, reference)?.summary;
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
        std::fs::write(out, serde_json::to_string(&series)?)?;
    }
    Ok(())
}
