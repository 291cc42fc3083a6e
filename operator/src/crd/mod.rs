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

// After the macros, which they use.
mod backing_services;
mod status;
mod workloads;
pub use backing_services::*;
pub use status::*;
pub use workloads::*;

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
