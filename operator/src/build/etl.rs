//! The ETL: a CronJob, and optionally a Deployment of followers.

use super::meta;
use super::pod::{pod_template, port, tcp_probe, workload_container};
use super::{labels, selector, Names, METRICS_PORT};
use crate::crd::DeliveryPipeline;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;

/// The component (labels, ServiceAccount) of the followers.
pub const FOLLOW_COMPONENT: &str = "etl-follow";

/// The CronJob: loads in batches, or, with followers, only rebuilds the
/// marts and the Redis views.
pub(super) fn etl_cronjob(p: &DeliveryPipeline, hash: &str) -> CronJob {
    let etl = &p.spec.etl;
    let mut args = vec!["etl".to_string()];
    if etl.follow.is_some() {
        args.push("--marts-only".into());
    }
    let c = workload_container(p, "etl", args, &etl.resources);
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

/// Replicas of the followers: 0 when suspended; unset when something else
/// scales them (after creation the Deployment keeps whatever it is given).
pub fn etl_follow_replicas(p: &DeliveryPipeline) -> Option<i32> {
    let follow = p.spec.etl.follow.as_ref()?;
    if p.spec.suspend {
        Some(0)
    } else if follow.externally_scaled {
        None
    } else {
        Some(follow.replicas)
    }
}

/// The followers' Deployment (`baedal etl --follow`), when `etl.follow` is set.
pub(super) fn etl_follow_deployment(p: &DeliveryPipeline, hash: &str) -> Option<Deployment> {
    p.spec.etl.follow.as_ref()?;
    let args = vec!["etl".into(), "--follow".into()];
    let mut c = workload_container(p, "etl", args, &p.spec.etl.resources);
    c.ports = Some(vec![port("metrics", METRICS_PORT)]);
    c.liveness_probe = Some(tcp_probe("metrics", 10));
    Some(Deployment {
        metadata: meta(p, Names::etl_follow(&p.name_any()), FOLLOW_COMPONENT),
        spec: Some(DeploymentSpec {
            replicas: etl_follow_replicas(p),
            selector: LabelSelector {
                match_labels: Some(selector(p, FOLLOW_COMPONENT)),
                ..LabelSelector::default()
            },
            template: pod_template(p, FOLLOW_COMPONENT, hash, c, None),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}
