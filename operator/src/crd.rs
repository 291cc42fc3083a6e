//! The `DeliveryPipeline` custom resource (`baedal.dev/v1alpha1`).
//!
//! Every field's doc comment becomes its description in the CRD, so
//! `kubectl explain deliverypipeline.spec.kafka` reads them. Defaults live in
//! the schema (the API server fills them in) and in serde (so `render` and the
//! tests see the same values offline). Cross-field rules are CEL
//! (`x-kubernetes-validations`), checked by the API server on every write;
//! [`crate::validate`] checks the same rules and a few more in the operator.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The finalizer that lets the operator honour `deletionPolicy`.
pub const FINALIZER: &str = "baedal.dev/cleanup";

/// The topic kinds a pipeline uses, each `<topicPrefix><kind>`.
pub use baedal_contract::config::TOPICS;

// The rules below are macros so the CEL strings can be built with
// `concat!`; each also has a constant for the Rust side.
macro_rules! max_name_len {
    () => {
        46
    };
}
macro_rules! name_pattern {
    () => {
        "^[a-z]([-a-z0-9]*[a-z0-9])?$"
    };
}
/// One cron field whose numbers match `$n`: `*`, `?`, `n`, `a-b`, each with
/// an optional `/step`, in a comma-separated list.
macro_rules! cron_field {
    ($n:literal) => {
        concat!(
            "([*?]|",
            $n,
            "(-",
            $n,
            ")?)(/[1-9][0-9]?)?(,([*?]|",
            $n,
            "(-",
            $n,
            ")?)(/[1-9][0-9]?)?)*"
        )
    };
}
macro_rules! schedule_pattern {
    () => {
        concat!(
            "^ *(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|",
            cron_field!("[0-5]?[0-9]"),
            " +",
            cron_field!("([01]?[0-9]|2[0-3])"),
            " +",
            cron_field!("(0?[1-9]|[12][0-9]|3[01])"),
            " +",
            cron_field!("(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"),
            " +",
            cron_field!("([0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))"),
            ") *$"
        )
    };
}

/// The longest pipeline name. Children are named `<name>-<suffix>`; the
/// tightest limits are the ETL CronJob's 52 characters (`<name>-etl`, and
/// the Jobs it creates add 11 more) and the managed Redis StatefulSet's
/// (`<name>-redis`, whose pods and revision labels must stay within 63).
pub const MAX_NAME_LEN: usize = max_name_len!();

/// What `metadata.name` must match (the CRD's CEL rule and
/// [`crate::validate`]): a DNS-1035 label, as Services need.
pub const NAME_PATTERN: &str = name_pattern!();

/// A CronJob schedule as Kubernetes' parser reads it: five fields in range
/// (minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, weekday 0-6 or
/// SUN-SAT), or a macro. The CRD's CEL rule and [`crate::validate`] both use it.
pub const SCHEDULE_PATTERN: &str = schedule_pattern!();

/// A whole delivery-analytics pipeline: where the order data comes from, the
/// Kafka, Postgres and Redis it uses, and how the ingest, ETL and API
/// workloads run and scale.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "baedal.dev",
    version = "v1alpha1",
    kind = "DeliveryPipeline",
    plural = "deliverypipelines",
    shortname = "dp",
    doc = "A delivery-analytics pipeline: its data source, Kafka topics, Postgres schema, Redis, and the ingest, ETL and API workloads the baedal operator runs for it.",
    namespaced,
    status = "DeliveryPipelineStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"API","type":"string","jsonPath":".status.apiEndpoint"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(concat!("self.metadata.name.size() <= ", max_name_len!(), " && self.metadata.name.matches('", name_pattern!(), "')")).message("metadata.name must be at most 46 lowercase letters, digits and '-', starting with a letter: children are named <name>-etl, <name>-redis, … and must be valid DNS labels")
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = kubernetes_integer_formats)]
pub struct DeliveryPipelineSpec {
    /// Container image of the workloads (the `baedal` binary), e.g.
    /// `ghcr.io/example/baedal:0.1.0`.
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    /// Image pull policy of every workload container.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    /// Stop the pipeline without touching its data: the ETL CronJob is
    /// suspended and the ingest and API Deployments are scaled to zero.
    /// Topics, the Postgres schema and the managed Redis are kept.
    #[serde(default)]
    pub suspend: bool,
    /// Where the order data comes from.
    pub source: SourceSpec,
    /// The Kafka (or Kafka-protocol) cluster and the topics the operator provisions.
    pub kafka: KafkaSpec,
    /// The PostgreSQL database the ETL loads and the API reads.
    pub postgres: PostgresSpec,
    /// The Redis for real-time views and the API cache.
    #[serde(default)]
    pub redis: RedisSpec,
    /// The ingest (files or object store → Kafka): a Job in `Batch` mode, a Deployment in `Replay` mode.
    #[serde(default)]
    pub ingest: IngestSpec,
    /// The ETL CronJob (Kafka → Postgres and Redis).
    #[serde(default)]
    pub etl: EtlSpec,
    /// The analytics API Deployment, its Service, autoscaling and disruption budget.
    #[serde(default)]
    pub api: ApiSpec,
    /// The ServiceAccounts the workloads run as.
    #[serde(default)]
    pub service_account: ServiceAccountSpec,
    /// What deleting the pipeline does to its data. `Retain` (default) keeps
    /// the Kafka topics and the Postgres schema; `Delete` removes both.
    /// Kubernetes objects the operator created are always removed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// When the kubelet pulls the workload image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Pull only when the image is not on the node.
    #[default]
    IfNotPresent,
    /// Pull on every start.
    Always,
    /// Never pull (images preloaded, e.g. `kind load docker-image`).
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// What deleting the pipeline does to its topics and schema.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the Kafka topics and the Postgres schema.
    #[default]
    Retain,
    /// Delete the Kafka topics and drop the Postgres schema.
    Delete,
}

/// The order data the ingest reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// A directory or file inside the image, a `file://` URI, or an
    /// `s3://bucket/prefix/` URI. S3 credentials come from the pod's IAM
    /// role (IRSA) or the standard `AWS_*` variables of `awsCredentialsSecret`.
    pub uri: String,
    /// `Batch` reads everything once (a Job); `Replay` sends records in
    /// order-time order at `replayRate` records per second, to simulate live
    /// traffic (a Deployment).
    #[serde(default)]
    pub mode: SourceMode,
    /// Records per second in `Replay` mode.
    #[serde(default = "default_replay_rate")]
    #[schemars(range(min = 1))]
    pub replay_rate: u32,
    /// Optional Secret whose keys (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, optionally `AWS_REGION`, `AWS_ENDPOINT`)
    /// become the ingest's environment. Leave unset with IRSA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_credentials_secret: Option<String>,
}

fn default_replay_rate() -> u32 {
    1000
}

/// How the ingest reads its source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceMode {
    /// Read every record once, as a Job that runs to completion. The Job
    /// runs again only when what it reads or where it writes changes
    /// (image, source, Kafka address or topic prefix).
    #[default]
    Batch,
    /// Send in order-time order at `replayRate` records per second, as a
    /// Deployment that keeps one ingest running.
    Replay,
}

/// A key of a Secret in the pipeline's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key inside the Secret.
    pub key: String,
}

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

/// CPU and memory requests and limits of one container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// What the scheduler reserves.
    pub requests: ResourceAmounts,
    /// The most the container may use.
    pub limits: ResourceAmounts,
}

/// A CPU and a memory quantity (`250m`, `512Mi`, …).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// CPU, e.g. `250m` or `1`.
    pub cpu: String,
    /// Memory, e.g. `256Mi`.
    pub memory: String,
}

impl Resources {
    fn of(req_cpu: &str, req_mem: &str, lim_cpu: &str, lim_mem: &str) -> Self {
        Resources {
            requests: ResourceAmounts {
                cpu: req_cpu.into(),
                memory: req_mem.into(),
            },
            limits: ResourceAmounts {
                cpu: lim_cpu.into(),
                memory: lim_mem.into(),
            },
        }
    }
    /// Default of the ingest container.
    pub fn ingest() -> Self {
        Self::of("250m", "256Mi", "1", "512Mi")
    }
    /// Default of the ETL container.
    pub fn etl() -> Self {
        Self::of("500m", "512Mi", "2", "1Gi")
    }
    /// Default of the API container.
    pub fn api() -> Self {
        Self::of("100m", "128Mi", "1", "256Mi")
    }
    /// Default of the managed Redis container.
    pub fn redis() -> Self {
        Self::of("100m", "128Mi", "500m", "512Mi")
    }
}

/// The ingest: a Job in `Batch` mode, a Deployment in `Replay` mode.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSpec {
    /// Run the ingest at all (off when something else feeds the topics).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests and limits of the ingest container.
    #[serde(default = "Resources::ingest")]
    pub resources: Resources,
}

impl Default for IngestSpec {
    fn default() -> Self {
        IngestSpec {
            enabled: true,
            resources: Resources::ingest(),
        }
    }
}

fn yes() -> bool {
    true
}

/// The ETL CronJob.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtlSpec {
    /// Cron schedule: five fields (minute 0-59, hour 0-23, day of month
    /// 1-31, month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT; each `*`, a
    /// number, a range `a-b`, a list `a,b` and an optional `/step`) or one of
    /// `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
    /// `@annually`. In the cluster's time zone unless `timeZone` is set.
    #[serde(default = "default_schedule")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new(concat!("self.matches('", schedule_pattern!(), "')")).message("etl.schedule must be five cron fields in range (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6) or an @macro such as @hourly"))]
    pub schedule: String,
    /// IANA time zone of the schedule, e.g. `Asia/Seoul`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What happens when a run is still going at the next schedule:
    /// `Forbid` (default: skip the new run), `Allow` or `Replace`.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A run that could not start within this many seconds of its time is skipped.
    #[serde(default = "default_starting_deadline")]
    #[schemars(range(min = 1))]
    pub starting_deadline_seconds: i64,
    /// A run is stopped after this many seconds.
    #[serde(default = "default_active_deadline")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: i64,
    /// Retries of a failed run.
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 10))]
    pub backoff_limit: i32,
    /// Finished successful Jobs kept.
    #[serde(default = "default_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_jobs_history_limit: i32,
    /// Finished failed Jobs kept.
    #[serde(default = "default_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_jobs_history_limit: i32,
    /// Followers: `baedal etl --follow` in a Deployment `<name>-etl-follow`,
    /// one consumer group loading continuously and keeping the live views
    /// current. With followers, the CronJob only rebuilds the marts and the
    /// Redis views on its schedule (`baedal etl --marts-only`). Unset: the
    /// CronJob loads in batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<EtlFollowSpec>,
    /// Messages loaded per Postgres transaction (`etl.batch_size`).
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1))]
    pub batch_size: u32,
    /// Requests and limits of the ETL container.
    #[serde(default = "Resources::etl")]
    pub resources: Resources,
}

impl Default for EtlSpec {
    fn default() -> Self {
        EtlSpec {
            schedule: default_schedule(),
            time_zone: None,
            concurrency_policy: ConcurrencyPolicy::Forbid,
            starting_deadline_seconds: default_starting_deadline(),
            active_deadline_seconds: default_active_deadline(),
            backoff_limit: default_backoff_limit(),
            successful_jobs_history_limit: default_history(),
            failed_jobs_history_limit: default_history(),
            follow: None,
            batch_size: default_batch_size(),
            resources: Resources::etl(),
        }
    }
}

/// The ETL followers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtlFollowSpec {
    /// Followers; more than the topics' partitions is useless (the extra
    /// ones get none).
    #[serde(default = "default_followers")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: i32,
    /// Something else sets the replica count (a KEDA ScaledObject on the
    /// consumer group's lag, an HPA on an external metric): the operator
    /// creates the Deployment and then leaves `replicas` alone.
    #[serde(default)]
    pub externally_scaled: bool,
}

fn default_followers() -> i32 {
    1
}

fn default_schedule() -> String {
    "*/10 * * * *".into()
}
fn default_starting_deadline() -> i64 {
    300
}
fn default_active_deadline() -> i64 {
    3600
}
fn default_backoff_limit() -> i32 {
    2
}
fn default_history() -> i32 {
    3
}
fn default_batch_size() -> u32 {
    20_000
}

/// CronJob `concurrencyPolicy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Skip a run while the previous one is still going.
    #[default]
    Forbid,
    /// Run concurrently.
    Allow,
    /// Stop the running one and start the new one.
    Replace,
}

impl ConcurrencyPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Forbid => "Forbid",
            ConcurrencyPolicy::Allow => "Allow",
            ConcurrencyPolicy::Replace => "Replace",
        }
    }
}

/// The analytics API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    /// Replicas when `autoscaling` is unset.
    #[serde(default = "default_api_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// A HorizontalPodAutoscaler (autoscaling/v2) on CPU. Unset: fixed `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Type of the API Service: `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(default)]
    pub service_type: ServiceType,
    /// An Ingress in front of the Service. Unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Pods that may be down at once during voluntary disruptions (node
    /// drains, cluster upgrades): the PodDisruptionBudget's `maxUnavailable`.
    /// The default, 1, never blocks a drain, even with one replica.
    #[serde(default = "default_max_unavailable")]
    #[schemars(range(min = 0))]
    pub max_unavailable: i32,
    /// Pods that must stay up during voluntary disruptions instead: set it
    /// (e.g. 2 of 3 replicas) and `maxUnavailable` is not used. With as many
    /// as there are replicas, no node holding one can be drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_available: Option<i32>,
    /// Requests and limits of the API container.
    #[serde(default = "Resources::api")]
    pub resources: Resources,
}

impl Default for ApiSpec {
    fn default() -> Self {
        ApiSpec {
            replicas: default_api_replicas(),
            autoscaling: None,
            service_type: ServiceType::ClusterIP,
            ingress: None,
            max_unavailable: default_max_unavailable(),
            min_available: None,
            resources: Resources::api(),
        }
    }
}

fn default_api_replicas() -> i32 {
    2
}
fn default_max_unavailable() -> i32 {
    1
}

/// HorizontalPodAutoscaler bounds and target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("autoscaling.minReplicas must not exceed maxReplicas"))]
pub struct AutoscalingSpec {
    /// Fewest replicas.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1))]
    pub min_replicas: i32,
    /// Most replicas.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Average CPU utilisation (percent of requests) to keep.
    #[serde(default = "default_target_cpu")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: i32,
}

fn default_min_replicas() -> i32 {
    2
}
fn default_max_replicas() -> i32 {
    5
}
fn default_target_cpu() -> i32 {
    70
}

/// Kubernetes Service type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every node.
    NodePort,
    /// Through a cloud load balancer.
    LoadBalancer,
}

impl ServiceType {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// An Ingress for the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name, e.g. `baedal.example.com`.
    pub host: String,
    /// IngressClass, e.g. `nginx` or `alb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret with the TLS certificate for `host`. Unset: plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<String>,
    /// Annotations of the Ingress (e.g. the AWS Load Balancer Controller's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The workloads' ServiceAccounts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// Annotations of every workload ServiceAccount, e.g.
    /// `eks.amazonaws.com/role-arn` for IRSA (S3 source, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What the operator last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPipelineStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Pending`, `Provisioning`, `Running`, `Suspended`, `Degraded`, `Failed` or `Deleting`.
    #[serde(default)]
    pub phase: Phase,
    /// One condition per component (`Kafka`, `Postgres`, `Redis`, `Ingest`,
    /// `Etl`, `Api`) plus `Ready`, one of each type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The provisioned topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicStatus>,
    /// The Postgres schema and its migration version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaStatus>,
    /// Where the API answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// When the ETL CronJob last ran successfully (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_etl_run: Option<String>,
}

/// The pipeline's lifecycle phase.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Not reconciled yet.
    #[default]
    Pending,
    /// Children applied, waiting for them to become available.
    Provisioning,
    /// Every component is ready.
    Running,
    /// `spec.suspend` is set.
    Suspended,
    /// A component failed (see its condition); the operator retries.
    Degraded,
    /// The spec is invalid or a Secret is missing; fix the resource.
    Failed,
    /// Being deleted.
    Deleting,
}

/// A standard Kubernetes condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Kafka`, `Postgres`, `Redis`, `Ingest`, `Etl`, `Api` or `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word.
    pub reason: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One provisioned topic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// Full topic name.
    pub name: String,
    /// Partitions it has.
    pub partitions: i32,
}

/// The Postgres schema.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaStatus {
    /// Schema name.
    pub name: String,
    /// The latest applied migration version.
    pub version: i64,
}

impl DeliveryPipeline {
    /// The condition of this type, if any.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
    }
}

/// Kubernetes knows the integer formats `int32` and `int64` only (others
/// draw a warning on every apply): unsigned fields, whose schema already
/// says `minimum: 0`, are described as `int64`.
fn kubernetes_integer_formats(schema: &mut schemars::Schema) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(f) = map.get_mut("format") {
                    if matches!(
                        f.as_str(),
                        Some("uint" | "uint8" | "uint16" | "uint32" | "uint64")
                    ) {
                        *f = serde_json::Value::from("int64");
                    }
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(map) = schema.as_object_mut() {
        map.values_mut().for_each(walk);
    }
}

/// The CRD as YAML, exactly as committed in `crds/deliverypipeline.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    let body = serde_yaml::to_string(&DeliveryPipeline::crd())?;
    Ok(format!(
        "# Generated by `baedal-operator crd`; do not edit (CI checks it is current).\n{body}"
    ))
}
