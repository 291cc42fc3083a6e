//! Anomalous hours: an hour whose order count, or whose late-delivery rate,
//! falls outside the [`forecast::ANOMALY_LEVEL`] interval of the forecast made at the
//! start of its day from the hours before it ([`forecast::anomalies`]).
//!
//! Both series come from `mart_hourly_orders` (KST hours). The hour of the
//! latest order is still filling up and is never judged; a late rate is
//! judged only in hours with at least `min_orders` orders, and an hour
//! without deliveries carries the previous hour's rate into the fit. The
//! ETL stores those of the last [`STORED_DAYS`] days in `mart_anomalies`
//! after each batch run ([`store`]), which the analytics API serves (and
//! the dashboard marks on the trends chart), and raises the last day's as
//! alerts.

use crate::db::UnnestInsert;
use crate::forecast::{self, ForecastError};
use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime};
use serde::Serialize;
use sqlx::PgPool;

/// What an anomalous hour is anomalous in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Orders placed in the hour.
    Orders,
    /// The share of the hour's deliveries that were late (`rules::LATE`).
    LateRate,
}

impl Metric {
    /// Its name in answers and in `mart_anomalies.metric`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Orders => "orders",
            Metric::LateRate => "late_rate",
        }
    }

    fn named(name: &str) -> Option<Metric> {
        [Metric::Orders, Metric::LateRate]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// The alert kind an anomaly of this metric raises.
    pub fn alert_kind(self) -> &'static str {
        match self {
            Metric::Orders => "orders_anomaly",
            Metric::LateRate => "late_rate_anomaly",
        }
    }
}

/// One anomalous hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalousHour {
    /// The start of the hour, KST.
    pub hour: DateTime<FixedOffset>,
    pub metric: Metric,
    pub actual: f64,
    pub expected: f64,
    /// The interval the hour fell outside.
    pub lower: f64,
    pub upper: f64,
    /// Orders in the hour, and its late rate (when it had deliveries).
    pub orders: i64,
    pub late_rate: Option<f64>,
}

/// Why anomalies could not be looked for.
#[derive(Debug, thiserror::Error)]
pub enum AnomalyError {
    #[error("reading the hourly orders: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Model(#[from] ForecastError),
    #[error("the anomaly search stopped: {0}")]
    Task(String),
}

/// The anomalous hours of the last `days` days of data, oldest first.
pub async fn find(
    pool: &PgPool,
    days: usize,
    min_orders: i64,
) -> Result<Vec<AnomalousHour>, AnomalyError> {
    let rows = sqlx::query_as(HOURS_SQL).fetch_all(pool).await?;
    judge(rows, days, min_orders).await
}

/// Orders per KST hour from `mart_hourly_orders`, in order: the series the
/// demand forecast and its backtest are made from.
pub async fn hourly_order_counts(pool: &PgPool) -> Result<Vec<(NaiveDateTime, i64)>, sqlx::Error> {
    let rows: Vec<(NaiveDateTime, i64, Option<f64>)> =
        sqlx::query_as(HOURS_SQL).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(hour, n, _)| (hour, n)).collect())
}

/// The rows [`of_hours`] reads: (KST hour, orders, late rate), in order.
pub const HOURS_SQL: &str =
    "SELECT hour AT TIME ZONE 'Asia/Seoul', orders, late_rate FROM mart_hourly_orders ORDER BY hour";

/// [`of_hours`], off the runtime's threads (fitting is CPU work).
async fn judge(
    rows: Vec<(NaiveDateTime, i64, Option<f64>)>,
    days: usize,
    min_orders: i64,
) -> Result<Vec<AnomalousHour>, AnomalyError> {
    tokio::task::spawn_blocking(move || of_hours(&rows, days, min_orders))
        .await
        .map_err(|e| AnomalyError::Task(e.to_string()))?
}

/// [`find`], on rows of (KST hour, orders, late rate).
pub fn of_hours(
    rows: &[(NaiveDateTime, i64, Option<f64>)],
    days: usize,
    min_orders: i64,
) -> Result<Vec<AnomalousHour>, AnomalyError> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let start = first.0.date().and_hms_opt(0, 0, 0).unwrap_or(first.0);
    let hours = usize::try_from((last.0 - start).num_hours()).unwrap_or(0) + 1;
    let mut orders = vec![0.0; hours];
    let mut late: Vec<Option<f64>> = vec![None; hours];
    for (hour, n, rate) in rows {
        if let Ok(i) = usize::try_from((*hour - start).num_hours()) {
            if i < hours {
                orders[i] = *n as f64;
                late[i] = *rate;
            }
        }
    }
    let mut carried = 0.0;
    let late_filled: Vec<f64> = late
        .iter()
        .map(|r| {
            carried = r.unwrap_or(carried);
            carried
        })
        .collect();
    let complete = hours - 1; // the latest hour is still filling up
    let kst = crate::model::kst();
    let hour_at = |i: usize| {
        let naive = start + Duration::hours(i as i64);
        naive
            .and_local_timezone(kst)
            .single()
            .unwrap_or_else(|| naive.and_utc().fixed_offset())
    };
    let mut found = Vec::new();
    let judged_orders = |i: usize| i < complete;
    let judged_late =
        |i: usize| i < complete && late[i].is_some() && orders[i] >= min_orders as f64;
    for (metric, series, anomalies) in [
        (
            Metric::Orders,
            &orders,
            forecast::anomalies(&orders, days, judged_orders)?,
        ),
        (
            Metric::LateRate,
            &late_filled,
            forecast::anomalies(&late_filled, days, judged_late)?,
        ),
    ] {
        found.extend(anomalies.into_iter().map(|a| AnomalousHour {
            hour: hour_at(a.index),
            metric,
            actual: series[a.index],
            expected: a.expected,
            lower: a.lower,
            upper: a.upper,
            orders: orders[a.index] as i64,
            late_rate: late[a.index],
        }));
    }
    found.sort_by(|a, b| {
        a.hour
            .cmp(&b.hour)
            .then((a.metric as u8).cmp(&(b.metric as u8)))
    });
    Ok(found)
}

/// The days of anomalous hours `mart_anomalies` holds.
pub const STORED_DAYS: usize = 28;

/// Replaces `mart_anomalies` with the anomalous hours of the last
/// [`STORED_DAYS`] days.
pub async fn store(pool: &PgPool, min_orders: i64) -> Result<(), AnomalyError> {
    let hours = find(pool, STORED_DAYS, min_orders).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM mart_anomalies")
        .execute(&mut *tx)
        .await?;
    UnnestInsert::new("mart_anomalies", &hours)
        .column("hour", |h| h.hour.to_utc())
        .column("metric", |h| h.metric.name())
        .column("actual", |h| h.actual)
        .column("expected", |h| h.expected)
        .column("lower", |h| h.lower)
        .column("upper", |h| h.upper)
        .column("orders", |h| h.orders)
        .column("late_rate", |h| h.late_rate)
        .execute("", &mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The stored anomalous hours from `since` (KST midnight) on, oldest first.
pub async fn stored(
    pool: &PgPool,
    since: NaiveDateTime,
) -> Result<Vec<AnomalousHour>, sqlx::Error> {
    type Row = (
        DateTime<chrono::Utc>,
        String,
        f64,
        f64,
        f64,
        f64,
        i64,
        Option<f64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT hour, metric, actual, expected, lower, upper, orders, late_rate FROM mart_anomalies
         WHERE hour >= $1 AT TIME ZONE 'Asia/Seoul' ORDER BY hour, metric DESC",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let kst = crate::model::kst();
    Ok(rows
        .into_iter()
        .filter_map(
            |(hour, metric, actual, expected, lower, upper, orders, late_rate)| {
                Some(AnomalousHour {
                    hour: hour.with_timezone(&kst),
                    metric: Metric::named(&metric)?,
                    actual,
                    expected,
                    lower,
                    upper,
                    orders,
                    late_rate,
                })
            },
        )
        .collect())
}
