//! The resource's status: phase, conditions, topics, schema, endpoint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
