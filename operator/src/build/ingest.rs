//! The ingest: a Job in `Batch` mode (read every record once, run to
//! completion) and a Deployment in `Replay` mode (one producer sending at
//! `replayRate`, kept running).

use super::pod::{pod_template, port, tcp_probe, workload_container};
use super::{hex, meta, selector, Names, CONFIG_HASH, METRICS_PORT};
use crate::crd::{DeliveryPipeline, SourceMode};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, EnvFromSource, SecretEnvSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Annotation on the batch ingest Job: the hash of what it reads and where
/// it writes ([`ingest_job_hash`]). A Job's pod template cannot change, so
/// when this hash changes the operator replaces the Job (and the data is
/// sent again; the ETL's loads are idempotent).
pub const INGEST_INPUTS: &str = "baedal.dev/ingest-inputs";

/// Retries of a failed batch ingest before the Job is marked failed.
const INGEST_BACKOFF_LIMIT: i32 = 3;

/// The hash of a batch ingest's inputs: image, source, Kafka address and
/// topic prefix. Not the Secrets' versions: a rotated password must not
/// send every record again.
pub fn ingest_job_hash(p: &DeliveryPipeline) -> String {
    let s = &p.spec;
    let mut h = Sha256::new();
    for part in [
        s.image.as_str(),
        s.source.uri.as_str(),
        s.source.aws_credentials_secret.as_deref().unwrap_or(""),
        s.kafka.bootstrap_servers.as_str(),
        s.kafka.topic_prefix.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..8])
}

fn ingest_container(p: &DeliveryPipeline) -> Container {
    let spec = &p.spec;
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
    c
}

/// `Batch`: a Job that reads the source once. Suspended with the pipeline.
pub(super) fn ingest_job(p: &DeliveryPipeline) -> Job {
    let inputs = ingest_job_hash(p);
    let mut m = meta(p, Names::ingest(&p.name_any()), "ingest");
    m.annotations = Some(BTreeMap::from([(
        INGEST_INPUTS.to_string(),
        inputs.clone(),
    )]));
    let mut template = pod_template(p, "ingest", &inputs, ingest_container(p), Some("Never"));
    // The Job's pods run once: the input hash, not the config hash, names them.
    if let Some(a) = template
        .metadata
        .as_mut()
        .and_then(|m| m.annotations.as_mut())
    {
        a.remove(CONFIG_HASH);
        a.insert(INGEST_INPUTS.to_string(), inputs);
    }
    Job {
        metadata: m,
        spec: Some(JobSpec {
            suspend: Some(p.spec.suspend),
            backoff_limit: Some(INGEST_BACKOFF_LIMIT),
            template,
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// `Replay`: a Deployment with one producer, replaced (never overlapped).
pub(super) fn ingest_deployment(p: &DeliveryPipeline, hash: &str) -> Deployment {
    Deployment {
        metadata: meta(p, Names::ingest(&p.name_any()), "ingest"),
        spec: Some(DeploymentSpec {
            replicas: Some(if p.spec.suspend { 0 } else { 1 }),
            selector: LabelSelector {
                match_labels: Some(selector(p, "ingest")),
                ..LabelSelector::default()
            },
            // One producer at a time: replace, never overlap.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: pod_template(p, "ingest", hash, ingest_container(p), None),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}
