//! Prometheus metrics: a registry per process and a `/metrics` endpoint
//! served from a background thread (ingest and ETL are not HTTP services).

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Renders the registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&registry),
    )
}

/// Serves `GET /metrics` on `addr` from a background thread for the life of
/// the process. A bind failure is logged, not fatal: the job still runs.
pub fn serve_in_background(addr: String, registry: Arc<Registry>) {
    let spawned = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tracing::warn!(error = %e, "metrics endpoint not started"),
            };
            runtime.block_on(async move {
                let app = Router::new()
                    .route("/metrics", get(metrics))
                    .with_state(registry);
                match tokio::net::TcpListener::bind(&addr).await {
                    Ok(listener) => {
                        tracing::info!(%addr, "serving /metrics");
                        if let Err(e) = axum::serve(listener, app).await {
                            tracing::warn!(error = %e, "metrics endpoint stopped");
                        }
                    }
                    Err(e) => tracing::warn!(%addr, error = %e, "metrics endpoint not started"),
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics endpoint not started");
    }
}
