//! The reconciler, in the Stackable shape:
//!
//! 1. dereference: read the referenced Secrets ([`crate::deref`]);
//! 2. validate: pure checks of the spec ([`crate::validate`]);
//! 3. build: every child object, pure ([`crate::build`]);
//! 4. apply: server-side apply in a fixed order ([`crate::apply`]);
//! 5. provision the Kafka topics ([`crate::topics`]);
//! 6. apply the Postgres migrations ([`crate::dataplane`]);
//! 7. status: written only when it changed, with Events on transitions.
//!
//! A finalizer runs the cleanup on deletion, honouring `deletionPolicy`.
//! Errors back off exponentially per object ([`error_policy`]).

use crate::apply::{apply_all, Applied, MANAGER};
use crate::build::{build, component_selector};
use crate::crd::{DeletionPolicy, DeliveryPipeline, DeliveryPipelineStatus, FINALIZER};
use crate::dataplane::{operator_config, DataPlane};
use crate::deref::dereference;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::status::{self, Observations};
use crate::topics::desired_topics;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// How often a healthy pipeline is looked at again (drift, topics, schema).
pub const RESYNC: Duration = Duration::from_secs(300);
/// First retry after an error; doubles per consecutive error of the object.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between retries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long the cleanup of a deleted pipeline is retried (Kafka, Postgres
/// or a Secret gone first, as in `kubectl delete namespace`) before the
/// finalizer is released with a Warning Event naming what was left.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the cleanup waits, per attempt, for the workloads to stop.
const WORKLOADS_STOP_WAIT: Duration = Duration::from_secs(60);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub data: Arc<dyn DataPlane>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Consecutive errors per object (namespace/name), for the backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// How long a deleted pipeline's cleanup is retried before the
    /// finalizer is released anyway (see [`cleanup`]).
    pub cleanup_timeout: Duration,
}

impl Context {
    /// A context publishing Events as `baedal-operator` (instance `instance`).
    pub fn new(
        client: Client,
        data: Arc<dyn DataPlane>,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            data,
            metrics,
            failures: Mutex::new(HashMap::new()),
            cleanup_timeout: CLEANUP_TIMEOUT,
        }
    }

    /// The same context with another cleanup timeout.
    pub fn with_cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.cleanup_timeout = timeout;
        self
    }

    async fn publish(&self, p: &DeliveryPipeline, type_: EventType, reason: &str, note: String) {
        let mut note = note;
        if note.len() > 1000 {
            let mut cut = 1000;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        // An Event that cannot be written is logged, never a reconcile failure.
        if let Err(e) = self.recorder.publish(&event, &p.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "publishing event failed");
        }
    }
}

fn key(p: &DeliveryPipeline) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

/// The controller's reconcile function.
pub async fn reconcile(p: Arc<DeliveryPipeline>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let namespace = p
        .namespace()
        .ok_or_else(|| Error::Validate("a DeliveryPipeline is namespaced".into()))?;
    let api: Api<DeliveryPipeline> = Api::namespaced(ctx.client.clone(), &namespace);
    let span = tracing::info_span!("reconcile", pipeline = %key(&p));
    let result = finalizer(&api, FINALIZER, p.clone(), |event| async {
        match event {
            Finalizer::Apply(p) => apply(&p, &ctx, &namespace).await,
            Finalizer::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics.observe(started.elapsed());
    if result.is_ok() {
        if let Ok(mut f) = ctx.failures.lock() {
            f.remove(&key(&p));
        }
    }
    result
}

/// After an error: count it by step and retry with exponential backoff per object.
pub fn error_policy(p: Arc<DeliveryPipeline>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(error.step());
    let attempts = match ctx.failures.lock() {
        Ok(mut f) => {
            let n = f.entry(key(&p)).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    // A pipeline being deleted retries its cleanup often enough to give up
    // on time (see `cleanup`), whatever its earlier errors were.
    let delay = if p.metadata.deletion_timestamp.is_some() {
        backoff(attempts).min(BACKOFF_BASE)
    } else {
        backoff(attempts)
    };
    tracing::warn!(pipeline = %key(&p), step = error.step(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The wait before retry number `attempts` (1-based): 5 s, 10 s, 20 s, … up to 5 min.
pub fn backoff(attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes the status if it differs from what the object has; publishes
/// Events for the conditions that changed. Returns whether it wrote.
async fn write_status(
    p: &DeliveryPipeline,
    ctx: &Context,
    mut new: DeliveryPipelineStatus,
) -> Result<bool, Error> {
    let old = p.status.as_ref();
    status::stamp_transitions(&mut new, old, &now());
    if old == Some(&new) {
        return Ok(false);
    }
    let api: Api<DeliveryPipeline> =
        Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": "baedal.dev/v1alpha1",
        "kind": "DeliveryPipeline",
        "status": new,
    });
    api.patch_status(
        &p.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::Status)?;
    for (before, c) in status::transitions(old, &new) {
        let failure = c.status != "True"
            && !matches!(c.reason.as_str(), "Progressing" | "Suspended" | "Disabled");
        if c.type_ != "Ready" && !failure {
            continue;
        }
        let type_ = if failure {
            EventType::Warning
        } else {
            EventType::Normal
        };
        let was = before.map(|b| format!(" (was {b})")).unwrap_or_default();
        ctx.publish(
            p,
            type_,
            &c.reason,
            format!("{} {}{was}: {}", c.type_, c.status, c.message),
        )
        .await;
    }
    Ok(true)
}

/// Records a failure that stops the reconcile before anything is built.
async fn stop_with(
    p: &DeliveryPipeline,
    ctx: &Context,
    component: Option<&str>,
    error: Error,
) -> Result<Action, Error> {
    let message = error.to_string();
    ctx.publish(p, EventType::Warning, error.reason(), message.clone())
        .await;
    let new = status::failed(p, component, error.reason(), &message);
    write_status(p, ctx, new).await?;
    Err(error)
}

async fn apply(p: &DeliveryPipeline, ctx: &Context, namespace: &str) -> Result<Action, Error> {
    ctx.metrics.reconciled();
    // 1. dereference
    let secrets = match dereference(&ctx.client, namespace, &p.spec).await {
        Ok(s) => s,
        Err(e) => {
            let component = match &e {
                Error::Dereference { secret, .. }
                    if *secret == p.spec.postgres.connection_secret.name =>
                {
                    Some("Postgres")
                }
                Error::Dereference { secret, .. }
                    if p.spec.kafka.sasl.as_ref().map(|s| &s.credentials_secret)
                        == Some(secret) =>
                {
                    Some("Kafka")
                }
                Error::Dereference { secret, .. }
                    if p.spec.redis.url_secret.as_ref().map(|s| &s.name) == Some(secret) =>
                {
                    Some("Redis")
                }
                _ => Some("Ingest"),
            };
            return stop_with(p, ctx, component, e).await;
        }
    };
    // 2. validate
    if let Err(problems) = crate::validate::validate(p) {
        return stop_with(p, ctx, None, Error::Validate(problems.join("; "))).await;
    }
    // 3. build
    let children = build(p, &secrets);
    // 4. apply: every child, even when one fails (the status names it).
    let applied: Applied = apply_all(&ctx.client, namespace, p.uid().as_deref(), &children).await;
    let apply_error = (!applied.failed.is_empty()).then(|| {
        Error::Apply(
            applied
                .failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    });
    if let Some(e) = &apply_error {
        ctx.publish(p, EventType::Warning, e.reason(), e.to_string())
            .await;
    }
    // The ETL's latest Job, for the Etl condition.
    let etl_job = latest_etl_job(&ctx.client, namespace, &p.name_any())
        .await
        .map_err(Error::Observe)?;
    if !applied.changed.is_empty() || !applied.removed.is_empty() {
        let list = |v: &[(crate::build::ChildKind, String)]| {
            v.iter()
                .map(|(k, n)| format!("{}/{n}", k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut note = format!("applied {}", list(&applied.changed));
        if !applied.removed.is_empty() {
            note.push_str(&format!("; removed {}", list(&applied.removed)));
        }
        ctx.publish(p, EventType::Normal, "ChildrenApplied", note)
            .await;
    }
    // 5. topics, 6. schema: both run, so one failing does not hide the other.
    let config = operator_config(p, &secrets);
    let desired = desired_topics(&p.spec);
    let topics = ctx.data.ensure_topics(&config, &desired).await;
    let schema = ctx.data.migrate(&config).await;
    // 7. status
    let new = status::compute(
        p,
        &Observations {
            applied: &applied,
            etl_job: etl_job.as_ref(),
            topics: &topics,
            schema: &schema,
        },
    );
    write_status(p, ctx, new).await?;
    if let Some(e) = apply_error {
        return Err(e);
    }
    if let Err(e) = topics {
        return Err(Error::Topics(e));
    }
    if let Err(e) = schema {
        return Err(Error::Schema(e));
    }
    Ok(Action::requeue(RESYNC))
}

/// The Jobs of the pipeline's ETL CronJob, scheduled or made by hand
/// (`kubectl create job --from`): they carry the pipeline's labels from the
/// CronJob's job template.
async fn etl_jobs(client: &Client, namespace: &str, name: &str) -> Result<Vec<Job>, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let selector = component_selector(name, "etl");
    Ok(jobs
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// The newest Job of the ETL, if any.
async fn latest_etl_job(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Job>, kube::Error> {
    Ok(etl_jobs(client, namespace, name)
        .await?
        .into_iter()
        .max_by(|a, b| a.creation_timestamp().cmp(&b.creation_timestamp())))
}

/// Deletion: Kubernetes removes the children (owner references); the data
/// is kept (`Retain`) or deleted (`Delete`) here, then the finalizer goes.
///
/// With `Delete`, the workloads are stopped first (deleted in the
/// foreground, and waited for), so no ingest or ETL still running can
/// recreate a topic or a table after they are gone. A cleanup that keeps
/// failing (the Secret, Kafka or Postgres already deleted, as when the whole
/// namespace goes) is retried with backoff for [`Context::cleanup_timeout`]
/// after the deletion began; then the finalizer is released and a Warning
/// Event says what was left behind.
async fn cleanup(p: &DeliveryPipeline, ctx: &Context) -> Result<Action, Error> {
    match p.spec.deletion_policy {
        DeletionPolicy::Retain => {
            ctx.publish(
                p,
                EventType::Normal,
                "DataRetained",
                format!(
                    "deletionPolicy Retain: topics {}* and schema {} kept",
                    p.spec.kafka.topic_prefix, p.spec.postgres.schema
                ),
            )
            .await;
            Ok(Action::await_change())
        }
        DeletionPolicy::Delete => match delete_data(p, ctx).await {
            Ok(names) => {
                ctx.publish(
                    p,
                    EventType::Normal,
                    "DataDeleted",
                    format!(
                        "deletionPolicy Delete: topics {} and schema {} deleted",
                        names.join(", "),
                        p.spec.postgres.schema
                    ),
                )
                .await;
                Ok(Action::await_change())
            }
            Err(error) if deleting_for(p) >= ctx.cleanup_timeout => {
                ctx.publish(
                    p,
                    EventType::Warning,
                    "CleanupAbandoned",
                    format!(
                        "gave up after {}s, releasing the finalizer; topics {}* and schema {} may remain: {error}",
                        ctx.cleanup_timeout.as_secs(),
                        p.spec.kafka.topic_prefix,
                        p.spec.postgres.schema
                    ),
                )
                .await;
                Ok(Action::await_change())
            }
            Err(error) => {
                ctx.publish(p, EventType::Warning, error.reason(), error.to_string())
                    .await;
                Err(error)
            }
        },
    }
}

/// How long ago the deletion of `p` began.
fn deleting_for(p: &DeliveryPipeline) -> Duration {
    p.metadata
        .deletion_timestamp
        .as_ref()
        .and_then(|t| {
            let since = k8s_openapi::jiff::Timestamp::now().duration_since(t.0);
            Duration::try_from(since).ok()
        })
        .unwrap_or_default()
}

/// `deletionPolicy: Delete`: stop the workloads, then delete the topics and
/// drop the schema. Returns the deleted topic names.
async fn delete_data(p: &DeliveryPipeline, ctx: &Context) -> Result<Vec<String>, Error> {
    let namespace = p.namespace().unwrap_or_default();
    let secrets = dereference(&ctx.client, &namespace, &p.spec)
        .await
        .map_err(|e| Error::Cleanup(format!("deletionPolicy Delete needs the Secrets: {e}")))?;
    stop_workloads(&ctx.client, &namespace, &p.name_any()).await?;
    let config = operator_config(p, &secrets);
    let names: Vec<String> = desired_topics(&p.spec)
        .into_iter()
        .map(|t| t.name)
        .collect();
    ctx.data
        .delete_topics(&config, &names)
        .await
        .map_err(Error::Cleanup)?;
    ctx.data
        .drop_schema(&config)
        .await
        .map_err(Error::Cleanup)?;
    Ok(names)
}

/// Deletes the pipeline's workloads in the foreground (their pods first)
/// and waits until they are gone: the ingest, the ETL CronJob and its Jobs,
/// the API.
async fn stop_workloads(client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
    use crate::build::{ChildKind, Names};
    let etl_jobs: Vec<String> = etl_jobs(client, namespace, name)
        .await
        .map_err(|e| Error::Cleanup(format!("listing the ETL's Jobs: {e}")))?
        .iter()
        .map(|j| j.name_any())
        .collect();
    let mut targets = vec![
        (ChildKind::Job, Names::ingest(name)),
        (ChildKind::Deployment, Names::ingest(name)),
        (ChildKind::CronJob, Names::etl(name)),
        (ChildKind::Deployment, Names::api(name)),
    ];
    targets.extend(etl_jobs.into_iter().map(|j| (ChildKind::Job, j)));
    let foreground = DeleteParams::foreground();
    for (kind, child) in &targets {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            namespace,
            &crate::apply::api_resource(*kind),
        );
        match api.delete(child, &foreground).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                return Err(Error::Cleanup(format!(
                    "stopping {} {child}: {e}",
                    kind.as_str()
                )))
            }
        }
    }
    let deadline = tokio::time::Instant::now() + WORKLOADS_STOP_WAIT;
    for (kind, child) in &targets {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            namespace,
            &crate::apply::api_resource(*kind),
        );
        loop {
            let gone = api
                .get_opt(child)
                .await
                .map_err(|e| Error::Cleanup(format!("waiting for {} {child}: {e}", kind.as_str())))?
                .is_none();
            if gone {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Cleanup(format!(
                    "{} {child} still stopping after {}s",
                    kind.as_str(),
                    WORKLOADS_STOP_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}
