//! The Postgres schema baedal owns: the one set of versioned migrations in
//! `migrations/` (the operator applies it; the ETL applies it too when it
//! runs on its own), and a pool whose connections see that schema first.

use crate::config::DatabaseConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The schema migrations (embedded at build time), as [`migrate`] runs them: versions this build does not
/// know (applied by a newer operator) are accepted, so an image one version
/// behind keeps working against the schema. Migrations only ever add
/// (expand, never contract), which is what makes that safe.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m
}

/// Connects a pool whose connections see the configured schema first.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    // Bulk loads are long by design: slow-statement notes are debug output, not warnings.
    let options = PgConnectOptions::from_str(&config.url)?
        .options([("search_path", config.schema.as_str())])
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
}

/// Creates the schema if needed and applies every pending migration.
pub async fn migrate(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    // The schema name is validated by Config (letters, digits, _), and quoted.
    let mut conn =
        sqlx::PgConnection::connect_with(&PgConnectOptions::from_str(&config.url)?).await?;
    sqlx::query(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        config.schema
    ))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    let pool = connect(config).await?;
    migrator().run(&pool).await?;
    Ok(pool)
}
