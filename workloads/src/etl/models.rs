//! The per-customer model answers, precomputed after each batch run: the
//! CLV models ([`crate::clv`]) and the churn classifier ([`crate::churn`])
//! are fitted to every valid revenue order, and each customer's answers
//! land in `mart_customer_value`, the fitted parameters in `model_fits`,
//! all in one transaction (readers see the old answers or the new ones).
//!
//! A model that cannot be fitted (too little history) leaves its columns
//! empty and its `model_fits` row out, with a warning; the run goes on.

use crate::churn::{self, Purchase};
use crate::clv::{self, BgNbd, GammaGamma, HORIZON_MONTHS, MONTH_DAYS};
use crate::db::{self, UnnestInsert};
use crate::forecast;
use crate::rules::{MONTHLY_DISCOUNT, REFERENCE_CTE, REVENUE};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// The `model_fits` rows [`refresh`] writes.
const FITTED_HERE: [&str; 2] = ["clv", "churn"];

/// Backtests the demand forecast on the hourly mart (after its rebuild) and
/// stores the result in `model_fits`; nothing is stored while the data is
/// too short for it.
pub async fn refresh_backtest(pool: &PgPool) -> Result<(), sqlx::Error> {
    let rows = crate::anomalies::hourly_order_counts(pool).await?;
    let backtest = tokio::task::spawn_blocking(move || {
        let (_, series) = forecast::hourly_series(&rows);
        forecast::backtest(&series, forecast::BACKTEST_WEEKS)
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("the backtest panicked: {e}")))?;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM model_fits WHERE model = $1")
        .bind(forecast::BACKTEST_FIT)
        .execute(&mut *tx)
        .await?;
    match backtest {
        Ok(backtest) => {
            sqlx::query("INSERT INTO model_fits (model, summary) VALUES ($1, $2)")
                .bind(forecast::BACKTEST_FIT)
                .bind(json!(backtest))
                .execute(&mut *tx)
                .await?;
        }
        Err(e) => tracing::info!(reason = %e, "demand forecast not backtested"),
    }
    tx.commit().await
}

/// One customer's row of `mart_customer_value`.
struct CustomerValue {
    customer_id: String,
    summary: clv::Summary,
    probability_alive: f64,
    expected_orders: f64,
    expected_order_value: f64,
    clv: f64,
    churn_probability: Option<f64>,
}

/// What the fits produced.
struct Fitted {
    rows: Vec<CustomerValue>,
    fits: Vec<(&'static str, serde_json::Value)>,
}

/// Fits the models to the valid revenue orders and replaces their answers.
pub async fn refresh(pool: &PgPool) -> Result<(), sqlx::Error> {
    let started = std::time::Instant::now();
    let customers = read_purchases(pool).await?;
    let reference: Option<DateTime<Utc>> =
        sqlx::query_scalar(&format!("WITH {REFERENCE_CTE} SELECT t FROM reference"))
            .fetch_one(pool)
            .await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "customers' orders read"
    );
    let fitted = match reference {
        // Fitting is CPU work: off the runtime's threads.
        Some(reference) => tokio::task::spawn_blocking(move || fit(&customers, reference))
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("the model fit panicked: {e}")))?,
        None => Fitted {
            rows: Vec::new(),
            fits: Vec::new(),
        },
    };
    store(pool, fitted).await
}

/// Every valid revenue order's time and amount (0 when missing), per
/// customer, in time order (then by amount). Read as binary COPY output, a
/// row per order: at scale 20 these are 3 million orders, which a `SELECT`
/// decodes row by row, and which arrays aggregated per customer in
/// Postgres made it sort.
async fn read_purchases(pool: &PgPool) -> Result<BTreeMap<String, Vec<Purchase>>, sqlx::Error> {
    let mut customers: BTreeMap<String, Vec<Purchase>> = BTreeMap::new();
    db::copy_out_binary(
        pool,
        &format!(
            "SELECT customer_id, order_time, COALESCE(order_amount, 0)::float8
             FROM orders WHERE is_valid AND {REVENUE}"
        ),
        |fields| {
            let [Some(customer), time, amount] = fields else {
                return Err(format!("{} fields, or no customer id", fields.len()));
            };
            let customer = std::str::from_utf8(customer).map_err(|e| e.to_string())?;
            let at = db::binary_i64(*time)
                .and_then(|t| t.checked_add(db::POSTGRES_EPOCH_UNIX_MICROS))
                .and_then(DateTime::from_timestamp_micros)
                .ok_or("an order time out of range")?;
            let amount = db::binary_f64(*amount).ok_or("no amount")?;
            match customers.get_mut(customer) {
                Some(orders) => orders.push((at, amount)),
                None => {
                    customers.insert(customer.to_string(), vec![(at, amount)]);
                }
            }
            Ok(())
        },
    )
    .await?;
    for orders in customers.values_mut() {
        orders.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    Ok(customers)
}

fn fit(customers: &BTreeMap<String, Vec<Purchase>>, reference: DateTime<Utc>) -> Fitted {
    let summaries = clv::summarise_all(customers, reference);
    let all: Vec<clv::Summary> = summaries.values().copied().collect();
    let mut fits = Vec::new();
    // The churn classifier trains (on earlier cutoffs) while CLV's models
    // fit; it then scores every customer with CLV's BG/NBD fit at the
    // reference time, which it needs too.
    let (models, churn) = std::thread::scope(|scope| {
        let classifier = scope.spawn(|| {
            let started = std::time::Instant::now();
            let classifier = churn::Classifier::train(customers, reference);
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "churn classifier trained"
            );
            classifier
        });
        let started = std::time::Instant::now();
        let orders = BgNbd::fit(&all);
        let models = orders
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|orders| Ok((*orders, GammaGamma::fit(&all).map_err(|e| e.to_string())?)));
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "CLV models fitted"
        );
        // Churn needs BG/NBD only: a failed Gamma-Gamma fit leaves it be.
        let churn = classifier.join().map(|trained| {
            let classifier = trained?;
            match &orders {
                Ok(orders) => classifier.score(customers, reference, orders),
                Err(e) => Err(churn::ChurnError::Pooled {
                    at: reference,
                    why: e.to_string(),
                }),
            }
        });
        (models, churn)
    });
    let models = match models {
        Ok((orders, value)) => {
            fits.push((
                "clv",
                json!({
                    "model": "BG/NBD (orders) and Gamma-Gamma (order value), maximum likelihood",
                    "bgnbd": orders,
                    "gamma_gamma": value,
                    "time_unit": "day",
                    "money_unit_krw": clv::MONEY_UNIT_KRW,
                    "horizon_months": HORIZON_MONTHS,
                    "month_days": MONTH_DAYS,
                    "monthly_discount": MONTHLY_DISCOUNT,
                    "customers": all.len(),
                }),
            ));
            Some((orders, value))
        }
        Err(e) => {
            tracing::warn!(error = %e, "CLV models not fitted");
            None
        }
    };
    let churn = match churn {
        Ok(Ok(model)) => {
            fits.push(("churn", json!(model.summary)));
            Some(model.probabilities)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "churn model not fitted");
            None
        }
        Err(_) => {
            tracing::warn!("churn model not fitted: its fit panicked");
            None
        }
    };
    let horizon = f64::from(HORIZON_MONTHS) * MONTH_DAYS;
    let started = std::time::Instant::now();
    let rows = summaries
        .into_iter()
        .map(|(customer_id, summary)| {
            let (probability_alive, expected_orders, expected_order_value, clv) = match &models {
                Some((orders, value)) => (
                    orders.probability_alive(&summary),
                    orders.expected_orders(&summary, horizon),
                    value.expected_value(&summary),
                    clv::lifetime_value(orders, value, &summary, MONTHLY_DISCOUNT),
                ),
                None => (f64::NAN, f64::NAN, f64::NAN, f64::NAN),
            };
            CustomerValue {
                churn_probability: churn.as_ref().and_then(|p| p.get(&customer_id).copied()),
                customer_id,
                summary,
                probability_alive,
                expected_orders,
                expected_order_value,
                clv,
            }
        })
        .filter(|row| models.is_some() || row.churn_probability.is_some())
        .collect();
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "customers valued"
    );
    Fitted { rows, fits }
}

async fn store(pool: &PgPool, fitted: Fitted) -> Result<(), sqlx::Error> {
    let rows = &fitted.rows;
    // A model value that could not be computed is stored as NULL.
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM mart_customer_value")
        .execute(&mut *tx)
        .await?;
    UnnestInsert::new("mart_customer_value", rows)
        .column("customer_id", |r| r.customer_id.as_str())
        .column("repeat_orders", |r| {
            i32::try_from(r.summary.repeat_orders).unwrap_or(i32::MAX)
        })
        .column("recency_days", |r| r.summary.recency_days)
        .column("age_days", |r| r.summary.age_days)
        .column("mean_repeat_value", |r| r.summary.mean_repeat_value)
        .column("probability_alive", |r| finite(r.probability_alive))
        .column("expected_orders", |r| finite(r.expected_orders))
        .column("expected_order_value", |r| finite(r.expected_order_value))
        .column("clv", |r| finite(r.clv))
        .column("churn_probability", |r| r.churn_probability)
        .execute("", &mut *tx)
        .await?;
    sqlx::query("DELETE FROM model_fits WHERE model = ANY($1)")
        .bind(FITTED_HERE.as_slice())
        .execute(&mut *tx)
        .await?;
    for (model, summary) in &fitted.fits {
        sqlx::query("INSERT INTO model_fits (model, summary) VALUES ($1, $2)")
            .bind(model)
            .bind(summary)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}
