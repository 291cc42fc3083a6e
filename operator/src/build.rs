//! Pure builders: a `DeliveryPipeline` and its dereferenced Secrets in, every
//! child object out, as typed k8s-openapi values. No I/O, no clock: the same
//! input always gives the same objects (the reconciler, `render` and the
//! tests all go through [`build`]).

use crate::crd::{DeliveryPipeline, RedisMode, Resources, SecretKeyRef, SourceMode};
use crate::deref::Dereferenced;
use baedal::config::{Config, ENV};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretEnvSource, SecretKeySelector, SecurityContext,
    Service, ServiceAccount, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
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
    ENV.iter()
        .find(|(_, k, _)| *k == key)
        .map(|(name, _, _)| *name)
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
    c.etl.batch_size = spec.etl.batch_size as usize;
    c.metrics_listen = format!("0.0.0.0:{METRICS_PORT}");
    c.api.listen = format!("0.0.0.0:{API_PORT}");
    c
}

fn labels(p: &DeliveryPipeline, component: &str) -> BTreeMap<String, String> {
    let mut l = selector(p, component);
    l.insert("app.kubernetes.io/part-of".into(), "baedal".into());
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        "baedal-operator".into(),
    );
    l
}

fn selector(p: &DeliveryPipeline, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "baedal".into()),
        ("app.kubernetes.io/instance".into(), p.name_any()),
        ("app.kubernetes.io/component".into(), component.into()),
    ])
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

fn quantity_map(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), Quantity(cpu.into())),
        ("memory".into(), Quantity(memory.into())),
    ])
}

fn resources(r: &Resources) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantity_map(&r.requests.cpu, &r.requests.memory)),
        limits: Some(quantity_map(&r.limits.cpu, &r.limits.memory)),
        ..ResourceRequirements::default()
    }
}

/// Restricted pod security: non-root, no privilege escalation, read-only
/// root filesystem, every capability dropped, the runtime's seccomp profile.
fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

fn pod_security(user: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(user),
        run_as_group: Some(user),
        fs_group: Some(user),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

/// The environment of every workload container: where the configuration
/// file is, and the credentials, by Secret reference only.
fn workload_env(p: &DeliveryPipeline) -> Vec<EnvVar> {
    let spec = &p.spec;
    let mut env = vec![
        EnvVar {
            name: "BAEDAL_CONFIG".into(),
            value: Some(format!("{CONFIG_DIR}/{CONFIG_KEY}")),
            value_from: None,
        },
        EnvVar {
            name: "BAEDAL_LOG".into(),
            value: Some("info".into()),
            value_from: None,
        },
    ];
    if let Some(name) = env_var("database.url") {
        env.push(secret_env(name, &spec.postgres.connection_secret));
    }
    if let (RedisMode::External, Some(secret)) = (spec.redis.mode, &spec.redis.url_secret) {
        if let Some(name) = env_var("redis.url") {
            env.push(secret_env(name, secret));
        }
    }
    if let Some(sasl) = &spec.kafka.sasl {
        for (key, secret_key) in [
            ("kafka.sasl_username", "username"),
            ("kafka.sasl_password", "password"),
        ] {
            if let Some(name) = env_var(key) {
                env.push(secret_env(
                    name,
                    &SecretKeyRef {
                        name: sasl.credentials_secret.clone(),
                        key: secret_key.into(),
                    },
                ));
            }
        }
    }
    env
}

fn config_volumes(p: &DeliveryPipeline) -> (Vec<Volume>, Vec<VolumeMount>) {
    let volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: Names::config(&p.name_any()),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    let mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        },
    ];
    (volumes, mounts)
}

fn workload_container(
    p: &DeliveryPipeline,
    name: &str,
    args: Vec<String>,
    res: &Resources,
) -> Container {
    let (_, mounts) = config_volumes(p);
    Container {
        name: name.into(),
        image: Some(p.spec.image.clone()),
        image_pull_policy: Some(p.spec.image_pull_policy.as_str().into()),
        command: Some(vec!["baedal".into()]),
        args: Some(args),
        env: Some(workload_env(p)),
        resources: Some(resources(res)),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn pod_template(
    p: &DeliveryPipeline,
    component: &str,
    config_hash: &str,
    container: Container,
    restart_policy: Option<&str>,
) -> PodTemplateSpec {
    let (volumes, _) = config_volumes(p);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(p, component)),
            annotations: Some(BTreeMap::from([(
                CONFIG_HASH.to_string(),
                config_hash.to_string(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(format!("{}-{component}", p.name_any())),
            automount_service_account_token: Some(false),
            security_context: Some(pod_security(RUN_AS_USER)),
            containers: vec![container],
            volumes: Some(volumes),
            restart_policy: restart_policy.map(Into::into),
            ..PodSpec::default()
        }),
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn tcp_probe(port: &str, period: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(port.into()),
            host: None,
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

/// The ConfigMap's content and its hash (which also covers the versions of
/// the referenced Secrets, so a rotated password rolls the pods).
fn config_map(p: &DeliveryPipeline, secrets: &Dereferenced) -> (ConfigMap, String) {
    let config = workload_config(p);
    // Serialising a plain struct of strings and numbers cannot fail; an empty
    // file would still be a valid (default) configuration.
    let yaml = serde_yaml::to_string(&config).unwrap_or_default();
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

fn ingest_deployment(p: &DeliveryPipeline, hash: &str) -> Deployment {
    let spec = &p.spec;
    let name = Names::ingest(&p.name_any());
    let mode = match spec.source.mode {
        SourceMode::Batch => "batch",
        SourceMode::Replay => "replay",
    };
    let mut args = vec![
        "ingest".to_string(),
        "--source".into(),
        spec.source.uri.clone(),
        "--mode".into(),
        mode.into(),
        "--partitions".into(),
        spec.kafka.topics.partitions.to_string(),
    ];
    if spec.source.mode == SourceMode::Replay {
        args.extend(["--rate".into(), spec.source.replay_rate.to_string()]);
    }
    let mut c = workload_container(p, "ingest", args, &spec.ingest.resources);
    c.ports = Some(vec![port("metrics", METRICS_PORT)]);
    // ingest serves only /metrics (from its own thread): alive while it answers.
    c.liveness_probe = Some(tcp_probe("metrics", 20));
    if let Some(secret) = &spec.source.aws_credentials_secret {
        c.env_from = Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]);
    }
    Deployment {
        metadata: meta(p, name, "ingest"),
        spec: Some(DeploymentSpec {
            replicas: Some(if spec.suspend { 0 } else { 1 }),
            selector: LabelSelector {
                match_labels: Some(selector(p, "ingest")),
                ..LabelSelector::default()
            },
            // One producer at a time: replace, never overlap.
            strategy: Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: pod_template(p, "ingest", hash, c, None),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn etl_cronjob(p: &DeliveryPipeline, hash: &str) -> CronJob {
    let etl = &p.spec.etl;
    let c = workload_container(p, "etl", vec!["etl".into()], &etl.resources);
    CronJob {
        metadata: meta(p, Names::etl(&p.name_any()), "etl"),
        spec: Some(CronJobSpec {
            schedule: etl.schedule.clone(),
            time_zone: etl.time_zone.clone(),
            concurrency_policy: Some(etl.concurrency_policy.as_str().into()),
            starting_deadline_seconds: Some(etl.starting_deadline_seconds),
            successful_jobs_history_limit: Some(etl.successful_jobs_history_limit),
            failed_jobs_history_limit: Some(etl.failed_jobs_history_limit),
            suspend: Some(p.spec.suspend),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(p, "etl")),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    active_deadline_seconds: Some(etl.active_deadline_seconds),
                    backoff_limit: Some(etl.backoff_limit),
                    template: pod_template(p, "etl", hash, c, Some("Never")),
                    ..JobSpec::default()
                }),
            },
        }),
        ..CronJob::default()
    }
}

/// Replicas of the API Deployment: 0 when suspended; unset when the
/// autoscaler owns the count (so applying never fights it, and after a
/// resume the Deployment defaults to 1 and the autoscaler takes over);
/// else `replicas`.
pub fn api_replicas(p: &DeliveryPipeline) -> Option<i32> {
    if p.spec.suspend {
        Some(0)
    } else if p.spec.api.autoscaling.is_some() {
        None
    } else {
        Some(p.spec.api.replicas)
    }
}

fn api_deployment(p: &DeliveryPipeline, hash: &str) -> Deployment {
    let args = vec![
        "api".into(),
        "--listen".into(),
        format!("0.0.0.0:{API_PORT}"),
    ];
    let mut c = workload_container(p, "api", args, &p.spec.api.resources);
    c.ports = Some(vec![port("http", API_PORT)]);
    c.liveness_probe = Some(http_probe("/healthz", 10, 3));
    c.readiness_probe = Some(http_probe("/readyz", 5, 2));
    Deployment {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(DeploymentSpec {
            replicas: api_replicas(p),
            selector: LabelSelector {
                match_labels: Some(selector(p, "api")),
                ..LabelSelector::default()
            },
            template: pod_template(p, "api", hash, c, None),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn api_service(p: &DeliveryPipeline) -> Service {
    Service {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(ServiceSpec {
            type_: Some(p.spec.api.service_type.as_str().into()),
            selector: Some(selector(p, "api")),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: API_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn api_hpa(p: &DeliveryPipeline) -> Option<HorizontalPodAutoscaler> {
    let a = p.spec.api.autoscaling.as_ref()?;
    Some(HorizontalPodAutoscaler {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: Names::api(&p.name_any()),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(a.target_cpu_utilization),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

fn api_pdb(p: &DeliveryPipeline) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(p.spec.api.min_available)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(p, "api")),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

fn api_ingress(p: &DeliveryPipeline) -> Option<Ingress> {
    let ing = p.spec.api.ingress.as_ref()?;
    let mut m = meta(p, Names::api(&p.name_any()), "api");
    if !ing.annotations.is_empty() {
        m.annotations = Some(ing.annotations.clone());
    }
    Some(Ingress {
        metadata: m,
        spec: Some(IngressSpec {
            ingress_class_name: ing.class_name.clone(),
            tls: ing.tls_secret.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: Some(vec![ing.host.clone()]),
                    secret_name: Some(s.clone()),
                }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(ing.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: Names::api(&p.name_any()),
                                port: Some(ServiceBackendPort {
                                    name: Some("http".into()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}

fn redis_service(p: &DeliveryPipeline) -> Service {
    Service {
        metadata: meta(p, Names::redis(&p.name_any()), "redis"),
        spec: Some(ServiceSpec {
            selector: Some(selector(p, "redis")),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: REDIS_PORT,
                target_port: Some(IntOrString::String("redis".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn redis_statefulset(p: &DeliveryPipeline) -> StatefulSet {
    let managed = &p.spec.redis.managed;
    let name = Names::redis(&p.name_any());
    // Persistence only with a volume that outlives the pod.
    let args: Vec<String> = if managed.storage.is_some() {
        vec![
            "--appendonly".into(),
            "yes".into(),
            "--dir".into(),
            "/data".into(),
        ]
    } else {
        vec![
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
        ]
    };
    let container = Container {
        name: "redis".into(),
        image: Some(managed.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["redis-server".into()]),
        args: Some(args),
        ports: Some(vec![port("redis", REDIS_PORT)]),
        resources: Some(resources(&managed.resources)),
        security_context: Some(container_security()),
        liveness_probe: Some(tcp_probe("redis", 10)),
        readiness_probe: Some(tcp_probe("redis", 5)),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let (volumes, claims) = match &managed.storage {
        Some(size) => (
            None,
            Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".into(),
                            Quantity(size.clone()),
                        )])),
                        limits: None,
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
        ),
        None => (
            Some(vec![Volume {
                name: "data".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            }]),
            None,
        ),
    };
    StatefulSet {
        metadata: meta(p, name.clone(), "redis"),
        spec: Some(StatefulSetSpec {
            service_name: Some(name.clone()),
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector(p, "redis")),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(p, "redis")),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security(REDIS_USER)),
                    containers: vec![container],
                    volumes,
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: claims,
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
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
/// 5. The ingest Deployment: it produces to Kafka.
/// 6. The ETL CronJob last: it consumes what the rest set up.
pub fn build(p: &DeliveryPipeline, secrets: &Dereferenced) -> Children {
    let name = p.name_any();
    let managed_redis = p.spec.redis.mode == RedisMode::Managed;
    let mut objects = Vec::new();
    let mut absent = Vec::new();

    let mut components = vec!["api", "etl"];
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
        objects.push(Child::Service(redis_service(p)));
        objects.push(Child::StatefulSet(redis_statefulset(p)));
    } else {
        absent.push((ChildKind::Service, Names::redis(&name)));
        absent.push((ChildKind::StatefulSet, Names::redis(&name)));
    }

    objects.push(Child::Service(api_service(p)));
    objects.push(Child::Deployment(api_deployment(p, &hash)));
    objects.push(Child::PodDisruptionBudget(api_pdb(p)));
    match api_hpa(p) {
        Some(hpa) => objects.push(Child::HorizontalPodAutoscaler(hpa)),
        None => absent.push((ChildKind::HorizontalPodAutoscaler, Names::api(&name))),
    }
    match api_ingress(p) {
        Some(ing) => objects.push(Child::Ingress(ing)),
        None => absent.push((ChildKind::Ingress, Names::api(&name))),
    }

    if p.spec.ingest.enabled {
        objects.push(Child::Deployment(ingest_deployment(p, &hash)));
    } else {
        absent.push((ChildKind::Deployment, Names::ingest(&name)));
    }

    objects.push(Child::CronJob(etl_cronjob(p, &hash)));
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
