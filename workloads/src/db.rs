//! Everything baedal says to Postgres goes through a pool made here or in
//! [`baedal_contract::schema`] (the schema and its migrations, which the
//! operator applies too), with the search path set to the configured schema.

pub use baedal_contract::schema::{connect, connect_options, migrate, migrator};

use crate::config::DatabaseConfig;
use sqlx::postgres::{PgArguments, PgPoolOptions, PgQueryResult, PgRow};
use sqlx::{PgPool, Postgres, TypeInfo as _};
use std::time::Duration;

mod copy_out;
pub use copy_out::{binary_f64, binary_i64, copy_out_binary, POSTGRES_EPOCH_UNIX_MICROS};

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

/// `INSERT INTO table (a, b, …) SELECT * FROM UNNEST($1::type[], …)`: the
/// rows of a slice in one statement, one array per column. Each column is
/// given by its name and how its value is taken from a row
/// ([`column`](Self::column)), so no array is matched to its column by
/// position; the arrays' SQL types come from the values' Rust types.
pub struct UnnestInsert<'r, R> {
    table: &'static str,
    rows: &'r [R],
    columns: Vec<(&'static str, String)>,
    arguments: PgArguments,
    /// The first array that could not be encoded.
    failed: Option<sqlx::error::BoxDynError>,
}

impl<'r, R> UnnestInsert<'r, R> {
    /// An insert into `table` of a row per element of `rows`.
    pub fn new(table: &'static str, rows: &'r [R]) -> UnnestInsert<'r, R> {
        UnnestInsert {
            table,
            rows,
            columns: Vec::new(),
            arguments: PgArguments::default(),
            failed: None,
        }
    }

    /// The column `name` takes `value` of each row.
    pub fn column<T>(mut self, name: &'static str, value: impl Fn(&'r R) -> T) -> Self
    where
        Vec<T>: 'r + sqlx::Encode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        let array: Vec<T> = self.rows.iter().map(value).collect();
        let sql_type = <Vec<T> as sqlx::Type<Postgres>>::type_info()
            .name()
            .to_string();
        // `UNNEST` takes arrays (`Vec<u8>` is `BYTEA`, not an array).
        debug_assert!(sql_type.ends_with("[]"), "{name}: {sql_type}");
        if let Err(e) = sqlx::Arguments::add(&mut self.arguments, array) {
            self.failed.get_or_insert(e);
        }
        self.columns.push((name, sql_type));
        self
    }

    /// The statement, with `tail` after it (an `ON CONFLICT` clause, a
    /// `RETURNING` list, or nothing).
    pub fn sql(&self, tail: &str) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        let arrays: Vec<String> = (1..)
            .zip(&self.columns)
            .map(|(i, (_, sql_type))| format!("${i}::{sql_type}"))
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) {tail}",
            self.table,
            names.join(", "),
            arrays.join(", ")
        )
    }

    /// The statement and its arrays, or the first array that could not be
    /// encoded.
    fn statement(self, tail: &str) -> Result<(String, PgArguments), sqlx::Error> {
        let sql = self.sql(tail);
        match self.failed {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok((sql, self.arguments)),
        }
    }

    pub async fn execute<'c, E>(self, tail: &str, executor: E) -> Result<PgQueryResult, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Postgres>,
    {
        let (sql, arguments) = self.statement(tail)?;
        sqlx::query_with(&sql, arguments).execute(executor).await
    }

    /// Runs it with a `RETURNING` `tail`, and reads the rows returned.
    pub async fn fetch_all<'c, E, O>(self, tail: &str, executor: E) -> Result<Vec<O>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Postgres>,
        O: Send + Unpin + for<'row> sqlx::FromRow<'row, PgRow>,
    {
        let (sql, arguments) = self.statement(tail)?;
        sqlx::query_as_with(&sql, arguments)
            .fetch_all(executor)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnest_insert_names_each_column_beside_its_value_and_type() {
        let rows = [("a", 1i64, 0.5f64), ("b", 2, 1.5)];
        let insert = UnnestInsert::new("t", &rows)
            .column("id", |r| r.0)
            .column("at", |_| chrono::Utc::now())
            .column("n", |r| (r.1 > 1).then_some(r.1))
            .column("x", |r| r.2);
        assert_eq!(
            insert.sql("ON CONFLICT DO NOTHING"),
            "INSERT INTO t (id, at, n, x) SELECT * FROM UNNEST($1::TEXT[], $2::TIMESTAMPTZ[], $3::INT8[], $4::FLOAT8[]) ON CONFLICT DO NOTHING"
        );
    }
}
