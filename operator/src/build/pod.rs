//! What every workload pod shares: restricted security, requests and
//! limits, the environment (configuration file and Secret references), the
//! mounted ConfigMap, probes and ports.

use super::{ca_path, labels, CONFIG_DIR, CONFIG_HASH, CONFIG_KEY, RUN_AS_USER};
use crate::build::{env_var, Names};
use crate::crd::{DeliveryPipeline, RedisMode, Resources, SecretKeyRef};
use crate::deref::ca_secrets;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use std::collections::BTreeMap;

pub(super) fn quantity_map(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), Quantity(cpu.into())),
        ("memory".into(), Quantity(memory.into())),
    ])
}

pub(super) fn resources(r: &Resources) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantity_map(&r.requests.cpu, &r.requests.memory)),
        limits: Some(quantity_map(&r.limits.cpu, &r.limits.memory)),
        ..ResourceRequirements::default()
    }
}

/// Restricted pod security: non-root, no privilege escalation, read-only
/// root filesystem, every capability dropped, the runtime's seccomp profile.
pub(super) fn container_security() -> SecurityContext {
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

pub(super) fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

pub(super) fn pod_security(user: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(user),
        run_as_group: Some(user),
        fs_group: Some(user),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

pub(super) fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
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
pub(super) fn workload_env(p: &DeliveryPipeline) -> Vec<EnvVar> {
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

pub(super) fn config_volumes(p: &DeliveryPipeline) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![
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
    let mut mounts = vec![
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
    // Each CA bundle as `ca.crt` in a directory of its own.
    for (server, secret) in ca_secrets(&p.spec) {
        let name = format!("ca-{server}");
        volumes.push(Volume {
            name: name.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.name.clone()),
                items: Some(vec![KeyToPath {
                    key: secret.key.clone(),
                    path: "ca.crt".into(),
                    mode: None,
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        let path = ca_path(server);
        mounts.push(VolumeMount {
            name,
            mount_path: path.trim_end_matches("/ca.crt").into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    (volumes, mounts)
}

pub(super) fn workload_container(
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
        // The image's entrypoint, the `baedal` binary, runs the args.
        command: None,
        args: Some(args),
        env: Some(workload_env(p)),
        resources: Some(resources(res)),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

pub(super) fn pod_template(
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

pub(super) fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
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

pub(super) fn tcp_probe(port: &str, period: i32) -> Probe {
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

pub(super) fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

/// A Service in front of a component's pods, one TCP port by name.
pub(super) fn service(
    p: &DeliveryPipeline,
    component: &str,
    name: String,
    port_name: &str,
    port: i32,
) -> Service {
    Service {
        metadata: super::meta(p, name, component),
        spec: Some(ServiceSpec {
            selector: Some(super::selector(p, component)),
            ports: Some(vec![ServicePort {
                name: Some(port_name.into()),
                port,
                target_port: Some(IntOrString::String(port_name.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
