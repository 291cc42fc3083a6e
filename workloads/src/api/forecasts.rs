//! Forecasts: the demand forecast (orders per day and hour after the data
//! ends) with prediction intervals and its rolling-origin backtest, and one
//! restaurant's orders and revenue per day (가게 성과 예측), from the
//! models of [`crate::forecast`], each answer cached in Redis.

use super::analytics::WEEKDAYS;
use super::params::Params;
use super::{cache::CachedJson, ApiContext, ApiError};
use crate::forecast::{self, Backtest, Forecast, ForecastError, BACKTEST_FIT, DAY, LEVEL};
use crate::rules::REVENUE;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Serialize;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/analytics/demand-forecast", get(demand_forecast))
        .route("/analytics/restaurant-forecast", get(restaurant_forecast))
        .route("/analytics/anomalies", get(anomalies))
}

#[derive(Debug, Serialize)]
pub struct Anomalies {
    pub method: &'static str,
    /// The coverage of the intervals the hours fell outside.
    pub level: f64,
    pub days: i64,
    /// The anomalous hours, oldest first.
    pub hours: Vec<crate::anomalies::AnomalousHour>,
    /// Every hour of those days (KST, from the first day's midnight to the
    /// latest hour with orders): its orders and late rate, to draw them by.
    pub series: Vec<HourPoint>,
}

#[derive(Debug, Serialize)]
pub struct HourPoint {
    /// `YYYY-MM-DDTHH:00` (KST).
    pub hour: String,
    pub orders: i64,
    pub late_rate: Option<f64>,
}

/// The hours of the last `days` days of `rows` (KST hour, orders, late
/// rate), hours without orders included as zero.
fn recent_hours(rows: &[(NaiveDateTime, i64, Option<f64>)], days: i64) -> Vec<HourPoint> {
    let Some(last) = rows.last().map(|r| r.0) else {
        return Vec::new();
    };
    let first = (last.date() - chrono::Duration::days(days - 1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or(last);
    let by_hour: std::collections::HashMap<NaiveDateTime, (i64, Option<f64>)> = rows
        .iter()
        .filter(|r| r.0 >= first)
        .map(|r| (r.0, (r.1, r.2)))
        .collect();
    let hours = (last - first).num_hours();
    (0..=hours)
        .map(|h| {
            let at = first + chrono::Duration::hours(h);
            let (orders, late_rate) = by_hour.get(&at).copied().unwrap_or((0, None));
            HourPoint {
                hour: at.format("%Y-%m-%dT%H:00").to_string(),
                orders,
                late_rate,
            }
        })
        .collect()
}

/// `GET /analytics/anomalies?days=7`: the hours of the last `days` days
/// whose orders or late rate fell outside their forecast's interval
/// ([`crate::anomalies`], found by the ETL after each batch run).
async fn anomalies(State(ctx): State<ApiContext>, params: Params) -> Result<CachedJson, ApiError> {
    params.only(&["days"])?;
    let days = params.integer("days", 1..=crate::anomalies::STORED_DAYS as i64, 7)?;
    let key = format!("anomalies?{}", params.canonical());
    ctx.cached(&key, async {
        let rows: Vec<(NaiveDateTime, i64, Option<f64>)> = ctx
            .query(sqlx::query_as(crate::anomalies::HOURS_SQL).fetch_all(&ctx.db))
            .await?;
        let series = recent_hours(&rows, days);
        let since = series
            .first()
            .and_then(|p| NaiveDateTime::parse_from_str(&p.hour, "%Y-%m-%dT%H:%M").ok());
        let hours = match since {
            Some(since) => ctx.query(crate::anomalies::stored(&ctx.db, since)).await?,
            None => Vec::new(),
        };
        Ok(Anomalies {
            method: "each day's hours against the forecast made at its midnight from the hours before it (the demand forecast's model); late rates only in hours with at least alerts.min_orders orders",
            level: forecast::ANOMALY_LEVEL,
            days,
            hours,
            series,
        })
    })
    .await
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ForecastDay {
    /// `YYYY-MM-DD` (KST).
    pub date: String,
    /// Korean weekday (`월`…`일`).
    pub weekday: String,
    pub orders: f64,
    /// Expected orders per hour `00`–`23`, and the bounds of each hour's
    /// prediction interval.
    pub by_hour: Vec<f64>,
    pub by_hour_lower: Vec<f64>,
    pub by_hour_upper: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct DemandForecast {
    pub model: &'static str,
    /// The prediction intervals' coverage.
    pub level: f64,
    /// The last day with data; the forecast starts the day after.
    pub last_day: Option<String>,
    pub days: Vec<ForecastDay>,
    /// The model and seasonal naive from origins 1–4 weeks before the end of
    /// the data, each forecasting the week after it, as of the last batch
    /// run of the ETL; absent when the data is too short or before the first
    /// run.
    pub backtest: Option<Backtest>,
    /// The model's daily MAPE in that backtest.
    pub backtest_mape: Option<f64>,
}

const MODEL: &str = "MSTL (daily and weekly seasonality) of the square root of hourly orders, the rest by exponential smoothing";

/// `GET /analytics/demand-forecast?days=7`: expected orders per day and hour
/// for the days after the data ends, with 95% prediction intervals
/// ([`crate::forecast`]), and the model's backtest against seasonal naive.
async fn demand_forecast(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&["days"])?;
    let days = params.integer("days", 1..=28, 7)?;
    let key = format!("demand-forecast?{}", params.canonical());
    ctx.cached(&key, async {
        let rows = ctx
            .query(crate::anomalies::hourly_order_counts(&ctx.db))
            .await?;
        let (first, series) = forecast::hourly_series(&rows);
        // The backtest does not depend on `days`: the ETL runs it once per
        // batch run.
        let backtest: Option<serde_json::Value> = ctx
            .query(
                sqlx::query_scalar("SELECT summary FROM model_fits WHERE model = $1")
                    .bind(BACKTEST_FIT)
                    .fetch_optional(&ctx.db),
            )
            .await?;
        let backtest = backtest.and_then(|b| serde_json::from_value::<Backtest>(b).ok());
        // Fitting is CPU work: off the request threads.
        tokio::task::spawn_blocking(move || {
            demand_forecast_of(first, &series, days as usize, backtest)
        })
        .await
        .map_err(|e| ApiError::Model(e.to_string()))?
    })
    .await
}

/// The forecast of `days` days after an hourly series that starts at the
/// midnight of `first`, with the model's `backtest` on that series.
pub fn demand_forecast_of(
    first: Option<NaiveDate>,
    series: &[f64],
    days: usize,
    backtest: Option<Backtest>,
) -> Result<DemandForecast, ApiError> {
    let empty = DemandForecast {
        model: MODEL,
        level: LEVEL,
        last_day: None,
        days: Vec::new(),
        backtest: None,
        backtest_mape: None,
    };
    let Some(first) = first else {
        return Ok(empty);
    };
    let last = first + chrono::Duration::days((series.len() / DAY) as i64 - 1);
    let predicted = match forecast::hourly(series, days * DAY) {
        Ok(p) => p,
        Err(ForecastError::TooShort { .. }) => {
            return Ok(DemandForecast {
                last_day: Some(last.to_string()),
                ..empty
            })
        }
        Err(e) => return Err(ApiError::Model(e.to_string())),
    };
    let day_of = |v: &[f64], i: usize| v[i * DAY..(i + 1) * DAY].to_vec();
    let days = (0..days)
        .map(|i| {
            let date = last + chrono::Duration::days(i as i64 + 1);
            let by_hour = day_of(&predicted.point, i);
            ForecastDay {
                date: date.to_string(),
                weekday: WEEKDAYS[date.weekday().num_days_from_monday() as usize].to_string(),
                orders: by_hour.iter().sum(),
                by_hour,
                by_hour_lower: day_of(&predicted.lower, i),
                by_hour_upper: day_of(&predicted.upper, i),
            }
        })
        .collect();
    Ok(DemandForecast {
        last_day: Some(last.to_string()),
        days,
        backtest_mape: backtest.as_ref().map(|b| b.model.daily_mape),
        backtest,
        ..empty
    })
}

#[derive(Debug, Serialize)]
pub struct RestaurantForecastDay {
    /// `YYYY-MM-DD` (KST).
    pub date: String,
    pub weekday: String,
    pub orders: f64,
    pub orders_lower: f64,
    pub orders_upper: f64,
    /// Revenue (won) of the day's revenue orders.
    pub revenue: f64,
    pub revenue_lower: f64,
    pub revenue_upper: f64,
}

#[derive(Debug, Serialize)]
pub struct RestaurantForecast {
    pub restaurant_id: String,
    pub model: &'static str,
    pub level: f64,
    /// The last day with data (of any restaurant); the forecast starts the day after.
    pub last_day: String,
    /// Days of this restaurant's history the model saw (from its first order).
    pub history_days: usize,
    /// Empty when the history is too short (under three weeks).
    pub days: Vec<RestaurantForecastDay>,
    pub total_orders: f64,
    pub total_revenue: f64,
}

const RESTAURANT_MODEL: &str =
    "MSTL (weekly seasonality) of the square root of daily orders and revenue, the rest by exponential smoothing";

/// `GET /analytics/restaurant-forecast?restaurant_id=R00001&days=7`: one
/// restaurant's expected orders and revenue per day after the data ends,
/// with 95% prediction intervals (the daily model of [`crate::forecast`]).
async fn restaurant_forecast(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&["restaurant_id", "days"])?;
    let Some(id) = params.id("restaurant_id", "restaurant id", "R00001")? else {
        return Err(ApiError::BadRequest("restaurant_id is required".into()));
    };
    let days = params.integer("days", 1..=28, 7)? as usize;
    let key = format!("restaurant-forecast?{}", params.canonical());
    ctx.cached(&key, async {
        let rows: Vec<(NaiveDate, i64, i64)> = ctx
            .query(
                sqlx::query_as(&format!(
                    "SELECT (order_time AT TIME ZONE 'Asia/Seoul')::date, count(*),
                            COALESCE(sum(order_amount) FILTER (WHERE {REVENUE}), 0)::bigint
                     FROM orders WHERE is_valid AND restaurant_id = $1 GROUP BY 1"
                ))
                .bind(&id)
                .fetch_all(&ctx.db),
            )
            .await?;
        let last: Option<NaiveDate> = ctx
            .query(
                // max(order_time) first: the index answers it.
                sqlx::query_scalar(
                    "SELECT (max(order_time) AT TIME ZONE 'Asia/Seoul')::date FROM orders WHERE is_valid",
                )
                .fetch_one(&ctx.db),
            )
            .await?;
        let (Some(first), Some(last)) = (rows.iter().map(|r| r.0).min(), last) else {
            return Err(ApiError::NotFound(format!("no restaurant {id:?} in the data")));
        };
        let history_days = (last - first).num_days() as usize + 1;
        let (mut orders, mut revenue) = (vec![0.0; history_days], vec![0.0; history_days]);
        for (day, n, won) in &rows {
            let i = (*day - first).num_days() as usize;
            orders[i] = *n as f64;
            revenue[i] = *won as f64;
        }
        tokio::task::spawn_blocking(move || {
            restaurant_forecast_of(id, first, last, &orders, &revenue, days)
        })
        .await
        .map_err(|e| ApiError::Model(e.to_string()))?
    })
    .await
}

/// The forecast of `days` days after a restaurant's daily orders and
/// revenue, which run from `first` to `last`.
fn restaurant_forecast_of(
    restaurant_id: String,
    first: NaiveDate,
    last: NaiveDate,
    orders: &[f64],
    revenue: &[f64],
    days: usize,
) -> Result<RestaurantForecast, ApiError> {
    let model = |series: &[f64]| match forecast::daily(series, days) {
        Ok(f) => Ok(Some(f)),
        Err(ForecastError::TooShort { .. }) => Ok(None),
        Err(e) => Err(ApiError::Model(e.to_string())),
    };
    let forecast_days =
        match (model(orders)?, model(revenue)?) {
            (Some(o), Some(r)) => (0..days)
                .map(|i| {
                    let date = last + chrono::Duration::days(i as i64 + 1);
                    let at = |f: &Forecast| (f.point[i], f.lower[i], f.upper[i]);
                    let (
                        (orders, orders_lower, orders_upper),
                        (revenue, revenue_lower, revenue_upper),
                    ) = (at(&o), at(&r));
                    RestaurantForecastDay {
                        date: date.to_string(),
                        weekday: WEEKDAYS[date.weekday().num_days_from_monday() as usize]
                            .to_string(),
                        orders,
                        orders_lower,
                        orders_upper,
                        revenue,
                        revenue_lower,
                        revenue_upper,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
    Ok(RestaurantForecast {
        restaurant_id,
        model: RESTAURANT_MODEL,
        level: LEVEL,
        last_day: last.to_string(),
        history_days: (last - first).num_days() as usize + 1,
        total_orders: forecast_days.iter().map(|d| d.orders).sum(),
        total_revenue: forecast_days.iter().map(|d| d.revenue).sum(),
        days: forecast_days,
    })
}
