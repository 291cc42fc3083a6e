//! The operator against a real Kubernetes control plane (`scripts/cluster.sh`:
//! etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
//! nodes), RBAC enforced, the operator running as its own ServiceAccount.
//! Each test has a namespace and an operator process of its own.

mod cluster;
mod followers;
mod operator;
mod pods;

use baedal_operator::crd::DeliveryPipeline;
use cluster::{
    audit_now, cluster, eventually, eventually_or_explain, OPERATOR_ACCOUNT, OPERATOR_NAMESPACE,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use operator::{
    create_quickstart, create_quickstart_without_etl_runs, quickstart_yaml, Namespace, Operator,
    LEASE_SECONDS,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "quickstart";
const READY_WITHIN: Duration = Duration::from_secs(90);
const RECREATED_WITHIN: Duration = Duration::from_secs(20);

async fn pipeline(client: &Client, ns: &str) -> Option<DeliveryPipeline> {
    Api::<DeliveryPipeline>::namespaced(client.clone(), ns)
        .get_opt(NAME)
        .await
        .ok()
        .flatten()
}

async fn wait_ready(client: &Client, ns: &str) -> DeliveryPipeline {
    eventually("the pipeline's Ready condition", READY_WITHIN, || async {
        let p = pipeline(client, ns).await?;
        let ready = p.condition("Ready")?;
        (ready.status == "True" && p.status.as_ref()?.observed_generation == p.metadata.generation)
            .then_some(p)
    })
    .await
}

/// Waits until `path` of the child `kind`/`name` reads `wanted`.
async fn until_field(ns: &str, kind: &str, name: &str, path: &str, wanted: &str) {
    let what = format!("{kind}/{name} {path} = {wanted}");
    eventually(&what, RECREATED_WITHIN, || async {
        (field(ns, kind, name, path) == wanted).then_some(())
    })
    .await;
}

/// A namespace `e2e-{name}` with an operator of its own (`op-{name}`) and the
/// quickstart pipeline, which `create` applies, Ready.
async fn ready_quickstart(name: &str, create: fn(&str)) -> (Namespace, Operator, Client) {
    let ns = Namespace::create(&format!("e2e-{name}"));
    let operator = Operator::start(&ns.name, &format!("op-{name}"));
    create(&ns.name);
    let client = cluster().admin().await;
    wait_ready(&client, &ns.name).await;
    (ns, operator, client)
}

/// Every child the quickstart has, as (kubectl resource, name).
fn children() -> Vec<(&'static str, String)> {
    // Each child is named after the pipeline and the part it serves.
    let parts: [(&str, &[&str]); 5] = [
        (
            "api",
            &[
                "serviceaccount",
                "service",
                "deployment",
                "poddisruptionbudget",
            ],
        ),
        ("etl", &["serviceaccount", "cronjob"]),
        ("ingest", &["serviceaccount", "job"]),
        ("redis", &["serviceaccount", "service", "statefulset"]),
        ("config", &["configmap"]),
    ];
    parts
        .into_iter()
        .flat_map(|(part, kinds)| {
            kinds
                .iter()
                .map(move |kind| (*kind, format!("{NAME}-{part}")))
        })
        .collect()
}

/// `kubectl get` of one field (a JSONPath) of one object.
fn get_field(ns: &str, kind: &str, name: &str, path: &str) -> std::process::Output {
    let jsonpath = format!("jsonpath={{{path}}}");
    cluster().kubectl(&["get", kind, name, "-n", ns, "-o", &jsonpath])
}

fn uid_of(ns: &str, kind: &str, name: &str) -> Option<String> {
    let out = get_field(ns, kind, name, ".metadata.uid");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        .filter(|u| !u.is_empty())
}

/// A merge patch of the example pipeline, as `kubectl patch` sends it.
fn patch_pipeline(ns: &str, patch: &str) {
    cluster().kubectl_ok(&["patch", "dp", NAME, "-n", ns, "--type=merge", "-p", patch]);
}

fn field(ns: &str, kind: &str, name: &str, path: &str) -> String {
    let out = get_field(ns, kind, name, path);
    assert!(
        out.status.success(),
        "kubectl get {kind}/{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_crd_installs_and_kubectl_explains_its_fields() {
    let c = cluster();
    let crd = c.kubectl_ok(&[
        "get",
        "crd",
        "deliverypipelines.baedal.dev",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
    ]);
    assert_eq!(crd, "True");
    let explained = c.kubectl_ok(&["explain", "dp.spec.etl.schedule"]);
    assert!(explained.contains("five fields"), "{explained}");
    assert!(explained.contains("minute 0-59"), "{explained}");
}

#[tokio::test]
async fn the_apiserver_refuses_invalid_specs_with_the_rules_message() {
    let ns = Namespace::create("e2e-admission");
    let c = cluster();
    let good = quickstart_yaml(&ns.name);
    let long_name = format!("name: {}", "q".repeat(47));
    // What is wrong, the text of the good example it changes, what it
    // becomes, and the words the apiserver's refusal must contain.
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "min > max replicas",
            "    replicas: 1\n",
            "    replicas: 1\n    autoscaling: {minReplicas: 5, maxReplicas: 2}\n",
            "minReplicas must not exceed maxReplicas",
        ),
        (
            "partitions 0",
            "partitions: 3",
            "partitions: 0",
            "partitions must be at least 1",
        ),
        (
            "External Redis without its Secret",
            "mode: Managed",
            "mode: External",
            "External redis needs urlSecret",
        ),
        (
            "a Kafka CA without TLS",
            "  kafka:\n",
            "  kafka:\n    caSecret: {name: kafka-ca, key: ca.crt}\n",
            "kafka.caSecret needs securityProtocol SSL or SASL_SSL",
        ),
        (
            "a CA for the managed Redis",
            "    mode: Managed\n",
            "    mode: Managed\n    caSecret: {name: redis-ca, key: ca.crt}\n",
            "redis.caSecret is for External redis",
        ),
        (
            "a six-field schedule",
            "\"*/5 * * * *\"",
            "\"0 */5 * * * *\"",
            "five cron fields",
        ),
        (
            "a minute out of range",
            "\"*/5 * * * *\"",
            "\"99 * * * *\"",
            "minute 0-59",
        ),
        (
            "a name with dots",
            "name: quickstart",
            "name: quick.start",
            "metadata.name must be",
        ),
        (
            "a name too long for a CronJob",
            "name: quickstart",
            &long_name,
            "metadata.name must be",
        ),
    ];
    for (what, from, to, message) in cases {
        let yaml = good.replace(from, to);
        assert_ne!(yaml, good, "{what}: the example changed shape");
        let out = c.kubectl_with_input(&["apply", "--server-side", "-f", "-"], Some(&yaml));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} was accepted");
        assert!(stderr.contains(message), "{what}: {stderr}");
    }
    let typo = good.replace("  etl:\n", "  etl:\n    schedul: \"* * * * *\"\n");
    let out = c.kubectl_with_input(&["apply", "--validate=strict", "-f", "-"], Some(&typo));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unknown field was accepted");
    assert!(
        stderr.contains("unknown field \"spec.etl.schedul\""),
        "{stderr}"
    );
    // And the good one is accepted.
    c.apply(&good);
}

#[tokio::test]
async fn the_operators_account_may_do_what_it_needs_and_nothing_more() {
    let c = cluster();
    let who = format!("--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}");
    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        all.push(&who);
        String::from_utf8_lossy(&c.kubectl(&all).stdout)
            .trim()
            .to_string()
    };
    for allowed in [
        &["patch", "deliverypipelines.baedal.dev", "-A"][..],
        &["patch", "deliverypipelines.baedal.dev/status", "-A"],
        &["get", "secrets", "-A"],
        &["watch", "secrets", "-A"],
        &["patch", "deployments.apps", "-A"],
        &["delete", "jobs.batch", "-A"],
        &["create", "events.events.k8s.io", "-A"],
        &[
            "update",
            "leases.coordination.k8s.io",
            "-n",
            OPERATOR_NAMESPACE,
        ],
    ] {
        assert_eq!(can(allowed), "yes", "{allowed:?}");
    }
    for refused in [
        &["create", "pods", "-A"][..],
        &["delete", "secrets", "-A"],
        &["create", "secrets", "-A"],
        &["patch", "secrets", "-A"],
        &["get", "nodes"],
        &["delete", "deliverypipelines.baedal.dev", "-A"],
        &["create", "clusterroles.rbac.authorization.k8s.io"],
        &["create", "rolebindings.rbac.authorization.k8s.io", "-A"],
        &["impersonate", "users"],
        &["update", "leases.coordination.k8s.io", "-n", "kube-system"],
        &["create", "customresourcedefinitions.apiextensions.k8s.io"],
    ] {
        assert_eq!(can(refused), "no", "{refused:?}");
    }
}

#[tokio::test]
async fn the_quickstart_becomes_ready_and_owns_every_child() {
    let (ns, _operator, client) = ready_quickstart("ready", create_quickstart).await;
    let p = wait_ready(&client, &ns.name).await;
    let uid = p.uid().expect("uid");
    for (kind, name) in children() {
        let owner = field(&ns.name, kind, &name, ".metadata.ownerReferences[0]");
        let owner: serde_json::Value = serde_json::from_str(&owner)
            .unwrap_or_else(|e| panic!("{kind}/{name} owner: {e}: {owner:?}"));
        assert_eq!(owner["uid"], uid.as_str(), "{kind}/{name}");
        assert_eq!(owner["controller"], true, "{kind}/{name}");
        assert_eq!(owner["kind"], "DeliveryPipeline", "{kind}/{name}");
    }
    let status = p.status.clone().expect("status");
    assert_eq!(status.topics.len(), 5, "{status:?}");
    assert!(status.schema.is_some_and(|s| s.version > 0));
    let table = cluster().kubectl_ok(&["get", "dp", "-n", &ns.name]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "PHASE", "API", "AGE"], "{table}");
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], [NAME, "True", "Running"], "{table}");
    assert!(row[3].starts_with("http://quickstart-api."), "{table}");
}

#[tokio::test]
async fn drift_is_put_back_and_a_rotated_secret_rolls_the_pods_once() {
    let (ns, _operator, client) = ready_quickstart("drift", create_quickstart).await;
    let c = cluster();
    // A deleted child of each kind comes back.
    for (kind, name) in children() {
        let before =
            uid_of(&ns.name, kind, &name).unwrap_or_else(|| panic!("{kind}/{name} exists"));
        c.kubectl_ok(&[
            "delete",
            kind,
            &name,
            "-n",
            &ns.name,
            "--wait=true",
            "--timeout=30s",
        ]);
        eventually(
            &format!("{kind}/{name} recreated"),
            RECREATED_WITHIN,
            || async { uid_of(&ns.name, kind, &name).filter(|u| *u != before) },
        )
        .await;
    }
    wait_ready(&client, &ns.name).await;
    // A `kubectl scale` and an edit of a field the operator owns are reverted.
    let api = format!("{NAME}-api");
    c.kubectl_ok(&["scale", "deployment", &api, "-n", &ns.name, "--replicas=3"]);
    c.kubectl_ok(&[
        "patch",
        "cronjob",
        &format!("{NAME}-etl"),
        "-n",
        &ns.name,
        "--type=merge",
        "-p",
        r#"{"spec":{"schedule":"0 0 * * *"}}"#,
    ]);
    until_field(&ns.name, "deployment", &api, ".spec.replicas", "1").await;
    let etl = format!("{NAME}-etl");
    until_field(&ns.name, "cronjob", &etl, ".spec.schedule", "*/5 * * * *").await;
    wait_ready(&client, &ns.name).await;
    // A rotated Secret rolls the pods that read it, exactly once.
    let generation = |ns: &str| {
        field(ns, "deployment", &api, ".metadata.generation")
            .parse::<i64>()
            .unwrap_or(0)
    };
    let before = generation(&ns.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let url = format!(
        "{}?application_name=rotated",
        operator::service("BAEDAL_DATABASE_URL")
    );
    secrets
        .patch(
            "baedal-postgres",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"url": url}})),
        )
        .await
        .expect("rotate");
    eventually("the API rolled", RECREATED_WITHIN, || async {
        (generation(&ns.name) == before + 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(generation(&ns.name), before + 1, "rolled more than once");
}

#[tokio::test]
async fn a_steady_pipeline_writes_nothing_and_a_change_writes_only_its_child() {
    let (ns, _operator, client) =
        ready_quickstart("steady", create_quickstart_without_etl_runs).await;
    // Let the controllers finish updating the children's status (each update wakes the operator).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let c = cluster();
    let since = audit_now();
    // Wake the operator without changing anything it owns: a label on the pipeline.
    c.kubectl_ok(&["label", "dp", NAME, "-n", &ns.name, "touched=yes"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = c.operator_writes(&ns.name, &since);
    assert!(writes.is_empty(), "writes at steady state: {writes:#?}");

    let versions = |ns: &str| -> BTreeMap<String, String> {
        children()
            .into_iter()
            .map(|(kind, name)| {
                let rv = field(ns, kind, &name, ".metadata.resourceVersion");
                (format!("{kind}/{name}"), rv)
            })
            .collect()
    };
    let before = versions(&ns.name);
    let since = audit_now();
    patch_pipeline(&ns.name, r#"{"spec":{"etl":{"schedule":"*/7 * * * *"}}}"#);
    let etl = format!("{NAME}-etl");
    until_field(&ns.name, "cronjob", &etl, ".spec.schedule", "*/7 * * * *").await;
    wait_ready(&client, &ns.name).await;
    let after = versions(&ns.name);
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(
        changed,
        [&format!("cronjob/{NAME}-etl")],
        "{before:?} → {after:?}"
    );
    let child_writes: Vec<String> = c
        .operator_writes(&ns.name, &since)
        .iter()
        .filter(|e| {
            !matches!(
                e["objectRef"]["resource"].as_str(),
                Some("deliverypipelines" | "events")
            )
        })
        .map(|e| {
            format!(
                "{} {}/{}",
                e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"]
            )
            .replace('"', "")
        })
        .collect();
    assert_eq!(child_writes, [format!("patch cronjobs/{NAME}-etl")]);
}

#[tokio::test]
async fn a_child_the_apiserver_refuses_is_named_and_the_rest_is_still_applied() {
    let (ns, _operator, client) = ready_quickstart("refused", create_quickstart).await;
    // A volume for the managed Redis changes the StatefulSet's
    // volumeClaimTemplates, which Kubernetes refuses to update (422); the
    // new schedule in the same change must still reach the CronJob.
    patch_pipeline(
        &ns.name,
        r#"{"spec":{"redis":{"managed":{"storage":"1Gi"}},"etl":{"schedule":"*/9 * * * *"}}}"#,
    );
    eventually("the new schedule applied", RECREATED_WITHIN, || async {
        (field(
            &ns.name,
            "cronjob",
            &format!("{NAME}-etl"),
            ".spec.schedule",
        ) == "*/9 * * * *")
            .then_some(())
    })
    .await;
    let redis = eventually(
        "the Redis condition names the refusal",
        RECREATED_WITHIN,
        || async {
            let p = pipeline(&client, &ns.name).await?;
            let c = p.condition("Redis")?.clone();
            (c.reason == "ApplyFailed").then_some(c)
        },
    )
    .await;
    assert_eq!(redis.status, "False");
    assert!(
        redis.message.contains(&format!("StatefulSet {NAME}-redis")),
        "{}",
        redis.message
    );
    assert!(
        redis.message.contains("Forbidden") || redis.message.contains("422"),
        "{}",
        redis.message
    );
    let p = pipeline(&client, &ns.name).await.expect("pipeline");
    assert_eq!(
        p.condition("Ready").map(|c| c.status.as_str()),
        Some("False")
    );
}

#[tokio::test]
async fn suspend_stops_the_workloads_and_resume_restores_them() {
    let (ns, _operator, client) = ready_quickstart("suspend", create_quickstart).await;
    let set = |value: bool| {
        patch_pipeline(&ns.name, &format!(r#"{{"spec":{{"suspend":{value}}}}}"#));
    };
    set(true);
    eventually("the pipeline Suspended", READY_WITHIN, || async {
        let p = pipeline(&client, &ns.name).await?;
        (p.status?.phase == baedal_operator::crd::Phase::Suspended).then_some(())
    })
    .await;
    // The API's replicas, and whether the ETL CronJob and the ingest Job
    // are suspended.
    let workloads = || {
        (
            field(
                &ns.name,
                "deployment",
                &format!("{NAME}-api"),
                ".spec.replicas",
            ),
            field(&ns.name, "cronjob", &format!("{NAME}-etl"), ".spec.suspend"),
            field(&ns.name, "job", &format!("{NAME}-ingest"), ".spec.suspend"),
        )
    };
    assert_eq!(workloads(), ("0".into(), "true".into(), "true".into()));
    set(false);
    wait_ready(&client, &ns.name).await;
    assert_eq!(workloads(), ("1".into(), "false".into(), "false".into()));
}

#[tokio::test]
async fn deletion_retains_or_deletes_the_data_and_a_namespace_always_goes() {
    let client = cluster().admin().await;
    for policy in ["Retain", "Delete"] {
        let ns = Namespace::create(&format!("e2e-{}", policy.to_lowercase()));
        let _operator = Operator::start(&ns.name, "op-delete");
        create_quickstart(&ns.name);
        patch_pipeline(
            &ns.name,
            &format!(r#"{{"spec":{{"deletionPolicy":"{policy}"}}}}"#),
        );
        wait_ready(&client, &ns.name).await;
        let topics = pods::topics_with_prefix(&format!("{}.", ns.name));
        assert_eq!(topics.len(), 5, "{topics:?}");
        let schema = ns.name.replace('-', "_");
        assert!(pods::schema_exists(&schema).await);
        let api: Api<DeliveryPipeline> = Api::namespaced(client.clone(), &ns.name);
        api.delete(NAME, &DeleteParams::background())
            .await
            .expect("delete");
        eventually("the pipeline gone", READY_WITHIN, || async {
            pipeline(&client, &ns.name).await.is_none().then_some(())
        })
        .await;
        eventually("its children collected", READY_WITHIN, || async {
            uid_of(&ns.name, "deployment", &format!("{NAME}-api"))
                .is_none()
                .then_some(())
        })
        .await;
        let left = pods::topics_with_prefix(&format!("{}.", ns.name));
        match policy {
            "Retain" => {
                assert_eq!(left.len(), 5, "{left:?}");
                assert!(pods::schema_exists(&schema).await);
                pods::drop_schema(&schema).await;
            }
            _ => {
                assert!(left.is_empty(), "{left:?}");
                assert!(!pods::schema_exists(&schema).await);
            }
        }
    }
    // The Secret goes first, as in `kubectl delete namespace`: the cleanup
    // cannot run, and the namespace is still deleted within a bound.
    let ns = Namespace::create("e2e-nsdelete");
    let _operator = Operator::start(&ns.name, "op-nsdelete");
    create_quickstart(&ns.name);
    wait_ready(&client, &ns.name).await;
    cluster().kubectl_ok(&["delete", "secret", "baedal-postgres", "-n", &ns.name]);
    let out = cluster().kubectl(&["delete", "namespace", &ns.name, "--timeout=120s"]);
    assert!(
        out.status.success(),
        "namespace deletion: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pods::drop_schema(&ns.name.replace('-', "_")).await;
}

fn lease_holder(ns: &str) -> String {
    field(
        OPERATOR_NAMESPACE,
        "lease",
        &operator::lease_name(ns),
        ".spec.holderIdentity",
    )
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_without_overlap() {
    let ns = Namespace::create("e2e-leader");
    let mut a = Operator::start(&ns.name, "op-a");
    eventually("op-a leads", RECREATED_WITHIN, || async {
        (lease_holder(&ns.name) == "op-a").then_some(())
    })
    .await;
    let mut b = Operator::start(&ns.name, "op-b");
    create_quickstart(&ns.name);
    let client = cluster().admin().await;
    wait_ready(&client, &ns.name).await;
    assert_eq!(lease_holder(&ns.name), "op-a");
    assert!(b.log().contains("another replica leads"), "{}", b.log());

    // Paused (not killed), the leader loses the Lease; the follower takes
    // over; the old leader, resumed, writes nothing and exits.
    a.signal("STOP");
    let paused = audit_now();
    eventually(
        "op-b takes over",
        Duration::from_secs(LEASE_SECONDS * 3),
        || async { (lease_holder(&ns.name) == "op-b").then_some(()) },
    )
    .await;
    // The Service is deleted once the new leader has reconciled: a deletion
    // that lands between its first reconcile's apply and its Service
    // watch's initial list is seen by no watch event (only the periodic
    // resync would put it back), so the test does not race that window.
    eventually_or_explain(
        "op-b's first reconcile",
        RECREATED_WITHIN,
        || async { b.log().contains("reconciled").then_some(()) },
        || format!("; op-b's log:\n{}", b.log()),
    )
    .await;
    cluster().kubectl_ok(&["delete", "service", &format!("{NAME}-api"), "-n", &ns.name]);
    eventually_or_explain(
        "op-b puts the Service back",
        RECREATED_WITHIN,
        || async { uid_of(&ns.name, "service", &format!("{NAME}-api")) },
        || format!("; op-b's log:\n{}", b.log()),
    )
    .await;
    a.signal("CONT");
    let exit = a.wait_exit(Duration::from_secs(LEASE_SECONDS * 2));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "op-a still running after losing the Lease:\n{}",
        a.log()
    );
    let a_writes: Vec<_> = cluster()
        .operator_writes(&ns.name, &paused)
        .into_iter()
        .filter(|e| credential(e) == a.credential())
        .collect();
    assert!(
        a_writes.is_empty(),
        "op-a wrote after losing the Lease: {a_writes:#?}"
    );

    // SIGTERM releases the Lease at once; a new replica leads within a retry period.
    b.signal("TERM");
    let exit = b.wait_exit(Duration::from_secs(10));
    assert!(
        exit.is_some_and(|s| s.success()),
        "op-b on SIGTERM:\n{}",
        b.log()
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let lease = leases
        .get(&operator::lease_name(&ns.name))
        .await
        .expect("lease");
    assert_eq!(lease.spec.and_then(|s| s.holder_identity), None, "released");
    let started = std::time::Instant::now();
    let _c = Operator::start(&ns.name, "op-c");
    eventually("op-c leads", Duration::from_secs(LEASE_SECONDS), || async {
        (lease_holder(&ns.name) == "op-c").then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(LEASE_SECONDS),
        "took {:?}",
        started.elapsed()
    );
    // A follower that never led stops on SIGTERM too.
    let mut d = Operator::start(&ns.name, "op-d");
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.signal("TERM");
    assert!(
        d.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success()),
        "a waiting replica ignored SIGTERM"
    );
}

fn credential(event: &serde_json::Value) -> String {
    event["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_pipeline_runs_as_declared() {
    pods::runs_as_declared().await;
}
