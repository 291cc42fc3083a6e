//! The ETL CronJob.

use super::meta;
use super::pod::{pod_template, workload_container};
use super::{labels, Names};
use crate::crd::DeliveryPipeline;
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub(super) fn etl_cronjob(p: &DeliveryPipeline, hash: &str) -> CronJob {
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
