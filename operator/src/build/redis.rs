//! The operator-managed Redis: a single-replica StatefulSet and its Service.

use super::pod::{container_security, pod_security, port, resources, service, tcp_probe};
use super::{labels, meta, selector, Names, REDIS_PORT, REDIS_USER};
use crate::crd::DeliveryPipeline;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec,
    PodTemplateSpec, Service, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;
use std::collections::BTreeMap;

pub(super) fn redis_service(p: &DeliveryPipeline) -> Service {
    service(p, "redis", Names::redis(&p.name_any()), "redis", REDIS_PORT)
}

pub(super) fn redis_statefulset(p: &DeliveryPipeline) -> StatefulSet {
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
