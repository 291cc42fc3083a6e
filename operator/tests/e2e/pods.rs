//! The pods the operator writes, run for real: the cluster has no kubelet
//! (kwok reports pods Running), so this harness starts a Pod's container on
//! this host exactly as its spec says — command and args, environment
//! (values, `secretKeyRef`, `configMapKeyRef`, `envFrom`), the ConfigMap and
//! emptyDir volumes at their mount paths (in a private mount namespace),
//! and the user of its security context — against the local Kafka,
//! Postgres and Redis. When the process ends, its exit code becomes the
//! pod's status, as a kubelet would report it, so Jobs complete or fail.
//!
//! The image a container names is read from its list, images/<name>.list,
//! the one description scripts/images.sh and the Dockerfiles build it from:
//! the harness lays out the same files (this build's binary at the list's
//! path, the list's directories), starts with the image's environment, and
//! runs the image's entrypoint and command where the pod spec gives no
//! command or no args, as a container runtime would.

use crate::cluster::{cluster, eventually, repo};
use crate::operator::{quickstart_yaml, service, Namespace, Operator};
use baedal_operator::crd::DeliveryPipeline;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What images/<name>.list says of an image.
#[derive(Debug, Default)]
struct ImageList {
    /// Binaries of this build: name and path in the image.
    binaries: Vec<(String, String)>,
    /// Directories of the repository: source and path in the image.
    trees: Vec<(String, String)>,
    env: Vec<(String, String)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

impl ImageList {
    /// The list of the image `reference` names (`registry/baedal:tag` → baedal).
    fn of(reference: &str) -> ImageList {
        let without_tag = reference.rsplit_once(':').map_or(reference, |(name, tag)| {
            if tag.contains('/') {
                reference
            } else {
                name
            }
        });
        let name = without_tag.rsplit('/').next().unwrap_or(without_tag);
        let path = repo().join("images").join(format!("{name}.list"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the pod's image {reference}: {}: {e}", path.display()));
        let mut list = ImageList::default();
        for line in text.lines() {
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            match words.first().map(String::as_str) {
                Some("binary") => list.binaries.push((words[1].clone(), words[2].clone())),
                Some("tree") => list.trees.push((words[1].clone(), words[2].clone())),
                Some("env") => {
                    let (k, v) = words[1].split_once('=').expect("env NAME=value");
                    list.env.push((k.into(), v.into()));
                }
                Some("entrypoint") => list.entrypoint = words[1..].to_vec(),
                Some("cmd") => list.cmd = words[1..].to_vec(),
                _ => {}
            }
        }
        list
    }
}

/// The `baedal` binary of this build (the workloads image's entrypoint).
fn baedal_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("baedal");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`)",
        bin.display()
    );
    bin
}

/// A Kafka client's settings for the local broker.
fn kafka_client_config() -> rdkafka::ClientConfig {
    let mut config = baedal_contract::config::Config::default();
    config.kafka.bootstrap = service("BAEDAL_KAFKA_BOOTSTRAP");
    baedal_contract::kafka::client_config(&config)
}

/// Deletes the Kafka topics that start with `prefix` (those a test's
/// pipeline made); what fails to go is left.
pub async fn delete_topics_with_prefix(prefix: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let names = topics_with_prefix(prefix);
    if names.is_empty() {
        return;
    }
    let Ok(admin) = kafka_client_config().create::<AdminClient<DefaultClientContext>>() else {
        return;
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
}

/// Names of the Kafka topics that start with `prefix`.
pub fn topics_with_prefix(prefix: &str) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = kafka_client_config().create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

async fn postgres() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&service("BAEDAL_DATABASE_URL"))
        .await
        .expect("postgres")
}

/// Whether the Postgres schema exists.
pub async fn schema_exists(schema: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)",
    )
    .bind(schema)
    .fetch_one(&mut postgres().await)
    .await
    .expect("query")
}

/// Drops a schema the suite made.
pub async fn drop_schema(schema: &str) {
    assert!(schema
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let mut db = postgres().await;
    // A workload still stopping may hold a lock a moment: wait, not forever.
    sqlx::query("SET lock_timeout = '20s'")
        .execute(&mut db)
        .await
        .expect("lock timeout");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut db)
        .await
        .expect("drop schema");
}

/// A pod's container, running on this host.
pub struct PodProcess {
    child: Child,
    pod: String,
    container: String,
    dir: tempfile::TempDir,
}

fn secret_value(secrets: &[Secret], name: &str, key: &str) -> String {
    let s = secrets
        .iter()
        .find(|s| s.name_any() == name)
        .unwrap_or_else(|| panic!("the pod names Secret {name}, which does not exist"));
    let bytes = s
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("Secret {name} has no key {key}"));
    String::from_utf8(bytes.0.clone()).expect("utf-8 secret")
}

/// Starts the first container of `pod` as its spec says.
pub async fn start(client: &Client, pod: &Pod) -> PodProcess {
    let ns = pod.namespace().expect("namespace");
    let spec = pod.spec.clone().expect("pod spec");
    let container = spec.containers[0].clone();
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("secrets")
        .items;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("configmaps")
        .items;
    // Not under /tmp: the pod's own /tmp (an emptyDir) is mounted over it.
    std::fs::create_dir_all("/var/tmp/baedal").expect("/var/tmp/baedal");
    let dir = tempfile::Builder::new()
        .prefix("e2e-pod-")
        .tempdir_in("/var/tmp/baedal")
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The image's files, then the volumes, in the private mount namespace
    // at their paths.
    let image = ImageList::of(
        container
            .image
            .as_deref()
            .expect("the container names its image"),
    );
    let mut mounts: Vec<(PathBuf, String)> = Vec::new();
    for (name, path) in &image.binaries {
        let (parent, file) = path.rsplit_once('/').expect("an absolute path");
        let bin = dir
            .path()
            .join(format!("image-{}", parent.replace('/', "-")));
        std::fs::create_dir_all(&bin).expect("bin dir");
        assert_eq!(
            name, "baedal",
            "the harness has this build's baedal binary only"
        );
        std::fs::copy(baedal_binary(), bin.join(file)).expect("copy baedal");
        mounts.push((bin, parent.into()));
    }
    for (source, path) in &image.trees {
        mounts.push((repo().join(source), path.clone()));
    }
    for m in container.volume_mounts.clone().unwrap_or_default() {
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .unwrap_or_else(|| panic!("mount {} names no volume", m.name));
        let source = dir.path().join(format!("volume-{}", m.name));
        std::fs::create_dir(&source).expect("volume dir");
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        if let Some(cm) = &volume.config_map {
            let map = config_maps
                .iter()
                .find(|c| c.name_any() == cm.name)
                .unwrap_or_else(|| panic!("ConfigMap {} is missing", cm.name));
            for (key, value) in map.data.clone().unwrap_or_default() {
                std::fs::write(source.join(key), value).expect("config file");
            }
        } else {
            assert!(
                volume.empty_dir.is_some(),
                "volume {} is neither a ConfigMap nor an emptyDir",
                m.name
            );
        }
        mounts.push((source, m.mount_path.clone()));
    }
    // The environment: the image's, then what the spec gives, as in a container.
    let mut env: Vec<(String, String)> = image.env.clone();
    for from in container.env_from.clone().unwrap_or_default() {
        if let Some(r) = from.secret_ref {
            let s = secrets
                .iter()
                .find(|s| s.name_any() == r.name)
                .expect("envFrom Secret");
            for (k, v) in s.data.clone().unwrap_or_default() {
                env.push((k, String::from_utf8_lossy(&v.0).into_owned()));
            }
        }
    }
    for e in container.env.clone().unwrap_or_default() {
        let value = match (e.value, e.value_from) {
            (Some(v), _) => v,
            (None, Some(from)) => {
                if let Some(r) = from.secret_key_ref {
                    secret_value(&secrets, &r.name, &r.key)
                } else if let Some(r) = from.config_map_key_ref {
                    let map = config_maps
                        .iter()
                        .find(|c| c.name_any() == r.name)
                        .expect("ConfigMap");
                    map.data.clone().unwrap_or_default()[&r.key].clone()
                } else {
                    panic!("env {} uses a source the harness does not know", e.name)
                }
            }
            (None, None) => String::new(),
        };
        env.push((e.name, value));
    }
    let mut script = String::from("set -e\n");
    for (i, (_, target)) in mounts.iter().enumerate() {
        script.push_str(&format!(
            "mkdir -p '{target}'\nmount --bind \"${{M{i}}}\" '{target}'\n"
        ));
    }
    let user = spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .expect("the pod names its user");
    script.push_str(&format!(
        "exec setpriv --reuid {user} --regid {user} --clear-groups -- \"$@\"\n"
    ));
    // A command replaces the image's entrypoint and command; args replace its command.
    let argv: Vec<String> = match (&container.command, &container.args) {
        (Some(command), args) => [command.clone(), args.clone().unwrap_or_default()].concat(),
        (None, Some(args)) => [image.entrypoint.clone(), args.clone()].concat(),
        (None, None) => [image.entrypoint.clone(), image.cmd.clone()].concat(),
    };
    assert!(
        !argv.is_empty(),
        "the harness runs what the pod names; this one names nothing"
    );
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .args(&argv)
        .env_clear()
        .envs(env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    for (i, (source, _)) in mounts.iter().enumerate() {
        command.env(format!("M{i}"), source);
    }
    let child = command.spawn().expect("unshare runs");
    PodProcess {
        child,
        pod: pod.name_any(),
        container: container.name,
        dir,
    }
}

impl PodProcess {
    /// What the container printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Waits for the process to end (up to `limit`) and reports its exit
    /// code as the pod's status; the exit code.
    pub async fn finish(mut self, client: &Client, namespace: &str, limit: Duration) -> i32 {
        let started = std::time::Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "pod {} still running after {limit:?}:\n{}",
                    self.pod,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let code = status.code().unwrap_or(137);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let body = json!({"status": {
            "phase": if code == 0 { "Succeeded" } else { "Failed" },
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
            "containerStatuses": [{
                "name": self.container, "image": "baedal:dev", "imageID": "", "ready": false,
                "restartCount": 0, "started": false,
                "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": now, "finishedAt": now}}
            }]
        }});
        pods.patch_status(&self.pod, &PatchParams::default(), &Patch::Strategic(body))
            .await
            .expect("report the pod's end");
        if code != 0 {
            eprintln!("pod {} exited {code}:\n{}", self.pod, self.log());
        }
        code
    }

    /// Stops a long-running container.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pod of a Job (or Deployment), by label, once it is scheduled.
async fn pod_with_label(client: &Client, namespace: &str, selector: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    eventually(
        &format!("a pod {selector}"),
        Duration::from_secs(60),
        || async {
            pods.list(&ListParams::default().labels(selector))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        },
    )
    .await
}

/// Runs the Job's next pod to its end, and reports it; its exit code.
async fn run_next_pod(client: &Client, namespace: &str, job: &str, limit: Duration) -> i32 {
    let pod = pod_with_label(client, namespace, &format!("job-name={job}")).await;
    start(client, &pod)
        .await
        .finish(client, namespace, limit)
        .await
}

/// `kubectl create job JOB --from=cronjob/quickstart-etl`.
fn etl_job_now(namespace: &str, job: &str) {
    cluster().kubectl_ok(&[
        "create",
        "job",
        job,
        "--from=cronjob/quickstart-etl",
        "-n",
        namespace,
    ]);
}

async fn condition(client: &Client, ns: &str, type_: &str) -> Option<(String, String)> {
    let p = Api::<DeliveryPipeline>::namespaced(client.clone(), ns)
        .get_opt("quickstart")
        .await
        .ok()??;
    let c = p.condition(type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// Waits up to `seconds` for the quickstart's condition `type_` to have
/// this (status, reason).
async fn until_condition(
    client: &Client,
    ns: &str,
    type_: &str,
    (status, reason): (&str, &str),
    seconds: u64,
) {
    let limit = Duration::from_secs(seconds);
    let wanted = Some((status.to_string(), reason.to_string()));
    eventually(&format!("{type_} {reason}"), limit, || async {
        (condition(client, ns, type_).await == wanted).then_some(())
    })
    .await;
}

/// The quickstart, every pod run for real: the ingest Job reads the sample
/// into Kafka, a Job made from the ETL CronJob loads Postgres, and the API
/// pod answers `/readyz` and serves the loaded data.
pub async fn runs_as_declared() {
    let ns = Namespace::create("e2e-run");
    let c = cluster();
    let schema = ns.name.replace('-', "_");
    let client = c.admin().await;
    c.apply(&crate::operator::postgres_secret_yaml(&ns.name));
    c.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: baedal-redis\n  namespace: {}\nstringData:\n  url: {}\n",
        ns.name,
        service("BAEDAL_REDIS_URL")
    ));
    // The ElastiCache shape: an External Redis by URL Secret, reachable from this host.
    let yaml = quickstart_yaml(&ns.name).replace(
        "  redis:\n    mode: Managed\n",
        &format!("  redis:\n    mode: External\n    urlSecret: {{name: baedal-redis, key: url}}\n    keyPrefix: \"{}:\"\n", ns.name),
    );
    assert!(yaml.contains("mode: External"));
    c.apply(&yaml);
    let _operator = Operator::start(&ns.name, "op-run");
    eventually("Ready", Duration::from_secs(90), || async {
        (condition(&client, &ns.name, "Ready").await?.0 == "True").then_some(())
    })
    .await;

    // The batch ingest Job.
    let code = run_next_pod(
        &client,
        &ns.name,
        "quickstart-ingest",
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(code, 0, "the ingest failed");
    until_condition(&client, &ns.name, "Ingest", ("True", "Completed"), 30).await;

    // A Job made from the ETL CronJob, as `kubectl create job --from` does.
    etl_job_now(&ns.name, "etl-now");
    let code = run_next_pod(&client, &ns.name, "etl-now", Duration::from_secs(300)).await;
    assert_eq!(code, 0, "the ETL failed");
    until_condition(&client, &ns.name, "Etl", ("True", "Succeeded"), 30).await;
    let orders: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{schema}\".orders"))
        .fetch_one(&mut postgres().await)
        .await
        .expect("orders");
    assert!(orders > 500, "the ETL loaded {orders} orders");

    // The API pod's process: ready, and serving the loaded data.
    let pod = pod_with_label(&client, &ns.name, "app.kubernetes.io/component=api").await;
    let api = start(&client, &pod).await;
    let body = eventually("the API's /readyz", Duration::from_secs(60), || async {
        let ready = http_get("127.0.0.1:8080", "/readyz").await?;
        ready.0.starts_with("HTTP/1.1 200").then_some(())?;
        http_get("127.0.0.1:8080", "/analytics/order-trends").await
    })
    .await;
    let log = api.log();
    api.stop();
    assert!(body.0.starts_with("HTTP/1.1 200"), "{}\n{log}", body.0);
    let json: serde_json::Value =
        serde_json::from_str(&body.1).unwrap_or_else(|e| panic!("{e}: {}", body.1));
    assert!(json.to_string().contains("orders"), "{json}");

    // A failing ETL run fails its Job, and the Etl condition says so. The
    // schedule first moves out of the test's way: a Job the CronJob starts
    // meanwhile would be the newest run, and the condition would report it.
    crate::patch_pipeline(&ns.name, r#"{"spec":{"etl":{"schedule":"0 0 1 1 *"}}}"#);
    eventually("the yearly schedule", Duration::from_secs(30), || async {
        (c.kubectl_ok(&[
            "get",
            "cronjob",
            "quickstart-etl",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.schedule}",
        ]) == "0 0 1 1 *")
            .then_some(())
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .patch(
            "baedal-postgres",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"url": "postgres://nobody@127.0.0.1:1/none"}})),
        )
        .await
        .expect("break the database URL");
    etl_job_now(&ns.name, "etl-broken");
    // Each retry of the Job (backoffLimit 2: three pods) fails the same way.
    for _ in 0..3 {
        let failed = c.kubectl_ok(&[
            "get",
            "job",
            "etl-broken",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].status}",
        ]);
        if failed == "True" {
            break;
        }
        let code = run_next_pod(&client, &ns.name, "etl-broken", Duration::from_secs(120)).await;
        assert_ne!(code, 0, "an ETL without its database succeeded");
    }
    until_condition(&client, &ns.name, "Etl", ("False", "EtlJobFailed"), 60).await;
    drop_schema(&schema).await;
}

/// A plain HTTP/1.1 GET: (status line and headers, body).
async fn http_get(address: &str, path: &str) -> Option<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}
