//! What the baedal workloads and the operator agree on, in one small crate
//! both depend on: the configuration (its keys, environment variables and
//! defaults, [`config`]), the topics ([`topics`]), the Kafka
//! client settings ([`kafka`]) and the librdkafka calls rdkafka does not
//! wrap ([`librdkafka`]), the Postgres schema and its versioned
//! migrations ([`schema`]), and the logging set-up ([`logging`]). The
//! operator needs nothing else of the data plane: no readers, no HTTP
//! server, no Redis client.

pub mod config;
pub mod kafka;
pub mod librdkafka;
pub mod logging;
pub mod schema;
pub mod topics;

/// Registers Prometheus metrics under one prefix (exported as
/// `<prefix>_<name>`), one line each: `name => metric, help;`. Every
/// baedal process registers its metrics with it.
///
/// ```
/// use prometheus_client::{metrics::counter::Counter, registry::Registry};
/// let (mut registry, sent) = (Registry::default(), Counter::<u64>::default());
/// baedal_contract::register_metrics!(registry, "baedal_example", {
///     "sent" => sent, "Records sent";
/// });
/// ```
#[macro_export]
macro_rules! register_metrics {
    ($registry:expr, $prefix:expr, { $($name:literal => $metric:expr, $help:expr;)+ }) => {{
        let r = $registry.sub_registry_with_prefix($prefix);
        $( r.register($name, $help, $metric.clone()); )+
    }};
}

/// A server that could not be reached or refused the connection: which one
/// (address and security mode, never a credential) and why, in one line.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {service} at {endpoint}: {reason}")]
pub struct ConnectError {
    /// `Kafka`, `Postgres` or `Redis`.
    pub service: &'static str,
    /// Address and security mode.
    pub endpoint: String,
    /// What the client library said.
    pub reason: String,
}
