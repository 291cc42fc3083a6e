//! The local control plane of `scripts/cluster.sh`, as the suite uses it:
//! an admin client, kubectl, helm, the audit log, and the operator's
//! install (CRD and RBAC) made once per run.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The namespace the operator's ServiceAccount and RBAC live in.
pub const OPERATOR_NAMESPACE: &str = "baedal-system";
/// The operator's ServiceAccount (from the Helm chart).
pub const OPERATOR_ACCOUNT: &str = "baedal-operator";

/// Where the cluster and its tools are (from `scripts/cluster.sh env`).
pub struct Cluster {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub dir: PathBuf,
}

fn env_path(name: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(v) => PathBuf::from(v),
        None => panic!(
            "{name} is not set: the end-to-end suite needs the local control plane \
             (`scripts/cluster.sh up` and `eval \"$(scripts/cluster.sh env)\"`; scripts/test.sh does both)"
        ),
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cluster, with the operator's CRD and RBAC installed (once).
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let c = Cluster {
            kubeconfig: env_path("KUBECONFIG"),
            kubectl: env_path("BAEDAL_KUBECTL"),
            helm: env_path("BAEDAL_HELM"),
            dir: env_path("BAEDAL_CLUSTER_DIR"),
        };
        c.install();
        c
    })
}

impl Cluster {
    /// Runs kubectl as the cluster admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    /// Runs kubectl with `input` on its standard input.
    pub fn kubectl_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(&self.kubectl)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(stdin) = child.stdin.as_mut() {
            let _ = stdin.write_all(input.unwrap_or_default().as_bytes());
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply --server-side -f -` of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_with_input(&["apply", "--server-side", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An admin client (for the test's own reads and writes).
    pub async fn admin(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("admin kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("admin config");
        Client::try_from(config).expect("admin client")
    }

    /// The CRD from `crds/`, and the operator's ServiceAccount and RBAC
    /// exactly as `helm template` renders them (its Deployment is not
    /// applied: the suite runs the operator as a process).
    fn install(&self) {
        let crd = repo().join("crds/deliverypipeline.yaml");
        self.kubectl_ok(&["apply", "--server-side", "-f", &crd.to_string_lossy()]);
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/deliverypipelines.baedal.dev",
            "--timeout=60s",
        ]);
        let ns = self.kubectl(&["get", "namespace", OPERATOR_NAMESPACE]);
        if !ns.status.success() {
            self.kubectl_ok(&["create", "namespace", OPERATOR_NAMESPACE]);
        }
        let chart = repo().join("charts/baedal-operator");
        let out = Command::new(&self.helm)
            .args(["template", "baedal-operator"])
            .arg(&chart)
            .args(["--namespace", OPERATOR_NAMESPACE, "--skip-crds"])
            .output()
            .expect("helm runs");
        assert!(
            out.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        let wanted: Vec<&str> = rendered
            .split("\n---")
            .filter(|doc| {
                [
                    "kind: ServiceAccount",
                    "kind: ClusterRole",
                    "kind: ClusterRoleBinding",
                    "kind: Role",
                    "kind: RoleBinding",
                ]
                .iter()
                .any(|k| doc.lines().any(|l| l.trim() == *k))
            })
            .collect();
        assert!(
            wanted.len() >= 5,
            "helm template rendered no RBAC:\n{rendered}"
        );
        let out = self.kubectl_with_input(
            &[
                "apply",
                "--server-side",
                "-n",
                OPERATOR_NAMESPACE,
                "-f",
                "-",
            ],
            Some(&wanted.join("\n---\n")),
        );
        assert!(
            out.status.success(),
            "applying the chart's RBAC: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A short-lived token of the operator's own ServiceAccount
    /// (TokenRequest), never the admin's credentials.
    pub fn operator_token(&self) -> String {
        self.kubectl_ok(&[
            "create",
            "token",
            OPERATOR_ACCOUNT,
            "-n",
            OPERATOR_NAMESPACE,
            "--duration=2h",
        ])
        .trim()
        .to_string()
    }

    /// A kubeconfig that authenticates with `token`, written to `dir`.
    pub fn kubeconfig_for_token(&self, token: &str, dir: &Path) -> PathBuf {
        let ca = self.dir.join("pki/ca.crt");
        let path = dir.join("operator.kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority: {}\nusers:\n- name: operator\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context: {{cluster: local, user: operator}}\ncurrent-context: local\n",
            ca.display()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Audit events (the apiserver logs every write) of the operator's
    /// ServiceAccount in `namespace`, after `since` (RFC 3339 micro).
    pub fn operator_writes(&self, namespace: &str, since: &str) -> Vec<Value> {
        // The audit backend flushes at least every second.
        std::thread::sleep(Duration::from_millis(2500));
        let text = std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default();
        let user = format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}");
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == user.as_str())
            .filter(|e| e["objectRef"]["namespace"] == namespace)
            .filter(|e| e["stageTimestamp"].as_str().is_some_and(|t| t > since))
            .collect()
    }
}

/// Now, in the audit log's timestamp format.
pub fn audit_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_or_explain(what, limit, check, String::new).await
}

/// [`eventually`], and on a timeout the panic adds what `explain` says.
pub async fn eventually_or_explain<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut check: F,
    explain: impl Fn() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}{}",
            explain()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
