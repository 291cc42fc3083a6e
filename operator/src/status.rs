//! Status: pure functions from what the reconcile saw to the pipeline's
//! status, and the comparison that keeps an unchanged pipeline from being
//! rewritten.

use crate::apply::Applied;
use crate::build::{api_endpoint, ChildKind, Names};
use crate::crd::{
    Condition, DeliveryPipeline, DeliveryPipelineStatus, Phase, RedisMode, SchemaStatus, SourceMode,
};
use crate::topics::{TopicProblem, TopicsOutcome};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

/// The component conditions, in the order they appear, then `Ready`.
pub const COMPONENTS: [&str; 6] = ["Kafka", "Postgres", "Redis", "Api", "Ingest", "Etl"];

/// How a component is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Working.
    Ready(&'static str, String),
    /// Applied, not yet available.
    Progressing(&'static str, String),
    /// Stopped on purpose (`spec.suspend`, disabled).
    Off(&'static str, String),
    /// Failed or refused; the message says what to do.
    Failed(&'static str, String),
}

impl Health {
    fn condition(&self, type_: &str, generation: Option<i64>) -> Condition {
        let (status, reason, message) = match self {
            Health::Ready(r, m) => ("True", r, m),
            Health::Progressing(r, m) => ("False", r, m),
            Health::Off(r, m) => ("False", r, m),
            Health::Failed(r, m) => ("False", r, m),
        };
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: (*reason).into(),
            message: message.clone(),
            last_transition_time: None,
            observed_generation: generation,
        }
    }
}

/// Everything the status is computed from.
pub struct Observations<'a> {
    pub applied: &'a Applied,
    /// The newest Job of the ETL CronJob.
    pub etl_job: Option<&'a Job>,
    pub topics: &'a Result<TopicsOutcome, String>,
    pub schema: &'a Result<i64, String>,
}

fn int_at(o: &kube::api::DynamicObject, path: &[&str]) -> i64 {
    let mut v = &o.data;
    for p in path {
        match v.get(p) {
            Some(x) => v = x,
            None => return 0,
        }
    }
    v.as_i64().unwrap_or(0)
}

fn str_at(o: &kube::api::DynamicObject, path: &[&str]) -> Option<String> {
    let mut v = &o.data;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().map(str::to_string)
}

/// A failed child of the component named `name` (all its children share the name).
fn apply_failure(applied: &Applied, name: &str) -> Option<Health> {
    applied
        .failed
        .iter()
        .find(|f| f.name == name)
        .map(|f| Health::Failed("ApplyFailed", f.to_string()))
}

/// A Job's outcome: (finished, failed, message), from its conditions.
fn job_outcome(job: &serde_json::Value) -> (bool, bool, String) {
    let conditions = job
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten();
    for c in conditions {
        let true_ = c.get("status").and_then(|s| s.as_str()) == Some("True");
        let message = c
            .get("message")
            .or_else(|| c.get("reason"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        match c.get("type").and_then(|t| t.as_str()) {
            Some("Failed") if true_ => return (true, true, message),
            Some("Complete") if true_ => return (true, false, message),
            _ => {}
        }
    }
    (false, false, String::new())
}

/// The batch ingest Job: running or completed is healthy, failed is not.
fn ingest_job_health(applied: &Applied, name: &str, suspended: bool) -> Health {
    if suspended {
        return Health::Off("Suspended", "spec.suspend is set".into());
    }
    let Some(o) = applied.objects.get(&(ChildKind::Job, name.to_string())) else {
        return Health::Progressing("Progressing", "the ingest Job is being created".into());
    };
    match job_outcome(&o.data) {
        (true, true, m) => Health::Failed("IngestFailed", format!("Job {name} failed: {m}")),
        (true, false, _) => Health::Ready("Completed", format!("Job {name} read the source")),
        _ => Health::Ready("Running", format!("Job {name} is reading the source")),
    }
}

/// The ETL: the outcome of its newest Job, else its schedule.
fn etl_health(p: &DeliveryPipeline, job: Option<&Job>) -> Health {
    if p.spec.suspend {
        return Health::Off("Suspended", "the CronJob is suspended".into());
    }
    let schedule = format!("schedule {:?}", p.spec.etl.schedule);
    let Some(job) = job else {
        return Health::Ready("Scheduled", format!("{schedule}; no run yet"));
    };
    let value = serde_json::to_value(job).unwrap_or_default();
    let name = job.name_any();
    match job_outcome(&value) {
        (true, true, m) => Health::Failed("EtlJobFailed", format!("Job {name} failed: {m}")),
        (true, false, _) => Health::Ready("Succeeded", format!("{schedule}; Job {name} succeeded")),
        _ => Health::Ready("Running", format!("{schedule}; Job {name} is running")),
    }
}

fn workload_health(applied: &Applied, kind: ChildKind, name: &str, suspended: bool) -> Health {
    if suspended {
        return Health::Off("Suspended", "spec.suspend is set".into());
    }
    let Some(o) = applied.objects.get(&(kind, name.to_string())) else {
        return Health::Off("Disabled", "not deployed".into());
    };
    let (want, have) = match kind {
        ChildKind::StatefulSet => (
            int_at(o, &["spec", "replicas"]),
            int_at(o, &["status", "readyReplicas"]),
        ),
        _ => (
            int_at(o, &["spec", "replicas"]),
            int_at(o, &["status", "availableReplicas"]),
        ),
    };
    if have >= want {
        Health::Ready("Available", format!("{have}/{want} replicas available"))
    } else {
        Health::Progressing("Progressing", format!("{have}/{want} replicas available"))
    }
}

/// The health of every component, in [`COMPONENTS`] order.
pub fn components(p: &DeliveryPipeline, obs: &Observations) -> Vec<(&'static str, Health)> {
    let name = p.name_any();
    let suspended = p.spec.suspend;
    let kafka = match obs.topics {
        Err(e) => Health::Failed("TopicsFailed", e.clone()),
        Ok(t) if t.problems.is_empty() => Health::Ready(
            "TopicsReady",
            format!("{} topics provisioned", t.topics.len()),
        ),
        Ok(t) => {
            let decrease = t
                .problems
                .iter()
                .any(|p| matches!(p, TopicProblem::DecreaseRefused { .. }));
            let text: Vec<String> = t.problems.iter().map(ToString::to_string).collect();
            Health::Failed(
                if decrease {
                    "PartitionDecreaseRefused"
                } else {
                    "UnsupportedByBroker"
                },
                text.join("; "),
            )
        }
    };
    let postgres = match obs.schema {
        Ok(v) => Health::Ready(
            "SchemaCurrent",
            format!("schema {} at migration {v}", p.spec.postgres.schema),
        ),
        Err(e) => Health::Failed("MigrationFailed", e.clone()),
    };
    let failed = |n: &str| apply_failure(obs.applied, n);
    let redis = match p.spec.redis.mode {
        RedisMode::External => Health::Ready("External", "using redis.urlSecret".into()),
        RedisMode::Managed => workload_health(
            obs.applied,
            ChildKind::StatefulSet,
            &Names::redis(&name),
            false,
        ),
    };
    let redis = failed(&Names::redis(&name)).unwrap_or(redis);
    let api = failed(&Names::api(&name)).unwrap_or_else(|| {
        workload_health(
            obs.applied,
            ChildKind::Deployment,
            &Names::api(&name),
            suspended,
        )
    });
    let ingest = match (p.spec.ingest.enabled, p.spec.source.mode) {
        (false, _) => Health::Off("Disabled", "spec.ingest.enabled is false".into()),
        (true, SourceMode::Batch) => failed(&Names::ingest(&name))
            .unwrap_or_else(|| ingest_job_health(obs.applied, &Names::ingest(&name), suspended)),
        (true, SourceMode::Replay) => failed(&Names::ingest(&name)).unwrap_or_else(|| {
            workload_health(
                obs.applied,
                ChildKind::Deployment,
                &Names::ingest(&name),
                suspended,
            )
        }),
    };
    let etl = failed(&Names::etl(&name))
        .or_else(|| failed(&Names::etl_follow(&name)))
        .unwrap_or_else(|| {
            // Followers not yet available come first; then the CronJob's runs.
            let followers = p.spec.etl.follow.as_ref().map(|_| {
                workload_health(
                    obs.applied,
                    ChildKind::Deployment,
                    &Names::etl_follow(&name),
                    suspended,
                )
            });
            match followers {
                Some(h @ (Health::Progressing(..) | Health::Failed(..))) => h,
                _ => etl_health(p, obs.etl_job),
            }
        });
    vec![
        ("Kafka", kafka),
        ("Postgres", postgres),
        ("Redis", redis),
        ("Api", api),
        ("Ingest", ingest),
        ("Etl", etl),
    ]
}

/// The phase and `Ready` condition from the component healths (and the
/// children no component owns, such as the ConfigMap).
fn overall(
    p: &DeliveryPipeline,
    parts: &[(&'static str, Health)],
    applied: &Applied,
) -> (Phase, Health) {
    let name = p.name_any();
    let owned = [
        Names::api(&name),
        Names::ingest(&name),
        Names::etl(&name),
        Names::redis(&name),
    ];
    if let Some(f) = applied.failed.iter().find(|f| !owned.contains(&f.name)) {
        return (
            Phase::Degraded,
            Health::Failed("ApplyFailed", f.to_string()),
        );
    }
    if let Some((c, Health::Failed(reason, _))) =
        parts.iter().find(|(_, h)| matches!(h, Health::Failed(..)))
    {
        return (
            Phase::Degraded,
            Health::Failed(reason, format!("{c} is not ready (see its condition)")),
        );
    }
    if p.spec.suspend {
        return (
            Phase::Suspended,
            Health::Off("Suspended", "spec.suspend is set; data is kept".into()),
        );
    }
    if let Some((c, _)) = parts
        .iter()
        .find(|(_, h)| matches!(h, Health::Progressing(..)))
    {
        return (
            Phase::Provisioning,
            Health::Progressing("Progressing", format!("waiting for {c}")),
        );
    }
    (
        Phase::Running,
        Health::Ready("AllComponentsReady", "every component is ready".into()),
    )
}

/// The status after a full reconcile.
pub fn compute(p: &DeliveryPipeline, obs: &Observations) -> DeliveryPipelineStatus {
    let generation = p.metadata.generation;
    let parts = components(p, obs);
    let (phase, ready) = overall(p, &parts, obs.applied);
    let mut conditions: Vec<Condition> = parts
        .iter()
        .map(|(t, h)| h.condition(t, generation))
        .collect();
    conditions.push(ready.condition("Ready", generation));
    let topics = match obs.topics {
        Ok(t) => t.topics.clone(),
        Err(_) => previous(p).map(|s| s.topics.clone()).unwrap_or_default(),
    };
    let schema = match obs.schema {
        Ok(v) => Some(SchemaStatus {
            name: p.spec.postgres.schema.clone(),
            version: *v,
        }),
        Err(_) => previous(p).and_then(|s| s.schema.clone()),
    };
    let last_etl_run = obs
        .applied
        .objects
        .get(&(ChildKind::CronJob, Names::etl(&p.name_any())))
        .and_then(|o| str_at(o, &["status", "lastSuccessfulTime"]))
        .or_else(|| previous(p).and_then(|s| s.last_etl_run.clone()));
    DeliveryPipelineStatus {
        observed_generation: generation,
        phase,
        conditions,
        topics,
        schema,
        api_endpoint: Some(api_endpoint(p)),
        last_etl_run,
    }
}

/// The status when the reconcile stopped before building anything (a
/// missing Secret, an invalid spec): `Ready` False with the reason, the
/// component the problem belongs to False too, the rest kept.
pub fn failed(
    p: &DeliveryPipeline,
    component: Option<&str>,
    reason: &'static str,
    message: &str,
) -> DeliveryPipelineStatus {
    let generation = p.metadata.generation;
    let mut status = previous(p).cloned().unwrap_or_default();
    status.observed_generation = generation;
    status.phase = Phase::Failed;
    let mut conditions: Vec<Condition> = status
        .conditions
        .iter()
        .filter(|c| c.type_ != "Ready" && Some(c.type_.as_str()) != component)
        .cloned()
        .collect();
    let failed = Health::Failed(reason, message.to_string());
    if let Some(c) = component {
        conditions.push(failed.condition(c, generation));
    }
    conditions.push(failed.condition("Ready", generation));
    conditions.sort_by_key(|c| order(&c.type_));
    status.conditions = conditions;
    status
}

fn order(type_: &str) -> usize {
    COMPONENTS
        .iter()
        .position(|c| *c == type_)
        .unwrap_or(COMPONENTS.len())
}

fn previous(p: &DeliveryPipeline) -> Option<&DeliveryPipelineStatus> {
    p.status.as_ref()
}

/// Carries `lastTransitionTime` over from `old` for every condition whose
/// status did not change, and sets `now` on the others.
pub fn stamp_transitions(
    new: &mut DeliveryPipelineStatus,
    old: Option<&DeliveryPipelineStatus>,
    now: &str,
) {
    for c in &mut new.conditions {
        let before = old.and_then(|o| o.conditions.iter().find(|x| x.type_ == c.type_));
        c.last_transition_time = match before {
            Some(b) if b.status == c.status => b.last_transition_time.clone(),
            _ => Some(now.to_string()),
        };
    }
}

/// Conditions whose status changed from `old` to `new`: (type, old status, new condition).
pub fn transitions<'a>(
    old: Option<&DeliveryPipelineStatus>,
    new: &'a DeliveryPipelineStatus,
) -> Vec<(Option<String>, &'a Condition)> {
    new.conditions
        .iter()
        .filter_map(|c| {
            let before = old
                .and_then(|o| o.conditions.iter().find(|x| x.type_ == c.type_))
                .map(|b| (b.status.clone(), b.reason.clone()));
            match before {
                Some((s, r)) if s == c.status && r == c.reason => None,
                Some((s, _)) => Some((Some(s), c)),
                None => Some((None, c)),
            }
        })
        .collect()
}
