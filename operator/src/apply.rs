//! Apply: server-side apply of the built children, in [`build`]'s order, with
//! one field manager and the pipeline as controlling owner.
//!
//! Each child is first compared with what the API server has
//! ([`in_sync`]): when every field the operator sets still has its value,
//! nothing is written, so re-reconciling an unchanged pipeline makes no
//! write at all. When a field drifted (an edit, a `kubectl scale`) or the
//! object is gone, it is applied again. One child that fails does not stop
//! the others: every failure is collected for the status and the retry.
//! Optional children the spec no longer wants are deleted.
//!
//! [`build`]: crate::build::build

use crate::build::{Child, ChildKind, Children, INGEST_INPUTS};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use std::collections::BTreeMap;

/// The one field manager of every write the operator makes.
pub const MANAGER: &str = "baedal-operator";

/// The API resource of a child kind.
pub fn api_resource(kind: ChildKind) -> ApiResource {
    match kind {
        ChildKind::ServiceAccount => ApiResource::erase::<ServiceAccount>(&()),
        ChildKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
        ChildKind::Service => ApiResource::erase::<Service>(&()),
        ChildKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        ChildKind::Deployment => ApiResource::erase::<Deployment>(&()),
        ChildKind::Job => ApiResource::erase::<Job>(&()),
        ChildKind::CronJob => ApiResource::erase::<CronJob>(&()),
        ChildKind::HorizontalPodAutoscaler => ApiResource::erase::<HorizontalPodAutoscaler>(&()),
        ChildKind::PodDisruptionBudget => ApiResource::erase::<PodDisruptionBudget>(&()),
        ChildKind::Ingress => ApiResource::erase::<Ingress>(&()),
    }
}

/// Whether the live object still has every value the operator sets.
///
/// `desired` is what [`crate::build`] made, `live` what the API server
/// returned. Objects match when every key of `desired` matches in `live`
/// (the server adds defaults, status and metadata of its own, which are not
/// the operator's business); arrays match element by element; a desired
/// `null` matches anything, and a desired zero value (`false`, `0`, `""`,
/// `[]`, `{}`) also matches a key the server left out, as Kubernetes omits
/// empty fields.
pub fn in_sync(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        // Not set by the operator: whatever the server has is fine.
        (Value::Null, _) => true,
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => in_sync(dv, lv),
            None => is_zero(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| in_sync(dv, lv))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (d, Value::Null) => is_zero(d),
        (d, l) => d == l,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

/// What the apply step saw and did.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Every child as the API server now has it (status included).
    pub objects: BTreeMap<(ChildKind, String), DynamicObject>,
    /// The children that were written (new, changed or drifted).
    pub changed: Vec<(ChildKind, String)>,
    /// The children that were deleted: no longer wanted, or replaced.
    pub removed: Vec<(ChildKind, String)>,
    /// The children that could not be applied, with the API server's answer.
    pub failed: Vec<ChildFailure>,
}

/// A child the API server refused (or could not be asked about).
#[derive(Clone, Debug)]
pub struct ChildFailure {
    pub kind: ChildKind,
    pub name: String,
    /// The API server's answer.
    pub error: String,
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind.as_str(), self.name, self.error)
    }
}

/// A Job whose inputs changed cannot be patched (its pod template is
/// immutable): it is deleted, and created anew on the next reconcile.
fn needs_replacing(child: &Child, live: &DynamicObject) -> bool {
    child.kind() == ChildKind::Job
        && child
            .meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(INGEST_INPUTS))
            != live.annotations().get(INGEST_INPUTS)
}

/// Applies one child unless it is in sync; returns the live object and
/// whether it wrote.
async fn apply_one(
    api: &Api<DynamicObject>,
    child: &Child,
    removed: &mut Vec<(ChildKind, String)>,
) -> Result<(Option<DynamicObject>, bool), kube::Error> {
    let name = child.name();
    let desired = child.to_json().map_err(kube::Error::SerdeError)?;
    let current = api.get_opt(&name).await?;
    if let Some(live) = &current {
        if needs_replacing(child, live) {
            api.delete(&name, &DeleteParams::background()).await?;
            removed.push((child.kind(), name));
            return Ok((None, true));
        }
        if in_sync(
            &desired,
            &serde_json::to_value(live).map_err(kube::Error::SerdeError)?,
        ) {
            return Ok((current, false));
        }
    }
    let params = PatchParams::apply(MANAGER).force();
    let object = api.patch(&name, &params, &Patch::Apply(&desired)).await?;
    Ok((Some(object), true))
}

/// Applies every child in order, then removes unwanted optional children
/// owned by the pipeline `owner_uid`. Failures are collected, not returned:
/// the caller reports them in the status and retries.
pub async fn apply_all(
    client: &Client,
    namespace: &str,
    owner_uid: Option<&str>,
    children: &Children,
) -> Applied {
    let mut applied = Applied::default();
    for child in &children.objects {
        let kind = child.kind();
        let name = child.name();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(kind));
        match apply_one(&api, child, &mut applied.removed).await {
            Ok((object, wrote)) => {
                if wrote && object.is_some() {
                    applied.changed.push((kind, name.clone()));
                }
                if let Some(o) = object {
                    applied.objects.insert((kind, name), o);
                }
            }
            Err(e) => applied.failed.push(ChildFailure {
                kind,
                name,
                error: e.to_string(),
            }),
        }
    }
    for (kind, name) in &children.absent {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
        let result = async {
            let Some(current) = api.get_opt(name).await? else {
                return Ok(false);
            };
            // Only what this pipeline owns: never someone else's object of the same name.
            let ours = current
                .owner_references()
                .iter()
                .any(|o| Some(o.uid.as_str()) == owner_uid && o.controller == Some(true));
            if ours {
                api.delete(name, &DeleteParams::background()).await?;
            }
            Ok::<_, kube::Error>(ours)
        }
        .await;
        match result {
            Ok(true) => applied.removed.push((*kind, name.clone())),
            Ok(false) => {}
            Err(e) => applied.failed.push(ChildFailure {
                kind: *kind,
                name: name.clone(),
                error: e.to_string(),
            }),
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::in_sync;
    use serde_json::json;

    #[test]
    fn server_defaults_and_extra_fields_are_in_sync() {
        let desired = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "api", "args": []}]}}}, "status": null});
        let live = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "api", "terminationMessagePath": "/dev/termination-log"}]}}}, "status": {"replicas": 1}});
        assert!(in_sync(&desired, &live));
    }

    #[test]
    fn a_changed_value_or_a_missing_element_is_drift() {
        let desired = json!({"spec": {"replicas": 1, "ports": [{"port": 80}, {"port": 81}]}});
        assert!(!in_sync(
            &desired,
            &json!({"spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 81}]}})
        ));
        assert!(!in_sync(
            &desired,
            &json!({"spec": {"replicas": 1, "ports": [{"port": 80}]}})
        ));
        assert!(!in_sync(
            &desired,
            &json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}})
        ));
    }

    #[test]
    fn a_desired_false_matches_an_omitted_field_but_not_true() {
        assert!(in_sync(&json!({"suspend": false}), &json!({})));
        assert!(!in_sync(
            &json!({"suspend": false}),
            &json!({"suspend": true})
        ));
        assert!(!in_sync(&json!({"suspend": true}), &json!({})));
    }
}
