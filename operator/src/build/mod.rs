//! Pure builders: a `DeliveryPipeline` and its dereferenced Secrets in, every
//! child object out, as typed k8s-openapi values. No I/O, no clock: the same
//! input always gives the same objects (the reconciler, `render` and the
//! tests all go through [`build`]).

//!
//! One file per part: [`pod`] (what every workload pod shares: security,
//! environment, configuration volume, probes), [`ingest`], [`etl`], [`api`]
//! and [`redis`]; this file has the child types, names, labels, the
//! ConfigMap and [`build`] itself, which fixes the apply order.

mod api;
mod etl;
mod ingest;
mod pod;
mod redis;

pub use api::api_replicas;
pub use ingest::{ingest_job_hash, INGEST_INPUTS};

use crate::crd::{DeliveryPipeline, RedisMode, SourceMode};
use crate::deref::{ca_secrets, Dereferenced};
use baedal_contract::config::{Config, ENV, OPERATOR_WRITTEN};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Annotation on pod templates: hash of the workloads' configuration, so pods
/// roll exactly when their configuration (or a referenced Secret) changes.
pub const CONFIG_HASH: &str = "baedal.dev/config-hash";
/// Where the ConfigMap is mounted, and the file the workloads read.
pub const CONFIG_DIR: &str = "/etc/baedal";
/// The ConfigMap key holding the workloads' YAML configuration.
pub const CONFIG_KEY: &str = "baedal.yaml";
/// Port of the API.
pub const API_PORT: i32 = 8080;
/// Port of the ingest's `/metrics`.
pub const METRICS_PORT: i32 = 9464;
/// Port of the managed Redis.
pub const REDIS_PORT: i32 = 6379;
/// Numeric user of the workload containers (the image's `baedal` user).
pub const RUN_AS_USER: i64 = 10001;
/// Numeric user of the official Redis image's `redis` user.
pub const REDIS_USER: i64 = 999;

/// One child object of a pipeline.
// A dozen per reconcile, built and dropped: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    ServiceAccount(ServiceAccount),
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(StatefulSet),
    Deployment(Deployment),
    Job(Job),
    CronJob(CronJob),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    PodDisruptionBudget(PodDisruptionBudget),
    Ingress(Ingress),
}

/// The kinds of child objects, in the order they are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChildKind {
    ServiceAccount,
    ConfigMap,
    Service,
    StatefulSet,
    Deployment,
    Job,
    CronJob,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    Ingress,
}

impl ChildKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::ServiceAccount => "ServiceAccount",
            ChildKind::ConfigMap => "ConfigMap",
            ChildKind::Service => "Service",
            ChildKind::StatefulSet => "StatefulSet",
            ChildKind::Deployment => "Deployment",
            ChildKind::Job => "Job",
            ChildKind::CronJob => "CronJob",
            ChildKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            ChildKind::PodDisruptionBudget => "PodDisruptionBudget",
            ChildKind::Ingress => "Ingress",
        }
    }
}

impl Child {
    /// The child's kind.
    pub fn kind(&self) -> ChildKind {
        match self {
            Child::ServiceAccount(_) => ChildKind::ServiceAccount,
            Child::ConfigMap(_) => ChildKind::ConfigMap,
            Child::Service(_) => ChildKind::Service,
            Child::StatefulSet(_) => ChildKind::StatefulSet,
            Child::Deployment(_) => ChildKind::Deployment,
            Child::Job(_) => ChildKind::Job,
            Child::CronJob(_) => ChildKind::CronJob,
            Child::HorizontalPodAutoscaler(_) => ChildKind::HorizontalPodAutoscaler,
            Child::PodDisruptionBudget(_) => ChildKind::PodDisruptionBudget,
            Child::Ingress(_) => ChildKind::Ingress,
        }
    }

    /// The child's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Child::ServiceAccount(o) => o.meta(),
            Child::ConfigMap(o) => o.meta(),
            Child::Service(o) => o.meta(),
            Child::StatefulSet(o) => o.meta(),
            Child::Deployment(o) => o.meta(),
            Child::Job(o) => o.meta(),
            Child::CronJob(o) => o.meta(),
            Child::HorizontalPodAutoscaler(o) => o.meta(),
            Child::PodDisruptionBudget(o) => o.meta(),
            Child::Ingress(o) => o.meta(),
        }
    }

    /// The child's metadata, to change.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Child::ServiceAccount(o) => o.meta_mut(),
            Child::ConfigMap(o) => o.meta_mut(),
            Child::Service(o) => o.meta_mut(),
            Child::StatefulSet(o) => o.meta_mut(),
            Child::Deployment(o) => o.meta_mut(),
            Child::Job(o) => o.meta_mut(),
            Child::CronJob(o) => o.meta_mut(),
            Child::HorizontalPodAutoscaler(o) => o.meta_mut(),
            Child::PodDisruptionBudget(o) => o.meta_mut(),
            Child::Ingress(o) => o.meta_mut(),
        }
    }

    /// The child's name.
    pub fn name(&self) -> String {
        self.meta().name.clone().unwrap_or_default()
    }

    /// The object as JSON (with `apiVersion` and `kind`).
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Child::ServiceAccount(o) => serde_json::to_value(o),
            Child::ConfigMap(o) => serde_json::to_value(o),
            Child::Service(o) => serde_json::to_value(o),
            Child::StatefulSet(o) => serde_json::to_value(o),
            Child::Deployment(o) => serde_json::to_value(o),
            Child::Job(o) => serde_json::to_value(o),
            Child::CronJob(o) => serde_json::to_value(o),
            Child::HorizontalPodAutoscaler(o) => serde_json::to_value(o),
            Child::PodDisruptionBudget(o) => serde_json::to_value(o),
            Child::Ingress(o) => serde_json::to_value(o),
        }
    }
}

/// Every child object of a pipeline, in apply order, and the optional
/// children that must not exist for this spec (removed if they do).
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// Applied in this order (see [`build`]).
    pub objects: Vec<Child>,
    /// Optional children this spec does not want: (kind, name).
    pub absent: Vec<(ChildKind, String)>,
}

impl Children {
    /// The first child of a kind and name.
    pub fn get(&self, kind: ChildKind, name: &str) -> Option<&Child> {
        self.objects
            .iter()
            .find(|c| c.kind() == kind && c.meta().name.as_deref() == Some(name))
    }
}

/// Names of the children of the pipeline `name`.
pub struct Names;

impl Names {
    pub fn config(pipeline: &str) -> String {
        format!("{pipeline}-config")
    }
    pub fn ingest(pipeline: &str) -> String {
        format!("{pipeline}-ingest")
    }
    pub fn etl(pipeline: &str) -> String {
        format!("{pipeline}-etl")
    }
    pub fn etl_follow(pipeline: &str) -> String {
        format!("{pipeline}-etl-follow")
    }
    pub fn api(pipeline: &str) -> String {
        format!("{pipeline}-api")
    }
    pub fn redis(pipeline: &str) -> String {
        format!("{pipeline}-redis")
    }
}

/// The environment variable that sets a configuration key, from the
/// workloads' own table (so the operator never spells a name twice).
pub fn env_var(key: &str) -> Option<&'static str> {
    ENV.iter().find(|var| var.key == key).map(|var| var.name)
}

/// The workloads' configuration for this pipeline: everything but the
/// credentials, which reach the pods as Secret-backed environment variables.
pub fn workload_config(p: &DeliveryPipeline) -> Config {
    let spec = &p.spec;
    let mut c = Config::default();
    c.kafka.bootstrap = spec.kafka.bootstrap_servers.clone();
    c.kafka.topic_prefix = spec.kafka.topic_prefix.clone();
    c.kafka.security_protocol = spec.kafka.security_protocol.map(|s| s.as_str().to_string());
    c.kafka.sasl_mechanism = spec.kafka.sasl.as_ref().map(|s| s.mechanism.clone());
    // The operator provisions the topics; the ingest must not create them.
    c.kafka.create_topics = false;
    // From the connection Secret through BAEDAL_DATABASE_URL; never in the ConfigMap.
    c.database.url = String::new();
    c.database.schema = spec.postgres.schema.clone();
    c.database.max_connections = spec.postgres.max_connections;
    c.redis.url = match spec.redis.mode {
        RedisMode::Managed => format!(
            "redis://{}.{}.svc:{REDIS_PORT}/",
            Names::redis(&p.name_any()),
            p.namespace().unwrap_or_else(|| "default".into())
        ),
        // From the URL Secret through BAEDAL_REDIS_URL.
        RedisMode::External => String::new(),
    };
    c.redis.key_prefix = spec.redis.key_prefix.clone();
    c.redis.cache_ttl_secs = spec.redis.cache_ttl_seconds;
    c.redis.order_ttl_secs = spec.redis.order_ttl_seconds;
    // CA bundles, mounted from their Secrets (see `pod::config_volumes`).
    for (server, _) in ca_secrets(spec) {
        let path = Some(ca_path(server));
        match server {
            "kafka" => c.kafka.ssl_ca_location = path,
            "postgres" => c.database.ssl_root_cert = path,
            _ => c.redis.ca_cert = path,
        }
    }
    c.etl.batch_size = spec.etl.batch_size as usize;
    // One consumer group per pipeline: pipelines never rebalance each other.
    c.etl.group_id = format!(
        "baedal-etl.{}.{}",
        p.namespace().unwrap_or_else(|| "default".into()),
        p.name_any()
    );
    c.metrics_listen = format!("0.0.0.0:{METRICS_PORT}");
    c.api.listen = format!("0.0.0.0:{API_PORT}");
    c
}

/// Where the workload pods find the CA bundles of `*.caSecret`.
pub const CA_DIR: &str = "/etc/baedal/ca";

/// The mounted CA bundle of `server` (`kafka`, `postgres`, `redis`).
pub fn ca_path(server: &str) -> String {
    format!("{CA_DIR}/{server}/ca.crt")
}

/// The label naming the pipeline a child (or a pod, or an ETL Job) belongs to.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The label naming the component: `api`, `etl`, `ingest`, `redis`, `config`.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// The label selector of everything the operator writes.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=baedal-operator";

fn labels(p: &DeliveryPipeline, component: &str) -> BTreeMap<String, String> {
    let mut l = selector(p, component);
    l.insert("app.kubernetes.io/part-of".into(), "baedal".into());
    if let Some((key, value)) = MANAGED_SELECTOR.split_once('=') {
        l.insert(key.into(), value.into());
    }
    l
}

fn selector(p: &DeliveryPipeline, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "baedal".into()),
        (INSTANCE_LABEL.into(), p.name_any()),
        (COMPONENT_LABEL.into(), component.into()),
    ])
}

/// The label selector of one component of the pipeline `pipeline`.
pub fn component_selector(pipeline: &str, component: &str) -> String {
    format!("{INSTANCE_LABEL}={pipeline},{COMPONENT_LABEL}={component}")
}

fn owner(p: &DeliveryPipeline) -> Vec<OwnerReference> {
    p.controller_owner_ref(&()).into_iter().collect()
}

fn meta(p: &DeliveryPipeline, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: p.namespace(),
        labels: Some(labels(p, component)),
        owner_references: Some(owner(p)),
        ..ObjectMeta::default()
    }
}

/// The ConfigMap's content and its hash (which also covers the versions of
/// the referenced Secrets, so a rotated password rolls the pods).
fn config_map(p: &DeliveryPipeline, secrets: &Dereferenced) -> (ConfigMap, String) {
    let config = workload_config(p);
    // Serialising a plain struct of strings and numbers cannot fail; an empty
    // file would still be a valid (default) configuration.
    let yaml = format!(
        "{OPERATOR_WRITTEN}\n{}",
        serde_yaml::to_string(&config).unwrap_or_default()
    );
    let mut hasher = Sha256::new();
    hasher.update(yaml.as_bytes());
    for (name, version) in &secrets.versions {
        hasher.update(format!("\0{name}={version}").as_bytes());
    }
    let hash = hex(&hasher.finalize()[..16]);
    let cm = ConfigMap {
        metadata: meta(p, Names::config(&p.name_any()), "config"),
        data: Some(BTreeMap::from([(CONFIG_KEY.to_string(), yaml)])),
        ..ConfigMap::default()
    };
    (cm, hash)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn service_account(p: &DeliveryPipeline, component: &str) -> ServiceAccount {
    let mut m = meta(p, format!("{}-{component}", p.name_any()), component);
    if !p.spec.service_account.annotations.is_empty() {
        m.annotations = Some(p.spec.service_account.annotations.clone());
    }
    ServiceAccount {
        metadata: m,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// Every child of the pipeline, in the order the reconciler applies them:
///
/// 1. ServiceAccounts: pods name them, and a pod whose ServiceAccount does
///    not exist yet is refused.
/// 2. The ConfigMap: every pod mounts it; applied before the pods whose
///    config-hash changes with it.
/// 3. The managed Redis Service and StatefulSet: the workloads connect to it
///    at start.
/// 4. The API Service, Deployment, PodDisruptionBudget, autoscaler, Ingress:
///    the Service first so endpoints appear as pods get ready; the
///    autoscaler after its target.
/// 5. The ingest (a Job in `Batch` mode, a Deployment in `Replay` mode):
///    it produces to Kafka.
/// 6. The ETL CronJob last: it consumes what the rest set up.
pub fn build(p: &DeliveryPipeline, secrets: &Dereferenced) -> Children {
    let name = p.name_any();
    let managed_redis = p.spec.redis.mode == RedisMode::Managed;
    let mut objects = Vec::new();
    let mut absent = Vec::new();

    let mut components = vec!["api", "etl"];
    if p.spec.etl.follow.is_some() {
        components.push(etl::FOLLOW_COMPONENT);
    } else {
        absent.push((ChildKind::ServiceAccount, Names::etl_follow(&name)));
    }
    if p.spec.ingest.enabled {
        components.push("ingest");
    } else {
        absent.push((ChildKind::ServiceAccount, Names::ingest(&name)));
    }
    if managed_redis {
        components.push("redis");
    } else {
        absent.push((ChildKind::ServiceAccount, Names::redis(&name)));
    }
    for c in components {
        objects.push(Child::ServiceAccount(service_account(p, c)));
    }

    let (cm, hash) = config_map(p, secrets);
    objects.push(Child::ConfigMap(cm));

    if managed_redis {
        objects.push(Child::Service(redis::redis_service(p)));
        objects.push(Child::StatefulSet(redis::redis_statefulset(p)));
    } else {
        absent.push((ChildKind::Service, Names::redis(&name)));
        absent.push((ChildKind::StatefulSet, Names::redis(&name)));
    }

    objects.push(Child::Service(api::api_service(p)));
    objects.push(Child::Deployment(api::api_deployment(p, &hash)));
    objects.push(Child::PodDisruptionBudget(api::api_pdb(p)));
    match api::api_hpa(p) {
        Some(hpa) => objects.push(Child::HorizontalPodAutoscaler(hpa)),
        None => absent.push((ChildKind::HorizontalPodAutoscaler, Names::api(&name))),
    }
    match api::api_ingress(p) {
        Some(ing) => objects.push(Child::Ingress(ing)),
        None => absent.push((ChildKind::Ingress, Names::api(&name))),
    }

    match (p.spec.ingest.enabled, p.spec.source.mode) {
        (true, SourceMode::Batch) => {
            objects.push(Child::Job(ingest::ingest_job(p)));
            absent.push((ChildKind::Deployment, Names::ingest(&name)));
        }
        (true, SourceMode::Replay) => {
            objects.push(Child::Deployment(ingest::ingest_deployment(p, &hash)));
            absent.push((ChildKind::Job, Names::ingest(&name)));
        }
        (false, _) => {
            absent.push((ChildKind::Deployment, Names::ingest(&name)));
            absent.push((ChildKind::Job, Names::ingest(&name)));
        }
    }

    match etl::etl_follow_deployment(p, &hash) {
        Some(d) => objects.push(Child::Deployment(d)),
        None => absent.push((ChildKind::Deployment, Names::etl_follow(&name))),
    }
    objects.push(Child::CronJob(etl::etl_cronjob(p, &hash)));
    Children { objects, absent }
}

/// Where the API answers: the Ingress host if there is one, else the
/// Service's cluster DNS name.
pub fn api_endpoint(p: &DeliveryPipeline) -> String {
    match &p.spec.api.ingress {
        Some(i) if i.tls_secret.is_some() => format!("https://{}", i.host),
        Some(i) => format!("http://{}", i.host),
        None => format!(
            "http://{}.{}.svc:{API_PORT}",
            Names::api(&p.name_any()),
            p.namespace().unwrap_or_else(|| "default".into())
        ),
    }
}
