//! baedal's models against the reference implementations, on a generated
//! dataset: Python (statsmodels, scikit-learn and `lifetimes`, in the
//! virtual environment scripts/setup.sh makes) fits its models on the same
//! input (`tests/oracle/reference_models.py`) and the test compares.

mod common;

use baedal::clv::{self, BgNbd, GammaGamma};
use baedal::forecast;
use baedal::history::OrderHistory;
use baedal::model::{kst, Order, Record};
use baedal::routes::{self, Point, RouteOrder};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Holdout weeks of the forecast backtest.
const WEEKS: usize = 4;
/// A seed no other test or benchmark uses.
const SEED: u64 = 2026;

/// The Python with the reference libraries.
fn oracle_python() -> PathBuf {
    let python = common::tools_dir().join("oracle/bin/python");
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
    let mut python = Command::new(oracle_python());
    python.arg(script).arg(&path);
    let out = common::run_ok(python, Duration::from_secs(900), "the reference models");
    serde_json::from_str(&out).expect("the references' JSON")
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
    let history = OrderHistory::read_dataset(dir.path()).expect("orders");

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
    // The forecast is at least as good as additive Holt-Winters (period
    // 168) on each measure, whichever of its variants (additive trend,
    // damped trend, no trend) does best on it.
    let hw = &reference["holt_winters_best"];
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
    println!(
        "churn AUC: baedal {:.4}, logistic regression on RFM and tenure {theirs:.4}, gradient-boosted trees on baedal's features {:.4}",
        churn.summary.validation_auc,
        reference["churn_auc_boosted"].as_f64().unwrap_or(f64::NAN)
    );
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

/// Route suggestions on every district-hour of the last week with two
/// orders or more, with the least time the API gives the solver: every
/// order is delivered once and no window costs more than one by one. The
/// five busiest, given 2 s, show what batching saves.
#[test]
fn route_suggestions_never_cost_more_than_one_by_one_on_any_window() {
    let dir = tempfile::tempdir().expect("dir");
    common::generate(dir.path(), SEED, 0.5);
    let orders: Vec<Order> = baedal::readers::open(
        &dir.path().join("orders.csv"),
        baedal::readers::SourceFormat::Csv,
    )
    .expect("orders")
    .filter_map(|r| match r {
        Ok(Record::Order(o)) => Some(o),
        _ => None,
    })
    .filter(baedal::rules::delivery_ok)
    .collect();
    let latest = orders
        .iter()
        .map(|o| o.order_time.at)
        .max()
        .expect("orders");
    let mut windows: BTreeMap<(String, String), Vec<&Order>> = BTreeMap::new();
    for o in orders
        .iter()
        .filter(|o| latest - o.order_time.at < chrono::Duration::days(7))
    {
        let (Some(_), Some(_), Some(_), Some(_), Some(district)) = (
            o.store_lat,
            o.store_lng,
            o.customer_lat,
            o.customer_lng,
            o.district.as_deref(),
        ) else {
            continue;
        };
        let hour = o
            .order_time
            .at
            .with_timezone(&kst())
            .format("%Y-%m-%d %H")
            .to_string();
        windows
            .entry((district.to_string(), hour))
            .or_default()
            .push(o);
    }
    let mut busiest: Vec<_> = windows
        .into_iter()
        .filter(|(_, orders)| orders.len() >= 2)
        .collect();
    busiest.sort_by_key(|(key, orders)| (std::cmp::Reverse(orders.len()), key.clone()));
    assert!(busiest.len() > 20, "only {} windows", busiest.len());
    for ((district, hour), window) in &busiest {
        let planned = route_orders(window);
        let plan = routes::plan(&planned, baedal::api::routes::MIN_SOLVER_TIME).expect("plan");
        assert_delivers_each_once_and_saves(&plan, &planned, &format!("{district} {hour}"));
    }
    println!(
        "{} windows of 2 orders or more, none worse than one by one",
        busiest.len()
    );
    let (mut saved, mut alone) = (0.0, 0.0);
    for ((district, hour), window) in busiest.iter().take(5) {
        let planned = route_orders(window);
        let plan = routes::plan(&planned, Duration::from_secs(2)).expect("plan");
        assert_delivers_each_once_and_saves(&plan, &planned, &format!("{district} {hour}"));
        println!(
            "{district} {hour}: {} orders, {} riders, {:.1} of {:.1} km saved",
            planned.len(),
            plan.batched.riders,
            plan.km_saved,
            plan.one_by_one.km
        );
        saved += plan.km_saved;
        alone += plan.one_by_one.km;
    }
    println!("the five busiest windows: {saved:.1} of {alone:.1} km saved");
}

/// A window's orders as the solver takes them, minutes counted from the
/// first order.
fn route_orders(window: &[&Order]) -> Vec<RouteOrder> {
    let first = window
        .iter()
        .map(|o| o.order_time.at)
        .min()
        .expect("orders");
    window
        .iter()
        .map(|o| RouteOrder {
            order_id: o.order_id.to_string(),
            store: Point {
                lat: o.store_lat.unwrap_or_default(),
                lng: o.store_lng.unwrap_or_default(),
            },
            customer: Point {
                lat: o.customer_lat.unwrap_or_default(),
                lng: o.customer_lng.unwrap_or_default(),
            },
            ordered_min: (o.order_time.at - first).num_seconds() as f64 / 60.0,
        })
        .collect()
}

fn assert_delivers_each_once_and_saves(plan: &routes::Plan, planned: &[RouteOrder], what: &str) {
    let mut dropped: Vec<&str> = plan
        .routes
        .iter()
        .flat_map(|r| {
            r.stops
                .iter()
                .filter(|s| s.kind == "drop")
                .filter_map(|s| s.order_id.as_deref())
        })
        .collect();
    dropped.sort_unstable();
    let mut ids: Vec<&str> = planned.iter().map(|o| o.order_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(dropped, ids, "{what}");
    // The plan's totals, not only the savings it reports, are no worse
    // than one by one, and the savings are their difference.
    let (batched, alone) = (&plan.batched, &plan.one_by_one);
    let slack = 1e-9 * alone.km.max(alone.minutes).max(1.0);
    assert!(
        batched.km <= alone.km + slack && batched.minutes <= alone.minutes + slack,
        "{what}: {plan:#?}"
    );
    assert!(plan.km_saved >= 0.0 && plan.minutes_saved >= 0.0, "{what}");
    assert!(
        (alone.km - batched.km - plan.km_saved).abs() < 1e-6,
        "{what}"
    );
    assert!(
        (alone.minutes - batched.minutes - plan.minutes_saved).abs() < 1e-6,
        "{what}"
    );
}
