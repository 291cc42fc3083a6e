//! The API's one error type: each variant is a status code and an `error`
//! kind in the JSON body, so clients can tell "you asked wrong" (400, 404)
//! from "we cannot answer now" (503).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is malformed or out of range (400).
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// Postgres is down or too slow (503).
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// A query failed for another reason (500; details are logged, not sent).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The service cannot start with this configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A model could not be fitted to the data (500).
    #[error("model: {0}")]
    Model(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Config(_) | ApiError::Model(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `error` field of the body.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Database(_) => "database_error",
            ApiError::Config(_) => "configuration",
            ApiError::Model(_) => "model_error",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => ApiError::DatabaseUnavailable(format!("Postgres: {e}")),
            // 57014: query_canceled (statement_timeout); 57P0x: shutting down.
            sqlx::Error::Database(ref db)
                if db
                    .code()
                    .is_some_and(|c| c == "57014" || c.starts_with("57P")) =>
            {
                ApiError::DatabaseUnavailable(format!("Postgres: {e}"))
            }
            other => ApiError::Database(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Database(e) => {
                tracing::error!(error = %e, "query failed");
                "the query failed; see the service log".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (
            self.status(),
            Json(json!({ "error": self.kind(), "message": message })),
        )
            .into_response();
        if matches!(self, ApiError::DatabaseUnavailable(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

impl From<crate::anomalies::AnomalyError> for ApiError {
    fn from(e: crate::anomalies::AnomalyError) -> Self {
        match e {
            crate::anomalies::AnomalyError::Database(e) => e.into(),
            other => ApiError::Model(other.to_string()),
        }
    }
}
