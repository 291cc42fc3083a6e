//! The Redis views the ETL keeps up to date (every key under
//! `redis.key_prefix`):
//!
//! - `order:{order_id}`: the order as JSON (with its items), for
//!   `redis.order_ttl_secs`; written for the orders the run loaded that were
//!   placed in the latest `redis.order_cache_days` days of data (the ones live
//!   views look up; older orders are cached on first read by the API).
//! - `realtime:stats` (hash): the latest day in the data (KST): `date`,
//!   `as_of`, `orders`, `revenue`, `cancelled`, `active_orders` (placed in the
//!   last hour before `as_of` and not yet delivered by then), `late_rate`, and
//!   `category:{name}` order counts.
//! - `leaderboard:restaurants:revenue` and `leaderboard:restaurants:orders`
//!   (sorted sets, from the restaurant mart).
//! - `alerts` (stream): one entry per window whose late-delivery rate
//!   exceeded `alerts.late_rate_threshold` with at least `alerts.min_orders`
//!   orders, and per anomalous hour ([`recent_alerts`]), for the last 24
//!   hours of data; entry ids are the window's end, so a rerun adds nothing
//!   twice.

use super::EtlError;
use crate::config::Config;
use crate::redis_keys::{alert_field, stats_field, Keys, LEADERBOARDS};
use crate::rules::{DELIVERY_OK, LATE, REVENUE};
use redis::AsyncCommands;
use sqlx::PgPool;

/// The order JSON (as text) served from the cache (and by the API on a miss).
pub const ORDER_JSON_SQL: &str = "SELECT o.order_id, ((to_jsonb(o) - 'loaded_at' - 'is_valid' - 'source_topic')
        || jsonb_build_object('items', COALESCE((
            SELECT jsonb_agg(jsonb_build_object('name', i.name, 'quantity', i.quantity, 'unit_price', i.unit_price) ORDER BY i.line_no)
            FROM order_items i WHERE i.order_id = o.order_id), '[]'::jsonb)))::text
    FROM orders o";

async fn connect(config: &Config) -> Result<redis::aio::MultiplexedConnection, EtlError> {
    Ok(crate::redis_client::connect(&config.redis).await?)
}

/// (Re)caches the orders loaded after `since` (the start of the last
/// successful run; every order when `None`). Needs the clean tables only.
pub async fn cache_loaded_orders(
    config: &Config,
    pool: &PgPool,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), EtlError> {
    cache_orders(config, pool, &mut connect(config).await?, since).await
}

/// What a follower keeps current while data flows, every
/// `etl.live_refresh_ms` at most: the marts the live views read, the orders
/// loaded since `since` in the cache, then the views themselves.
pub async fn refresh_live(
    config: &Config,
    pool: &PgPool,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), EtlError> {
    super::marts::refresh_live(pool)
        .await
        .map_err(EtlError::Marts)?;
    cache_loaded_orders(config, pool, since).await?;
    refresh_views(config, pool).await
}

/// Refreshes the stats hash, the leaderboards and the alert stream (after
/// the marts they read).
pub async fn refresh_views(config: &Config, pool: &PgPool) -> Result<(), EtlError> {
    let mut redis = connect(config).await?;
    stats(config, pool, &mut redis).await?;
    leaderboards(config, pool, &mut redis).await?;
    alerts(config, pool, &mut redis).await?;
    Ok(())
}

/// Orders sent to Redis in one pipeline by [`cache_orders`].
const ORDERS_PER_PIPELINE: usize = 5000;

/// Caches the orders loaded after `since` and placed in the latest days of data.
async fn cache_orders(
    config: &Config,
    pool: &PgPool,
    redis: &mut redis::aio::MultiplexedConnection,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), EtlError> {
    use futures::TryStreamExt;
    let sql = format!(
        "{ORDER_JSON_SQL} WHERE o.loaded_at >= COALESCE($1, '-infinity')
           AND o.order_time >= (SELECT max(order_time) FROM orders) - make_interval(days => $2::int)"
    );
    // Streamed, and sent a pipeline at a time: what is held does not grow with
    // the data (at scale 20 the last week is some 130,000 orders).
    let mut rows = sqlx::query_as::<_, (String, String)>(&sql)
        .bind(since)
        .bind(config.redis.order_cache_days as i32)
        .fetch(pool);
    let keys = Keys::of(config);
    let (mut pipe, mut in_pipe, mut cached) = (redis::pipe(), 0, 0);
    while let Some((id, json)) = rows.try_next().await.map_err(EtlError::Load)? {
        pipe.set_ex(keys.order(&id), json, config.redis.order_ttl_secs)
            .ignore();
        in_pipe += 1;
        if in_pipe == ORDERS_PER_PIPELINE {
            pipe.query_async::<()>(redis).await?;
            (pipe, cached, in_pipe) = (redis::pipe(), cached + in_pipe, 0);
        }
    }
    if in_pipe > 0 {
        pipe.query_async::<()>(redis).await?;
        cached += in_pipe;
    }
    tracing::info!(orders = cached, "orders cached");
    Ok(())
}

/// The latest day's numbers, as the stats hash holds them.
#[derive(sqlx::FromRow)]
struct DayStats {
    date: String,
    as_of: String,
    orders: i64,
    revenue: i64,
    cancelled: i64,
    active_orders: i64,
    late_rate: Option<f64>,
}

/// The fields of the `realtime:stats` hash, computed from Postgres (empty
/// when there are no valid orders). The API answers with these when Redis
/// is down.
pub async fn stats_fields(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    let row: Option<DayStats> = sqlx::query_as(&format!(
        "WITH latest AS (SELECT max(order_time) AS as_of FROM orders WHERE is_valid),
              today AS (SELECT o.* FROM orders o, latest
                        WHERE o.is_valid AND (o.order_time AT TIME ZONE 'Asia/Seoul')::date = (latest.as_of AT TIME ZONE 'Asia/Seoul')::date)
         SELECT to_char(latest.as_of AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD') AS date,
                to_char(latest.as_of AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD\"T\"HH24:MI:SS+09:00') AS as_of,
                (SELECT count(*) FROM today) AS orders,
                (SELECT COALESCE(sum(order_amount), 0) FROM today WHERE {REVENUE})::bigint AS revenue,
                (SELECT count(*) FROM today WHERE order_status = 'CANCELLED') AS cancelled,
                (SELECT count(*) FROM today WHERE order_status <> 'CANCELLED' AND order_time > latest.as_of - interval '1 hour'
                    AND (actual_delivery_min IS NULL OR order_time + actual_delivery_min * interval '1 minute' > latest.as_of)) AS active_orders,
                (SELECT avg({LATE})::float8 FROM today WHERE {DELIVERY_OK}) AS late_rate
         FROM latest WHERE latest.as_of IS NOT NULL"
    ))
    .fetch_optional(pool)
    .await?;
    let Some(DayStats {
        date,
        as_of,
        orders,
        revenue,
        cancelled,
        active_orders: active,
        late_rate,
    }) = row
    else {
        return Ok(Vec::new());
    };
    let categories: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(category, '(unknown)'), count(*) FROM orders
         WHERE is_valid AND (order_time AT TIME ZONE 'Asia/Seoul')::date = $1::date GROUP BY 1",
    )
    .bind(&date)
    .fetch_all(pool)
    .await?;
    let mut fields: Vec<(String, String)> = vec![
        (stats_field::DATE.into(), date),
        (stats_field::AS_OF.into(), as_of),
        (stats_field::ORDERS.into(), orders.to_string()),
        (stats_field::REVENUE.into(), revenue.to_string()),
        (stats_field::CANCELLED.into(), cancelled.to_string()),
        (stats_field::ACTIVE_ORDERS.into(), active.to_string()),
        (
            stats_field::LATE_RATE.into(),
            format!("{:.4}", late_rate.unwrap_or(0.0)),
        ),
    ];
    fields.extend(categories.into_iter().map(|(c, n)| {
        (
            format!("{}{c}", stats_field::CATEGORY_PREFIX),
            n.to_string(),
        )
    }));
    Ok(fields)
}

async fn stats(
    config: &Config,
    pool: &PgPool,
    redis: &mut redis::aio::MultiplexedConnection,
) -> Result<(), EtlError> {
    let fields = stats_fields(pool).await.map_err(EtlError::Load)?;
    if fields.is_empty() {
        return Ok(());
    }
    let key = Keys::of(config).stats();
    redis::pipe()
        .atomic()
        .del(&key)
        .ignore()
        .hset_multiple(&key, &fields)
        .ignore()
        .query_async::<()>(redis)
        .await?;
    Ok(())
}

async fn leaderboards(
    config: &Config,
    pool: &PgPool,
    redis: &mut redis::aio::MultiplexedConnection,
) -> Result<(), EtlError> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT restaurant_id, revenue, orders FROM mart_restaurant_performance")
            .fetch_all(pool)
            .await
            .map_err(EtlError::Load)?;
    for (pick, board) in LEADERBOARDS.into_iter().enumerate() {
        let key = Keys::of(config).leaderboard(board);
        let staging = format!("{key}:next");
        let mut pipe = redis::pipe();
        pipe.del(&staging).ignore();
        for chunk in rows.chunks(5000) {
            let members: Vec<(i64, &str)> = chunk
                .iter()
                .map(|(id, revenue, orders)| {
                    (if pick == 0 { *revenue } else { *orders }, id.as_str())
                })
                .collect();
            pipe.zadd_multiple(&staging, &members).ignore();
        }
        if rows.is_empty() {
            pipe.del(&key).ignore();
        } else {
            pipe.rename(&staging, &key).ignore();
        }
        pipe.query_async::<()>(redis).await?;
    }
    Ok(())
}

/// One alert: a window whose late-delivery rate crossed the threshold
/// (`late_delivery_rate`), or an hour whose orders or late rate fell
/// outside its forecast's interval (`orders_anomaly`, `late_rate_anomaly`;
/// [`crate::anomalies`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    /// The stream entry id: `{end of the window in ms}-{n}`, with `n` 0 for
    /// a late-delivery rate, 1 for an orders anomaly, 2 for a late-rate one.
    pub id: String,
    pub kind: String,
    /// End of the hour, KST, RFC 3339.
    pub window_end: String,
    pub window_minutes: i64,
    pub late_rate: f64,
    /// The bound crossed: the configured rate, or the side of the interval.
    pub threshold: f64,
    pub orders: i64,
    /// Anomalies: what the forecast expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
}

impl Alert {
    /// The stream entry's fields.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            (alert_field::KIND, self.kind.clone()),
            (alert_field::WINDOW_END, self.window_end.clone()),
            (alert_field::WINDOW_MINUTES, self.window_minutes.to_string()),
            (alert_field::LATE_RATE, format!("{:.4}", self.late_rate)),
            (alert_field::THRESHOLD, format!("{:.4}", self.threshold)),
            (alert_field::ORDERS, self.orders.to_string()),
        ]
        .into_iter()
        .chain(
            self.expected
                .map(|e| (alert_field::EXPECTED, format!("{e:.4}"))),
        )
        .collect()
    }

    /// The alert of a stream entry, from its id and its fields.
    pub fn from_entry(id: &str, text: impl Fn(&str) -> String) -> Alert {
        Alert {
            id: id.to_string(),
            kind: text(alert_field::KIND),
            window_end: text(alert_field::WINDOW_END),
            window_minutes: text(alert_field::WINDOW_MINUTES).parse().unwrap_or(0),
            late_rate: text(alert_field::LATE_RATE).parse().unwrap_or(0.0),
            threshold: text(alert_field::THRESHOLD).parse().unwrap_or(0.0),
            orders: text(alert_field::ORDERS).parse().unwrap_or(0),
            expected: text(alert_field::EXPECTED).parse().ok(),
        }
    }

    /// The id's (milliseconds, sequence), which orders the stream.
    fn position(&self) -> (i64, i64) {
        stream_position(&self.id)
    }
}

fn stream_position(id: &str) -> (i64, i64) {
    let mut parts = id.split('-').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Every alert of the last 24 hours of data whose window ended by the start
/// of the hour still filling, in stream order: the late-delivery windows
/// ([`late_delivery_alerts`]) and the anomalous hours ([`crate::anomalies`]).
pub async fn recent_alerts(
    config: &Config,
    pool: &PgPool,
) -> Result<Vec<Alert>, crate::anomalies::AnomalyError> {
    let latest: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT max(hour) FROM mart_hourly_orders")
            .fetch_one(pool)
            .await?;
    // Only windows that ended by the start of the hour still filling: every
    // alert that ends by then is raised in the same pass, so the stream's
    // ids (which only grow) never pass over one not raised yet.
    let boundary = latest.map_or(i64::MIN, |l| l.timestamp_millis());
    let mut alerts: Vec<Alert> = late_delivery_alerts(config, pool)
        .await?
        .into_iter()
        .filter(|a| a.position().0 <= boundary)
        .collect();
    let hours = crate::anomalies::find(pool, 2, config.alerts.min_orders).await?;
    let kst = crate::model::kst();
    alerts.extend(
        hours
            .iter()
            .filter(|h| latest.is_some_and(|l| l - h.hour.to_utc() < chrono::Duration::hours(24)))
            .map(|h| {
                let end = h.hour + chrono::Duration::hours(1);
                let sequence = match h.metric {
                    crate::anomalies::Metric::Orders => 1,
                    crate::anomalies::Metric::LateRate => 2,
                };
                Alert {
                    id: format!("{}-{sequence}", end.timestamp_millis()),
                    kind: h.metric.alert_kind().into(),
                    window_end: end.with_timezone(&kst).to_rfc3339(),
                    window_minutes: 60,
                    late_rate: h
                        .late_rate
                        .map_or(0.0, |r| (r * 10_000.0).round() / 10_000.0),
                    threshold: if h.actual > h.upper { h.upper } else { h.lower },
                    orders: h.orders,
                    expected: Some(h.expected),
                }
            }),
    );
    alerts.sort_by_key(Alert::position);
    Ok(alerts)
}

/// The alerts of the last 24 hours of data, oldest first: windows of
/// `alerts.window_minutes` (aligned to the epoch, so 60 gives whole hours)
/// whose late-delivery rate exceeds `alerts.late_rate_threshold` over at
/// least `alerts.min_orders` orders. The API answers with these when Redis
/// is down.
pub async fn late_delivery_alerts(
    config: &Config,
    pool: &PgPool,
) -> Result<Vec<Alert>, sqlx::Error> {
    let a = &config.alerts;
    let window_minutes = a.window_minutes.max(1);
    let windows: Vec<(chrono::DateTime<chrono::Utc>, i64, f64)> = sqlx::query_as(&format!(
        "WITH latest AS (SELECT max(order_time) AS t FROM orders WHERE is_valid),
         windows AS (
             SELECT to_timestamp((floor(extract(epoch FROM order_time) / ($3 * 60)) * ($3 * 60))::float8) AS start,
                    count(*) AS orders,
                    (avg({LATE}) FILTER (WHERE {DELIVERY_OK}))::float8 AS late_rate
             FROM orders, latest
             WHERE is_valid AND order_time > latest.t - interval '24 hours'
             GROUP BY 1)
         SELECT start + make_interval(mins => $3::int), orders, late_rate FROM windows
         WHERE late_rate > $1 AND orders >= $2
         ORDER BY start"
    ))
    .bind(a.late_rate_threshold)
    .bind(a.min_orders)
    .bind(window_minutes)
    .fetch_all(pool)
    .await?;
    Ok(windows
        .into_iter()
        .map(|(end, orders, rate)| Alert {
            id: format!("{}-0", end.timestamp_millis()),
            kind: "late_delivery_rate".into(),
            window_end: end.with_timezone(&crate::model::kst()).to_rfc3339(),
            window_minutes,
            late_rate: (rate * 10_000.0).round() / 10_000.0,
            threshold: a.late_rate_threshold,
            orders,
            expected: None,
        })
        .collect())
}

async fn alerts(
    config: &Config,
    pool: &PgPool,
    redis: &mut redis::aio::MultiplexedConnection,
) -> Result<(), EtlError> {
    let alerts = recent_alerts(config, pool)
        .await
        .map_err(EtlError::Alerts)?;
    let key = Keys::of(config).alerts();
    let newest: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(&key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(redis)
        .await?;
    let last = newest
        .ids
        .first()
        .map_or((0, 0), |e| stream_position(&e.id));
    for alert in alerts {
        if alert.position() <= last {
            continue; // already raised by an earlier run
        }
        let _: String = redis.xadd(&key, &alert.id, &alert.fields()).await?;
    }
    Ok(())
}
