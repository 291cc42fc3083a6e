//! `baedal-operator run`: leader election, the controller, and the HTTP
//! endpoints (`/metrics`, `/healthz`).
//!
//! What wakes a pipeline up: a change of the pipeline itself; a change to
//! any child it owns (each kind is watched, so a deleted or edited child is
//! put back within seconds); a change to one of the ETL's Jobs (for the
//! `Etl` condition); a change to a Secret the pipeline references (so a
//! rotated password rolls the pods that use it); and the periodic resync.

use crate::build::{INSTANCE_LABEL, MANAGED_SELECTOR};
use crate::crd::DeliveryPipeline;
use crate::dataplane::Servers;
use crate::deref::references;
use crate::lease::{LeaderGuard, LeaseLock};
use crate::metrics::{render, Metrics};
use crate::reconcile::{error_policy, reconcile, Context};
use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::client::ClientBuilder;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, Config, ResourceExt};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Options of `run`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address of `/metrics` and `/healthz`.
    pub listen: String,
    /// Namespace and name of the leader Lease.
    pub lease_namespace: String,
    pub lease_name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Lease duration.
    pub lease_duration: Duration,
    /// How long a deleted pipeline's cleanup is retried.
    pub cleanup_timeout: Duration,
    /// Only the pipelines of this namespace (a namespaced install); `None`:
    /// every namespace.
    pub watch_namespace: Option<String>,
}

/// An API of every namespace, or of the one watched.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&registry),
    )
}

/// Serves `/metrics` and `/healthz` until the process ends.
async fn serve(listen: String, registry: Arc<Registry>) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(registry);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "serving /metrics and /healthz");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers, only Ctrl-C can stop us.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A client whose writes pass only while `guard` allows them.
fn guarded_client(config: Config, guard: LeaderGuard) -> anyhow::Result<Client> {
    let filter =
        tower::filter::FilterLayer::new(move |request: http::Request<kube::client::Body>| {
            if guard.allows(request.method()) {
                Ok(request)
            } else {
                Err(tower::BoxError::from(
                    "this replica does not hold the leader lease: write refused",
                ))
            }
        });
    Ok(ClientBuilder::try_from(config)?.with_layer(&filter).build())
}

/// The pipelines of the Secret's namespace that reference it.
fn pipelines_using(
    store: &kube::runtime::reflector::Store<DeliveryPipeline>,
    secret: &Secret,
) -> Vec<ObjectRef<DeliveryPipeline>> {
    let name = secret.name_any();
    store
        .state()
        .iter()
        .filter(|p| p.namespace() == secret.namespace())
        .filter(|p| references(&p.spec).iter().any(|r| r.name == name))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// The pipeline a Job belongs to, by its instance label (the ETL's Jobs are
/// owned by the CronJob, not by the pipeline).
fn pipeline_of(job: &Job) -> Option<ObjectRef<DeliveryPipeline>> {
    let instance = job.labels().get(INSTANCE_LABEL)?;
    Some(ObjectRef::new(instance).within(&job.namespace()?))
}

/// Runs the operator until SIGTERM (then releases the Lease), or until
/// leadership is lost (then an error, so the pod restarts and waits as a
/// follower).
pub async fn run(options: Options) -> anyhow::Result<()> {
    let config = Config::infer().await?;
    let guard = LeaderGuard::default();
    let lease_client = Client::try_from(config.clone())?;
    let client = guarded_client(config, guard.clone())?;
    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let server = tokio::spawn(serve(options.listen.clone(), Arc::new(registry)));

    let lock = LeaseLock::new(
        lease_client,
        &options.lease_namespace,
        &options.lease_name,
        &options.identity,
        options.lease_duration,
        guard,
    );
    let shutdown = shutdown_signal().boxed().shared();
    tokio::select! {
        _ = lock.acquire() => {}
        _ = shutdown.clone() => {
            tracing::info!("stopping before leading");
            return Ok(());
        }
    }
    tracing::info!(identity = %options.identity, "leading; starting the controller");

    let ns = options.watch_namespace.as_deref();
    let pipelines: Api<DeliveryPipeline> = scoped(&client, ns);
    if let Err(e) = pipelines.list(&Default::default()).await {
        anyhow::bail!(
            "the DeliveryPipeline CRD is not queryable ({e}); install crds/deliverypipeline.yaml"
        );
    }
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            Arc::new(Servers),
            metrics,
            Some(options.identity.clone()),
        )
        .with_cleanup_timeout(options.cleanup_timeout),
    );
    let owned = watcher::Config::default().labels(MANAGED_SELECTOR);
    let controller = Controller::new(pipelines, watcher::Config::default());
    let store = controller.store();
    let controller = controller
        .owns(scoped::<ServiceAccount>(&client, ns), owned.clone())
        .owns(scoped::<ConfigMap>(&client, ns), owned.clone())
        .owns(scoped::<Service>(&client, ns), owned.clone())
        .owns(scoped::<StatefulSet>(&client, ns), owned.clone())
        .owns(scoped::<Deployment>(&client, ns), owned.clone())
        .owns(scoped::<CronJob>(&client, ns), owned.clone())
        .owns(
            scoped::<HorizontalPodAutoscaler>(&client, ns),
            owned.clone(),
        )
        .owns(scoped::<PodDisruptionBudget>(&client, ns), owned.clone())
        .owns(scoped::<Ingress>(&client, ns), owned.clone())
        .watches(scoped::<Job>(&client, ns), owned, |job| pipeline_of(&job))
        .watches(
            scoped::<Secret>(&client, ns),
            watcher::Config::default(),
            move |secret| pipelines_using(&store, &secret),
        )
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(pipeline = %object.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile"),
            }
        });
    tokio::select! {
        _ = controller => {
            tracing::info!("controller stopped");
            lock.release().await;
            Ok(())
        }
        _ = lock.keep() => anyhow::bail!("lost the leader lease; writes stopped"),
        r = server => match r {
            Ok(Ok(())) => anyhow::bail!("metrics server stopped"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        },
    }
}
