//! Dereference: read the Secrets a pipeline names, before anything is built.
//! Values stay in memory for the operator's own connections (topic and schema
//! provisioning); workloads get them only as `secretKeyRef` environment
//! variables, and nothing here is ever logged (`Debug` shows `***`).

use crate::crd::{DeliveryPipelineSpec, RedisMode, SecretKeyRef};
use crate::error::Error;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use std::collections::BTreeMap;

/// A secret value: shown as `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }
    /// The value itself, for a connection.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// What the referenced Secrets hold, and their versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dereferenced {
    /// `postgres.connectionSecret`.
    pub database_url: SecretValue,
    /// `redis.urlSecret` (External mode).
    pub redis_url: Option<SecretValue>,
    /// `kafka.sasl.credentialsSecret`: username and password.
    pub kafka_sasl: Option<(SecretValue, SecretValue)>,
    /// The CA bundles of `kafka.caSecret` and `postgres.caSecret` (PEM), for
    /// the operator's own admin and migration connections.
    pub kafka_ca: Option<String>,
    pub postgres_ca: Option<String>,
    /// Secret name → resourceVersion: part of the config hash, so pods roll
    /// when a referenced Secret changes.
    pub versions: BTreeMap<String, String>,
}

impl Dereferenced {
    /// For offline rendering: no Secret is read, no value known.
    pub fn offline() -> Self {
        Dereferenced::default()
    }
}

/// The CA bundles the spec names, by the server they are for: `kafka`,
/// `postgres`, `redis` (External only).
pub fn ca_secrets(spec: &DeliveryPipelineSpec) -> Vec<(&'static str, &SecretKeyRef)> {
    let redis = match spec.redis.mode {
        RedisMode::External => spec.redis.ca_secret.as_ref(),
        RedisMode::Managed => None,
    };
    [
        ("kafka", spec.kafka.ca_secret.as_ref()),
        ("postgres", spec.postgres.ca_secret.as_ref()),
        ("redis", redis),
    ]
    .into_iter()
    .filter_map(|(server, secret)| secret.map(|s| (server, s)))
    .collect()
}

/// Every Secret key the spec references, with what it is for.
pub fn references(spec: &DeliveryPipelineSpec) -> Vec<SecretKeyRef> {
    let mut refs = vec![spec.postgres.connection_secret.clone()];
    if let (RedisMode::External, Some(r)) = (spec.redis.mode, &spec.redis.url_secret) {
        refs.push(r.clone());
    }
    if let Some(sasl) = &spec.kafka.sasl {
        for key in ["username", "password"] {
            refs.push(SecretKeyRef {
                name: sasl.credentials_secret.clone(),
                key: key.into(),
            });
        }
    }
    for (_, ca) in ca_secrets(spec) {
        refs.push(ca.clone());
    }
    if let Some(aws) = &spec.source.aws_credentials_secret {
        refs.push(SecretKeyRef {
            name: aws.clone(),
            key: "AWS_ACCESS_KEY_ID".into(),
        });
    }
    refs
}

/// Reads every referenced Secret of the namespace. A missing Secret or key
/// is [`Error::Dereference`]; nothing else has happened yet.
pub async fn dereference(
    client: &Client,
    namespace: &str,
    spec: &DeliveryPipelineSpec,
) -> Result<Dereferenced, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut cache: BTreeMap<String, Secret> = BTreeMap::new();
    let mut values: BTreeMap<(String, String), SecretValue> = BTreeMap::new();
    let mut versions = BTreeMap::new();
    for r in references(spec) {
        if !cache.contains_key(&r.name) {
            let secret = api
                .get_opt(&r.name)
                .await
                .map_err(|e| Error::Dereference {
                    secret: r.name.clone(),
                    reason: format!("cannot read: {e}"),
                })?
                .ok_or_else(|| Error::Dereference {
                    secret: r.name.clone(),
                    reason: "not found".into(),
                })?;
            versions.insert(
                r.name.clone(),
                secret.resource_version().unwrap_or_default(),
            );
            cache.insert(r.name.clone(), secret);
        }
        let secret = cache.get(&r.name);
        let value = secret
            .and_then(|s| lookup(s, &r.key))
            .ok_or_else(|| Error::Dereference {
                secret: r.name.clone(),
                reason: format!("has no key {:?}", r.key),
            })?;
        values.insert((r.name.clone(), r.key.clone()), value);
    }
    let get = |r: &SecretKeyRef| values.get(&(r.name.clone(), r.key.clone())).cloned();
    let database_url = get(&spec.postgres.connection_secret).unwrap_or_default();
    let redis_url = match (spec.redis.mode, &spec.redis.url_secret) {
        (RedisMode::External, Some(r)) => get(r),
        _ => None,
    };
    let kafka_sasl = spec.kafka.sasl.as_ref().map(|s| {
        let key = |k: &str| SecretKeyRef {
            name: s.credentials_secret.clone(),
            key: k.into(),
        };
        (
            get(&key("username")).unwrap_or_default(),
            get(&key("password")).unwrap_or_default(),
        )
    });
    let ca = |r: &Option<SecretKeyRef>| r.as_ref().and_then(get).map(|v| v.expose().to_string());
    Ok(Dereferenced {
        database_url,
        redis_url,
        kafka_sasl,
        kafka_ca: ca(&spec.kafka.ca_secret),
        postgres_ca: ca(&spec.postgres.ca_secret),
        versions,
    })
}

fn lookup(secret: &Secret, key: &str) -> Option<SecretValue> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(v.0.clone()).ok().map(SecretValue);
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| SecretValue(v.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_print() {
        let d = Dereferenced {
            database_url: SecretValue::new("postgres://app:s3cret@db/baedal"),
            ..Dereferenced::default()
        };
        let shown = format!("{d:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(d.database_url.expose(), "postgres://app:s3cret@db/baedal");
    }
}
