//! Apply: server-side apply of the built children, in [`build`]'s order, with
//! one field manager and the pipeline as controlling owner. Each object
//! carries the hash of what was applied; an object whose hash already matches
//! is not patched, so re-reconciling an unchanged pipeline writes nothing.
//! Optional children the spec no longer wants are deleted.
//!
//! [`build`]: crate::build::build

use crate::build::{hex, Child, ChildKind, Children};
use crate::error::Error;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client, ResourceExt};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The one field manager of every write the operator makes.
pub const MANAGER: &str = "baedal-operator";
/// Annotation on every child: the hash of the applied object.
pub const APPLIED_HASH: &str = "baedal.dev/applied-hash";

/// The API resource of a child kind.
pub fn api_resource(kind: ChildKind) -> ApiResource {
    match kind {
        ChildKind::ServiceAccount => ApiResource::erase::<ServiceAccount>(&()),
        ChildKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
        ChildKind::Service => ApiResource::erase::<Service>(&()),
        ChildKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        ChildKind::Deployment => ApiResource::erase::<Deployment>(&()),
        ChildKind::CronJob => ApiResource::erase::<CronJob>(&()),
        ChildKind::HorizontalPodAutoscaler => ApiResource::erase::<HorizontalPodAutoscaler>(&()),
        ChildKind::PodDisruptionBudget => ApiResource::erase::<PodDisruptionBudget>(&()),
        ChildKind::Ingress => ApiResource::erase::<Ingress>(&()),
    }
}

/// The child with its applied-hash annotation, and the hash.
pub fn stamp(child: &Child) -> Result<(serde_json::Value, String), serde_json::Error> {
    let mut child = child.clone();
    let plain = child.to_json()?;
    let hash = hex(&Sha256::digest(serde_json::to_vec(&plain)?)[..16]);
    child
        .meta_mut()
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(APPLIED_HASH.into(), hash.clone());
    Ok((child.to_json()?, hash))
}

/// What the apply step saw and did.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Every child as the API server now has it (status included).
    pub objects: BTreeMap<(ChildKind, String), DynamicObject>,
    /// The children that were patched (new or changed).
    pub changed: Vec<(ChildKind, String)>,
    /// The children that were deleted because the spec no longer wants them.
    pub removed: Vec<(ChildKind, String)>,
}

fn apply_error(kind: ChildKind, name: &str, source: kube::Error) -> Error {
    Error::Apply {
        kind: kind.as_str(),
        name: name.to_string(),
        source,
    }
}

/// Applies every child in order, then removes unwanted optional children
/// owned by the pipeline `owner_uid`.
pub async fn apply_all(
    client: &Client,
    namespace: &str,
    owner_uid: Option<&str>,
    children: &Children,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    let params = PatchParams::apply(MANAGER).force();
    for child in &children.objects {
        let kind = child.kind();
        let name = child.name();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(kind));
        let (body, hash) = stamp(child).map_err(|e| Error::Apply {
            kind: kind.as_str(),
            name: name.clone(),
            source: kube::Error::SerdeError(e),
        })?;
        let current = api
            .get_opt(&name)
            .await
            .map_err(|e| apply_error(kind, &name, e))?;
        let up_to_date = current
            .as_ref()
            .is_some_and(|c| c.annotations().get(APPLIED_HASH) == Some(&hash));
        let object = match current {
            Some(c) if up_to_date => c,
            _ => {
                let o = api
                    .patch(&name, &params, &Patch::Apply(&body))
                    .await
                    .map_err(|e| apply_error(kind, &name, e))?;
                applied.changed.push((kind, name.clone()));
                o
            }
        };
        applied.objects.insert((kind, name), object);
    }
    for (kind, name) in &children.absent {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(*kind));
        let Some(current) = api
            .get_opt(name)
            .await
            .map_err(|e| apply_error(*kind, name, e))?
        else {
            continue;
        };
        // Only what this pipeline owns: never someone else's object of the same name.
        let ours = current
            .owner_references()
            .iter()
            .any(|o| Some(o.uid.as_str()) == owner_uid && o.controller == Some(true));
        if ours {
            api.delete(name, &DeleteParams::background())
                .await
                .map_err(|e| apply_error(*kind, name, e))?;
            applied.removed.push((*kind, name.clone()));
        }
    }
    Ok(applied)
}
