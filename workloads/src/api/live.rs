//! The views the ETL keeps in Redis (see [`crate::etl::realtime`]): the
//! order cache, the real-time stats hash and the alert stream. When Redis is
//! down each answer is computed from Postgres by the same code the ETL uses
//! (the `source` field says which).

use super::cache::CachedJson;
use super::params::Params;
use super::{ApiContext, ApiError};
use crate::etl::realtime::{self, Alert, ORDER_JSON_SQL};
use crate::redis_keys::{stats_field, Keys, LEADERBOARDS};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use redis::AsyncCommands;
use serde::Serialize;
use std::collections::BTreeMap;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/cache/order/{order_id}", get(cached_order))
        .route("/realtime/stats", get(realtime_stats))
        .route("/realtime/alerts", get(realtime_alerts))
        .route("/realtime/leaderboard", get(realtime_leaderboard))
}

/// An order id as DATA.md writes them: `O` and nine digits.
pub fn valid_order_id(id: &str) -> bool {
    id.len() == 10 && id.starts_with('O') && id[1..].bytes().all(|b| b.is_ascii_digit())
}

/// `GET /cache/order/{order_id}`: the order as JSON, from Redis; on a miss
/// from Postgres, which refills the cache for `redis.order_ttl_secs`.
/// `x-cache` says which.
async fn cached_order(
    State(ctx): State<ApiContext>,
    Path(order_id): Path<String>,
    params: Params,
) -> Result<CachedJson, ApiError> {
    params.only(&[])?;
    if !valid_order_id(&order_id) {
        return Err(ApiError::BadRequest(format!(
            "{order_id:?} is not an order id (O and nine digits, like O000012345)"
        )));
    }
    let key = Keys::of(&ctx.config).order(&order_id);
    if let Some(body) = ctx.cache_lookup(&key).await {
        return Ok(CachedJson { body, hit: true });
    }
    let row: Option<(String, String)> = ctx
        .query(
            sqlx::query_as(&format!("{ORDER_JSON_SQL} WHERE o.order_id = $1"))
                .bind(&order_id)
                .fetch_optional(&ctx.db),
        )
        .await?;
    let Some((_, body)) = row else {
        return Err(ApiError::NotFound(format!("no order {order_id}")));
    };
    ctx.cache_store(key, body.clone(), ctx.config.redis.order_ttl_secs)
        .await;
    Ok(CachedJson { body, hit: false })
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RealtimeStats {
    /// `redis`, or `postgres` when Redis was unavailable.
    pub source: &'static str,
    /// The latest day of data (KST) and the time of its latest order.
    pub date: Option<String>,
    pub as_of: Option<String>,
    pub orders: i64,
    pub revenue: i64,
    pub cancelled: i64,
    pub active_orders: i64,
    pub late_rate: f64,
    /// Orders of the day by category.
    pub categories: BTreeMap<String, i64>,
}

impl RealtimeStats {
    fn from_fields(source: &'static str, fields: Vec<(String, String)>) -> RealtimeStats {
        let mut stats = RealtimeStats {
            source,
            date: None,
            as_of: None,
            orders: 0,
            revenue: 0,
            cancelled: 0,
            active_orders: 0,
            late_rate: 0.0,
            categories: BTreeMap::new(),
        };
        for (name, value) in fields {
            match name.as_str() {
                stats_field::DATE => stats.date = Some(value),
                stats_field::AS_OF => stats.as_of = Some(value),
                stats_field::ORDERS => stats.orders = value.parse().unwrap_or(0),
                stats_field::REVENUE => stats.revenue = value.parse().unwrap_or(0),
                stats_field::CANCELLED => stats.cancelled = value.parse().unwrap_or(0),
                stats_field::ACTIVE_ORDERS => stats.active_orders = value.parse().unwrap_or(0),
                stats_field::LATE_RATE => stats.late_rate = value.parse().unwrap_or(0.0),
                other => {
                    if let Some(category) = other.strip_prefix(stats_field::CATEGORY_PREFIX) {
                        stats
                            .categories
                            .insert(category.to_string(), value.parse().unwrap_or(0));
                    }
                }
            }
        }
        stats
    }
}

/// `GET /realtime/stats`: the latest day's orders, revenue, cancellations,
/// active orders, late rate and orders by category.
async fn realtime_stats(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<Json<RealtimeStats>, ApiError> {
    params.only(&[])?;
    let key = Keys::of(&ctx.config).stats();
    let from_redis = ctx
        .redis
        .run(|mut c| async move { c.hgetall::<_, Vec<(String, String)>>(key).await })
        .await;
    let stats = match from_redis {
        Some(fields) if !fields.is_empty() => RealtimeStats::from_fields("redis", fields),
        _ => {
            let fields = ctx.query(realtime::stats_fields(&ctx.db)).await?;
            RealtimeStats::from_fields("postgres", fields)
        }
    };
    Ok(Json(stats))
}

/// One place on a leaderboard.
#[derive(Debug, Serialize)]
pub struct Place {
    pub restaurant_id: String,
    pub score: i64,
}

#[derive(Debug, Serialize)]
pub struct Leaderboard {
    pub source: &'static str,
    /// `revenue` or `orders`.
    pub by: String,
    /// Highest first.
    pub restaurants: Vec<Place>,
}

/// `GET /realtime/leaderboard?by=revenue|orders&limit=`: the restaurants
/// with the most revenue or orders, from the sorted sets the ETL keeps (a
/// follower refreshes them while data flows); from the restaurant mart
/// when Redis is down.
async fn realtime_leaderboard(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<Json<Leaderboard>, ApiError> {
    params.only(&["by", "limit"])?;
    let limit = params.limit(10)?;
    let by = params.one_of("by", &LEADERBOARDS, LEADERBOARDS[0])?;
    let key = Keys::of(&ctx.config).leaderboard(by);
    let from_redis = ctx
        .redis
        .run(|mut c| async move {
            c.zrevrange_withscores::<_, Vec<(String, i64)>>(key, 0, limit as isize - 1)
                .await
        })
        .await;
    let (source, rows) = match from_redis {
        Some(rows) if !rows.is_empty() => ("redis", rows),
        _ => {
            let column = if by == "orders" { "orders" } else { "revenue" };
            let rows = ctx
                .query(
                    sqlx::query_as::<_, (String, i64)>(&format!(
                        "SELECT restaurant_id, {column}::bigint FROM mart_restaurant_performance
                         ORDER BY {column} DESC, restaurant_id LIMIT $1"
                    ))
                    .bind(limit)
                    .fetch_all(&ctx.db),
                )
                .await?;
            ("postgres", rows)
        }
    };
    Ok(Json(Leaderboard {
        source,
        by: by.to_string(),
        restaurants: rows
            .into_iter()
            .map(|(restaurant_id, score)| Place {
                restaurant_id,
                score,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
pub struct RealtimeAlerts {
    pub source: &'static str,
    /// Newest first.
    pub alerts: Vec<Alert>,
}

/// `GET /realtime/alerts?limit=`: the newest alerts of the stream
/// (late-delivery rate over the threshold in a window, anomalous hours),
/// newest first.
async fn realtime_alerts(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<Json<RealtimeAlerts>, ApiError> {
    params.only(&["limit"])?;
    let limit = params.limit(50)?;
    let key = Keys::of(&ctx.config).alerts();
    let from_redis = ctx
        .redis
        .run(|mut c| async move {
            redis::cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(limit)
                .query_async::<redis::streams::StreamRangeReply>(&mut c)
                .await
        })
        .await;
    let answer = match from_redis {
        Some(reply) => RealtimeAlerts {
            source: "redis",
            alerts: reply.ids.iter().map(alert_of_entry).collect(),
        },
        None => {
            let config = ctx.config.clone();
            let mut alerts = ctx.query(realtime::recent_alerts(&config, &ctx.db)).await?;
            alerts.reverse();
            alerts.truncate(limit as usize);
            RealtimeAlerts {
                source: "postgres",
                alerts,
            }
        }
    };
    Ok(Json(answer))
}

fn alert_of_entry(entry: &redis::streams::StreamId) -> Alert {
    Alert::from_entry(&entry.id, |name| {
        entry
            .map
            .get(name)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_default()
    })
}
