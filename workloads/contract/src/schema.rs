//! The Postgres schema baedal owns: the one set of versioned migrations in
//! `migrations/` (the operator applies it; the ETL applies it too when it
//! runs on its own), and a pool whose connections see that schema first.

use crate::config::DatabaseConfig;
use crate::ConnectError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The schema migrations (embedded at build time), as [`migrate`] runs them: versions this build does not
/// know (applied by a newer operator) are accepted, so an image one version
/// behind keeps working against the schema. Migrations only ever add
/// (expand, never contract) or change what no query depends on (0006: the
/// id columns' collation), which is what makes that safe.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m
}

/// How long making the first connection may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options from the URL (its `sslmode` included), with the
/// configured CA for `verify-ca` / `verify-full`, and JIT compilation off.
///
/// Postgres compiles a statement whose plan looks costly (JIT); every
/// statement baedal runs takes well under a second, and compiling costs
/// more than it saves: 0.26 s of the 0.59 s the order-cache query takes at
/// scale 1, 0.18 s on the menu pairs. (It comes after the URL's own
/// `options`, so a `jit` set there is overridden.)
pub fn connect_options(config: &DatabaseConfig) -> Result<PgConnectOptions, sqlx::Error> {
    let mut options = PgConnectOptions::from_str(&config.url)?.options([("jit", "off")]);
    if let Some(pem) = &config.ssl_root_cert_pem {
        options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
    } else if let Some(path) = &config.ssl_root_cert {
        options = options.ssl_root_cert(path);
    }
    Ok(options)
}

/// A failed first connection as an error that names the server (never the
/// password) and the reason.
fn unreachable(options: &PgConnectOptions, reason: String) -> sqlx::Error {
    let endpoint = format!(
        "{}:{}/{} (sslmode {:?})",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default(),
        options.get_ssl_mode()
    );
    sqlx::Error::Io(std::io::Error::other(ConnectError {
        service: "Postgres",
        endpoint,
        reason,
    }))
}

/// Runs a first connection attempt within [`CONNECT_TIMEOUT`], naming the
/// server when it fails.
async fn first_connection<T>(
    options: &PgConnectOptions,
    attempt: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(unreachable(options, e.to_string())),
        Err(_) => Err(unreachable(
            options,
            format!("no answer within {CONNECT_TIMEOUT:?}"),
        )),
    }
}

/// Connects a pool whose connections see the configured schema first.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    // Bulk loads are long by design: slow-statement notes are debug output, not warnings.
    // NOTICEs (`… already exists, skipping`) are not worth a log line.
    let options = connect_options(config)?
        .options([
            ("search_path", config.schema.as_str()),
            ("client_min_messages", "warning"),
        ])
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options.clone());
    first_connection(&options, pool).await
}

/// Creates the schema if needed and applies every pending migration.
pub async fn migrate(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    // The schema name is validated by Config (letters, digits, _), and quoted.
    let options = connect_options(config)?;
    let mut conn = first_connection(&options, sqlx::PgConnection::connect_with(&options)).await?;
    // CREATE SCHEMA IF NOT EXISTS is not safe against itself: two processes
    // starting at once (two followers) can both try to create it, and one
    // fails on the catalog's unique index. They take turns instead.
    let mut tx = sqlx::Connection::begin(&mut conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("baedal create schema {}", config.schema))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        config.schema
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    conn.close().await?;
    let pool = connect(config).await?;
    migrator().run(&pool).await?;
    Ok(pool)
}
