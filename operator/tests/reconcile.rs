//! The reconciler against a mocked API server (kube-rs' tower-test pattern):
//! which requests go out, in what order, and what status comes back.

use baedal_operator::build::{build, Child};
use baedal_operator::crd::{
    Condition, DeletionPolicy, DeliveryPipeline, Phase, RedisMode, SecretKeyRef, FINALIZER,
};
use baedal_operator::deref::Dereferenced;
use baedal_operator::error::Error;
use baedal_operator::reconcile::{error_policy, reconcile, Context};
use baedal_operator::testing::{
    child_path, context, pipeline, pipeline_path, ApiServer, FakeDataPlane, PipelineExt, NAMESPACE,
};
use baedal_operator::topics::TopicProblem;
use std::sync::Arc;
use std::time::Duration;

/// The situations a test starts from.
enum Scenario {
    /// The pipeline was just created: its Secret exists, no child does.
    Fresh,
    /// Reconciled before, every workload available, status written.
    Steady,
}

struct Harness {
    server: ApiServer,
    data: Arc<FakeDataPlane>,
    ctx: Arc<Context>,
}

impl Harness {
    fn new(scenario: Scenario, p: &DeliveryPipeline) -> Harness {
        Self::with_data(scenario, p, FakeDataPlane::default())
    }

    fn with_data(scenario: Scenario, p: &DeliveryPipeline, data: FakeDataPlane) -> Harness {
        let server = ApiServer::new().with_database_secret().with_pipeline(p);
        let data = Arc::new(data);
        let ctx = context(&server, data.clone());
        let h = Harness { server, data, ctx };
        if let Scenario::Steady = scenario {
            h.server.make_workloads_available();
        }
        h
    }

    async fn reconcile(
        &self,
        p: &DeliveryPipeline,
    ) -> Result<kube::runtime::controller::Action, Error> {
        reconcile(Arc::new(p.clone()), self.ctx.clone()).await
    }

    /// Reconciles until the stored pipeline settles (status written, workloads up).
    async fn settle(&self, p: &DeliveryPipeline) -> DeliveryPipeline {
        self.reconcile(p).await.expect("first reconcile");
        self.server.make_workloads_available();
        let stored = self.stored(p);
        self.reconcile(&stored).await.expect("second reconcile");
        self.server.forget_calls();
        self.stored(p)
    }

    /// A settled `orders` pipeline whose next generation, as `change` makes
    /// it, has been reconciled: what the reconcile wrote is in the server.
    async fn after_change(
        change: impl FnOnce(&mut DeliveryPipeline),
    ) -> (DeliveryPipeline, Harness) {
        let p = pipeline("orders").finalized();
        let h = Harness::new(Scenario::Steady, &p);
        let mut changed = h.settle(&p).await.next_generation();
        change(&mut changed);
        h.reconcile(&changed).await.expect("reconcile");
        (p, h)
    }

    fn stored(&self, p: &DeliveryPipeline) -> DeliveryPipeline {
        self.server.pipeline(p).expect("pipeline stored")
    }

    fn child_writes(&self) -> Vec<String> {
        self.server
            .writes()
            .into_iter()
            .filter(|w| !w.contains("/events") && !w.contains("/deliverypipelines/"))
            .collect()
    }

    fn events(&self) -> Vec<(String, String)> {
        events_of(&self.server)
    }

    /// Asserts that an Event of this type and reason was sent.
    fn assert_event(&self, kind: &str, reason: &str) {
        let events = self.events();
        assert!(
            events.contains(&(kind.to_string(), reason.to_string())),
            "no {kind} {reason} among {events:?}"
        );
    }

    /// Asserts that exactly one Event was sent, of this type and reason.
    fn assert_only_event(&self, kind: &str, reason: &str) {
        assert_eq!(self.events(), vec![(kind.to_string(), reason.to_string())]);
    }
}

/// (type, reason) of every Event the server was sent.
fn events_of(server: &ApiServer) -> Vec<(String, String)> {
    server
        .calls()
        .iter()
        .filter(|c| c.is_event() && c.method == http::Method::POST)
        .filter_map(|c| {
            let b = c.body.as_ref()?;
            Some((
                b.get("type")?.as_str()?.to_string(),
                b.get("reason")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn expected_children(p: &DeliveryPipeline) -> Vec<Child> {
    build(p, &Dereferenced::offline()).objects
}

/// The `orders` pipeline with our finalizer, deleted by a user.
fn being_deleted(policy: DeletionPolicy) -> DeliveryPipeline {
    pipeline("orders")
        .deletion_policy(policy)
        .finalized()
        .deleting()
}

fn finalizers(p: &DeliveryPipeline) -> Vec<String> {
    p.metadata.finalizers.clone().unwrap_or_default()
}

fn condition<'p>(p: &'p DeliveryPipeline, type_: &str) -> &'p Condition {
    p.condition(type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// Asserts the status and the reason of condition `type_`.
fn assert_condition(p: &DeliveryPipeline, type_: &str, status: &str, reason: &str) {
    let c = condition(p, type_);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        (status, reason),
        "{type_}: {}",
        c.message
    );
}

/// Asserts that the message of condition `type_` names `words`.
fn assert_condition_names(p: &DeliveryPipeline, type_: &str, words: &str) {
    let message = &condition(p, type_).message;
    assert!(message.contains(words), "{type_}: {message}");
}

fn assert_phase(p: &DeliveryPipeline, phase: Phase) {
    assert_eq!(p.status.as_ref().map(|s| s.phase), Some(phase));
}

#[tokio::test]
async fn a_new_pipeline_first_gets_the_finalizer_and_nothing_else() {
    let p = pipeline("orders");
    let h = Harness::new(Scenario::Fresh, &p);
    h.reconcile(&p).await.expect("reconcile");
    assert_eq!(
        h.server.writes(),
        vec![format!("PATCH {}", pipeline_path(&p))]
    );
    let stored = h.stored(&p);
    assert_eq!(
        stored.metadata.finalizers,
        Some(vec![FINALIZER.to_string()])
    );
    assert!(h.data.calls().is_empty());
}

#[tokio::test]
async fn first_create_applies_every_child_in_order_and_writes_status() {
    let p = pipeline("orders").finalized();
    let h = Harness::new(Scenario::Fresh, &p);
    h.reconcile(&p).await.expect("reconcile");

    // Every child, server-side applied in build order, one field manager.
    let children = expected_children(&p);
    let expected: Vec<String> = children
        .iter()
        .map(|c| format!("PATCH {}", child_path(c)))
        .collect();
    assert_eq!(h.child_writes(), expected);
    for call in h
        .server
        .calls()
        .iter()
        .filter(|c| c.is_write() && !c.is_event())
    {
        assert!(
            call.query.contains("fieldManager=baedal-operator")
                && call.query.contains("force=true"),
            "{} {}",
            call.line(),
            call.query
        );
    }
    // Owned by the pipeline, so Kubernetes removes them with it.
    for c in &children {
        let stored = h.server.object(&child_path(c)).expect("child stored");
        let owner = &stored["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], "uid-orders", "{}", child_path(c));
        assert_eq!(owner["controller"], true);
    }
    // The Secret is read before anything is written.
    let first = &h.server.calls()[0];
    assert_eq!(first.method, http::Method::GET);
    assert!(first.path.ends_with("/secrets/orders-db"), "{}", first.path);

    assert_eq!(h.data.calls(), vec![
        "ensure_topics orders.orders,orders.messages,orders.logs,orders.reviews,orders.dead-letter".to_string(),
        "migrate orders".to_string(),
    ]);
    let stored = h.stored(&p);
    let status = stored.status.clone().expect("status written");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        status.phase,
        Phase::Provisioning,
        "workloads are not available yet"
    );
    assert_condition(&stored, "Kafka", "True", "TopicsReady");
    assert_condition(&stored, "Postgres", "True", "SchemaCurrent");
    assert_condition(&stored, "Api", "False", "Progressing");
    assert_condition(&stored, "Ready", "False", "Progressing");
    assert_eq!(status.topics.len(), 5);
    assert_eq!(
        status.schema.as_ref().map(|s| s.name.as_str()),
        Some("orders")
    );
    assert_eq!(
        status.api_endpoint.as_deref(),
        Some("http://orders-api.shop.svc:8080")
    );
    h.assert_event("Normal", "ChildrenApplied");
}

#[tokio::test]
async fn available_workloads_make_the_pipeline_running() {
    let p = pipeline("orders").finalized();
    let h = Harness::new(Scenario::Fresh, &p);
    let settled = h.settle(&p).await;
    let status = settled.status.clone().expect("status");
    assert_eq!(status.phase, Phase::Running);
    assert_condition(&settled, "Ready", "True", "AllComponentsReady");
    assert_eq!(status.conditions.len(), 7, "six components and Ready");
}

#[tokio::test]
async fn an_unchanged_pipeline_re_reconciled_writes_nothing() {
    let p = pipeline("orders").finalized();
    let h = Harness::new(Scenario::Steady, &p);
    let settled = h.settle(&p).await;
    let before = h.server.object(&pipeline_path(&p));
    h.reconcile(&settled).await.expect("reconcile");
    assert_eq!(
        h.server.writes(),
        Vec::<String>::new(),
        "no child, status or event write"
    );
    assert!(h
        .server
        .calls()
        .iter()
        .all(|c| c.method == http::Method::GET));
    assert_eq!(h.server.object(&pipeline_path(&p)), before);
}

#[tokio::test]
async fn a_spec_change_applies_only_what_changed() {
    let (p, h) = Harness::after_change(|changed| changed.spec.api.replicas = 4).await;
    assert_eq!(
        h.child_writes(),
        vec![format!(
            "PATCH /apis/apps/v1/namespaces/{NAMESPACE}/deployments/orders-api"
        )]
    );
    let stored = h.stored(&p);
    assert_eq!(
        stored.status.as_ref().and_then(|s| s.observed_generation),
        Some(2)
    );
    let deployment = h
        .server
        .object(&format!(
            "/apis/apps/v1/namespaces/{NAMESPACE}/deployments/orders-api"
        ))
        .expect("api deployment");
    assert_eq!(deployment["spec"]["replicas"], 4);
}

#[tokio::test]
async fn a_config_change_rolls_every_workload_through_the_config_hash() {
    let (_, h) = Harness::after_change(|changed| changed.spec.redis.cache_ttl_seconds = 120).await;
    let writes = h.child_writes();
    let names: Vec<&str> = writes.iter().filter_map(|w| w.rsplit('/').next()).collect();
    // Not the batch ingest Job: it has read its source and is not run again.
    assert_eq!(
        names,
        ["orders-config", "orders-api", "orders-etl"],
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_missing_secret_is_a_condition_and_an_event_and_builds_nothing() {
    let p = pipeline("orders").finalized();
    let server = ApiServer::new().with_pipeline(&p); // no Secret
    let data = Arc::new(FakeDataPlane::default());
    let ctx = context(&server, data.clone());
    let err = reconcile(Arc::new(p.clone()), ctx.clone())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Dereference { .. }), "{err}");
    assert_eq!(err.step(), "dereference");
    let writes = server.writes();
    assert!(
        writes
            .iter()
            .all(|w| w.contains("/events") || w.contains("/deliverypipelines/orders/status")),
        "{writes:?}"
    );
    assert!(writes.iter().any(|w| w.contains("/status")));
    let stored = server.pipeline(&p).expect("stored");
    assert_phase(&stored, Phase::Failed);
    assert_condition(&stored, "Ready", "False", "SecretNotFound");
    assert_condition(&stored, "Postgres", "False", "SecretNotFound");
    let event = server
        .calls()
        .into_iter()
        .find(|c| c.is_event())
        .expect("event");
    let body = event.body.expect("event body");
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["reason"], "SecretNotFound");
    assert!(body["note"]
        .as_str()
        .unwrap_or_default()
        .contains("orders-db"));
    assert!(
        data.calls().is_empty(),
        "no topic or schema work without the Secret"
    );

    // Errors are counted by step and retried with a growing delay.
    let first = error_policy(Arc::new(p.clone()), &err, ctx.clone());
    let second = error_policy(Arc::new(p.clone()), &err, ctx.clone());
    assert_eq!(ctx.metrics.errors_at("dereference"), 2);
    assert_eq!(
        first,
        kube::runtime::controller::Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        second,
        kube::runtime::controller::Action::requeue(Duration::from_secs(10))
    );
}

#[tokio::test]
async fn an_invalid_spec_is_a_condition_and_an_event_and_builds_nothing() {
    let mut p = pipeline("orders").finalized();
    p.spec.kafka.topics.partitions = 0;
    let h = Harness::new(Scenario::Fresh, &p);
    let err = h.reconcile(&p).await.expect_err("must fail");
    assert!(matches!(err, Error::Validate(_)), "{err}");
    assert!(h.child_writes().is_empty(), "{:?}", h.child_writes());
    h.assert_only_event("Warning", "InvalidSpec");
    let stored = h.stored(&p);
    assert_condition(&stored, "Ready", "False", "InvalidSpec");
    assert_condition_names(&stored, "Ready", "partitions");
    assert!(h.data.calls().is_empty());
}

#[tokio::test]
async fn deletion_with_retain_keeps_topics_and_schema() {
    // No policy set: the default keeps the data.
    let p = pipeline("orders").finalized().deleting();
    let h = Harness::new(Scenario::Fresh, &p);
    h.reconcile(&p).await.expect("cleanup");
    assert!(h.data.calls().is_empty(), "{:?}", h.data.calls());
    h.assert_only_event("Normal", "DataRetained");
    assert_eq!(finalizers(&h.stored(&p)), Vec::<String>::new());
    assert!(h.child_writes().is_empty());
}

#[tokio::test]
async fn deletion_with_delete_removes_topics_and_schema() {
    let p = being_deleted(DeletionPolicy::Delete);
    let h = Harness::new(Scenario::Fresh, &p);
    h.reconcile(&p).await.expect("cleanup");
    assert_eq!(h.data.calls(), vec![
        "delete_topics orders.orders,orders.messages,orders.logs,orders.reviews,orders.dead-letter".to_string(),
        "drop_schema orders".to_string(),
    ]);
    h.assert_only_event("Normal", "DataDeleted");
    assert_eq!(finalizers(&h.stored(&p)), Vec::<String>::new());
}

#[tokio::test]
async fn deletion_with_delete_and_no_secret_keeps_the_finalizer() {
    let p = being_deleted(DeletionPolicy::Delete);
    let server = ApiServer::new().with_pipeline(&p);
    let data = Arc::new(FakeDataPlane::default());
    let err = reconcile(Arc::new(p.clone()), context(&server, data.clone()))
        .await
        .expect_err("cannot clean up without credentials");
    assert_eq!(err.step(), "cleanup");
    assert_eq!(
        server.pipeline(&p).and_then(|s| s.metadata.finalizers),
        Some(vec![FINALIZER.to_string()])
    );
    assert!(data.calls().is_empty());
}

#[tokio::test]
async fn suspend_scales_to_zero_and_stops_the_cronjob_without_touching_data() {
    let (p, h) = Harness::after_change(|changed| changed.spec.suspend = true).await;
    let ns = NAMESPACE;
    let get = |path: String| h.server.object(&path).expect("object");
    assert_eq!(
        get(format!(
            "/apis/apps/v1/namespaces/{ns}/deployments/orders-api"
        ))["spec"]["replicas"],
        0
    );
    assert_eq!(
        get(format!("/apis/batch/v1/namespaces/{ns}/jobs/orders-ingest"))["spec"]["suspend"],
        true
    );
    assert_eq!(
        get(format!(
            "/apis/batch/v1/namespaces/{ns}/cronjobs/orders-etl"
        ))["spec"]["suspend"],
        true
    );
    assert_eq!(
        get(format!(
            "/apis/apps/v1/namespaces/{ns}/statefulsets/orders-redis"
        ))["spec"]["replicas"],
        1
    );
    assert!(
        !h.child_writes().iter().any(|w| w.starts_with("DELETE")),
        "{:?}",
        h.child_writes()
    );
    assert!(h
        .data
        .calls()
        .iter()
        .all(|c| !c.starts_with("delete") && !c.starts_with("drop")));
    let stored = h.stored(&p);
    assert_phase(&stored, Phase::Suspended);
    assert_condition(&stored, "Ready", "False", "Suspended");
}

#[tokio::test]
async fn a_refused_partition_decrease_is_a_condition_not_an_error() {
    let p = pipeline("orders").finalized();
    let data = FakeDataPlane::reporting(vec![TopicProblem::DecreaseRefused {
        topic: "orders.orders".into(),
        current: 6,
        desired: 3,
    }]);
    let h = Harness::with_data(Scenario::Steady, &p, data);
    h.reconcile(&p).await.expect("a refusal is not a failure");
    let stored = h.stored(&p);
    assert_condition(&stored, "Kafka", "False", "PartitionDecreaseRefused");
    assert_phase(&stored, Phase::Degraded);
    h.assert_event("Warning", "PartitionDecreaseRefused");
}

#[tokio::test]
async fn an_unsupported_admin_call_is_a_clear_condition() {
    let p = pipeline("orders").finalized();
    let data = FakeDataPlane::reporting(vec![TopicProblem::Unsupported {
        topic: "orders.orders".into(),
        call: "CreatePartitions",
        code: "UnsupportedFeature".into(),
    }]);
    let h = Harness::with_data(Scenario::Steady, &p, data);
    h.reconcile(&p).await.expect("not a crash");
    let stored = h.stored(&p);
    assert_eq!(condition(&stored, "Kafka").reason, "UnsupportedByBroker");
    assert_condition_names(&stored, "Kafka", "CreatePartitions");
}

#[tokio::test]
async fn a_failed_migration_is_an_error_after_the_status_is_written() {
    let p = pipeline("orders").finalized();
    let data = FakeDataPlane::failing_migrations("connection refused");
    let h = Harness::with_data(Scenario::Steady, &p, data);
    let err = h.reconcile(&p).await.expect_err("migration failed");
    assert_eq!(err.step(), "schema");
    let stored = h.stored(&p);
    assert_condition(&stored, "Postgres", "False", "MigrationFailed");
    assert_phase(&stored, Phase::Degraded);
}

#[tokio::test]
async fn switching_to_an_external_redis_removes_the_managed_one() {
    let p = pipeline("orders").finalized();
    let server_secret = ("redis-url", "url", "redis://cache.example:6379/");
    let h = Harness::new(Scenario::Steady, &p);
    let mut external = h.settle(&p).await.next_generation();
    let h_server = h.server.clone().with_secret(
        NAMESPACE,
        server_secret.0,
        &[(server_secret.1, server_secret.2)],
    );
    external.spec.redis.mode = RedisMode::External;
    external.spec.redis.url_secret = Some(SecretKeyRef {
        name: server_secret.0.into(),
        key: server_secret.1.into(),
    });
    h.reconcile(&external).await.expect("reconcile");
    let deletes: Vec<String> = h_server
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        vec![
            format!("DELETE /api/v1/namespaces/{NAMESPACE}/serviceaccounts/orders-redis"),
            format!("DELETE /api/v1/namespaces/{NAMESPACE}/services/orders-redis"),
            format!("DELETE /apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/orders-redis"),
        ]
    );
    let stored = h.stored(&p);
    assert_condition(&stored, "Redis", "True", "External");
}

#[tokio::test]
async fn a_failing_child_is_named_in_its_condition_and_the_rest_is_applied() {
    let p = pipeline("orders").finalized();
    let server = ApiServer::new()
        .with_database_secret()
        .with_pipeline(&p)
        .failing(http::Method::PATCH, "/deployments/orders-api", 500);
    let data = Arc::new(FakeDataPlane::default());
    let err = reconcile(Arc::new(p.clone()), context(&server, data))
        .await
        .expect_err("apply fails");
    assert_eq!(err.step(), "apply");
    assert!(err.to_string().contains("Deployment orders-api"), "{err}");
    // The children after the failed one were applied all the same.
    let writes = server.writes();
    for later in ["/jobs/orders-ingest", "/cronjobs/orders-etl"] {
        assert!(
            writes.iter().any(|w| w.contains(later)),
            "{later}: {writes:?}"
        );
    }
    // And the status says which child failed.
    let stored = server.pipeline(&p).expect("stored");
    assert_condition(&stored, "Api", "False", "ApplyFailed");
    assert_condition_names(&stored, "Api", "Deployment orders-api");
}

#[tokio::test]
async fn a_drifted_child_is_applied_again_and_an_untouched_one_is_not() {
    let p = pipeline("orders").finalized();
    let h = Harness::new(Scenario::Steady, &p);
    let settled = h.settle(&p).await;
    let path = format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/orders-api");
    // `kubectl scale` by someone else.
    h.server.set(&path, "/spec/replicas", serde_json::json!(5));
    h.server.forget_calls();
    h.reconcile(&settled).await.expect("reconcile");
    assert_eq!(h.child_writes(), vec![format!("PATCH {path}")]);
    assert_eq!(h.server.object(&path).expect("api")["spec"]["replicas"], 2);
}

#[tokio::test]
async fn a_cleanup_that_keeps_failing_releases_the_finalizer_after_the_timeout() {
    let p = pipeline("orders")
        .deletion_policy(DeletionPolicy::Delete)
        .finalized()
        .deleting_since(600);
    let server = ApiServer::new().with_pipeline(&p);
    let data = Arc::new(FakeDataPlane::default());
    reconcile(Arc::new(p.clone()), context(&server, data.clone()))
        .await
        .expect("released after the timeout");
    assert_eq!(
        server
            .pipeline(&p)
            .and_then(|s| s.metadata.finalizers)
            .unwrap_or_default(),
        Vec::<String>::new()
    );
    let events = events_of(&server);
    assert!(
        events
            .iter()
            .any(|(t, r)| t == "Warning" && r == "CleanupAbandoned"),
        "{events:?}"
    );
    assert!(data.calls().is_empty());
}

#[tokio::test]
async fn a_second_replica_waits_until_the_leader_stops_renewing() {
    use baedal_operator::lease::LeaseLock;
    let server = ApiServer::new();
    let ttl = Duration::from_secs(15);
    let leader = LeaseLock::new(
        server.client(),
        "ops",
        "baedal-operator",
        "pod-a",
        ttl,
        Default::default(),
    );
    let follower = LeaseLock::new(
        server.client(),
        "ops",
        "baedal-operator",
        "pod-b",
        ttl,
        Default::default(),
    );
    assert!(leader.try_acquire().await.expect("create the lease"));
    assert!(
        !follower.try_acquire().await.expect("read the lease"),
        "held by pod-a"
    );
    assert!(leader.try_acquire().await.expect("renew"));
    assert!(
        !follower.try_acquire().await.expect("read the lease"),
        "still held"
    );
    // pod-a stops renewing: once the lease has expired, pod-b takes it.
    let path = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/baedal-operator";
    server.set(
        path,
        "/spec/renewTime",
        serde_json::json!("2000-01-01T00:00:00.000000Z"),
    );
    assert!(follower.try_acquire().await.expect("take over"));
    assert!(
        !leader.try_acquire().await.expect("read the lease"),
        "pod-a lost it"
    );
    let lease = server.object(path).expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], "pod-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}
