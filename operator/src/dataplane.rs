//! The operator's connections to the data systems: Kafka topics and the
//! Postgres schema. A trait, so the reconciler tests and the benchmark run
//! without servers ([`crate::testing::FakeDataPlane`]); [`Servers`] is the
//! real thing, and is tested against a real broker and Postgres.

use crate::build::workload_config;
use crate::crd::DeliveryPipeline;
use crate::deref::Dereferenced;
use crate::topics::{self, DesiredTopic, TopicsOutcome};
use baedal_contract::config::Config;
use futures::future::BoxFuture;

/// Topic and schema provisioning.
pub trait DataPlane: Send + Sync {
    /// Brings the topics to `desired` (see [`topics::ensure`]).
    fn ensure_topics<'a>(
        &'a self,
        config: &'a Config,
        desired: &'a [DesiredTopic],
    ) -> BoxFuture<'a, Result<TopicsOutcome, String>>;
    /// Deletes the topics.
    fn delete_topics<'a>(
        &'a self,
        config: &'a Config,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Creates the schema and applies the migrations; the latest version.
    fn migrate<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<i64, String>>;
    /// Drops the schema and everything in it.
    fn drop_schema<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<(), String>>;
}

/// The operator's own client configuration for a pipeline: the workloads'
/// configuration plus the credentials from the dereferenced Secrets.
pub fn operator_config(p: &DeliveryPipeline, secrets: &Dereferenced) -> Config {
    let mut c = workload_config(p);
    c.database.url = secrets.database_url.expose().to_string();
    c.database.max_connections = 2;
    if let Some((user, password)) = &secrets.kafka_sasl {
        c.kafka.sasl_username = Some(user.expose().to_string());
        c.kafka.sasl_password = Some(password.expose().to_string());
    }
    // In memory: the paths in the workloads' configuration are pod paths.
    c.kafka.ssl_ca_location = None;
    c.kafka.ssl_ca_pem = secrets.kafka_ca.clone();
    c.database.ssl_root_cert = None;
    c.database.ssl_root_cert_pem = secrets.postgres_ca.clone();
    c
}

/// Real Kafka and Postgres.
#[derive(Clone, Copy, Debug, Default)]
pub struct Servers;

impl DataPlane for Servers {
    fn ensure_topics<'a>(
        &'a self,
        config: &'a Config,
        desired: &'a [DesiredTopic],
    ) -> BoxFuture<'a, Result<TopicsOutcome, String>> {
        Box::pin(topics::ensure(config, desired))
    }

    fn delete_topics<'a>(
        &'a self,
        config: &'a Config,
        names: &'a [String],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(topics::delete(config, names))
    }

    fn migrate<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<i64, String>> {
        Box::pin(async move {
            // The workloads' own migration set and code: one schema history.
            let pool = baedal_contract::schema::migrate(&config.database)
                .await
                .map_err(|e| e.to_string())?;
            let version: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
            pool.close().await;
            Ok(version.unwrap_or(0))
        })
    }

    fn drop_schema<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            use sqlx::{ConnectOptions, Connection};
            let schema = &config.database.schema;
            // Same rule as the CRD and baedal's Config: letters, digits, _.
            if schema.is_empty()
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("refusing to drop schema {schema:?}"));
            }
            let mut conn = baedal_contract::schema::connect_options(&config.database)
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

/// The latest migration version the operator ships (what `migrate` reaches).
pub fn latest_migration() -> i64 {
    baedal_contract::schema::migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}
