//! ETL followers scaled by KEDA on the consumer group's lag: the example
//! ScaledObject is valid against KEDA's own CRDs on this apiserver, and the
//! operator leaves the followers' replica count to whatever scales them.

use super::cluster::{cluster, eventually, repo};
use super::operator::{postgres_secret_yaml, quickstart_yaml, Namespace, Operator};
use super::{field, uid_of, wait_ready, NAME, RECREATED_WITHIN};
use std::time::Duration;

/// KEDA's CRDs (cluster-scoped; applying them again changes nothing).
fn install_keda_crds() {
    let c = cluster();
    let dir = std::env::var("BAEDAL_KEDA_CRDS").expect("BAEDAL_KEDA_CRDS (scripts/cluster.sh env)");
    for (file, crd) in [
        ("keda.sh_scaledobjects.yaml", "scaledobjects.keda.sh"),
        (
            "keda.sh_triggerauthentications.yaml",
            "triggerauthentications.keda.sh",
        ),
    ] {
        let path = format!("{dir}/{file}");
        c.kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", &path]);
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=30s",
        ]);
    }
}

#[tokio::test]
async fn keda_scaled_followers_are_left_to_keda_and_the_scaled_object_is_valid() {
    install_keda_crds();
    let ns = Namespace::create("e2e-follow");
    let _operator = Operator::start(&ns.name, "op-follow");
    let c = cluster();
    c.apply(&postgres_secret_yaml(&ns.name));
    let pipeline = quickstart_yaml(&ns.name).replacen(
        "  etl:\n",
        "  etl:\n    follow: {replicas: 2, externallyScaled: true}\n",
        1,
    );
    assert!(
        pipeline.contains("externallyScaled"),
        "the example has no etl section"
    );
    c.apply(&pipeline);
    let client = cluster().admin().await;
    wait_ready(&client, &ns.name).await;

    // The followers run `etl --follow`; the CronJob only rebuilds.
    let followers = format!("{NAME}-etl-follow");
    assert!(uid_of(&ns.name, "deployment", &followers).is_some());
    let args = |kind: &str, name: &str, path: &str| field(&ns.name, kind, name, path);
    assert!(args(
        "deployment",
        &followers,
        ".spec.template.spec.containers[0].args"
    )
    .contains("--follow"));
    assert!(args(
        "cronjob",
        &format!("{NAME}-etl"),
        ".spec.jobTemplate.spec.template.spec.containers[0].args"
    )
    .contains("--marts-only"));

    // The example ScaledObject and TriggerAuthentication, for this pipeline,
    // pass KEDA's schema on the apiserver; one without its target does not.
    let example = std::fs::read_to_string(repo().join("examples/keda/etl-followers.yaml"))
        .expect("example")
        .replace("namespace: baedal", &format!("namespace: {}", ns.name))
        .replace("production-etl-follow", &followers)
        .replace(
            "baedal-etl.baedal.production",
            &format!("baedal-etl.{}.{NAME}", ns.name),
        );
    let accepted = c.kubectl_with_input(&["apply", "--dry-run=server", "-f", "-"], Some(&example));
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let untargeted = example.replace(&format!("  scaleTargetRef:\n    name: {followers}\n"), "");
    let refused =
        c.kubectl_with_input(&["apply", "--dry-run=server", "-f", "-"], Some(&untargeted));
    assert!(
        !refused.status.success(),
        "a ScaledObject without its target was accepted"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("scaleTargetRef"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // What KEDA would do: scale the followers. A reconcile leaves the count.
    c.kubectl_ok(&[
        "scale",
        "deployment",
        &followers,
        "-n",
        &ns.name,
        "--replicas=4",
    ]);
    c.kubectl_ok(&[
        "label",
        "dp",
        NAME,
        "-n",
        &ns.name,
        "baedal.dev/touched=1",
        "--overwrite",
    ]);
    tokio::time::sleep(RECREATED_WITHIN / 2).await;
    assert_eq!(
        field(&ns.name, "deployment", &followers, ".spec.replicas"),
        "4"
    );
    // And the followers' pods come up as the scaled Deployment says.
    eventually("4 followers available", Duration::from_secs(60), || async {
        (field(
            &ns.name,
            "deployment",
            &followers,
            ".status.availableReplicas",
        ) == "4")
            .then_some(())
    })
    .await;
}
