//! Test support, shared by the unit tests, the integration tests and the
//! reconcile benchmark: sample pipelines with builders that read like
//! sentences, a mocked API server on kube-rs' tower-test pattern, and a
//! data plane that records what it was asked instead of talking to servers.
//!
//! The mocked API server keeps objects in memory by URL path and answers
//! GET, server-side apply PATCH (object and status), JSON-patch PATCH (the
//! finalizer), POST (Events) and DELETE, logging every request, so a test
//! asserts which requests went out, in what order, and what was stored.

use crate::crd::TopicStatus;
use crate::crd::{
    DeletionPolicy, DeliveryPipeline, DeliveryPipelineSpec, DeliveryPipelineStatus, KafkaSpec,
    PostgresSpec, SecretKeyRef, SourceSpec, FINALIZER,
};
use crate::dataplane::DataPlane;
use crate::topics::{DesiredTopic, TopicProblem, TopicsOutcome};
use baedal_contract::config::Config;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The namespace of the sample pipelines.
pub const NAMESPACE: &str = "shop";
/// The Postgres Secret of the sample pipelines.
pub const DB_SECRET: &str = "orders-db";

/// A valid pipeline named `name` in [`NAMESPACE`], as the API server would
/// hand it to the controller (uid, generation 1), without finalizer.
pub fn pipeline(name: &str) -> DeliveryPipeline {
    let spec = DeliveryPipelineSpec {
        image: "baedal:test".into(),
        image_pull_policy: Default::default(),
        suspend: false,
        source: SourceSpec {
            uri: "/usr/share/baedal/sample".into(),
            mode: Default::default(),
            replay_rate: 1000,
            aws_credentials_secret: None,
        },
        kafka: KafkaSpec {
            bootstrap_servers: "kafka.shop.svc:9092".into(),
            topic_prefix: format!("{name}."),
            security_protocol: None,
            sasl: None,
            ca_secret: None,
            topics: Default::default(),
        },
        postgres: PostgresSpec {
            connection_secret: SecretKeyRef {
                name: DB_SECRET.into(),
                key: "url".into(),
            },
            schema: name.replace('-', "_"),
            max_connections: 8,
            ca_secret: None,
        },
        redis: Default::default(),
        ingest: Default::default(),
        etl: Default::default(),
        api: Default::default(),
        service_account: Default::default(),
        deletion_policy: Default::default(),
    };
    let mut p = DeliveryPipeline::new(name, spec);
    p.metadata.namespace = Some(NAMESPACE.into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.generation = Some(1);
    p.metadata.resource_version = Some("1".into());
    p
}

/// Sentence-like changes to a sample pipeline.
pub trait PipelineExt: Sized {
    /// With the operator's finalizer (reconciled at least once).
    fn finalized(self) -> Self;
    /// Being deleted (deletionTimestamp set).
    fn deleting(self) -> Self;
    /// Deletion began `seconds` ago.
    fn deleting_since(self, seconds: i64) -> Self;
    /// With `spec.suspend`.
    fn suspended(self) -> Self;
    /// With `deletionPolicy`.
    fn deletion_policy(self, policy: DeletionPolicy) -> Self;
    /// With a status.
    fn with_status(self, status: DeliveryPipelineStatus) -> Self;
    /// A spec change: new generation.
    fn next_generation(self) -> Self;
}

impl PipelineExt for DeliveryPipeline {
    fn finalized(mut self) -> Self {
        self.finalizers_mut().push(FINALIZER.into());
        self
    }
    fn deleting(self) -> Self {
        self.deleting_since(0)
    }
    fn deleting_since(mut self, seconds: i64) -> Self {
        let now = k8s_openapi::jiff::Timestamp::now();
        let then = now
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(seconds))
            .unwrap_or(now);
        self.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(then));
        self
    }
    fn suspended(mut self) -> Self {
        self.spec.suspend = true;
        self
    }
    fn deletion_policy(mut self, policy: DeletionPolicy) -> Self {
        self.spec.deletion_policy = policy;
        self
    }
    fn with_status(mut self, status: DeliveryPipelineStatus) -> Self {
        self.status = Some(status);
        self
    }
    fn next_generation(mut self) -> Self {
        self.metadata.generation = Some(self.metadata.generation.unwrap_or(1) + 1);
        self
    }
}

/// One request the mocked API server answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
}

impl Call {
    /// `PATCH /apis/apps/v1/namespaces/shop/deployments/x`, for messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
    /// Whether this request changes something.
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
    /// Whether this is an Event being published.
    pub fn is_event(&self) -> bool {
        self.path.starts_with("/apis/events.k8s.io/")
    }
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<String, Value>,
    calls: Vec<Call>,
    resource_version: u64,
    failures: Vec<(Method, String, u16)>,
}

/// The mocked API server.
#[derive(Clone, Default)]
pub struct ApiServer {
    store: Arc<Mutex<Store>>,
}

/// The URL path of a namespaced object.
pub fn path_of(api_version: &str, plural: &str, namespace: &str, name: &str) -> String {
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    format!("{base}/namespaces/{namespace}/{plural}/{name}")
}

/// The path of the pipeline object.
pub fn pipeline_path(p: &DeliveryPipeline) -> String {
    path_of(
        "baedal.dev/v1alpha1",
        "deliverypipelines",
        &p.namespace().unwrap_or_default(),
        &p.name_any(),
    )
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": if code < 400 { "Success" } else { "Failure" },
        "reason": reason, "message": message, "code": code,
    })
}

impl ApiServer {
    /// An empty API server.
    pub fn new() -> Self {
        ApiServer::default()
    }

    /// Holding the pipeline.
    pub fn with_pipeline(self, p: &DeliveryPipeline) -> Self {
        let value = serde_json::to_value(p).unwrap_or(Value::Null);
        self.with_object(pipeline_path(p), value)
    }

    /// Holding a Secret with string data (stored base64-encoded, as the API does).
    pub fn with_secret(self, namespace: &str, name: &str, data: &[(&str, &str)]) -> Self {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(base64(v.as_bytes()))))
            .collect();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "7"},
            "data": data,
        });
        self.with_object(path_of("v1", "secrets", namespace, name), secret)
    }

    /// The Postgres Secret every sample pipeline references.
    pub fn with_database_secret(self) -> Self {
        self.with_secret(
            NAMESPACE,
            DB_SECRET,
            &[("url", "postgres://app:s3cret@db.shop.svc:5432/baedal")],
        )
    }

    /// Holding any object at a path.
    pub fn with_object(self, path: String, value: Value) -> Self {
        if let Ok(mut s) = self.store.lock() {
            s.objects.insert(path, value);
        }
        self
    }

    /// Requests with this method whose path contains `path_part` fail with `code`.
    pub fn failing(self, method: Method, path_part: &str, code: u16) -> Self {
        if let Ok(mut s) = self.store.lock() {
            s.failures.push((method, path_part.into(), code));
        }
        self
    }

    /// A kube client talking to this server. Needs a tokio runtime.
    pub fn client(&self) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let store = self.store.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let response = answer(&store, request).await;
                send.send_response(response);
            }
        });
        Client::new(service, NAMESPACE)
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.store
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// Every request that changes something, as `METHOD path` lines.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c.is_write())
            .map(Call::line)
            .collect()
    }

    /// Forgets the request log (the objects stay).
    pub fn forget_calls(&self) {
        if let Ok(mut s) = self.store.lock() {
            s.calls.clear();
        }
    }

    /// The object at a path.
    pub fn object(&self, path: &str) -> Option<Value> {
        self.store
            .lock()
            .ok()
            .and_then(|s| s.objects.get(path).cloned())
    }

    /// Every stored object path.
    pub fn paths(&self) -> Vec<String> {
        self.store
            .lock()
            .map(|s| s.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The pipeline as stored (after finalizer and status writes).
    pub fn pipeline(&self, p: &DeliveryPipeline) -> Option<DeliveryPipeline> {
        self.object(&pipeline_path(p))
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// Sets a field of a stored object (e.g. a Deployment's status).
    pub fn set(&self, path: &str, pointer: &str, value: Value) {
        if let Ok(mut s) = self.store.lock() {
            if let Some(o) = s.objects.get_mut(path) {
                set_pointer(o, pointer, value);
            }
        }
    }

    /// Marks every Deployment and StatefulSet as fully available.
    pub fn make_workloads_available(&self) {
        for path in self.paths() {
            if path.contains("/deployments/") || path.contains("/statefulsets/") {
                let replicas = self
                    .object(&path)
                    .and_then(|o| o.pointer("/spec/replicas").cloned())
                    .unwrap_or(json!(1));
                self.set(&path, "/status/availableReplicas", replicas.clone());
                self.set(&path, "/status/readyReplicas", replicas);
            }
        }
    }
}

fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let mut current = target;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Value::Array(items) = current {
            let Ok(index) = part.parse::<usize>() else {
                return;
            };
            if last {
                if index <= items.len() {
                    items.insert(index, value);
                }
                return;
            }
            let Some(next) = items.get_mut(index) else {
                return;
            };
            current = next;
            continue;
        }
        if !current.is_object() {
            *current = json!({});
        }
        let Some(map) = current.as_object_mut() else {
            return;
        };
        if last {
            map.insert(part.to_string(), value);
            return;
        }
        current = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let parent = if parent.is_empty() {
        Some(target)
    } else {
        target.pointer_mut(parent)
    };
    match parent {
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < items.len() {
                    items.remove(i);
                }
            }
        }
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        _ => {}
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn respond(code: u16, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn answer(store: &Arc<Mutex<Store>>, request: Request<Body>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Default::default(),
    };
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let Ok(mut s) = store.lock() else {
        return respond(500, &status_json(500, "InternalError", "store poisoned"));
    };
    let (code, reply) = if method == Method::GET && is_collection(&path) {
        (200, list(&s, &path, &query))
    } else {
        handle(&mut s, &method, &path, &content_type, body.clone())
    };
    s.calls.push(Call {
        method,
        path,
        query,
        body,
        status: code,
    });
    respond(code, &reply)
}

/// Whether a path names a collection (`…/namespaces/ns/jobs`), not an object.
fn is_collection(path: &str) -> bool {
    let segments = path.trim_matches('/').split('/').count();
    (path.starts_with("/api/v1/") && segments == 5) || (path.starts_with("/apis/") && segments == 6)
}

/// The objects of a collection, filtered by `labelSelector=k=v,…`.
fn list(s: &Store, path: &str, query: &str) -> Value {
    let selector: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("labelSelector="))
        .flat_map(|sel| {
            let sel = sel
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/");
            sel.split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let prefix = format!("{path}/");
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
        .filter(|(_, o)| {
            selector.iter().all(|(k, v)| {
                o.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(&json!(v))
            })
        })
        .map(|(_, o)| o.clone())
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
}

fn handle(
    s: &mut Store,
    method: &Method,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, Value) {
    if let Some((_, _, code)) = s
        .failures
        .iter()
        .find(|(m, part, _)| m == method && path.contains(part.as_str()))
    {
        return (
            *code,
            status_json(*code, "InternalError", "injected failure"),
        );
    }
    let (object_path, subresource) = match path.strip_suffix("/status") {
        Some(p) => (p.to_string(), true),
        None => (path.to_string(), false),
    };
    s.resource_version += 1;
    let rv = (s.resource_version + 100).to_string();
    match *method {
        Method::GET => match s.objects.get(&object_path) {
            Some(o) => (200, o.clone()),
            None => (404, status_json(404, "NotFound", "not found")),
        },
        Method::POST => {
            let mut o = body.unwrap_or(Value::Null);
            set_pointer(&mut o, "/metadata/resourceVersion", json!(rv));
            if object_path.contains("/apis/events.k8s.io/") {
                return (201, o);
            }
            let name = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let at = format!("{object_path}/{name}");
            if s.objects.contains_key(&at) {
                return (409, status_json(409, "AlreadyExists", "already exists"));
            }
            s.objects.insert(at, o.clone());
            (201, o)
        }
        Method::PUT => {
            let mut o = body.unwrap_or(Value::Null);
            let Some(current) = s.objects.get(&object_path) else {
                return (404, status_json(404, "NotFound", "not found"));
            };
            // Optimistic concurrency, as the API server does it.
            if current.pointer("/metadata/resourceVersion")
                != o.pointer("/metadata/resourceVersion")
            {
                return (
                    409,
                    status_json(409, "Conflict", "the object has been modified"),
                );
            }
            set_pointer(&mut o, "/metadata/resourceVersion", json!(rv));
            s.objects.insert(object_path, o.clone());
            (200, o)
        }
        Method::DELETE => match s.objects.remove(&object_path) {
            Some(_) => (200, status_json(200, "Deleted", "deleted")),
            None => (404, status_json(404, "NotFound", "not found")),
        },
        Method::PATCH => {
            let body = body.unwrap_or(Value::Null);
            if object_path.contains("/apis/events.k8s.io/") {
                return (200, body);
            }
            if content_type.contains("json-patch") {
                let Some(o) = s.objects.get_mut(&object_path) else {
                    return (404, status_json(404, "NotFound", "not found"));
                };
                for op in body.as_array().into_iter().flatten() {
                    let pointer = op.get("path").and_then(Value::as_str).unwrap_or_default();
                    match op.get("op").and_then(Value::as_str) {
                        Some("add") | Some("replace") => {
                            let v = op.get("value").cloned().unwrap_or(Value::Null);
                            if pointer.ends_with("/-") {
                                let parent = pointer.trim_end_matches("/-");
                                if let Some(Value::Array(items)) = o.pointer_mut(parent) {
                                    items.push(v);
                                }
                            } else {
                                remove_pointer(o, pointer);
                                set_pointer(o, pointer, v);
                            }
                        }
                        Some("remove") => remove_pointer(o, pointer),
                        _ => {}
                    }
                }
                set_pointer(o, "/metadata/resourceVersion", json!(rv));
                return (200, o.clone());
            }
            // Server-side apply.
            if subresource {
                let Some(o) = s.objects.get_mut(&object_path) else {
                    return (404, status_json(404, "NotFound", "not found"));
                };
                set_pointer(
                    o,
                    "/status",
                    body.get("status").cloned().unwrap_or(json!({})),
                );
                set_pointer(o, "/metadata/resourceVersion", json!(rv));
                return (200, o.clone());
            }
            let mut o = body;
            let previous = s.objects.get(&object_path);
            let status = previous.and_then(|p| p.get("status").cloned());
            let uid = previous
                .and_then(|p| p.pointer("/metadata/uid").cloned())
                .unwrap_or_else(|| json!(format!("uid-{rv}")));
            set_pointer(&mut o, "/metadata/uid", uid);
            set_pointer(&mut o, "/metadata/resourceVersion", json!(rv));
            if let Some(status) = status {
                set_pointer(&mut o, "/status", status);
            }
            s.objects.insert(object_path, o.clone());
            (200, o)
        }
        _ => (405, status_json(405, "MethodNotAllowed", "not supported")),
    }
}

/// A data plane that provisions nothing and records what it was asked.
#[derive(Default)]
pub struct FakeDataPlane {
    calls: Mutex<Vec<String>>,
    /// Topic problems to report (e.g. a refused decrease).
    pub problems: Vec<TopicProblem>,
    /// Fail topic provisioning with this message.
    pub topics_error: Option<String>,
    /// Fail migrations with this message.
    pub schema_error: Option<String>,
}

impl FakeDataPlane {
    /// Reporting these topic problems.
    pub fn reporting(problems: Vec<TopicProblem>) -> Self {
        FakeDataPlane {
            problems,
            ..FakeDataPlane::default()
        }
    }

    /// Failing every migration with `message`.
    pub fn failing_migrations(message: &str) -> Self {
        FakeDataPlane {
            schema_error: Some(message.into()),
            ..FakeDataPlane::default()
        }
    }

    /// What it was asked, in order: `ensure_topics a,b`, `migrate schema`, ….
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, call: String) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }
}

impl DataPlane for FakeDataPlane {
    fn ensure_topics<'a>(
        &'a self,
        _config: &'a Config,
        desired: &'a [DesiredTopic],
    ) -> BoxFuture<'a, Result<TopicsOutcome, String>> {
        let names: Vec<&str> = desired.iter().map(|d| d.name.as_str()).collect();
        self.record(format!("ensure_topics {}", names.join(",")));
        let result = match &self.topics_error {
            Some(e) => Err(e.clone()),
            None => Ok(TopicsOutcome {
                topics: desired
                    .iter()
                    .map(|d| TopicStatus {
                        name: d.name.clone(),
                        partitions: d.partitions,
                    })
                    .collect(),
                applied: vec![],
                problems: self.problems.clone(),
            }),
        };
        Box::pin(async move { result })
    }

    fn delete_topics<'a>(
        &'a self,
        _config: &'a Config,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<(), String>> {
        self.record(format!("delete_topics {}", names.join(",")));
        Box::pin(async { Ok(()) })
    }

    fn migrate<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<i64, String>> {
        self.record(format!("migrate {}", config.database.schema));
        let result = match &self.schema_error {
            Some(e) => Err(e.clone()),
            None => Ok(crate::dataplane::latest_migration()),
        };
        Box::pin(async move { result })
    }

    fn drop_schema<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<(), String>> {
        self.record(format!("drop_schema {}", config.database.schema));
        Box::pin(async { Ok(()) })
    }
}

/// The URL path of a built child.
pub fn child_path(child: &crate::build::Child) -> String {
    let ar = crate::apply::api_resource(child.kind());
    path_of(
        &ar.api_version,
        &ar.plural,
        child.meta().namespace.as_deref().unwrap_or(NAMESPACE),
        &child.name(),
    )
}

/// A reconcile context on the mocked API server and a fake data plane.
pub fn context(server: &ApiServer, data: Arc<FakeDataPlane>) -> Arc<crate::reconcile::Context> {
    Arc::new(crate::reconcile::Context::new(
        server.client(),
        data,
        Arc::new(crate::metrics::Metrics::default()),
        Some("test".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"postgres://a"), "cG9zdGdyZXM6Ly9h");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
