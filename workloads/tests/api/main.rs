//! The analytics API on real Postgres and Redis, over a dataset generated,
//! ingested through Kafka and loaded by the ETL once for the whole file.
//! Each endpoint's numbers are checked against an independent computation:
//! from the generated files themselves where that is practical, otherwise
//! an SQL query written differently from the API's.

#[path = "../common/mod.rs"]
mod common;
// The numbers each route serves, against the files.
mod analytics;
// How the API serves: caches, degraded dependencies, errors, the OpenAPI
// document, the dashboard in a browser.
mod serving;

use axum::http::StatusCode;
use baedal::api::{self, ApiContext};
use baedal::clv::{self, BgNbd, GammaGamma};
use baedal::config::Config;
use baedal::model::{kst, Order};
use chrono::{Datelike, NaiveDate, Timelike};
use common::{canonical_orders, generated, get, get_ok, runtime, Namespace};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The dataset every test here reads: loaded once, in its own namespace.
struct Loaded {
    ns: Namespace,
    /// The canonical orders, computed from the files alone.
    orders: HashMap<String, Order>,
    _dir: tempfile::TempDir,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        common::sweep_stale_namespaces();
        let ns = Namespace::new();
        let (dir, _) = generated(21, 0.03);
        ns.ingest(dir.path());
        ns.run(&["etl"]);
        Loaded {
            orders: canonical_orders(dir.path()),
            ns,
            _dir: dir,
        }
    })
}

/// Runs `test` on the shared runtime with the loaded data and an API on it.
fn on_loaded<F, Fut>(test: F)
where
    F: FnOnce(&'static Loaded, axum::Router) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let data = loaded();
    // The API's pools are made inside the runtime, which they need.
    runtime().block_on(async { test(data, data.app()).await });
}

impl Loaded {
    /// The API's router on the loaded namespace.
    fn app(&self) -> axum::Router {
        app(config(&self.ns))
    }
}

fn config(ns: &Namespace) -> Config {
    ns.config()
}

fn app(config: Config) -> axum::Router {
    api::router(ApiContext::new(config).unwrap())
}

fn valid(orders: &HashMap<String, Order>) -> impl Iterator<Item = &Order> {
    orders.values().filter(|o| o.impossible_values().is_empty())
}

/// The orders the delivery-time figures count, as the files say: valid,
/// counted as revenue, delivered (not 포장), with an estimate and an
/// actual time of 1 to 180 minutes.
fn timed_deliveries(orders: &HashMap<String, Order>) -> impl Iterator<Item = &Order> {
    valid(orders)
        .filter(|o| o.order_status.counts_as_revenue())
        .filter(|o| o.platform.as_deref() != Some("포장"))
        .filter(|o| o.estimated_delivery_min.is_some())
        .filter(|o| {
            o.actual_delivery_min
                .is_some_and(|m| (1..=180).contains(&m))
        })
}

/// Field `key` of every object of the JSON array `rows`, as numbers.
fn numbers(rows: &serde_json::Value, key: &str) -> Vec<f64> {
    let rows = rows.as_array().expect("an array");
    rows.iter()
        .map(|row| {
            row[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} of {row}"))
        })
        .collect()
}

fn kst_day(o: &Order) -> NaiveDate {
    o.order_time.at.with_timezone(&kst()).date_naive()
}

fn revenue(o: &Order) -> i64 {
    if o.order_status.counts_as_revenue() {
        o.order_amount.unwrap_or(0)
    } else {
        0
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
