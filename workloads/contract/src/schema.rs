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
    // sqlx's own lock is one for the whole database, held while it checks
    // (even when nothing is pending) and waited for without end: one process
    // stopped while holding it (a paused operator replica, a migration stuck
    // behind a table lock) holds up every pipeline's schema in the database.
    // [`migrate`] takes a lock of the one schema instead, only when
    // something is pending, and waits for it for a bounded time.
    m.set_locking(false);
    m
}

/// How long a migration waits for a lock (another process migrating the
/// same schema, or a table lock its DDL needs) before it gives up with an
/// error; the caller tries again (the operator's next reconcile, the
/// CronJob's next run).
pub const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The name of the advisory lock a migration of `schema` holds
/// (`pg_advisory_lock(hashtextextended(name, 0))`).
pub fn migration_lock_name(schema: &str) -> String {
    format!("baedal migrate schema {schema}")
}

/// How long making the first connection may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings baedal asks of every session, unless the URL's own `options`
/// set them (`?options=-c%20jit%3Don`):
/// - `jit off`: Postgres compiles a statement whose plan looks costly (JIT);
///   every statement baedal runs takes well under a second, and compiling
///   costs more than it saves: 0.26 s of the 0.59 s the order-cache query
///   takes at scale 1, 0.18 s on the menu pairs.
/// - `max_parallel_workers_per_gather 0`: the ETL already runs its marts
///   and loaders side by side, one per connection; the parallel workers
///   Postgres would add to each statement compete with the others for the
///   same cores and cost their own start-up and tuple queues. The ETL's
///   post-load phase at scale 1, in alternating runs: faster in 9 pairs of
///   10 (median 2.10 s against 2.20 s).
pub const SESSION_SETTINGS: [(&str, &str); 2] =
    [("jit", "off"), ("max_parallel_workers_per_gather", "0")];

/// Connection options from the URL (its `sslmode` included), with the
/// configured CA for `verify-ca` / `verify-full`, and the
/// [`SESSION_SETTINGS`] the URL does not set itself.
pub fn connect_options(config: &DatabaseConfig) -> Result<PgConnectOptions, sqlx::Error> {
    let mut options = PgConnectOptions::from_str(&config.url)?;
    let from_url = settings_named_in(options.get_options().unwrap_or_default());
    for (name, value) in SESSION_SETTINGS {
        if !from_url.iter().any(|set| set == name) {
            options = options.options([(name, value)]);
        }
    }
    if let Some(pem) = &config.ssl_root_cert_pem {
        options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
    } else if let Some(path) = &config.ssl_root_cert {
        options = options.ssl_root_cert(path);
    }
    Ok(options)
}

/// The names of the settings a libpq `options` string sets: `-c name=value`,
/// `-cname=value` or `--name=value` (a `-` in a name is a `_`).
fn settings_named_in(options: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut tokens = options.split_whitespace();
    while let Some(token) = tokens.next() {
        let setting = match token {
            "-c" => tokens.next(),
            _ => token
                .strip_prefix("--")
                .or_else(|| token.strip_prefix("-c")),
        };
        if let Some((name, _)) = setting.and_then(|s| s.split_once('=')) {
            names.push(name.replace('-', "_"));
        }
    }
    names
}

/// `schema` as a `search_path` value: quoted, so that a name with capitals
/// means the schema `CREATE SCHEMA "…"` made.
pub fn search_path(schema: &str) -> String {
    format!("\"{schema}\"")
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

/// [`connect_options`] for connections that see the configured schema
/// first. Bulk loads are long by design: slow-statement notes are debug
/// output, not warnings. NOTICEs (`… already exists, skipping`) are not
/// worth a log line.
fn schema_options(config: &DatabaseConfig) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(connect_options(config)?
        .options([
            ("search_path", search_path(&config.schema)),
            ("client_min_messages", "warning".to_string()),
        ])
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1)))
}

/// Connects a pool whose connections see the configured schema first.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options = schema_options(config)?;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options.clone());
    first_connection(&options, pool).await
}

/// Creates the schema if needed and applies every pending migration,
/// waiting at most [`MIGRATION_LOCK_WAIT`] for a lock.
pub async fn migrate(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    migrate_waiting(config, MIGRATION_LOCK_WAIT).await
}

/// [`migrate`], waiting at most `lock_wait` for each lock it needs.
pub async fn migrate_waiting(
    config: &DatabaseConfig,
    lock_wait: Duration,
) -> Result<PgPool, sqlx::Error> {
    let schema = config.schema.as_str();
    // `lock_timeout` 0 would be no limit at all.
    let lock_timeout_ms = lock_wait.as_millis().max(1);
    let options = schema_options(config)?.options([("lock_timeout", lock_timeout_ms)]);
    let mut conn = first_connection(&options, sqlx::PgConnection::connect_with(&options)).await?;
    // A schema that exists needs no lock (a routine start or reconcile takes
    // none). Else: CREATE SCHEMA IF NOT EXISTS is not safe against itself:
    // two processes starting at once (two followers) can both try to create
    // it, and one fails on the catalog's unique index. They take turns.
    // The schema name is validated by Config (letters, digits, _), and quoted.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let mut tx = sqlx::Connection::begin(&mut conn).await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("baedal create schema {schema}"))
            .execute(&mut *tx)
            .await
            .map_err(|e| lock_not_granted(schema, lock_wait, e))?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let pool = connect(config).await?;
    if !up_to_date(&pool).await? {
        // One migration of a schema at a time: the lock is the session's,
        // and closing the connection releases it, whatever happened.
        let applied = async {
            sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind(migration_lock_name(schema))
                .execute(&mut conn)
                .await
                .map_err(|e| lock_not_granted(schema, lock_wait, e))?;
            // Another process may have applied them while this one waited:
            // the migrator applies only what is still pending.
            migrator().run_direct(&mut conn).await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        let closed = conn.close().await;
        applied?;
        closed?;
    } else {
        conn.close().await?;
    }
    Ok(pool)
}

/// Whether every migration this build knows is applied, with the checksum
/// this build has for it: then there is nothing to do and no lock to take.
/// (Anything else goes to the migrator, which applies what is pending and
/// refuses a migration changed since it was applied.)
async fn up_to_date(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await?;
    if table.is_none() {
        return Ok(false);
    }
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    Ok(migrator().iter().all(|m| {
        applied
            .iter()
            .any(|(version, checksum)| *version == m.version && checksum[..] == m.checksum[..])
    }))
}

/// A lock wait that ended in `error`: Postgres's lock timeout becomes an
/// error naming the schema and the wait.
fn lock_not_granted(schema: &str, waited: Duration, error: sqlx::Error) -> sqlx::Error {
    let timed_out =
        matches!(&error, sqlx::Error::Database(e) if e.code().as_deref() == Some("55P03"));
    if !timed_out {
        return error;
    }
    // sqlx has no variant for a lock not granted; this one shows the
    // message alone (`Io` would call it a failure to reach the database).
    sqlx::Error::InvalidArgument(format!(
        "schema {schema}: another process has been migrating it for over {waited:?}; \
         the next attempt tries again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `options` string baedal sends when connecting to `url`.
    fn session_options(url: &str) -> String {
        let config = DatabaseConfig {
            url: url.into(),
            ..DatabaseConfig::default()
        };
        let options = connect_options(&config).expect("options");
        options.get_options().unwrap_or_default().to_string()
    }

    #[test]
    fn every_session_setting_is_asked_for_unless_the_url_sets_it() {
        let plain = session_options("postgres://baedal@db.example:5432/baedal");
        for (name, value) in SESSION_SETTINGS {
            assert!(plain.contains(&format!("-c {name}={value}")), "{plain}");
        }
        let own = session_options(
            "postgres://baedal@db.example:5432/baedal?options=-c%20max_parallel_workers_per_gather%3D2",
        );
        assert!(own.contains("max_parallel_workers_per_gather=2"), "{own}");
        assert!(!own.contains("max_parallel_workers_per_gather=0"), "{own}");
        assert!(own.contains("-c jit=off"), "{own}");
        // A setting whose name merely contains another's leaves that one asked.
        let tuned = session_options(
            "postgres://baedal@db.example:5432/baedal?options=-c%20jit_above_cost%3D1000",
        );
        assert!(tuned.contains("-c jit=off"), "{tuned}");
    }

    #[test]
    fn setting_names_are_read_in_each_form_libpq_takes() {
        assert_eq!(
            settings_named_in("-c jit=on -cwork_mem=64MB --max-parallel-workers-per-gather=2 -c"),
            ["jit", "work_mem", "max_parallel_workers_per_gather"]
        );
        assert!(settings_named_in("").is_empty());
    }
}
