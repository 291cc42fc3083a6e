//! Liveness, readiness and metrics.

use super::ApiContext;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `GET /healthz`: the process is up (no dependency is checked).
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: `ready` (200) with Postgres and Redis up; `degraded`
/// (200, answers come from Postgres) with Redis down; `unavailable` (503)
/// with Postgres down.
async fn readyz(State(ctx): State<ApiContext>) -> impl IntoResponse {
    let postgres = ctx
        .query(sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&ctx.db))
        .await
        .is_ok();
    let redis = ctx.redis.ping().await;
    let (status, code) = match (postgres, redis) {
        (true, true) => ("ready", StatusCode::OK),
        (true, false) => ("degraded", StatusCode::OK),
        (false, _) => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
    };
    let up = |ok: bool| if ok { "up" } else { "down" };
    (
        code,
        Json(json!({ "status": status, "postgres": up(postgres), "redis": up(redis) })),
    )
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(ctx): State<ApiContext>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(&ctx.registry),
    )
}
