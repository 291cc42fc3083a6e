//! `baedal-operator run`: leader election, the controller, and the HTTP
//! endpoints (`/metrics`, `/healthz`).

use crate::crd::DeliveryPipeline;
use crate::dataplane::Servers;
use crate::lease::LeaseLock;
use crate::metrics::{render, Metrics};
use crate::reconcile::{error_policy, reconcile, Context};
use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
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

/// Runs the operator until SIGTERM, or until leadership is lost (then an
/// error, so the pod restarts and waits as a follower).
pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let server = tokio::spawn(serve(options.listen.clone(), Arc::new(registry)));

    let lock = LeaseLock::new(
        client.clone(),
        &options.lease_namespace,
        &options.lease_name,
        &options.identity,
        options.lease_duration,
    );
    tokio::select! {
        _ = lock.acquire() => {}
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    tracing::info!(identity = %options.identity, "leading; starting the controller");

    let pipelines: Api<DeliveryPipeline> = Api::all(client.clone());
    if let Err(e) = pipelines.list(&Default::default()).await {
        anyhow::bail!(
            "the DeliveryPipeline CRD is not queryable ({e}); install crds/deliverypipeline.yaml"
        );
    }
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Servers),
        metrics,
        Some(options.identity.clone()),
    ));
    // Children whose status feeds the pipeline's status wake it up when they change.
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=baedal-operator");
    let controller = Controller::new(pipelines, watcher::Config::default())
        .owns(Api::<Deployment>::all(client.clone()), owned.clone())
        .owns(Api::<StatefulSet>::all(client.clone()), owned.clone())
        .owns(Api::<CronJob>::all(client.clone()), owned)
        .shutdown_on_signal()
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
            Ok(())
        }
        _ = lock.keep() => anyhow::bail!("lost the leader lease"),
        r = server => match r {
            Ok(Ok(())) => anyhow::bail!("metrics server stopped"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        },
    }
}
