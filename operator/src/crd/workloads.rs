//! The spec's workloads: container resources, the ingest, the ETL (its
//! CronJob and followers), the API with its autoscaling and Ingress, and
//! the ServiceAccounts they run as.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
