//! baedal's models against the reference implementations, on a generated
//! dataset: Python (statsmodels, scikit-learn and `lifetimes`, in the
//! virtual environment scripts/setup.sh makes) fits its models on the same
//! input (`tests/oracle/reference_models.py`) and the test compares.

mod common;

use baedal::clv::{self, BgNbd, GammaGamma};
use baedal::forecast;
use baedal::history::OrderHistory;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// Holdout weeks of the forecast backtest.
const WEEKS: usize = 4;
/// A seed no other test or benchmark uses.
const SEED: u64 = 2026;

/// The Python with the reference libraries.
fn oracle_python() -> PathBuf {
    let cache = std::env::var_os("BAEDAL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/baedal")
        });
    let python = cache.join("tools/oracle/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/setup.sh makes it",
        python.display()
    );
    python
}

/// Runs the reference models on `input`.
fn references(input: &Value) -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).expect("input");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/reference_models.py");
    let out = Command::new(oracle_python())
        .arg(script)
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the reference models failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the references' JSON")
}

/// `ours` is within 1% of `theirs`.
fn within_one_percent(what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference value"));
    let off = (ours - theirs).abs() / theirs.abs();
    assert!(
        off <= 0.01,
        "{what}: baedal {ours} vs lifetimes {theirs} ({:.2}% apart)",
        off * 100.0
    );
}

#[test]
fn the_models_beat_or_match_the_python_references_on_a_dataset_no_test_tuned_them_on() {
    let dir = tempfile::tempdir().expect("dir");
    common::generate(dir.path(), SEED, 0.5);
    let history = OrderHistory::read_csv(&dir.path().join("orders.csv")).expect("orders");

    let backtest = forecast::backtest(&history.hourly, WEEKS).expect("backtest");
    let churn = baedal::churn::fit(&history.customers, history.reference).expect("churn");
    let summaries: Vec<clv::Summary> = clv::summarise_all(&history.customers, history.reference)
        .into_values()
        .collect();
    let bgnbd = BgNbd::fit(&summaries).expect("BG/NBD");
    let gamma_gamma = GammaGamma::fit(&summaries).expect("Gamma-Gamma");

    let purchases: serde_json::Map<String, Value> = history
        .customers
        .iter()
        .map(|(id, orders)| {
            let orders: Vec<(f64, f64)> = orders
                .iter()
                .map(|(at, amount)| (at.timestamp_millis() as f64 / 1000.0, *amount))
                .collect();
            (id.clone(), json!(orders))
        })
        .collect();
    let clv_input: Vec<[f64; 4]> = summaries
        .iter()
        .map(|s| {
            [
                f64::from(s.repeat_orders),
                s.recency_days,
                s.age_days,
                s.mean_repeat_value,
            ]
        })
        .collect();
    let reference = references(&json!({
        "series": history.hourly,
        "weeks": WEEKS,
        "purchases": purchases,
        "reference": history.reference.timestamp_millis() as f64 / 1000.0,
        "clv": clv_input,
        "clv_params": {"bgnbd": bgnbd, "gamma_gamma": gamma_gamma},
    }));
    println!("baedal forecast {:?}", backtest.model);
    println!("baedal churn AUC {:.3}", churn.summary.validation_auc);
    println!("baedal BG/NBD {bgnbd:?}, Gamma-Gamma {gamma_gamma:?}");
    println!("references {reference:#}");

    // The same holdouts on both sides: their seasonal naive agrees.
    let naive = reference["seasonal_naive_mase"].as_f64().expect("naive");
    assert!(
        (naive - backtest.seasonal_naive.mase).abs() < 1e-9,
        "the holdouts differ"
    );
    // The forecast is at least as good as additive Holt-Winters (period 168).
    let hw = &reference["holt_winters"];
    for (what, ours) in [
        ("daily_mape", backtest.model.daily_mape),
        ("hourly_mape", backtest.model.hourly_mape),
        ("mase", backtest.model.mase),
    ] {
        let theirs = hw[what].as_f64().expect("Holt-Winters");
        assert!(
            ours <= theirs,
            "forecast {what}: baedal {ours:.4} vs Holt-Winters {theirs:.4}"
        );
    }
    // The churn classifier: at least the logistic regression on RFM and tenure.
    let theirs = reference["churn_auc"].as_f64().expect("churn AUC");
    assert!(
        churn.summary.validation_auc >= theirs,
        "churn AUC: baedal {:.3} vs the reference {theirs:.3}",
        churn.summary.validation_auc
    );
    // CLV: the same maximum-likelihood parameters as `lifetimes`.
    let (bg, gg) = (&reference["bgnbd"], &reference["gamma_gamma"]);
    within_one_percent("BG/NBD r", bgnbd.r, &bg["r"]);
    within_one_percent("BG/NBD alpha", bgnbd.alpha, &bg["alpha"]);
    within_one_percent("BG/NBD a", bgnbd.a, &bg["a"]);
    within_one_percent("BG/NBD b", bgnbd.b, &bg["b"]);
    within_one_percent("Gamma-Gamma p", gamma_gamma.p, &gg["p"]);
    within_one_percent("Gamma-Gamma q", gamma_gamma.q, &gg["q"]);
    within_one_percent("Gamma-Gamma v", gamma_gamma.v, &gg["v"]);
    // With the same parameters, the same predictions for every customer.
    let predicted = &reference["predictions"];
    for (i, s) in summaries.iter().enumerate() {
        for (what, ours) in [
            ("orders_30", bgnbd.expected_orders(s, 30.0)),
            ("orders_360", bgnbd.expected_orders(s, 360.0)),
            ("clv", clv::lifetime_value(&bgnbd, &gamma_gamma, s, 0.01)),
        ] {
            let theirs = predicted[what][i].as_f64().expect("a prediction");
            assert!(
                (ours - theirs).abs() <= 1e-6 * theirs.abs().max(1.0),
                "{what} of {s:?}: baedal {ours} vs lifetimes {theirs}"
            );
        }
    }
}
