//! Everything baedal says to Postgres goes through a pool made here or in
//! [`baedal_contract::schema`] (the schema and its migrations, which the
//! operator applies too), with the search path set to the configured schema.

pub use baedal_contract::schema::{connect, connect_options, migrate, migrator};

use crate::config::DatabaseConfig;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// A pool for a long-running service that must start, and answer, while
/// Postgres is down: no connection is made until one is needed, taking a
/// connection waits at most `acquire_timeout`, and no statement runs longer
/// than `statement_timeout`.
pub fn connect_lazy(
    config: &DatabaseConfig,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    let options = connect_options(config)?.options([
        (
            "search_path",
            baedal_contract::schema::search_path(&config.schema),
        ),
        (
            "statement_timeout",
            format!("{}ms", statement_timeout.as_millis()),
        ),
    ]);
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options))
}
