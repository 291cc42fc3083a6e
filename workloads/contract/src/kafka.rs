//! The librdkafka settings every Kafka client of baedal shares (workloads
//! and the operator's admin client alike), and the connection check that
//! turns librdkafka's "timed out" into the reason.

use crate::config::Config;
use crate::ConnectError;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::ClientContext;
use std::sync::Mutex;
use std::time::Duration;

/// Settings every client shares: brokers and, when configured, TLS and SASL.
/// MSK IAM (OAUTHBEARER with a SigV4 token) is not built in: use MSK's SCRAM
/// listener (port 9096) with `SASL_SSL` and `SCRAM-SHA-512`.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.bootstrap)
        .set("client.id", "baedal")
        // Connect to the bootstrap brokers at once: with sparse connections
        // a client's first metadata request waits ~50 ms for one.
        .set("enable.sparse.connections", "false");
    let k = &config.kafka;
    if let Some(p) = &k.security_protocol {
        c.set("security.protocol", p);
    }
    if let Some(m) = &k.sasl_mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &k.sasl_username {
        c.set("sasl.username", u);
    }
    if let Some(p) = &k.sasl_password {
        c.set("sasl.password", p);
    }
    if let Some(ca) = &k.ssl_ca_pem {
        c.set("ssl.ca.pem", ca);
    } else if let Some(ca) = &k.ssl_ca_location {
        c.set("ssl.ca.location", ca);
    }
    c
}

/// Keeps the last error librdkafka reported (a failed TLS handshake, a
/// refused SASL login, a closed connection): its API calls only time out.
#[derive(Default)]
pub struct LastError(Mutex<Option<String>>);

impl LastError {
    /// The last reason seen, if any.
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl ClientContext for LastError {
    /// A failed connection is logged (`FAIL`) with its reason.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, message, "librdkafka");
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) || facility == "FAIL" {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.to_string());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error");
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }
}

impl rdkafka::consumer::ConsumerContext for LastError {}

/// The cluster's metadata (of one topic, or all), within `timeout`. A
/// failure names the brokers, the security protocol and librdkafka's reason.
/// Blocking: call it off the async threads.
pub fn metadata(
    config: &Config,
    topic: Option<&str>,
    timeout: Duration,
) -> Result<Metadata, ConnectError> {
    let failed = |reason: String| ConnectError {
        service: "Kafka",
        endpoint: format!(
            "{} ({})",
            config.kafka.bootstrap,
            config
                .kafka
                .security_protocol
                .as_deref()
                .unwrap_or("PLAINTEXT")
        ),
        reason,
    };
    let consumer: BaseConsumer<LastError> = client_config(config)
        .create_with_context(LastError::default())
        .map_err(|e| failed(e.to_string()))?;
    // Short attempts, so that a reason librdkafka logged (a refused
    // connection, a failed handshake or login) ends the wait at once.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match consumer.fetch_metadata(topic, left.min(Duration::from_secs(1))) {
            Ok(metadata) => return Ok(metadata),
            Err(e) => {
                // The client's log and error events wait on its main queue.
                let _ = consumer.poll(Duration::from_millis(50));
                if let Some(reason) = consumer.context().take() {
                    return Err(failed(reason));
                }
                if std::time::Instant::now() >= deadline {
                    return Err(failed(e.to_string()));
                }
            }
        }
    }
}
