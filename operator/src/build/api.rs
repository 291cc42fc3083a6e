//! The analytics API: Deployment, Service, PodDisruptionBudget, optional
//! HorizontalPodAutoscaler and Ingress.

use super::pod::{self, http_probe, pod_template, port, workload_container};
use super::{meta, selector, Names, API_PORT};
use crate::crd::DeliveryPipeline;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

/// Replicas of the API Deployment: 0 when suspended; unset when the
/// autoscaler owns the count (so applying never fights it, and after a
/// resume the Deployment defaults to 1 and the autoscaler takes over);
/// else `replicas`.
pub fn api_replicas(p: &DeliveryPipeline) -> Option<i32> {
    if p.spec.suspend {
        Some(0)
    } else if p.spec.api.autoscaling.is_some() {
        None
    } else {
        Some(p.spec.api.replicas)
    }
}

pub(super) fn api_deployment(p: &DeliveryPipeline, hash: &str) -> Deployment {
    let args = vec![
        "api".into(),
        "--listen".into(),
        format!("0.0.0.0:{API_PORT}"),
    ];
    let mut c = workload_container(p, "api", args, &p.spec.api.resources);
    c.ports = Some(vec![port("http", API_PORT)]);
    c.liveness_probe = Some(http_probe("/healthz", 10, 3));
    c.readiness_probe = Some(http_probe("/readyz", 5, 2));
    Deployment {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(DeploymentSpec {
            replicas: api_replicas(p),
            selector: LabelSelector {
                match_labels: Some(selector(p, "api")),
                ..LabelSelector::default()
            },
            template: pod_template(p, "api", hash, c, None),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

pub(super) fn api_service(p: &DeliveryPipeline) -> Service {
    let mut service = pod::service(p, "api", Names::api(&p.name_any()), "http", API_PORT);
    if let Some(spec) = service.spec.as_mut() {
        spec.type_ = Some(p.spec.api.service_type.as_str().into());
    }
    service
}

pub(super) fn api_hpa(p: &DeliveryPipeline) -> Option<HorizontalPodAutoscaler> {
    let a = p.spec.api.autoscaling.as_ref()?;
    Some(HorizontalPodAutoscaler {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: Names::api(&p.name_any()),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(a.target_cpu_utilization),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

/// The API's disruption budget: `maxUnavailable` (default 1, so a drain
/// always proceeds, one pod at a time), or `minAvailable` when the spec sets it.
pub(super) fn api_pdb(p: &DeliveryPipeline) -> PodDisruptionBudget {
    let (min_available, max_unavailable) = match p.spec.api.min_available {
        Some(n) => (Some(IntOrString::Int(n)), None),
        None => (None, Some(IntOrString::Int(p.spec.api.max_unavailable))),
    };
    PodDisruptionBudget {
        metadata: meta(p, Names::api(&p.name_any()), "api"),
        spec: Some(PodDisruptionBudgetSpec {
            min_available,
            max_unavailable,
            selector: Some(LabelSelector {
                match_labels: Some(selector(p, "api")),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

pub(super) fn api_ingress(p: &DeliveryPipeline) -> Option<Ingress> {
    let ing = p.spec.api.ingress.as_ref()?;
    let mut m = meta(p, Names::api(&p.name_any()), "api");
    if !ing.annotations.is_empty() {
        m.annotations = Some(ing.annotations.clone());
    }
    Some(Ingress {
        metadata: m,
        spec: Some(IngressSpec {
            ingress_class_name: ing.class_name.clone(),
            tls: ing.tls_secret.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: Some(vec![ing.host.clone()]),
                    secret_name: Some(s.clone()),
                }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(ing.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: Names::api(&p.name_any()),
                                port: Some(ServiceBackendPort {
                                    name: Some("http".into()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}
