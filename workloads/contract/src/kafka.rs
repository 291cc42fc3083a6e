//! The librdkafka settings every Kafka client of baedal shares (workloads
//! and the operator's admin client alike).

use crate::config::Config;
use rdkafka::config::ClientConfig;

/// Settings every client shares: brokers and, when configured, TLS/SASL.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.bootstrap)
        .set("client.id", "baedal");
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
    c
}
