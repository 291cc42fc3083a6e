//! Redis for the API: one multiplexed connection, made on first use and
//! remade after a failure (at most every two seconds), and every command
//! bounded by `api.redis_timeout_ms`. Whatever goes wrong with Redis, the
//! caller gets `None` and answers from Postgres.

use super::{ApiContext, ApiError};
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct RedisHandle {
    client: redis::Client,
    timeout: Duration,
    state: Mutex<Connection>,
}

#[derive(Default)]
struct Connection {
    manager: Option<ConnectionManager>,
    last_failure: Option<Instant>,
}

/// How long a failed connection attempt keeps Redis marked down.
const RETRY_AFTER: Duration = Duration::from_secs(2);

impl RedisHandle {
    pub fn new(
        config: &crate::config::RedisConfig,
        timeout: Duration,
    ) -> Result<RedisHandle, redis::RedisError> {
        Ok(RedisHandle {
            client: crate::redis_client::client(config)?,
            timeout,
            state: Mutex::new(Connection::default()),
        })
    }

    /// The connection, or `None` while Redis is down.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        let mut state = self.state.lock().await;
        if let Some(manager) = &state.manager {
            return Some(manager.clone());
        }
        if state
            .last_failure
            .is_some_and(|t| t.elapsed() < RETRY_AFTER)
        {
            return None;
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let attempt = tokio::time::timeout(
            self.timeout * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        match attempt {
            Ok(Ok(manager)) => {
                state.manager = Some(manager.clone());
                state.last_failure = None;
                Some(manager)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis unavailable; answering from Postgres");
                state.last_failure = Some(Instant::now());
                None
            }
            Err(_) => {
                tracing::warn!("Redis did not answer in time; answering from Postgres");
                state.last_failure = Some(Instant::now());
                None
            }
        }
    }

    /// Runs one Redis operation within the timeout; `None` on any failure.
    pub async fn run<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, op(connection)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "Redis command failed");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether Redis answers PING now.
    pub async fn ping(&self) -> bool {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .is_some()
    }
}

/// A JSON body as text, with whether it came from the cache.
pub struct CachedJson {
    pub body: String,
    pub hit: bool,
}

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        (
            [
                (axum::http::header::CONTENT_TYPE, "application/json"),
                (
                    axum::http::header::HeaderName::from_static("x-cache"),
                    if self.hit { "hit" } else { "miss" },
                ),
            ],
            self.body,
        )
            .into_response()
    }
}

impl ApiContext {
    /// The body cached under `key`, counting a hit, a miss or Redis
    /// being unavailable.
    pub async fn cache_lookup(&self, key: &str) -> Option<String> {
        let key = key.to_string();
        let lookup = self
            .redis
            .run(|mut c| async move { c.get::<_, Option<String>>(key).await })
            .await;
        match lookup {
            Some(Some(body)) => {
                self.metrics.cache("hit");
                Some(body)
            }
            Some(None) => {
                self.metrics.cache("miss");
                None
            }
            None => {
                self.metrics.cache("unavailable");
                None
            }
        }
    }

    /// Stores `body` under `key` for `ttl` seconds (best effort).
    pub async fn cache_store(&self, key: String, body: String, ttl: u64) {
        self.redis
            .run(|mut c| async move { c.set_ex::<_, _, ()>(key, body, ttl).await })
            .await;
    }

    /// Cache-aside: the answer stored under `key` if Redis has it, else
    /// `compute` (from Postgres), stored for `redis.cache_ttl_secs`.
    pub async fn cached<T, Fut>(&self, key: &str, compute: Fut) -> Result<CachedJson, ApiError>
    where
        T: serde::Serialize,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let key = crate::redis_keys::Keys::of(&self.config).api_answer(key);
        let ttl = self.config.redis.cache_ttl_secs;
        if ttl > 0 {
            if let Some(body) = self.cache_lookup(&key).await {
                return Ok(CachedJson { body, hit: true });
            }
        }
        let value = compute.await?;
        let body = serde_json::to_string(&value)
            .map_err(|e| ApiError::Config(format!("serialising the answer: {e}")))?;
        if ttl > 0 {
            self.cache_store(key, body.clone(), ttl).await;
        }
        Ok(CachedJson { body, hit: false })
    }
}
