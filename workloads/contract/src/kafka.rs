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
use rdkafka::types::RDKafkaErrorCode;
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

    /// Keeps a log line that gives a failure's reason: an error, or a
    /// failed connection (`FAIL`).
    pub fn note_log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) || facility == "FAIL" {
            self.note(message);
        }
    }

    /// Keeps the reason of an error the client reported, unless it only
    /// says that every broker is down and a reason why is kept already.
    pub fn note_error(&self, error: &KafkaError, reason: &str) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let all_down = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        if !(all_down && kept.is_some()) {
            *kept = Some(reason.to_string());
        }
    }

    fn note(&self, reason: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }
}

impl ClientContext for LastError {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, message, "librdkafka");
        self.note_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error");
        self.note_error(&error, reason);
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
    let consumer: BaseConsumer<LastError> = client_config(config)
        .create_with_context(LastError::default())
        .map_err(|e| connect_error(config, e.to_string()))?;
    metadata_through(
        consumer.client(),
        consumer.context(),
        config,
        topic,
        timeout,
        || {
            let _ = consumer.poll(Duration::from_millis(50));
        },
    )
}

/// [`metadata`] over a client the caller already has (its connections are
/// reused): `serve` hands the client's log and error events to its context,
/// which records the reason of a failure in `last_error`.
pub fn metadata_through<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    last_error: &LastError,
    config: &Config,
    topic: Option<&str>,
    timeout: Duration,
    serve: impl Fn(),
) -> Result<Metadata, ConnectError> {
    // Short attempts, so that a reason librdkafka logged (a refused
    // connection, a failed handshake or login) ends the wait at once.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match client.fetch_metadata(topic, left.min(Duration::from_secs(1))) {
            Ok(metadata) => return Ok(metadata),
            Err(e) => {
                // The client's log and error events wait on its main queue.
                serve();
                if let Some(reason) = last_error.take() {
                    return Err(connect_error(config, reason));
                }
                if std::time::Instant::now() >= deadline {
                    return Err(connect_error(config, e.to_string()));
                }
            }
        }
    }
}

/// A Kafka connection failure: the brokers, the security protocol, `reason`.
fn connect_error(config: &Config, reason: String) -> ConnectError {
    ConnectError {
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
    }
}
