//! The spec's backing services: the Kafka cluster and its topics, the
//! PostgreSQL database, and the Redis (external or managed by the operator).

use super::{Resources, SecretKeyRef};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Kafka cluster and the topics of the pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.securityProtocol) || !(self.securityProtocol in ['SASL_PLAINTEXT', 'SASL_SSL']) || has(self.sasl)").message("a SASL securityProtocol needs kafka.sasl"))]
#[x_kube(validation = Rule::new("!has(self.caSecret) || (has(self.securityProtocol) && self.securityProtocol in ['SSL', 'SASL_SSL'])").message("kafka.caSecret needs securityProtocol SSL or SASL_SSL"))]
pub struct KafkaSpec {
    /// `host:port[,host:port]` of the brokers (MSK: the bootstrap broker string).
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self != ''").message("bootstrapServers must not be empty"))]
    pub bootstrap_servers: String,
    /// Prefix of every topic name: `baedal.` gives `baedal.orders`, `baedal.dead-letter`, ….
    #[serde(default = "default_topic_prefix")]
    #[schemars(length(max = 100), regex(pattern = r"^[A-Za-z0-9._-]*$"))]
    pub topic_prefix: String,
    /// librdkafka `security.protocol`: `PLAINTEXT` (default), `SSL`,
    /// `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<SecurityProtocol>,
    /// SASL settings, required when `securityProtocol` is a SASL one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSasl>,
    /// Secret key holding the PEM bundle of the CA that signed the brokers'
    /// certificates, for `SSL` and `SASL_SSL`. Unset: the CAs in the image
    /// (enough for MSK, whose certificates chain to Amazon's public roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// The topics the operator provisions.
    #[serde(default)]
    pub topics: TopicsSpec,
}

fn default_topic_prefix() -> String {
    "baedal.".into()
}

/// librdkafka `security.protocol`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    PLAINTEXT,
    /// TLS, no SASL.
    SSL,
    /// SASL without TLS.
    SASL_PLAINTEXT,
    /// SASL over TLS (MSK SCRAM, Confluent Cloud, …).
    SASL_SSL,
}

impl SecurityProtocol {
    /// The librdkafka spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::PLAINTEXT => "PLAINTEXT",
            SecurityProtocol::SSL => "SSL",
            SecurityProtocol::SASL_PLAINTEXT => "SASL_PLAINTEXT",
            SecurityProtocol::SASL_SSL => "SASL_SSL",
        }
    }
}

/// SASL credentials, by Secret reference only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSasl {
    /// SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (MSK).
    #[serde(default = "default_sasl_mechanism")]
    pub mechanism: String,
    /// Secret with the keys `username` and `password`.
    pub credentials_secret: String,
}

fn default_sasl_mechanism() -> String {
    "SCRAM-SHA-512".into()
}

/// Partitions, replication and retention of the pipeline's topics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicsSpec {
    /// Partitions of every topic unless overridden. Partitions can be
    /// increased later, never decreased (a decrease is refused with a condition).
    #[serde(default = "default_partitions")]
    #[x_kube(validation = Rule::new("self > 0").message("partitions must be at least 1"))]
    pub partitions: i32,
    /// Replication factor of new topics (1 on a single local broker, 3 in production).
    #[serde(default = "default_replication")]
    #[x_kube(validation = Rule::new("self > 0").message("replicationFactor must be at least 1"))]
    pub replication_factor: i32,
    /// `retention.ms` of every topic, hours. Unset keeps the broker's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("retentionHours must be at least 1"))]
    pub retention_hours: Option<i64>,
    /// Per-topic overrides, keyed by topic kind: `orders`, `messages`,
    /// `logs`, `reviews`, `dead-letter`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 5))]
    #[x_kube(validation = Rule::new("self.all(k, k in ['orders', 'messages', 'logs', 'reviews', 'dead-letter'])").message("override keys are orders, messages, logs, reviews or dead-letter"))]
    pub overrides: BTreeMap<String, TopicOverride>,
}

impl Default for TopicsSpec {
    fn default() -> Self {
        TopicsSpec {
            partitions: default_partitions(),
            replication_factor: default_replication(),
            retention_hours: None,
            overrides: BTreeMap::new(),
        }
    }
}

fn default_partitions() -> i32 {
    3
}

fn default_replication() -> i32 {
    1
}

/// Settings of one topic that differ from the pipeline's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicOverride {
    /// Partitions of this topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("partitions must be at least 1"))]
    pub partitions: Option<i32>,
    /// Replication factor of this topic when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("replicationFactor must be at least 1"))]
    pub replication_factor: Option<i32>,
    /// `retention.ms` of this topic, hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("retentionHours must be at least 1"))]
    pub retention_hours: Option<i64>,
}

/// The PostgreSQL database.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    /// Secret key holding the connection URL,
    /// `postgres://user:password@host:5432/database` (RDS, CloudNativePG's
    /// `<cluster>-app` Secret key `uri`, …).
    pub connection_secret: SecretKeyRef,
    /// The schema holding baedal's tables (created and migrated by the operator).
    #[serde(default = "default_schema")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("schema is letters, digits and _, not starting with a digit"))]
    pub schema: String,
    /// Connection pool size of each workload.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1, max = 100))]
    pub max_connections: u32,
    /// Secret key holding the PEM bundle of the CA the server's certificate
    /// is checked against, for `sslmode=verify-ca` or `verify-full` in the
    /// URL (RDS: the region's bundle). Unset: the Mozilla roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

fn default_schema() -> String {
    "baedal".into()
}

fn default_max_connections() -> u32 {
    8
}

/// The Redis of the pipeline: one the operator runs, or an existing one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode == 'External' ? has(self.urlSecret) : !has(self.urlSecret)").message("External redis needs urlSecret; Managed redis takes none"))]
#[x_kube(validation = Rule::new("!has(self.caSecret) || self.mode == 'External'").message("redis.caSecret is for External redis (rediss://)"))]
pub struct RedisSpec {
    /// `Managed`: the operator runs a single-replica Redis StatefulSet and
    /// Service. `External`: use `urlSecret` (ElastiCache, …).
    #[serde(default)]
    pub mode: RedisMode,
    /// Secret key holding `redis://[:password@]host:port/db` (`rediss://` for
    /// TLS). Required for `External`, not allowed for `Managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret: Option<SecretKeyRef>,
    /// Secret key holding the PEM bundle of the CA for a `rediss://` URL.
    /// Unset: the Mozilla roots (ElastiCache's certificates chain to them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// Prefix of every Redis key.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Lifetime of a cached API answer, seconds.
    #[serde(default = "default_cache_ttl")]
    #[schemars(range(min = 1))]
    pub cache_ttl_seconds: u64,
    /// Lifetime of a cached order, seconds.
    #[serde(default = "default_order_ttl")]
    #[schemars(range(min = 1))]
    pub order_ttl_seconds: u64,
    /// The managed Redis (used when `mode` is `Managed`).
    #[serde(default)]
    pub managed: ManagedRedisSpec,
}

impl Default for RedisSpec {
    fn default() -> Self {
        RedisSpec {
            mode: RedisMode::Managed,
            url_secret: None,
            ca_secret: None,
            key_prefix: default_key_prefix(),
            cache_ttl_seconds: default_cache_ttl(),
            order_ttl_seconds: default_order_ttl(),
            managed: ManagedRedisSpec::default(),
        }
    }
}

fn default_key_prefix() -> String {
    "baedal:".into()
}

fn default_cache_ttl() -> u64 {
    60
}

fn default_order_ttl() -> u64 {
    3600
}

/// Who runs the Redis.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RedisMode {
    /// The operator runs it (StatefulSet + Service).
    #[default]
    Managed,
    /// An existing Redis, by URL Secret.
    External,
}

/// The operator-managed Redis.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRedisSpec {
    /// Redis image.
    #[serde(default = "default_redis_image")]
    pub image: String,
    /// Size of the data volume (a PersistentVolumeClaim), e.g. `1Gi`. Unset:
    /// an `emptyDir` (the views are rebuilt by the next ETL run anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Requests and limits of the Redis container.
    #[serde(default = "Resources::redis")]
    pub resources: Resources,
}

impl Default for ManagedRedisSpec {
    fn default() -> Self {
        ManagedRedisSpec {
            image: default_redis_image(),
            storage: None,
            resources: Resources::redis(),
        }
    }
}

fn default_redis_image() -> String {
    "redis:7.4-alpine".into()
}
