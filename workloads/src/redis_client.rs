//! The one way baedal opens Redis: `redis://`, or `rediss://` (TLS) checked
//! against the configured CA (`redis.ca_cert`) or else the Mozilla roots,
//! and a first connection that fails within a bound, naming the server
//! (never the password) and the reason.

use crate::config::{redact_url, RedisConfig};
use baedal_contract::ConnectError;
use redis::{Client, ErrorKind, RedisError, TlsCertificates};
use std::time::Duration;

/// How long the first connection may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for `config.redis` (no connection is made yet).
pub fn client(config: &RedisConfig) -> Result<Client, RedisError> {
    match &config.ca_cert {
        Some(path) => {
            let root_cert = std::fs::read(path).map_err(|e| {
                RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "reading redis.ca_cert",
                    format!("{path}: {e}"),
                ))
            })?;
            Client::build_with_tls(
                config.url.as_str(),
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
        }
        None => Client::open(config.url.as_str()),
    }
}

/// The failure of a first connection, as an error naming the server.
pub fn unreachable(config: &RedisConfig, reason: impl std::fmt::Display) -> RedisError {
    let error = ConnectError {
        service: "Redis",
        endpoint: redact_url(&config.url),
        reason: reason.to_string(),
    };
    RedisError::from((ErrorKind::Io, "connecting", error.to_string()))
}

/// One multiplexed connection, made within [`CONNECT_TIMEOUT`].
pub async fn connect(
    config: &RedisConfig,
) -> Result<redis::aio::MultiplexedConnection, RedisError> {
    let client = client(config)?;
    let settings = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CONNECT_TIMEOUT));
    match tokio::time::timeout(
        CONNECT_TIMEOUT * 2,
        client.get_multiplexed_async_connection_with_config(&settings),
    )
    .await
    {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(unreachable(config, e)),
        Err(_) => Err(unreachable(
            config,
            format!("no answer within {:?}", CONNECT_TIMEOUT * 2),
        )),
    }
}
