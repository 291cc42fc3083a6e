//! The one configuration every workload reads: a YAML file (optional) and
//! `BAEDAL_*` environment variables on top of it.
//!
//! The operator renders exactly these keys into the pipeline's ConfigMap; the
//! table in [`ENV`] is the reference (and the README lists it). Credentials
//! never live here in clear: the database and Redis URLs come from Secrets
//! through the environment, and [`Config::redacted`] hides their passwords
//! wherever the configuration is shown or logged.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub etl: EtlConfig,
    pub alerts: AlertConfig,
    pub api: ApiConfig,
    /// Address of the `/metrics` endpoint of ingest and ETL.
    pub metrics_listen: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port]` of the brokers.
    pub bootstrap: String,
    /// Prefix of every topic name (`baedal.` gives `baedal.orders`, …).
    pub topic_prefix: String,
    /// librdkafka `security.protocol` (PLAINTEXT, SSL, SASL_SSL, …).
    pub security_protocol: Option<String>,
    /// SASL mechanism (PLAIN, SCRAM-SHA-512, …) when SASL is used.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    /// Only ever from the environment (a Secret); never written to a file.
    #[serde(skip_serializing)]
    pub sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates (a mounted
    /// Secret) for `SSL` and `SASL_SSL`; unset: librdkafka's default CAs.
    pub ssl_ca_location: Option<String>,
    /// The same CA as PEM text, for a client that holds it in memory (the
    /// operator reads it from the Secret); never read from files or the
    /// environment.
    #[serde(skip)]
    pub ssl_ca_pem: Option<String>,
    /// Whether the ingest creates missing topics. On Kubernetes the
    /// operator provisions them (partitions, replication, retention) and
    /// sets this to false; the ingest and the ETL then stop with a clear
    /// error when a topic is missing, and nothing creates it with the wrong
    /// settings. With true, an ETL run before the first ingest warns and
    /// reads nothing from the missing topics.
    pub create_topics: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user[:password]@host:port/database`.
    pub url: String,
    /// The Postgres schema holding baedal's tables (created if missing).
    pub schema: String,
    pub max_connections: u32,
    /// PEM file of the CA for `sslmode=verify-ca` / `verify-full` in the URL
    /// (a mounted Secret; RDS: the region's bundle). Unset: the URL's
    /// `sslrootcert`, else the Mozilla roots.
    pub ssl_root_cert: Option<String>,
    /// The same CA as PEM text, for a client that holds it in memory (the
    /// operator); never read from files or the environment.
    #[serde(skip)]
    pub ssl_root_cert_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`, or `rediss://…` for TLS.
    pub url: String,
    /// PEM file of the CA for `rediss://` (a mounted Secret). Unset: the
    /// Mozilla roots (ElastiCache's certificates chain to them).
    pub ca_cert: Option<String>,
    /// Prefix of every key (`baedal:` gives `baedal:order:O000000001`, …).
    pub key_prefix: String,
    /// Lifetime of a cached order, seconds.
    pub order_ttl_secs: u64,
    /// The ETL pre-warms the cache with the orders of this many latest days
    /// of data; older orders are cached when first read (cache-aside).
    pub order_cache_days: i64,
    /// Lifetime of a cached API answer, seconds.
    pub cache_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtlConfig {
    /// Messages loaded per Postgres transaction.
    pub batch_size: usize,
    /// How long one batch may take to write, seconds: a connection that
    /// stops answering ends the run with an error instead of holding it (and
    /// its open transaction) forever. A batch takes well under a second at
    /// the default size.
    pub batch_timeout_secs: u64,
    /// Consumer group of `etl --follow`: followers in one group share the
    /// partitions. Offsets live in Postgres; Kafka gets a copy for lag tools.
    pub group_id: String,
    /// How often at most a follower (`etl --follow`) refreshes the live
    /// views (stats, leaderboards, alerts) while data flows, milliseconds.
    pub live_refresh_ms: u64,
    /// Readers per topic in a batch run: reader k of n loads the partitions
    /// numbered k modulo n, each in its own transactions, at once. Each holds
    /// one Postgres connection while it commits (`database.max_connections`).
    pub readers_per_topic: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// Raise an alert when the late-delivery rate in the window exceeds this.
    pub late_rate_threshold: f64,
    /// The alert window, minutes, ending at the latest order time.
    pub window_minutes: i64,
    /// No alert on fewer orders than this in the window (late rates are over
    /// its deliveries).
    pub min_orders: i64,
}

/// `baedal api`: the analytics HTTP service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the API listens on (it also serves `/metrics` there).
    pub listen: String,
    /// Longest a request waits for Postgres (pool and query) before it is
    /// answered 503; the API never hangs on a database that is down.
    pub db_timeout_ms: u64,
    /// Longest a request waits for Redis before it goes to Postgres instead.
    pub redis_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            db_timeout_ms: 3000,
            redis_timeout_ms: 250,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kafka: KafkaConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            etl: EtlConfig::default(),
            alerts: AlertConfig::default(),
            api: ApiConfig::default(),
            metrics_listen: "127.0.0.1:9464".into(),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap: "127.0.0.1:9092".into(),
            topic_prefix: "baedal.".into(),
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            ssl_ca_pem: None,
            create_topics: true,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "postgres://postgres@127.0.0.1:5432/baedal".into(),
            schema: "baedal".into(),
            max_connections: 8,
            ssl_root_cert: None,
            ssl_root_cert_pem: None,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379/".into(),
            ca_cert: None,
            key_prefix: "baedal:".into(),
            order_ttl_secs: 3600,
            order_cache_days: 7,
            cache_ttl_secs: 60,
        }
    }
}

impl Default for EtlConfig {
    fn default() -> Self {
        EtlConfig {
            batch_size: 20_000,
            batch_timeout_secs: 120,
            group_id: "baedal-etl".into(),
            live_refresh_ms: 2000,
            readers_per_topic: 3,
        }
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            late_rate_threshold: 0.25,
            window_minutes: 60,
            min_orders: 5,
        }
    }
}

/// One environment variable: its name, the configuration key it sets, what
/// it means, and the field it sets (this table is the one place a name
/// meets its key).
pub struct EnvVar {
    pub name: &'static str,
    pub key: &'static str,
    pub meaning: &'static str,
    field: Option<fn(&mut Config) -> &mut dyn FromEnv>,
}

/// A configuration field an environment variable can set.
trait FromEnv {
    fn set_from(&mut self, value: &str) -> Result<(), String>;
}

impl FromEnv for String {
    fn set_from(&mut self, value: &str) -> Result<(), String> {
        value.clone_into(self);
        Ok(())
    }
}

impl FromEnv for Option<String> {
    fn set_from(&mut self, value: &str) -> Result<(), String> {
        *self = Some(value.to_string());
        Ok(())
    }
}

macro_rules! from_env_parsed {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn set_from(&mut self, value: &str) -> Result<(), String> {
                *self = value.trim().parse().map_err(|e: <$t as std::str::FromStr>::Err| e.to_string())?;
                Ok(())
            }
        }
    )*};
}
from_env_parsed!(bool, u32, u64, usize, i32, i64, f64);

/// The variable naming the configuration file.
pub const CONFIG_FILE_VAR: &str = "BAEDAL_CONFIG";

/// Every environment variable the workloads read.
pub const ENV: &[EnvVar] = &[
    EnvVar {
        name: CONFIG_FILE_VAR,
        key: "-",
        meaning: "path of a YAML file with any of the keys below",
        field: None,
    },
    EnvVar {
        name: "BAEDAL_KAFKA_BOOTSTRAP",
        key: "kafka.bootstrap",
        meaning: "broker list, host:port[,host:port]",
        field: Some(|c| &mut c.kafka.bootstrap),
    },
    EnvVar {
        name: "BAEDAL_TOPIC_PREFIX",
        key: "kafka.topic_prefix",
        meaning: "prefix of every topic name",
        field: Some(|c| &mut c.kafka.topic_prefix),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_SECURITY_PROTOCOL",
        key: "kafka.security_protocol",
        meaning: "PLAINTEXT, SSL, SASL_SSL, …",
        field: Some(|c| &mut c.kafka.security_protocol),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_SASL_MECHANISM",
        key: "kafka.sasl_mechanism",
        meaning: "SASL mechanism",
        field: Some(|c| &mut c.kafka.sasl_mechanism),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_SASL_USERNAME",
        key: "kafka.sasl_username",
        meaning: "SASL user",
        field: Some(|c| &mut c.kafka.sasl_username),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_SASL_PASSWORD",
        key: "kafka.sasl_password",
        meaning: "SASL password (from a Secret)",
        field: Some(|c| &mut c.kafka.sasl_password),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_SSL_CA_LOCATION",
        key: "kafka.ssl_ca_location",
        meaning: "PEM file of the brokers' CA (SSL, SASL_SSL)",
        field: Some(|c| &mut c.kafka.ssl_ca_location),
    },
    EnvVar {
        name: "BAEDAL_KAFKA_CREATE_TOPICS",
        key: "kafka.create_topics",
        meaning:
            "whether the ingest creates missing topics (false when the operator provisions them)",
        field: Some(|c| &mut c.kafka.create_topics),
    },
    EnvVar {
        name: "BAEDAL_DATABASE_URL",
        key: "database.url",
        meaning: "Postgres URL (from a Secret)",
        field: Some(|c| &mut c.database.url),
    },
    EnvVar {
        name: "BAEDAL_DATABASE_SSL_ROOT_CERT",
        key: "database.ssl_root_cert",
        meaning: "PEM file of the CA for sslmode=verify-ca/verify-full",
        field: Some(|c| &mut c.database.ssl_root_cert),
    },
    EnvVar {
        name: "BAEDAL_DATABASE_SCHEMA",
        key: "database.schema",
        meaning: "Postgres schema of baedal's tables",
        field: Some(|c| &mut c.database.schema),
    },
    EnvVar {
        name: "BAEDAL_DATABASE_MAX_CONNECTIONS",
        key: "database.max_connections",
        meaning: "connection pool size",
        field: Some(|c| &mut c.database.max_connections),
    },
    EnvVar {
        name: "BAEDAL_REDIS_URL",
        key: "redis.url",
        meaning: "Redis URL (from a Secret when it has a password)",
        field: Some(|c| &mut c.redis.url),
    },
    EnvVar {
        name: "BAEDAL_REDIS_CA_CERT",
        key: "redis.ca_cert",
        meaning: "PEM file of the CA for rediss://",
        field: Some(|c| &mut c.redis.ca_cert),
    },
    EnvVar {
        name: "BAEDAL_REDIS_PREFIX",
        key: "redis.key_prefix",
        meaning: "prefix of every Redis key",
        field: Some(|c| &mut c.redis.key_prefix),
    },
    EnvVar {
        name: "BAEDAL_ORDER_CACHE_TTL",
        key: "redis.order_ttl_secs",
        meaning: "seconds a cached order lives",
        field: Some(|c| &mut c.redis.order_ttl_secs),
    },
    EnvVar {
        name: "BAEDAL_ORDER_CACHE_DAYS",
        key: "redis.order_cache_days",
        meaning: "days of the latest data the ETL pre-caches",
        field: Some(|c| &mut c.redis.order_cache_days),
    },
    EnvVar {
        name: "BAEDAL_CACHE_TTL",
        key: "redis.cache_ttl_secs",
        meaning: "seconds a cached API answer lives",
        field: Some(|c| &mut c.redis.cache_ttl_secs),
    },
    EnvVar {
        name: "BAEDAL_ETL_BATCH_SIZE",
        key: "etl.batch_size",
        meaning: "messages per Postgres transaction",
        field: Some(|c| &mut c.etl.batch_size),
    },
    EnvVar {
        name: "BAEDAL_ETL_BATCH_TIMEOUT_SECS",
        key: "etl.batch_timeout_secs",
        meaning: "how long one batch may take to write before the run stops with an error",
        field: Some(|c| &mut c.etl.batch_timeout_secs),
    },
    EnvVar {
        name: "BAEDAL_ETL_GROUP_ID",
        key: "etl.group_id",
        meaning: "consumer group id",
        field: Some(|c| &mut c.etl.group_id),
    },
    EnvVar {
        name: "BAEDAL_ETL_LIVE_REFRESH_MS",
        key: "etl.live_refresh_ms",
        meaning: "how often at most a follower refreshes the live views",
        field: Some(|c| &mut c.etl.live_refresh_ms),
    },
    EnvVar {
        name: "BAEDAL_ETL_READERS_PER_TOPIC",
        key: "etl.readers_per_topic",
        meaning: "readers per topic in a batch run, each taking every n-th partition",
        field: Some(|c| &mut c.etl.readers_per_topic),
    },
    EnvVar {
        name: "BAEDAL_ALERT_LATE_RATE",
        key: "alerts.late_rate_threshold",
        meaning: "late-delivery rate that raises an alert",
        field: Some(|c| &mut c.alerts.late_rate_threshold),
    },
    EnvVar {
        name: "BAEDAL_ALERT_WINDOW_MINUTES",
        key: "alerts.window_minutes",
        meaning: "alert window, minutes",
        field: Some(|c| &mut c.alerts.window_minutes),
    },
    EnvVar {
        name: "BAEDAL_ALERT_MIN_ORDERS",
        key: "alerts.min_orders",
        meaning: "fewest orders in the window to judge",
        field: Some(|c| &mut c.alerts.min_orders),
    },
    EnvVar {
        name: "BAEDAL_API_LISTEN",
        key: "api.listen",
        meaning: "address the API listens on",
        field: Some(|c| &mut c.api.listen),
    },
    EnvVar {
        name: "BAEDAL_API_DB_TIMEOUT_MS",
        key: "api.db_timeout_ms",
        meaning: "longest an API request waits for Postgres",
        field: Some(|c| &mut c.api.db_timeout_ms),
    },
    EnvVar {
        name: "BAEDAL_API_REDIS_TIMEOUT_MS",
        key: "api.redis_timeout_ms",
        meaning: "longest an API request waits for Redis",
        field: Some(|c| &mut c.api.redis_timeout_ms),
    },
    EnvVar {
        name: "BAEDAL_METRICS_ADDR",
        key: "metrics_listen",
        meaning: "address of /metrics (ingest, ETL)",
        field: Some(|c| &mut c.metrics_listen),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("environment variable {name}={value:?}: {reason}")]
    Env {
        name: String,
        value: String,
        reason: String,
    },
}

/// The first line of the configuration file the operator writes.
///
/// Version skew: a workloads image reads the file written by an operator of
/// its own version or a newer one. A file with this first line is
/// machine-written, so a key this image does not know (a newer operator's
/// setting) is ignored with a warning naming it, rather than refused; a file
/// written by hand is still parsed strictly, so a typo is an error.
pub const OPERATOR_WRITTEN: &str =
    "# Written by baedal-operator; keys this image does not know are ignored.";

/// Parses an operator-written file, dropping (and naming) unknown keys.
fn parse_ignoring_unknown(text: &str, path: &str) -> Result<Config, ConfigError> {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
    loop {
        match serde_path_to_error::deserialize::<_, Config>(value.clone()) {
            Ok(config) => return Ok(config),
            Err(e) if e.inner().to_string().starts_with("unknown field") => {
                let parent: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
                let unknown = e
                    .inner()
                    .to_string()
                    .split('`')
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                // The path may end at the unknown key itself.
                let mut parent = parent;
                if parent.last() == Some(&unknown) {
                    parent.pop();
                }
                if !remove_key(&mut value, &parent, &unknown) {
                    return Err(ConfigError::Parse {
                        path: path.into(),
                        source: e.into_inner(),
                    });
                }
                let key = parent
                    .iter()
                    .chain([&unknown])
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(".");
                tracing::warn!(%key, %path, "ignoring a setting this image does not know (written by a newer operator)");
            }
            Err(e) => {
                return Err(ConfigError::Parse {
                    path: path.into(),
                    source: e.into_inner(),
                })
            }
        }
    }
}

/// Removes `key` from the mapping at `parent` (a path of keys); whether it was there.
fn remove_key(value: &mut serde_yaml::Value, parent: &[String], key: &str) -> bool {
    match parent.split_first() {
        None => value.as_mapping_mut().and_then(|m| m.remove(key)).is_some(),
        Some((first, rest)) => value
            .get_mut(first.as_str())
            .is_some_and(|child| remove_key(child, rest, key)),
    }
}

impl Config {
    /// Defaults, then the file (`path`, or `BAEDAL_CONFIG`), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(path, |name| std::env::var(name).ok())
    }

    /// [`load`](Self::load) with an explicit environment (for tests).
    pub fn load_with(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_FILE_VAR).map(Into::into));
        let mut config = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: shown.clone(),
                    source,
                })?;
                if text.trim().is_empty() {
                    Config::default()
                } else if text.starts_with(OPERATOR_WRITTEN) {
                    parse_ignoring_unknown(&text, &shown)?
                } else {
                    serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
                        path: shown,
                        source,
                    })?
                }
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for var in ENV {
            let (Some(field), Some(value)) = (var.field, env(var.name)) else {
                continue;
            };
            field(self)
                .set_from(&value)
                .map_err(|reason| ConfigError::Env {
                    name: var.name.into(),
                    value,
                    reason,
                })?;
        }
        if !self
            .database
            .schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || self.database.schema.is_empty()
        {
            return Err(ConfigError::Env {
                name: "database.schema".into(),
                value: self.database.schema.clone(),
                reason: "a schema name is letters, digits and _ only".into(),
            });
        }
        if self.etl.batch_size == 0 {
            return Err(ConfigError::Env {
                name: "etl.batch_size".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The topic for a kind of record: `orders`, `messages`, `logs`, `reviews`, `dead-letter`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{}", self.kafka.topic_prefix, name)
    }

    /// The configuration as YAML with passwords replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&shown.database.url);
        shown.redis.url = redact_url(&shown.redis.url);
        serde_yaml::to_string(&shown).unwrap_or_default()
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

pub use crate::topics::TOPICS;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_newer_operators_file_loads_and_a_hand_written_typo_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baedal.yaml");
        // A key this image does not know, as a newer operator would write it.
        let newer = format!(
            "{OPERATOR_WRITTEN}\nkafka:\n  bootstrap: kafka:9092\n  compression: zstd\nfuture_section:\n  x: 1\netl:\n  batch_size: 500\n"
        );
        std::fs::write(&file, &newer).unwrap();
        let config = Config::load_with(Some(&file), env(&[])).unwrap();
        assert_eq!(config.kafka.bootstrap, "kafka:9092");
        assert_eq!(config.etl.batch_size, 500);
        // The same keys in a file written by hand: refused, naming the key.
        std::fs::write(&file, newer.replace(OPERATOR_WRITTEN, "# mine")).unwrap();
        let err = Config::load_with(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `compression`"), "{err}");
        // A known key with a wrong type is an error either way.
        std::fs::write(
            &file,
            format!("{OPERATOR_WRITTEN}\netl:\n  batch_size: lots\n"),
        )
        .unwrap();
        assert!(Config::load_with(Some(&file), env(&[])).is_err());
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baedal.yaml");
        std::fs::write(&file, "kafka:\n  bootstrap: kafka:9092\nredis:\n  key_prefix: 'test:'\netl:\n  batch_size: 500\n").unwrap();
        let config = Config::load_with(
            Some(&file),
            env(&[
                ("BAEDAL_KAFKA_BOOTSTRAP", "b1:9092,b2:9092"),
                ("BAEDAL_ORDER_CACHE_TTL", "60"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.bootstrap, "b1:9092,b2:9092");
        assert_eq!(config.redis.key_prefix, "test:");
        assert_eq!(config.redis.order_ttl_secs, 60);
        assert_eq!(config.etl.batch_size, 500);
        assert_eq!(config.database.schema, "baedal");
        assert_eq!(config.topic("orders"), "baedal.orders");
    }

    #[test]
    fn bad_values_and_unknown_keys_are_clear_errors() {
        let e = Config::load_with(None, env(&[("BAEDAL_ETL_BATCH_SIZE", "many")])).unwrap_err();
        assert!(e.to_string().contains("BAEDAL_ETL_BATCH_SIZE"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, "kafka:\n  bootstrapp: x\n").unwrap();
        let e = Config::load_with(Some(&file), env(&[])).unwrap_err();
        assert!(e.to_string().contains("bootstrapp"), "{e}");
        let e = Config::load_with(None, env(&[("BAEDAL_DATABASE_SCHEMA", "x; drop table")]))
            .unwrap_err();
        assert!(e.to_string().contains("schema"), "{e}");
    }

    #[test]
    fn every_variable_sets_the_key_it_names() {
        let default = Config::default();
        let at = |config: &Config, key: &str| {
            let tree = serde_yaml::to_value(config).unwrap();
            key.split('.')
                .try_fold(tree, |node, part| node.get(part).cloned())
        };
        for var in ENV.iter().filter(|v| v.field.is_some()) {
            // Credentials are not serialised: the loaded value must differ.
            if var.key.ends_with("password") {
                let loaded = Config::load_with(None, env(&[(var.name, "7")])).unwrap();
                assert_eq!(
                    loaded.kafka.sasl_password.as_deref(),
                    Some("7"),
                    "{}",
                    var.name
                );
                continue;
            }
            let set = ["7", "9", "true", "false"].into_iter().find_map(|v| {
                let loaded = Config::load_with(None, env(&[(var.name, v)])).ok()?;
                let value = at(&loaded, var.key)?;
                (Some(&value) != at(&default, var.key).as_ref()).then_some((v, value))
            });
            let Some((given, value)) = set else {
                panic!("{} does not set {}", var.name, var.key)
            };
            let shown = match value {
                serde_yaml::Value::String(s) => s,
                other => serde_yaml::to_string(&other).unwrap().trim().to_string(),
            };
            assert_eq!(
                shown.trim_end_matches(".0"),
                given,
                "{} → {}",
                var.name,
                var.key
            );
        }
    }

    #[test]
    fn passwords_never_show() {
        let config = Config::load_with(
            None,
            env(&[
                (
                    "BAEDAL_DATABASE_URL",
                    "postgres://app:s3cret@db:5432/baedal",
                ),
                ("BAEDAL_KAFKA_SASL_PASSWORD", "k4fka"),
            ]),
        )
        .unwrap();
        let shown = config.redacted();
        assert!(
            !shown.contains("s3cret") && !shown.contains("k4fka"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db:5432/baedal"));
    }
}
