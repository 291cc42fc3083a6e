//! The operator as a process, authenticated as its own ServiceAccount, and
//! the test's namespace with a pipeline in it.

use crate::cluster::{cluster, repo};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `baedal-operator run`, killed when dropped.
pub struct Operator {
    child: Child,
    pub identity: String,
    /// The audit log's `credential-id` of this process's token (`JTI=…`).
    credential: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The Lease of the operators of one test namespace.
pub fn lease_name(namespace: &str) -> String {
    format!("baedal-operator-{namespace}")
}

/// How long a lease lasts in the suite (short, so failover is quick).
pub const LEASE_SECONDS: u64 = 6;

impl Operator {
    /// Starts an operator for the pipelines of `namespace`.
    pub fn start(namespace: &str, identity: &str) -> Operator {
        let c = cluster();
        let dir = tempfile::tempdir().expect("tempdir");
        let token = c.operator_token();
        let credential = format!("JTI={}", jwt_claim(&token, "jti"));
        let kubeconfig = c.kubeconfig_for_token(&token, dir.path());
        let log = dir.path().join("operator.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_baedal-operator"))
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                "--watch-namespace",
                namespace,
                // The chart's Role allows Leases in the operator's own namespace only.
                "--lease-namespace",
                crate::cluster::OPERATOR_NAMESPACE,
                "--lease-name",
                &lease_name(namespace),
                "--identity",
                identity,
                "--lease-seconds",
                &LEASE_SECONDS.to_string(),
                "--cleanup-timeout-seconds",
                "15",
            ])
            .env("KUBECONFIG", &kubeconfig)
            // `baedal_operator::run=debug` logs each finished reconcile ("reconciled").
            .env("BAEDAL_LOG", "info,kube=warn,baedal_operator::run=debug")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("operator starts");
        Operator {
            child,
            identity: identity.into(),
            credential,
            log,
            _dir: dir,
        }
    }

    /// The audit log's credential id of this process's token.
    pub fn credential(&self) -> String {
        self.credential.clone()
    }

    /// What the operator logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`KILL`, `TERM`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits up to `limit` for the process to exit; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "--- operator {}: the end of its log ---\n{}",
                self.identity,
                tail.join("\n")
            );
        }
    }
}

/// Where the local data services are (from `scripts/services.sh --env`).
pub fn service(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (scripts/services.sh --env)"))
}

/// A fresh namespace for one test, deleted (without waiting) when dropped,
/// with the Postgres schema and the Kafka topics its pipeline was given.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn create(prefix: &str) -> Namespace {
        let name = format!("{prefix}-{}", std::process::id() % 100_000);
        let c = cluster();
        let _ = c.kubectl(&["delete", "namespace", &name, "--wait=true", "--timeout=60s"]);
        c.kubectl_ok(&["create", "namespace", &name]);
        Namespace { name }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = cluster().kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
            // The quickstart's schema and topics are named after the
            // namespace ([`quickstart_yaml`]); the test's operator, stopped
            // before this, cannot remove them. Removed on a thread of its
            // own: this runs inside the test's runtime, which cannot block.
            let schema = self.name.replace('-', "_");
            let topic_prefix = format!("{}.", self.name);
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async {
                        crate::pods::drop_schema(&schema).await;
                        crate::pods::delete_topics_with_prefix(&topic_prefix).await;
                    });
            })
            .join();
        }
    }
}

/// The kind quick start (`examples/kind/pipeline.yaml`) in `namespace`,
/// with the Kafka and Postgres on loopback, and topics and schema of its
/// own, as a YAML document.
pub fn quickstart_yaml(namespace: &str) -> String {
    let text =
        std::fs::read_to_string(repo().join("examples/kind/pipeline.yaml")).expect("example");
    let schema = namespace.replace('-', "_");
    let replaced = text
        .replace("namespace: baedal\n", &format!("namespace: {namespace}\n"))
        .replace(
            "bootstrapServers: kafka-0.kafka.baedal.svc:9092",
            &format!("bootstrapServers: {}", service("BAEDAL_KAFKA_BOOTSTRAP")),
        )
        .replace(
            "topicPrefix: baedal.",
            &format!("topicPrefix: {namespace}."),
        )
        .replace("    schema: baedal\n", &format!("    schema: {schema}\n"));
    assert_ne!(replaced, text, "the example changed shape");
    replaced
}

/// The Postgres Secret the example names, pointing at the local Postgres.
pub fn postgres_secret_yaml(namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: baedal-postgres\n  namespace: {namespace}\nstringData:\n  url: {}\n",
        service("BAEDAL_DATABASE_URL")
    )
}

/// Creates the example pipeline and its Secret in `namespace`.
pub fn create_quickstart(namespace: &str) {
    apply_with_secret(namespace, &quickstart_yaml(namespace));
}

/// Applies the Postgres Secret, then `pipeline` (a YAML document).
fn apply_with_secret(namespace: &str, pipeline: &str) {
    let c = cluster();
    c.apply(&postgres_secret_yaml(namespace));
    c.apply(pipeline);
}

/// [`create_quickstart`] with an ETL schedule that does not come due for
/// hours, for a test that needs the status to stay still: the example's
/// `*/5` CronJob starts a Job every five minutes, and the Job's progress is
/// rightly reported in the status.
pub fn create_quickstart_without_etl_runs(namespace: &str) {
    use chrono::Timelike;
    // The CronJob controller reads a schedule without a time zone in its
    // own, the host's, local time.
    let hour = (chrono::Local::now().hour() + 12) % 24;
    let example = quickstart_yaml(namespace);
    let yaml = example.replace(
        "schedule: \"*/5 * * * *\"",
        &format!("schedule: \"0 {hour} * * *\""),
    );
    assert_ne!(yaml, example, "the example's schedule changed");
    apply_with_secret(namespace, &yaml);
}

/// A claim of a JWT's payload (base64url JSON), e.g. its `jti`.
fn jwt_claim(token: &str, claim: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in payload.bytes().filter(|c| *c != b'=') {
        let v = alphabet.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JWT payload");
    json[claim].as_str().expect("claim").to_string()
}
