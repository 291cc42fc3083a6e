//! `baedal api`: the read-only analytics service over Postgres, with Redis
//! in front (cache-aside), and the dashboard that draws it.
//!
//! One router per area, merged in [`router`]:
//! - [`analytics`]: order trends, restaurants, delivery, menu (Postgres, cached);
//! - [`forecasts`]: the demand forecast and its backtest (Postgres, cached);
//! - [`customers`]: RFM segments and customer lifetime value (Postgres, cached);
//! - [`live`]: the order cache and the real-time views the ETL keeps in Redis;
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`;
//! - [`openapi`]: `/openapi.json`, which names every route above;
//! - [`dashboard`]: the HTML pages and their (local, offline) assets.
//!
//! Every handler shares one [`ApiContext`]. Failures are [`ApiError`]s, which
//! become a status code and a JSON body `{"error": kind, "message": …}`.
//!
//! Degraded modes: with Redis down every answer comes from Postgres (and
//! `/readyz` says `degraded`); with Postgres down a request gets 503 within
//! `api.db_timeout_ms`, never a hang.

pub mod analytics;
mod cache;
pub mod customers;
mod dashboard;
mod dimensions;
mod error;
pub mod forecasts;
mod health;
pub mod live;
pub mod openapi;
mod params;
pub mod routes;

pub use cache::RedisHandle;
pub use error::ApiError;
pub use params::{Filters, MAX_LIMIT};

use crate::config::Config;
use crate::db;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: Arc<RedisHandle>,
    pub metrics: Arc<ApiMetrics>,
    pub registry: Arc<Registry>,
    /// The known filter values and when they were read (see
    /// [`dimensions::dimensions`]).
    pub known: Arc<tokio::sync::RwLock<Option<KnownValues>>>,
}

/// The filter values read from Postgres, and when.
pub type KnownValues = (Instant, Arc<dimensions::Dimensions>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit`, `miss`, or `unavailable` (Redis down or too slow).
    pub result: &'static str,
}

/// The API's Prometheus metrics.
pub struct ApiMetrics {
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub cache: Family<CacheLabels, Counter>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.0005, 2.0, 14,
                ))
            }),
            cache: Family::default(),
        }
    }
}

impl ApiMetrics {
    /// Registers every metric under `baedal_api_`.
    fn register(&self, registry: &mut Registry) {
        baedal_contract::register_metrics!(registry, "baedal_api", {
            "requests" => self.requests, "HTTP requests answered, by route and status";
            "request_duration_seconds" => self.latency, "Time to answer a request, by route and status";
            "cache_lookups" => self.cache, "Redis cache lookups by result (hit, miss, unavailable)";
        });
    }

    fn cache(&self, result: &'static str) {
        self.cache.get_or_create(&CacheLabels { result }).inc();
    }
}

impl ApiContext {
    /// Builds the context; connects nothing yet (Postgres and Redis are
    /// reached on first use, so the API starts while either is down).
    pub fn new(config: Config) -> Result<ApiContext, ApiError> {
        let db_timeout = Duration::from_millis(config.api.db_timeout_ms);
        let db = db::connect_lazy(&config.database, db_timeout, db_timeout)
            .map_err(|e| ApiError::Config(format!("database.url: {e}")))?;
        let redis = RedisHandle::new(
            &config.redis,
            Duration::from_millis(config.api.redis_timeout_ms),
        )
        .map_err(|e| ApiError::Config(format!("redis.url: {e}")))?;
        let metrics = ApiMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        Ok(ApiContext {
            config: Arc::new(config),
            db,
            redis: Arc::new(redis),
            metrics: Arc::new(metrics),
            registry: Arc::new(registry),
            known: Arc::default(),
        })
    }

    /// Runs a Postgres query with the configured deadline: a database that
    /// is down or stuck answers 503, not a hang.
    pub async fn query<T, E, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, E>>,
        E: Into<ApiError>,
    {
        let limit = Duration::from_millis(self.config.api.db_timeout_ms);
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(ApiError::DatabaseUnavailable(format!(
                "no answer from Postgres within {} ms",
                limit.as_millis()
            ))),
        }
    }
}

/// Every route of the API and the dashboard.
pub fn router(ctx: ApiContext) -> Router {
    Router::new()
        .merge(analytics::router())
        .merge(forecasts::router())
        .merge(dimensions::router())
        .merge(customers::router())
        .merge(routes::router())
        .merge(live::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(dashboard::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            record_request,
        ))
        .with_state(ctx)
}

/// Counts and times every request by its route template.
async fn record_request(State(ctx): State<ApiContext>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RouteLabels {
        route,
        status: response.status().as_u16(),
    };
    ctx.metrics.requests.get_or_create(&labels).inc();
    ctx.metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Serves the API on `config.api.listen` until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.api.listen.clone();
    let ctx = ApiContext::new(config)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving the API and dashboard");
    println!(
        "baedal api listening on http://{}/ (dashboard at /dashboard/)",
        listener.local_addr()?
    );
    axum::serve(listener, router(ctx))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
