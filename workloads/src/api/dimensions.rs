//! `GET /analytics/dimensions`: the districts, categories and platforms that
//! occur in the valid orders, which are what the filters accept.

use super::params::Params;
use super::{ApiContext, ApiError};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn router() -> Router<ApiContext> {
    Router::new().route("/analytics/dimensions", get(get_dimensions))
}

/// The values the filters accept: what occurs in the valid orders.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Dimensions {
    pub districts: Vec<String>,
    pub categories: Vec<String>,
    pub platforms: Vec<String>,
}

/// The known filter values, read from Postgres at most once per
/// `redis.cache_ttl_secs` (at least once a second) per process.
pub async fn dimensions(ctx: &ApiContext) -> Result<Arc<Dimensions>, ApiError> {
    let fresh_for = Duration::from_secs(ctx.config.redis.cache_ttl_secs.max(1));
    if let Some((at, known)) = ctx.known.read().await.as_ref() {
        if at.elapsed() < fresh_for {
            return Ok(known.clone());
        }
    }
    let rows: Vec<(String, String)> = ctx
        .query(
            sqlx::query_as("SELECT dimension, value FROM mart_dimensions ORDER BY 1, 2")
                .fetch_all(&ctx.db),
        )
        .await?;
    let mut known = Dimensions::default();
    for (dimension, value) in rows {
        match dimension.as_str() {
            "district" => known.districts.push(value),
            "category" => known.categories.push(value),
            _ => known.platforms.push(value),
        }
    }
    let known = Arc::new(known);
    *ctx.known.write().await = Some((Instant::now(), known.clone()));
    Ok(known)
}

async fn get_dimensions(
    State(ctx): State<ApiContext>,
    params: Params,
) -> Result<Json<Dimensions>, ApiError> {
    params.only(&[])?;
    Ok(Json((*dimensions(&ctx).await?).clone()))
}
