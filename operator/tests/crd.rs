//! The CRD: the committed YAML is current, its schema documents every field,
//! and its CEL rules accept the examples and reject what they should
//! (evaluated offline with kube's CEL validator).

use baedal_operator::crd::{crd_yaml, DeliveryPipeline};
use kube::core::cel::Validator;
use kube::CustomResourceExt;
use serde_json::{json, Value};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_committed_crd_is_current() {
    let path = repo().join("crds/deliverypipeline.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = crd_yaml().expect("crd renders");
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p baedal-operator -- crd > crds/deliverypipeline.yaml`",
        path.display()
    );
}

#[test]
fn the_crd_has_the_names_columns_and_status_subresource() {
    let crd = serde_json::to_value(DeliveryPipeline::crd()).expect("json");
    assert_eq!(crd["metadata"]["name"], "deliverypipelines.baedal.dev");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["dp"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Phase", "API", "Age"]);
}

fn schema() -> Value {
    let crd = serde_json::to_value(DeliveryPipeline::crd()).expect("json");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Paths of properties without a description.
fn undocumented(node: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let here = format!("{path}.{name}");
            let described = child
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            // apiVersion, kind and metadata are Kubernetes' own.
            if !described && !path.is_empty() {
                out.push(here.clone());
            }
            undocumented(child, &here, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get(key) {
            undocumented(child, &format!("{path}[]"), out);
        }
    }
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    let mut missing = Vec::new();
    let schema = schema();
    undocumented(&schema["properties"]["spec"], ".spec", &mut missing);
    undocumented(&schema["properties"]["status"], ".status", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without doc comments: {missing:#?}"
    );
}

#[test]
fn the_schema_carries_defaults_and_cel_rules() {
    let s = schema();
    let spec = &s["properties"]["spec"]["properties"];
    assert_eq!(
        spec["kafka"]["properties"]["topics"]["properties"]["partitions"]["default"],
        3
    );
    assert_eq!(
        spec["etl"]["properties"]["concurrencyPolicy"]["default"],
        "Forbid"
    );
    assert_eq!(spec["deletionPolicy"]["default"], "Retain");
    let text = s.to_string();
    for rule in [
        "self.minReplicas <= self.maxReplicas",
        "self > 0",
        "self.mode == 'External' ? has(self.urlSecret) : !has(self.urlSecret)",
    ] {
        assert!(text.contains(rule), "missing CEL rule {rule}");
    }
}

fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("examples").join(name)).expect("example");
    let value: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let p: DeliveryPipeline = serde_yaml::from_value(value).expect("a DeliveryPipeline");
    // As the API server stores it: with the schema's defaults filled in.
    serde_json::to_value(p).expect("json")
}

fn cel(object: &Value) -> Result<(), String> {
    Validator::new()
        .validate(&schema(), object, None)
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn the_examples_pass_the_cel_rules() {
    for name in ["kind/pipeline.yaml", "eks/pipeline.yaml"] {
        let object = example(name);
        cel(&object).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p: DeliveryPipeline = serde_json::from_value(object).expect("typed");
        assert_eq!(baedal_operator::validate::validate(&p), Ok(()), "{name}");
    }
}

#[test]
fn the_cel_rules_reject_bad_specs() {
    let cases: [(&str, Value, &str); 8] = [
        (
            "/spec/api/autoscaling",
            json!({"minReplicas": 5, "maxReplicas": 2, "targetCpuUtilization": 70}),
            "maxReplicas",
        ),
        ("/spec/kafka/topics/partitions", json!(0), "partitions"),
        ("/spec/redis/mode", json!("External"), "urlSecret"),
        (
            "/spec/kafka/securityProtocol",
            json!("SASL_SSL"),
            "kafka.sasl",
        ),
        (
            "/spec/etl/schedule",
            json!("every five minutes"),
            "five cron fields",
        ),
        ("/spec/etl/schedule", json!("99 * * * *"), "minute 0-59"),
        (
            "/spec/etl/schedule",
            json!("0 * * * * *"),
            "five cron fields",
        ),
        ("/metadata/name", json!("has.dots"), "metadata.name"),
    ];
    for (pointer, value, needle) in cases {
        let mut object = example("kind/pipeline.yaml");
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        object
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("parent")
            .insert(key.to_string(), value);
        let err = cel(&object).expect_err(pointer);
        assert!(err.contains(needle), "{pointer}: {err}");
    }
}

#[test]
fn the_topic_override_keys_are_the_pipelines_topics() {
    // The CEL rule is written out in the CRD type; it must list the topics
    // the contract defines, no more and no fewer.
    let quoted: Vec<String> = baedal_operator::crd::TOPICS
        .iter()
        .map(|t| format!("'{t}'"))
        .collect();
    let rule = format!("self.all(k, k in [{}])", quoted.join(", "));
    let yaml = crd_yaml().expect("crd renders");
    assert!(yaml.contains(&rule), "the CRD lacks the rule {rule}");
}
